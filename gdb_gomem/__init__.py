"""gdb-gomem: post-mortem memory forensics for Go programs, in gdb and standalone.

Layers, visible from the folder names:

- ``analysis/``  pure analysis on bytes and addresses (ELF, DWARF, pclntab, the Go runtime model,
  reports). Imports no gdb, so it runs in any Python and is unit-testable.
- ``adapters/``  thin readers of memory and threads: an ELF core file, or the gdb inferior.
- ``commands/``  argument parsing and printing only; shared by the gdb front end and the CLI.
"""

__version__ = "0.1.0"
