"""The `spectrinv` parser, built from a fixed tuple of subcommand modules, and `main`."""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import warnings
from collections.abc import Sequence

from .._progress import show_progress
from . import _fit, _inspect, _observables
from ._common import USER_ERRORS

__all__ = ["SUBCOMMAND_MODULES", "build_parser", "main"]

#: The modules that add subcommands, in the order `spectrinv --help` lists them. Each has
#: `add_commands(subparsers)`; every subcommand sets `func(args) -> exit status`.
SUBCOMMAND_MODULES = (_inspect, _fit, _observables)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="spectrinv",
        description="Spectra, transport coefficients and structure from MD trajectories; "
        "fits of interatomic potentials to experiment.",
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    parser.add_argument("--no-progress", action="store_true", help=_NO_PROGRESS_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.add_commands(sub)
    for command in sub.choices.values():  # `--debug` also after the subcommand
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
        command.add_argument(
            "--no-progress",
            action="store_true",
            default=argparse.SUPPRESS,
            help=_NO_PROGRESS_HELP,
        )
    return parser


_DEBUG_HELP = "show the full traceback of an unexpected error instead of a one-line summary"
_NO_PROGRESS_HELP = (
    "no live progress display on a terminal (fit steps, MD sampling, compilation with "
    "ETA); it is never shown when stdout or stderr is not a terminal"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 on success, 2 for an error in the
    input, 1 for an unexpected (internal) error, 130 when interrupted (Ctrl-C). Each error
    is one line on stderr; with `--debug` an unexpected error propagates with its traceback.
    """
    args = build_parser().parse_args(argv)
    with _quiet_finalizers(args.debug):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command of `args`, its errors reported as one line (see `main`)."""
    where = f"spectrinv {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning  # restored when the command ends
            with show_progress(False if args.no_progress else None):
                return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"{where}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        what = f"{type(err).__name__}: {message}" if message else type(err).__name__
        print(
            f"{where}: internal error: {what} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


@contextlib.contextmanager
def _quiet_finalizers(debug: bool):
    """Silence errors raised in finalizers of third-party objects (an MDAnalysis reader of a
    corrupt file fails again in `__del__`, printing "Exception ignored in ..." with a
    traceback after the one-line error); `--debug` keeps them."""
    previous = sys.unraisablehook
    if not debug:
        sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        gc.collect()  # finalize the command's objects while the hook is still installed
        sys.unraisablehook = previous


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings on the command line as one line, `warning (Category): message`, without
    the source location inside the package that a user cannot act on."""
    print(f"warning ({category.__name__}): {message}", file=file or sys.stderr)
