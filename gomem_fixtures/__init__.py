"""gdb-gomem's test fixtures: real Go programs, their cores and the manifests they write.

- :mod:`gomem_fixtures.store`: the sparse pack format (``.sxz``), restoring cores into the cache,
  fixture paths and manifests; what the tests and ``scripts/demo`` need.
- :mod:`gomem_fixtures.build`: Go toolchains from PyPI, building, crashing and packing a fixture;
  what ``scripts/make_fixtures`` and the slow tests need.

Outside the ``gdb_gomem`` package on purpose: the product never imports it.
"""
