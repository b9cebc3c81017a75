"""gdb-gomem's tests: one folder per package layer (``tests/heap`` tests ``gdb_gomem.heap``)."""

import pytest

# The shared helpers assert too: rewrite them like test modules, for the same failure detail.
pytest.register_assert_rewrite("tests.support")
