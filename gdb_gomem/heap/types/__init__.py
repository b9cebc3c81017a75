"""A type for every heap object: the type pass (malloc headers, finalizers, DWARF-typed
values followed from the globals and stacks, inferred shapes for the rest).

:mod:`.infer` runs the pass and is what other modules import (``heap_types``, ``HeapTypes``,
``SRC_*``). The result's shape is :mod:`.table`; the sources are :mod:`.headers`,
:mod:`.finalizers`, :mod:`.propagate` (with :mod:`.queue`, :mod:`.plans`, :mod:`.chase`
and the per-kind :mod:`.decode` package) and :mod:`.signatures`; :mod:`.typepass` holds
the state they share, :mod:`.gather` and :mod:`.naming` the word reads and type names.
"""
