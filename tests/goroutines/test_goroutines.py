"""Goroutines, backtraces and threads against Go's own crash traceback and the manifest.

With GOTRACEBACK=crash the runtime printed every goroutine to the fixture's stderr: id, wait
reason, each frame's function, file:line and (for physical frames) sp, and "created by". That
is the runtime's own unwinder; gomem's must agree frame for frame. Labels are not printed by
Go, so they come from the manifest, which the program wrote with its own ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    CRASH_SCENARIOS,
    SCENARIOS,
    binary,
    cli_json,
    core,
    fixture_file,
    gdb_batch,
    gomem_cli,
    json_after,
    manifest,
)

_HEAD = re.compile(r"^goroutine (\d+)(?: gp=\S+ m=\S+(?: mp=\S+)?)? \[([^\]]*)\]:$")
_LOC = re.compile(r"^\t(\S+):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=0x[0-9a-f]+ sp=(0x[0-9a-f]+).*)?$")
_CREATED = re.compile(r"^created by (\S+)(?: in goroutine (\d+))?$")
#: How funcNameForPrint spells runtime functions in tracebacks.
_PRINT_NAMES = {"panic": "runtime.gopanic"}


def go_traceback(text: str) -> dict[int, dict[str, Any]]:
    """Parse a GOTRACEBACK=crash dump: {goid: {state, frames: [(func, file, line, sp)], ...}}."""
    out: dict[int, dict[str, Any]] = {}
    cur: dict[str, Any] | None = None
    pending: str | None = None
    for ln in text.splitlines():
        m = _HEAD.match(ln)
        if m:
            state = m.group(2).split(",")
            cur = {
                "state": state[0],
                "locked": "locked to thread" in m.group(2),
                "frames": [],
                "created_by": None,
            }
            if int(m.group(1)) in out:  # the crashing goroutine is printed again later
                cur = None
                continue
            out[int(m.group(1))] = cur
            continue
        if cur is None:
            continue
        if not ln.strip():
            cur = None
            continue
        c = _CREATED.match(ln)
        if c:
            cur["created_by"] = {"func": c.group(1), "goroutine": int(c.group(2) or 0) or None}
            pending = "created"
            continue
        loc = _LOC.match(ln)
        if loc and pending == "created":
            cur["created_by"].update(file=loc.group(1), line=int(loc.group(2)))
            pending = None
        elif loc and pending:
            name = _PRINT_NAMES.get(pending, pending)
            sp = int(loc.group(3), 16) if loc.group(3) else None
            cur["frames"].append((name, loc.group(1), int(loc.group(2)), sp))
            pending = None
        elif not ln.startswith("\t") and "(" in ln:
            pending = ln[: ln.rindex("(")]
            pending = re.sub(r"\[\.\.\.\]$", "", pending)
        elif ln.startswith(("...", "\t...")):
            cur["elided"] = True
    return out


def ours_vs_go(doc_g: dict[str, Any], go: dict[str, Any]) -> None:
    frames = [
        (f["func"], f["file"], f["line"], None if f["inlined"] else int(f["sp"], 16))
        for f in doc_g["frames"]
    ]
    assert doc_g["frames_error"] is None
    if go["state"] == "running":
        # Go printed the crashing goroutine from gopanic/fatal down; we also show the frames
        # between it and the dump (raise, dieFromSignal, ...). Go's must be our outer frames.
        assert frames[-len(go["frames"]) :] == go["frames"]
    else:
        assert frames == go["frames"]
        assert doc_g["wait_reason"] == go["state"] or doc_g["status"] == go["state"]
    if go["created_by"] is not None:
        cb = doc_g["created_by"]
        assert (cb["func"], cb["file"], cb["line"]) == (
            go["created_by"]["func"],
            go["created_by"]["file"],
            go["created_by"]["line"],
        )
        assert cb["goroutine"] == go["created_by"]["goroutine"]
    assert (doc_g["locked_to_thread"] is not None) == go["locked"]


@pytest.mark.parametrize("scenario", CRASH_SCENARIOS)
def test_goroutines_match_go_traceback(version: str, scenario: str) -> None:
    go = go_traceback(fixture_file(version, "leaky", f"{scenario}.stderr.txt").read_text())
    doc = cli_json(version, "goroutines", scenario=scenario)
    ours = {g["id"]: g for g in doc["goroutines"]}
    assert set(ours) == set(go)
    for goid, g in go.items():
        ours_vs_go(ours[goid], g)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_goroutines_match_manifest(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    doc = cli_json(version, "goroutines", scenario=scenario)
    ours = {g["id"]: g for g in doc["goroutines"]}
    for mg in m["goroutines"]:
        g = ours[mg["id"]]
        assert g["status"] == "waiting"
        assert g["wait_reason"] == mg["wait"]
        assert g["labels"] == mg["labels"]
        assert mg["func"] in [f["func"] for f in g["frames"]]
        assert g["created_by"]["func"] == "main.main"
        assert g["created_by"]["goroutine"] == m["main_goroutine_id"]
    crashing = [g["id"] for g in doc["goroutines"] if g["status"] == "running"]
    if scenario != "gcore":
        assert set(crashing) & set(m["crash"]["goroutine_ids"])
    else:
        assert crashing == [m["main_goroutine_id"]]
        assert ours[1]["frames"][0]["func"] == "main.checkpoint"


def test_filters_and_grouping(version: str) -> None:
    """--label, --state and --group-by against the manifest's own counts."""
    m = manifest(version, "panic")
    exe, cf = str(binary(version)), str(core(version, "panic"))
    by_pool: dict[str, int] = {}
    for mg in m["goroutines"]:
        by_pool[mg["labels"]["pool"]] = by_pool.get(mg["labels"]["pool"], 0) + 1
    for pool, n in by_pool.items():
        res = gomem_cli(
            "goroutines",
            "--json",
            "--no-frames",
            "--label",
            f"pool={pool}",
            "--binary",
            exe,
            "--core",
            cf,
        )
        assert len(json.loads(res.stdout)["goroutines"]) == n
    waits: dict[str, int] = {}
    for mg in m["goroutines"]:
        waits[mg["wait"]] = waits.get(mg["wait"], 0) + 1
    res = gomem_cli(
        "goroutines",
        "--json",
        "--group-by",
        "stack",
        "--label",
        "pool=recv",
        "--binary",
        exe,
        "--core",
        cf,
    )
    groups = json.loads(res.stdout)["groups"]
    # The six receivers run the same code: one stack group holding all of them.
    assert [g["count"] for g in groups] == [by_pool["recv"]]
    res = gomem_cli("goroutines", "--json", "--group-by", "wait", "--binary", exe, "--core", cf)
    groups = {g["wait_reason"]: g for g in json.loads(res.stdout)["groups"]}
    for wait, n in waits.items():  # fixture goroutines are a subset of each wait group
        assert groups[wait]["count"] >= n
    res = gomem_cli("goroutines", "--state", "select", "--binary", exe, "--core", cf)
    assert res.stdout.count("select") >= waits.get("select", 0)


@pytest.mark.gdb
def test_goroutine_bt_in_gdb(version: str) -> None:
    """`gomem goroutine N bt` in gdb on a core, where Go's runtime-gdb.py cannot."""
    m = manifest(version, "panic")
    mg = m["goroutines"][0]
    res = gdb_batch(
        "echo @@G\\n",
        f"gomem goroutine {mg['id']} --json",
        "echo @@BT\\n",
        f"gomem goroutine {mg['id']} bt",
        exe=binary(version),
        core_file=core(version, "panic"),
    )
    doc = json_after("@@G", res.stdout)
    assert doc["id"] == mg["id"] and doc["labels"] == mg["labels"]
    bt_text = res.stdout.split("@@BT", 1)[1]
    assert mg["func"] in bt_text and "runtime.gopark" in bt_text
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("scenario", CRASH_SCENARIOS)
def test_threads(version: str, scenario: str) -> None:
    m = manifest(version, scenario)
    d = cli_json(version, "threads", scenario=scenario)
    assert len(d["threads"]) == m["threads_at_checkpoint"]
    assert all(t["m"] is not None for t in d["threads"])  # a pure-Go program: all threads are Ms
    crashed = [t for t in d["threads"] if t["crashed"]]
    assert len(crashed) == 1
    t = crashed[0]
    assert t["curg"] in m["crash"]["goroutine_ids"]
    names = [f["func"] for f in t["frames"]]
    assert names[0] == "runtime.raise"
    if scenario == "mapwrite":
        assert "runtime.fatalthrow" in names or "runtime.fatal" in names
    else:
        assert "runtime.fatalpanic" in names and m["crash"]["function"] in names
    # The frames end on the crashing goroutine's own stack.
    assert t["frames"][-1]["func"] == "runtime.goexit"


def test_bad_goroutine_id(version: str) -> None:
    res = gomem_cli(
        "goroutine",
        "999999",
        "--binary",
        str(binary(version)),
        "--core",
        str(core(version, "panic")),
    )
    assert res.returncode == 2 and "no goroutine 999999" in res.stderr


@pytest.mark.gdb
def test_goroutines_live_process_in_gdb(version: str, tmp_path: Path) -> None:
    """A live process under gdb: memory and threads come from ptrace, not from a core."""
    out = tmp_path / "live.manifest.json"
    res = gdb_batch(
        "set startup-with-shell off",
        "break main.checkpoint",
        f"run -scenario=gcore -manifest={out}",
        "echo @@G\\n",
        "gomem goroutines --json",
        "echo @@T\\n",
        "gomem threads --json --bt all",
        "kill",
        exe=binary(version),
    )
    assert "Traceback" not in res.stderr
    m = json.loads(out.read_text())
    doc = json_after("@@G", res.stdout)
    ours = {g["id"]: g for g in doc["goroutines"]}
    for mg in m["goroutines"]:
        g = ours[mg["id"]]
        assert (g["wait_reason"], g["labels"]) == (mg["wait"], mg["labels"])
        assert mg["func"] in [f["func"] for f in g["frames"]]
    main = ours[m["main_goroutine_id"]]
    assert main["status"] == "running" and main["frames"][0]["func"] == "main.checkpoint"
    threads = json_after("@@T", res.stdout)["threads"]
    assert any(t["curg"] == m["main_goroutine_id"] for t in threads)
    assert all(t["frames_error"] is None or "switches stacks" in t["frames_error"] for t in threads)
