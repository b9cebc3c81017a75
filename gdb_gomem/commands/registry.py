"""One way to declare a command, used by both front ends (gdb and the standalone CLI).

A command is an ``argparse`` parser plus a function from (process, args) to a JSON-able
document, plus a text renderer of that document. The gdb front end and the CLI add only how
they obtain the process; ``--json`` is added here, so every command has it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gdb_gomem.target.process import GoProcess

Doc = dict[str, Any]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[GoProcess, argparse.Namespace], Doc]
    render: Callable[[Doc, argparse.Namespace], str]


REGISTRY: dict[str, CommandSpec] = {}

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


def command(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Callable[[Callable[[GoProcess, argparse.Namespace], Doc]], Callable[..., Doc]]:
    """Decorator: ``@command("info", "...")`` on ``run``; attach ``render`` with ``.renderer``."""

    def wrap(run: Callable[[GoProcess, argparse.Namespace], Doc]) -> Callable[..., Doc]:
        def set_renderer(render: Callable[[Doc, argparse.Namespace], str]) -> Callable[..., str]:
            REGISTRY[name] = CommandSpec(name, help, configure or (lambda p: None), run, render)
            return render

        run.renderer = set_renderer  # type: ignore[attr-defined]
        return run

    return wrap


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def build_parser(spec: CommandSpec, prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=spec.help)
    add_common_arguments(p)
    spec.configure(p)
    return p


def output(spec: CommandSpec, proc: GoProcess, args: argparse.Namespace) -> str:
    doc = spec.run(proc, args)
    if getattr(args, "json", False):
        return json.dumps(doc, indent=2, sort_keys=False)
    return spec.render(doc, args)


#: Command modules; each registers its commands when imported.
COMMAND_MODULES = ("info", "heap", "goroutines", "deferpanic", "objects", "graph", "verify")


def load_all() -> None:
    """Import every command module so that it registers itself."""
    import importlib

    for mod in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{mod}")
