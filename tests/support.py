"""Shared test support: committed fixtures (restored sparse on demand) and gdb in batch mode.

Expectations come from each fixture's manifest, written by the Go program itself, or from an
independent reader (gdb's own DWARF and core parsing, the Go toolchain's facts.json), never
from gdb-gomem's own output.

Plain helpers only (imported as ``from tests.support import ...``); pytest fixtures and hooks
live in ``tests/conftest.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.target.memory import Memory
from gdb_gomem.target.process import GoProcess
from gomem_fixtures import store

ROOT = Path(__file__).resolve().parent.parent

VERSIONS: list[str] = store.versions()
#: The oldest and newest fixture version (tests too costly to run on every version).
EDGE_VERSIONS: list[str] = sorted({VERSIONS[0], VERSIONS[-1]}) if VERSIONS else ["none"]
CRASH_SCENARIOS = ("panic", "nil", "mapwrite")
SCENARIOS = (*CRASH_SCENARIOS, "gcore")
PROGRAM = "leaky"
INIT = ROOT / "gdb_gomem" / "init.py"

#: Go size classes up to 256 B (runtime/sizeclasses.go, identical in 1.21-1.27).
SIZE_CLASSES = (8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256)


# ----------------------------------------------------------------------------- fixtures


def need_fixtures() -> None:
    if not VERSIONS:
        pytest.skip("no committed fixtures under fixtures/ (run scripts/make_fixtures)")


def binary(version: str) -> Path:
    return store.fixture_file(version, PROGRAM, PROGRAM)


def core(version: str, scenario: str) -> Path:
    return store.fixture_file(version, PROGRAM, f"{scenario}.core")


def fixture_file(version: str, program: str, name: str) -> Path:
    return store.fixture_file(version, program, name)


def manifest(version: str, scenario: str) -> dict[str, Any]:
    return store.manifest(version, PROGRAM, scenario)


@cache
def fixture_process(version: str, program: str, scenario: str) -> GoProcess:
    """One opened core per (version, program, scenario), shared by the tests of a run."""
    return open_core(
        store.fixture_file(version, program, program),
        store.fixture_file(version, program, f"{scenario}.core"),
    )


def program_manifest(version: str, program: str, scenario: str) -> dict[str, Any]:
    """The manifest of another fixture program (``window``...); skip where none is committed."""
    if not store.has_fixture(version, program):
        pytest.skip(f"no fixtures/{version}/{program} yet")
    return store.manifest(version, program, scenario)


def patched_core(src: Path, dst: Path, patches: dict[int, bytes]) -> Path:
    """A copy of a core with bytes at virtual addresses overwritten (to simulate corruption).

    Each address must lie in a segment the core dumped; the copy stays sparse-friendly.
    """
    from gdb_gomem.adapters.corefile import CoreFile

    c = CoreFile(src)
    offsets = {}
    for addr, data in patches.items():
        seg = c.segment_for(addr)
        assert seg is not None and addr + len(data) <= seg.vaddr + seg.filesz, hex(addr)
        offsets[seg.offset + addr - seg.vaddr] = data
    c.close()
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)
    with open(dst, "r+b") as fh:
        for off, data in offsets.items():
            fh.seek(off)
            fh.write(data)
    return dst


class Overlay(Memory):
    """Target memory plus a few synthetic bytes at a made-up address."""

    def __init__(self, base: Memory, addr: int, data: bytes) -> None:
        self.base, self.addr, self.data = base, addr, data

    def read(self, addr: int, size: int) -> bytes:
        if self.addr <= addr and addr + size <= self.addr + len(self.data):
            return self.data[addr - self.addr : addr - self.addr + size]
        return self.base.read(addr, size)


# ----------------------------------------------------------------------------- standalone


def gomem_cli(
    *args: str, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the standalone command as a user would (a fresh process, no colour); env adds
    variables to this process's environment."""
    env = dict(os.environ, NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "gdb_gomem.frontends.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=check,
    )


def cli_json(version: str, *args: str, scenario: str = "panic") -> dict[str, Any]:
    """``gomem <args> --json`` on a fixture core, in a fresh process; it must succeed."""
    res = gomem_cli(
        *args, "--json", "--binary", str(binary(version)), "--core", str(core(version, scenario))
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def run_json_on(version: str, core_path: Path, *args: str) -> dict[str, Any]:
    """``gomem <args> --json --binary B --core C`` through the CLI's own ``main``."""
    from gdb_gomem.frontends import cli

    out, err = io.StringIO(), io.StringIO()
    argv = [*args, "--json", "--binary", str(binary(version)), "--core", str(core_path)]
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(argv)
    assert rc == 0, err.getvalue()
    assert "Traceback" not in err.getvalue()
    return json.loads(out.getvalue())


# ----------------------------------------------------------------------------- gdb

#: Whether the running test may start gdb: conftest sets it from the test's ``gdb`` marker, so
#: a test that drives gdb without the marker fails instead of slipping past ``-m "not gdb"``.
gdb_allowed = True


def gdb_batch(
    *commands: str, exe: Path | None = None, core_file: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Real gdb (-nx -batch) with gdb-gomem sourced from another working directory."""
    if not gdb_allowed:
        pytest.fail("this test runs real gdb: mark it @pytest.mark.gdb")
    argv = ["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "set width 0"]
    if exe is not None:
        argv += ["-ex", f"file {exe}"]
    if core_file is not None:
        argv += ["-ex", f"core-file {core_file}"]
    argv += ["-ex", f"source {INIT}"]
    for c in commands:
        argv += ["-ex", c]
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(argv, capture_output=True, text=True, cwd="/", env=env, timeout=timeout)


def json_after(marker: str, text: str) -> dict[str, Any]:
    """The JSON document printed after a marker line in gdb's output."""
    start = text.index(marker) + len(marker)
    brace = text.index("{", start)
    doc, _ = json.JSONDecoder().raw_decode(text[brace:])
    return doc


def json_line(tag: str, text: str) -> Any:
    """The JSON on the first line ``<tag> <json>`` of gdb's output (printed by gdb Python)."""
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{tag} "))
    return json.loads(line[len(tag) + 1 :])


# ----------------------------------------------------------------------------- Go's own words


def stderr_goroutine(version: str, scenario: str, gid: int) -> list[str]:
    """The lines of one goroutine's block in the Go traceback the crash printed."""
    text = fixture_file(version, "leaky", f"{scenario}.stderr.txt").read_text()
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0].startswith(f"goroutine {gid} "):
            return lines
    raise AssertionError(f"goroutine {gid} not in the {scenario} traceback")


def panic_frame(lines: list[str]) -> tuple[int, int, int, str, str, int]:
    """From a traceback block: gopanic's (type word, data word, sp) and its caller's frame."""
    i = next(i for i, ln in enumerate(lines) if ln.startswith("panic({"))
    words = re.match(r"panic\(\{(0x[0-9a-f]+)\??, (0x[0-9a-f]+)\??\}\)", lines[i])
    sp = re.search(r" sp=(0x[0-9a-f]+)", lines[i + 1])
    assert words and sp, lines[i : i + 2]
    caller = lines[i + 2].split("(")[0]
    file, line = re.match(r"\t(\S+):(\d+)", lines[i + 3]).groups()  # type: ignore[union-attr]
    return int(words[1], 16), int(words[2], 16), int(sp[1], 16), caller, file, int(line)


def fatal_path_allocations(version: str, scenario: str) -> tuple[int, int]:
    """(objects, bytes) the runtime allocates after the program's last ReadMemStats.

    A panic whose value is an error (the nil dereference's runtime.Error) reaches
    runtime.preprintpanics on the fatal path, which stores ``v.Error()`` in the panic: the
    message "runtime error: ..." is concatenated into a new string (one object, rounded up to
    its size class) and boxed by convTstring (one 16-byte object). Seen with a breakpoint on
    runtime.mallocgc; the message is the one Go printed to the fixture's stderr.
    """
    if scenario != "nil":
        return 0, 0
    text = fixture_file(version, "leaky", "nil.stderr.txt").read_text()
    msg = next(ln for ln in text.splitlines() if ln.startswith("panic: "))[len("panic: ") :]
    msg = msg.split(" [recovered]")[0]
    size = next(c for c in SIZE_CLASSES if c >= len(msg))
    return 2, size + 16


# ----------------------------------------------------------------------------- gomem info

#: MemStats fields the manifest's final ReadMemStats must match exactly.
EXACT_MEMSTATS = (
    "HeapAlloc",
    "HeapInuse",
    "HeapSys",
    "HeapIdle",
    "HeapReleased",
    "HeapObjects",
    "TotalAlloc",
    "Mallocs",
    "Frees",
    "StackInuse",
    "NumGC",
    "LastGC",
)


def check_info(
    doc: dict[str, Any], m: dict[str, Any], *, live: bool = False, extra: tuple[int, int] = (0, 0)
) -> None:
    """Compare one ``gomem info --json`` document with a fixture manifest.

    ``extra`` is what the runtime allocated after the manifest's final ReadMemStats.
    """
    assert doc["go_version"] == m["go_version"]
    assert doc["goarch"] == m["goarch"]
    assert doc["build"]["main_module"] == m["main_module"]
    for k, v in m["build_settings"].items():
        assert doc["build"]["settings"].get(k) == v, k
    assert doc["threads"] == m["threads_at_checkpoint"]
    kind = m["crash"]["kind"]
    if kind == "gcore" or live:
        # Stopped at the main.checkpoint breakpoint: not a crash.
        assert doc["crash"] is None
        assert doc["stopped"]["crashed"] is False
        assert doc["stopped"]["signo"] == signal.SIGTRAP
    else:
        cr = doc["crash"]
        assert cr is not None
        # GOTRACEBACK=crash: the runtime's crash() ends in dieFromSignal(SIGABRT) for panics,
        # nil dereferences (after sigpanic) and fatal errors alike.
        assert cr["signal"] == "SIGABRT"
        assert cr["goroutine"] in m["crash"]["goroutine_ids"]
        assert cr["thread"] == doc["thread_list"][0]["lwp"]
    ms = doc["memstats"]
    final = dict(m["memstats_final"])
    objs, nbytes = extra
    for k in ("HeapAlloc", "TotalAlloc"):
        final[k] += nbytes
    for k in ("HeapObjects", "Mallocs"):
        final[k] += objs
    for k in EXACT_MEMSTATS:
        assert ms[k] == final[k], (k, ms[k], final[k])
    assert ms["last_gc_time"] is not None
    heap = doc["heap"]
    assert heap["arenas"] >= 1
    # Every tagged object lies inside the reported arena range.
    lo, hi = int(heap["start"], 16), int(heap["end"], 16)
    for a in m["tagged"]["main.Tagged"]["addresses"]:
        assert lo <= int(a, 16) < hi
