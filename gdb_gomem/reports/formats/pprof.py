"""``gomem report --format pprof``: the report's objects in use per (type, allocation stack) as
a gzipped ``profile.proto`` (github.com/google/pprof/proto/profile.proto), for ``go tool pprof``.

Written by a small protobuf encoder of its own (varints and length-delimited fields, packed
repeated scalars), standard library only.

The profile's shape:

- sample types ``inuse_objects``/``count`` and ``inuse_space``/``bytes``, as Go's heap profile
  names them; the default is ``inuse_space``.
- One sample per row of ``doc["alloc_stacks"]``, values ``[count, bytes]``, with a string label
  ``type`` = the type name. The values are **exact**: every object in use at the stop
  (allocated and not freed by a sweep, reachable or not), counted by a walk of the heap, not
  estimated from the profiler's samples. Only the stacks come from the heap profiler: an object
  has the stack of its sample when it was sampled.
- A sample's stack, leaf first: a synthetic location whose function is named ``type T`` (so
  ``pprof -top`` lists types: each sample's flat value is on its type), then the allocation
  frames innermost first (``runtime.mallocgc`` or the function that called it ...
  ``runtime.goexit``, as the profiler recorded them); a row that was not
  sampled has the single frame ``(not sampled)`` instead.
- Locations: one per distinct frame (pc, function, file, line), ``address`` the frame's pc
  (each with one line; inlined calls are separate frames as the report lists them, with the
  pcs the runtime reports for them); a frame outside Go code (no function) is a location with
  its address and no line. Functions are deduplicated by (name, file). The synthetic locations
  (types, ``(not sampled)``, root chains) have address 0 and a function without a file.
- One mapping, the executable (its path, with ``has_functions``/``has_filenames``/
  ``has_line_numbers``/``has_inline_frames`` set because every location is already
  symbolized; its address range is only the span of the frames' pcs, the report does not
  record the text segment's). The synthetic locations are outside it (mapping 0).
- ``period_type`` space/bytes and ``period`` = ``runtime.MemProfileRate`` at the stop (as Go's
  heap profile sets it): 1 when every allocation made under that rate was sampled, 0 when it
  is unknown or the profiler was off. The report has no field for it: the caller passes it
  (``mem_profile_rate=``), else it is read from the report's text (the window section's
  "heap profile: rate N" source, the "MemProfileRate is N" note). pprof does not scale by it,
  and neither should a reader here: it only tells how the stacks were sampled (a comment says
  so and where the rate came from).
- ``time_nanos``: the crash time estimate (``info.crash_time``), when there is one.
- Comments: the gdb-gomem version, the target, what the values mean, the sampled share, the
  period's source, the report's notes and errors (``pprof -comments`` prints them).

Root chains (``root_chains=True``): a suspect of ``doc["suspects"]`` with a root path explains
what keeps memory alive from a root (a global, a goroutine's stack slot, ...) down to the
suspect's object. For every sample whose type is a suspect's ``type`` (the first such suspect
with a path, most bytes first), the path's steps are appended to the stack after the
allocation frames, as synthetic frames ``<via> -> <type>`` from the object up to the root: the
outermost frame is the root's, ``root <root via> -> <first object's type>``. A flame graph then
reads root -> chain -> allocation stack -> type, and the sample gets a second label ``root``
(``<kind> <name>`` of the suspect's root, e.g. ``global main.cache``: ``-tagfocus=root=...``).
Beware what this is not: the chain is attached per type, not per object, so every in-use object
of that type gets it, also those the path does not hold; and the path ends at the suspect's
object, which for some kinds of suspect (e.g. "many objects") is the object the suspect's
objects are held under, not one of them.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable

from gdb_gomem.reports.schema.report import AllocStackRow, ReportDoc
from gdb_gomem.reports.schema.retention import PathStepDoc

#: The function of a row without a sampled stack.
NOT_SAMPLED = "(not sampled)"
#: The prefix of a type's synthetic leaf function.
TYPE_PREFIX = "type "

_U64 = (1 << 64) - 1

# --------------------------------------------------------------------------- protobuf wire


def _varint(v: int) -> bytes:
    v &= _U64  # int64: negative numbers are 10-byte two's complement varints
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, v: int) -> bytes:
    """A varint field (proto3: a zero is left out)."""
    return _tag(field, 0) + _varint(v) if v else b""


def _bool(field: int, v: bool) -> bytes:
    return _int(field, 1 if v else 0)


def _len(field: int, data: bytes) -> bytes:
    """A length-delimited field: a message, a string, a packed run."""
    return _tag(field, 2) + _varint(len(data)) + data


def _packed(field: int, values: Iterable[int]) -> bytes:
    data = b"".join(_varint(v) for v in values)
    return _len(field, data) if data else b""


# --------------------------------------------------------------------------- profile


class _Builder:
    """The tables of one profile: strings, functions, locations, samples."""

    def __init__(self) -> None:
        self.strings: dict[str, int] = {"": 0}
        self.functions: dict[tuple[str, str], int] = {}
        self.function_msgs: list[bytes] = []
        self.locations: dict[tuple[int, str, str, int], int] = {}
        self.location_msgs: list[tuple[int, int, bytes]] = []  # id, address, body sans mapping
        self.sample_msgs: list[bytes] = []

    def s(self, text: str) -> int:
        i = self.strings.get(text)
        if i is None:
            i = self.strings[text] = len(self.strings)
        return i

    def function(self, name: str, file: str, synthetic: bool) -> int:
        fid = self.functions.get((name, file))
        if fid is None:
            fid = self.functions[(name, file)] = len(self.functions) + 1
            # A Go function's system name is its name, as runtime/pprof writes it; a synthetic
            # one has none, so pprof takes its name as already demangled and leaves it be (its
            # C++ heuristics would cut "<...>" and "(...)" out of a type's name).
            system = "" if synthetic else name
            self.function_msgs.append(
                _int(1, fid)
                + _int(2, self.s(name))
                + _int(3, self.s(system))
                + _int(4, self.s(file))
            )
        return fid

    def location(
        self, address: int, func: str, file: str, line: int, synthetic: bool = False
    ) -> int:
        key = (address, func, file, line)
        lid = self.locations.get(key)
        if lid is None:
            lid = self.locations[key] = len(self.locations) + 1
            body = b""
            if func:
                body = _len(4, _int(1, self.function(func, file, synthetic)) + _int(2, line))
            self.location_msgs.append((lid, address, body))
        return lid

    def synthetic(self, name: str) -> int:
        return self.location(0, name, "", 0, synthetic=True)

    def sample(self, locs: list[int], values: list[int], labels: dict[str, str]) -> None:
        msg = _packed(1, locs) + _packed(2, values)
        for k, v in labels.items():
            msg += _len(3, _int(1, self.s(k)) + _int(2, self.s(v)))
        self.sample_msgs.append(msg)


def _frame_locations(b: _Builder, row: AllocStackRow) -> list[int]:
    if row["frames"] is None:
        return [b.synthetic(NOT_SAMPLED)]
    return [
        b.location(int(f["pc"], 16), f.get("func", ""), f.get("file", ""), f.get("line", 0))
        for f in row["frames"]
    ]


def _chain_names(steps: list[PathStepDoc]) -> list[str]:
    """The root chain's frames, innermost (the path's last object) first, the root last."""
    names = [
        f"{'root ' if i == 0 else ''}{st['via']} -> {st['type']}" for i, st in enumerate(steps)
    ]
    return names[::-1]


def _chains(doc: ReportDoc) -> dict[str, tuple[list[str], str]]:
    """type -> (its chain's frame names, the root) for the suspects with a root path."""
    out: dict[str, tuple[list[str], str]] = {}
    for s in (doc["suspects"] or {"suspects": []})["suspects"]:
        if s["type"] and s["path"] and s["type"] not in out:
            root = s["root"]
            where = f"{root['kind']} {root['name']}" if root else s["path"][0]["via"]
            out[s["type"]] = (_chain_names(s["path"]), where)
    return out


_RATE_PATTERNS = (
    (re.compile(r"heap profile: rate (\d+)"), "the window section's sources"),
    (re.compile(r"heap profile: off \(MemProfileRate (0)\)"), "the window section's sources"),
    (re.compile(r"MemProfileRate is (\d+)"), "the report's notes"),
)


def _mem_profile_rate(doc: ReportDoc) -> tuple[int | None, str]:
    """MemProfileRate as the report's text states it (it has no field of its own), and where."""
    window = doc["window"]
    texts = [*(window["sources"] if window else []), *doc["notes"]]
    for text in texts:
        if "disabled by the linker" in text or "profiler is not linked" in text:
            return 0, "the heap profiler is not linked"
        for pat, where in _RATE_PATTERNS:
            m = pat.search(text)
            if m:
                return int(m.group(1)), where
    return None, ""


def encode_profile(
    doc: ReportDoc, *, root_chains: bool = False, mem_profile_rate: int | None = None
) -> bytes:
    """The report's ``alloc_stacks`` as a gzipped pprof profile (see the module docstring).

    ``mem_profile_rate``: ``runtime.MemProfileRate`` at the stop when the caller has it (else
    it is read from the report's text), the profile's ``period``.
    """
    b = _Builder()
    for name in ("inuse_objects", "count", "inuse_space", "bytes", "space"):
        b.s(name)
    chains = _chains(doc) if root_chains else {}
    for row in doc["alloc_stacks"]:
        locs = [b.synthetic(TYPE_PREFIX + row["type"]), *_frame_locations(b, row)]
        labels = {"type": row["type"]}
        chain = chains.get(row["type"])
        if chain:
            locs += [b.synthetic(n) for n in chain[0]]
            labels["root"] = chain[1]
        b.sample(locs, [row["count"], row["bytes"]], labels)

    rate, where = (
        (mem_profile_rate, "given by the caller")
        if mem_profile_rate is not None
        else _mem_profile_rate(doc)
    )
    if rate is None:
        period = 0
        period_note = "period 0: MemProfileRate is unknown (the report does not state it)"
    else:
        period = max(rate, 0)
        period_note = (
            f"period {period}: runtime.MemProfileRate at the stop ({where}); "
            + (
                "every allocation made under it was sampled (not those made before it was set, "
                "e.g. the runtime's own before GODEBUG is read)"
                if period == 1
                else "no allocation was sampled"
                if period == 0
                else f"about one allocation per {period} bytes was sampled"
            )
            + "; the values are exact counts, not scaled by it"
        )

    comments = [
        f"gdb-gomem {doc['gomem_version']} report of {doc['target']} (binary {doc['binary']})",
        "inuse_objects/inuse_space: every object in use at the stop (allocated and not freed by "
        "a sweep, reachable or not), counted by a heap walk; the leaf frame 'type T' is the "
        "object's type; only the stacks are sampled",
        f"{doc['sampled_bytes_share']:.2%} of the in-use bytes have a sampled allocation stack; "
        f"the rest are under {NOT_SAMPLED!r}",
        period_note,
    ]
    if root_chains:
        comments.append(
            "root chains: a suspect's root path is appended above the allocation frames of "
            "every sample of the suspect's type (per type, not per object)"
        )
    comments += [f"note: {n}" for n in doc["notes"]]
    comments += [f"error: {e['section']}: {e['error']}" for e in doc["errors"]]
    comment_ids = [b.s(c) for c in comments]

    pcs = [a for _, a, _ in b.location_msgs if a]
    lo, hi = (min(pcs), max(pcs) + 1) if pcs else (0, 0)
    mapping = (
        _int(1, 1)
        + _int(2, lo)
        + _int(3, hi)
        + _int(5, b.s(doc["binary"]))
        + _bool(7, True)
        + _bool(8, True)
        + _bool(9, True)
        + _bool(10, True)
    )
    info = doc["info"]
    crash_time = info["crash_time"] if info else None
    crash_ns = crash_time["unix_ns"] if crash_time else None
    default_type = b.s("inuse_space")

    out = bytearray()
    out += _len(1, _int(1, b.s("inuse_objects")) + _int(2, b.s("count")))
    out += _len(1, _int(1, b.s("inuse_space")) + _int(2, b.s("bytes")))
    for msg in b.sample_msgs:
        out += _len(2, msg)
    out += _len(3, mapping)
    for lid, addr, body in b.location_msgs:
        out += _len(4, _int(1, lid) + _int(2, 1 if addr else 0) + _int(3, addr) + body)
    for msg in b.function_msgs:
        out += _len(5, msg)
    out += _int(9, crash_ns or 0)
    out += _len(11, _int(1, b.s("space")) + _int(2, b.s("bytes")))
    out += _int(12, period)
    out += _packed(13, comment_ids)
    out += _int(14, default_type)
    # Last, once every string is in (field order does not matter to a decoder).
    for text in b.strings:  # insertion order is index order
        out += _len(6, text.encode())
    return gzip.compress(bytes(out), mtime=0)
