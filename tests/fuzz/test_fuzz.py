"""Fuzz the parsers of untrusted bytes with atheris, each for a fixed time (slow suite).

Each target (see :mod:`tests.fuzz.harness`) runs in its own process from seeds made of the
committed fixtures; only gdb-gomem's own errors may escape a parser. A crash fails the test,
and libFuzzer leaves the input as ``crash-*`` in the working directory: such an input belongs in
the corpus (``gomem_fixtures/corpus.py``) as a regression case.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")  # installed by scripts/setup (test extras)

HARNESS = Path(__file__).with_name("harness.py")

#: Seconds of fuzzing per target, and a per-input time limit (a hang is a failure too).
BUDGET = {"core": 20, "snapshot": 15, "pclntab": 20, "span": 10, "elf": 30}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(BUDGET))
def test_fuzz_target(target: str, tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            target,
            str(tmp_path / "seeds"),
            f"-max_total_time={BUDGET[target]}",
            "-timeout=20",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=BUDGET[target] + 240,
        cwd=tmp_path,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*")) + sorted(
        p.name for p in tmp_path.glob("timeout-*")
    )
    tail = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
    assert res.returncode == 0 and not crashes, f"{target}: {crashes}\n{tail}"
    runs = [ln for ln in res.stderr.splitlines() if ln.startswith("Done ")]
    assert runs, tail  # libFuzzer's own summary: the target really ran
    print(f"{target}: {runs[-1]}")


REGRESSIONS = Path(__file__).with_name("regressions")


@pytest.mark.parametrize(
    "crash", sorted(REGRESSIONS.glob("*/*")), ids=lambda p: f"{p.parent.name}/{p.name[:20]}"
)
def test_fuzz_findings_stay_fixed(crash: Path) -> None:
    """Inputs the fuzzers once crashed on, replayed through their target (default suite)."""
    res = subprocess.run(
        [sys.executable, str(HARNESS), crash.parent.name, "--replay", str(crash)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "replayed" in res.stdout, res.stdout + res.stderr
