"""pytest fixtures and hooks only; the shared helpers are in ``tests/support.py``."""

from __future__ import annotations

import pytest

from tests import support
from tests.support import EDGE_VERSIONS, VERSIONS, need_fixtures


@pytest.fixture(params=VERSIONS or ["none"])
def version(request: pytest.FixtureRequest) -> str:
    need_fixtures()
    return request.param


@pytest.fixture(params=EDGE_VERSIONS)
def edge_version(request: pytest.FixtureRequest) -> str:
    """The oldest and the newest fixture version."""
    need_fixtures()
    return request.param


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # support.gdb_batch refuses to start gdb for a test without the gdb marker.
    support.gdb_allowed = item.get_closest_marker("gdb") is not None
