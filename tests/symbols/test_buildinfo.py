"""Build info and symbols of every fixture binary against the Go toolchain's own answers.

facts.json holds what `go version -m` printed for the binary when make_fixtures built it.
"""

from __future__ import annotations

import json

from gdb_gomem.symbols.binary import GoBinary
from tests.support import PROGRAM, binary, fixture_file


def test_build_info_matches_go_version_m(version: str) -> None:
    facts = json.loads(fixture_file(version, PROGRAM, "facts.json").read_text())["buildinfo"]
    b = GoBinary(binary(version))
    bi = b.build_info
    assert bi.go_version == facts["go_version"] == f"go{version}"
    assert bi.path == facts["path"]
    assert bi.main_module == facts["mod"]["path"]
    assert bi.main_version == facts["mod"]["version"]
    assert bi.settings == facts["build"]
    assert [p for p, _ in bi.deps] == [d["path"] for d in facts["deps"]]
    assert b.build_version == f"go{version}"
    assert b.goarch == "amd64"
    assert b.go_build_id  # the note every gc-built binary carries


def test_static_reads_are_thread_safe(version: str) -> None:
    """The heap model and the type pass read the executable from two threads at once: reads
    must not interleave (a shared seek+read once returned another thread's bytes)."""
    import threading

    b = GoBinary(binary(version))
    size = b.path.stat().st_size
    data = b.path.read_bytes()
    offsets = [(i * 7919) % (size - 64) for i in range(4000)]
    bad: list[int] = []

    def reader(offs: list[int]) -> None:
        for o in offs:
            if b.read_file(o, 64) != data[o : o + 64]:
                bad.append(o)

    threads = [threading.Thread(target=reader, args=(offsets[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
