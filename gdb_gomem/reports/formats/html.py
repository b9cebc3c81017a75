"""The HTML format of ``gomem report``: one self-contained page (inline CSS and vanilla JS, no
network) made from the report document (:class:`ReportDoc`).

Every string of the document comes from an untrusted core (type, function and file names,
panic values, labels): all of them go through :func:`html.escape`, and the flame graph's data
is embedded as JSON with ``<``, ``>`` and ``&`` escaped, read by the page's script with
``JSON.parse`` and put in the DOM as text only.

Sections (ids for links and tests): ``summary``, ``crash-goroutine``, ``memstats``,
``histogram``, ``type-tree``, ``top``, ``suspects``, ``goroutine-groups``, ``defers``,
``panics``, ``window``, ``flamegraph``, ``problems``. Tables of class ``sortable`` sort on a
click on a column header (numeric columns by the ``data-v`` of their cells). Script errors are
written into the hidden ``<pre id="js-errors">``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TypedDict

from gdb_gomem.reports.schema.objects import AllocFrameDoc, HistogramRow
from gdb_gomem.reports.schema.report import AllocStackRow, ReportDoc

#: Allocator frames dropped from the innermost end of each allocation stack in the flame
#: graph (their callers are what allocated); any ``runtime.mallocgc*`` too.
ALLOCATOR_FRAMES = frozenset(
    {
        "runtime.newobject",
        "runtime.newarray",
        "runtime.makeslice",
        "runtime.makeslice64",
        "runtime.makeslicecopy",
        "runtime.growslice",
        "runtime.makemap",
        "runtime.makemap_small",
        "runtime.makechan",
        "runtime.rawstring",
        "runtime.rawbyteslice",
        "runtime.rawruneslice",
        "runtime.convT",
        "runtime.convT16",
        "runtime.convT32",
        "runtime.convT64",
        "runtime.convTnoptr",
        "runtime.convTslice",
        "runtime.convTstring",
        "reflect.unsafe_New",
        "reflect.unsafe_NewArray",
    }
)
#: The flame graph's node kinds (in the embedded data).
ROOT, FRAME, TYPE, UNSAMPLED = "r", "f", "t", "u"
NOT_SAMPLED = "(not sampled)"
OTHER_PACKAGE = "(other)"
#: Rows shown of the long lists (the rest is counted).
MAX_GROUPS = 200
MAX_DEFER_ROWS = 200


def _e(value: object) -> str:
    """Text (or an attribute value) escaped for HTML; None is an em dash."""
    return "\u2014" if value is None else html.escape(str(value), quote=True)


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "\u2014"
    v = float(n)
    if abs(v) < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        v /= 1024
        if abs(v) < 1024 or unit == "EiB":
            return f"{v:.1f} {unit}"
    return f"{int(n)} B"  # pragma: no cover


def fmt_ns(ns: int | None) -> str:
    """A duration."""
    if ns is None:
        return "\u2014"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.1f} {unit}"
    return f"{ns} ns"


def fmt_time(unix_ns: int | None) -> str:
    """A wall time, UTC, to the millisecond."""
    if unix_ns is None:
        return "\u2014"
    try:
        t = _dt.datetime.fromtimestamp(unix_ns / 1e9, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return f"{unix_ns} ns"
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d} UTC"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _loc(func: str | None, file: str | None, line: int | None) -> str:
    """``func (file:line)``, escaped."""
    if not func:
        return "\u2014"
    where = f" <span class=dim>{_e(file)}:{_e(line)}</span>" if file else ""
    return f"<code>{_e(func)}</code>{where}"


# ----------------------------------------------------------------------------- tables


class Col(NamedTuple):
    label: str
    num: bool = False
    #: The initial order the rows are in ("ascending"/"descending"), shown on the header.
    sorted: str | None = None


def _n(value: int | float | None, shown: str | None = None) -> str:
    """A numeric cell: sorts by ``value``, shows ``shown`` (default: the value)."""
    v = "" if value is None else str(value)
    text = _e(value) if shown is None else shown
    return f'<td class=n data-v="{_e(v)}">{text}</td>'


def _b(value: int | None) -> str:
    """A bytes cell."""
    return _n(value, _e(fmt_bytes(value)))


def _t(value: object, code: bool = False) -> str:
    """A text cell (escaped)."""
    text = _e(value)
    return f"<td><code>{text}</code></td>" if code and value is not None else f"<td>{text}</td>"


def _h(markup: str, key: str | None = None) -> str:
    """A cell of ready markup (escaped by the caller); ``key`` sorts it."""
    attr = "" if key is None else f' data-v="{_e(key)}"'
    return f"<td{attr}>{markup}</td>"


def _table(
    tid: str | None,
    cols: Sequence[Col],
    rows: Iterable[Sequence[str]],
    *,
    sortable: bool = True,
    caption: str | None = None,
) -> str:
    attrs = f' id="{_e(tid)}"' if tid else ""
    cls = "sortable" if sortable else "plain"
    out = [f'<table{attrs} class="{cls}">']
    if caption:
        out.append(f"<caption>{caption}</caption>")
    head = []
    for c in cols:
        a = ' data-type="num" class=n' if c.num else ""
        if c.sorted:
            a += f' aria-sort="{c.sorted}"'
        head.append(f"<th{a}>{_e(c.label)}</th>")
    out.append("<thead><tr>" + "".join(head) + "</tr></thead><tbody>")
    body = ["<tr>" + "".join(r) + "</tr>" for r in rows]
    if not body:
        body = [f'<tr><td colspan="{len(cols)}" class=dim>(none)</td></tr>']
    out += body
    out.append("</tbody></table>")
    return "\n".join(out)


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list of (label, ready markup)."""
    items = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f"<dl class=kv>{items}</dl>"


def _notes(notes: Iterable[str] | None, errors: Iterable[str] | None = None) -> str:
    lines = [f'<li class="err">{_e(x)}</li>' for x in errors or []]
    lines += [f"<li>{_e(x)}</li>" for x in notes or []]
    return f'<ul class="notes">{"".join(lines)}</ul>' if lines else ""


def _section(sid: str, title: str, body: str, command: str | None = None) -> str:
    cmd = f' <span class="cmd">gomem {_e(command)}</span>' if command else ""
    return f'<section id="{sid}">\n<h2>{_e(title)}{cmd}</h2>\n{body}\n</section>'


def _not_available(errors: dict[str, str], key: str) -> str:
    why = errors.get(key)
    detail = f": <span class=err>{_e(why)}</span>" if why else ""
    return f'<p class="na">not available{detail}</p>'


# ----------------------------------------------------------------------------- type tree


_PREFIX = re.compile(r"\*|\[\d*\]|chan<- |<-chan |chan ")
#: The runtime's own map types (buckets, swiss-table groups, ...): ``map.group[K]V``.
_MAP_INTERNAL = re.compile(r"map\.\w+\[")
MAP_INTERNALS = "runtime (map internals)"


def type_package(name: str) -> str | None:
    """The Go package a heap type belongs to: the prefix before the last ``.`` outside
    brackets, after pointer, slice, array, channel and map prefixes (a map counts as its
    element type, or its key type when the element has no package); None for a type
    without one (builtins, ``struct {...}``, ``func(...)``, gomem's ``<unknown ...>``,
    ``tiny block``...). The runtime's map internals (``map.group[K]V``) are
    :data:`MAP_INTERNALS`; a ``closure F`` is F's package."""
    t = name.strip()
    if t.startswith("closure "):  # gomem's name of a closure object: its function's package
        func = t[len("closure ") :]
        slash = func.rfind("/")
        dot = func.find(".", slash + 1)
        return func[:dot] if dot > 0 else None
    while True:
        m = _PREFIX.match(t)
        if m:
            t = t[m.end() :]
            continue
        if t.startswith("map["):
            depth = 0
            for i, ch in enumerate(t[3:], 3):
                depth += ch == "["
                depth -= ch == "]"
                if depth == 0:
                    return type_package(t[i + 1 :]) or type_package(t[4:i])
            return None
        break
    if _MAP_INTERNAL.match(t):
        return MAP_INTERNALS
    depth, dot = 0, -1
    for i, ch in enumerate(t):
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif depth == 0 and ch == ".":
            dot = i
        elif depth == 0 and not (ch.isalnum() or ch in "_/-~"):
            return None
    if dot <= 0 or depth != 0:
        return None
    return t[:dot]


class PackageGroup(TypedDict):
    package: str
    count: int
    bytes: int
    rows: list[HistogramRow]  # most bytes first


def type_tree(rows: Iterable[HistogramRow]) -> list[PackageGroup]:
    """Histogram rows grouped by package, most bytes first (types without one last)."""
    groups: dict[str, PackageGroup] = {}
    for r in rows:
        pkg = type_package(r["type"]) or OTHER_PACKAGE
        g = groups.setdefault(pkg, {"package": pkg, "count": 0, "bytes": 0, "rows": []})
        g["count"] += r["count"]
        g["bytes"] += r["bytes"]
        g["rows"].append(r)
    for g in groups.values():
        g["rows"].sort(key=lambda r: (-r["bytes"], r["type"]))
    return sorted(
        groups.values(), key=lambda g: (g["package"] == OTHER_PACKAGE, -g["bytes"], g["package"])
    )


# ----------------------------------------------------------------------------- flame graph


class FlameNode(TypedDict):
    name: str
    kind: str  # ROOT, FRAME, TYPE or UNSAMPLED
    bytes: int
    count: int
    children: list[FlameNode]


def _frame_name(f: AllocFrameDoc) -> str:
    return f.get("func") or f["pc"]


def _allocator(name: str) -> bool:
    return name.startswith("runtime.mallocgc") or name in ALLOCATOR_FRAMES


def flame_tree(rows: Iterable[AllocStackRow], root_name: str = "all") -> FlameNode:
    """root -> outermost frame -> ... -> innermost frame -> type, by bytes (allocator frames
    dropped at the innermost end); unsampled rows go under ``(not sampled)`` -> type.
    Children most bytes first."""
    root: FlameNode = {"name": root_name, "kind": ROOT, "bytes": 0, "count": 0, "children": []}
    index: dict[int, dict[tuple[str, str], FlameNode]] = {}

    def child(parent: FlameNode, kind: str, name: str) -> FlameNode:
        kids = index.setdefault(id(parent), {})
        node = kids.get((kind, name))
        if node is None:
            node = {"name": name, "kind": kind, "bytes": 0, "count": 0, "children": []}
            kids[(kind, name)] = node
            parent["children"].append(node)
        return node

    for r in rows:
        if r["frames"] is None:
            path = [(UNSAMPLED, NOT_SAMPLED)]
        else:
            names = [_frame_name(f) for f in r["frames"]]
            while names and _allocator(names[0]):
                names.pop(0)
            path = [(FRAME, n) for n in reversed(names)]
        path.append((TYPE, r["type"]))
        node = root
        for step in (None, *path):
            if step is not None:
                node = child(node, *step)
            node["bytes"] += r["bytes"]
            node["count"] += r["count"]

    def order(n: FlameNode) -> None:
        n["children"].sort(key=lambda c: (-c["bytes"], c["name"]))
        for c in n["children"]:
            order(c)

    order(root)
    return root


def flame_data(tree: FlameNode) -> dict[str, Any]:
    """The compact form the page's script reads: a table of names and nested
    ``[name index, bytes, count, kind, children]``."""
    names: list[str] = []
    ids: dict[str, int] = {}

    def pack(n: FlameNode) -> list[Any]:
        i = ids.get(n["name"])
        if i is None:
            i = ids[n["name"]] = len(names)
            names.append(n["name"])
        out: list[Any] = [i, n["bytes"], n["count"], n["kind"]]
        if n["children"]:
            out.append([pack(c) for c in n["children"]])
        return out

    tree_packed = pack(tree)
    return {"names": names, "tree": tree_packed}


def script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no markup characters)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# ----------------------------------------------------------------------------- sections


def _summary(d: ReportDoc, errors: dict[str, str]) -> str:
    info = d["info"]
    pairs: list[tuple[str, str]] = [
        ("Binary", f"<code>{_e(d['binary'])}</code>"),
        ("Target", f"<code>{_e(d['target'])}</code>"),
    ]
    if info is None:
        pairs.append(("Go", _not_available(errors, "info")))
        return _kv(pairs)
    b = info["build"]
    pairs.append(
        (
            "Go",
            f"{_e(info['go_version'])} {_e(info['goarch'])} &middot; module "
            f"<code>{_e(b['main_module'])}</code> {_e(b['main_version'])}",
        )
    )
    pairs.append(
        (
            "Target kind",
            f"{_e(info['target']['kind'])} &middot; {info['threads']} threads, {info['ms']} Ms",
        )
    )
    crash = info["crash"]
    if crash is not None:
        why = (
            f"<b class=err>{_e(crash['signal'])}</b> (signo {crash['signo']}, code {crash['code']})"
        )
        if crash["fault_addr"]:
            why += f" at address <code>{_e(crash['fault_addr'])}</code>"
        if crash["thread"] is not None:
            why += f" on thread {_e(crash['thread'])}"
        if crash["m"] is not None:
            why += f" (M{_e(crash['m'])})"
        if crash["goroutine"] is not None:
            why += f' running <a href="#crash-goroutine">goroutine {_e(crash["goroutine"])}</a>'
        w = crash["where"]
        if w:
            why += f" in {_loc(w['func'], w['file'], w['line'])}"
        pairs.append(("Crashed", why))
    else:
        st = info["stopped"]
        if st["signal"]:
            pairs.append(("Stopped", f"{_e(st['signal'])} (signo {st['signo']}), not a crash"))
        else:
            pairs.append(("Stopped", "not by a signal (a snapshot or a paused process)"))
    panics = d["panics"]
    if panics and panics["crash"] and panics["crash"]["panic_value"] is not None:
        pairs.append(("Panic", f"<code>{_e(panics['crash']['panic_value'])}</code>"))
    ct = info["crash_time"]
    if ct is not None:
        when = f"{_e(fmt_time(ct['unix_ns']))} <span class=dim>(from {_e(ct['source'])}"
        if ct["lo_unix_ns"] is not None:
            when += f"; not before {_e(fmt_time(ct['lo_unix_ns']))}"
        if ct["hi_unix_ns"] is not None:
            when += f"; not after {_e(fmt_time(ct['hi_unix_ns']))}"
        when += ")</span>"
        if ct["notes"]:
            when += (
                f"<details><summary>how it is estimated</summary>{_notes(ct['notes'])}</details>"
            )
        pairs.append(("Crash time", when))
    else:
        pairs.append(("Crash time", "unknown"))
    ms = info["memstats"]
    if ms is not None:
        pairs.append(
            (
                "Heap",
                f"HeapAlloc {_e(fmt_bytes(ms['HeapAlloc']))}, HeapInuse "
                f"{_e(fmt_bytes(ms['HeapInuse']))}, HeapSys {_e(fmt_bytes(ms['HeapSys']))}, "
                f"{ms['HeapObjects']} objects, Sys {_e(fmt_bytes(ms['Sys']))}, "
                f"{ms['NumGC']} GCs",
            )
        )
    return _kv(pairs) + (
        f"<details><summary>info notes</summary>{_notes(info['notes'])}</details>"
        if info["notes"]
        else ""
    )


def _crash_goroutine(d: ReportDoc, errors: dict[str, str]) -> str:
    g = d["crash_goroutine"]
    if g is None:
        if d["info"] and d["info"]["crash"] and d["info"]["crash"]["goroutine"] is None:
            return (
                '<p class="na">not available: no goroutine was running on the crashing '
                "thread</p>" + _not_available(errors, "crash_goroutine")
            )
        return _not_available(errors, "crash_goroutine")
    cb = g["created_by"]
    pairs = [
        (
            "Goroutine",
            f"{g['id']} &middot; {_e(g['status'])}"
            + (f" ({_e(g['wait_reason'])})" if g["wait_reason"] else ""),
        ),
        ("Started at", f"<code>{_e(g['start_func'])}</code>"),
        (
            "Created by",
            "\u2014"
            if cb is None
            else _loc(cb["func"], cb["file"], cb["line"])
            + (f" in goroutine {cb['goroutine']}" if cb["goroutine"] is not None else ""),
        ),
        (
            "Stack",
            f"<code>{_e(g['stack']['lo'])}</code>-<code>{_e(g['stack']['hi'])}</code> "
            f"({_e(fmt_bytes(g['stack']['size']))})",
        ),
    ]
    frames = g.get("frames") or []
    rows = [
        [
            _n(i),
            _t(f["func"], code=True),
            _t(f"{f['file']}:{f['line']}"),
            _t(f["pc"], code=True),
            _t("inlined" if f["inlined"] else ""),
        ]
        for i, f in enumerate(frames)
    ]
    err = g.get("frames_error")
    table = _table(
        "crash-frames",
        [Col("#", True), Col("function"), Col("file:line"), Col("pc"), Col("")],
        rows,
        sortable=False,
        caption="backtrace, innermost first",
    )
    return _kv(pairs) + table + _notes(g.get("notes"), [err] if err else None)


_MEMSTATS_ORDER = [
    "HeapAlloc",
    "HeapInuse",
    "HeapIdle",
    "HeapReleased",
    "HeapSys",
    "HeapObjects",
    "Alloc",
    "TotalAlloc",
    "Mallocs",
    "Frees",
    "StackInuse",
    "StackSys",
    "MSpanInuse",
    "MSpanSys",
    "MCacheInuse",
    "MCacheSys",
    "BuckHashSys",
    "GCSys",
    "OtherSys",
    "Sys",
    "NextGC",
    "NumGC",
    "NumForcedGC",
    "PauseTotalNs",
    "LastGC",
]
_NOT_BYTES = {"HeapObjects", "Mallocs", "Frees", "NumGC", "NumForcedGC", "PauseTotalNs", "LastGC"}


def _memstats(d: ReportDoc, errors: dict[str, str]) -> str:
    m = d["memstats"]
    if m is None:
        return _not_available(errors, "memstats")
    fields: dict[str, Any] = dict(m["memstats"])
    names = [k for k in _MEMSTATS_ORDER if k in fields]
    names += [k for k in fields if k not in names and k != "last_gc_time"]
    left = []
    for k in names:
        v = fields[k]
        if k == "LastGC":
            shown = _e(fields.get("last_gc_time") or fmt_time(v) if v else "never")
        elif k == "PauseTotalNs":
            shown = _e(fmt_ns(v))
        elif k in _NOT_BYTES or not isinstance(v, int):
            shown = _e(v)
        else:
            shown = _e(fmt_bytes(v))
        left.append([_t(k, code=True), _n(v, shown)])
    right = [
        [
            _t(r["field"], code=True),
            _n(r["readmemstats"]),
            _n(r["counters"]),
            _n(r["span_walk"]),
            _n(
                r["difference"],
                f'<span class="{"err" if r["difference"] else "ok"}">{_e(r["difference"])}</span>',
            ),
            _t(r["explanation"]),
        ]
        for r in m["comparison"]
    ]
    gc = m["gc"]
    cycles = [
        [
            _n(c["cycle"]),
            _t(c["end_time"] or fmt_time(c["end_unix_ns"])),
            _n(c["pause_ns"], _e(fmt_ns(c["pause_ns"]))),
        ]
        for c in gc["cycles"][-10:]
    ]
    return (
        '<div class="cols">'
        + '<div class="col-narrow">'
        + _table(
            "memstats-fields",
            [Col("field"), Col("value", True)],
            left,
            sortable=False,
            caption="runtime.MemStats, as ReadMemStats would report it at the stop",
        )
        + "</div><div>"
        + _table(
            "memstats-compare",
            [
                Col("field"),
                Col("ReadMemStats", True),
                Col("counters", True),
                Col("heap walk", True),
                Col("difference", True),
                Col("explanation"),
            ],
            right,
            sortable=False,
            caption="MemStats beside the runtime's counters and the heap's span walk",
        )
        + _table(
            "gc-cycles",
            [Col("GC", True), Col("ended"), Col("pause", True)],
            cycles,
            sortable=False,
            caption=f"{gc['num_gc']} GC cycles ({gc['num_forced_gc']} forced), pauses "
            f"{_e(fmt_ns(gc['pause_total_ns']))} in all; the last {len(cycles)}",
        )
        + "</div></div>"
        + _notes(m["notes"], m["errors"])
    )


def _histogram(d: ReportDoc, errors: dict[str, str]) -> tuple[str, str]:
    """The sortable histogram and the type tree."""
    h = d["histogram"]
    if h is None:
        na = _not_available(errors, "histogram")
        return na, na
    total = h["total"]["bytes"] or 1
    rows = sorted(h["rows"], key=lambda r: (-r["bytes"], r["type"]))
    cells = [
        [
            _t(r["type"], code=True),
            _t(type_package(r["type"]) or OTHER_PACKAGE),
            _n(r["count"]),
            _b(r["bytes"]),
            _n(round(100 * r["bytes"] / total, 2), f"{100 * r['bytes'] / total:.1f}%"),
            _n(r["bytes"] // r["count"] if r["count"] else 0),
            _t(r.get("source", "")),
        ]
        for r in rows
    ]
    head = (
        f"<p>{h['total']['count']} {_e(h['selection'])} objects, "
        f"{_e(fmt_bytes(h['total']['bytes']))} in {h['rows_total']} types; the "
        f"{len(rows)} largest shown. Typed by a source better than inference: "
        f"{h['typed']['percent']:.1f}% of the bytes. <span class=dim>Click a column header "
        f"to sort.</span></p>"
    )
    table = _table(
        "histogram-table",
        [
            Col("type"),
            Col("package"),
            Col("count", True),
            Col("bytes", True, "descending"),
            Col("share", True),
            Col("avg size", True),
            Col("type source"),
        ],
        cells,
    )
    hist = head + table + _notes(h["notes"], h["errors"])

    groups = type_tree(h["rows"])
    parts = [
        f"<p>The histogram's {len(rows)} rows by Go package (the type name's prefix before "
        f"its last dot; <code>*</code>, <code>[]</code>, <code>[N]</code>, <code>chan</code> "
        f"stripped, a map by its element type (else its key type); types without a package under "
        f"{_e(OTHER_PACKAGE)}).</p>"
    ]
    for g in groups:
        share = 100 * g["bytes"] / total
        inner = "".join(
            f"<li><code>{_e(r['type'])}</code> <span class=num>{r['count']}</span> "
            f"<span class=num>{_e(fmt_bytes(r['bytes']))}</span></li>"
            for r in g["rows"]
        )
        parts.append(
            f'<details class="pkg" data-package="{_e(g["package"])}"><summary>'
            f'<span class="bar" style="width:{min(share, 100):.1f}%"></span>'
            f"<b>{_e(g['package'])}</b> <span class=num>{_plural(len(g['rows']), 'type')}</span> "
            f"<span class=num>{_plural(g['count'], 'object')}</span> "
            f"<span class=num>{_e(fmt_bytes(g['bytes']))} ({share:.1f}%)</span></summary>"
            f"<ul>{inner}</ul></details>"
        )
    return hist, "\n".join(parts)


def _root_text(root: Any) -> str:
    if not root:
        return "\u2014"
    g = f" (goroutine {root['goroutine']})" if root.get("goroutine") is not None else ""
    return f"{root['kind']} {root['name']}{g}"


def _top(d: ReportDoc, errors: dict[str, str]) -> str:
    t = d["top"]
    if t is None:
        return _not_available(errors, "top")
    rows = [
        [
            _t(r["addr"], code=True),
            _t(r["type"], code=True),
            _b(r["shallow"]),
            _b(r["retained"]),
            _n(r["share"], f"{100 * r['share']:.1f}%"),
            _t(_root_text(r["root"])),
        ]
        for r in t["rows"]
    ]
    roots = [[_t(r["root"], code=True), _b(r["retained"])] for r in t["roots"]]
    return (
        f"<p>Objects that keep the most of the {_e(fmt_bytes(t['live_bytes']))} live heap "
        "alive (retained: what would be freed with them).</p>"
        + _table(
            "top-table",
            [
                Col("object"),
                Col("type"),
                Col("shallow", True),
                Col("retained", True, "descending"),
                Col("share", True),
                Col("root"),
            ],
            rows,
        )
        + _table(
            "top-roots",
            [Col("root"), Col("retained", True, "descending")],
            roots,
            caption="roots by what only they keep alive",
        )
    )


def _steps(steps: Sequence[Any]) -> str:
    if not steps:
        return '<span class="dim">no path</span>'
    items = "".join(
        f"<li><span class=via>{_e(s['via'])}</span> &rarr; <code>{_e(s['type'])}</code> "
        f"<code class=dim>{_e(s['addr'])}</code> <span class=num>"
        f"{_e(fmt_bytes(s['size']))}</span></li>"
        for s in steps
    )
    return f'<ol class="path">{items}</ol>'


def _suspects(d: ReportDoc, errors: dict[str, str]) -> str:
    s = d["suspects"]
    if s is None:
        return _not_available(errors, "suspects")
    rows = [
        [
            _t(x["kind"]),
            _t(x["type"] or "\u2014", code=True),
            _b(x["bytes"]),
            _n(x.get("count")),
            _t(x["detail"]),
            _t(_root_text(x["root"])),
            _h(_steps(x["path"])),
        ]
        for x in s["suspects"]
    ]
    out = _table(
        "suspects-table",
        [
            Col("kind"),
            Col("type"),
            Col("bytes", True),
            Col("count", True),
            Col("why"),
            Col("root"),
            Col("path: root \u2192 \u2026 \u2192 object"),
        ],
        rows,
    )
    return out


_PARKING = frozenset({"runtime.gopark", "runtime.goparkunlock", "runtime.park_m"})


def _frames_cell(frames: Sequence[Any], first: int = 3) -> str:
    if not frames:
        return "\u2014"
    skip = 0  # the parking frames every waiting goroutine has
    while skip < len(frames) - 1 and frames[skip]["func"] in _PARKING:
        skip += 1
    head = "<br>".join(f"<code>{_e(f['func'])}</code>" for f in frames[skip : skip + first])
    if len(frames) <= first:
        return head
    rest = "<br>".join(
        f"<code>{_e(f['func'])}</code> <span class=dim>{_e(f['file'])}:{_e(f['line'])}</span>"
        for f in frames
    )
    return f"{head}<details><summary>{len(frames)} frames</summary>{rest}</details>"


def _goroutine_groups(d: ReportDoc, errors: dict[str, str]) -> str:
    g = d["goroutine_groups"]
    if g is None:
        return _not_available(errors, "goroutine_groups")
    groups = sorted(g["groups"], key=lambda x: -x["count"])
    rows = []
    for x in groups[:MAX_GROUPS]:
        cb = x["created_by"]
        ids = ", ".join(str(i) for i in x["ids"][:12]) + (" \u2026" if len(x["ids"]) > 12 else "")
        rows.append(
            [
                _n(x["count"]),
                _t(x["status"]),
                _t(x["wait_reason"]),
                _n(x["max_waited_at_least_ns"], _e(fmt_ns(x["max_waited_at_least_ns"]))),
                _t(x["start_func"], code=True),
                _h(_loc(cb["func"], cb["file"], cb["line"]) if cb else "\u2014"),
                _h(_frames_cell(x["frames"])),
                _t(ids),
            ]
        )
    more = f" (the {MAX_GROUPS} largest shown)" if len(groups) > MAX_GROUPS else ""
    return (
        f"<p>{g['selected']} of {g['total']} goroutines in {len(groups)} groups by "
        f"{_e(g['group_by'])}{more}.</p>"
        + _table(
            "groups-table",
            [
                Col("count", True, "descending"),
                Col("status"),
                Col("waiting for"),
                Col("waited \u2265", True),
                Col("start"),
                Col("created by"),
                Col("stack"),
                Col("ids"),
            ],
            rows,
        )
        + _notes(g["notes"])
    )


def _defers(d: ReportDoc, errors: dict[str, str]) -> str:
    df = d["defers"]
    if df is None:
        return _not_available(errors, "defers")
    tot = df["totals"]
    rows = []
    for g in df["goroutines"]:
        c = g["counts"]
        if not (c["heap"] or c["stack"] or c["open"] or g["pending"] or g["errors"]):
            continue
        pend = "<br>".join(
            f"{_e(p['kind'])} <code>{_e(p['deferred'] or p['func'] or '?')}</code> "
            f"<span class=dim>in {_e(p['frame'])} ({_e(p['file'])}:{_e(p['line'])})</span>"
            for p in g["pending"][:8]
        ) + (f"<br>\u2026 {len(g['pending']) - 8} more" if len(g["pending"]) > 8 else "")
        rows.append(
            [
                _n(g["goroutine"]),
                _t(g["status"]),
                _n(c["heap"]),
                _n(c["stack"]),
                _n(c["open"]),
                _h(pend or "\u2014"),
                _t("; ".join(g["errors"]) or ""),
            ]
        )
    shown = rows[:MAX_DEFER_ROWS]
    pools = df["defer_pools"]
    return (
        f"<p>{tot['goroutines']} goroutines with defers in flight: {tot['heap']} heap, "
        f"{tot['stack']} stack, {tot['open']} open-coded; closures retain "
        f"{_e(fmt_bytes(tot['retained_heap_bytes']))} of heap. Defer pools: "
        f"{pools['total']} free records ({_e(fmt_bytes(pools['bytes']))}).</p>"
        + _table(
            "defers-table",
            [
                Col("goroutine", True),
                Col("status"),
                Col("heap", True),
                Col("stack", True),
                Col("open", True),
                Col("pending (next to run first)"),
                Col("errors"),
            ],
            shown,
        )
        + (
            f"<p class=dim>{len(rows) - len(shown)} more goroutines not shown</p>"
            if len(rows) > len(shown)
            else ""
        )
        + _notes(df["notes"], df["errors"] + pools["errors"])
    )


def _panic_frame(f: Any) -> str:
    return _loc(f["func"], f["file"], f["line"]) if f else "\u2014"


def _panics(d: ReportDoc, errors: dict[str, str]) -> str:
    p = d["panics"]
    if p is None:
        return _not_available(errors, "panics")
    rows = []
    for g in p["goroutines"]:
        for x in g["panics"]:
            flags = [
                k
                for k in ("recovered", "aborted", "goexit", "repanicked", "deferreturn")
                if x.get(k)
            ]
            rows.append(
                [
                    _n(g["goroutine"]),
                    _t("yes" if g["crashing"] else ""),
                    _t(x["text"], code=True),
                    _t(x["value"]["type"], code=True),
                    _t(", ".join(flags) or "\u2014"),
                    _h(_panic_frame(x["started_by"])),
                    _h(_panic_frame(x["origin"])),
                    _n(len(x["ran_defers"])),
                ]
            )
        for err in g["errors"]:
            rows.append(
                [
                    _n(g["goroutine"]),
                    _t(""),
                    _h(f"<span class=err>{_e(err)}</span>"),
                    _t(""),
                    _t(""),
                    _t(""),
                    _t(""),
                    _n(None),
                ]
            )
    crash = p["crash"]
    head = ""
    if crash and crash["panic_value"] is not None:
        head = (
            f"<p>goroutine {_e(crash['goroutine'])} was panicking with "
            f"<code>{_e(crash['panic_value'])}</code></p>"
        )
    return (
        head
        + _table(
            "panics-table",
            [
                Col("goroutine", True),
                Col("crashing"),
                Col("value"),
                Col("type"),
                Col("flags"),
                Col("started by"),
                Col("origin"),
                Col("defers run", True),
            ],
            rows,
        )
        + _notes(p["notes"], p["errors"])
    )


def _window(d: ReportDoc, errors: dict[str, str]) -> str:
    w = d["window"]
    if w is None:
        return _not_available(errors, "window")
    rows = sorted(w["rows"], key=lambda r: -r["bytes"])
    label = {"stack": "allocation stack", "goroutine": "goroutine"}.get(w["by"], "type")
    cells = [[_t(r["type"], code=True), _n(r["count"]), _b(r["bytes"])] for r in rows]
    und = w["undecided"]
    ct = w["crash_time"]
    return (
        f'<p class="bound"><b>{_e(w["bound"]["kind"])}</b>: {_e(w["bound"]["text"])}</p>'
        + _kv(
            [
                (
                    "Window",
                    f"{_e(fmt_ns(w['duration_ns']))} before the crash "
                    f"({_e(fmt_time(ct['unix_ns']))}, from {_e(ct['source'])})",
                ),
                (
                    "Listed",
                    f"{w['total']['count']} objects, {_e(fmt_bytes(w['total']['bytes']))}"
                    f" ({_e(w['selection'])}; by {_e(w['by'])})",
                ),
                (
                    "Undecided",
                    f"{und['count']} objects, {_e(fmt_bytes(und['bytes']))}, "
                    f"allocated before {_e(fmt_time(und['older_than_unix_ns']))}",
                ),
            ]
        )
        + _table(
            "window-table",
            [Col(label), Col("count", True), Col("bytes", True, "descending")],
            cells,
        )
        + "<h3>Sources</h3>"
        + "<ul class=sources>"
        + "".join(f"<li>{_e(s)}</li>" for s in w["sources"])
        + "</ul>"
        + _notes(w["notes"], w["errors"])
    )


def _flamegraph(d: ReportDoc, errors: dict[str, str]) -> str:
    rows = d["alloc_stacks"]
    share = d["sampled_bytes_share"]
    if not rows:
        return _not_available(errors, "alloc_stacks") + (
            f"<p>sampled share of in-use bytes: {100 * share:.1f}%</p>"
        )
    tree = flame_tree(rows, "all in-use objects")
    dropped = ", ".join(sorted(ALLOCATOR_FRAMES))
    return (
        f"<p>In-use heap objects ({_e(fmt_bytes(tree['bytes']))}, {tree['count']} objects) by "
        f"the allocation stack the heap profiler sampled: "
        f"<b>{100 * share:.1f}%</b> of the in-use bytes have a sampled stack; the rest is "
        f"under <i>{_e(NOT_SAMPLED)}</i>. Callers on top, the allocated type at the bottom of "
        f"each stack; widths are proportional to bytes. Hover a node for its bytes, click to "
        f"zoom in.</p>"
        '<div class="fg-bar"><button type="button" id="fg-reset">reset zoom</button> '
        '<span id="fg-info" class="dim">hover a node</span></div>'
        '<div id="fg-box" class="fg-box"></div>'
        f'<p class="caption">Allocator frames are dropped at the innermost end of each stack '
        f"(<code>runtime.mallocgc*</code> and {_e(dropped)}): the frame above the type is the "
        f"function that allocated. Frames are merged by function name.</p>"
        f'<script type="application/json" id="flame-data">{script_json(flame_data(tree))}'
        "</script>"
    )


def _problems(d: ReportDoc) -> str:
    errs = "".join(
        f'<li class="err"><b>{_e(x["section"])}</b>: {_e(x["error"])}</li>' for x in d["errors"]
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in d["notes"])
    cmds = "".join(
        f"<li><b>{_e(k)}</b>: <code>gomem {_e(v)}</code></li>" for k, v in d["commands"].items()
    )
    return (
        "<h3>Errors</h3>"
        + (f'<ul id="report-errors">{errs}</ul>' if errs else '<p id="report-errors">none</p>')
        + "<h3>Notes</h3>"
        + (f'<ul id="report-notes">{notes}</ul>' if notes else '<p id="report-notes">none</p>')
        + f"<details><summary>the subcommand of each section</summary><ul>{cmds}</ul></details>"
    )


# ----------------------------------------------------------------------------- page


_CSS = """
:root{--fg:#1d2125;--dim:#6a737d;--line:#dde1e5;--bg:#fff;--alt:#f6f8fa;--err:#b3261e;
--ok:#1a7f37;--acc:#0b5cad}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
header{background:#22272e;color:#f0f3f6;padding:14px 24px}
header h1{margin:0;font-size:20px}
header .dim{color:#aab4be}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);
padding:6px 24px;font-size:13px}
nav a{margin-right:12px;color:var(--acc);text-decoration:none;white-space:nowrap}
main{padding:8px 24px 40px;max-width:1500px}
section{margin:18px 0 28px;scroll-margin-top:64px}
h2{font-size:17px;border-bottom:2px solid var(--line);padding-bottom:3px;margin:0 0 10px}
h3{font-size:14px;margin:14px 0 6px}
.cmd{font:12px ui-monospace,Menlo,Consolas,monospace;color:var(--dim);font-weight:normal;
margin-left:8px}
code{font:12.5px ui-monospace,Menlo,Consolas,monospace;overflow-wrap:break-word}
.dim{color:var(--dim)}
.err{color:var(--err)}
.ok{color:var(--ok)}
.na{color:var(--err);font-style:italic}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0}
dl.kv dt{font-weight:600;color:var(--dim)}
dl.kv dd{margin:0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
caption{text-align:left;color:var(--dim);font-size:12px;padding:2px 0}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--alt);font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fbfcfd}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#e8edf2}
table.sortable th::after{content:" \\2195";color:#b0b8c0}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2";color:var(--acc)}
table.sortable th[aria-sort=descending]::after{content:" \\25BC";color:var(--acc)}
.cols{display:grid;grid-template-columns:minmax(260px,max-content) 1fr;gap:24px;
align-items:start}
ul.notes{margin:4px 0;padding-left:18px;color:var(--dim);font-size:12.5px}
ul.notes li.err{color:var(--err)}
details{margin:2px 0}
summary{cursor:pointer}
details.pkg{border-bottom:1px solid var(--line);padding:2px 0}
details.pkg>summary{position:relative;padding:2px 4px}
details.pkg>summary .bar{position:absolute;left:0;top:0;bottom:0;background:#dbe9f7;
z-index:-1}
details.pkg ul{margin:2px 0 6px;padding-left:28px}
.num{color:var(--dim);margin-left:10px;font-variant-numeric:tabular-nums}
ol.path{margin:0;padding-left:18px}
ol.path .via{color:var(--acc)}
.spath{border-left:3px solid var(--line);padding-left:10px;margin:8px 0}
.bound{background:var(--alt);padding:6px 10px;border-left:3px solid var(--acc)}
.fg-bar{margin:6px 0}
.fg-box{position:relative;width:100%;min-height:20px;font:11px/17px ui-monospace,Menlo,
Consolas,monospace;border:1px solid var(--line);overflow:hidden}
.fg-node{position:absolute;height:17px;overflow:hidden;white-space:nowrap;
text-overflow:ellipsis;padding:0 3px;border-right:1px solid #fff;border-bottom:1px solid #fff;
cursor:pointer;color:#1d2125}
.fg-node:hover{filter:brightness(0.85)}
.fg-r{background:#59636e;color:#fff}
.fg-t{background:#9cc3e6}
.fg-u{background:#c4c8cc}
.fg-anc{opacity:.6}
.caption{color:var(--dim);font-size:12px}
#js-errors{color:var(--err)}
"""

_JS = r"""
(function () {
  'use strict';
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // ---- sortable tables: numeric columns (data-type=num) by data-v, others by text
  function key(td, num) {
    if (!td) return num ? -Infinity : '';
    var v = td.getAttribute('data-v');
    if (v === null) v = td.textContent;
    if (num) { var x = parseFloat(v); return isNaN(x) ? -Infinity : x; }
    return v.toLowerCase();
  }
  function sortBy(th) {
    var table = th.closest('table');
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var num = th.getAttribute('data-type') === 'num';
    var cur = th.getAttribute('aria-sort');
    var desc = cur ? cur === 'ascending' : num;
    each(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
    var tb = table.tBodies[0];
    var rows = Array.prototype.map.call(tb.rows, function (r, i) {
      return [key(r.cells[idx], num), i, r];
    });
    rows.sort(function (a, b) {
      var c = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
      return (desc ? -c : c) || a[1] - b[1];
    });
    rows.forEach(function (r) { tb.appendChild(r[2]); });
  }
  each(document.querySelectorAll('table.sortable th'), function (th) {
    th.tabIndex = 0;
    th.title = 'sort';
    th.addEventListener('click', function () { sortBy(th); });
    th.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sortBy(th); }
    });
  });

  // ---- flame graph
  function fmtBytes(n) {
    if (Math.abs(n) < 1024) return n + ' B';
    var u = ['KiB', 'MiB', 'GiB', 'TiB'], v = n, i = -1;
    do { v /= 1024; i++; } while (Math.abs(v) >= 1024 && i < u.length - 1);
    return v.toFixed(1) + ' ' + u[i];
  }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }
  var dataEl = document.getElementById('flame-data');
  var box = document.getElementById('fg-box');
  if (dataEl && box) {
    var FD = JSON.parse(dataEl.textContent);
    var build = function (a, parent, depth) {
      var n = {name: FD.names[a[0]], bytes: a[1], count: a[2], kind: a[3],
               parent: parent, depth: depth, kids: []};
      (a[4] || []).forEach(function (c) { n.kids.push(build(c, n, depth + 1)); });
      return n;
    };
    var root = build(FD.tree, null, 0);
    var info = document.getElementById('fg-info');
    var ROW = 18, MINW = 0.0004, shown = [], focus = root;
    var pct = function (a, b) { return b ? (100 * a / b).toFixed(1) + '%' : '-'; };
    var tip = function (n) {
      var t = n.name + ' \u2014 ' + fmtBytes(n.bytes) + ' (' + pct(n.bytes, root.bytes) +
        ' of all';
      if (focus !== root) t += ', ' + pct(n.bytes, focus.bytes) + ' of the zoomed node';
      return t + '), ' + n.count + ' objects';
    };
    var add = function (n, x, w, anc) {
      var el = document.createElement('div');
      el.className = 'fg-node fg-' + n.kind + (anc ? ' fg-anc' : '');
      el.style.left = (100 * x) + '%';
      el.style.width = (100 * w) + '%';
      el.style.top = (n.depth * ROW) + 'px';
      if (n.kind === 'f') {
        var h = hue(n.name);
        el.style.background = 'hsl(' + (8 + h % 42) + ',' + (70 + h % 25) + '%,' +
          (58 + (h >> 3) % 14) + '%)';
      }
      el.textContent = n.name;
      el.title = tip(n);
      el.setAttribute('data-i', String(shown.length));
      el.setAttribute('data-depth', String(n.depth));
      shown.push(n);
      box.appendChild(el);
    };
    var render = function (f) {
      focus = f;
      box.textContent = '';
      shown = [];
      var maxDepth = f.depth;
      for (var p = f.parent; p; p = p.parent) add(p, 0, 1, true);
      var walk = function (n, x, w) {
        if (w < MINW) return;
        add(n, x, w, false);
        if (n.depth > maxDepth) maxDepth = n.depth;
        n.kids.forEach(function (c) {
          var cw = n.bytes ? w * c.bytes / n.bytes : 0;
          walk(c, x, cw);
          x += cw;
        });
      };
      walk(f, 0, 1);
      box.style.height = ((maxDepth + 1) * ROW + 2) + 'px';
      box.setAttribute('data-focus', f.name);
      box.setAttribute('data-nodes', String(shown.length));
      info.textContent = f === root ? 'hover a node; click to zoom' : 'zoomed: ' + tip(f);
    };
    box.addEventListener('mouseover', function (ev) {
      var el = ev.target.closest('.fg-node');
      if (el) info.textContent = tip(shown[+el.getAttribute('data-i')]);
    });
    box.addEventListener('click', function (ev) {
      var el = ev.target.closest('.fg-node');
      if (el) render(shown[+el.getAttribute('data-i')]);
    });
    document.getElementById('fg-reset').addEventListener('click', function () {
      render(root);
    });
    render(root);
  }

  // ---- test hooks (only with #test in the address): a header click and a zoom click
  if (location.hash === '#test') {
    var th = document.querySelector('#histogram-table thead th:nth-child(3)');
    if (th) th.click();
    var first = document.querySelector('#fg-box .fg-node[data-depth="1"]');
    if (first) first.click();
    document.body.setAttribute('data-test-hooks', 'ran');
  }
})();
"""

_ONERROR = (
    "window.onerror=function(m,s,l,c){var e=document.getElementById('js-errors');"
    "if(e){e.textContent+=m+' ('+l+':'+c+')\\n';e.hidden=false;}};"
)


def render_html(doc: ReportDoc) -> str:
    """The report as one self-contained HTML page."""
    errors: dict[str, str] = {}
    for x in doc["errors"]:
        errors.setdefault(x["section"], x["error"])
    info = doc["info"]
    hist_doc = doc["histogram"]
    go = info["go_version"] if info else hist_doc["go_version"] if hist_doc else ""
    title = f"gomem report: {doc['binary'].rsplit('/', 1)[-1]}"
    hist, tree = _histogram(doc, errors)
    sections = [
        ("summary", "Why it stopped", _summary(doc, errors), "info"),
        (
            "crash-goroutine",
            "The crashing goroutine",
            _crash_goroutine(doc, errors),
            "crash_goroutine",
        ),
        ("memstats", "MemStats beside the heap walk", _memstats(doc, errors), "memstats"),
        ("histogram", "Heap histogram", hist, "histogram"),
        ("type-tree", "Types by package", tree, "histogram"),
        ("top", "Top retainers", _top(doc, errors), "top"),
        ("suspects", "Leak suspects", _suspects(doc, errors), "suspects"),
        (
            "goroutine-groups",
            "Goroutine groups",
            _goroutine_groups(doc, errors),
            "goroutine_groups",
        ),
        ("defers", "Defers in flight", _defers(doc, errors), "defers"),
        ("panics", "Panics in flight", _panics(doc, errors), "panics"),
        ("window", "The window before the crash", _window(doc, errors), "window"),
        ("flamegraph", "Allocation stacks (flame graph)", _flamegraph(doc, errors), None),
        ("problems", "Errors and notes", _problems(doc), None),
    ]
    nav = " ".join(f'<a href="#{sid}">{_e(t)}</a>' for sid, t, _, _ in sections)
    body = "\n".join(
        _section(sid, t, b, doc["commands"].get(key) if key else None)
        for sid, t, b, key in sections
    )
    n_err = len(doc["errors"])
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gdb-gomem {_e(doc["gomem_version"])}">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<pre id="js-errors" hidden></pre>
<script>{_ONERROR}</script>
<header>
<h1>{_e(title)}</h1>
<div class="dim">{_e(go)} &middot; <code>{_e(doc["target"])}</code> &middot; generated
{_e(fmt_time(doc["generated_unix_ns"]))} by gdb-gomem {_e(doc["gomem_version"])}
(report v{_e(doc["report_version"])}) &middot; {n_err} section error(s) &middot;
sampled bytes {100 * doc["sampled_bytes_share"]:.1f}%</div>
</header>
<nav>{nav}</nav>
<main>
{body}
</main>
<script>{_JS}</script>
</body>
</html>
"""
