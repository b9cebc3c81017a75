"""Tests of gdb_gomem.runtime: map iteration and the heap structures of the runtime."""
