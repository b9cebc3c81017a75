"""The Go runtime's own heap structures, decoded per version from DWARF.

Arena geometry and the span walk (``spans``), span lists, the page allocator, mcentral's span
sets, per-P mcaches, MemStats as ReadMemStats computes it and its cross-check, runtime type
descriptors (``rtype``) and Go maps of every layout (``gomaps``).
"""
