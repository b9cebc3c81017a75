"""Shared test support: committed fixtures (restored sparse on demand) and gdb in batch mode.

Expectations come from each fixture's manifest, written by the Go program itself, or from an
independent reader (gdb's own DWARF and core parsing, the Go toolchain's facts.json), never
from gdb-gomem's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gomem_fixtures import store

ROOT = Path(__file__).resolve().parent.parent

VERSIONS: list[str] = store.versions()
CRASH_SCENARIOS = ("panic", "nil", "mapwrite")
SCENARIOS = (*CRASH_SCENARIOS, "gcore")
PROGRAM = "leaky"
INIT = ROOT / "gdb_gomem" / "init.py"


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


def gomem_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the standalone command as a user would (a fresh process, no colour)."""
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "gdb_gomem.frontends.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=check,
    )


def gdb_batch(
    *commands: str, exe: Path | None = None, core_file: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Real gdb (-nx -batch) with gdb-gomem sourced from another working directory."""
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


@pytest.fixture(params=VERSIONS or ["none"])
def version(request: pytest.FixtureRequest) -> str:
    need_fixtures()
    return request.param


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
