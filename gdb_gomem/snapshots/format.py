"""The snapshot file: one heap's allocation state, written by ``heap_snapshot`` / ``gomem
snapshot`` and read by ``gomem diff`` and ``gomem window --ring``.

Layout (little-endian), version 1::

    magic      8 bytes  b"GOMEMSNP"
    version    u32      FORMAT_VERSION of the writer
    flags      u32      0 (reserved)
    length     u64      bytes of the compressed payload that follows the digest
    digest     32 bytes SHA-256 of the compressed payload
    payload             zlib stream of: u32 header length, the header (UTF-8 JSON), then
                        each array's raw bytes, 8-byte aligned, in the header's order

The header is ``{"meta": {...}, "arrays": [{"name", "dtype", "shape", "offset",
"nbytes"}]}``; only the dtypes in ``DTYPES`` are accepted, and every shape, offset and size is
checked against the payload before a byte is interpreted. Nothing is unpickled: a snapshot is
untrusted input. A file with another magic, a newer version, a wrong length or digest, or a
header that does not add up is refused with one :class:`SnapshotError` naming the problem.

Arrays (one row per object, or per span): see :class:`gdb_gomem.snapshots.model.Snapshot`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from gdb_gomem.base.errors import BadFile, require_regular_file

MAGIC = b"GOMEMSNP"
FORMAT_VERSION = 1
_FIXED = struct.Struct("<8sIIQ32s")
#: dtypes a snapshot may hold (anything else is refused on load).
DTYPES = frozenset({"<u8", "<i8", "<u4", "<i4", "<u2", "|u1", "|b1"})
#: Bounds on what a file may declare (a snapshot of a 64 GiB heap is far below these).
MAX_HEADER = 64 << 20
MAX_PAYLOAD = 16 << 30
MAX_ARRAYS = 64
ZLIB_LEVEL = 1


class SnapshotError(BadFile):
    """A snapshot file that cannot be used: not one, damaged, truncated, or too new."""


def _align(n: int) -> int:
    return (n + 7) & ~7


def encode(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """The file's bytes for meta (JSON-able) and named 1-D/2-D arrays."""
    entries = []
    off = 0
    blobs: list[bytes] = []
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        dt = a.dtype.str
        if dt not in DTYPES:
            raise ValueError(f"array {name}: dtype {dt} is not storable")
        raw = a.tobytes()
        entries.append(
            {"name": name, "dtype": dt, "shape": list(a.shape), "offset": off, "nbytes": len(raw)}
        )
        blobs.append(raw + bytes(_align(len(raw)) - len(raw)))
        off += _align(len(raw))
    header = json.dumps({"meta": meta, "arrays": entries}, separators=(",", ":")).encode()
    body = struct.pack("<I", len(header)) + header
    body += bytes(_align(len(body)) - len(body))
    comp = zlib.compressobj(ZLIB_LEVEL)
    payload = comp.compress(body)
    for b in blobs:
        payload += comp.compress(b)
    payload += comp.flush()
    return (
        _FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(payload), hashlib.sha256(payload).digest())
        + payload
    )


def decode(data: bytes, what: str = "the snapshot") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a snapshot file's bytes; SnapshotError when they are not one."""
    hint_again = "take the snapshot again (heap_snapshot in gdb, or gomem snapshot on a core)"
    if len(data) < _FIXED.size:
        if data[: len(MAGIC)] == MAGIC[: len(data)] and data:
            raise SnapshotError(f"{what} is truncated ({len(data)} bytes)", hint_again)
        raise SnapshotError(f"{what} is not a gdb-gomem snapshot (too short)", hint_again)
    magic, version, _flags, length, digest = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(
            f"{what} is not a gdb-gomem snapshot (it starts with {data[:8]!r})",
            "give a file written by heap_snapshot or gomem snapshot, or a core",
        )
    if version > FORMAT_VERSION:
        raise SnapshotError(
            f"{what} has format version {version}; this gdb-gomem reads up to version "
            f"{FORMAT_VERSION}",
            "read it with the newer gdb-gomem that wrote it",
        )
    if version < 1:
        raise SnapshotError(f"{what} declares format version {version}", hint_again)
    payload = data[_FIXED.size :]
    if length > MAX_PAYLOAD or len(payload) < length:
        raise SnapshotError(
            f"{what} is truncated: its header announces {length} bytes, {len(payload)} follow",
            hint_again,
        )
    payload = payload[:length]
    if hashlib.sha256(payload).digest() != digest:
        raise SnapshotError(f"{what} is damaged (its checksum does not match)", hint_again)
    try:
        body = zlib.decompress(payload)
    except zlib.error as exc:
        raise SnapshotError(f"{what} is damaged ({exc})", hint_again) from None
    try:
        (hlen,) = struct.unpack_from("<I", body)
        if hlen > MAX_HEADER or 4 + hlen > len(body):
            raise ValueError(f"header length {hlen}")
        header = json.loads(body[4 : 4 + hlen])
        meta = header["meta"]
        entries = header["arrays"]
        if not isinstance(meta, dict) or not isinstance(entries, list):
            raise ValueError("header is not {meta, arrays}")
        if len(entries) > MAX_ARRAYS:
            raise ValueError(f"{len(entries)} arrays")
        base = _align(4 + hlen)
        arrays: dict[str, np.ndarray] = {}
        for e in entries:
            name, dt, shape = str(e["name"]), str(e["dtype"]), [int(x) for x in e["shape"]]
            off, nbytes = int(e["offset"]), int(e["nbytes"])
            if dt not in DTYPES:
                raise ValueError(f"array {name}: dtype {dt!r}")
            if not 1 <= len(shape) <= 2 or any(s < 0 for s in shape):
                raise ValueError(f"array {name}: shape {shape}")
            want = int(np.prod(shape)) * np.dtype(dt).itemsize
            if want != nbytes or off < 0 or base + off + nbytes > len(body):
                raise ValueError(f"array {name}: {nbytes} bytes at {off} do not fit")
            arrays[name] = np.frombuffer(body, dt, int(np.prod(shape)), base + off).reshape(shape)
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{what} is damaged (its header: {exc})", hint_again) from None
    return meta, arrays


def write_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write data to path atomically (a temporary file renamed over it)."""
    p = Path(path)
    if p.exists() and not p.is_file():
        raise BadFile(f"{p} exists and is not a regular file", "give a file path to write")
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, p)
    except OSError as exc:
        raise BadFile(f"cannot write {p}: {exc.strerror}", "choose a writable path") from None
    return p


def read_file(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    require_regular_file(
        p, "snapshot file", "give a file written by heap_snapshot or gomem snapshot"
    )
    try:
        size = p.stat().st_size
        if size > MAX_PAYLOAD + _FIXED.size:
            raise SnapshotError(
                f"{p} is {size} bytes, more than any snapshot this version writes",
                "give a file written by heap_snapshot or gomem snapshot",
            )
        return p.read_bytes()
    except OSError as exc:
        raise BadFile(f"cannot read {path}: {exc.strerror}", "check the path") from None


def looks_like_snapshot(path: str | os.PathLike[str]) -> bool:
    """The file starts with the snapshot magic (so it is not a core)."""
    try:
        if not Path(path).is_file():
            return False  # a pipe or device is never opened: reading it could block
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False
