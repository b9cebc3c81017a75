"""Commands: histogram, objects, obj (heap objects by type).

Argument parsing and printing only; the documents come from :mod:`gdb_gomem.reports.objects`
and the types from :mod:`gdb_gomem.heap.types.infer`.
"""

from __future__ import annotations

import argparse

from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes, kv, table, trailer
from gdb_gomem.commands.registry import address_arg, command
from gdb_gomem.commands.window import bound_text
from gdb_gomem.reports import objects as types_docs
from gdb_gomem.reports.schema.objects import (
    HistogramDoc,
    ObjDoc,
    ObjectsDoc,
    ValueDoc,
)
from gdb_gomem.target.process import GoProcess


def _which(args: argparse.Namespace) -> str:
    return getattr(args, "which", None) or "default"


def _configure_histogram(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--live",
        dest="which",
        action="store_const",
        const="live",
        help="reachable objects only (the default when reachability is known)",
    )
    g.add_argument(
        "--garbage",
        dest="which",
        action="store_const",
        const="garbage",
        help="allocated but unreachable objects",
    )
    g.add_argument(
        "--all", dest="which", action="store_const", const="all", help="every allocated object"
    )
    p.add_argument(
        "--type",
        metavar="REGEX",
        help="only types whose name matches this regex (re.search), or =NAME for exactly NAME",
    )
    p.add_argument("--min", type=int, metavar="B", help="only objects of at least B bytes")
    p.add_argument("--max", type=int, metavar="B", help="only objects of at most B bytes")
    p.add_argument("--top", type=int, metavar="N", help="only the N largest rows")
    p.add_argument(
        "--by",
        choices=("type", "size", "class", "package"),
        default="type",
        help="group rows by type (default), object size, size class or package",
    )


@command("histogram", "heap objects per type (count, bytes), largest last", _configure_histogram)
def run_histogram(proc: GoProcess, args: argparse.Namespace) -> HistogramDoc:
    return types_docs.histogram_doc(
        proc, _which(args), args.type, args.min, args.max, args.top, args.by
    )


@run_histogram.renderer
def render_histogram(d: HistogramDoc, args: argparse.Namespace) -> str:
    head = {"type": "TYPE", "size": "SIZE", "class": "SIZE CLASS", "package": "PACKAGE"}[d["by"]]
    rows = [
        [
            c.number(str(r["count"])),
            c.number(str(r["bytes"])),
            r["type"] if not r["type"].startswith("<unknown") else c.warn(r["type"]),
        ]
        for r in d["rows"]
    ]
    out = table(["COUNT", "BYTES", head], rows, {0, 1})
    t = d["total"]
    shown = (
        f"{len(d['rows'])} largest of {d['rows_total']} rows (--top N shows more)"
        if len(d["rows"]) < d["rows_total"]
        else f"{d['rows_total']} rows"
    )
    ty = d["typed"]
    out.append(
        f"Total {c.number(str(t['count']))} objects, {c.number(str(t['bytes']))} bytes "
        f"({human_bytes(t['bytes'])}), {shown}; {d['selection']}; typed "
        f"{ty['percent']:.2f}% of bytes"
    )
    return "\n".join(out + trailer(d))


def _configure_objects(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--type",
        metavar="REGEX",
        required=True,
        help="objects whose type name matches this regex (re.search), or =NAME for exactly NAME",
    )
    p.add_argument("--limit", type=int, default=100, metavar="N", help="list at most N")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--live", dest="which", action="store_const", const="live")
    g.add_argument("--garbage", dest="which", action="store_const", const="garbage")
    g.add_argument("--all", dest="which", action="store_const", const="all")


@command("objects", "addresses and sizes of heap objects of matching types", _configure_objects)
def run_objects(proc: GoProcess, args: argparse.Namespace) -> ObjectsDoc:
    return types_docs.objects_doc(
        proc, args.type, args.limit, getattr(args, "which", None) or "all"
    )


@run_objects.renderer
def render_objects(d: ObjectsDoc, args: argparse.Namespace) -> str:
    rows = []
    for o in d["objects"]:
        live = "" if "live" not in o else ("live" if o["live"] else "garbage")
        rows.append([c.address(o["addr"]), str(o["size"]), o["type"], o["source"], live])
    out = table(["ADDRESS", "SIZE", "TYPE", "TYPED BY", ""], rows, {1})
    more = f" (first {d['shown']} shown)" if d["shown"] < d["count"] else ""
    out.append(f"{d['count']} object(s), {d['bytes']} bytes{more}")
    return "\n".join(out + trailer(d))


def _configure_obj(p: argparse.ArgumentParser) -> None:
    p.add_argument("addr", type=address_arg, metavar="ADDR", help="any address inside the object")
    p.add_argument("--depth", type=int, default=2, help="levels of fields to decode (default 2)")


@command(
    "obj",
    "the heap object holding an address: span, type, fields, allocation stack",
    _configure_obj,
)
def run_obj(proc: GoProcess, args: argparse.Namespace) -> ObjDoc:
    return types_docs.obj_doc(proc, args.addr, max(0, min(args.depth, 8)))


def _render_value(name: str, v: ValueDoc, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    t = v.get("type", "")
    text = ""
    if "value" in v and v["value"] is not None and "fields" not in v:
        val = v["value"]
        text = repr(val) if isinstance(val, str) and "dynamic_type" not in v else str(val)
    elif "value" in v and v["value"] is None:
        text = "nil"
    if "len" in v and "cap" in v:
        text = f"len {v['len']} cap {v['cap']}"
    elif "len" in v and "value" not in v:
        text = f"len {v['len']}"
    target = v.get("array") or v.get("data") or (v if "object" in v else None)
    if target:
        text += f" -> {c.address(target['addr'])}"
        ob = target.get("object")
        if ob:
            rel = f"+{ob['offset']}" if ob["offset"] else ""
            text += f" ({ob['type']}{rel})"
    elif "addr" in v and "object" not in v and "array" not in v:
        text += f" -> {c.address(v['addr'])} (not a heap object)"
    if v.get("dynamic_type"):
        text = f"({v['dynamic_type']}) {v.get('value')}" + (
            f" -> {c.address(v['data']['addr'])}" if v.get("data") else ""
        )
    if v.get("func"):
        text += f" {v['func']}"
    if v.get("error"):
        text += c.error(f" <{v['error']}>")
    out.append(f"{pad}{name:<14} {c.label(t)}  {text}".rstrip())
    for f in v.get("fields", []):
        _render_value(f"+{f['offset']} {f['name']}", f, indent + 1, out)
    for k, e in enumerate(v.get("elems", [])):
        _render_value(f"[{k}]", e, indent + 1, out)
    for k, ent in enumerate(v.get("entries", [])):
        _render_value(f"key[{k}]", ent["key"], indent + 1, out)
        _render_value("  value", ent["value"], indent + 1, out)


@run_obj.renderer
def render_obj(d: ObjDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    o = d.get("object")
    sp = d.get("span")
    if sp:
        cls = "large" if sp["sizeclass"] == 0 else f"class {sp['sizeclass']}"
        out.append(
            kv(
                "Span",
                f"{c.address(sp['base'])}-{c.address(sp['end'])}  {sp['kind']}, "
                f"{cls}{' noscan' if sp['noscan'] else ''}, "
                f"elemsize {sp['elemsize']}",
            )
        )
    if not o:
        out.append(kv("Object", f"none at {d['addr']}"))
        return "\n".join(out + trailer(d))
    live = "" if o["live"] is None else (", live" if o["live"] else ", garbage")
    out.append(
        kv(
            "Object",
            f"{c.address(o['base'])}  {o['size']} B  (+{o['offset']} is {d['addr']}){live}",
        )
    )
    out.append(kv("Type", f"{c.title(o['type'])}  (typed by {o['source']})"))
    if "value" in o:
        _render_value("value", o["value"], 0, out)
    for k, e in enumerate(o.get("elems", [])):
        _render_value(f"[{k}]", e, 0, out)
    if "text" in o:
        out.append(kv("Text", repr(o["text"])))
    elif "bytes" in o:
        out.append(kv("Bytes", o["bytes"]))
    al = o.get("allocated")
    if al:
        out.append(kv("Allocated", bound_text(al)))
    st = o.get("alloc_stack")
    if st:
        out.append(kv("Allocated", "(sampled allocation stack, innermost first)"))
        for f in st:
            out.append(f"  {f.get('func', '?')}  {f.get('file', '')}:{f.get('line', '')}")
    elif st is None:
        out.append(kv("Allocated", "no sampled allocation record"))
    return "\n".join(out + trailer(d))
