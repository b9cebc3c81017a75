"""Tests of gdb_gomem.reports: info, histogram and objects."""
