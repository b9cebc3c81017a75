"""Tests of gdb_gomem.adapters: the ELF core reader."""
