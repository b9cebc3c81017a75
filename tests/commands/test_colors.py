"""Colour: never where the environment says no (NO_COLOR, TERM=dumb), and tables align by
the text a person sees, escape codes not counted."""

from __future__ import annotations

import pytest

from gdb_gomem.commands import colors as c
from gdb_gomem.commands.fmt import table


@pytest.mark.parametrize(("var", "value"), [("TERM", "dumb"), ("NO_COLOR", "1")])
def test_environment_turns_colour_off(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    c.set_enabled(True)
    assert c.enabled()
    monkeypatch.setenv(var, value)
    c.set_enabled(True)
    assert not c.enabled()
    assert c.number("42") == "42"
    c.set_enabled(False)


def test_columns_align_with_colour_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    c.set_enabled(True)
    try:
        rows = [[c.number("7"), c.name("main.Item")], [c.number("12345"), c.name("x")]]
        lines = [c.strip(ln) for ln in table(["COUNT", "TYPE"], rows, {0})]
        assert "\x1b[" in table(["COUNT", "TYPE"], rows, {0})[1]
        assert [ln.index("main.Item") if "main.Item" in ln else None for ln in lines][1] == 7
        assert lines[2].index("x") == 7
    finally:
        c.set_enabled(False)
