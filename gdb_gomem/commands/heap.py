"""Commands: mheap, spans, span, mcentral, mcache, spanlists, memstats.

Argument parsing and printing only; the documents come from
:mod:`gdb_gomem.reports.structures`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes, kv, table, trailer
from gdb_gomem.commands.info import clock_lines
from gdb_gomem.commands.registry import address_arg, command
from gdb_gomem.reports import structures as heapdocs
from gdb_gomem.reports.schema.structures import (
    SPAN_SET_NAMES,
    MCacheDoc,
    MCentralDoc,
    MemStatsDoc,
    MHeapDoc,
    SpanAddrDoc,
    SpanDoc,
    SpanListsDoc,
    SpansDoc,
    SpanTally,
)
from gdb_gomem.target.process import GoProcess

STATES = {"in-use": "in use", "manual": "manual", "dead": "dead"}


def _klass(sizeclass: int | None, noscan: bool | None) -> str:
    if sizeclass is None:
        return "-"
    if sizeclass == 0:
        return "large" + (" n" if noscan else "")
    return f"{sizeclass}{' n' if noscan else ''}"


# ----------------------------------------------------------------------------- mheap


@command("mheap", "heap arenas, spans and pages by state, sweep state, page allocator")
def run_mheap(proc: GoProcess, args: argparse.Namespace) -> MHeapDoc:
    return heapdocs.mheap_doc(proc)


def _tally_line(t: SpanTally, objects: bool = False) -> str:
    s = (
        f"{c.number(t['spans']):>6} spans {c.number(t['pages']):>7} pages "
        f"{human_bytes(t['bytes']):>10}"
    )
    if objects and "objects" in t:
        s += f"  {c.number(t['objects']):>8} objects {human_bytes(t['object_bytes']):>10}"
    return s


@run_mheap.renderer
def render_mheap(d: MHeapDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    gt = ", Green Tea GC" if d["green_tea"] else ""
    out.append(
        kv(
            "Heap",
            f"{c.title(d['go_version'])}, sweepgen {d['sweepgen']}, GC phase "
            f"{d['gc_phase'] or '?'}, pages of {human_bytes(d['page_size'])}{gt}",
        )
    )
    a = d["arenas"]
    if a:
        out.append(
            kv(
                "Arenas",
                f"{a['count']} x {human_bytes(a['arena_bytes'])}  "
                f"{c.address(a['start'])}-{c.address(a['end'])}",
            )
        )
        if a["user_arenas"]:
            out.append(kv("  user", f"{len(a['user_arenas'])} user arena(s)"))
    sp = d["spans"]
    out.append(kv("Spans", f"{sp['descriptors']} descriptors in mheap_.allspans"))
    out.append(kv("  in use", _tally_line(sp["in_use"], True)))
    for k in ("small", "large", "user arena"):
        t = sp["by_kind"][k]
        if t["spans"] or k != "user arena":
            out.append(kv(f"    {k}", _tally_line(t, True)))
    out.append(kv("  manual", _tally_line(sp["manual"])))
    for mk in ("stack", "workbuf", "ptrscalar", "manual"):
        if mk in sp["by_kind"]:
            out.append(kv(f"    {mk}", _tally_line(sp["by_kind"][mk])))
    out.append(kv("  dead", f"{c.number(sp['dead']['spans']):>6} descriptors (recycled)"))
    sw = d["sweep"]
    states = ", ".join(
        f"{sw[k]} {k}" for k in ("swept", "unswept", "sweeping", "cached unswept", "cached swept")
    )
    out.append(kv("Sweep", states))
    done = ""
    if "drained" in sw:
        done = "; sweep drained" if sw["drained"] else "; sweep not drained"
        if sw.get("active_sweepers"):
            done += f", {sw['active_sweepers']} active sweeper(s)"
    out.append(kv("", f"pagesInUse {sw['pages_in_use']}, pagesSwept {sw['pages_swept']}{done}"))
    p = d["pages"]
    if p:
        rng = ", ".join(f"{c.address(r['start'])}-{c.address(r['end'])}" for r in p["ranges"])
        out.append(
            kv(
                "Pages",
                f"{p['total_pages']} pages ({human_bytes(p['total_pages'] * d['page_size'])}) "
                f"in {p['chunks']} chunk(s): {rng}",
            )
        )
        owned = sp["in_use"]["pages"] + sp["manual"]["pages"]
        pc = p["page_cache"]
        out.append(kv("  in spans", f"{owned:>7}"))
        out.append(
            kv(
                "  P caches",
                f"{pc['free_pages']:>7} free pages owned by {pc['ps']} P(s), "
                f"{pc['scavenged_pages']} of them scavenged",
            )
        )
        if p["padding_pages"]:
            out.append(
                kv(
                    "  padding",
                    f"{p['padding_pages']:>7} random heap-base padding "
                    "(allocated and scavenged, Go 1.26+)",
                )
            )
        out.append(
            kv(
                "  free",
                f"{p['free_pages']:>7} (largest free run {p['largest_free_run']} "
                f"pages; root summary: {p['summary']['root_max_free_run']})",
            )
        )
        out.append(
            kv(
                "  scavenged",
                f"{p['released_pages']:>7} pages "
                f"({human_bytes(p['released_pages'] * d['page_size'])}) "
                "returned to the OS",
            )
        )
    for i, ch in enumerate(d["checks"]):
        mark = c.name("ok  ") if ch["ok"] else c.error("FAIL")
        out.append(kv("Checks" if i == 0 else "", f"{mark} {ch['check']} ({ch['detail']})"))
    out += trailer(d)
    return "\n".join(out)


# ----------------------------------------------------------------------------- spans


def _class_option(p: argparse.ArgumentParser, help_text: str) -> None:
    """``--class N``: a size class (hex or decimal, as every address argument)."""
    p.add_argument("--class", dest="sizeclass", type=address_arg, metavar="N", help=help_text)


def _configure_spans(p: argparse.ArgumentParser) -> None:
    _class_option(p, "only in-use spans of size class N (0 = large objects)")
    p.add_argument(
        "--state",
        action="append",
        choices=[*STATES, "all"],
        help="span state to list (repeatable; default: in-use and manual)",
    )
    p.add_argument(
        "--unswept",
        action="store_true",
        help="only spans that still need sweeping (sg-2, sg-1, sg+1)",
    )
    p.add_argument(
        "--limit",
        type=address_arg,
        default=100,
        metavar="N",
        help="print at most N spans (default 100; 0 = all)",
    )


@command("spans", "one line per span: class, objects (recounted), sweep state", _configure_spans)
def run_spans(proc: GoProcess, args: argparse.Namespace) -> SpansDoc:
    states: tuple[str, ...] = ("in use", "manual")
    if args.state:
        states = (
            tuple(STATES.values())
            if "all" in args.state
            else tuple(dict.fromkeys(STATES[s] for s in args.state))
        )
    return heapdocs.spans_doc(
        proc, sizeclass=args.sizeclass, states=states, unswept=args.unswept, limit=args.limit
    )


def _manual_use(s: SpanDoc) -> str:
    """Stack pool spans count stacks in allocCount; a large stack is the whole span."""
    if not s["elemsize"]:
        return "-"
    if s["elemsize"] >= int(s["end"], 16) - int(s["base"], 16):
        return "1 stack"
    return f"{s['alloc_count']} used"


def _flags(s: SpanDoc) -> str:
    f = [s["kind"]]
    if s["noscan"]:
        f.append("noscan")
    if s["inline_marks"] is not None:
        f.append(f"inline-marks={s['inline_marks']}")
    if s["specials"]:
        f.append("specials")
    if s["error"]:
        f.append(c.error(f"CORRUPT: {s['error']}"))
    return " ".join(f)


@run_spans.renderer
def render_spans(d: SpansDoc, args: argparse.Namespace) -> str:
    rows = []
    for s in d["spans"]:
        if s["state"] == "in use":
            objs = f"{s['allocated'] if s['allocated'] is not None else '?'}/{s['nelems']}"
            if s["alloc_count_ok"] is False:
                objs = c.error(f"{objs} (allocCount {s['alloc_count']})")
            fi = str(s["freeindex"])
            sweep = s["sweep"] or ""
        elif s["state"] == "manual":
            objs = _manual_use(s)
            fi, sweep = "-", ""
        else:
            objs, fi, sweep = "-", "-", ""
        rows.append(
            [
                c.address(s["base"]),
                str(s["npages"]),
                _klass(s["sizeclass"], None),
                str(s["elemsize"] or "-"),
                objs,
                fi,
                sweep,
                _flags(s),
            ]
        )
    f = d["filter"]
    what = ", ".join(f["states"]) + (f", class {f['class']}" if f["class"] is not None else "")
    what += ", unswept only" if f["unswept"] else ""
    out = [c.title(f"Spans ({what}; sweepgen {d['sweepgen']})")]
    if rows:
        out += table(
            ["BASE", "PAGES", "CLASS", "ELEMSIZE", "OBJECTS", "FREEIDX", "SWEEP", "KIND"],
            rows,
            {1, 2, 3, 4, 5},
        )
    t = d["totals"]
    more = ""
    if d["truncated"]:
        more = f"; showing {d['shown']} (--limit 0 for all)"
    out.append(
        f"{d['matched']} span(s), {t['pages']} pages ({human_bytes(t['bytes'])}); "
        f"{t['objects']} objects ({human_bytes(t['object_bytes'])}) in heap spans{more}"
    )
    if t["alloc_count_mismatches"]:
        out.append(
            c.error(
                f"{t['alloc_count_mismatches']} span(s) where allocCount differs "
                "from the recount (freeindex + allocBits)"
            )
        )
    out += trailer(d)
    return "\n".join(out)


# ----------------------------------------------------------------------------- span ADDR


def _configure_span(p: argparse.ArgumentParser) -> None:
    p.add_argument("addr", type=address_arg, metavar="ADDR", help="an address (0x... or decimal)")


@command(
    "span", "the span holding an address, and the object slot that contains it", _configure_span
)
def run_span(proc: GoProcess, args: argparse.Namespace) -> SpanAddrDoc:
    return heapdocs.span_addr_doc(proc, args.addr)


def _yes(v: bool | None, yes: str, no: str) -> str:
    return "?" if v is None else (yes if v else no)


@run_span.renderer
def render_span(d: SpanAddrDoc, args: argparse.Namespace) -> str:
    out = []
    where = []
    if d["heap_arena"]:
        where.append(f"heap arena {d['arena_index']} ({c.address(d['heap_arena'])})")
    if d["page"]:
        pg = d["page"]
        where.append(
            "page "
            + _yes(pg["allocated"], "allocated", "free")
            + (", scavenged" if pg["scavenged"] else "")
        )
    out.append(kv(c.address(d["addr"]), "; ".join(where) or "not in the Go heap", 14))
    s = d["span"]
    if s:
        size = f"{s['npages']} page{'s' if s['npages'] != 1 else ''}"
        if s["state"] == "in use":
            what = (
                f"in use, {s['kind']}, class {_klass(s['sizeclass'], s['noscan'])}, "
                f"{s['nelems']} x {s['elemsize']} B, {s['allocated']} allocated, {s['sweep']}"
            )
        else:
            what = f"{s['state']}, {s['kind']}" + (
                f", {s['elemsize']} B slots, {_manual_use(s)}" if s["elemsize"] else ""
            )
        out.append(
            kv("  span", f"{c.address(s['base'])}-{c.address(s['end'])}  {size}  {what}", 14)
        )
        out.append(kv("  mspan", c.address(s["mspan"]), 14))
    o = d["object"]
    if o:
        state = ""
        if s and s["state"] == "in use":
            state = (
                ": "
                + _yes(o["allocated"], "allocated", "free")
                + ", "
                + _yes(o["marked"], "marked", "not marked")
            )
            if o["allocated"] and not o["marked"]:
                state += c.hint(
                    " (mark bits are the last GC's: an object allocated since then is not "
                    "marked until the next GC; it is garbage only if the last GC left it "
                    "unmarked in an unswept span)"
                )
        slot = "object" if s and s["state"] == "in use" else "slot"
        out.append(
            kv(
                f"  {slot}",
                f"#{o['index']} at {c.address(o['base'])} (+{o['offset']} of {o['size']} B){state}",
                14,
            )
        )
    out += [c.warn(f"note: {n}") for n in d["notes"]]
    return "\n".join(out)


# ----------------------------------------------------------------------------- mcentral


def _configure_class(p: argparse.ArgumentParser) -> None:
    _class_option(p, "only size class N (both its scan and noscan span classes)")


@command(
    "mcentral",
    "spanSets per span class (partial/full x swept/unswept), homes check",
    _configure_class,
)
def run_mcentral(proc: GoProcess, args: argparse.Namespace) -> MCentralDoc:
    return heapdocs.mcentral_doc(proc, args.sizeclass)


@run_mcentral.renderer
def render_mcentral(d: MCentralDoc, args: argparse.Namespace) -> str:
    si = d["swept_index"]
    out = [
        c.title(f"mcentral (sweepgen {d['sweepgen']}: swept sets are partial[{si}] and full[{si}])")
    ]
    rows = []
    for cl in d["classes"]:
        cells = [
            str(cl["spanclass"]),
            _klass(cl["sizeclass"], cl["noscan"]),
            str(cl["elemsize"] if cl["sizeclass"] else "-"),
        ]
        for name in SPAN_SET_NAMES:
            ss = cl[name]
            cell = str(ss["count"])
            if ss["error"]:
                cell += c.error(" !")
            cells.append(cell)
        rows.append(cells)
    if rows:
        out += table(
            [
                "SPC",
                "CLASS",
                "SIZE",
                "PARTIAL/SWEPT",
                "PARTIAL/UNSWEPT",
                "FULL/SWEPT",
                "FULL/UNSWEPT",
            ],
            rows,
            {0, 1, 2, 3, 4, 5, 6},
        )
    else:
        out.append("all spanSets are empty")
    ch = d["check"]
    out.append(
        f"Homes: {ch['spans_checked']} in-use spans, {ch['in_span_sets']} in exactly one spanSet, "
        f"{ch['in_mcaches']} in a P's mcache; "
        + (
            c.name("no violations")
            if not ch["violations"]
            else c.error(f"{len(ch['violations'])} violation(s)")
        )
    )
    out += [c.error(f"  {v}") for v in ch["violations"]]
    out += [c.hint(f"  {v}") for v in ch["stale_entries"]]
    out += trailer(d)
    return "\n".join(out)


# ----------------------------------------------------------------------------- mcache


@command("mcache", "each P's cached spans, tiny block, next profile sample, stack cache")
def run_mcache(proc: GoProcess, args: argparse.Namespace) -> MCacheDoc:
    return heapdocs.mcache_doc(proc)


@run_mcache.renderer
def render_mcache(d: MCacheDoc, args: argparse.Namespace) -> str:
    out = []
    for p in d["ps"]:
        out.append(c.title(f"P{p['p']} ({p['status']})") + f"  mcache {c.address(p['mcache'])}")
        if not p["mcache"]:
            continue
        tiny = c.address(p["tiny"]) if p["tiny"] else "none"
        out.append(
            kv(
                "  tiny",
                f"{tiny}, offset {p['tinyoffset']}, {p['tiny_allocs']} tiny "
                "allocation(s) not yet flushed",
            )
        )
        rate = f" (MemProfileRate {p['mem_prof_rate']})" if p["mem_prof_rate"] is not None else ""
        out.append(kv("  sample", f"next heap-profile sample after {p['next_sample']} B{rate}"))
        if p["flush_needed"]:
            out.append(
                kv(
                    "  flush",
                    c.warn(
                        f"flushGen {p['flush_gen']} != sweepgen "
                        f"{d['sweepgen']}: flushed before next use"
                    ),
                )
            )
        if not p["spans"]:
            out.append(kv("  spans", "none cached"))
        for i, s in enumerate(p["spans"]):
            text = (
                f"class {_klass(s['sizeclass'], s['noscan'])} ({s.get('elemsize', '?')} B): span "
                f"{c.address(s.get('base'))} {s.get('alloc_count')}/{s.get('nelems')} used, "
                f"{s.get('allocated_since_cached')} since cached, {s.get('sweep')}"
            )
            out.append(kv("  spans" if i == 0 else "", text))
        stacks = [
            f"order {x['order']}: {human_bytes(x['bytes'])}" for x in p["stackcache"] if x["bytes"]
        ]
        out.append(kv("  stacks", ", ".join(stacks) if stacks else "cache empty"))
        if p["reusable_noscan"]:
            out.append(
                kv(
                    "  reusable",
                    f"{len(p['reusable_noscan'])} class(es) with freed objects ready for reuse",
                )
            )
    out += trailer(d)
    return "\n".join(out)


# ----------------------------------------------------------------------------- spanlists


def _configure_lists(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="also print the empty lists")


@command(
    "spanlists",
    "mspan linked lists: stack pools, large stacks, GC work buffers, arenas",
    _configure_lists,
)
def run_spanlists(proc: GoProcess, args: argparse.Namespace) -> SpanListsDoc:
    return heapdocs.spanlists_doc(proc)


@run_spanlists.renderer
def render_spanlists(d: SpanListsDoc, args: argparse.Namespace) -> str:
    out = []
    empty = []
    for lst in d["lists"]:
        if not lst["count"] and not lst["error"] and not getattr(args, "all", False):
            empty.append(lst["name"])
            continue
        head = (
            f"{c.title(lst['name'])}  {lst['count']} span(s), {lst['pages']} pages "
            f"({human_bytes(lst['bytes'])})"
        )
        out.append(head)
        for s in lst["spans"]:
            line = f"  {c.address(s['base'])}  {s['npages']:>4} pages  {s['state']}"
            if s["elemsize"]:
                line += f", {human_bytes(s['elemsize'])} slots, {s['alloc_count']} in use"
            if s["free_stacks"] is not None:
                line += f", {s['free_stacks']} free"
            out.append(line + f"  {c.hint('mspan ' + s['mspan'])}")
        if lst["error"]:
            out.append(c.error(f"  error: {lst['error']}"))
    if empty:
        stack_large = [n for n in empty if n.startswith("stackLarge")]
        rest = [n for n in empty if not n.startswith("stackLarge")]
        if stack_large:
            rest.append(f"stackLarge.free[*] ({len(stack_large)} lists)")
        out.append(c.hint("empty: " + ", ".join(rest)))
    out += [c.warn(f"note: {n}") for n in d.get("notes", [])]
    return "\n".join(out)


# ----------------------------------------------------------------------------- memstats


def _configure_memstats(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gc",
        dest="ngc",
        type=address_arg,
        default=10,
        metavar="N",
        help="GC cycles to list (default 10; the runtime keeps 256)",
    )


@command(
    "memstats",
    "MemStats beside what the span walk counts, and the last GC pauses",
    _configure_memstats,
)
def run_memstats(proc: GoProcess, args: argparse.Namespace) -> MemStatsDoc:
    return heapdocs.memstats_doc(proc, args.ngc)


def _ns(ns: int) -> str:
    if ns < 1000:
        return f"{ns} ns"
    if ns < 1_000_000:
        return f"{ns / 1000:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


@run_memstats.renderer
def render_memstats(d: MemStatsDoc, args: argparse.Namespace) -> str:
    out = [
        c.title("MemStats")
        + c.hint("  (as runtime.ReadMemStats would report at the stop) beside the heap structures")
    ]
    rows = []
    explain = []
    for r in d["comparison"]:
        diff = r["difference"]
        if diff is None:
            mark = "?"
        elif diff == 0:
            mark = c.name("=")
        else:
            mark = c.warn(f"{diff:+d}")
        counters = "" if r["counters"] == r["readmemstats"] else str(r["counters"])
        walk = "-" if r["span_walk"] is None else str(r["span_walk"])
        rows.append([r["field"], str(r["readmemstats"]), counters, walk, mark])
        explain.append(f"  {r['field']}: {r['explanation']}")
    out += table(["FIELD", "READMEMSTATS", "COUNTERS NOW", "SPAN WALK", "DIFF"], rows, {1, 2, 3, 4})
    out.append(
        c.hint(
            "(COUNTERS NOW is shown where it differs: the runtime's counters before "
            "the mcache flush ReadMemStats does)"
        )
    )
    out += [c.hint(e) for e in explain]
    compared = {r["field"] for r in d["comparison"]}
    ms: Mapping[str, object] = d["memstats"]
    other = [k for k in ms if k not in compared and k not in ("last_gc_time",)]
    out.append(c.title("Other fields"))
    for k in other:
        out.append(kv(f"  {k}", f"{c.number(ms[k]):>22}", 14))
    g = d["gc"]
    out.append(
        c.title("GC history") + f"  NumGC {g['num_gc']} ({g['num_forced_gc']} forced), "
        f"PauseTotalNs {g['pause_total_ns']}, LastGC {g['last_gc_time'] or 'never'}"
    )
    for cy in g["cycles"]:
        out.append(
            f"  #{cy['cycle']:<5} ended {cy['end_time'] or '-'}  pause {_ns(cy['pause_ns'])}"
        )
    if not g["cycles"]:
        out.append("  no GC cycle has completed")
    out += clock_lines(d.get("gc_epoch"), d.get("crash_time"), "Stopped at")
    out += trailer(d)
    return "\n".join(out)
