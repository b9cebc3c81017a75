"""``gomem report``'s pprof profile (:mod:`gdb_gomem.reports.formats.pprof`).

The profile is read back by a protobuf decoder of the test's own (nothing shared with the
encoder), and by the real ``go tool pprof`` of each fixture's Go version (slow). Expectations
come from the report document the profile is made of, from the fixtures' manifests (written by
the Go programs) and from the fixture sources' function names, never from the encoder.
"""

from __future__ import annotations

import copy
import gzip
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.commands.registry import load_all
from gdb_gomem.commands.report import report_doc
from gdb_gomem.reports.formats.pprof import encode_profile
from gdb_gomem.reports.schema.report import AllocStackRow, ReportDoc
from tests.support import fixture_process, program_manifest

# ----------------------------------------------------------------------------- decoder


def _uvarint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(buf: bytes) -> dict[int, list[int | bytes]]:
    """A message's fields by number, each occurrence in order (varints as ints, length-
    delimited fields as bytes; fixed 32/64-bit fields as little-endian ints)."""
    out: dict[int, list[int | bytes]] = {}
    i = 0
    while i < len(buf):
        key, i = _uvarint(buf, i)
        num, wire = key >> 3, key & 7
        val: int | bytes
        if wire == 0:
            val, i = _uvarint(buf, i)
        elif wire == 2:
            n, i = _uvarint(buf, i)
            val, i = buf[i : i + n], i + n
        elif wire in (1, 5):
            w = 8 if wire == 1 else 4
            val, i = int.from_bytes(buf[i : i + w], "little"), i + w
        else:
            raise AssertionError(f"wire type {wire} at byte {i}")
        out.setdefault(num, []).append(val)
    assert i == len(buf), "a field runs past its message"
    return out


def _one(f: dict[int, list[int | bytes]], num: int, default: Any = 0) -> Any:
    vals = f.get(num, [])
    assert len(vals) <= 1, f"field {num} repeated"
    return vals[0] if vals else default


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalars(f: dict[int, list[int | bytes]], num: int) -> list[int]:
    """A repeated int64/uint64 field, packed or not."""
    out: list[int] = []
    for v in f.get(num, []):
        if isinstance(v, bytes):
            i = 0
            while i < len(v):
                x, i = _uvarint(v, i)
                out.append(_int64(x))
        else:
            out.append(_int64(v))
    return out


@dataclass
class Sample:
    locations: list[int]
    values: list[int]
    labels: dict[str, list[str]]
    num_labels: int


@dataclass
class Profile:
    strings: list[str]
    sample_types: list[tuple[str, str]]
    samples: list[Sample]
    mappings: dict[int, dict[str, Any]]
    locations: dict[int, tuple[int, int, list[tuple[int, int]]]]  # mapping, address, lines
    functions: dict[int, tuple[str, str, str]]  # name, system name, file
    time_nanos: int
    period_type: tuple[str, str]
    period: int
    comments: list[str]
    default_sample_type: str
    extra: dict[int, Any] = field(default_factory=dict)

    def names(self, s: Sample) -> list[str]:
        """A sample's frames leaf first: function names (a location without a line: its
        address in hex)."""
        out = []
        for lid in s.locations:
            _, addr, lines = self.locations[lid]
            if not lines:
                out.append(f"{addr:#x}")
            out += [self.functions[fid][0] for fid, _ in lines]
        return out

    def by_type(self, index: int) -> dict[str, int]:
        totals: dict[str, int] = {}
        for s in self.samples:
            (t,) = s.labels["type"]
            totals[t] = totals.get(t, 0) + s.values[index]
        return totals


def decode(data: bytes) -> Profile:
    raw = gzip.decompress(data)
    p = _fields(raw)
    strings = [bytes(v).decode() for v in p.get(6, []) if isinstance(v, bytes)]
    assert len(strings) == len(p.get(6, []))
    assert strings and strings[0] == "", "string_table[0] must be the empty string"

    def s(i: int) -> str:
        return strings[i]

    def value_type(b: bytes) -> tuple[str, str]:
        f = _fields(b)
        return s(_one(f, 1)), s(_one(f, 2))

    samples = []
    for b in p.get(2, []):
        assert isinstance(b, bytes)
        f = _fields(b)
        labels: dict[str, list[str]] = {}
        nums = 0
        for lb in f.get(3, []):
            assert isinstance(lb, bytes)
            lf = _fields(lb)
            if _one(lf, 3) or _one(lf, 4):
                nums += 1
            else:
                labels.setdefault(s(_one(lf, 1)), []).append(s(_one(lf, 2)))
        samples.append(Sample([*_scalars(f, 1)], _scalars(f, 2), labels, nums))
    mappings = {}
    for b in p.get(3, []):
        assert isinstance(b, bytes)
        f = _fields(b)
        mappings[_one(f, 1)] = {
            "start": _one(f, 2),
            "limit": _one(f, 3),
            "file": s(_one(f, 5)),
            "has": [bool(_one(f, n)) for n in (7, 8, 9, 10)],
        }
    locations = {}
    for b in p.get(4, []):
        assert isinstance(b, bytes)
        f = _fields(b)
        lines = []
        for ln in f.get(4, []):
            assert isinstance(ln, bytes)
            lf = _fields(ln)
            lines.append((_one(lf, 1), _one(lf, 2)))
        lid = _one(f, 1)
        assert lid and lid not in locations, f"location id {lid}"
        locations[lid] = (_one(f, 2), _one(f, 3), lines)
    functions = {}
    for b in p.get(5, []):
        assert isinstance(b, bytes)
        f = _fields(b)
        fid = _one(f, 1)
        assert fid and fid not in functions, f"function id {fid}"
        functions[fid] = (s(_one(f, 2)), s(_one(f, 3)), s(_one(f, 4)))
    pt = _one(p, 11, b"")
    return Profile(
        strings=strings,
        sample_types=[value_type(b) for b in p.get(1, []) if isinstance(b, bytes)],
        samples=samples,
        mappings=mappings,
        locations=locations,
        functions=functions,
        time_nanos=_one(p, 9),
        period_type=value_type(pt) if pt else ("", ""),
        period=_one(p, 12),
        comments=[s(i) for i in _scalars(p, 13)],
        default_sample_type=s(_one(p, 14)),
        extra={k: v for k, v in p.items() if k not in range(1, 15)},
    )


def check_valid(prof: Profile) -> None:
    """What pprof's own CheckValid insists on, and a few more."""
    assert prof.sample_types == [("inuse_objects", "count"), ("inuse_space", "bytes")]
    assert prof.default_sample_type == "inuse_space"
    assert prof.period_type == ("space", "bytes")
    for smp in prof.samples:
        assert len(smp.values) == 2
        assert smp.locations and all(lid in prof.locations for lid in smp.locations)
        assert smp.values[0] > 0 and smp.values[1] > 0
    for mid, _, lines in prof.locations.values():
        assert mid == 0 or mid in prof.mappings
        assert all(fid in prof.functions for fid, _ in lines)
    keys = [(name, file) for name, _, file in prof.functions.values()]
    assert len(keys) == len(set(keys)), "functions not deduplicated by (name, file)"


# ----------------------------------------------------------------------------- made by hand


def _doc(rows: list[dict[str, Any]], **over: Any) -> ReportDoc:
    doc: dict[str, Any] = {
        "report_version": 1,
        "gomem_version": "9.9.9",
        "generated_unix_ns": 1,
        "binary": "/bin/prog",
        "target": "core.1",
        "commands": {},
        "info": None,
        "crash_goroutine": None,
        "memstats": None,
        "histogram": None,
        "top": None,
        "suspects": None,
        "goroutine_groups": None,
        "defers": None,
        "panics": None,
        "window": None,
        "alloc_stacks": rows,
        "sampled_bytes_share": 0.5,
        "errors": [],
        "notes": [],
    }
    doc.update(over)
    return doc  # type: ignore[return-value]


MALLOC = {"pc": "0x1000", "func": "runtime.mallocgc", "file": "runtime/malloc.go", "line": 10}
ROWS: list[dict[str, Any]] = [
    {
        "type": "main.T",
        "frames": [MALLOC, {"pc": "0x2000", "func": "main.f", "file": "main.go", "line": 5}],
        "count": 3,
        "bytes": 96,
    },
    {
        "type": "map[string]<unknown>",
        "frames": [MALLOC, {"pc": "0x3000"}],
        "count": 1,
        "bytes": 48,
    },
    {"type": "main.T", "frames": None, "count": 2, "bytes": 64},
]


def test_hand_made_shape() -> None:
    doc = _doc(
        copy.deepcopy(ROWS),
        notes=["a note"],
        errors=[{"section": "top", "error": "boom"}],
    )
    data = encode_profile(doc)
    assert data[:2] == b"\x1f\x8b"
    assert encode_profile(doc) == data, "not deterministic"
    prof = decode(data)
    check_valid(prof)
    assert prof.extra == {}
    assert [prof.names(s) for s in prof.samples] == [
        ["type main.T", "runtime.mallocgc", "main.f"],
        ["type map[string]<unknown>", "runtime.mallocgc", "0x3000"],
        ["type main.T", "(not sampled)"],
    ]
    assert [s.values for s in prof.samples] == [[3, 96], [1, 48], [2, 64]]
    assert [s.labels for s in prof.samples] == [
        {"type": ["main.T"]},
        {"type": ["map[string]<unknown>"]},
        {"type": ["main.T"]},
    ]
    # One location per pc (mallocgc's is shared), one function per (name, file).
    assert prof.samples[0].locations[1] == prof.samples[1].locations[1]
    assert prof.samples[0].locations[0] == prof.samples[2].locations[0]
    assert len(prof.locations) == 6
    addrs = sorted(a for _, a, _ in prof.locations.values())
    assert addrs == [0, 0, 0, 0x1000, 0x2000, 0x3000]
    (pc_only,) = [lines for _, a, lines in prof.locations.values() if a == 0x3000]
    assert pc_only == []
    f = {name: (system, file) for name, system, file in prof.functions.values()}
    assert f["main.f"] == ("main.f", "main.go")
    # Synthetic frames have no system name, so pprof's demangler leaves "<...>" in them.
    assert f["type map[string]<unknown>"] == ("", "")
    assert prof.period == 0 and prof.time_nanos == 0
    text = "\n".join(prof.comments)
    assert "gdb-gomem 9.9.9" in text and "core.1" in text
    assert "note: a note" in text and "error: top: boom" in text
    assert "MemProfileRate is unknown" in text
    assert "50.00%" in text


@pytest.mark.parametrize(
    ("over", "rate", "period"),
    [
        ({"window": {"sources": ["heap profile: rate 1 (every allocation)"]}}, None, 1),
        (
            {"window": {"sources": ["heap profile: rate 524288 (one sample per 524288 B)"]}},
            None,
            524288,
        ),
        ({"window": {"sources": ["heap profile: off (MemProfileRate 0)"]}}, None, 0),
        (
            {"notes": ["MemProfileRate is 4096: about one allocation per 4096 bytes has..."]},
            None,
            4096,
        ),
        ({"notes": ["MemProfileRate is 4096: ..."]}, 1, 1),
        ({}, 7, 7),
    ],
)
def test_period(over: dict[str, Any], rate: int | None, period: int) -> None:
    prof = decode(encode_profile(_doc(copy.deepcopy(ROWS), **over), mem_profile_rate=rate))
    assert prof.period == period
    assert any(c.startswith(f"period {period}:") for c in prof.comments)


def test_hand_made_root_chains() -> None:
    steps = [
        {"addr": "0x10", "type": "[]*main.T", "size": 16, "via": "main.g"},
        {"addr": "0x20", "type": "main.T", "size": 32, "via": "[0]"},
    ]
    suspects = {
        "suspects": [
            {"kind": "x", "type": "", "detail": "", "bytes": None, "root": None, "path": []},
            {
                "kind": "many objects",
                "type": "main.T",
                "detail": "",
                "bytes": 1,
                "root": {"kind": "global", "name": "main.g", "goroutine": None},
                "path": steps,
            },
            {  # a later suspect of the same type: the first one's path wins
                "kind": "big retainer",
                "type": "main.T",
                "detail": "",
                "bytes": 1,
                "root": None,
                "path": [{"addr": "0x30", "type": "main.T", "size": 32, "via": "main.h"}],
            },
        ],
        "live_bytes": 1,
    }
    doc = _doc(copy.deepcopy(ROWS), suspects=suspects)
    plain = decode(encode_profile(doc))
    prof = decode(encode_profile(doc, root_chains=True))
    check_valid(prof)
    chain = ["[0] -> main.T", "root main.g -> []*main.T"]
    assert [prof.names(s) for s in prof.samples] == [
        ["type main.T", "runtime.mallocgc", "main.f", *chain],
        ["type map[string]<unknown>", "runtime.mallocgc", "0x3000"],
        ["type main.T", "(not sampled)", *chain],
    ]
    assert prof.samples[0].labels == {"type": ["main.T"], "root": ["global main.g"]}
    assert prof.samples[1].labels == {"type": ["map[string]<unknown>"]}
    assert plain.names(plain.samples[0]) == ["type main.T", "runtime.mallocgc", "main.f"]
    assert [s.values for s in prof.samples] == [s.values for s in plain.samples]


# ----------------------------------------------------------------------------- fixtures

PROGRAMS = ("windowprof", "leaky")


@cache
def _report(version: str, program: str) -> ReportDoc:
    program_manifest(version, program, "panic")  # skips where the fixture is absent
    load_all()  # report_doc runs the subcommands by name: they must be registered
    return report_doc(fixture_process(version, program, "panic"))


@cache
def _profile_bytes(version: str, program: str, root_chains: bool) -> bytes:
    return encode_profile(_report(version, program), root_chains=root_chains)


def _frames(row: AllocStackRow) -> list[str]:
    if row["frames"] is None:
        return ["(not sampled)"]
    return [f.get("func") or f"{int(f['pc'], 16):#x}" for f in row["frames"]]


@pytest.mark.parametrize("program", PROGRAMS)
def test_profile_matches_the_report(version: str, program: str) -> None:
    doc = _report(version, program)
    prof = decode(_profile_bytes(version, program, False))
    check_valid(prof)
    rows = doc["alloc_stacks"]
    assert rows, "no objects in use"
    assert sum(s.values[0] for s in prof.samples) == sum(r["count"] for r in rows)
    assert sum(s.values[1] for s in prof.samples) == sum(r["bytes"] for r in rows)
    assert len(prof.samples) == len(rows)
    for smp, row in zip(prof.samples, rows, strict=True):
        assert smp.values == [row["count"], row["bytes"]]
        assert smp.labels == {"type": [row["type"]]}
        assert prof.names(smp) == [f"type {row['type']}", *_frames(row)]
    manifest = program_manifest(version, program, "panic")
    assert prof.period == manifest["mem_profile_rate"] == 1
    assert any(c.startswith(f"gdb-gomem {doc['gomem_version']} ") for c in prof.comments)
    (mapping,) = prof.mappings.values()
    assert mapping["file"] == doc["binary"] and all(mapping["has"])
    crash_time = doc["info"]["crash_time"] if doc["info"] else None
    assert prof.time_nanos == ((crash_time["unix_ns"] if crash_time else None) or 0)


ALLOC_FUNC = {"A": "main.allocA", "B": "main.allocB", "C": "main.allocC"}


def test_windowprof_batches(version: str) -> None:
    """Each batch's objects are all in use (held by globals, no GC after them), sampled
    (MemProfileRate 1) and allocated by the batch's alloc function."""
    prof = decode(_profile_bytes(version, "windowprof", False))
    objects, space = prof.by_type(0), prof.by_type(1)
    batches = program_manifest(version, "windowprof", "panic")["batches"]
    assert [b["name"] for b in batches] == ["A", "B", "C"]
    for b in batches:
        assert objects[b["type"]] == b["count"], b["name"]
        assert space[b["type"]] >= b["count"] * b["size"], b["name"]
        stacks = [prof.names(s) for s in prof.samples if s.labels["type"] == [b["type"]]]
        assert stacks and all(st[0] == f"type {b['type']}" for st in stacks)
        assert all(ALLOC_FUNC[b["name"]] in st for st in stacks), stacks
        assert all("(not sampled)" not in st for st in stacks)


def test_leaky_root_chains(version: str) -> None:
    manifest = program_manifest(version, "leaky", "panic")
    prof = decode(_profile_bytes(version, "leaky", True))
    plain = decode(_profile_bytes(version, "leaky", False))
    check_valid(prof)
    assert prof.by_type(0) == plain.by_type(0) and prof.by_type(1) == plain.by_type(1)
    assert prof.by_type(0)["main.Entry"] == manifest["types"]["main.Entry"]["live"] == 1000
    # main.pinned's backing array: one object, the pinned-array suspect's path from the global.
    cap = manifest["globals"]["main.pinned"]["cap"]
    pinned = [s for s in prof.samples if s.labels["type"] == [f"[{cap}]uint8"]]
    assert [s.values for s in pinned] == [[1, cap]]
    names = prof.names(pinned[0])
    assert names[-1] == f"root main.pinned -> [{cap}]uint8"
    assert "main.main" in names and names.index("main.main") < len(names) - 1
    assert pinned[0].labels["root"] == ["global main.pinned"]
    # Types without a suspect keep their plain stacks.
    for smp, base in zip(prof.samples, plain.samples, strict=True):
        if "root" not in smp.labels:
            assert prof.names(smp) == plain.names(base)
        else:
            assert prof.names(smp)[: len(plain.names(base))] == plain.names(base)


# ----------------------------------------------------------------------------- go tool pprof

_TOP_LINE = re.compile(r"^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+?)\s*$")


def _pprof(version: str, *args: str) -> subprocess.CompletedProcess[str]:
    from gomem_fixtures.build import ensure_toolchain, go_env

    go = ensure_toolchain(version)
    return subprocess.run(
        [str(go), "tool", "pprof", *args],
        capture_output=True,
        text=True,
        env=go_env(),
        timeout=300,
        check=False,
    )


def _top(version: str, path: Path, index: str) -> dict[str, str]:
    """``pprof -top``'s flat column per name (space in plain bytes: ``-unit=B``, whose
    scaled units differ between pprof versions)."""
    unit = ["-unit=B"] if index == "inuse_space" else []
    res = _pprof(version, "-top", f"-sample_index={index}", *unit, str(path))
    assert res.returncode == 0, res.stderr
    assert f"Type: {index}" in res.stdout
    rows = {}
    for line in res.stdout.splitlines():
        m = _TOP_LINE.match(line)
        if m and m.group(1) != "flat":
            rows[m.group(3)] = m.group(1)
    assert rows, res.stdout
    return rows


def _write(tmp_path: Path, version: str, program: str, root_chains: bool = False) -> Path:
    path = tmp_path / f"{program}-{version}.pb.gz"
    path.write_bytes(_profile_bytes(version, program, root_chains))
    return path


@pytest.mark.slow
def test_go_tool_pprof_windowprof(version: str, tmp_path: Path) -> None:
    path = _write(tmp_path, version, "windowprof")
    batches = program_manifest(version, "windowprof", "panic")["batches"]
    space = _top(version, path, "inuse_space")
    objects = _top(version, path, "inuse_objects")
    in_doc = decode(_profile_bytes(version, "windowprof", False)).by_type(1)
    for b in batches:
        assert space[f"type {b['type']}"] == f"{in_doc[b['type']]}B", space
        assert objects[f"type {b['type']}"] == str(b["count"]), objects
    # Type names keep what pprof's C++ demangling heuristics would cut ("<...>").
    assert not any(name.rstrip() == "type" for name in space)
    res = _pprof(version, "-traces", str(path))
    assert res.returncode == 0, res.stderr
    traces = res.stdout.split("-----------+")
    (trace,) = [t for t in traces if "type main.BatchC\n" in t]
    frames = [ln.split()[-1] for ln in trace.splitlines() if ln.strip()]
    for fn in ("main.allocC", "main.runBatch", "main.main"):
        assert fn in frames, trace
    assert frames.index("main.allocC") < frames.index("main.main")
    res = _pprof(version, "-comments", str(path))
    assert res.returncode == 0 and "period 1:" in res.stdout, res.stdout + res.stderr


@pytest.mark.slow
def test_go_tool_pprof_leaky(edge_version: str, tmp_path: Path) -> None:
    version = edge_version
    path = _write(tmp_path, version, "leaky", root_chains=True)
    manifest = program_manifest(version, "leaky", "panic")
    cap = manifest["globals"]["main.pinned"]["cap"]
    objects = _top(version, path, "inuse_objects")
    assert objects["type main.Entry"] == "1000"
    space = _top(version, path, "inuse_space")
    assert space[f"type [{cap}]uint8"] == f"{cap}B", space
    res = _pprof(version, "-traces", str(path))
    assert res.returncode == 0, res.stderr
    (trace,) = [t for t in res.stdout.split("-----------+") if f"type [{cap}]uint8\n" in t]
    lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
    assert lines[-1] == f"root main.pinned -> [{cap}]uint8", trace
    assert "root:  global main.pinned" in trace
    res = _pprof(version, "-top", "-tagfocus=root=main.pinned", str(path))
    assert res.returncode == 0, res.stderr
    assert f"type [{cap}]uint8" in res.stdout
