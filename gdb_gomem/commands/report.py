"""Command: report [--format text|json|html|pprof] [--out FILE] [--window DURATION].

One forensic report made of the subcommands' own documents: each section is what that
subcommand prints with ``--json`` (run through its declared parser with the arguments in
:data:`SECTIONS`), so the report and the subcommands never disagree. A section that fails is
null with its error listed; the others still come.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdb_gomem import __version__
from gdb_gomem.base.errors import BadFile, GomemError
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import kv
from gdb_gomem.commands.registry import REGISTRY, build_parser, command, load_all
from gdb_gomem.commands.source import source_line
from gdb_gomem.reports.formats.allocprofile import alloc_stack_rows
from gdb_gomem.reports.schema.report import ReportDoc, ReportErrorDoc
from gdb_gomem.runtime.memprof import MEM_PROFILE
from gdb_gomem.target.process import GoProcess

FORMATS = ("text", "json", "html", "pprof")
#: The section -> the subcommand line it is made with ({window}: --window's duration).
SECTIONS: dict[str, list[str]] = {
    "info": ["info"],
    "memstats": ["memstats"],
    "histogram": ["histogram", "--top", "50"],
    "top": ["top"],
    "suspects": ["suspects"],
    "goroutine_groups": ["goroutines", "--group-by", "stack"],
    "defers": ["defers", "--all"],
    "panics": ["panics", "--all"],
    "window": ["window", "{window}", "--by", "stack", "--limit", "100"],
}


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="default text")
    p.add_argument(
        "--out", "-o", metavar="FILE", help="write the report to FILE (html and pprof need it)"
    )
    p.add_argument(
        "--window",
        default="1s",
        metavar="DURATION",
        help="the window before the crash to report (default 1s)",
    )
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="DIR",
        help="where the program's Go source is (repeatable; default: the current directory): "
        "text shows the source line of each crash frame and allocation site",
    )
    p.add_argument(
        "--pprof-roots",
        action="store_true",
        help="pprof: append each suspect's root path to its type's stacks",
    )


class _BadArguments(Exception):
    pass


def _parse(argv: list[str]) -> argparse.Namespace:
    """A subcommand's arguments, parsed without printing or exiting on an error."""
    load_all()
    parser = build_parser(REGISTRY[argv[0]], f"gomem {argv[0]}")

    def fail(message: str) -> Any:
        raise _BadArguments(f"gomem {' '.join(argv)}: {message}")

    parser.error = fail  # type: ignore[method-assign]
    return parser.parse_args(argv[1:])


def _section(
    proc: GoProcess, argv: list[str], errors: list[ReportErrorDoc], name: str
) -> Any | None:
    try:
        return REGISTRY[argv[0]].run(proc, _parse([*argv, "--json"]))
    except GomemError as exc:
        errors.append({"section": name, "error": exc.user_message()})
    except _BadArguments as exc:
        errors.append({"section": name, "error": str(exc)})
    return None


def report_doc(proc: GoProcess, window: str = "1s") -> ReportDoc:
    load_all()
    errors: list[ReportErrorDoc] = []
    lines = {k: [a.replace("{window}", window) for a in v] for k, v in SECTIONS.items()}
    got: dict[str, Any] = {k: _section(proc, v, errors, k) for k, v in lines.items()}
    info = got["info"]
    crash_g = None
    crash = info.get("crash") if info else None
    gid = crash.get("goroutine") if crash else None
    if gid is not None:
        lines["crash_goroutine"] = ["goroutine", str(gid)]
        crash_g = _section(proc, lines["crash_goroutine"], errors, "crash_goroutine")
    sus = got["suspects"]
    notes: list[str] = []
    try:
        rows, share, more = alloc_stack_rows(proc)
        notes += more
    except GomemError as exc:
        rows, share = [], 0.0
        errors.append({"section": "alloc_stacks", "error": exc.user_message()})
    return {
        "report_version": 1,
        "gomem_version": __version__,
        "generated_unix_ns": time.time_ns(),
        "binary": str(proc.binary.path),
        "target": proc.target_name,
        "commands": {k: " ".join(v) for k, v in lines.items()},
        "info": info,
        "crash_goroutine": crash_g,
        "memstats": got["memstats"],
        "histogram": got["histogram"],
        "top": got["top"],
        "suspects": sus,
        "goroutine_groups": got["goroutine_groups"],
        "defers": got["defers"],
        "panics": got["panics"],
        "window": got["window"],
        "alloc_stacks": rows,
        "sampled_bytes_share": round(share, 4),
        "errors": errors,
        "notes": notes,
    }


def _html(doc: ReportDoc, proc: GoProcess, args: argparse.Namespace) -> bytes:
    from gdb_gomem.reports.formats.html import render_html

    return render_html(doc).encode()


def _pprof(doc: ReportDoc, proc: GoProcess, args: argparse.Namespace) -> bytes:
    from gdb_gomem.reports.formats.pprof import encode_profile

    rate = MEM_PROFILE(proc).rate
    return encode_profile(doc, root_chains=args.pprof_roots, mem_profile_rate=rate)


#: The formats written to a file only.
WRITERS: dict[str, Callable[[ReportDoc, GoProcess, argparse.Namespace], bytes]] = {
    "html": _html,
    "pprof": _pprof,
}


@command(
    "report",
    "one forensic report: why it stopped, MemStats, heap histogram, top retainers, leak "
    "suspects with their paths, goroutine groups, defers and panics, the window before the "
    "crash (text, json, html or pprof)",
    _configure,
)
def run_report(proc: GoProcess, args: argparse.Namespace) -> ReportDoc:
    fmt = "json" if args.json else args.format
    if fmt == "json" and not args.out:
        args.json = True  # printed as the JSON document
    if fmt in ("html", "pprof") and not args.out:
        raise BadFile(f"--format {fmt} writes a file", f"add --out report.{fmt[:4]}")
    doc = report_doc(proc, args.window)
    if args.out:
        if fmt in ("text", "json"):
            import json

            whole = argparse.Namespace(**{**vars(args), "out": None})  # the full text
            text = json.dumps(doc, indent=2) if fmt == "json" else render_report(doc, whole)
            data = (text + "\n").encode()
        else:
            data = WRITERS[fmt](doc, proc, args)
        try:
            Path(args.out).write_bytes(data)
        except OSError as exc:
            raise BadFile(
                f"cannot write {args.out}: {exc.strerror}", "choose a writable path"
            ) from None
        doc["notes"].append(f"written to {args.out} ({fmt}, {len(data)} bytes)")
    return doc


def _render(argv: list[str], section: Any) -> list[str]:
    """The subcommand's own text of its section, with the arguments it was made with."""
    try:
        sub = _parse(argv)
        return REGISTRY[argv[0]].render(section, sub).split("\n")
    except (KeyError, TypeError, ValueError, _BadArguments) as exc:
        return [c.warn(f"({argv[0]}: cannot render: {exc})")]


#: Allocation sites (largest in-use rows) whose source line the text shows.
MAX_SITES = 8


def _site(frames: list[Any]) -> Any:
    """The allocating frame of a sampled stack: the first one outside the runtime."""
    return next((f for f in frames if not str(f.get("func", "")).startswith("runtime.")), frames[0])


def _sources(title: str, frames: list[Any], roots: list[str]) -> list[str]:
    shown: list[str] = []
    seen: set[tuple[str, int]] = set()
    for f in frames:
        key = (str(f.get("file", "")), int(f.get("line", 0) or 0))
        if key in seen:
            continue
        seen.add(key)
        text = source_line(key[0], key[1], roots)
        if text is not None:
            shown.append(f"  {f.get('func', '?')} ({key[0].rsplit('/', 1)[-1]}:{key[1]})")
            shown.append(text)
    return [c.label(title), *shown] if shown else []


@run_report.renderer
def render_report(d: ReportDoc, args: argparse.Namespace) -> str:
    if getattr(args, "out", None):
        # The report went to the file: say so, and what could not be made.
        short = [c.error(f"error: {e['section']}: {e['error']}") for e in d["errors"]]
        return "\n".join(short + [c.warn(f"note: {n}") for n in d["notes"]])
    out = [
        c.title(f"gdb-gomem {d['gomem_version']} report"),
        kv("Binary", d["binary"]),
        kv("Target", d["target"]),
        "",
    ]
    order = [
        ("Why it stopped", "info", d["info"], "info"),
        ("The crashing goroutine", "crash_goroutine", d["crash_goroutine"], "goroutine"),
        ("MemStats beside the heap walk", "memstats", d["memstats"], "memstats"),
        ("Heap histogram (largest last)", "histogram", d["histogram"], "histogram"),
        ("Top retainers", "top", d["top"], "top"),
        ("Leak suspects", "suspects", d["suspects"], "suspects"),
        ("Goroutine groups", "goroutine_groups", d["goroutine_groups"], "goroutines"),
        ("Defers in flight", "defers", d["defers"], "defers"),
        ("Panics in flight", "panics", d["panics"], "panics"),
        ("The window before the crash", "window", d["window"], "window"),
    ]
    failed = {e["section"]: e["error"] for e in d["errors"]}
    roots = list(getattr(args, "source", None) or [])
    for title, key, section, cmd in order:
        line = d["commands"].get(key, cmd)
        out.append(c.title(f"== {title} (gomem {line})"))
        if section is None:
            out.append(c.warn(f"not available: {failed.get(key, 'nothing to show')}"))
        else:
            out += _render(line.split(), section)
        cg = d["crash_goroutine"]
        if key == "crash_goroutine" and cg is not None:
            out += _sources("Source at the crash frames", list(cg.get("frames", [])), roots)
        if key == "window":
            sites = [_site(r["frames"]) for r in d["alloc_stacks"][:MAX_SITES] if r["frames"]]
            out += _sources("Source at the largest allocation sites", sites, roots)
        out.append("")
    for e in d["errors"]:
        out.append(c.error(f"error: {e['section']}: {e['error']}"))
    out += [c.warn(f"note: {n}") for n in d["notes"]]
    return "\n".join(out)
