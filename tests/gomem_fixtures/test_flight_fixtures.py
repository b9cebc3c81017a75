"""The committed flight fixtures (for `gomem trace`) are what scripts/make_fixtures promises.

Reads only manifests, stderr and the recorder's own WriteTo file (no core is restored): made
for Go 1.25+ only, run under GODEBUG=traceallocfree=1, batches in time order with distinct
addresses, the WriteTo file as long as WriteTo said, and the panic the manifest claims.
"""

from __future__ import annotations

import re

import pytest

from gomem_fixtures import store
from tests.support import VERSIONS, fixture_file, need_fixtures


def test_flight_exists_exactly_for_go_1_25_and_later() -> None:
    need_fixtures()
    for v in VERSIONS:
        if store.has_fixture(v, "leaky"):
            assert store.has_fixture(v, "flight") is store.builds_with("flight", v), v
    assert not store.builds_with("flight", "1.24.11")
    assert store.builds_with("flight", "1.25.5")


def test_run_env_is_per_program() -> None:
    assert store.run_env("leaky") == store.RUN_ENV
    env = store.run_env("flight")
    assert env["GODEBUG"] == "traceallocfree=1,memprofilerate=1"
    assert env["GOTRACEBACK"] == "crash"


@pytest.mark.parametrize("scenario", store.PROGRAM_SCENARIOS["flight"])
@pytest.mark.parametrize("version", [v for v in VERSIONS if store.builds_with("flight", v)])
def test_flight_manifest(version: str, scenario: str) -> None:
    need_fixtures()
    m = store.manifest(version, "flight", scenario)
    assert m["scenario"] == m["crash_kind"] == scenario
    assert m["go_version"] == f"go{version}"
    assert m["godebug"] == m["harness"]["env"]["GODEBUG"] == "traceallocfree=1,memprofilerate=1"
    addrs = [a for b in m["batches"] for a in b["addresses"]]
    assert len(addrs) == len(set(addrs)) == 300
    t = m["flight_recorder"]["started_unix_ns"]
    for b in m["batches"]:
        assert t <= b["t_before_unix_ns"] <= b["first_object_unix_ns"]
        assert b["first_object_unix_ns"] <= b["last_object_unix_ns"] <= b["t_after_unix_ns"]
        t = b["t_after_unix_ns"]
    w = m["writeto"]
    assert t <= w["t_before_unix_ns"] <= w["t_after_unix_ns"] <= m["last_timestamp_unix_ns"]
    data = fixture_file(version, "flight", w["file"]).read_bytes()
    assert len(data) == w["bytes"]
    # The header names the trace format's version: Go 1.27 still writes "go 1.26 trace".
    head = re.fullmatch(rb"go 1\.(\d+) trace\0*", data[:16])
    assert head is not None, data[:16]
    assert 25 <= int(head[1]) <= int(version.split(".")[1])
    stderr = fixture_file(version, "flight", f"{scenario}.stderr.txt").read_text()
    assert stderr.split("\n", 1)[0] == store.EXPECTED_STDERR[scenario]
