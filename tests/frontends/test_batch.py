"""scripts/gomem-batch: a real gdb driven through a pseudo-terminal gives the standalone CLI's
answers, surfaces errors in its exit status, and gives up on a command past --timeout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, VERSIONS, binary, cli_json, core

BATCH = ROOT / "scripts" / "gomem-batch"
#: Keys whose values are wall times of this run.
TIMING = {"seconds", "timings", "elapsed", "elapsed_s"}


def _batch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BATCH), *args], capture_output=True, text=True, timeout=timeout
    )


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in TIMING}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


@pytest.mark.gdb
@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]])
@pytest.mark.parametrize("cmd", ["histogram", "info", "goroutines", "memstats"])
def test_batch_agrees_with_the_cli(version: str, cmd: str) -> None:
    r = _batch(str(binary(version)), str(core(version, "panic")), "--cmd", f"gomem {cmd} --json")
    assert r.returncode == 0, r.stderr
    # One --cmd: stdout is that command's output alone.
    got = json.loads(r.stdout)
    want = cli_json(version, cmd)
    if cmd == "info":  # gdb names its target and reads threads its own way
        for k in ("target", "thread_list", "threads"):
            got.pop(k, None), want.pop(k, None)
    assert _strip(got) == _strip(want)


@pytest.mark.gdb
def test_errors_and_timeouts_set_the_exit_status(tmp_path: Path) -> None:
    version = VERSIONS[-1]
    exe, c = str(binary(version)), str(core(version, "panic"))
    r = _batch(exe, c, "--cmd", "gomem histogrm")
    assert r.returncode == 2 and "unknown subcommand 'histogrm'" in r.stderr
    assert "did you mean histogram" in r.stdout + r.stderr
    r = _batch(exe, "/etc/hostname")
    assert r.returncode == 2 and "not a core dump" in r.stderr
    r = _batch(exe, str(tmp_path / "missing.core"))
    assert r.returncode == 2 and "no such core" in r.stderr
    r = _batch(exe, c, "--cmd", "gomem top", "--timeout", "0.5")
    assert r.returncode == 3 and "no answer within" in r.stderr
    # Several commands: each one's output in order.
    r = _batch(exe, c, "--cmd", "gomem info --json", "--cmd", "gomem memstats --json")
    assert r.returncode == 0, r.stderr
    dec = json.JSONDecoder()
    first, end = dec.raw_decode(r.stdout)
    second, _ = dec.raw_decode(r.stdout[end:].lstrip())
    assert first["go_version"] == second["go_version"] == f"go{version}"
