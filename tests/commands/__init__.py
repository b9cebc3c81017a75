"""Tests of gdb_gomem.commands."""
