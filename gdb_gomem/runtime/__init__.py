"""The Go runtime's own heap structures, decoded per version from DWARF.

One mspan descriptor (``mspan``), arena geometry and address -> span (``geometry``), the span
walk (``spans``), span lists, the page allocator, mcentral's span sets, per-P mcaches, MemStats
as ReadMemStats computes it and its cross-check, runtime type descriptors (``rtype``) and Go
maps of every layout (``gomaps``), the runtime's clocks (``clock``: the GC epoch and the crash
time estimate), the heap profiler's state (``memprof``) and the execution trace held in memory
(``exectrace/``).
"""
