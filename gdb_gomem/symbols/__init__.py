"""Binary symbols: what the Go executable says about itself, read without any target.

ELF sections and symbols, build info and build ID (``binary``), DWARF types, globals and
constants (``dwarf``: every struct layout comes from here), the Go function table
(``pclntab``), Go's spelling of type names (``gonames``), the field at a byte offset
(``fieldpath``), and the per-binary cache of parsed tables (``symcache``).
Bottom layer above :mod:`gdb_gomem.base`: imports nothing else of gdb-gomem.
"""
