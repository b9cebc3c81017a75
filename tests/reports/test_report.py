"""gomem report: one document made of the subcommands' own documents, on every fixture
version; its text shows each section (with source lines where the source is at hand); json
fits its schema; html and pprof need a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdb_gomem.commands import colors
from gdb_gomem.commands.report import render_report, report_doc
from gdb_gomem.reports.schema.report import ReportDoc
from tests.reports.test_schema import _problems
from tests.support import ROOT, VERSIONS, binary, core, fixture_process, gomem_cli, manifest

HEADINGS = (
    "Why it stopped",
    "The crashing goroutine",
    "MemStats beside the heap walk",
    "Heap histogram",
    "Top retainers",
    "Leak suspects",
    "Goroutine groups",
    "Defers in flight",
    "Panics in flight",
    "The window before the crash",
)


@pytest.mark.parametrize("version", VERSIONS)
def test_report_sections_against_the_manifest(version: str) -> None:
    m = manifest(version, "panic")
    d = report_doc(fixture_process(version, "leaky", "panic"))
    assert not _problems(d, ReportDoc, "report")
    assert d["errors"] == []
    assert all(d[k] is not None for k in ("info", "memstats", "histogram", "top", "suspects"))
    assert d["crash_goroutine"] is not None
    assert d["crash_goroutine"]["id"] in m["crash"]["goroutine_ids"]
    assert any(f["func"] == m["crash"]["function"] for f in d["crash_goroutine"]["frames"])
    rows = {r["type"]: r for r in d["histogram"]["rows"]}  # type: ignore[index]
    assert rows["main.Entry"]["count"] == m["types"]["main.Entry"]["live"]
    panics = d["panics"]
    assert panics is not None and m["crash"]["panic_value"] in json.dumps(panics)
    # Every in-use object is in the allocation rows once.
    total = sum(r["count"] for r in d["alloc_stacks"])
    assert total >= m["memstats_final"]["HeapObjects"] - 64  # the final sequence's own


def test_text_report_with_source_lines() -> None:
    version = VERSIONS[-1]
    d = report_doc(fixture_process(version, "leaky", "panic"))
    import argparse

    args = argparse.Namespace(out=None, source=[str(ROOT / "fixtures" / "src")])
    text = render_report(d, args)
    for h in HEADINGS:
        assert h in text, h
    m = manifest(version, "panic")
    crash_fn = m["crash"]["function"]
    frame = next(f for f in d["crash_goroutine"]["frames"] if f["func"] == crash_fn)  # type: ignore[index]
    src = (ROOT / "fixtures" / "src" / "leaky" / "main.go").read_text().splitlines()
    assert src[frame["line"] - 1].strip() in text
    assert "Source at the largest allocation sites" in text
    # Highlighted on a terminal (pygments), plain otherwise.
    colors.set_enabled(True)
    try:
        coloured = render_report(d, args)
    finally:
        colors.set_enabled(False)
    line = next(ln for ln in coloured.splitlines() if f"{frame['line']:>6} |" in colors.strip(ln))
    assert "\x1b[" in line


def test_cli_formats(tmp_path: Path) -> None:
    version = VERSIONS[0]
    args = ["--binary", str(binary(version)), "--core", str(core(version, "panic"))]
    r = gomem_cli("report", "--format", "json", *args)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["report_version"] == 1
    r = gomem_cli("report", "--format", "html", *args)
    assert r.returncode == 2 and "--out" in r.stderr
    out = tmp_path / "r.txt"
    r = gomem_cli("report", "--out", str(out), *args)
    assert r.returncode == 0 and "Leak suspects" in out.read_text()
    assert "written to" in r.stdout


@pytest.mark.gdb
def test_demo_writes_the_report(tmp_path: Path) -> None:
    import os
    import subprocess

    env = dict(os.environ, GOMEM_DEMO_OUT=str(tmp_path), NO_COLOR="1")
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for h in HEADINGS:
        assert h in r.stdout, h
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype")
    assert "Source at the crash frames" in r.stdout
