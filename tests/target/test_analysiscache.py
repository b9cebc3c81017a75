"""The analysis of a core kept on disk between standalone commands: the second command on a
core reads it instead of rebuilding, answers the same, and a changed core, a damaged file or
--no-cache never give a stale or broken answer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import VERSIONS, binary, core, gomem_cli


def _gomem(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return gomem_cli(*args, env={"GOMEM_CACHE": str(cache)})


def test_second_command_reads_the_analysis(tmp_path: Path) -> None:
    version = VERSIONS[-1]
    cache = tmp_path / "cache"
    c = tmp_path / "panic.core"
    c.symlink_to(core(version, "panic"))
    args = ["--binary", str(binary(version)), "--core", str(c)]
    first = _gomem(cache, "histogram", "--json", *args)
    assert first.returncode == 0, first.stderr
    files = list((cache / "analysis").glob("*.analysis"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    # Another command on the same core: same objects, from the file (not rewritten).
    second = _gomem(cache, "histogram", "--json", *args)
    assert second.returncode == 0, second.stderr
    strip = lambda s: "\n".join(ln for ln in s.splitlines() if '"seconds"' not in ln)  # noqa: E731
    assert strip(second.stdout) == strip(first.stdout)
    assert list((cache / "analysis").glob("*.analysis")) == files
    top = _gomem(cache, "top", "--json", *args)  # dominators: added to the same file
    assert top.returncode == 0, top.stderr
    assert files[0].stat().st_mtime_ns >= stamp
    # A damaged file is dropped and the analysis rebuilt, silently.
    files[0].write_bytes(files[0].read_bytes()[:1000])
    again = _gomem(cache, "histogram", "--json", *args)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert strip(again.stdout) == strip(first.stdout)


def test_no_cache_and_a_changed_core(tmp_path: Path) -> None:
    version = VERSIONS[0]
    cache = tmp_path / "cache"
    c = tmp_path / "panic.core"
    c.write_bytes(core(version, "panic").read_bytes())
    args = ["--binary", str(binary(version)), "--core", str(c)]
    r = _gomem(cache, "histogram", "--no-cache", *args)
    assert r.returncode == 0 and not (cache / "analysis").exists()
    assert _gomem(cache, "histogram", *args).returncode == 0
    assert len(list((cache / "analysis").glob("*.analysis"))) == 1
    os.utime(c, ns=(1, 1))  # the core changed: another key, the old file is not read
    assert _gomem(cache, "histogram", *args).returncode == 0
    assert len(list((cache / "analysis").glob("*.analysis"))) == 2


def test_a_member_missing_from_the_file_is_built_on_top(tmp_path: Path) -> None:
    """timers keeps the objects and types; suspects then builds the heap model on the loaded
    object table (it once looked for the objects' build time and failed)."""
    version = VERSIONS[-1]
    cache = tmp_path / "cache"
    args = ["--binary", str(binary(version)), "--core", str(core(version, "panic"))]
    assert _gomem(cache, "timers", *args).returncode == 0
    r = _gomem(cache, "suspects", *args)
    assert r.returncode == 0 and "internal error" not in r.stderr, r.stderr
