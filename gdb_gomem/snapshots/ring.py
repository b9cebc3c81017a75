"""The live recorder's ring: the last snapshots of a running process, kept for a while and
written to a directory when it crashes (or on demand); and what a ring says about when each
object of its newest snapshot was allocated.

A ring directory holds ``ring.json`` (format, interval, one entry per snapshot: file, wall
time, reason, pause; the recorder's cost; how it ended) and one snapshot file per entry
(:mod:`.format`). Allocation times from a ring are exact to the interval: an object of the
newest snapshot whose slot was free (or held another object, :func:`.diff.classify`) in
snapshot *k* and held it from snapshot *k + 1* on was allocated between the two.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdb_gomem.base.errors import BadFile
from gdb_gomem.snapshots.diff import classify
from gdb_gomem.snapshots.format import SnapshotError, read_file, write_file
from gdb_gomem.snapshots.model import Snapshot

RING_FORMAT = 1
INDEX = "ring.json"
#: Snapshots a ring directory may list (a recorder keeps far fewer).
MAX_RING = 100_000


@dataclass
class RingEntry:
    snapshot: Snapshot
    taken_unix_ns: int
    reason: str  # "interval", "crash: runtime.fatalpanic", "stop", ...
    pause_s: float  # how long the process stood still for it


@dataclass
class Ring:
    """The newest ``keep`` snapshots."""

    keep: int
    interval_ns: int
    entries: deque[RingEntry] = field(default_factory=deque)
    pauses: list[float] = field(default_factory=list)  # every snapshot's, dropped ones too

    def add(self, e: RingEntry) -> None:
        self.entries.append(e)
        self.pauses.append(e.pause_s)
        while len(self.entries) > self.keep:
            self.entries.popleft()

    def write(self, directory: str | Path, extra: dict[str, Any]) -> Path:
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadFile(
                f"cannot create {d}: {exc.strerror}", "choose a writable directory"
            ) from None
        items = []
        for i, e in enumerate(self.entries):
            name = f"{i:05d}.gomemsnap"
            write_file(d / name, e.snapshot.to_bytes())
            items.append(
                {
                    "file": name,
                    "taken_unix_ns": e.taken_unix_ns,
                    "reason": e.reason,
                    "pause_s": round(e.pause_s, 6),
                    "num_gc": e.snapshot.num_gc,
                }
            )
        index = {"format": RING_FORMAT, "interval_ns": self.interval_ns, "snapshots": items}
        index.update(extra)
        write_file(d / INDEX, (json.dumps(index, indent=1) + "\n").encode())
        return d


def load_ring(directory: str | Path) -> tuple[dict[str, Any], list[RingEntry]]:
    """A ring directory's index and snapshots, oldest first; SnapshotError when damaged."""
    d = Path(directory)
    hint = "give the directory gomem watch --out wrote"
    if not (d / INDEX).is_file():
        raise SnapshotError(f"{d} is not a recorder ring (no {INDEX})", hint)
    try:
        index = json.loads(read_file(d / INDEX))
        items = index["snapshots"]
        if int(index.get("format", 0)) > RING_FORMAT:
            raise SnapshotError(
                f"{d} has ring format {index['format']}; this gdb-gomem reads up to {RING_FORMAT}",
                "read it with the gdb-gomem that wrote it",
            )
        if not isinstance(items, list) or not items or len(items) > MAX_RING:
            raise ValueError(f"{len(items) if isinstance(items, list) else '?'} snapshots")
        entries = []
        for it in items:
            name = str(it["file"])
            if "/" in name or name.startswith("."):
                raise ValueError(f"snapshot file name {name!r}")
            snap = Snapshot.from_bytes(read_file(d / name), str(d / name))
            entries.append(
                RingEntry(
                    snap,
                    int(it["taken_unix_ns"]),
                    str(it.get("reason", "")),
                    float(it.get("pause_s", 0)),
                )
            )
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{d / INDEX} is damaged ({exc})", hint) from None
    if any(b.taken_unix_ns < a.taken_unix_ns for a, b in itertools.pairwise(entries)):
        raise SnapshotError(f"{d}: snapshots out of time order", hint)
    return index, entries


@dataclass
class RingTimes:
    """Per object of the newest snapshot (its row order): allocated after ``after_unix_ns``
    (0: before the oldest snapshot) and no later than ``before_unix_ns``."""

    last: Snapshot
    after_unix_ns: np.ndarray
    before_unix_ns: np.ndarray
    oldest_unix_ns: int
    newest_unix_ns: int


def ring_times(entries: list[RingEntry]) -> RingTimes:
    """When each object of the newest snapshot was allocated, to the ring's interval.

    Identity is followed pair by pair (snapshot j to j + 1), so a slot reused between two
    snapshots far apart is still caught where one interval shows it."""
    last = entries[-1].snapshot
    n = len(last)
    after = np.zeros(n, np.int64)
    before = np.full(n, entries[0].taken_unix_ns, np.int64)
    undecided = last.alive().copy()
    cur = np.arange(n, dtype=np.int64)  # each object's row in snapshot j + 1
    for j in range(len(entries) - 2, -1, -1):
        cls = classify(entries[j].snapshot, entries[j + 1].snapshot)
        sb, sa = cls.survived_b.astype(np.int64), cls.survived_a.astype(np.int64)
        pos = np.searchsorted(sb, cur)
        pos_ok = np.minimum(pos, max(len(sb) - 1, 0))
        present = (pos < len(sb)) & (sb[pos_ok] == cur) if len(sb) else np.zeros(n, bool)
        fresh = undecided & ~present
        after[fresh] = entries[j].taken_unix_ns
        before[fresh] = entries[j + 1].taken_unix_ns
        undecided &= present
        if not undecided.any():
            break
        cur = np.where(present, sa[pos_ok] if len(sa) else 0, -1)
    return RingTimes(last, after, before, entries[0].taken_unix_ns, entries[-1].taken_unix_ns)
