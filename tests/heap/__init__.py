"""Tests of gdb_gomem.heap: the heap model, graph algorithms, types and retention."""
