"""Documents of ``gomem path``, ``top`` and ``suspects``: what keeps memory alive.

The analysis (root paths, the dominator tree, the suspects) is :mod:`gdb_gomem.heap.retention`;
this module spells its results as the JSON contract (addresses as hex strings).
"""

from __future__ import annotations

from gdb_gomem.base.fmt import hexaddr
from gdb_gomem.heap.retention import (
    RootPath,
    RootRef,
    Suspect,
    find_root_paths,
    find_suspects,
    top_objects,
    top_types,
)
from gdb_gomem.reports.schema.retention import (
    PathDoc,
    PathRootDoc,
    PathStepDoc,
    RootPathDoc,
    RootPathsDoc,
    RootRefDoc,
    SuspectDoc,
    SuspectRootDoc,
    SuspectsDoc,
    TopObjectsDoc,
    TopTypesDoc,
)
from gdb_gomem.target.process import GoProcess

# ----------------------------------------------------------------------------- path


def _root_doc(r: RootRef | None) -> RootRefDoc | None:
    if r is None:
        return None
    return {"kind": r.kind, "name": r.name, "goroutine": r.goroutine}


def _path_root_doc(r: RootRef | None) -> PathRootDoc | None:
    if r is None:
        return None
    return {"kind": r.kind, "name": r.name, "goroutine": r.goroutine, "holder": hexaddr(r.holder)}


def _root_path_doc(p: RootPath) -> RootPathDoc:
    steps: list[PathStepDoc] = [
        {"addr": hexaddr(s.addr), "type": s.type, "size": s.size, "via": s.via} for s in p.steps
    ]
    return {"root": _path_root_doc(p.root), "other_roots": p.other_roots, "steps": steps}


def root_paths(proc: GoProcess, addr: int, max_paths: int = 1) -> RootPathsDoc:
    """Shortest chains from named roots to the object containing ``addr``."""
    rp = find_root_paths(proc, addr, max_paths)
    if rp.target is None:
        return {
            "addr": hexaddr(addr),
            "object": None,
            "paths": [],
            "error": "the address is not inside an allocated heap object",
        }
    paths = [_root_path_doc(p) for p in rp.paths]
    t = rp.target
    return {
        "addr": hexaddr(addr),
        "object": {"addr": hexaddr(t.addr), "type": t.type, "size": t.size, "live": t.live},
        "paths": paths,
        "error": None if paths else "no root reaches this object: it is garbage",
    }


def path_doc(proc: GoProcess, addr: int, max_paths: int = 1) -> PathDoc:
    """``gomem path``: :func:`root_paths`, with the first path's root and steps at top level."""
    d = root_paths(proc, addr, max_paths)
    first = d["paths"][0] if d["paths"] else None
    return {
        "root": first["root"] if first else None,
        "steps": first["steps"] if first else [],
        **d,
    }


def _path_steps(proc: GoProcess, addr: int | None) -> list[PathStepDoc]:
    """The steps of the shortest root path to ``addr`` (none for None or garbage)."""
    if addr is None:
        return []
    p = root_paths(proc, addr, 1)
    return p["paths"][0]["steps"] if p["paths"] else []


# ----------------------------------------------------------------------------- top


def top_retainers(
    proc: GoProcess, n: int = 20, by_type: bool = False
) -> TopObjectsDoc | TopTypesDoc:
    """The biggest retainers: objects (or types) by retained size, with the root holding each."""
    if by_type:
        tt = top_types(proc, n)
        return {
            "by": "type",
            "rows": [
                {"type": r.type, "count": r.count, "shallow": r.shallow, "retained": r.retained}
                for r in tt.rows
            ],
            "live_bytes": tt.live_bytes,
            "note": "retained per type sums the objects whose immediate dominator is of "
            "another type (a chain of one type counts at its head)",
        }
    to = top_objects(proc, n)
    return {
        "by": "object",
        "rows": [
            {
                "addr": hexaddr(r.addr),
                "type": r.type,
                "shallow": r.shallow,
                "retained": r.retained,
                "share": r.share,
                "root": _root_doc(r.root),
            }
            for r in to.rows
        ],
        "live_bytes": to.live_bytes,
        "roots": [{"root": k, "retained": v} for k, v in to.roots],
    }


# ----------------------------------------------------------------------------- suspects


def _suspect_doc(proc: GoProcess, s: Suspect) -> SuspectDoc:
    """One suspect; each kind keeps the key order it has always printed with."""
    root = _root_doc(s.root)
    path = _path_steps(proc, s.path_to)
    addr = hexaddr(s.addr) if s.addr is not None else None
    if s.kind == "big retainer" and addr is not None:
        return {
            "kind": s.kind,
            "type": s.type,
            "addr": addr,
            "bytes": s.bytes,
            "detail": s.detail,
            "root": root,
            "path": path,
        }
    if s.kind == "pinned array" and addr is not None:
        return {
            "kind": s.kind,
            "type": s.type,
            "addr": addr,
            "bytes": s.bytes,
            "root": root,
            "detail": s.detail,
            "path": path,
        }
    if s.count is None:
        return {
            "kind": s.kind,
            "type": s.type,
            "bytes": s.bytes,
            "root": root,
            "path": path,
            "detail": s.detail,
        }
    if addr is None:  # goroutine group, finalizers
        return {
            "kind": s.kind,
            "type": s.type,
            "count": s.count,
            "bytes": s.bytes,
            "root": root,
            "path": path,
            "detail": s.detail,
        }
    if s.kind == "many objects":
        return {
            "kind": s.kind,
            "type": s.type,
            "count": s.count,
            "bytes": s.bytes,
            "addr": addr,
            "detail": s.detail,
            "root": root,
            "path": path,
        }
    return {  # big map, timers
        "kind": s.kind,
        "type": s.type,
        "count": s.count,
        "bytes": s.bytes,
        "addr": addr,
        "root": root,
        "detail": s.detail,
        "path": path,
    }


def _by_root(docs: list[SuspectDoc]) -> list[SuspectRootDoc]:
    """The suspects grouped by their root (a goroutine group by its place), ranked by bytes."""
    groups: dict[str, SuspectRootDoc] = {}
    for i, s in enumerate(docs):
        r = s.get("root")
        if r:
            key = f"{r['kind']} {r['name']}"
        else:
            key = f"{s['kind']}: {s['type']}" if s.get("type") else s["kind"]
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"root": r, "what": key, "bytes": 0, "kinds": [], "findings": []}
        g["bytes"] = max(g["bytes"], int(s.get("bytes") or 0))
        if s["kind"] not in g["kinds"]:
            g["kinds"].append(s["kind"])
        g["findings"].append(i)
    return sorted(groups.values(), key=lambda g: (-g["bytes"], g["what"]))


def suspects(proc: GoProcess) -> SuspectsDoc:
    """MAT-style leak suspects, each with the path that explains it, and one entry per root
    ranked by what it costs."""
    found = find_suspects(proc)
    docs = [_suspect_doc(proc, s) for s in found.suspects]
    return {"suspects": docs, "live_bytes": found.live_bytes, "by_root": _by_root(docs)}
