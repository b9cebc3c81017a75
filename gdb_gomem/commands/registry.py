"""One way to declare a command, used by both front ends (gdb and the standalone CLI).

A command is an ``argparse`` parser plus a function from (process, args) to a JSON-able
document, plus a text renderer of that document. The gdb front end and the CLI add only how
they obtain the process; ``--json`` is added here, so every command has it.

A command is declared once, typed by its document (a TypedDict of
:mod:`gdb_gomem.reports.schema`)::

    @command("info", "...")
    def run(proc: GoProcess, args: argparse.Namespace) -> InfoDoc: ...

    @run.renderer
    def render(d: InfoDoc, args: argparse.Namespace) -> str: ...

``@command`` turns ``run`` into a :class:`Command`; its ``renderer`` registers the
:class:`CommandSpec`, and mypy checks that the renderer takes what ``run`` returns.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from gdb_gomem.target.process import GoProcess

#: A command's document: a TypedDict of :mod:`gdb_gomem.reports.schema` (or a union of two).
D = TypeVar("D", bound=Mapping[str, Any])

Configure = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class CommandSpec(Generic[D]):
    name: str
    help: str
    configure: Configure
    run: Callable[[GoProcess, argparse.Namespace], D]
    render: Callable[[D, argparse.Namespace], str]
    #: How the command runs with no target at all (``gomem diff OLD NEW --binary B``: both
    #: sides are files); None for commands that always need one.
    standalone: Callable[[argparse.Namespace], D] | None = None


REGISTRY: dict[str, CommandSpec[Any]] = {}

#: Set by each front end: opens a core of a binary as a GoProcess (``gomem diff`` opens the
#: cores it compares; the adapters that can are a layer above the commands).
open_core: Callable[[str, str], GoProcess] | None = None

#: Set by a front end that evaluates expressions (gdb): text -> address, e.g. `gomem span $rsp`.
evaluate_address: Callable[[str], int] | None = None


def address_arg(text: str) -> int:
    """An address or count: ``0x`` hex, ``0o``/``0b``, or decimal.

    A front end that can evaluate expressions sets :data:`evaluate_address` (gdb:
    ``$rsp``, ``&'main.pinned'``); without it only numbers are accepted.
    """
    try:
        v = int(text, 0)
    except ValueError:
        if evaluate_address is None:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        try:
            v = int(evaluate_address(text))
        except Exception as exc:  # noqa: BLE001 - any evaluator error is a bad argument
            raise argparse.ArgumentTypeError(f"cannot evaluate {text!r}: {exc}") from None
    if v < 0 or v >= 1 << 64:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}")
    return v


def _no_options(p: argparse.ArgumentParser) -> None:
    pass


class Command(Generic[D]):
    """A declared command's ``run`` (still callable as before), waiting for its renderer."""

    def __init__(
        self,
        name: str,
        help: str,
        configure: Configure,
        run: Callable[[GoProcess, argparse.Namespace], D],
    ) -> None:
        self.name = name
        self.help = help
        self.configure = configure
        self.run = run
        self.__doc__ = run.__doc__

    def __call__(self, proc: GoProcess, args: argparse.Namespace) -> D:
        return self.run(proc, args)

    def renderer(
        self, render: Callable[[D, argparse.Namespace], str]
    ) -> Callable[[D, argparse.Namespace], str]:
        """Decorator: the text renderer of this command's document; registers the command."""
        REGISTRY[self.name] = CommandSpec(self.name, self.help, self.configure, self.run, render)
        return render

    def without_target(
        self, standalone: Callable[[argparse.Namespace], D]
    ) -> Callable[[argparse.Namespace], D]:
        """Decorator (after ``renderer``): how the command runs when no target is given."""
        spec = REGISTRY[self.name]
        REGISTRY[self.name] = CommandSpec(
            spec.name, spec.help, spec.configure, spec.run, spec.render, standalone
        )
        return standalone


def command(
    name: str,
    help: str,
    configure: Configure | None = None,
) -> Callable[[Callable[[GoProcess, argparse.Namespace], D]], Command[D]]:
    """Decorator: ``@command("info", "...")`` on ``run``; attach ``render`` with ``.renderer``."""

    def wrap(run: Callable[[GoProcess, argparse.Namespace], D]) -> Command[D]:
        return Command(name, help, configure or _no_options, run)

    return wrap


def explain(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's message, with the option a mistyped one was probably meant to be
    (``--bianry`` -> ``--binary``)."""
    m = re.match(r"unrecognized arguments: (.*)", message)
    if not m:
        return message
    parsers = [parser]
    for a in parser._actions:  # the CLI's subcommands' options too
        if isinstance(a, argparse._SubParsersAction):
            parsers += list(a.choices.values())
    opts = sorted(
        {o for ps in parsers for a in ps._actions for o in a.option_strings if o.startswith("--")}
    )
    hints = []
    for word in m.group(1).split():
        if word.startswith("-"):
            near = difflib.get_close_matches(word.split("=", 1)[0], opts, n=1, cutoff=0.6)
            if near:
                hints.append(f"{word.split('=', 1)[0]}: did you mean {near[0]}?")
    return message + (" (" + "; ".join(hints) + ")" if hints else "")


class GomemArgumentParser(argparse.ArgumentParser):
    """argparse, saying which option a mistyped one was probably meant to be."""

    def error(self, message: str) -> NoReturn:
        super().error(explain(self, message))


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def build_parser(spec: CommandSpec[Any], prog: str) -> argparse.ArgumentParser:
    p = GomemArgumentParser(prog=prog, description=spec.help)
    add_common_arguments(p)
    spec.configure(p)
    return p


def output(spec: CommandSpec[Any], proc: GoProcess | None, args: argparse.Namespace) -> str:
    """The command's output on proc, or without a target (``spec.standalone``) when None."""
    if proc is None:
        if spec.standalone is None:
            raise ValueError(f"{spec.name} needs a target")
        doc = spec.standalone(args)
    else:
        doc = spec.run(proc, args)
    if getattr(args, "json", False):
        return json.dumps(doc, indent=2, sort_keys=False)
    return spec.render(doc, args)


#: Command modules; each registers its commands when imported.
COMMAND_MODULES = (
    "info",
    "heap",
    "goroutines",
    "deferpanic",
    "objects",
    "graph",
    "verify",
    "window",
    "trace",
    "snapshots",
    "report",
)


def load_all() -> None:
    """Import every command module so that it registers itself."""
    import importlib

    for mod in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{mod}")
