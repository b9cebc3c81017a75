"""The heap profiler's record of every sampled object: its bucket, and each bucket's stack
symbolized from the binary with inlined calls expanded.

A sampled object carries a ``specialprofile`` in its span's specials list pointing at its
``bucket`` (runtime/mprof.go); the bucket's PCs follow its header (return addresses: each is
looked up at ``pc - 1``). A tiny block holds several values; the first sampled one stands for
the block. Used by snapshots (per object), ``gomem report``'s allocation flame graph and the
pprof profile (per type and stack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdb_gomem.base.errors import GomemError
from gdb_gomem.heap.objects import object_table
from gdb_gomem.runtime.memprof import MEM_PROFILE, bucket_pcs, profile_specials
from gdb_gomem.symbols.inltree import InlineTree, callers_frames
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.process import GoProcess

#: PCs read per sampled stack (GODEBUG=profstackdepth, 128 by default from Go 1.23; 32
#: before), and logical frames kept once inlined calls are expanded.
MAX_STACK = 256


@dataclass(frozen=True)
class StackFrame:
    pc: int
    func: str  # "" when the PC is outside Go code
    file: str
    line: int

    def label(self) -> str:
        if not self.func:
            return f"{self.pc:#x}"
        return f"{self.func} ({self.file.rsplit('/', 1)[-1]}:{self.line})"


@dataclass
class SampledStacks:
    """Per object of the object table (its order): its bucket (0: not sampled); per bucket
    its frames, innermost first."""

    bucket: np.ndarray  # uint64
    frames: dict[int, list[StackFrame]]
    linked: bool  # the heap profiler is linked (else nothing is ever sampled)


def _symbolize(proc: GoProcess, pcs: list[int], inl: InlineTree) -> list[StackFrame]:
    try:
        frames = callers_frames(pcs, proc.pclntab.find_func, inl)
    except (GomemError, ValueError):
        return [StackFrame(pc, "", "", 0) for pc in pcs][:MAX_STACK]
    return [
        StackFrame(fr.pc, fr.func, fr.file, fr.line) if fr else StackFrame(pc, "", "", 0)
        for pc, fr in frames
    ][:MAX_STACK]


def _build(proc: GoProcess) -> SampledStacks:
    ot = object_table(proc)
    bucket = np.zeros(len(ot), np.uint64)
    if MEM_PROFILE(proc).disabled_by_linker:
        return SampledStacks(bucket, {}, False)
    pairs = [(s.base, s.specials) for s in ot.walk.spans if s.specials and s.state == 1]
    by_addr = profile_specials(proc, pairs)
    if by_addr:
        keys = np.array(sorted(by_addr), np.uint64)
        idx = ot.find(keys)
        vals = np.array([by_addr[int(k)] for k in keys.tolist()], np.uint64)
        # A tiny block: its first sampled value (keys are sorted) stands for the block.
        ok = idx >= 0
        first = np.zeros(len(idx), bool)
        if ok.any():
            _, pos = np.unique(idx[ok], return_index=True)
            first[np.flatnonzero(ok)[pos]] = True
        bucket[idx[first]] = vals[first]
    inl = InlineTree(proc.pclntab, proc.dw, proc.mem.read)
    frames = {
        int(b): _symbolize(proc, bucket_pcs(proc, int(b), MAX_STACK) or [], inl)
        for b in np.unique(bucket[bucket != 0]).tolist()
    }
    return SampledStacks(bucket, frames, True)


SAMPLED_STACKS: Lazy[SampledStacks] = Lazy("sampled allocation stacks", _build)


def sampled_stacks(proc: GoProcess) -> SampledStacks:
    return SAMPLED_STACKS(proc)
