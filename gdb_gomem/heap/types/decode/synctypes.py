"""The ``sync`` package's untyped links whose real type only memory tells.

``internal/sync.HashTrieMap`` (``sync.Map`` from Go 1.24) links its nodes as
``*node[K,V]``, but every node is really an ``entry[K,V]`` or an ``indirect[K,V]`` that
embeds ``node``; typing the object as ``node`` would lose everything past it. The node's
``isEntry`` byte says which (``internal/sync/hashtriemap.go``). The other ``sync`` types
whose fields lie about their type (``atomic.Pointer``, ``Pool``) are static: the scan plans
fix those (:meth:`..plans.Plans._hint`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.symbols.dwarf import GoType

if TYPE_CHECKING:
    from gdb_gomem.heap.types.typepass import TypePass


def trie_node(tp: TypePass, p: int, node: GoType) -> int:
    """``internal/sync.HashTrieMap`` (``sync.Map`` from 1.24) links ``*node[K,V]``; the
    object is an ``entry`` or an ``indirect`` that embeds it, told by ``node.isEntry``
    (``internal/sync/hashtriemap.go``). Instantiations may exist only as shapes."""
    try:
        off = next(f.offset for f in node.fields if f.name == "isEntry")
        is_entry = tp.mem.u8(p + off) != 0
    except (StopIteration, UnreadableMemory):
        return node.id
    args = node.name[len("internal/sync.node[") : -1]
    kind = "entry" if is_entry else "indirect"
    shaped = ",".join(
        a if a.startswith("go.shape.") else "go.shape." + a for a in split_type_args(args)
    )
    for cand in (f"internal/sync.{kind}[{args}]", f"internal/sync.{kind}[{shaped}]"):
        hit = tp.dw.by_name.get(cand)
        if hit is not None:
            return hit
    return node.id


def split_type_args(s: str) -> list[str]:
    """Type arguments ``A,B`` split at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur]
