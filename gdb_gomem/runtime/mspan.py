"""One ``mspan`` descriptor: its DWARF layout, its decoded record, its bitmaps, its checks.

The span walk (:mod:`~gdb_gomem.runtime.spans`), the span lists
(:mod:`~gdb_gomem.runtime.spanlists`) and the address lookup
(:mod:`~gdb_gomem.runtime.geometry`) all read descriptors through this module
(``runtime/mheap.go``, ``mbitmap.go``; identical in substance in Go 1.21-1.27):

- ``state``: ``mSpanDead`` (recycled, still in allspans), ``mSpanInUse`` (heap) or
  ``mSpanManual`` (stacks, GC work buffers, and in 1.22-1.23 unrolled GC-program bitmaps);
- slot ``i`` of an in-use span is allocated iff ``i < freeindex`` or ``allocBits[i]``;
- Green Tea GC (``runtime.spanInlineMarkBits`` in the DWARF, default from 1.26): spans of
  16..512-byte objects keep their mark bits inline at the end of their one page until sweep
  ORs them into ``gcmarkBits`` (``mspan.moveInlineMarks``).

Field offsets come from the binary's DWARF through the typed layer (:class:`MSpanLayout`);
many descriptors decode together as a numpy record array, never with a typed read per field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdb_gomem.symbols.dwarf import DwarfTables
from gdb_gomem.target.process import GoProcess
from gdb_gomem.target.typed import Layout

M64 = (1 << 64) - 1

STATE_NAMES = {0: "dead", 1: "in use", 2: "manual"}

#: The mspan fields the walk reads (all present in 1.21-1.27).
_FIELDS = (
    "next",
    "prev",
    "list",
    "startAddr",
    "npages",
    "manualFreeList",
    "freeindex",
    "nelems",
    "allocBits",
    "gcmarkBits",
    "pinnerBits",
    "sweepgen",
    "allocCount",
    "spanclass",
    "state.s",
    "needzero",
    "isUserArenaChunk",
    "allocCountBeforeCache",
    "elemsize",
    "limit",
    "specials",
)
#: Fields some versions lack: largeType appears in 1.22; freeIndexForScan is in all of them.
_OPTIONAL = ("largeType", "freeIndexForScan")


class SpanClassMixin:
    """``spanClass`` is ``sizeclass << 1 | noscan`` (runtime/mheap.go ``makeSpanClass``)."""

    spanclass: int

    @property
    def sizeclass(self) -> int:
        return self.spanclass >> 1

    @property
    def noscan(self) -> bool:
        return bool(self.spanclass & 1)


@dataclass(slots=True)
class SpanRecord(SpanClassMixin):
    """One mspan descriptor, decoded; walk-derived fields are filled after decoding."""

    addr: int  # the descriptor itself
    base: int
    npages: int
    end: int  # base + npages * pageSize
    state: int
    spanclass: int
    elemsize: int
    nelems: int
    freeindex: int
    alloc_count: int
    alloc_count_before_cache: int
    alloc_bits: int
    gcmark_bits: int
    pinner_bits: int
    sweepgen: int
    limit: int
    needzero: int
    user_arena: bool
    specials: int
    large_type: int
    next: int
    prev: int
    list: int
    manual_free_list: int
    freeindex_for_scan: int
    # Filled by the walk:
    kind: str = ""
    allocated: int | None = None  # recount from freeindex + allocBits
    inline_marks: int | None = None  # Green Tea: marks still held inline (None: not used)
    error: str | None = None

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, f"state {self.state}")

    @property
    def nbytes(self) -> int:
        return self.end - self.base


class MSpanLayout:
    """The mspan fields the walk reads (offsets and sizes from DWARF) and their decoder."""

    def __init__(self, dw: DwarfTables) -> None:
        self.lay = Layout(dw, "runtime.mspan", _FIELDS, _OPTIONAL)
        self.size = self.lay.size
        self.page_size = dw.constant("runtime.pageSize")

        # The same fields as one numpy record type, to decode thousands of descriptors at once.
        names = list(self.lay.fields)
        self.dtype = np.dtype(
            {
                "names": names,
                "formats": [
                    ("<i" if sg else "<u") + str(sz) for _o, sz, sg in self.lay.fields.values()
                ],
                "offsets": [o for o, _sz, _sg in self.lay.fields.values()],
                "itemsize": self.size,
            }
        )

    def decode(self, raw: bytes, addr: int) -> SpanRecord:
        return self.decode_many([raw], [addr])[0]

    def decode_many(self, raws: list[bytes], addrs: list[int]) -> list[SpanRecord]:
        """Decode descriptors (each ``size`` bytes) in one numpy pass over their fields."""
        if not raws:
            return []
        arr = np.frombuffer(b"".join(raws), dtype=self.dtype)
        n = len(raws)

        def col(name: str) -> list[int]:
            if name in self.lay.fields:
                return arr[name].tolist()
            return [0] * n

        base, npages = col("startAddr"), col("npages")
        page = self.page_size
        return [
            SpanRecord(
                addr=a,
                base=b,
                npages=np_,
                end=(b + np_ * page) & M64,
                state=st,
                spanclass=spc,
                elemsize=es,
                nelems=ne,
                freeindex=fi,
                alloc_count=ac,
                alloc_count_before_cache=acb,
                alloc_bits=ab,
                gcmark_bits=gb,
                pinner_bits=pb,
                sweepgen=sg,
                limit=lim,
                needzero=nz,
                user_arena=bool(ua),
                specials=sp,
                large_type=lt,
                next=nx,
                prev=pv,
                list=ls,
                manual_free_list=mf,
                freeindex_for_scan=fs,
            )
            for (
                a,
                b,
                np_,
                st,
                spc,
                es,
                ne,
                fi,
                ac,
                acb,
                ab,
                gb,
                pb,
                sg,
                lim,
                nz,
                ua,
                sp,
                lt,
                nx,
                pv,
                ls,
                mf,
                fs,
            ) in zip(
                addrs,
                base,
                npages,
                col("state.s"),
                col("spanclass"),
                col("elemsize"),
                col("nelems"),
                col("freeindex"),
                col("allocCount"),
                col("allocCountBeforeCache"),
                col("allocBits"),
                col("gcmarkBits"),
                col("pinnerBits"),
                col("sweepgen"),
                col("limit"),
                col("needzero"),
                col("isUserArenaChunk"),
                col("specials"),
                col("largeType"),
                col("next"),
                col("prev"),
                col("list"),
                col("manualFreeList"),
                col("freeIndexForScan"),
                strict=True,
            )
        ]


#: One layout per DWARF table (keyed by identity; the table is kept so the id stays unique).
_layouts: dict[int, tuple[DwarfTables, MSpanLayout]] = {}


def span_layout(dw: DwarfTables) -> MSpanLayout:
    hit = _layouts.get(id(dw))
    if hit is None or hit[0] is not dw:
        hit = _layouts[id(dw)] = (dw, MSpanLayout(dw))
    return hit[1]


def read_span(proc: GoProcess, addr: int) -> SpanRecord:
    """One descriptor (for lists and lookups; the walk reads them in bulk)."""
    lay = span_layout(proc.dw)
    return lay.decode(proc.mem.read(addr, lay.size), addr)


# ---------------------------------------------------------------------------- Green Tea


@dataclass(frozen=True)
class InlineMarks:
    """Where Green Tea keeps a small span's mark bits (``mgcmark_greenteagc.go``)."""

    size: int  # sizeof(spanInlineMarkBits), at base + pageSize - size
    marks_off: int
    marks_len: int
    class_off: int
    max_size: int  # gc.MinSizeForMallocHeader: heapBitsInSpan(size) is size <= this

    def used_by(self, elemsize: int) -> bool:
        """``gcUsesSpanInlineMarkBits``: heapBitsInSpan(size) && size >= 16."""
        return 16 <= elemsize <= self.max_size


def inline_marks_layout(dw: DwarfTables) -> InlineMarks | None:
    """The Green Tea inline mark layout, or None when this binary does not use Green Tea.

    Without the experiment the type is absent (1.25 default) or an empty struct.
    """
    t = dw.find("runtime.spanInlineMarkBits")
    if t is None or dw.resolve(t.id).size == 0:
        return None
    name = "runtime.spanInlineMarkBits"
    marks = dw.field(name, "marks")
    return InlineMarks(
        size=dw.size(name),
        marks_off=marks.offset,
        marks_len=dw.resolve(marks.type).count or 0,
        class_off=dw.offset(name, "class"),
        max_size=dw.constant(
            "internal/runtime/gc.MinSizeForMallocHeader",
            dw.constants.get("runtime.minSizeForMallocHeader"),
        ),
    )


# ---------------------------------------------------------------------------- bits


def bits_array(raw: bytes, nbits: int) -> np.ndarray:
    """A gcBits bitmap as booleans, object ``i`` = bit ``i % 8`` of byte ``i / 8``."""
    a = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    return a[:nbits].astype(bool)


def allocated_mask(span: SpanRecord, alloc_raw: bytes) -> np.ndarray:
    """Which slots of an in-use span hold an object now (``i < freeindex || allocBits[i]``)."""
    mask = bits_array(alloc_raw, span.nelems)
    mask[: min(span.freeindex, span.nelems)] = True
    return mask


def inline_mark_mask(im: InlineMarks, span: SpanRecord, imb_raw: bytes) -> np.ndarray:
    """The marks a Green Tea span still holds inline (the class byte is not a mark)."""
    return bits_array(imb_raw[im.marks_off : im.marks_off + im.marks_len], span.nelems)


def max_objs_per_span(dw: DwarfTables) -> int:
    """``maxObjsPerSpan`` (runtime up to 1.24, ``internal/runtime/gc`` from 1.25)."""
    for name in ("internal/runtime/gc.MaxObjsPerSpan", "runtime.maxObjsPerSpan"):
        if name in dw.constants:
            return dw.constants[name]
    return dw.constant("runtime.pageSize") // 8  # 8-byte objects in one page: the same 1024


def check_span(span: SpanRecord, page: int, max_objs: int) -> str | None:
    """Why a descriptor cannot be trusted, or None (lengths bound every later read)."""
    if span.state not in STATE_NAMES:
        return f"invalid state {span.state}"
    if span.state == 0:
        return None
    if span.npages == 0 or span.npages > (1 << 48) // page:
        return f"implausible npages {span.npages}"
    if span.base % page:
        return f"base {span.base:#x} is not page-aligned"
    if span.state != 1:
        return None
    nbytes = span.npages * page
    if span.elemsize == 0 or span.nelems == 0 or span.nelems * span.elemsize > nbytes:
        return (
            f"nelems {span.nelems} x elemsize {span.elemsize} does not fit its "
            f"{span.npages} page(s)"
        )
    if span.nelems > (1 if span.sizeclass == 0 else max_objs):
        return f"nelems {span.nelems} is more than a span of class {span.sizeclass} can hold"
    if span.freeindex > span.nelems:
        return f"freeindex {span.freeindex} > nelems {span.nelems}"
    if span.alloc_count > span.nelems:
        return f"allocCount {span.alloc_count} > nelems {span.nelems}"
    return None
