"""Tests of gdb_gomem.symbols: the Go binary, its DWARF, pclntab and names."""
