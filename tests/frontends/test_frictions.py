"""What a new user tripped over (issue 12's list), each pinned by a test that would have
caught it: the binary found from the core, a mistyped option named, an unknown state refused
with a suggestion, an exact --type, goroutine statuses by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gdb_gomem.goroutines.sched import g_status_name, g_status_names
from tests.support import VERSIONS, binary, core, gomem_cli, manifest, run_json_on


def test_binary_found_from_the_core(tmp_path: Path) -> None:
    version = VERSIONS[-1]
    # The restored fixture keeps the binary beside its core, under the name the core gives.
    r = gomem_cli("info", "--json", "--core", str(core(version, "panic")))
    assert r.returncode == 0, r.stderr
    assert '"go_version": "go' in r.stdout
    lonely = tmp_path / "panic.core"
    shutil.copy(core(version, "panic"), lonely)
    r = gomem_cli("info", "--core", str(lonely))
    assert r.returncode == 2
    assert "was written by" in r.stderr and "--binary" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_mistyped_option_is_named() -> None:
    version = VERSIONS[-1]
    r = gomem_cli("info", "--bianry", str(binary(version)), "--core", str(core(version, "panic")))
    assert r.returncode == 2
    assert "--bianry: did you mean --binary?" in r.stderr
    assert "required" not in r.stderr


def test_an_unknown_state_is_refused_with_a_suggestion() -> None:
    version = VERSIONS[-1]
    r = gomem_cli(
        "goroutines", "--state", "waitng", "--binary", str(binary(version)),
        "--core", str(core(version, "panic")),
    )  # fmt: skip
    assert r.returncode == 2 and "unknown goroutine state 'waitng'" in r.stderr
    assert "did you mean 'waiting'" in r.stderr
    # A wait reason of this Go version is a state too.
    d = run_json_on(version, core(version, "panic"), "goroutines", "--state", "chan receive")
    assert d["goroutines"] and {g["wait_reason"] for g in d["goroutines"]} == {"chan receive"}


def test_exact_type_name() -> None:
    version = VERSIONS[-1]
    want = manifest(version, "panic")["types"]["main.Entry"]["live"]
    rx = run_json_on(version, core(version, "panic"), "histogram", "--type", "main.Entry")
    exact = run_json_on(version, core(version, "panic"), "histogram", "--type", "=main.Entry")
    assert [r["type"] for r in exact["rows"]] == ["main.Entry"]
    assert exact["rows"][0]["count"] == want
    # The regex form also matches the maps and slices of it: the reason for =NAME.
    assert len(rx["rows"]) > 1 and "main.Entry" in {r["type"] for r in rx["rows"]}


def test_goroutine_statuses_come_from_the_binary() -> None:
    consts = {"runtime._Gwaiting": 4, "runtime._Gleaked": 10, "runtime._Gdeadextra": 11,
              "runtime._Gscan": 0x1000, "runtime._GCoff": 0}  # fmt: skip
    names = g_status_names(consts)
    assert g_status_name(11, names) == "deadextra"
    assert g_status_name(0x100A, names) == "scan+leaked"
    assert g_status_name(4, names) == "waiting"
    assert "status" not in g_status_name(10, names)


def test_time_values_read_as_times() -> None:
    """time.Time's two encodings (time/time.go): with a monotonic reading, wall holds
    hasMonotonic | seconds since 1885-01-01 << 30 | nanoseconds and ext the monotonic
    reading; without, ext holds seconds since year 1. 2026-11-30T11:15:50.123456789Z is
    1796037350 s after 1970; 1885 is 2682288000 s before 1970, year 1 62135596800 s."""
    from gdb_gomem.runtime.clock import time_value

    unix_s, ns = 1796037350, 123456789
    wall = (1 << 63) | ((unix_s + 2682288000) << 30) | ns
    assert time_value(wall, 5_000_000_000) == (unix_s * 10**9 + ns, 5_000_000_000)
    assert time_value(ns, unix_s + 62135596800) == (unix_s * 10**9 + ns, None)


@pytest.mark.gdb
def test_gdb_histogram_fits_on_a_screen() -> None:
    """At gdb's prompt the histogram shows its 40 largest rows, largest last (next to the
    prompt), and says how many it left out; --json is never cut."""
    from tests.support import gdb_batch, json_after

    version = VERSIONS[-1]
    r = gdb_batch(
        "gomem histogram",
        "echo ==J==\\n",
        "gomem histogram --json",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    text = r.stdout.split("==J==")[0]
    rows = [ln for ln in text.splitlines() if ln[:1] == " " and ln.split()[0].isdigit()]
    assert len(rows) == 40
    sizes = [int(ln.split()[1]) for ln in rows]
    assert sizes == sorted(sizes)  # largest last
    assert "40 largest of" in text
    doc = json_after("==J==", r.stdout)
    assert len(doc["rows"]) == doc["rows_total"] > 40


def _as_int(text: str) -> int | None:
    if text in ("true", "false"):
        return int(text == "true")
    try:
        return int(text, 0)
    except ValueError:
        return None


@pytest.mark.parametrize("version", VERSIONS)
def test_goroutine_shows_arguments_the_runtime_printed(version: str) -> None:
    """`gomem goroutine N` lists each frame's arguments and locals with a stack slot; the Go
    runtime's own traceback (GOTRACEBACK=crash, in the fixture's stderr) prints the argument
    words it is sure of (no '?'): each of those is among our frame's values."""
    import re

    from tests.support import stderr_goroutine

    m = manifest(version, "panic")
    gid = m["goroutines"][0]["id"]
    d = run_json_on(version, core(version, "panic"), "goroutine", str(gid))
    ours: dict[str, set[int]] = {}
    for f in d["frames"]:
        vals = {_as_int(v["value"]) for v in f.get("locals", [])}
        ours.setdefault(f["func"], set()).update(v for v in vals if v is not None)
    checked = 0
    for line in stderr_goroutine(version, "panic", gid):
        mm = re.match(r"^([\w./*()-]+)\((.*)\)$", line)
        if not mm or mm.group(1) not in ours or "{" in mm.group(2):
            continue
        for arg in mm.group(2).split(", "):
            if arg.startswith("0x") and not arg.endswith("?") and arg != "0x0":
                assert int(arg, 16) in ours[mm.group(1)], (mm.group(1), arg, ours[mm.group(1)])
                checked += 1
    assert checked >= 3


def test_top_never_prints_a_bare_question_mark() -> None:
    """A top row whose object no single named root holds says so in words."""
    import argparse

    from gdb_gomem.commands.graph import render_top

    version = VERSIONS[-1]
    d = run_json_on(version, core(version, "panic"), "top")
    d["rows"].append(dict(d["rows"][0], root=None))
    text = render_top(d, argparse.Namespace(by="object"))
    assert "<- ?" not in text and "(no single named root)" in text


def test_span_explains_a_live_unmarked_object() -> None:
    """An object allocated after the last GC's mark is live and not marked: span says why."""
    m = manifest(VERSIONS[-1], "panic")
    # main.Tagged objects were allocated after the forced GC (the manifest says so).
    addr = m["tagged"]["main.Tagged"]["addresses"][0]
    r = gomem_cli(
        "span", addr, "--binary", str(binary(VERSIONS[-1])),
        "--core", str(core(VERSIONS[-1], "panic")),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "allocated, not marked" in r.stdout
    assert "mark bits are the last GC's" in r.stdout


@pytest.mark.gdb
def test_help_gomem_starts_with_what_it_does() -> None:
    from tests.support import gdb_batch

    r = gdb_batch("echo ==H==\\n", "help gomem")
    first = r.stdout.split("==H==")[-1].strip().splitlines()[0]
    assert "help gomem" not in first and "forensics" in first
