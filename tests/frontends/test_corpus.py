"""Damaged inputs (``gomem_fixtures/corpus.py``): truncated, corrupt, mismatched and odd files,
and cores with one runtime structure overwritten, made from the committed ``leaky`` fixture.

Every subcommand run on each must exit 0 or 2 (a refusal: one message and a ``hint:`` line),
never 3, never print a traceback, finish in bounded time and stay within twice its memory on
the pristine core plus 100 MB; a refusal is expected wherever the file itself is unusable.
The default suite runs ``info`` on every case and the heap commands on the damaged runtime
structures, plus one gdb session over damaged cores that stays usable; the slow suite runs
every subcommand on the whole corpus of three releases (111 inputs) standalone, and on the
newest release's in gdb.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from gomem_fixtures import store
from gomem_fixtures.commands import command_lines
from gomem_fixtures.corpus import (
    Case,
    case_problems,
    make_corpora,
    make_corpus,
    run_case,
    run_cli,
    run_gdb,
    verdict,
)
from tests.support import VERSIONS, gdb_batch

VERSION = VERSIONS[-1]
#: Seconds any one command may take on a damaged input of this small fixture.
TIME_BOUND = 60.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return make_corpus(VERSION, tmp_path_factory.mktemp("corpus"), VERSIONS[0])


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    m = json.loads(store.fixture_file(VERSION, "leaky", "panic.manifest.json").read_text())
    return dict(command_lines(m, str(tmp_path_factory.mktemp("cmds"))))


_BASE: dict[str, int] = {}


def _pristine_rss(corpus: list[Case], name: str, argv: list[str]) -> int:
    if name not in _BASE:
        core = store.fixture_file(VERSION, "leaky", "panic.core")
        o = run_cli(Case("pristine", "analyse", "", corpus[-1].binary, core), argv)
        assert o.rc == 0, o.stderr
        _BASE[name] = o.max_rss_kb
    return _BASE[name]


def _check(corpus: list[Case], commands: dict[str, list[str]], jobs: list[tuple[str, str]]) -> None:
    by_name = {c.name: c for c in corpus}
    runs = [(by_name[c], cmd) for c, cmd in jobs]
    with ThreadPoolExecutor(2) as ex:
        outs = list(ex.map(lambda j: run_cli(j[0], commands[j[1]], timeout=TIME_BOUND), runs))
    bad = []
    for (case, cmd), o in zip(runs, outs, strict=True):
        bound = 2 * _pristine_rss(corpus, cmd, commands[cmd]) + 100 * 1024
        why = verdict(case, o, bound)
        if why is None and case.kind == "refuse":
            lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
            if len(lines) != 2:  # the message and its hint, nothing else
                why = f"{len(lines)} lines on stderr"
        if why:
            bad.append(f"{case.name} / {cmd}: {why}: {o.stderr.strip()[:300]}")
    assert not bad, "\n".join(bad)


def test_corpus_has_every_class(corpus: list[Case]) -> None:
    """At least the classes the issue names, each with a case."""
    names = {c.name for c in corpus}
    for prefix in (
        "core-truncated",
        "core-note",
        "core-thread-notes",
        "core-of-another-binary",
        "binary-not-go",
        "binary-truncated",
        "binary-stripped",
        "binary-debug-info",
        "core-symlink-loop",
        "core-fifo",
        "span-npages",
        "span-base",
        "g-stack",
        "allp",
        "mheap-arenas",
    ):
        assert any(n.startswith(prefix) for n in names), prefix


def test_info_on_every_case(corpus: list[Case], commands: dict[str, list[str]]) -> None:
    _check(corpus, commands, [(c.name, "info") for c in corpus])


def test_heap_commands_on_damaged_structures(
    corpus: list[Case], commands: dict[str, list[str]]
) -> None:
    cmds = ("histogram", "goroutines", "verify")
    _check(corpus, commands, [(c.name, k) for c in corpus if c.kind == "analyse" for k in cmds])


def test_messages_name_the_damage(corpus: list[Case], commands: dict[str, list[str]]) -> None:
    """The refusal says what is wrong with which file, not a neighbouring problem."""
    expect = {
        "core-symlink-loop": "symlink",
        "core-fifo": "not a regular file",
        "core-notes-zeroed": "no thread notes",
        "core-thread-notes-retyped": "no thread notes",
        "core-note-size-huge": "note at offset",
        "core-note-segment-huge": "PT_NOTE program header",
        "core-phnum-huge": "program headers",
        "core-phentsize-42": "program headers are 42 bytes",
        "core-truncated-50%": "truncated",
        "binary-truncated-50%": "truncated or damaged",
        "binary-debug-info-garbled": "damaged executable",
        "binary-stripped": "no DWARF",
    }
    by_name = {c.name: c for c in corpus}
    for name, phrase in expect.items():
        o = run_cli(by_name[name], commands["info"])
        assert o.rc == 2 and phrase.lower() in o.stderr.lower(), (name, o.stderr)


def test_span_npages_corruption_is_reported(
    corpus: list[Case], commands: dict[str, list[str]]
) -> None:
    """The descriptor that made the object table grow without bound is skipped and named."""
    case = next(c for c in corpus if c.name == "span-npages-2^25")
    o = run_cli(case, [*commands["histogram"], "--json"])
    assert o.rc == 0, o.stderr
    v = run_cli(case, [*commands["verify"], "--json"])
    assert v.rc == 0


@pytest.mark.gdb
def test_gdb_session_survives_damaged_cores(corpus: list[Case]) -> None:
    """In one gdb session: each damaged core refused with one message (no traceback), then
    the pristine core analysed: the session is still usable."""
    by_name = {c.name: c for c in corpus}
    exe = by_name["core-truncated-50%"].binary
    cmds = []
    # gdb itself refuses a zeroed note segment; it loads retyped thread notes and a truncated
    # core, which gomem must then refuse as the CLI does.
    for name in (
        "core-truncated-50%",
        "core-thread-notes-retyped",
        "span-npages-2^25",
        "allp-pointer-1",
    ):
        cmds += [f"core-file {by_name[name].core}", "gomem info", "gomem histogram --top 3"]
    pristine = store.fixture_file(VERSION, "leaky", "panic.core")
    cmds += [f"core-file {pristine}", "echo @@pristine\\n", "gomem info"]
    res = gdb_batch(*cmds, exe=exe)
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "internal error" not in out
    assert out.count("is truncated") == 2 and out.count("no thread notes") == 2, out[-3000:]
    assert "Total" in out  # the damaged runtime structures were still analysed
    after = res.stdout.split("@@pristine", 1)[1]  # gdb's own stdout, in order
    assert f"go{VERSION}" in after and "error:" not in after


#: The whole corpus of the slow suite: oldest, a middle and the newest release.
CORPUS_VERSIONS = sorted({VERSIONS[0], VERSIONS[len(VERSIONS) // 2], VERSIONS[-1]})


@pytest.mark.slow
@pytest.mark.parametrize("corpus_version", CORPUS_VERSIONS)
def test_every_command_on_the_whole_corpus(
    corpus_version: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every subcommand on each of the 38 damaged inputs of a release (114 over the three),
    standalone (all commands of a case in one child process, whose peak memory must stay
    within twice the pristine core's plus 100 MB). One test per release, so that parallel
    workers share the corpus."""
    v = corpus_version
    out = tmp_path_factory.mktemp("whole")
    cases = make_corpora([v], out, ring=CORPUS_VERSIONS)
    assert len(cases) >= 38
    m = json.loads(store.fixture_file(v, "leaky", "panic.manifest.json").read_text())
    cmds = [a for _n, a in command_lines(m, str(out / v))]
    pristine = Case(
        "pristine", "analyse", "", store.fixture_file(v, "leaky", "leaky"),
        store.fixture_file(v, "leaky", "panic.core"),
    )  # fmt: skip
    ref = run_case(pristine, cmds)
    assert not case_problems(pristine, ref, None) and all(o["rc"] == 0 for o in ref.outcomes)
    bound = 2 * ref.max_rss_kb + 100 * 1024
    with ThreadPoolExecutor(2) as ex:
        runs = list(ex.map(lambda c: run_case(c, cmds), cases))
    bad = []
    for case, run in zip(cases, runs, strict=True):
        bad += [f"{case.name}: {p}" for p in case_problems(case, run, bound)]
    assert not bad, "\n".join(bad[:40])


@pytest.mark.slow
@pytest.mark.gdb
def test_every_command_in_gdb(corpus: list[Case], commands: dict[str, list[str]]) -> None:
    """Every subcommand on each damaged input in one gdb session a case; afterwards the
    session still analyses the pristine core."""
    pristine = (
        store.fixture_file(VERSION, "leaky", "leaky"),
        store.fixture_file(VERSION, "leaky", "panic.core"),
    )
    cmds = list(commands.values())
    with ThreadPoolExecutor(2) as ex:
        probs = list(ex.map(lambda c: run_gdb(c, cmds, pristine), corpus))
    bad = [f"{c.name}: {p}" for c, ps in zip(corpus, probs, strict=True) for p in ps]
    assert not bad, "\n".join(bad)
