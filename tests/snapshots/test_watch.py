"""The live recorder: `gomem watch` in gdb on a running fixture program until it crashes, then
`gomem window --ring` on what it wrote.

fixtures/<v>/window churn: a forced GC, then three tagged batches of 200 objects about 300 ms
apart under GOGC=10 churn, then a panic; the manifest has every object's address and the
program's clock around each batch. With snapshots every 50 ms, every batch object must be
placed between two snapshots that bracket its own allocation time, and a window that starts
between batches B and C must list C and nothing of A or B.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdb_gomem.reports.snapshots import ring_window_doc
from gdb_gomem.snapshots.format import SnapshotError
from gdb_gomem.snapshots.ring import load_ring, ring_times
from gomem_fixtures import store
from tests.reports.test_schema import _problems
from tests.support import VERSIONS, gdb_batch, program_manifest

INTERVAL = "50ms"


def _record(version: str, tmp_path: Path) -> tuple[Path, dict[str, Any], str]:
    program_manifest(version, "window", "churn")
    exe = store.fixture_file(version, "window", "window")
    ring = tmp_path / "ring"
    manifest = tmp_path / "live.manifest.json"
    r = gdb_batch(
        "set startup-with-shell off",
        f"start -scenario=churn -manifest={manifest}",
        f"gomem watch --interval {INTERVAL} --out {ring}",
        "info symbol $pc",
        "kill",
        exe=exe,
        timeout=600,
    )
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return ring, json.loads(manifest.read_text()), r.stdout


@pytest.mark.gdb
@pytest.mark.parametrize("version", VERSIONS)
def test_recorder_places_every_batch_object_between_two_snapshots(
    version: str, tmp_path: Path
) -> None:
    ring, m, out = _record(version, tmp_path)
    assert "ended: crash (runtime.fatalpanic)" in out, out
    assert "fatalpanic" in out  # left stopped at the crash
    index, entries = load_ring(ring)
    assert entries[-1].reason == "crash: runtime.fatalpanic"
    assert len(entries) >= 8  # ~1 s of run at 50 ms
    assert index["cost"]["snapshots"] == len(entries) - 1  # the crash's is counted apart
    rt = ring_times(entries)
    last = rt.last
    for b in m["batches"]:
        ptrs = np.array([int(a, 16) for a in b["addresses"]], np.uint64)
        i = np.searchsorted(last.objects["addr"], ptrs, side="right") - 1
        assert bool(np.all(ptrs < last.objects["addr"][i] + last.objects["size"][i]))
        after, before = rt.after_unix_ns[i], rt.before_unix_ns[i]
        # Every object is placed (recall 100%), in the interval around its allocation.
        assert (after > 0).all(), (b["name"], int((after == 0).sum()))
        assert (after <= b["first_object_unix_ns"]).all(), b["name"]
        assert (before >= b["last_object_unix_ns"]).all(), b["name"]
        # To the interval (plus the pause of the snapshot that closes it).
        assert int((before - after).max()) < 5 * 10**9


def _lost_identity(entries: list[Any], batch: dict[str, Any]) -> str:
    """For a failure message: where the ring placed the batch's objects, and the state of
    the two snapshots around that place (a whole batch misplaced once in many runs)."""
    rt = ring_times(entries)
    last = rt.last
    ptrs = np.array([int(x, 16) for x in batch["addresses"]], np.uint64)
    i = np.searchsorted(last.objects["addr"], ptrs, side="right") - 1
    taken = [e.taken_unix_ns for e in entries]
    lines = [
        f"batch {batch['name']}: {len(ptrs)} objects, allocated from "
        f"{batch['first_object_unix_ns']} to {batch['last_object_unix_ns']}"
    ]
    for after in sorted(set(rt.after_unix_ns[i].tolist())):
        rows = i[rt.after_unix_ns[i] == after]
        j = taken.index(after) if after in taken else -1
        lines.append(f"  {len(rows)} placed after snapshot {j} ({after})")
        for k in (j, j + 1):
            if 0 <= k < len(entries):
                e = entries[k]
                lines.append(
                    f"    snapshot {k}: {e.reason}, taken {e.taken_unix_ns}, num_gc "
                    f"{e.snapshot.num_gc}, sweep_cycle {e.snapshot.meta.get('sweep_cycle')}"
                )
        lines.append(
            f"    in the last snapshot: after_cycle "
            f"{sorted(set(last.objects['after_cycle'][rows].tolist()))[:5]}, before_cycle "
            f"{sorted(set(last.objects['before_cycle'][rows].tolist()))[:5]}"
        )
    return "\n".join(lines)


@pytest.mark.gdb
def test_window_from_the_ring_between_batches(tmp_path: Path) -> None:
    from gdb_gomem.reports.schema.window import WindowDoc

    version = VERSIONS[-1]
    ring, m, _ = _record(version, tmp_path)
    _, entries = load_ring(ring)
    end = entries[-1].taken_unix_ns
    a, b, c = m["batches"]
    # Start the window at the first snapshot after batch B ended and before C began.
    starts = [e.taken_unix_ns for e in entries if b["t_after_unix_ns"] < e.taken_unix_ns]
    ws = starts[0]
    assert ws < c["t_before_unix_ns"], "no snapshot between batches B and C"
    d = ring_window_doc(str(ring), end - ws, type_rx=r"^main\.Batch")
    assert not _problems(d, WindowDoc, "window")
    listed = np.array(sorted(int(o["addr"], 16) for o in d["objects"]), np.uint64)

    def count_listed(batch: dict[str, Any]) -> int:
        ptrs = np.array([int(x, 16) for x in batch["addresses"]], np.uint64)
        j = np.searchsorted(listed, ptrs, side="right") - 1
        return int(((j >= 0) & (ptrs - listed[np.maximum(j, 0)] < 4096)).sum())

    assert count_listed(c) == c["count"], _lost_identity(entries, c)
    assert count_listed(a) == 0, _lost_identity(entries, a)
    assert count_listed(b) == 0, _lost_identity(entries, b)
    assert {o["allocated"]["source"] for o in d["objects"]} == {"ring"}


def test_damaged_ring_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not a recorder ring"):
        load_ring(tmp_path)
    (tmp_path / "ring.json").write_text('{"format": 1, "snapshots": [{"file": "../x"}]}')
    with pytest.raises(SnapshotError, match="damaged"):
        load_ring(tmp_path)
    (tmp_path / "ring.json").write_text('{"format": 99, "snapshots": []}')
    with pytest.raises(SnapshotError, match="ring format 99"):
        load_ring(tmp_path)


@pytest.mark.gdb
def test_for_and_ctrl_c_end_the_recording_and_keep_the_process(tmp_path: Path) -> None:
    """--for and an interrupt (SIGINT to the process, as Ctrl-C at gdb's terminal delivers)
    end the recording cleanly: the ring is written and the process is left stopped, alive."""
    version = VERSIONS[-1]
    program_manifest(version, "window", "churn")
    exe = store.fixture_file(version, "window", "window")
    for how in ("for", "sigint"):
        ring = tmp_path / how
        cmds = [
            "set startup-with-shell off",
            f"start -scenario=churn -manifest={tmp_path / (how + '.json')}",
        ]
        if how == "sigint":
            cmds.append(
                "python import subprocess; subprocess.Popen(['/bin/sh', '-c', "
                "'sleep 0.3; kill -INT %d' % gdb.selected_inferior().pid])"
            )
            watch = f"gomem watch --interval 50ms --out {ring}"
        else:
            watch = f"gomem watch --interval 50ms --for 200ms --out {ring}"
        cmds += [watch, "echo ==I==\\n", "info program", "kill"]
        r = gdb_batch(*cmds, exe=exe, timeout=600)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        want = "ended: --for elapsed" if how == "for" else "ended: interrupted (Ctrl-C)"
        assert want in r.stdout, r.stdout
        _, entries = load_ring(ring)
        assert entries and all(e.reason != "crash" for e in entries)
        # The process is still there and stopped (gdb kills it after), not crashed.
        after = r.stdout.split("==I==")[-1]
        assert "Program stopped at" in after and "killed" in after, after
