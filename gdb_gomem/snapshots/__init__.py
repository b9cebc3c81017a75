"""Heap snapshots: the allocation state of a heap at one moment, stored in a file, and
diffs between two of them (or cores). Sits above ``heap`` (it captures its tables) and below
``reports``."""
