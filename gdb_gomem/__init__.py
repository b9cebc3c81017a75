"""gdb-gomem: post-mortem memory forensics for Go programs, in gdb and standalone.

Layers, lowest first; a module imports only from its own layer and those below it
(``tests/test_layers.py`` keeps it so):

- ``base/``        errors and process-wide settings
- ``symbols/``     the executable: ELF, DWARF, pclntab, Go names
- ``target/``      one stopped process image: memory interface, typed reads, analysis context
- ``runtime/``     the runtime's heap structures: spans, pages, mcentral, mcache, MemStats
- ``goroutines/``  scheduler, goroutines, unwinding, frame variables, defers, panics
- ``heap/``        heap objects: table, pointers, roots, graph, mark, dominators, types
- ``reports/``     one document per command
- ``commands/``    argument parsing and text rendering only
- ``adapters/``    memory and threads from a core file or from gdb (below ``target`` only)
- ``frontends/``   the standalone ``gomem`` and the gdb commands
"""

__version__ = "0.1.0"
