"""gomem timers (issue 13): every live ticker with its period, what it runs and where it was
created, on every version's core, the 1.23+ channel timers on no P heap included. Ground
truth: the leaky program's manifest (3 tickers of 1h, 2h and 3h, never stopped) and its
source (the NewTicker line)."""

from __future__ import annotations

import pytest

from tests.support import ROOT, VERSIONS, core, manifest, run_json_on


def _ticker_line() -> int:
    src = (ROOT / "fixtures" / "src" / "leaky" / "main.go").read_text().splitlines()
    return next(i + 1 for i, ln in enumerate(src) if "time.NewTicker(" in ln)


@pytest.mark.parametrize("version", VERSIONS)
def test_tickers_against_the_manifest(version: str) -> None:
    m = manifest(version, "panic")
    d = run_json_on(version, core(version, "panic"), "timers")
    tickers = [t for t in d["timers"] if t["period_ns"] > 0]
    assert d["tickers"] == len(tickers) == m["tickers"]
    assert sorted(t["period_ns"] for t in tickers) == sorted(m["ticker_periods_ns"])
    for t in tickers:
        assert t["func"] == "time.sendTime" and t["channel"]
        assert t["held_by"] is not None
        assert t["created_at"] is not None and t["created_at"].endswith(f":{_ticker_line()})")
        # Started once at the program's run: the next firing is one period after it began.
        assert t["when_unix_ns"] is not None
    whens = sorted(t["when_unix_ns"] - t["period_ns"] for t in tickers)
    assert whens[-1] - whens[0] < 1_000_000_000  # all three started together


@pytest.mark.parametrize("version", VERSIONS)
def test_unstopped_tickers_are_a_suspect(version: str) -> None:
    m = manifest(version, "panic")
    d = run_json_on(version, core(version, "panic"), "suspects")
    t = next(s for s in d["suspects"] if s["kind"] == "timers")
    assert t["count"] == m["tickers"] and f":{_ticker_line()})" in t["type"]
