"""Helpers shared by the subcommands: quantity arguments, trajectory input, user errors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from observables import Quantity, Trajectory, TrajectoryError, UnitError

from .._progress import progress_task

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
        "trajectory",
        help="trajectory file (.npz, .extxyz, .traj, .dcd, .xtc, .trr, .lammpstrj, .gro, .pdb, "
        ".h5md; or a `gmx dipoles` .xvg dipole series)",
    )
    p.add_argument("--topology", help="topology for coordinate-only formats (PDB, GRO, PSF, ...)")
    p.add_argument(
        "--timestep",
        type=parse_quantity,
        help="time between stored frames, e.g. '2 fs': needed where the file lacks it "
        "(.extxyz, .traj), overrides the file's value otherwise (.dcd, .xtc, ...); refused "
        "for .npz, which always records its own",
    )
    p.add_argument(
        "--lammps-units",
        choices=("real", "metal", "si", "cgs", "electron", "micro", "nano"),
        help="for a LAMMPS dump (required there): the `units` style of the LAMMPS input "
        "(real: Å and Å/fs, metal: Å and Å/ps, ...)",
    )
    p.add_argument(
        "--type-names",
        type=_mapping,
        help="LAMMPS dump: species names of the numeric atom types, e.g. '1=O,2=H'",
    )
    p.add_argument(
        "--masses",
        type=_mapping,
        help="masses per species in Da, e.g. 'O=15.999,H=1.008' (a LAMMPS dump has none; "
        "the VDOS needs them)",
    )


def _mapping(text: str) -> dict[str, str]:
    """`'a=1,b=2'` -> `{'a': '1', 'b': '2'}` (an argparse type)."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE pairs separated by commas: {text!r}")
    return {k.strip(): v.strip() for k, _, v in pairs}


def read_trajectory_args(args: argparse.Namespace) -> Trajectory:
    """Read the trajectory named by the arguments `add_trajectory_args` declared."""
    from observables.io import ASE_SUFFIXES, SELF_CONTAINED_SUFFIXES, read_trajectory

    suffix = Path(args.trajectory).suffix.lower()
    topology = getattr(args, "topology", None)
    if suffix == ".npz" and getattr(args, "timestep", None) is not None:
        stored = _npz_timestep(args.trajectory)
        raise CLIError(
            f"--timestep {args.timestep:~P} is not accepted for {args.trajectory}: an .npz "
            f"trajectory records its own time between frames ({stored})"
        )
    own_atoms = (".npz", ".gro", ".xvg", *ASE_SUFFIXES, *SELF_CONTAINED_SUFFIXES)
    if topology is not None and suffix in own_atoms:
        raise CLIError(
            f"--topology is not accepted for {args.trajectory}: "
            f"{suffix} files carry their own atoms"
        )
    kwargs: dict[str, Any] = {}
    if getattr(args, "timestep", None) is not None:
        kwargs["timestep"] = args.timestep
    if getattr(args, "topology", None) is not None:
        kwargs["topology"] = args.topology
    for option in ("lammps_units", "type_names"):
        if getattr(args, option, None) is not None:
            kwargs[option] = getattr(args, option)
    if getattr(args, "masses", None) is not None:
        try:
            kwargs["masses"] = {k: Quantity(float(v), "Da") for k, v in args.masses.items()}
        except ValueError as err:
            raise CLIError(f"--masses takes numbers (Da): {err}") from err
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
    """A row with a spinner and the elapsed time in the progress display while a step runs
    (nothing when the display is off: not a terminal, or `--no-progress`)."""
    return progress_task(message)
