"""Every command's real ``--json`` document, on every fixture, has the shape its TypedDict in
``gdb_gomem.reports.schema`` declares: no key the schema does not name, every required key
present, and each value of the declared kind, recursively through rows and entries.

mypy checks that the builders return the declared types; this checks the JSON a user gets
(what ``json.loads`` reads back), so a key added to a document without its schema, or a
schema promising a key some Go version's document lacks, fails here.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import (
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

import pytest

from gdb_gomem.adapters.corefile import open_core
from gdb_gomem.commands.registry import REGISTRY, output
from gdb_gomem.frontends import cli
from gdb_gomem.reports.schema import DOCUMENTS
from gomem_fixtures.commands import command_lines
from tests.support import SCENARIOS, binary, core, manifest

#: Elements of a list checked per document (rows are uniform; the first ones suffice).
MAX_ELEMS = 64


def _required(tp: Any) -> set[str]:
    """Required keys of a TypedDict. Python 3.11's ``__required_keys__`` misses
    ``NotRequired`` written in postponed (string) annotations, so read the annotations too."""
    out = set()
    for k, a in get_type_hints(tp, include_extras=True).items():
        marked = get_origin(a)
        if marked is Required or (marked is not NotRequired and k not in tp.__optional_keys__):
            out.add(k)
    return out


def _problems(value: Any, tp: Any, where: str) -> list[str]:
    """Why ``value`` (parsed JSON) does not fit type ``tp``; [] when it does."""
    if tp is Any or tp is object:
        return []
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object ({tp.__name__})"]
        hints = get_type_hints(tp)
        out = [f"{where}.{k}: not in {tp.__name__}" for k in value if k not in hints]
        out += [f"{where}.{k}: missing ({tp.__name__})" for k in _required(tp) - set(value)]
        for k, v in value.items():
            if k in hints:
                out += _problems(v, hints[k], f"{where}.{k}")
        return out
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        tries = [_problems(value, a, where) for a in args]
        return [] if any(not t for t in tries) else min(tries, key=len)
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} not one of {args}"]
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        if not args:
            return []
        elems = args if origin is tuple and args[-1] is not Ellipsis else None
        if elems is not None:
            if len(elems) != len(value):
                return [f"{where}: {len(value)} elements, not {len(elems)}"]
            return [
                p
                for i, (v, a) in enumerate(zip(value, elems, strict=True))
                for p in _problems(v, a, f"{where}[{i}]")
            ]
        return [
            p
            for i, v in enumerate(value[:MAX_ELEMS])
            for p in _problems(v, args[0], f"{where}[{i}]")
        ]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        if len(args) == 2:
            return [p for k, v in value.items() for p in _problems(v, args[1], f"{where}[{k!r}]")]
        return []
    if tp is type(None):
        return [] if value is None else [f"{where}: {value!r}, not null"]
    if tp is bool:
        return [] if isinstance(value, bool) else [f"{where}: {value!r}, not a bool"]
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r}, not an integer"]
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r}, not a number"]
    if tp is str:
        return [] if isinstance(value, str) else [f"{where}: {value!r}, not a string"]
    return []  # a type the JSON has no counterpart for: nothing to check


def test_every_command_has_a_schema() -> None:
    from gdb_gomem.commands.registry import load_all

    load_all()
    assert set(DOCUMENTS) == set(REGISTRY)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_documents_match_their_schema(version: str, scenario: str, tmp_path: Path) -> None:
    parser = cli.build_parser()
    proc = open_core(binary(version), core(version, scenario))
    failures = []
    checked = set()
    for stem, argv in command_lines(manifest(version, scenario), str(tmp_path)):
        args = parser.parse_args([argv[0], "--binary", "b", "--core", "c", "--json", *argv[1:]])
        doc = json.loads(output(REGISTRY[args.command], proc, args))
        tries = [_problems(doc, tp, stem) for tp in DOCUMENTS[args.command]]
        if all(tries):
            failures += min(tries, key=len)[:10]
        checked.add(args.command)
    assert checked == set(DOCUMENTS)
    assert not failures, "\n".join(failures)


def test_the_checker_finds_what_does_not_fit() -> None:
    """The shape check itself: an extra key, a missing key, a wrong kind, a bad list item."""
    from gdb_gomem.reports.schema.verify import VerifyDoc

    good = {
        "checks": [{"check": "memory", "checked": 3, "errors": 0}],
        "objects": 3,
        "errors": 0,
        "problems": [],
    }
    assert _problems(good, VerifyDoc, "doc") == []
    assert _problems({**good, "surprise": 1}, VerifyDoc, "doc") == [
        "doc.surprise: not in VerifyDoc"
    ]
    assert _problems({"objects": 3, "errors": 0, "problems": []}, VerifyDoc, "doc") == [
        "doc.checks: missing (VerifyDoc)"
    ]
    bad_kind = {**good, "objects": "three"}
    assert _problems(bad_kind, VerifyDoc, "doc") == ["doc.objects: 'three', not an integer"]
    bad_row = {**good, "checks": [{"check": "memory", "checked": "x", "errors": 0}]}
    assert _problems(bad_row, VerifyDoc, "doc") == ["doc.checks[0].checked: 'x', not an integer"]
