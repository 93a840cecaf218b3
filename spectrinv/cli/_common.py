"""Helpers shared by the subcommands: quantity arguments, trajectory input, user errors."""

from __future__ import annotations

import argparse
from typing import Any

from observables import Quantity, Trajectory, TrajectoryError, UnitError

__all__ = [
    "USER_ERRORS",
    "CLIError",
    "add_trajectory_args",
    "parse_quantity",
    "progress",
    "read_trajectory_args",
]


class CLIError(Exception):
    """A user error on the command line (reported as one line, without a traceback)."""


#: Exceptions that mean "the input is wrong": `main` prints them as one line, exit status 2.
USER_ERRORS: tuple[type[Exception], ...] = (
    CLIError,
    UnitError,
    TrajectoryError,
    FileNotFoundError,
    ValueError,
)


def parse_quantity(text: str) -> Quantity:
    """Parse '2 fs', '298.15 K', '1.5nm' into a Quantity; a bare number is an error."""
    try:
        q = Quantity(text)
    except Exception as err:
        raise argparse.ArgumentTypeError(f"cannot parse quantity {text!r}: {err}") from err
    if not isinstance(q, Quantity) or q.dimensionless:
        raise argparse.ArgumentTypeError(f"{text!r} has no unit; write it like '2 fs' or '300 K'")
    return q


def add_trajectory_args(p: argparse.ArgumentParser) -> None:
    """The positional trajectory file plus `--topology` and `--timestep`."""
    p.add_argument(
        "trajectory", help="trajectory file (.npz, .extxyz, .traj, .dcd, .xtc, .trr, .lammpstrj)"
    )
    p.add_argument("--topology", help="topology for coordinate-only formats (PDB, GRO, PSF, ...)")
    p.add_argument(
        "--timestep",
        type=parse_quantity,
        help="time between stored frames, e.g. '2 fs' (if the file lacks it)",
    )


def read_trajectory_args(args: argparse.Namespace) -> Trajectory:
    """Read the trajectory named by the arguments `add_trajectory_args` declared."""
    from observables.io import read_trajectory

    kwargs: dict[str, Any] = {}
    if getattr(args, "timestep", None) is not None:
        kwargs["timestep"] = args.timestep
    if getattr(args, "topology", None) is not None:
        kwargs["topology"] = args.topology
    return read_trajectory(args.trajectory, **kwargs)


def progress(message: str):
    """A spinner with elapsed time on stderr while a step runs (silent when not a terminal)."""
    from rich.console import Console

    return Console(stderr=True).status(message)
