"""The snapshot file: a round trip keeps every column, and every kind of bad file is refused
with one message naming the problem (never a traceback, never an unpickle)."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from gdb_gomem.snapshots.capture import take_snapshot
from gdb_gomem.snapshots.format import FORMAT_VERSION, MAGIC, SnapshotError, decode, encode
from gdb_gomem.snapshots.model import OBJECT_COLUMNS, SPAN_COLUMNS, Snapshot
from tests.support import VERSIONS, fixture_process, program_manifest


@pytest.fixture(scope="module")
def snap_bytes() -> bytes:
    version = VERSIONS[-1]
    program_manifest(version, "windowprof", "panic")
    snap, _ = take_snapshot(fixture_process(version, "windowprof", "panic"), label="t")
    return snap.to_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_round_trip_keeps_everything(version: str) -> None:
    program_manifest(version, "window", "panic")
    proc = fixture_process(version, "window", "panic")
    snap, secs = take_snapshot(proc, label="round")
    back = Snapshot.from_bytes(snap.to_bytes())
    for k in OBJECT_COLUMNS:
        assert np.array_equal(back.objects[k], snap.objects[k]), k
    for k in SPAN_COLUMNS:
        assert np.array_equal(back.spans[k], snap.spans[k]), k
    assert np.array_equal(back.alloc_bits, snap.alloc_bits)
    assert back.types == snap.types and back.stacks == snap.stacks
    assert back.label == "round" and back.meta["build_id"] == proc.binary.go_build_id
    assert back.meta["go_version"] == proc.go_version
    assert set(secs) == {"allocation state", "types", "profile"}
    # The manifest's batches are all there, typed by name (a pointer may sit past a malloc
    # header, inside its slot).
    m = program_manifest(version, "window", "panic")
    names = back.type_names()
    for b in m["batches"]:
        ptrs = np.array([int(a, 16) for a in b["addresses"]], np.uint64)
        i = np.searchsorted(back.objects["addr"], ptrs, side="right") - 1
        assert bool(np.all(ptrs < back.objects["addr"][i] + back.objects["size"][i]))
        assert set(names[i].tolist()) == {b["type"]}
    # One object per allocated slot: the allocation bits agree with the objects' slots.
    base, elem = back.spans["span_base"], back.spans["span_elemsize"]
    addr = back.objects["addr"]
    k = np.searchsorted(base, addr, side="right") - 1
    slot = ((addr - base[k]) // elem[k]).astype(np.int64)
    below = slot < back.spans["span_freeindex"][k]
    bitpos = back.spans["span_bits_off"][k].astype(np.int64) * 8 + slot
    bit = (back.alloc_bits[bitpos >> 3] >> (bitpos & 7).astype(np.uint8)) & 1
    # Above freeindex an allocated slot has its allocation bit set (a survivor of the last
    # sweep); below it the bit may be clear (allocated since).
    assert bool(np.all(bit[~below] == 1))


def test_not_a_snapshot() -> None:
    with pytest.raises(SnapshotError, match="not a gdb-gomem snapshot"):
        decode(b"\x7fELF" + bytes(100))
    with pytest.raises(SnapshotError, match="not a gdb-gomem snapshot"):
        decode(b"")


def test_truncated(snap_bytes: bytes) -> None:
    for cut in (4, 40, len(snap_bytes) // 2, len(snap_bytes) - 1):
        with pytest.raises(SnapshotError, match="truncated"):
            decode(snap_bytes[:cut])


def test_damaged_checksum(snap_bytes: bytes) -> None:
    bad = bytearray(snap_bytes)
    bad[len(bad) // 2] ^= 0xFF
    with pytest.raises(SnapshotError, match="damaged"):
        decode(bytes(bad))


def test_newer_format_is_refused(snap_bytes: bytes) -> None:
    newer = snap_bytes[:8] + struct.pack("<I", FORMAT_VERSION + 1) + snap_bytes[12:]
    with pytest.raises(SnapshotError, match=f"format version {FORMAT_VERSION + 1}"):
        decode(newer)


def _forge(header: dict[str, object], body: bytes = b"") -> bytes:
    """A file with a correct digest around a header of our choosing."""
    h = json.dumps(header).encode()
    raw = struct.pack("<I", len(h)) + h
    raw += bytes((-len(raw)) % 8) + body
    payload = zlib.compress(raw)
    return (
        MAGIC
        + struct.pack("<IIQ", FORMAT_VERSION, 0, len(payload))
        + hashlib.sha256(payload).digest()
        + payload
    )


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"name": "a", "dtype": "|O", "shape": [1], "offset": 0, "nbytes": 8}, "dtype"),
        ({"name": "a", "dtype": "<u8", "shape": [1 << 40], "offset": 0, "nbytes": 8}, "fit"),
        ({"name": "a", "dtype": "<u8", "shape": [2], "offset": 0, "nbytes": 16}, "fit"),
        ({"name": "a", "dtype": "<u8", "shape": [-1], "offset": 0, "nbytes": 8}, "shape"),
    ],
)
def test_lying_header_is_refused(entry: dict[str, object], match: str) -> None:
    data = _forge({"meta": {}, "arrays": [entry]}, bytes(8))
    with pytest.raises(SnapshotError, match=match):
        decode(data)


def test_missing_columns_are_refused() -> None:
    data = encode({"types": []}, {"addr": np.zeros(1, np.uint64)})
    with pytest.raises(SnapshotError, match="damaged"):
        Snapshot.from_bytes(data)


def test_cli_refuses_a_damaged_file(snap_bytes: bytes, tmp_path: Path) -> None:
    from tests.support import gomem_cli

    bad = tmp_path / "bad.gomemsnap"
    bad.write_bytes(snap_bytes[: len(snap_bytes) // 3])
    good = tmp_path / "good.gomemsnap"
    good.write_bytes(snap_bytes)
    version = VERSIONS[-1]
    from gomem_fixtures import store

    exe = store.fixture_file(version, "windowprof", "windowprof")
    r = gomem_cli("diff", str(bad), str(good), "--binary", str(exe))
    assert r.returncode == 2, r.stderr
    assert "truncated" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.count("\n") <= 2
