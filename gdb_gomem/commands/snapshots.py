"""Commands: snapshot (gdb's ``heap_snapshot``) and diff OLD NEW.

Argument parsing and printing only; the documents come from :mod:`gdb_gomem.reports.snapshots`.
"""

from __future__ import annotations

import argparse
import re

from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands import registry
from gdb_gomem.commands.fmt import human_bytes, kv, table, trailer
from gdb_gomem.commands.registry import command
from gdb_gomem.reports.schema.snapshots import DiffDoc, SnapshotDoc, SnapshotSideDoc
from gdb_gomem.reports.snapshots import diff_doc, snapshot_doc
from gdb_gomem.snapshots.diff import BY_CHOICES
from gdb_gomem.target.process import GoProcess

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB]?)\s*$")
_MULT = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size_arg(text: str) -> int:
    """``10MB``, ``512k``, ``1GiB``, ``4096`` (binary units: a heap is counted in pages)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 10MB, 512k, 4096)")
    return int(float(m.group(1)) * _MULT[m.group(2)[:1].lower()])


# ---------------------------------------------------------------------------- snapshot


def _configure_snapshot(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", "-l", default="", help="a name stored in the snapshot")
    p.add_argument(
        "--out",
        "-o",
        metavar="FILE",
        help="where to write it (default: gomem-LABEL-TIME.gomemsnap in the current directory)",
    )
    p.add_argument(
        "--no-types",
        dest="typed",
        action="store_false",
        help="allocation state only, no type pass (faster; a diff then keys rows by size)",
    )
    p.add_argument(
        "--roots",
        action="store_true",
        help="also store what each named root retains (the dominator tree; for diff --by root)",
    )


@command(
    "snapshot",
    "write the heap's allocation state (spans, objects, types, sampled stacks) to a file "
    "(in gdb also `heap_snapshot`)",
    _configure_snapshot,
)
def run_snapshot(proc: GoProcess, args: argparse.Namespace) -> SnapshotDoc:
    return snapshot_doc(proc, args.out, args.label, typed=args.typed, roots=args.roots)


def _side(s: SnapshotSideDoc) -> str:
    when = unix_ns_to_iso(s["at_unix_ns"]) if s["at_unix_ns"] else "?"
    lab = f"{s['label']!r}, " if s["label"] else ""
    return (
        f"{s['source']} ({s['kind']}; {lab}{s['objects']} objects, {human_bytes(s['bytes'])}, "
        f"GC #{s['num_gc']}, at {when})"
    )


@run_snapshot.renderer
def render_snapshot(d: SnapshotDoc, args: argparse.Namespace) -> str:
    s = d["snapshot"]
    secs = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in d["seconds"].items())
    out = [
        kv("Snapshot", f"{d['path']} ({human_bytes(d['file_bytes'])})"),
        kv("Heap", f"{s['objects']} objects, {human_bytes(s['bytes'])}, GC #{s['num_gc']}"),
        kv("Target", f"{s['target']} ({s['go_version']}, build ID {s['build_id'] or '?'})"),
        kv("Took", secs),
    ]
    return "\n".join(out + trailer(d))


# ---------------------------------------------------------------------------- diff


def _configure_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", metavar="OLD", help="the earlier side: a snapshot file or a core")
    p.add_argument(
        "new",
        metavar="NEW",
        nargs="?",
        default=".",
        help="the later side: a snapshot file, a core, or . for the current target (default)",
    )
    p.add_argument(
        "--by",
        choices=BY_CHOICES,
        default="type",
        help="rows per type (default), "
        "per sampled allocation stack, per object (lists every object), or per root",
    )
    p.add_argument(
        "--threshold",
        type=size_arg,
        default=0,
        metavar="SIZE",
        help="drop rows that grew or shrank by less than SIZE (e.g. 10MB)",
    )
    p.add_argument("--focus", metavar="GLOB", help="only rows whose type or stack matches GLOB")
    p.add_argument("--limit", type=int, metavar="N", help="objects listed per class")


def _diff(proc: GoProcess | None, args: argparse.Namespace) -> DiffDoc:
    binary = getattr(args, "binary", None) or (str(proc.binary.path) if proc else None)
    return diff_doc(
        args.old,
        args.new,
        binary=binary,
        opener=registry.open_core,
        current=proc,
        by=args.by,
        threshold=args.threshold,
        focus=args.focus,
        limit=args.limit,
    )


@command(
    "diff",
    "what grew between two snapshots or cores of one program: per type, allocation stack "
    "or object (new, freed, survived)",
    _configure_diff,
)
def run_diff(proc: GoProcess, args: argparse.Namespace) -> DiffDoc:
    return _diff(proc, args)


def _signed(n: int, bytes_: bool = False) -> str:
    text = (("+" if n > 0 else "-" if n < 0 else "") + human_bytes(abs(n))) if bytes_ else f"{n:+d}"
    return c.warn(text) if n > 0 else text


@run_diff.renderer
def render_diff(d: DiffDoc, args: argparse.Namespace) -> str:
    out = [kv("Old", _side(d["a"])), kv("New", _side(d["b"]))]
    head = {"type": "TYPE", "size": "SIZE", "stack": "ALLOCATION STACK", "root": "ROOT"}[d["key"]]
    rows = [
        [
            _signed(r["delta_bytes"], True),
            _signed(r["delta_count"]),
            c.number(str(r["count_a"])),
            c.number(str(r["count_b"])),
            human_bytes(r["bytes_b"]),
            c.name(r["type"]),
        ]
        for r in d["rows"][: args.limit or 40]
    ]
    out.append("")
    out += table(["DELTA", "COUNT±", "OLD", "NEW", "NEW BYTES", head], rows, {0, 1, 2, 3, 4})
    if len(d["rows"]) > len(rows):
        out.append(c.label(f"... {len(d['rows']) - len(rows)} more rows (--limit, --threshold)"))
    o = d["objects"]
    out.append("")
    out.append(
        kv(
            "Objects",
            f"new {o['new']['count']} ({human_bytes(o['new']['bytes'])}), "
            f"freed {o['freed']['count']} ({human_bytes(o['freed']['bytes'])}), "
            f"survived {o['survived']['count']} ({human_bytes(o['survived']['bytes'])})",
        )
    )
    if d["by"] == "object":
        for cls in ("new", "freed", "survived"):
            for obj in o[cls]["list"]:
                out.append(f"  {cls:8} {c.address(obj['addr'])}  {obj['size']:>8}  {obj['type']}")
    return "\n".join(out + trailer(d))


@run_diff.without_target
def run_diff_standalone(args: argparse.Namespace) -> DiffDoc:
    return _diff(None, args)
