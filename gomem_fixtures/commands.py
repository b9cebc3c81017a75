"""Every gomem subcommand, with arguments taken from a fixture's manifest.

One list serves two uses: ``scripts/dump_docs`` writes each command's ``--json`` document on
every fixture (to show a refactor changed nothing), and the schema test checks each document
against its declared type. Addresses and goroutine ids come from what the Go program wrote
about itself, so the commands speak of known objects on every Go version.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any


def command_lines(
    manifest: dict[str, Any], workdir: str | None = None
) -> list[tuple[str, list[str]]]:
    """(a short unique name, the subcommand and its arguments) for every subcommand.

    ``snapshot`` writes its file into workdir (a temporary directory by default), and ``diff``
    compares that file with the target it was taken of."""
    snap = os.path.join(workdir or tempfile.mkdtemp(prefix="gomem-cmds-"), "doc.gomemsnap")
    tagged = manifest["tagged"]["main.Tagged"]["addresses"]
    pinned = manifest["globals"]["main.pinned"]["array"]
    gids = [g["id"] for g in manifest["goroutines"]]
    crash_gid = str(manifest.get("main_goroutine_id", 1))
    first = str(gids[0]) if gids else crash_gid
    return [
        ("info", ["info"]),
        ("mheap", ["mheap"]),
        ("spans", ["spans", "--state", "all"]),
        ("span", ["span", tagged[0]]),
        ("mcentral", ["mcentral"]),
        ("mcache", ["mcache"]),
        ("spanlists", ["spanlists", "--all"]),
        ("memstats", ["memstats", "--gc", "5"]),
        ("goroutines", ["goroutines"]),
        ("goroutines-stack", ["goroutines", "--group-by", "stack"]),
        ("goroutine", ["goroutine", first]),
        ("goroutine-crash", ["goroutine", crash_gid]),
        ("threads", ["threads", "--bt", "all"]),
        ("defers", ["defers", "--all", "-v"]),
        ("panics", ["panics", "--all"]),
        ("histogram", ["histogram", "--all"]),
        ("histogram-garbage", ["histogram", "--garbage"]),
        ("histogram-package", ["histogram", "--by", "package"]),
        ("objects", ["objects", "--type", "main\\.", "--all"]),
        ("obj", ["obj", tagged[1]]),
        ("obj-pinned", ["obj", pinned]),
        ("path", ["path", tagged[2], "--all", "3"]),
        ("top", ["top"]),
        ("top-type", ["top", "--by", "type"]),
        ("suspects", ["suspects"]),
        ("verify", ["verify"]),
        ("window", ["window", "1m", "--by", "stack", "--limit", "50"]),
        ("window-narrow", ["window", "1us", "--live"]),
        ("trace", ["trace"]),
        ("snapshot", ["snapshot", "--label", "docs", "--out", snap]),
        ("diff", ["diff", snap, ".", "--limit", "5"]),
        ("report", ["report", "--format", "json"]),
        ("timers", ["timers"]),
    ]
