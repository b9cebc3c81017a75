"""gdb front end: ``gomem <subcommand> [args]`` over the selected inferior.

Arguments are parsed by the same argparse parsers as the CLI; errors become one message (never a
Python traceback at the prompt). The GoProcess is cached until the inferior runs or changes.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import traceback
from collections.abc import Callable
from typing import NoReturn

import gdb

from gdb_gomem.base.errors import GomemError
from gdb_gomem.commands import colors
from gdb_gomem.commands.registry import (
    REGISTRY,
    CommandSpec,
    build_parser,
    explain,
    load_all,
    output,
)
from gdb_gomem.frontends.progress import stream_progress
from gdb_gomem.target.process import GoProcess

_cached: GoProcess | None = None


def _invalidate(*_args: object) -> None:
    global _cached
    _cached = None


def current_process() -> GoProcess:
    global _cached
    if _cached is None:
        from gdb_gomem.adapters.gdbinferior import process_from_gdb

        _cached = process_from_gdb()
        _cached.context.progress = stream_progress()
    return _cached


class _ParseExit(Exception):
    pass


class GomemPrefix(gdb.Command):
    """Post-mortem memory forensics of the Go program in gdb (a core or a stopped process).

    Start with `gomem info` (why it stopped, the heap in a line), `gomem report` (everything
    at once), `gomem histogram` (what is on the heap), `gomem suspects` (what leaks) and
    `gomem window 1s` (what was allocated just before the crash). Each subcommand takes
    --json and -h; `heap_snapshot` and `gomem diff` compare moments, `gomem watch` records
    a live process."""

    def __init__(self) -> None:
        super().__init__("gomem", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND, prefix=True)

    def invoke(self, arg: str, from_tty: bool) -> None:
        names = ", ".join(sorted([*REGISTRY, "watch"]))
        word = arg.split()[0] if arg.split() else ""
        if word:
            # gdb routes an unknown word after a prefix command to the prefix itself.
            near = difflib.get_close_matches(word, [*REGISTRY, "watch"], n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            gdb.write(
                f"gomem: error: unknown subcommand {word!r}{hint}\n  hint: subcommands: {names}\n",
                gdb.STDERR,
            )
            return
        gdb.write(f"usage: gomem SUBCOMMAND [--json] ...   subcommands: {names}\n")


#: Defaults that keep the answer on one screen at gdb's prompt (the rows nearest the prompt
#: are the largest; the total line says how many were left out). --json is never cut.
SCREEN_DEFAULTS: dict[str, dict[str, int]] = {"histogram": {"top": 40}}


class GomemSub(gdb.Command):
    """One command: ``gomem NAME`` (or a top-level alias such as ``heap_snapshot``)."""

    def __init__(self, spec: CommandSpec, name: str = "") -> None:
        self.spec = spec
        self.prog = name or f"gomem {spec.name}"
        self.__doc__ = spec.help + "\n\n" + build_parser(spec, self.prog).format_help()
        super().__init__(self.prog, gdb.COMMAND_DATA)

    def invoke(self, arg: str, from_tty: bool) -> None:
        args = parse_in_gdb(build_parser(self.spec, self.prog), arg)
        if args is None:
            return
        colors.set_enabled(_color_on() and not args.json)
        if not args.json:
            for key, value in SCREEN_DEFAULTS.get(self.spec.name, {}).items():
                if getattr(args, key, 0) is None:
                    setattr(args, key, value)

        def run() -> str:
            try:
                proc: GoProcess | None = current_process()
            except GomemError:
                if self.spec.standalone is None:
                    raise
                proc = None  # e.g. `gomem diff A.snap B.snap` with nothing loaded
            try:
                return output(self.spec, proc, args)
            finally:
                close = getattr(proc.context.progress, "close", None) if proc else None
                if close is not None:
                    close()

        run_guarded(self.prog, run)


def parse_in_gdb(parser: argparse.ArgumentParser, arg: str) -> argparse.Namespace | None:
    """The parsed arguments, or None after printing argparse's message (never exiting gdb)."""
    parser.exit = _exit  # type: ignore[method-assign]

    def error(message: str) -> NoReturn:
        _error(explain(parser, message))

    parser.error = error  # type: ignore[method-assign]
    try:
        return parser.parse_args(shlex.split(arg))
    except _ParseExit as exc:
        if str(exc):
            gdb.write(str(exc), gdb.STDERR)
        return None


def run_guarded(prog: str, run: Callable[[], str]) -> None:
    """Print what run returns; a user's error as one line with its hint, Ctrl-C as one line,
    and anything else as one line asking for a report: never a traceback at the prompt."""
    try:
        text = run()
    except GomemError as exc:
        gdb.write(f"{prog}: error: {exc.user_message()}\n", gdb.STDERR)
        return
    except KeyboardInterrupt:
        gdb.write(f"{prog}: interrupted\n", gdb.STDERR)
        return
    except Exception as exc:  # noqa: BLE001 - never a traceback at the prompt
        if os.environ.get("GOMEM_DEBUG"):
            traceback.print_exc()
        gdb.write(
            f"{prog}: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: this is a bug in gdb-gomem; set GOMEM_DEBUG=1 and report the output\n",
            gdb.STDERR,
        )
        return
    gdb.write(text + "\n")


def _exit(status: int = 0, message: str | None = None) -> NoReturn:
    raise _ParseExit(message or "")


def _error(message: str) -> NoReturn:
    raise _ParseExit(f"gomem: error: {message}\n")


class ColorParameter(gdb.Parameter):
    """Whether gomem output uses colour (`set gomem-color off` to disable)."""

    set_doc = "Set whether gomem output is coloured."
    show_doc = "Show whether gomem output is coloured."

    def __init__(self) -> None:
        super().__init__("gomem-color", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = not os.environ.get("NO_COLOR")


_color_param: ColorParameter | None = None


def _color_on() -> bool:
    return bool(_color_param and _color_param.value) and bool(gdb.parameter("style enabled"))


def register() -> list[str]:
    """Register the gdb commands once; returns the subcommand names."""
    global _color_param
    load_all()
    if _color_param is not None:  # sourced twice: commands exist already
        return sorted(REGISTRY)
    from gdb_gomem.adapters.corefile import open_core
    from gdb_gomem.commands import registry

    registry.evaluate_address = lambda s: int(gdb.parse_and_eval(s)) & ((1 << 64) - 1)
    registry.open_core = open_core
    GomemPrefix()
    for spec in REGISTRY.values():
        GomemSub(spec)
    # The snapshot command under the name the issue tracker and the seeds use.
    GomemSub(REGISTRY["snapshot"], "heap_snapshot")
    from gdb_gomem.frontends.gdbwatch import GomemWatch

    GomemWatch(current_process, _invalidate)
    _color_param = ColorParameter()
    for ev in ("stop", "cont", "exited", "new_objfile", "memory_changed", "inferior_call"):
        reg = getattr(gdb.events, ev, None)
        if reg is not None:
            reg.connect(_invalidate)
    return sorted(REGISTRY)
