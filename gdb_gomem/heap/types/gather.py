"""Words of the heap and the globals, gathered in bulk for the type pass.

The pass reads words scattered over the whole heap (pointer fields of millions of values)
and the data sections (globals), so it reads them from one :class:`HeapImage` covering both:
on a core that is the core file's mapping itself, on a live target one merged read. The
rare word the image lacks (a stack, a mapping outside both) is read from memory instead.

Random gathers map core pages all over the heap; the resident set would grow to the whole
core, although the page cache keeps those pages anyway. So every :data:`RELEASE_EVERY`
words the image's pages are handed back, and the batches release each stretch they sweep.
"""

from __future__ import annotations

import numpy as np

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.heap.objects import HeapImage, heap_image
from gdb_gomem.runtime.spans import cached_walk
from gdb_gomem.target.process import GoProcess

#: Words gathered from a core's mapping between two releases of its pages (see words()).
RELEASE_EVERY = 1 << 22


class WordGather:
    """Word gathers over the pass's image, with what it lacks read from memory."""

    def __init__(self, proc: GoProcess) -> None:
        self.mem = proc.mem
        self.image = pass_image(proc)
        self._gathered = 0  # words gathered since the image's pages were last released

    def words(self, addrs: np.ndarray) -> np.ndarray:
        """The word at each address (0 where unreadable), one gather over the image."""
        return self.words_multi(addrs, [0])[0]

    def words_multi(self, addrs: np.ndarray, offs: list[int]) -> np.ndarray:
        """Row k: the word at each ``addrs + offs[k]`` (0 where unreadable), every value's
        words gathered together; what the image lacks is read from memory."""
        if not len(addrs) or not offs:
            return np.zeros((len(offs), len(addrs)), dtype=np.uint64)
        self._gathered += len(addrs) * len(offs)
        if self._gathered > RELEASE_EVERY:
            # Random gathers map core pages all over the heap; hand them back now and then
            # so the resident set stays the tables (the page cache keeps the pages).
            self.image.release(0, 1 << 62)
            self._gathered = 0
        w, ok = self.image.words_multi(addrs, offs)  # a new array: fixed up in place
        if not ok.all():
            for k, j in zip(*np.nonzero(~ok), strict=True):
                try:
                    w[k, j] = self.mem.u64(int(addrs[j]) + offs[k])
                except UnreadableMemory:
                    w[k, j] = 0
        return w


def pass_image(proc: GoProcess) -> HeapImage:
    """Words of the heap and the writable data sections, for gathers (the core's mmap itself
    on a core; one merged read of spans and sections on a live target)."""
    walk = cached_walk(proc)
    # In-use spans hold the heap, manual spans the goroutine stacks (typed from their frames).
    regions = [(sp.base, sp.end) for sp in (*walk.in_use(), *walk.manual())]
    for name in (".data", ".bss", ".noptrdata", ".noptrbss"):
        sec = proc.binary.sections.get(name)
        if sec is not None and sec.size:
            # Word-aligned (the image is viewed as uint64); sections end inside their page.
            regions.append((sec.addr & ~7, (sec.addr + sec.size + 7) & ~7))
    return heap_image(proc, regions)
