"""The target: one stopped Go process image, whatever holds it (core file, gdb, ...).

The :class:`~gdb_gomem.target.memory.Memory` interface every adapter implements, bulk reads,
typed struct access by DWARF field name (``typed.Val``), the process object (binary + memory +
threads + stop) and its analysis context (``context``: members built once, progress).
Knows the binary's symbols, nothing of the runtime's structures.
"""
