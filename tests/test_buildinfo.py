"""Build info and symbols of every fixture binary against the Go toolchain's own answers.

facts.json holds what `go version -m` printed for the binary when make_fixtures built it.
"""

from __future__ import annotations

import json

from conftest import PROGRAM, binary, fixture_file

from gdb_gomem.analysis.binary import GoBinary


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
