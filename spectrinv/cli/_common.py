"""Helpers shared by the subcommands: quantity arguments, trajectory input, user errors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from observables import Quantity, Trajectory, TrajectoryError, UnitError

__all__ = [
    "USER_ERRORS",
    "CLIError",
    "add_trajectory_args",
    "check_output_folder",
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
        help="time between stored frames, e.g. '2 fs': needed where the file lacks it "
        "(.extxyz, .traj), overrides the file's value otherwise (.dcd, .xtc, ...); refused "
        "for .npz, which always records its own",
    )


def read_trajectory_args(args: argparse.Namespace) -> Trajectory:
    """Read the trajectory named by the arguments `add_trajectory_args` declared."""
    from observables.io import ASE_SUFFIXES, read_trajectory

    suffix = Path(args.trajectory).suffix.lower()
    topology = getattr(args, "topology", None)
    if suffix == ".npz" and getattr(args, "timestep", None) is not None:
        stored = _npz_timestep(args.trajectory)
        raise CLIError(
            f"--timestep {args.timestep:~P} is not accepted for {args.trajectory}: an .npz "
            f"trajectory records its own time between frames ({stored})"
        )
    if topology is not None and (suffix == ".npz" or suffix in ASE_SUFFIXES):
        raise CLIError(
            f"--topology is not accepted for {args.trajectory}: "
            f"{suffix} files carry their own atoms"
        )
    kwargs: dict[str, Any] = {}
    if getattr(args, "timestep", None) is not None:
        kwargs["timestep"] = args.timestep
    if getattr(args, "topology", None) is not None:
        kwargs["topology"] = args.topology
    return read_trajectory(args.trajectory, **kwargs)


def _npz_timestep(path: str) -> str:
    """The time between frames an .npz trajectory records, as text like '2 fs' (an
    unreadable file raises the reader's own error)."""
    from observables.io import read_npz

    return f"{read_npz(path).quantity('timestep').to('fs'):.4g~P}"


def check_output_folder(path: Path, what: str) -> None:
    """Refuse, before any work, an output folder that is (or lies below) an existing file
    (`what`: the option and value that named it, for the message)."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise CLIError(f"{what}: {folder} is a file, not a folder")
            return


def progress(message: str):
    """A spinner with elapsed time on stderr while a step runs (silent when not a terminal)."""
    from rich.console import Console

    return Console(stderr=True).status(message)
