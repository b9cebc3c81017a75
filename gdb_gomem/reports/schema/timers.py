"""The document of ``gomem timers``."""

from __future__ import annotations

from typing import TypedDict


class TimerDoc(TypedDict):
    addr: str  # the runtime.timer
    when_unix_ns: int | None  # when it fires next (wall clock; null when unknown)
    when_nanotime: int  # the runtime's own value
    period_ns: int  # 0 for a one-shot timer
    kind: str  # "ticker" or "timer"
    func: str  # what it runs: time.sendTime (a channel), time.goFunc (AfterFunc), ...
    channel: bool  # feeds a time.Timer's or Ticker's channel
    p: int | None  # the P whose timer heap holds it; null: on no heap
    held_by: str | None  # the heap object holding it ("runtime.timeTimer 0x...")
    created_at: str | None  # the holder's sampled allocation site
    state: str


class TimersDoc(TypedDict):
    go_version: str
    timers: list[TimerDoc]  # soonest first
    tickers: int  # unstopped periodic timers
    errors: list[str]
    notes: list[str]
