"""Type names as Go prints them (``%T``, panics, reflect), from DWARF and runtime names.

The linker's DWARF names differ from what Go users read in three ways, undone here:

- package *paths* (``internal/abi.Type``, ``gomem.test/leaky/pkg.T``) where ``%T`` prints
  the package *name* (``abi.Type``, ``pkg.T``); :func:`package_of` keeps the path for
  ``histogram --by package``;
- runtime-internal instantiations with angle brackets (``cmd/link/internal/ld/dwarf.go``,
  ``synthesizemaptypes``/``synthesizechantypes``): ``hash<K,V>`` and ``map<K,V>`` are a map
  header, ``bucket<K,V>`` a classic bucket, ``table<K,V>`` a Swiss table, ``hchan<T>`` a
  channel, ``waitq<T>``/``sudog<T>`` its queues;
- the ``noalg.`` prefix of compiler-made types (``noalg.map.group[K]V``).

Conventions for heap objects that have no Go type of their own (documented in the README):

- a map header object is ``map[K]V``, a channel object ``chan T`` (what the variable's type
  says it points to); map internals use the runtime's own names: ``map.bucket[K]V``
  (classic), ``map.table[K]V`` and ``map.group[K]V`` (Swiss), ``[n]*map.table[K]V`` for a
  directory;
- an array allocation is ``[n]T`` (a slice's backing array, ``n`` = capacity; a channel
  buffer; a group array); a string's bytes are ``string data``;
- a closure object is ``closure F`` with ``F`` the function its code pointer enters, e.g.
  ``closure main.main.func1``;
- an object nothing typed is ``<unknown SIZE ptrmask 0b...>`` (scan objects, bit ``i`` =
  word ``i`` may hold a pointer, lowest word rightmost) or ``<unknown SIZE noscan>``.
"""

from __future__ import annotations

import re

_PATH = re.compile(r"(?:[A-Za-z0-9_.\-~]+/)+(?=[A-Za-z0-9_\-~]+\.)")
_ANGLE = re.compile(r"^(hash|map|bucket|table|hchan|waitq|sudog|groupReference)<(.*)>$")


def _split_top(s: str) -> list[str]:
    """Split ``K,V`` at top-level commas (keys may be ``func(a, b)`` or ``struct {...}``)."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in s:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def strip_paths(name: str) -> str:
    """``*internal/abi.Type`` -> ``*abi.Type``; ``map[string]*a/b/c.T`` -> ``map[string]*c.T``."""
    return _PATH.sub("", name)


def go_name(dwarf_name: str) -> str:
    """The Go spelling of a DWARF type name (see the module docstring)."""
    n = dwarf_name
    if n.startswith("noalg."):
        n = n[len("noalg.") :]
    m = _ANGLE.match(n)
    if m:
        kind, args = m.group(1), _split_top(m.group(2))
        args = [go_name(a.strip()) for a in args]
        if kind in ("hash", "map") and len(args) == 2:
            return f"map[{args[0]}]{args[1]}"
        if kind in ("bucket", "table") and len(args) == 2:
            return f"map.{kind}[{args[0]}]{args[1]}"
        if kind == "groupReference" and len(args) == 2:
            return f"map.groupReference[{args[0]}]{args[1]}"
        if kind == "hchan" and len(args) == 1:
            return f"chan {args[0]}"
        if kind in ("waitq", "sudog") and len(args) == 1:
            return f"runtime.{kind}[{args[0]}]"
    if n.startswith("*") and len(n) > 1:
        return "*" + go_name(n[1:])
    n = n.replace("noalg.", "").replace("go.shape.", "")
    return strip_paths(n)


def array_name(elem: str, n: int) -> str:
    """``[n]T``."""
    return f"[{n}]{elem}"


def package_of(dwarf_name: str) -> str:
    """The import path a named type belongs to (``main``, ``internal/abi``); ``""`` for
    unnamed and predeclared types. Composite names are attributed to their element type:
    ``[4]*main.T`` and ``map[string]*main.T`` belong to ``main`` (what ``--by package`` is
    for: whose data is it)."""
    n = dwarf_name
    if n.startswith("noalg."):
        n = n[len("noalg.") :]
    m = _ANGLE.match(n)
    if m:
        return package_of(_split_top(m.group(2))[-1].strip())
    n = n.lstrip("*")
    while n.startswith("["):
        close = n.find("]")
        if close < 0:
            return ""
        n = n[close + 1 :].lstrip("*")
    if n.startswith("map.") and "[" in n:  # map.bucket[K]V, map.group[K]V, map.table[K]V
        n = "map" + n[n.index("[") :]
    if n.startswith("map["):
        depth, i = 0, 3
        for i in range(3, len(n)):
            if n[i] == "[":
                depth += 1
            elif n[i] == "]":
                depth -= 1
                if depth == 0:
                    break
        return package_of(n[i + 1 :])
    if n.startswith("chan "):
        return package_of(n[5:])
    if n.startswith(("func", "struct", "interface")) or "." not in n:
        return ""
    head = n.split("[", 1)[0]  # generic instantiations: pkg.T[args]
    slash = head.rfind("/")
    dot = head.find(".", slash + 1)
    return head[:dot] if dot > 0 else ""
