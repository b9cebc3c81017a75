"""Tests of gdb_gomem.goroutines: goroutines, backtraces, threads, frames, defers, panics."""
