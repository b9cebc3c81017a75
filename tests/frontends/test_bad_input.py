"""Untrusted input: each bad file gets one clear message and a non-zero exit, never a traceback.

Cases: missing file, a text file, a non-Go binary, a core passed as the binary, a core from
another Go binary, a core of a non-Go process (made with gcore here), a truncated core, and gdb
with nothing loaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import VERSIONS, binary, core, gdb_batch, gomem_cli, need_fixtures

NON_GO = shutil.which("ls") or "/bin/ls"


def _assert_clean_error(res: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    assert "internal error" not in res.stderr
    err = res.stderr.lower()
    for p in phrases:
        assert p.lower() in err, (p, res.stderr)
    assert "hint:" in err


@pytest.fixture(scope="module")
def pair() -> tuple[Path, Path]:
    need_fixtures()
    return binary(VERSIONS[-1]), core(VERSIONS[-1], "panic")


def test_missing_files(pair: tuple[Path, Path], tmp_path: Path) -> None:
    exe, cf = pair
    _assert_clean_error(
        gomem_cli("info", "--binary", str(tmp_path / "nope"), "--core", str(cf)), "no such file"
    )
    _assert_clean_error(
        gomem_cli("info", "--binary", str(exe), "--core", str(tmp_path / "nope")), "no such file"
    )


def test_not_elf(pair: tuple[Path, Path], tmp_path: Path) -> None:
    exe, cf = pair
    txt = tmp_path / "notes.txt"
    txt.write_text("not an ELF file\n" * 10)
    _assert_clean_error(gomem_cli("info", "--binary", str(txt), "--core", str(cf)), "not an elf")
    _assert_clean_error(gomem_cli("info", "--binary", str(exe), "--core", str(txt)), "not an elf")


def test_non_go_binary(pair: tuple[Path, Path]) -> None:
    _, cf = pair
    res = gomem_cli("info", "--binary", NON_GO, "--core", str(cf))
    _assert_clean_error(res, "not a go program")


def test_swapped_arguments(pair: tuple[Path, Path]) -> None:
    exe, cf = pair
    _assert_clean_error(gomem_cli("info", "--binary", str(cf), "--core", str(exe)), "core file")


def test_core_of_another_go_binary(pair: tuple[Path, Path]) -> None:
    if len(VERSIONS) < 2:
        pytest.skip("needs fixtures of two Go versions")
    _, cf = pair
    other = binary(VERSIONS[0])
    _assert_clean_error(
        gomem_cli("info", "--binary", str(other), "--core", str(cf)), "not produced by"
    )


@pytest.mark.gdb
def test_core_of_non_go_process(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """A real core of a C program (sleep), taken with gdb's gcore, given with a Go binary."""
    exe, _ = pair
    proc = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.2)
        out = tmp_path / "sleep.core"
        subprocess.run(
            ["gdb", "-nx", "-batch", "-p", str(proc.pid), "-ex", f"gcore {out}"],
            capture_output=True,
            timeout=120,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if not out.exists():
        pytest.skip("gcore could not attach here (ptrace not permitted)")
    res = gomem_cli("info", "--binary", str(exe), "--core", str(out))
    _assert_clean_error(res, "core")
    assert "sleep" in res.stderr  # names what the core really is


def test_truncated_core(pair: tuple[Path, Path], tmp_path: Path) -> None:
    exe, cf = pair
    cut = tmp_path / "cut.core"
    with open(cf, "rb") as src, open(cut, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        dst.write(src.read(size // 2))
    _assert_clean_error(gomem_cli("info", "--binary", str(exe), "--core", str(cut)), "truncated")
    tiny = tmp_path / "tiny.core"
    tiny.write_bytes(cf.read_bytes()[:40])
    _assert_clean_error(gomem_cli("info", "--binary", str(exe), "--core", str(tiny)))


@pytest.mark.gdb
def test_gdb_errors_are_one_line_messages(pair: tuple[Path, Path]) -> None:
    exe, cf = pair
    runs = []
    # Nothing loaded at all.
    runs.append((gdb_batch("gomem info"), "no executable is loaded"))
    # Binary but no process or core.
    runs.append((gdb_batch("gomem info", exe=exe), "no process or core is loaded"))
    # Bad arguments.
    runs.append(
        (gdb_batch("gomem info --bogus", exe=exe, core_file=cf), "unrecognized arguments: --bogus")
    )
    # A Go binary with another version's core (gdb itself only warns about the mismatch).
    if len(VERSIONS) > 1:
        runs.append(
            (gdb_batch("gomem info", exe=binary(VERSIONS[0]), core_file=cf), "not produced by")
        )
    for res, phrase in runs:
        assert phrase in res.stderr, (phrase, res.stderr)
        assert "Traceback" not in res.stdout + res.stderr
        assert "internal error" not in res.stderr
