// tracealloc is the ground truth for gdb_gomem/runtime/exectrace/parse.py. Run with
// GODEBUG=traceallocfree=1, it records an execution trace (trace.Start to -start, and/or a
// FlightRecorder whose WriteTo goes to -fr), allocates tagged objects in three goroutines
// (and garbage, with a forced GC halfway so that freed slots are reused), and prints each
// kept object's address, the wall clock right after its allocation and its goroutine's id.
//
//	tracealloc [-start A.trace] [-fr B.trace] [-n N] [-gap 2ms] [-gc=false] > truth.txt
//
// Output lines: "obj ADDR UNIXNANO GOID", then "done". trace.Start comes first when both are
// asked, so A.trace holds the AllocFree info batch (the heap's base address) that a flight
// recorder's WriteTo never holds.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/trace"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// Tagged is the object whose allocations the test looks for (48 bytes, no pointers).
type Tagged struct {
	Seq  uint64
	When int64
	Pad  [4]uint64
}

type record struct {
	addr uintptr
	when int64
	goid uint64
}

var (
	keep []*Tagged
	sink *Tagged
)

func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := bytes.Fields(buf[:n])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

func main() {
	startPath := flag.String("start", "", "trace.Start output")
	frPath := flag.String("fr", "", "FlightRecorder.WriteTo output")
	n := flag.Int("n", 60, "kept objects per goroutine")
	gap := flag.Duration("gap", 2*time.Millisecond, "sleep between allocations")
	gc := flag.Bool("gc", true, "force a GC halfway (frees, reused slots)")
	flag.Parse()

	var startOut *os.File
	if *startPath != "" {
		f, err := os.Create(*startPath)
		if err != nil {
			panic(err)
		}
		startOut = f
		if err := trace.Start(f); err != nil {
			panic(err)
		}
	}
	var fr *trace.FlightRecorder
	if *frPath != "" {
		fr = trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 30 * time.Second, MaxBytes: 64 << 20})
		if err := fr.Start(); err != nil {
			panic(err)
		}
	}

	const workers = 3
	recs := make([][]record, workers)
	ptrs := make([][]*Tagged, workers)
	for w := range recs {
		recs[w] = make([]record, 0, *n)
		ptrs[w] = make([]*Tagged, 0, *n)
	}
	var wg sync.WaitGroup
	half := make(chan struct{})
	var halfOnce sync.Once
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			id := goid()
			for i := 0; i < *n; i++ {
				if *gc && i == *n/2 {
					halfOnce.Do(func() {
						runtime.GC()
						close(half)
					})
					<-half
				}
				sink = &Tagged{Seq: ^uint64(i)} // garbage: freed by the GC, its slot reused
				p := &Tagged{Seq: uint64(i)}
				now := time.Now().UnixNano()
				p.When = now
				ptrs[w] = append(ptrs[w], p)
				recs[w] = append(recs[w], record{uintptr(unsafe.Pointer(p)), now, id})
				time.Sleep(*gap)
			}
		}(w)
	}
	wg.Wait()
	for _, ps := range ptrs {
		keep = append(keep, ps...)
	}
	if fr != nil {
		f, err := os.Create(*frPath)
		if err != nil {
			panic(err)
		}
		if _, err := fr.WriteTo(f); err != nil {
			panic(err)
		}
		if err := f.Close(); err != nil {
			panic(err)
		}
		fr.Stop()
	}
	if startOut != nil {
		trace.Stop()
		if err := startOut.Close(); err != nil {
			panic(err)
		}
	}
	for _, rs := range recs {
		for _, r := range rs {
			fmt.Printf("obj %x %d %d\n", r.addr, r.when, r.goid)
		}
	}
	fmt.Println("done")
}
