"""Damaged inputs made from a committed fixture, and a runner that checks gomem on each.

A core or binary an operator hands gomem can be truncated, from another program, corrupt in
its ELF structure or in one runtime structure. Each case here is a copy of the ``leaky`` panic
core (and its binary) with one such defect, made the way it happens: a file cut short, pages
zeroed, one field of a runtime structure overwritten, a note rewritten, a section header
garbled. Structures are located with gdb-gomem's DWARF layer on the pristine core; that only
finds where to write the damage, no expectation is computed with it.

``kind`` says what gomem must do: ``refuse`` (exit 2, one message and a ``hint:`` line) or
``analyse`` (exit 0, or 2 with one message; the damaged structure reported, the rest
decoded). Never a traceback, never exit 3, never a hang, and memory bounded.

Used by ``scripts/make_corpus`` and ``tests/frontends/test_corpus.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomem_fixtures.build import program_headers, raw_notes

ROOT = Path(__file__).resolve().parent.parent

PT_NOTE = 4
NT_PRSTATUS = 1


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # refuse | analyse
    what: str  # the damage, in words
    binary: Path
    core: Path


@dataclass
class Outcome:
    case: str
    command: str
    rc: int
    seconds: float
    max_rss_kb: int
    stderr: str
    stdout_len: int
    stdout: str = ""  # the first MiB


# ------------------------------------------------------------------------- damage helpers


def _copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)
    return dst


def _patch_file(path: Path, patches: dict[int, bytes]) -> Path:
    with open(path, "r+b") as fh:
        for off, data in patches.items():
            fh.seek(off)
            fh.write(data)
    return path


def _notes(core: Path) -> list[tuple[int, int, int, int]]:
    """(file offset of the note header, namesz, descsz, type) of every note."""
    return [(off, namesz, len(desc), ntype) for off, namesz, ntype, desc in raw_notes(core)]


def _vaddr_patches(core: Path, patches: dict[int, bytes]) -> dict[int, bytes]:
    """Virtual-address patches as file-offset patches (each address must be dumped)."""
    segs = [(va, off, sz) for _i, t, off, va, sz in program_headers(core) if t == 1]
    out = {}
    for addr, data in patches.items():
        seg = next((s for s in segs if s[0] <= addr and addr + len(data) <= s[0] + s[2]), None)
        if seg is None:
            raise ValueError(f"{addr:#x} is not dumped in {core}")
        out[seg[1] + addr - seg[0]] = data
    return out


# ------------------------------------------------------------------------- the corpus


def make_corpus(version: str, out: Path, other_version: str | None = None) -> list[Case]:
    """Every damaged case for the ``leaky`` panic core of ``version``, written into ``out``."""
    from gdb_gomem.adapters.corefile import open_core
    from gdb_gomem.goroutines.allgs import goroutines
    from gdb_gomem.runtime.spans import walk_spans
    from gomem_fixtures import store

    out.mkdir(parents=True, exist_ok=True)
    exe = store.fixture_file(version, "leaky", "leaky")
    core = store.fixture_file(version, "leaky", "panic.core")
    cases: list[Case] = []

    def add(name: str, kind: str, what: str, b: Path = exe, c: Path = core) -> None:
        cases.append(Case(name, kind, what, b, c))

    size = core.stat().st_size

    # --- files cut short, empty, or not files at all
    for pct in (10, 50, 90):
        dst = out / f"trunc{pct}.core"
        _copy(core, dst)
        os.truncate(dst, size * pct // 100)
        add(f"core-truncated-{pct}%", "refuse", f"core cut at {pct}%", c=dst)
    dst = _copy(core, out / "trunc-1.core")
    os.truncate(dst, size - 1)
    add("core-truncated-1-byte", "refuse", "core one byte short", c=dst)
    empty = out / "empty.core"
    empty.write_bytes(b"")
    add("core-empty", "refuse", "an empty core", c=empty)
    text = out / "text.core"
    text.write_text("not a core\n" * 100)
    add("core-text", "refuse", "a text file as the core", c=text)
    d = out / "dir.core"
    d.mkdir(exist_ok=True)
    add("core-directory", "refuse", "a directory as the core", c=d)
    loop = out / "loop.core"
    if not loop.is_symlink():
        loop.symlink_to(loop.name)
    add("core-symlink-loop", "refuse", "a symlink to itself as the core", c=loop)
    add("core-dev-null", "refuse", "/dev/null as the core", c=Path("/dev/null"))
    fifo = out / "fifo.core"
    if not fifo.exists():
        os.mkfifo(fifo)
    add("core-fifo", "refuse", "a named pipe as the core (must not block)", c=fifo)

    # --- ELF structure of the core
    phs = program_headers(core)
    dst = _copy(core, out / "phentsize.core")
    _patch_file(dst, {54: struct.pack("<H", 42)})
    add("core-phentsize-42", "refuse", "e_phentsize 42 (found by fuzzing)", c=dst)
    dst = _copy(core, out / "phnum.core")
    _patch_file(dst, {56: struct.pack("<H", 0xFFF0)})
    add("core-phnum-huge", "refuse", "e_phnum 65520", c=dst)
    note_ph = next(p for p in phs if p[1] == PT_NOTE)
    with open(core, "rb") as fh:
        hdr = fh.read(64)
    (phoff,) = struct.unpack_from("<Q", hdr, 32)
    (phentsize,) = struct.unpack_from("<H", hdr, 54)
    ph_at = phoff + note_ph[0] * phentsize
    dst = _copy(core, out / "notes-zeroed.core")
    _patch_file(dst, {note_ph[2]: bytes(note_ph[4])})
    add("core-notes-zeroed", "refuse", "the PT_NOTE segment zeroed", c=dst)
    dst = _copy(core, out / "notes-filesz.core")
    _patch_file(dst, {ph_at + 32: struct.pack("<Q", 1 << 40)})
    add("core-note-segment-huge", "refuse", "PT_NOTE p_filesz 2^40", c=dst)
    notes = _notes(core)
    prs = [n for n in notes if n[3] == NT_PRSTATUS]
    dst = _copy(core, out / "note-descsz.core")
    _patch_file(dst, {prs[0][0] + 4: struct.pack("<I", 0xFFFFFFF0)})
    add("core-note-size-huge", "refuse", "the first NT_PRSTATUS descsz 0xfffffff0", c=dst)
    dst = _copy(core, out / "notes-retyped.core")
    _patch_file(dst, {n[0] + 8: struct.pack("<I", 0x7777) for n in prs})
    add("core-thread-notes-retyped", "refuse", "every NT_PRSTATUS retyped", c=dst)
    dst = _copy(core, out / "machine.core")
    _patch_file(dst, {18: struct.pack("<H", 183)})
    add("core-aarch64-machine", "refuse", "e_machine EM_AARCH64", c=dst)

    # --- mismatched and non-Go pairs
    if other_version:
        add(
            "core-of-another-binary",
            "refuse",
            f"the {other_version} binary with this core",
            b=store.fixture_file(other_version, "leaky", "leaky"),
        )
    add("binary-not-go", "refuse", "/bin/ls as the binary", b=Path(shutil.which("ls") or "/bin/ls"))
    add("binary-is-the-core", "refuse", "the core passed as the binary", b=core)

    # --- damaged binaries
    bsize = exe.stat().st_size
    dst = _copy(exe, out / "trunc50.bin")
    os.truncate(dst, bsize // 2)
    add("binary-truncated-50%", "refuse", "binary cut at 50%", b=dst)
    dst = _copy(exe, out / "stripped.bin")
    subprocess.run(["strip", "--strip-debug", str(dst)], check=True)
    add("binary-stripped", "refuse", "binary without DWARF (strip --strip-debug)", b=dst)
    with open(exe, "rb") as fh:
        eh = fh.read(64)
    (shoff,) = struct.unpack_from("<Q", eh, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", eh, 58)
    dst = _copy(exe, out / "shoff.bin")
    _patch_file(dst, {40: struct.pack("<Q", bsize * 4)})
    add("binary-section-headers-past-end", "refuse", "e_shoff beyond the file", b=dst)
    dst = _copy(exe, out / "shstrndx.bin")
    _patch_file(dst, {62: struct.pack("<H", shnum + 50)})
    add("binary-bad-shstrndx", "refuse", "e_shstrndx out of range", b=dst)
    # A compressed DWARF section (Go links .debug_* compressed, SHF_COMPRESSED) with its
    # payload garbled.
    with open(exe, "rb") as fh:
        fh.seek(shoff)
        sh = fh.read(shentsize * shnum)
        fh.seek(struct.unpack_from("<Q", sh, shstrndx * shentsize + 24)[0])
        strtab = fh.read(struct.unpack_from("<Q", sh, shstrndx * shentsize + 32)[0])
    for i in range(shnum):
        name_off, _t, flags, _a, off, sz = struct.unpack_from("<IIQQQQ", sh, i * shentsize)
        name = strtab[name_off : strtab.index(b"\0", name_off)].decode()
        if name == ".debug_info":
            dst = _copy(exe, out / "zdebug.bin")
            _patch_file(dst, {off + 24: b"\xff" * min(256, sz - 24)})
            add(
                "binary-debug-info-garbled",
                "refuse",
                f".debug_info payload garbled (compressed: {bool(flags & 0x800)})",
                b=dst,
            )
            break

    # --- runtime structures inside a well-formed core
    proc = open_core(exe, core)
    dw = proc.dw
    spans = list(walk_spans(proc).in_use())
    small = next(s for s in spans if s.sizeclass and s.npages == 1)
    large = next((s for s in spans if not s.sizeclass), small)

    def span_field(name: str, s: object, value: int, width: int = 8) -> dict[int, bytes]:
        f = dw.field("runtime.mspan", name)
        w = dw.resolve(f.type).size or width
        return {s.addr + f.offset: (value % (1 << (8 * w))).to_bytes(w, "little")}  # type: ignore[attr-defined]

    analyse: list[tuple[str, str, dict[int, bytes]]] = [
        ("span-npages-2^25", "a small span's npages 2^25", span_field("npages", small, 1 << 25)),
        ("span-npages-2^34", "a large span's npages 2^34", span_field("npages", large, 1 << 34)),
        ("span-base-2^63", "a span's startAddr 2^63", span_field("startAddr", small, 1 << 63)),
        ("span-base-top", "a span's startAddr 2^64-4096", span_field("startAddr", small, -4096)),
        ("span-elemsize-0", "a small span's elemsize 0", span_field("elemsize", small, 0)),
        ("span-nelems-huge", "a small span's nelems all ones", span_field("nelems", small, -1)),
    ]
    allp = proc.global_("runtime.allp")
    analyse.append(("allp-pointer-1", "runtime.allp's array pointer 0x1",
                    {allp.addr: struct.pack("<Q", 1)}))  # fmt: skip
    analyse.append(("allp-len-huge", "runtime.allp's length 2^40",
                    {allp.addr + 8: struct.pack("<Q", 1 << 40)}))  # fmt: skip
    allgs = proc.global_("runtime.allgs")
    analyse.append(("allgs-pointer-garbage", "runtime.allgs's array pointer 0xdead0000",
                    {allgs.addr: struct.pack("<Q", 0xDEAD0000)}))  # fmt: skip
    gs = [g for g in goroutines(proc).all if not g.dead]
    glo = dw.offset("runtime.g", "stack") + dw.offset("runtime.stack", "lo")
    analyse.append(("g-stack-misaligned", "a goroutine's stack.lo + 3",
                    {gs[-1].addr + glo: struct.pack("<Q", gs[-1].stack_lo + 3)}))  # fmt: skip
    ghi = dw.offset("runtime.g", "stack") + dw.offset("runtime.stack", "hi")
    analyse.append(("g-stack-huge", "a goroutine's stack.hi 2^47 above lo",
                    {gs[0].addr + ghi: struct.pack("<Q", gs[0].stack_lo + (1 << 47))}))  # fmt: skip
    arenas = proc.global_("runtime.mheap_")["arenas"]
    analyse.append(("mheap-arenas-garbage", "mheap_.arenas[0] pointer 0x10",
                    {arenas.addr: struct.pack("<Q", 0x10)}))  # fmt: skip
    heap_page = small.base
    analyse.append(("heap-page-zeroed", "the first heap page of a span zeroed",
                    {heap_page: bytes(8192)}))  # fmt: skip
    for name, what, patches in analyse:
        dst = _copy(core, out / f"{name}.core")
        _patch_file(dst, _vaddr_patches(core, patches))
        add(name, "analyse", what, c=dst)
    return cases


# ------------------------------------------------------------------------- running


def _reap(p: subprocess.Popen[bytes], t0: float, timeout: float) -> tuple[Any, bool]:
    """Wait for ``p`` with ``wait4`` (its own resource usage: peak RSS), killing it after
    ``timeout`` seconds from ``t0``: (rusage, whether it timed out)."""
    timed_out = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > timeout:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            timed_out = True
            break
        time.sleep(0.01)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru, timed_out


def run_cli(
    case: Case, args: list[str], timeout: float = 120.0, env: dict[str, str] | None = None
) -> Outcome:
    """``gomem ARGS --binary B --core C`` in a child: exit code, wall time, peak RSS (the
    child is reaped with ``wait4``, whose resource usage is that child's alone)."""
    cmd = [sys.executable, "-m", "gdb_gomem.frontends.cli", *args,
           "--binary", str(case.binary), "--core", str(case.core)]  # fmt: skip
    full_env = {**os.environ, "GOMEM_ANALYSIS_CACHE": "0", "TERM": "dumb", **(env or {})}
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=full_env,
                             cwd=ROOT)  # fmt: skip
        ru, timed_out = _reap(p, t0, timeout)
        seconds = time.monotonic() - t0
        fo.seek(0)
        fe.seek(0)
        out = fo.read()
        stdout_len = len(out)
        stderr = fe.read().decode("utf-8", "replace")
    rc = -999 if timed_out else p.returncode
    return Outcome(
        case.name,
        " ".join(args),
        rc,
        seconds,
        ru.ru_maxrss,
        stderr,
        stdout_len,
        out[: 1 << 20].decode("utf-8", "replace"),
    )


def verdict(case: Case, o: Outcome, rss_bound_kb: int | None = None) -> str | None:
    """Why ``o`` breaks the rules for ``case``; None when it keeps them."""
    err = o.stderr
    if o.rc == -999:
        return "timed out"
    if "Traceback" in err:
        return "traceback"
    if o.rc == 3 or "internal error" in err:
        return "internal error: " + err.strip().splitlines()[-1][:200]
    if case.kind == "refuse":
        if o.rc != 2:
            return f"exit {o.rc}, expected a refusal (2)"
        if "hint:" not in err:
            return "no hint line"
    elif o.rc not in (0, 2):
        return f"exit {o.rc}"
    elif o.rc == 2 and "hint:" not in err:
        return "refused without a hint"
    if rss_bound_kb is not None and o.max_rss_kb > rss_bound_kb:
        return f"peak RSS {o.max_rss_kb // 1024} MiB over the bound {rss_bound_kb // 1024} MiB"
    return None


def run_gdb(
    case: Case, commands: list[list[str]], pristine: tuple[Path, Path], timeout: float = 600.0
) -> list[str]:
    """Every command on the case in one real gdb session, then the pristine core: what broke
    (a traceback, an internal error, a command that printed nothing, a session that no longer
    answers); empty when nothing did."""
    if case.core.is_fifo():
        return []  # gdb's own `core-file` blocks opening a pipe, before gomem is involved
    init = ROOT / "gdb_gomem" / "init.py"
    argv = ["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "set width 0",
            "-ex", f"file {case.binary}", "-ex", f"core-file {case.core}",
            "-ex", f"source {init}"]  # fmt: skip
    for i, cmd in enumerate(commands):
        argv += ["-ex", f"echo @@cmd {i}\\n", "-ex", "gomem " + " ".join(cmd)]
    argv += ["-ex", "echo @@pristine\\n", "-ex", f"file {pristine[0]}",
             "-ex", f"core-file {pristine[1]}", "-ex", "gomem info"]  # fmt: skip
    env = {**os.environ, "GOMEM_ANALYSIS_CACHE": "0", "TERM": "dumb", "NO_COLOR": "1"}
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                             cwd="/", stdin=subprocess.DEVNULL)  # fmt: skip
    except subprocess.TimeoutExpired:
        return ["gdb session timed out"]
    out = res.stdout + res.stderr
    bad = []
    if "Traceback" in out:
        bad.append("traceback")
    if "internal error" in out:
        bad.append("internal error: " + out.split("internal error", 1)[1].splitlines()[0][:200])
    after = res.stdout.split("@@pristine", 1)[-1]
    if "Go program" not in after:
        bad.append("the session did not analyse the pristine core afterwards")
    return bad


def make_corpora(versions: list[str], out: Path, ring: list[str] | None = None) -> list[Case]:
    """The corpus of each version (its cases named ``VERSION/case``); the wrong-binary cases
    pair each core with the binary of the next version in ``ring`` (default ``versions``)."""
    cases: list[Case] = []
    ring = ring or versions
    for v in versions:
        other = ring[(ring.index(v) + 1) % len(ring)] if len(ring) > 1 else None
        for c in make_corpus(v, out / v, other):
            cases.append(Case(f"{v}/{c.name}", c.kind, c.what, c.binary, c.core))
    return cases


@dataclass
class CaseRun:
    """Every command on one case in one child process (``run_case``)."""

    case: str
    outcomes: list[dict[str, object]]  # command, rc, seconds, stderr (first lines)
    max_rss_kb: int
    seconds: float
    timed_out: bool


def run_case(case: Case, commands: list[list[str]], timeout: float = 600.0) -> CaseRun:
    """Run every command on ``case`` through the CLI's ``main`` inside one child process (a
    fresh process per command would cost a Python start-up each): exit codes, messages, the
    child's peak RSS over all of them (``wait4``) and whether it finished in time."""
    spec = json.dumps({"binary": str(case.binary), "core": str(case.core), "commands": commands})
    env = {**os.environ, "GOMEM_ANALYSIS_CACHE": "0", "TERM": "dumb"}
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as fo:
        p = subprocess.Popen(
            [sys.executable, "-m", "gomem_fixtures.corpus", "--child", spec],
            stdout=fo, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
        )  # fmt: skip
        ru, timed_out = _reap(p, t0, timeout)
        fo.seek(0)
        text = fo.read().decode("utf-8", "replace")
    marker = "@@corpus-results "
    outcomes: list[dict[str, object]] = []
    if marker in text:
        outcomes = json.loads(text.split(marker, 1)[1].splitlines()[0])
    return CaseRun(case.name, outcomes, ru.ru_maxrss, time.monotonic() - t0, timed_out)


def _child(spec_text: str) -> None:
    """``--child``: run each command through ``cli.main``, print one results line."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from gdb_gomem.frontends import cli

    spec = json.loads(spec_text)
    results = []
    for cmd in spec["commands"]:
        out, err = io.StringIO(), io.StringIO()
        t = time.monotonic()
        try:
            with redirect_stdout(out), redirect_stderr(err):
                rc = cli.main([*cmd, "--binary", spec["binary"], "--core", spec["core"]])
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - reported as what it is: a crash
            rc = 99
            err.write(f"Traceback: escaped cli.main: {type(exc).__name__}: {exc}\n")
        results.append(
            {
                "command": " ".join(cmd),
                "rc": rc,
                "seconds": round(time.monotonic() - t, 3),
                "stderr": err.getvalue()[-2000:],
            }
        )
    sys.stdout.write("@@corpus-results " + json.dumps(results) + "\n")


def case_problems(case: Case, run: CaseRun, rss_bound_kb: int | None) -> list[str]:
    """What broke the rules in one case's run of every command (see :func:`verdict`)."""
    bad = []
    if run.timed_out:
        bad.append("timed out")
    if not run.outcomes and not run.timed_out:
        bad.append("the child printed no results")
    for o in run.outcomes:
        fake = Outcome(
            case.name,
            str(o["command"]),
            int(str(o["rc"])),
            float(str(o["seconds"])),
            0,
            str(o["stderr"]),
            0,
        )
        why = verdict(case, fake)
        if why:
            bad.append(f"{o['command']}: {why}")
    if rss_bound_kb is not None and run.max_rss_kb > rss_bound_kb:
        bad.append(f"peak RSS {run.max_rss_kb // 1024} MiB over {rss_bound_kb // 1024} MiB")
    return bad


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
