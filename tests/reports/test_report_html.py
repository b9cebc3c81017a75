"""The HTML format of ``gomem report`` (:func:`gdb_gomem.reports.formats.html.render_html`).

Fast: the page of the report of real fixture cores (leaky and windowprof, every version) is
one self-contained file whose histogram, type tree and flame graph hold what the document
holds; the windowprof flame graph has the manifest's three batches (type, count, bytes) under
the function that allocated them (``main.allocA``... in fixtures/src/window/main.go); strings
from the core are escaped; null sections say "not available" with their error.

Slow (``-m slow``): headless Chromium renders the page; the DOM after the scripts ran has the
flame graph's nodes, a sorted histogram after a header click, a zoomed flame graph after a
node click, no script error; and a screenshot is made.
"""

from __future__ import annotations

import copy
import html
import json
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gdb_gomem.commands.registry import load_all
from gdb_gomem.commands.report import report_doc
from gdb_gomem.reports.formats.html import (
    MAP_INTERNALS,
    NOT_SAMPLED,
    OTHER_PACKAGE,
    render_html,
    type_package,
)
from gdb_gomem.reports.schema.report import ReportDoc
from tests.support import EDGE_VERSIONS, VERSIONS, fixture_process, program_manifest

SECTION_IDS = (
    "summary",
    "crash-goroutine",
    "memstats",
    "histogram",
    "type-tree",
    "top",
    "suspects",
    "goroutine-groups",
    "defers",
    "panics",
    "window",
    "flamegraph",
    "problems",
)
#: Sections that are null in a document when they could not be made.
NULLABLE = {
    "info": "summary",
    "crash_goroutine": "crash-goroutine",
    "memstats": "memstats",
    "histogram": "histogram",
    "top": "top",
    "suspects": "suspects",
    "goroutine_groups": "goroutine-groups",
    "defers": "defers",
    "panics": "panics",
    "window": "window",
}
HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(2)>'
PROGRAMS = ("leaky", "windowprof")


@cache
def _doc(version: str, program: str, scenario: str = "panic") -> ReportDoc:
    if program != "leaky":
        program_manifest(version, program, scenario)  # skips where it is not committed
    load_all()  # the subcommands the report's sections are made with
    return report_doc(fixture_process(version, program, scenario))


@cache
def _page(version: str, program: str, scenario: str = "panic") -> str:
    return render_html(_doc(version, program, scenario))


# ----------------------------------------------------------------------------- page parsing


class _Tables(HTMLParser):
    """The cells of every table with an id: id -> rows -> (attributes, text) per cell; and
    the ids of all elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[tuple[dict[str, str | None], str]]]] = {}
        self.ids: list[str] = []
        self.heads: dict[str, list[dict[str, str | None]]] = {}
        self._table: str | None = None
        self._cell: tuple[dict[str, str | None], list[str]] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "table" and a.get("id"):
            self._table = str(a["id"])
            self.tables[self._table] = []
            self.heads[self._table] = []
        elif self._table is None:
            return
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.tables[self._table].append([])
        elif tag == "th" and self._in_head:
            self.heads[self._table].append(a)
        elif tag == "td" and not self._in_head:
            self._cell = (a, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None and self._table is not None:
            a, text = self._cell
            self.tables[self._table][-1].append((a, "".join(text)))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)


def _parse(page: str) -> _Tables:
    p = _Tables()
    p.feed(page)
    p.close()
    return p


def _flame(page: str) -> dict[str, Any]:
    """The flame graph's embedded data, as nested dicts."""
    m = re.search(r'<script type="application/json" id="flame-data">(.*?)</script>', page, re.S)
    assert m, "no flame-data script"
    data = json.loads(m.group(1))
    names = data["names"]

    def unpack(a: list[Any]) -> dict[str, Any]:
        kids = [unpack(c) for c in a[4]] if len(a) > 4 else []
        return {"name": names[a[0]], "bytes": a[1], "count": a[2], "kind": a[3], "kids": kids}

    return unpack(data["tree"])


def _walk(node: dict[str, Any], path: tuple[str, ...] = ()) -> Any:
    yield node, path
    for k in node["kids"]:
        yield from _walk(k, (*path, node["name"]))


def _external_refs(page: str) -> list[str]:
    """src/href/url()/@import references that leave the page."""
    refs = re.findall(
        r"""(?:src|href|action)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]*)""", page, re.I
    )
    refs += re.findall(r"""url\(\s*["']?\s*((?:https?:)?//[^)"']*)""", page, re.I)
    refs += re.findall(r"@import", page)
    return refs


# ----------------------------------------------------------------------------- fast


def test_type_package() -> None:
    cases = {
        "main.BatchA": "main",
        "*main.BatchA": "main",
        "[200]*main.BatchC": "main",
        "[]*net/http.conn": "net/http",
        "map[string]*main.Entry": "main",
        "map[main.K]int": "main",
        "chan *main.X": "main",
        "main.Pair[main.A,int]": "main",
        "sync.entry[interface {},interface {}]": "sync",
        "gopkg.in/yaml.v3.Node": "gopkg.in/yaml.v3",
        "closure encoding/json.structEncoder.encode-fm": "encoding/json",
        "[8]map.group[string]*json.field": MAP_INTERNALS,
        "[16384]uint8": None,
        "map[string]int": None,
        "string data": None,
        "tiny block": None,
        "<unknown 512B noscan>": None,
        "struct { a *main.T }": None,
        "func(int) error": None,
        HOSTILE: None,
    }
    assert {k: type_package(k) for k in cases} == cases


@pytest.mark.parametrize("program", PROGRAMS)
def test_page_is_one_self_contained_file(version: str, program: str) -> None:
    page = _page(version, program)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<html") == 1 and page.count("</html>") == 1
    assert _external_refs(page) == []
    assert not re.search(r"<(link|iframe|img|object|embed)\b", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert len(page) < 1_000_000, len(page)
    ids = _parse(page).ids
    for sid in (*SECTION_IDS, "js-errors", "histogram-table", "fg-box", "flame-data"):
        assert ids.count(sid) == 1, sid
    assert len(ids) == len(set(ids)), "duplicate ids"


@pytest.mark.parametrize("program", PROGRAMS)
def test_histogram_and_type_tree_hold_every_row(version: str, program: str) -> None:
    doc = _doc(version, program)
    page = _page(version, program)
    h = doc["histogram"]
    assert h is not None, doc["errors"]
    parsed = _parse(page)
    rows = parsed.tables["histogram-table"]
    shown = [(r[0][1], int(str(r[2][0]["data-v"])), int(str(r[3][0]["data-v"]))) for r in rows]
    want = [(r["type"], r["count"], r["bytes"]) for r in h["rows"]]
    assert sorted(shown) == sorted(want)
    assert [b for _, _, b in shown] == sorted((b for _, _, b in want), reverse=True)
    heads = parsed.heads["histogram-table"]
    assert [a.get("data-type") for a in heads][2:4] == ["num", "num"]  # count, bytes
    for r in h["rows"]:
        assert f"<code>{html.escape(r['type'])}</code>" in page, r["type"]
    # the type tree: one <details> per package, its rows' totals in its summary
    tree = page[page.index('<section id="type-tree">') : page.index('<section id="top">')]
    pkgs = re.findall(r'<details class="pkg" data-package="([^"]*)">', tree)
    want_pkgs = {type_package(r["type"]) or OTHER_PACKAGE for r in h["rows"]}
    assert {html.unescape(p) for p in pkgs} == want_pkgs
    assert len(pkgs) == len(set(pkgs))
    total = sum(int(n) for n in re.findall(r"<span class=num>(\d+) objects?</span>", tree))
    assert total == sum(r["count"] for r in h["rows"])
    assert tree.count("<li><code>") == len(h["rows"])


@pytest.mark.parametrize("program", PROGRAMS)
def test_flame_graph_holds_the_alloc_stacks(version: str, program: str) -> None:
    doc = _doc(version, program)
    root = _flame(_page(version, program))
    rows = doc["alloc_stacks"]
    assert rows, doc["errors"]
    assert root["bytes"] == sum(r["bytes"] for r in rows)
    assert root["count"] == sum(r["count"] for r in rows)
    for node, _ in _walk(root):
        if node["kids"]:
            assert node["bytes"] == sum(k["bytes"] for k in node["kids"]), node["name"]
        else:
            assert node["kind"] == "t", node["name"]  # every stack ends in its type
    leaves = [(n, p) for n, p in _walk(root) if n["kind"] == "t"]
    assert {n["name"] for n, _ in leaves} == {r["type"] for r in rows}
    unsampled = sum(r["bytes"] for r in rows if r["frames"] is None)
    under = [k for k in root["kids"] if k["name"] == NOT_SAMPLED]
    assert (under[0]["bytes"] if under else 0) == unsampled
    assert f"{100 * doc['sampled_bytes_share']:.1f}%" in _page(version, program)
    # allocator frames are dropped at the innermost end: no type sits under mallocgc
    assert not [p for _, p in leaves if p[-1].startswith("runtime.mallocgc")]


def test_flame_graph_has_the_windowprof_batches(version: str) -> None:
    """Ground truth: the manifest's batches; windowprof samples every allocation
    (MemProfileRate 1), each batch made by ``main.alloc<name>`` (fixtures/src/window)."""
    m = program_manifest(version, "windowprof", "panic")
    assert m["mem_profile_rate"] == 1
    root = _flame(_page(version, "windowprof"))
    for b in m["batches"]:
        leaves = [(n, p) for n, p in _walk(root) if n["kind"] == "t" and n["name"] == b["type"]]
        assert sum(n["count"] for n, _ in leaves) == b["count"], b["type"]
        # each object takes a slot of its size class (632-byte BatchC: 640), < 12.5% more
        slot, rest = divmod(sum(n["bytes"] for n, _ in leaves), b["count"])
        assert rest == 0 and b["size"] <= slot <= b["size"] * 1.125 + 8, (b, slot)
        for _, path in leaves:
            assert NOT_SAMPLED not in path, b["type"]
            assert path[-1] == f"main.alloc{b['name']}", path
            assert "main.runBatch" in path and "main.main" in path, path


@pytest.mark.parametrize("scenario", ["gcore"])
def test_a_snapshot_that_did_not_crash(edge_version: str, scenario: str) -> None:
    doc = _doc(edge_version, "leaky", scenario)
    page = render_html(doc)
    assert doc["crash_goroutine"] is None
    summary = page[page.index('<section id="summary">') : page.index('<section id="crash-')]
    assert "Stopped" in summary or "Crashed" in summary
    assert "not available" in page[page.index('<section id="crash-') :].split("</section>")[0]


def _hostile_doc() -> ReportDoc:
    doc = copy.deepcopy(_doc(VERSIONS[-1], "windowprof"))
    doc["binary"] = f"/tmp/{HOSTILE_ATTR}/bin & 'x'"
    doc["target"] = HOSTILE
    assert doc["histogram"] is not None and doc["suspects"] is not None
    doc["histogram"]["rows"].append({"type": HOSTILE, "count": 1, "bytes": 8})
    doc["histogram"]["rows"].append({"type": f"*main.{HOSTILE_ATTR}", "count": 1, "bytes": 8})
    doc["alloc_stacks"].append(
        {
            "type": HOSTILE,
            "frames": [{"pc": "0x1", "func": HOSTILE_ATTR}],
            "count": 1,
            "bytes": 10**6,
        }
    )
    doc["suspects"]["suspects"][0]["detail"] = HOSTILE
    doc["suspects"]["suspects"][0]["path"][0]["via"] = HOSTILE_ATTR
    doc["errors"].append({"section": HOSTILE_ATTR, "error": HOSTILE})
    doc["notes"].append("</script><script>alert(3)</script>")
    if doc["panics"] and doc["panics"]["crash"]:
        doc["panics"]["crash"]["panic_value"] = HOSTILE
    return doc


def test_hostile_strings_are_escaped() -> None:
    if not VERSIONS:
        pytest.skip("no fixtures")
    page = render_html(_hostile_doc())
    assert HOSTILE not in page
    assert "<img" not in page
    assert "alert(3)</script>" not in page
    # only the page's own three scripts: onerror, the flame graph's data, the main script
    assert len(re.findall(r"<script\b", page)) == 3
    assert html.escape(HOSTILE) in page
    assert f"<code>{html.escape(HOSTILE)}</code>" in page  # the histogram row
    # in the flame data as JSON text, and back as the very strings
    names = {n["name"] for n, _ in _walk(_flame(page))}
    assert {HOSTILE, HOSTILE_ATTR} <= names
    assert _external_refs(page) == []


def test_null_sections_say_not_available() -> None:
    if not VERSIONS:
        pytest.skip("no fixtures")
    doc: Any = copy.deepcopy(_doc(VERSIONS[-1], "leaky"))
    for key in NULLABLE:
        doc[key] = None
        doc["errors"].append({"section": key, "error": f"cannot read {key} <&>"})
    doc["alloc_stacks"] = []
    doc["errors"].append({"section": "alloc_stacks", "error": "no profile <&>"})
    page = render_html(doc)
    for key, sid in NULLABLE.items():
        start = page.index(f'<section id="{sid}">')
        body = page[start : page.index("</section>", start)]
        assert "not available" in body, sid
        if sid != "summary":  # info: the summary keeps binary and target
            assert html.escape(f"cannot read {key} <&>") in body, sid
    flame = page[page.index('<section id="flamegraph">') :]
    assert "not available" in flame and html.escape("no profile <&>") in flame
    # the histogram's two sections (table and tree) both say so
    assert page.count(html.escape("cannot read histogram <&>")) >= 2


# ----------------------------------------------------------------------------- browser


def _node_texts(dom: str) -> list[str]:
    return [
        html.unescape(t) for t in re.findall(r'<div class="fg-node[^"]*"[^>]*>([^<]*)</div>', dom)
    ]


@pytest.mark.slow
def test_page_in_headless_chromium(tmp_path: Path) -> None:
    from tests.support_browser import dump_dom, screenshot

    if not VERSIONS:
        pytest.skip("no fixtures")
    version = VERSIONS[-1]
    m = program_manifest(version, "windowprof", "panic")
    page = tmp_path / "report.html"
    page.write_text(_page(version, "windowprof"))
    root = _flame(page.read_text())

    dom = dump_dom(page)
    assert re.search(r'<pre id="js-errors"[^>]*></pre>', dom), "script errors"
    ids = _parse(dom).ids
    for sid in SECTION_IDS:
        assert sid in ids, sid
    box = re.search(r'<div id="fg-box"[^>]*>', dom)
    assert box
    assert f'data-focus="{html.escape(root["name"])}"' in box.group(0)
    texts = _node_texts(dom)
    n = int(re.search(r'data-nodes="(\d+)"', box.group(0)).group(1))  # type: ignore[union-attr]
    assert len(texts) == n > 10
    for b in m["batches"]:
        assert b["type"] in texts and f"main.alloc{b['name']}" in texts

    # the test hook (#test): a click on the histogram's "count" header, one on a flame node
    dom = dump_dom(page, "#test")
    assert 'data-test-hooks="ran"' in dom
    assert re.search(r'<pre id="js-errors"[^>]*></pre>', dom), "script errors"
    parsed = _parse(dom)
    counts = [int(str(r[2][0]["data-v"])) for r in parsed.tables["histogram-table"]]
    assert counts == sorted(counts, reverse=True) and len(counts) > 5
    heads = parsed.heads["histogram-table"]
    assert heads[2].get("aria-sort") == "descending"
    assert all(h.get("aria-sort") is None for i, h in enumerate(heads) if i != 2)
    box = re.search(r'<div id="fg-box"[^>]*>', dom)
    assert box and f'data-focus="{html.escape(root["kids"][0]["name"])}"' in box.group(0)

    # hostile strings stay text in the DOM
    hostile = tmp_path / "hostile.html"
    hostile.write_text(render_html(_hostile_doc()))
    dom = dump_dom(hostile)
    assert re.search(r'<pre id="js-errors"[^>]*></pre>', dom), "script errors"
    assert "<img" not in dom and HOSTILE not in dom
    assert HOSTILE in _node_texts(dom) and HOSTILE_ATTR in _node_texts(dom)

    # the error hook itself: a script error ends up in #js-errors
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("</body>", "<script>noSuchFn();</script></body>"))
    dom = dump_dom(broken)
    errs = re.search(r'<pre id="js-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errs and "noSuchFn" in errs.group(1)

    png = screenshot(page, tmp_path / "report.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000, len(data)


@pytest.mark.slow
@pytest.mark.parametrize("v", EDGE_VERSIONS)
def test_leaky_page_in_headless_chromium(tmp_path: Path, v: str) -> None:
    from tests.support_browser import dump_dom

    if not VERSIONS:
        pytest.skip("no fixtures")
    page = tmp_path / "leaky.html"
    page.write_text(_page(v, "leaky"))
    dom = dump_dom(page, "#test")
    assert re.search(r'<pre id="js-errors"[^>]*></pre>', dom), "script errors"
    assert len(_node_texts(dom)) > 10
