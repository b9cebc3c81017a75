"""The standalone ``gomem`` command: ``gomem <subcommand> --binary B --core C [--json]``.

Errors the user can fix print one message with a hint and exit 2; anything unexpected prints
one line asking for a report (the traceback only with ``GOMEM_DEBUG=1``) and exits 3.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from gdb_gomem import __version__
from gdb_gomem.base.errors import BadFile, GomemError
from gdb_gomem.commands import colors
from gdb_gomem.commands.registry import (
    REGISTRY,
    GomemArgumentParser,
    add_common_arguments,
    load_all,
    output,
)
from gdb_gomem.frontends.progress import stream_progress
from gdb_gomem.symbols.symcache import cache_dir
from gdb_gomem.target.analysiscache import AnalysisStore, cache_enabled


def build_parser() -> argparse.ArgumentParser:
    load_all()
    p = GomemArgumentParser(
        prog="gomem",
        description="Post-mortem memory forensics for Go programs, on a binary and its core.",
    )
    p.add_argument("--version", action="version", version=f"gdb-gomem {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in sorted(REGISTRY.items()):
        sp = sub.add_parser(name, help=spec.help, description=spec.help)
        sp.add_argument(
            "--binary",
            "-b",
            help="the Go executable that crashed (default: the one the core names, if it is "
            "there or beside the core)",
        )
        sp.add_argument(
            "--core",
            "-c",
            required=spec.standalone is None,
            help="its core file (kernel core or gcore)"
            + ("" if spec.standalone is None else "; optional for this command"),
        )
        sp.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")
        sp.add_argument(
            "--progress",
            action="store_true",
            help="name each long pass and its time on stderr even when it is not a terminal",
        )
        sp.add_argument(
            "--allow-truncated",
            action="store_true",
            help="analyse a cut-off core anyway (memory past its end reads as not saved; a "
            "warning says how much is missing)",
        )
        sp.add_argument(
            "--no-cache",
            action="store_true",
            help="neither read nor keep this core's analysis on disk (GOMEM_ANALYSIS_CACHE=0)",
        )
        add_common_arguments(sp)
        spec.configure(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    colors.set_enabled(sys.stdout.isatty() and not args.no_color and not args.json)
    spec = REGISTRY[args.command]
    try:
        from gdb_gomem.adapters.corefile import find_binary, open_core, truncation_warning
        from gdb_gomem.commands import registry

        registry.open_core = open_core
        proc = None
        progress = None
        if args.binary is None and args.core is not None:
            args.binary = str(find_binary(args.core))
        if args.binary is None:
            raise BadFile("no binary given", "pass the Go executable with --binary")
        if args.core is not None:
            proc = open_core(args.binary, args.core, args.allow_truncated)
            cut = getattr(getattr(proc.mem, "core", None), "truncation", None)
            if cut is not None:
                print(truncation_warning(args.core, *cut), file=sys.stderr)
            progress = stream_progress(force=args.progress)
            proc.context.progress = progress
            if not args.no_cache and cache_enabled():
                proc.context.store = AnalysisStore(
                    cache_dir() / "analysis", proc.binary.sha256, args.core
                )
        try:
            text = output(spec, proc, args)
        finally:
            if progress is not None:
                progress.close()
    except GomemError as exc:
        print(f"gomem {args.command}: error: {exc.user_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gomem {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a message
        if os.environ.get("GOMEM_DEBUG"):
            traceback.print_exc()
        print(
            f"gomem {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "  hint: this is a bug in gdb-gomem; rerun with GOMEM_DEBUG=1 and report the output",
            file=sys.stderr,
        )
        return 3
    try:
        print(text, flush=True)
    except BrokenPipeError:
        pass
    if proc is not None:
        # After the answer is out: keeping the analysis for the next command (seconds for a
        # big heap) does not delay what the user waits for.
        try:
            proc.context.save()
        except (OSError, KeyboardInterrupt):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
