"""Heap objects: every allocated object, its pointers, the roots, the graph, liveness,
dominators, retention, and a type for every object (``types``).

The whole-heap passes work on flat arrays (numpy) with compiled inner loops (``native``).
"""
