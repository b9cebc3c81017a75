"""Suspects ranked by what they cost, one entry per root with all its findings (issue 13):
on the leaky fixture main.pinned and main.cache are each one entry, the pinned array first."""

from __future__ import annotations

import pytest

from tests.support import VERSIONS, core, manifest, run_json_on


@pytest.mark.parametrize("version", VERSIONS)
def test_one_entry_per_root_ranked_by_bytes(version: str) -> None:
    m = manifest(version, "panic")
    d = run_json_on(version, core(version, "panic"), "suspects")
    groups = d["by_root"]
    whats = [g["what"] for g in groups]
    assert len(whats) == len(set(whats))  # one entry per root
    assert sorted(i for g in groups for i in g["findings"]) == list(range(len(d["suspects"])))
    assert [g["bytes"] for g in groups] == sorted((g["bytes"] for g in groups), reverse=True)
    pinned = next(g for g in groups if g["what"] == "global main.pinned")
    cache = next(g for g in groups if g["what"] == "global main.cache")
    assert {"big retainer", "pinned array"} <= set(pinned["kinds"])
    assert {"big retainer", "big map"} <= set(cache["kinds"])
    assert groups.index(pinned) < groups.index(cache)
    assert pinned["bytes"] >= m["globals"]["main.pinned"]["cap"]
    assert cache["bytes"] >= m["types"]["main.Entry"]["live"] * m["types"]["main.Entry"]["size"]
    for g in groups:
        if "goroutine group" in g["kinds"]:
            assert g["bytes"] > 0  # the group's stacks at least
