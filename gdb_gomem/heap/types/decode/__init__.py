"""Per-kind decoders of the type pass: what a pointer-bearing word says about the heap.

Each module decodes one kind of slot a scan plan names (:class:`..plans.Slot`): plain
pointers and arrays (:mod:`.pointers`), strings and slices (:mod:`.sequences`), interfaces
and the one-value dispatcher (:mod:`.slots`), maps (:mod:`.maps`), channels (:mod:`.chans`),
func values (:mod:`.closures`) and the ``sync`` package's untyped links (:mod:`.synctypes`).
Bulk forms take a whole batch's words at once; the rare kinds decode one value at a time.
All type objects through :meth:`..typepass.TypePass.assign` and queue what they find.
"""
