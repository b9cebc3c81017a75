"""Thin adapters that read memory and threads from a core file or from gdb."""
