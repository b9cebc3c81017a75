"""A type for every heap object: the type pass (malloc headers, finalizers, DWARF-typed
values followed from the globals and stacks, inferred shapes for the rest)."""
