"""The `spectrinv` parser, built from a fixed tuple of subcommand modules, and `main`."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for an error in the input)."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning  # restored when the command ends
            return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"spectrinv {args.command}: error: {err}", file=sys.stderr)
        return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings on the command line as one line, `warning (Category): message`, without
    the source location inside the package that a user cannot act on."""
    print(f"warning ({category.__name__}): {message}", file=file or sys.stderr)
