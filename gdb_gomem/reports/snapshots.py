"""The documents of ``gomem snapshot`` / ``heap_snapshot`` and ``gomem diff``.

A diff's sides are snapshot files or cores, in any mix: a file is read (and checked, see
:mod:`gdb_gomem.snapshots.format`), a core is opened with the front end's opener and
snapshotted on the fly, and the current target (in gdb) is snapshotted in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gdb_gomem.base.errors import BadFile, GomemError
from gdb_gomem.base.fmt import hexaddr, unix_ns_to_iso
from gdb_gomem.reports.schema.snapshots import (
    DiffClassDoc,
    DiffDoc,
    SnapshotDoc,
    SnapshotSideDoc,
)
from gdb_gomem.reports.schema.window import WindowDoc, WindowObject, WindowRow
from gdb_gomem.reports.typematch import names_mask
from gdb_gomem.snapshots.capture import take_snapshot
from gdb_gomem.snapshots.diff import HeapDiff, check_same_program, diff
from gdb_gomem.snapshots.format import SnapshotError, looks_like_snapshot, read_file, write_file
from gdb_gomem.snapshots.model import Snapshot
from gdb_gomem.snapshots.ring import load_ring, ring_times
from gdb_gomem.target.process import GoProcess

#: Opens a core of a binary (the front end's: the adapters layer is above this one).
Opener = Callable[[str, str], GoProcess]
#: Objects listed per class unless --limit says otherwise (--by object lists them all).
DEFAULT_LIST = 20
CURRENT = ("", ".", "-")


def side_doc(s: Snapshot, source: str, kind: str) -> SnapshotSideDoc:
    alive = s.alive()
    m = s.meta
    return {
        "source": source,
        "kind": kind,
        "label": s.label,
        "target": str(m.get("target") or ""),
        "go_version": str(m.get("go_version") or ""),
        "build_id": str(m.get("build_id") or ""),
        "taken_unix_ns": m.get("taken_unix_ns"),
        "at_unix_ns": m.get("at_unix_ns"),
        "at_nanotime": m.get("at_nanotime"),
        "num_gc": s.num_gc,
        "last_gc_unix_ns": m.get("last_gc_unix_ns"),
        "typed": bool(m.get("typed")),
        "sampled": bool(s.stacks),
        "objects": int(alive.sum()),
        "bytes": int(s.objects["size"][alive].astype(np.int64).sum()),
    }


def default_snapshot_path(label: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:40]
    return f"gomem-{safe + '-' if safe else ''}{stamp}.gomemsnap"


def snapshot_doc(
    proc: GoProcess,
    out: str | None,
    label: str = "",
    *,
    typed: bool = True,
    roots: bool = False,
) -> SnapshotDoc:
    """Take a snapshot of proc and write it to out (or a default name in the current
    directory)."""
    live = proc.stop.source == "live process"
    snap, seconds = take_snapshot(proc, label=label, typed=typed, roots=roots, freeze_first=live)
    t0 = time.perf_counter()
    data = snap.to_bytes()
    path = write_file(out or default_snapshot_path(label), data)
    seconds["write"] = time.perf_counter() - t0
    notes = list(snap.meta.get("notes") or [])
    if not typed:
        notes.append("taken without the type pass (--no-types): a diff keys its rows by size")
    if not snap.stacks:
        notes.append(
            "no sampled allocation stacks (the heap profiler was off or never linked): a diff "
            "--by stack has nothing to group"
        )
    return {
        "snapshot": side_doc(snap, str(path), "target"),
        "path": str(path),
        "file_bytes": len(data),
        "seconds": {k: round(v, 6) for k, v in seconds.items()},
        "notes": notes,
        "errors": list(snap.meta.get("errors") or []),
    }


def load_side(
    spec: str,
    *,
    binary: str | None,
    opener: Opener | None,
    current: GoProcess | None,
    typed: bool = True,
    roots: bool = False,
) -> tuple[Snapshot, str]:
    """A diff side: a snapshot file, a core (of ``binary``), or the current target."""
    if spec in CURRENT:
        if current is None:
            raise BadFile("no current target to diff against", "give a snapshot file or a core")
        return take_snapshot(current, typed=typed, roots=roots)[0], "target"
    if not Path(spec).exists():
        raise BadFile(f"{spec}: no such file", "give a snapshot file or a core")
    if looks_like_snapshot(spec):
        return Snapshot.from_bytes(read_file(spec), spec), "snapshot"
    if opener is None or binary is None:
        raise BadFile(
            f"{spec} is not a snapshot file, and no binary is given to read it as a core",
            "add --binary BINARY (the program the core is from)",
        )
    return take_snapshot(opener(binary, spec), typed=typed, roots=roots)[0], "core"


def _class_doc(s: Snapshot, idx: np.ndarray, limit: int) -> DiffClassDoc:
    size = s.objects["size"][idx].astype(np.int64)
    names = s.type_names()[idx] if len(idx) else np.zeros(0, dtype=object)
    order = np.argsort(-size, kind="stable")[: max(limit, 0)]
    addr = s.objects["addr"][idx]
    return {
        "count": len(idx),
        "bytes": int(size.sum()),
        "list": [
            {"addr": hexaddr(int(addr[i])), "size": int(size[i]), "type": str(names[i])}
            for i in order.tolist()
        ],
    }


def diff_document(
    d: HeapDiff,
    a_src: tuple[str, str],
    b_src: tuple[str, str],
    *,
    limit: int | None,
    threshold: int,
    focus: str | None,
) -> DiffDoc:
    n = limit if limit is not None else (1 << 62 if d.by == "object" else DEFAULT_LIST)
    c = d.classes
    notes = list(d.notes)
    return {
        "by": d.by,
        "key": d.key_kind,
        "rows": [
            {
                "type": r.key,
                "count_a": r.count_a,
                "count_b": r.count_b,
                "delta_count": r.delta_count,
                "bytes_a": r.bytes_a,
                "bytes_b": r.bytes_b,
                "delta_bytes": r.delta_bytes,
            }
            for r in d.rows
        ],
        "objects": {
            "new": _class_doc(d.b, c.new_b, n),
            "freed": _class_doc(d.a, c.freed_a, n),
            "survived": _class_doc(d.b, c.survived_b, n),
            "unconfirmed_survivors": c.unconfirmed,
        },
        "a": side_doc(d.a, *a_src),
        "b": side_doc(d.b, *b_src),
        "threshold": threshold,
        "focus": focus,
        "notes": notes,
    }


def diff_doc(
    old: str,
    new: str,
    *,
    binary: str | None,
    opener: Opener | None,
    current: GoProcess | None,
    by: str = "type",
    threshold: int = 0,
    focus: str | None = None,
    limit: int | None = None,
) -> DiffDoc:
    """The diff of OLD to NEW (snapshot files, cores, or "." for the current target)."""
    roots = by == "root"
    a, ka = load_side(old, binary=binary, opener=opener, current=current, roots=roots)
    b, kb = load_side(new, binary=binary, opener=opener, current=current, roots=roots)
    name_a = old if old not in CURRENT else "current target"
    name_b = new if new not in CURRENT else "current target"
    check_same_program(a, b, name_a, name_b)
    want = current.binary.go_build_id if current is not None else None
    if want is None and binary is not None:
        from gdb_gomem.symbols.binary import GoBinary

        want = GoBinary(binary).go_build_id
    for s, name in ((a, name_a), (b, name_b)):
        got = s.meta.get("build_id")
        if want and got and got != want:
            raise SnapshotError(
                f"{name} was taken of another binary (Go build ID {got}, the binary's is {want})",
                "give the binary the snapshot was taken of (gomem diff --binary)",
            )
    d = diff(a, b, by=by, threshold=threshold, focus=focus)
    return diff_document(
        d, (name_a, ka), (name_b, kb), limit=limit, threshold=threshold, focus=focus
    )


# ---------------------------------------------------------------------------- window --ring


def ring_window_doc(
    directory: str,
    duration_ns: int,
    type_rx: str | None = None,
    by: str = "type",
    limit: int | None = None,
) -> WindowDoc:
    """``gomem window DURATION --ring DIR``: the objects of the ring's newest snapshot (the
    crash) allocated within DURATION before it, each placed between two snapshots."""
    if duration_ns <= 0:
        raise GomemError("the duration must be positive", "e.g. gomem window 1.7s --ring DIR")
    index, entries = load_ring(directory)
    rt = ring_times(entries)
    last = rt.last
    end = entries[-1].taken_unix_ns
    ws = end - duration_ns
    alive = last.alive()
    names = (
        last.type_names()
        if last.meta.get("typed")
        else np.array([f"size {int(x)}" for x in last.objects["size"].tolist()], dtype=object)
    )
    sel = alive.copy()
    if type_rx:
        uniq = sorted({str(n) for n in names[alive].tolist()})
        keep = [n for n, ok in zip(uniq, names_mask(uniq, type_rx), strict=True) if ok]
        sel &= np.isin(names.astype(str), keep)
    inside = sel & (rt.after_unix_ns >= ws) & (rt.after_unix_ns > 0)
    straddle = sel & ~inside & (rt.before_unix_ns > ws)
    size = last.objects["size"].astype(np.int64)
    if by == "stack":
        from gdb_gomem.snapshots.diff import stack_labels

        keys = stack_labels(last)
    elif by == "goroutine":
        keys = np.full(len(last), "unknown (a recorder ring holds no goroutines)", dtype=object)
    else:
        keys = names
    idx = np.flatnonzero(inside)
    rows: list[WindowRow] = []
    if len(idx):
        uk, inv = np.unique(keys[idx].astype(str), return_inverse=True)
        cnt = np.bincount(inv, minlength=len(uk))
        byt = np.bincount(inv, weights=size[idx], minlength=len(uk))
        rows = [
            {"type": k, "count": int(n), "bytes": int(b)}
            for k, n, b in zip(uk.tolist(), cnt.tolist(), byt.tolist(), strict=True)
        ]
        rows.sort(key=lambda r: (r["bytes"], r["count"], r["type"]))
    order = idx[np.lexsort((last.objects["addr"][idx], rt.after_unix_ns[idx]))]
    n_list = len(order) if limit is None else max(limit, 0)
    objects: list[WindowObject] = [
        {
            "addr": hexaddr(int(last.objects["addr"][i])),
            "size": int(size[i]),
            "type": str(names[i]),
            "allocated": {
                "after_unix_ns": int(rt.after_unix_ns[i]),
                "before_unix_ns": int(rt.before_unix_ns[i]),
                "source": "ring",
            },
        }
        for i in order[:n_list].tolist()
    ]
    und = np.flatnonzero(straddle)
    interval = int(index.get("interval_ns") or 0)
    text = (
        f"allocated after {unix_ns_to_iso(ws)}, within {duration_ns / 1e9:g} s of the ring's "
        f"last snapshot ({entries[-1].reason}), each object between two snapshots "
        f"(every {interval / 1e6:g} ms)"
    )
    if len(und):
        text += (
            f"; {len(und)} object(s) were allocated between the snapshots around the window's "
            "start and may or may not be in it (not listed)"
        )
    if ws < entries[0].taken_unix_ns:
        text += (
            f"; the ring reaches back only to {unix_ns_to_iso(entries[0].taken_unix_ns)}: "
            "objects older than its first snapshot are not listed"
        )
    return {
        "go_version": str(last.meta.get("go_version") or ""),
        "duration_ns": duration_ns,
        "selection": "all",
        "by": by,
        "rows": rows,
        "total": {"count": len(idx), "bytes": int(size[idx].sum())},
        "objects": objects,
        "shown": len(objects),
        "crash_time": {
            "unix_ns": end,
            "lo_unix_ns": end,
            "hi_unix_ns": end,
            "source": f"the recorder's last snapshot ({entries[-1].reason})",
        },
        "bound": {
            "kind": "ring" if len(und) else "window",
            "since_unix_ns": ws,
            "since_gc": None,
            "window_start_unix_ns": ws,
            "text": text,
        },
        "undecided": {
            "count": len(und),
            "bytes": int(size[und].sum()),
            "older_than_unix_ns": None,
        },
        "sources": [
            f"recorder ring: {len(entries)} snapshot(s) in {directory}, from "
            f"{unix_ns_to_iso(entries[0].taken_unix_ns)} to {unix_ns_to_iso(end)}, every "
            f"{interval / 1e6:g} ms; ended: {index.get('end', '?')}"
        ],
        "errors": [],
        "notes": [
            "times from the recorder's snapshots: an object is placed between the last snapshot "
            "whose slot did not hold it and the first that did (slot reuse told by GC epochs, "
            "type and sampled record)"
        ],
    }
