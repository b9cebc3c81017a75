"""Root paths name the map key a value is stored under, not the group or bucket slot
(issue 13: `main.cache["key-0042"] -> *main.Entry`), on Swiss-table maps (Go 1.24+) and
bucket maps (before). Ground truth: the leaky program stores each Entry under its own Key
field (cache[key] = &Entry{Key: key, ...}), which `gomem obj` reads from the object."""

from __future__ import annotations

import json

import pytest

from tests.support import VERSIONS, core, run_json_on


@pytest.mark.parametrize("version", VERSIONS)
def test_path_names_the_map_key(version: str) -> None:
    c = core(version, "panic")
    objs = run_json_on(version, c, "objects", "--type", "=main.Entry", "--limit", "5")
    assert len(objs["objects"]) == 5
    for o in objs["objects"]:
        ob = run_json_on(version, c, "obj", o["addr"])
        key = next(f["value"] for f in ob["object"]["value"]["fields"] if f["name"] == "Key")
        p = run_json_on(version, c, "path", o["addr"])
        assert p["steps"][-1]["via"] == "[" + json.dumps(key) + "]", p["steps"]
        assert p["root"]["name"] == "main.cache"
