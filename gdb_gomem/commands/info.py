"""``gomem info``: the target at a glance (the document: :mod:`gdb_gomem.reports.info`)."""

from __future__ import annotations

import argparse

from gdb_gomem.base.fmt import unix_ns_to_iso
from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import human_bytes, kv
from gdb_gomem.commands.registry import command
from gdb_gomem.reports.info import collect_info
from gdb_gomem.reports.schema.info import CrashTimeDoc, GcEpochDoc, InfoDoc
from gdb_gomem.target.process import GoProcess

_BYTES = {
    "HeapAlloc",
    "HeapInuse",
    "HeapSys",
    "HeapIdle",
    "HeapReleased",
    "TotalAlloc",
    "StackInuse",
    "Sys",
}


def _span(ns: int) -> str:
    a = abs(ns)
    if a < 1_000_000:
        return f"{a / 1e3:.1f} µs"
    if a < 1_000_000_000:
        return f"{a / 1e6:.1f} ms"
    if a < 120_000_000_000:
        return f"{a / 1e9:.2f} s"
    return f"{a / 60e9:.1f} min"


def clock_lines(ep: GcEpochDoc | None, ct: CrashTimeDoc | None, label: str) -> list[str]:
    """The "GC epoch" line and the stop-time line (``label``) with its precision note."""
    out: list[str] = []
    est = ct["unix_ns"] if ct else None
    if ep is not None:
        last = ep["last_gc_time"]
        text = f"{c.number(ep['num_gc'])} cycle(s), "
        if last and ep["last_gc_unix_ns"]:
            text += f"last ended {last}"
            if est is not None and est >= ep["last_gc_unix_ns"]:
                text += c.hint(f" ({_span(est - ep['last_gc_unix_ns'])} before the stop)")
        else:
            text += "none completed"
        text += f", phase {ep['gc_phase']}"
        out.append(kv("GC epoch", text))
    if ct is None:
        return out
    if est is None:
        out.append(kv(label, "unknown" + c.hint(f"  (latest clock: {ct['source'] or 'none'})")))
    else:
        lo, hi = ct["lo_unix_ns"], ct["hi_unix_ns"]
        when = c.name(ct["time"])
        bounds = [f"the runtime's last clock: {ct['source']}"]
        if lo is not None and lo == est:
            when += " or later"
        elif lo is not None:
            bounds.append(f"no earlier than {unix_ns_to_iso(lo)}")
        bounds.append(f"no later than {unix_ns_to_iso(hi)}" if hi else "no upper bound")
        out.append(kv(label, f"{when}  " + c.hint(f"({'; '.join(bounds)})")))
    if ct["notes"]:
        out.append(c.hint(f"  {ct['notes'][0]}"))
    return out


@command("info", "Go version, build, threads, crash signal and goroutine, heap, MemStats")
def run(proc: GoProcess, args: argparse.Namespace) -> InfoDoc:
    return collect_info(proc)


@run.renderer
def render(d: InfoDoc, args: argparse.Namespace) -> str:
    out: list[str] = []
    b = d["build"]
    out.append(
        kv(
            "Go program",
            f"{c.name(d['target']['binary'])}  ({c.title(d['go_version'])}, linux/{d['goarch']})",
        )
    )
    if b["main_module"] or b["path"]:
        out.append(kv("  module", f"{b['main_module'] or b['path']} {b['main_version']}".rstrip()))
    settings = " ".join(f"{k}={v}" for k, v in b["settings"].items() if k != "DefaultGODEBUG")
    if settings:
        out.append(kv("  build", settings))
    t = d["target"]
    out.append(kv("Target", f"{t['kind']}  {t['name']}"))
    cr = d["crash"]
    if cr:
        where = f"thread {cr['thread']}"
        if cr["m"] is not None:
            where += f" (M{cr['m']})"
        g = cr["goroutine"]
        gtxt = f"goroutine {c.number(g)}" if g is not None else "no goroutine (g0 or idle)"
        extra = f", fault address {c.address(cr['fault_addr'])}" if cr["fault_addr"] else ""
        out.append(kv("Crashed", f"{c.error(cr['signal'])} on {where} running {gtxt}{extra}"))
        w = cr.get("where")
        if w:
            out.append(kv("  in", f"{c.name(w['func'])} ({w['file']}:{w['line']})"))
    else:
        sig = d["stopped"]["signal"] or "no signal"
        out.append(kv("Stopped", f"not a crash ({sig})"))
    out += clock_lines(d.get("gc_epoch"), d.get("crash_time"), "Crash time" if cr else "Stopped at")
    out.append(kv("Threads", f"{c.number(d['threads'])} OS threads, {d['ms']} Ms"))
    h = d.get("heap")
    if h and h["arenas"]:
        out.append(
            kv(
                "Heap",
                f"{h['arenas']} arena(s) x {human_bytes(h['arena_bytes'])}  "
                f"{c.address(h['start'])}-{c.address(h['end'])}",
            )
        )
    ms = d.get("memstats")
    if ms:
        note = c.hint("  (as runtime.ReadMemStats would report at the stop)")
        out.append(c.title("MemStats") + note)
        for k, v in ms.items():
            if k in ("last_gc_time", "LastGC"):
                continue
            if k in _BYTES and isinstance(v, int):
                val = f"{c.number(human_bytes(v)):>12}  {c.hint(f'({v} B)')}"
            else:
                val = f"{c.number(v):>12}"
            out.append(kv("  " + k, val, 14))
        last = ms.get("last_gc_time") or "never"
        out.append(kv("  LastGC", f"{last}", 14))
    for n in d.get("notes", []):
        out.append(c.warn(f"note: {n}"))
    return "\n".join(out)
