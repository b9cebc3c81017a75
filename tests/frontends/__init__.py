"""Tests of gdb_gomem.frontends and init.py: the standalone command and gdb."""
