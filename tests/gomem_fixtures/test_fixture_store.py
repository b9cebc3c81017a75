"""The sparse pack format: a large sparse file survives pack/restore, restored sparse."""

from __future__ import annotations

import os
from pathlib import Path

from gomem_fixtures import store


def test_sparse_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "sparse.bin"
    size = 256 << 20
    chunks = {0: b"\x7fELF" + bytes(60), 5 << 20: os.urandom(9000), (200 << 20) + 17: b"x" * 5000}
    with open(src, "wb") as fh:
        fh.truncate(size)
        for off, data in chunks.items():
            fh.seek(off)
            fh.write(data)
    packed = tmp_path / "sparse.bin.sxz"
    store.pack(src, packed)
    assert packed.stat().st_size < 64 << 10
    out = tmp_path / "restored.bin"
    store.restore(packed, out)
    st = out.stat()
    assert st.st_size == size
    assert st.st_blocks * 512 < 4 << 20  # restored as a sparse file, not 256 MiB of zeros
    with open(out, "rb") as fh:
        for off, data in chunks.items():
            fh.seek(off)
            assert fh.read(len(data)) == data
        fh.seek(1 << 20)
        assert fh.read(4096) == bytes(4096)
