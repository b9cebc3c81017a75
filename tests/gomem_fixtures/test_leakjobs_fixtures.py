"""The committed leakjobs fixtures (leaked and parked goroutines, closures, channels, tickers).

Reads the manifest the program wrote and the runtime's own traceback (stderr), restores the
core and reads the recorded objects straight from its PT_LOAD segments (a dozen lines of ELF
here, not gomem's reader): every Job, payload, message, buffer, channel and ticker is where
the program said, holding what it wrote. No gdb; about a second per version on first restore.

Built for every Go version by ``scripts/make_fixtures --programs leakjobs``; a version whose
fixture is not committed (the fixtures/ budget) is skipped.
"""

from __future__ import annotations

import re
import signal
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gomem_fixtures import store
from gomem_fixtures.build import core_notes
from tests.support import VERSIONS, fixture_file, need_fixtures

PROGRAM = "leakjobs"
SCENARIO = "panic"
N_LEAKED, N_PARKED, N_MSGS, MAILBOX_CAP = 20, 10, 50, 64
SIZES = {
    "main.Job": 56,
    "main.Msg": 32,
    "payload": 2048,
    "closure_buffer": 4096,
    "hook_buffer": 8192,
    "cfg_buffer": 3072,
    "ref_buffer": 1536,
    "main.Config": 64,
    "msg_body": 256,
}
COUNTS = {
    "main.Job": N_LEAKED + N_PARKED,
    "main.Msg": N_MSGS,
    "payload_2048": N_LEAKED + N_PARKED,
    "closure_buffer_4096": N_LEAKED,
    "hook_buffer_8192": 1,
    "msg_body_256": N_MSGS,
    "tickers": N_LEAKED,
    "leaked_goroutines": N_LEAKED,
    "parked_goroutines": N_PARKED,
}
MAGICS = {  # the program's constants: the first word (little-endian) of each buffer
    "payload": 0x4C4A5041594C4400,
    "closure_buffer": 0x4C4A434C4F535200,
    "hook_buffer": 0x4C4A484F4F4B0000,
    "msg_body": 0x4C4A4D5347424400,
}
HOUR_NS = 3600 * 10**9
HEADER = re.compile(r"^goroutine (\d+) (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[([^\]]*)\]:$")

Reader = Callable[[int, int], bytes | None]


def committed() -> list[str]:
    return [v for v in VERSIONS if store.has_fixture(v, PROGRAM)]


def leakjobs_manifest(version: str) -> dict[str, Any]:
    need_fixtures()
    if not store.has_fixture(version, PROGRAM):
        pytest.skip(f"no fixtures/{version}/{PROGRAM} (scripts/make_fixtures --programs leakjobs)")
    return store.manifest(version, PROGRAM, SCENARIO)


def addr(value: str) -> int:
    assert value.startswith("0x"), value
    return int(value, 16)


@cache
def elf_reader(path: Path, e_type: int) -> Reader:
    """read(addr, size) from the PT_LOAD segments of an x86-64 ELF file of type e_type (4: a
    core, 2: the executable, for the read-only data a kernel core leaves out); None: absent."""
    with open(path, "rb") as f:
        ehdr = f.read(64)
        assert ehdr[:4] == b"\x7fELF" and struct.unpack_from("<H", ehdr, 16)[0] == e_type
        phoff = struct.unpack_from("<Q", ehdr, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == 1 and filesz:
            loads.append((vaddr, offset, filesz))

    def read(at: int, size: int) -> bytes | None:
        for vaddr, offset, filesz in loads:
            if vaddr <= at and at + size <= vaddr + filesz:
                with open(path, "rb") as f:
                    f.seek(offset + at - vaddr)
                    return f.read(size)
        return None

    return read


def words(read: Reader, at: int, n: int) -> tuple[int, ...]:
    data = read(at, 8 * n)
    assert data is not None, f"{at:#x} not in the core"
    return struct.unpack(f"<{n}Q", data)


def test_leakjobs_is_made_for_every_version() -> None:
    assert store.PROGRAM_SCENARIOS[PROGRAM] == (SCENARIO,)
    assert all(store.builds_with(PROGRAM, v) for v in store.GO_VERSIONS)
    assert PROGRAM in store.UNAUDITED_PROGRAMS  # no main.checkpoint
    assert store.core_names(PROGRAM, SCENARIO) == ("panic.core",)
    need_fixtures()
    assert committed(), "no leakjobs fixture committed for any version"


def test_manifest_is_consistent(version: str) -> None:
    m = leakjobs_manifest(version)
    assert (m["schema"], m["program"], m["scenario"]) == (1, PROGRAM, SCENARIO)
    assert (m["go_version"], m["goos"], m["goarch"]) == (f"go{version}", "linux", "amd64")
    assert m["godebug"] == m["harness"]["env"]["GODEBUG"] == store.run_env(PROGRAM)["GODEBUG"]
    assert m["gc_percent"] == -1 and m["sizes"] == SIZES and m["counts"] == COUNTS
    assert {k: addr(v) for k, v in m["magics"].items()} == MAGICS
    assert m["self_check"] == {"final_sequence_mallocs": 0, "hchan_layout_ok": True}
    leaked, parked, mailbox, hook = m["leaked"], m["parked"], m["mailbox"], m["hook"]

    # Goroutines: distinct ids, leaked and parked disjoint, the counts the lists have.
    leak_ids = [g["goroutine_id"] for g in leaked]
    park_ids = [g["goroutine_id"] for g in parked]
    ids = [m["main_goroutine_id"], *leak_ids, *park_ids]
    assert len(set(ids)) == len(ids) == 1 + N_LEAKED + N_PARKED
    assert not set(leak_ids) & set(park_ids)
    assert m["num_goroutine"] == len(ids)
    c = m["counts"]
    assert c["leaked_goroutines"] == len(leaked) and c["parked_goroutines"] == len(parked)
    assert c["main.Job"] == c["payload_2048"] == len(leaked) + len(parked)
    assert c["tickers"] == c["closure_buffer_4096"] == len(leaked)
    assert c["main.Msg"] == c["msg_body_256"] == mailbox["len"] == len(mailbox["msg_addrs"])
    assert len(mailbox["body_addrs"]) == mailbox["len"] and mailbox["cap"] == MAILBOX_CAP
    assert hook["size"] == SIZES["hook_buffer"] and mailbox["body_size"] == SIZES["msg_body"]
    assert [g["job_id"] for g in [*leaked, *parked]] == list(range(1, N_LEAKED + N_PARKED + 1))
    assert [g["ticker_period_ns"] for g in leaked] == [(i + 1) * HOUR_NS for i in range(N_LEAKED)]

    # Every recorded object is a distinct, aligned address.
    addrs = [
        *(g[k] for g in leaked for k in ("job_addr", "payload_addr", "ticker_addr")),
        *(g[k] for g in leaked for k in ("ticker_chan_addr", "closure_buffer_addr", "chan_addr")),
        *(g[k] for g in parked for k in ("job_addr", "payload_addr", "chan_addr")),
        mailbox["chan_addr"],
        mailbox["buf_addr"],
        *mailbox["msg_addrs"],
        *mailbox["body_addrs"],
        hook["closure_addr"],
        hook["closure_buffer_addr"],
        m["parked_chans"]["array_addr"],
        *(m["cfg_hook"][k] for k in ("closure_addr", "buffer_addr")),
        *(m["ref_hook"][k] for k in ("closure_addr", "var_addr", "buffer_addr")),
    ]
    values = [addr(a) for a in addrs]
    assert all(v % 8 == 0 for v in values) and len(set(values)) == len(values)
    big = [g["payload_addr"] for g in [*leaked, *parked]] + [hook["closure_buffer_addr"]]
    big += [g["closure_buffer_addr"] for g in leaked]
    big += [m["cfg_hook"]["buffer_addr"], m["ref_hook"]["buffer_addr"]]
    assert all(addr(a) % 256 == 0 for a in big)  # 1536..8192-byte size classes
    assert m["cfg_hook"]["size"] == SIZES["cfg_buffer"]
    assert m["ref_hook"]["size"] == SIZES["ref_buffer"]

    # One GC, the program's own, then nothing: the memstats at the crash agree.
    gc = m["forced_gc"]
    assert gc["num_gc"] == 1 == m["memstats_final"]["NumGC"]
    assert gc["last_gc_unix_ns"] == m["memstats_final"]["LastGC"] <= gc["unix_ns"]
    assert gc["unix_ns"] <= m["manifest_unix_ns"] < m["last_timestamp_unix_ns"]
    assert m["crash"] == {
        "function": "main.crashPanic",
        "goroutine_ids": [m["main_goroutine_id"]],
        "panic_value": "gomem-fixture: crash panic in flight",
    }
    assert m["harness"]["exit_signal"] == "SIGABRT"


def test_traceback_shows_the_workers_blocked(version: str) -> None:
    """The runtime's own GOTRACEBACK=crash output: every worker in a channel receive."""
    m = leakjobs_manifest(version)
    text = fixture_file(version, PROGRAM, f"{SCENARIO}.stderr.txt").read_text()
    assert text.split("\n", 1)[0] == store.EXPECTED_STDERR[SCENARIO]
    status: dict[int, str] = {}
    funcs: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        if hdr := HEADER.match(line):
            current = int(hdr[1])
            status[current], funcs[current] = hdr[2], []
        elif current is not None and line and not line.startswith("\t"):
            funcs[current].append(line.split("(", 1)[0])
    assert status[m["main_goroutine_id"]] == "running"
    assert "main.crashPanic" in funcs[m["main_goroutine_id"]]
    for role, func in (("leaked", "main.leakWorker"), ("parked", "main.parkedWorker")):
        for g in m[role]:
            gid = g["goroutine_id"]
            assert status[gid] == "chan receive", (gid, status[gid])
            frames = funcs[gid]
            assert frames[frames.index("runtime.chanrecv1") + 1] == func, frames


def test_core_holds_the_recorded_objects(version: str) -> None:
    m = leakjobs_manifest(version)
    core = fixture_file(version, PROGRAM, f"{SCENARIO}.core")
    notes = core_notes(core)
    assert notes.signal == signal.SIGABRT
    assert notes.threads == m["harness"]["core"]["threads"] > 0
    read = elf_reader(core, 4)
    exe = elf_reader(fixture_file(version, PROGRAM, PROGRAM), 2)

    def job(rec: dict[str, Any], name: bytes) -> None:
        jid, payload, plen, pcap, nxt, name_ptr, name_len = words(read, addr(rec["job_addr"]), 7)
        assert (jid, payload, plen, pcap, nxt) == (
            rec["job_id"],
            addr(rec["payload_addr"]),
            SIZES["payload"],
            SIZES["payload"],
            0,
        )
        assert exe(name_ptr, name_len) == name  # a constant: in the binary's rodata
        assert words(read, payload, 2) == (MAGICS["payload"], rec["job_id"])

    for i, g in enumerate(m["leaked"]):
        job(g, b"leaked")
        assert words(read, addr(g["closure_buffer_addr"]), 2) == (MAGICS["closure_buffer"], i)
        # A private unbuffered channel nobody sent on: qcount 0, dataqsiz 0.
        assert words(read, addr(g["chan_addr"]), 2) == (0, 0)
        # time.Ticker (1.21, 1.22) and runtime.timeTimer (1.23+) both start with C.
        assert words(read, addr(g["ticker_addr"]), 1) == (addr(g["ticker_chan_addr"]),)
        assert words(read, addr(g["ticker_chan_addr"]), 2) == (0, 1)  # chan Time, cap 1, empty
    for g in m["parked"]:
        job(g, b"parked")
        assert words(read, addr(g["chan_addr"]), 2) == (0, 0)
    pc = m["parked_chans"]
    assert words(read, addr(pc["array_addr"]), pc["len"]) == tuple(
        addr(g["chan_addr"]) for g in m["parked"]
    )

    # The mailbox: 50 messages in hchan.buf, in send order, each with its body.
    mb = m["mailbox"]
    qcount, dataqsiz, buf = words(read, addr(mb["chan_addr"]), 3)
    assert (qcount, dataqsiz, buf) == (mb["len"], mb["cap"], addr(mb["buf_addr"]))
    msgs = [addr(a) for a in mb["msg_addrs"]]
    assert list(words(read, buf, mb["len"])) == msgs
    for i, (msg, body) in enumerate(zip(msgs, mb["body_addrs"], strict=True)):
        assert words(read, msg, 4) == (i + 1, addr(body), mb["body_size"], mb["body_size"])
        assert words(read, addr(body), 2) == (MAGICS["msg_body"], i + 1)

    # The hook: main.hook -> funcval {fn, buf.ptr, buf.len, buf.cap}.
    hook = m["hook"]
    assert words(read, addr(hook["global_addr"]), 1) == (addr(hook["closure_addr"]),)
    _fn, ptr, length, capacity = words(read, addr(hook["closure_addr"]), 4)
    assert (ptr, length, capacity) == (
        addr(hook["closure_buffer_addr"]),
        hook["size"],
        hook["size"],
    )
    assert words(read, ptr, 2) == (MAGICS["hook_buffer"], 0)
