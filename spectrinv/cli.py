"""The `spectrinv` command line.

    spectrinv info TRAJ                  summary of a trajectory file
    spectrinv datasets [NAME]            list bundled datasets / show one
    spectrinv spectrum TRAJ --kind ir|raman|vdos [...]
    spectrinv transport TRAJ --kind diffusion|viscosity|conductivity [...]
    spectrinv rdf TRAJ [...]
    spectrinv fit CONFIG [--out DIR]     fit a potential to experimental data (resumable)
    spectrinv quickstart                 a real fit on bundled data (water IR)

Errors in the input (missing files, wrong units, malformed trajectories) are reported as
one line on stderr with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from observables import Quantity, TrajectoryError, UnitError

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error on the command line (reported without a traceback)."""


def parse_quantity(text: str) -> Quantity:
    """Parse '2 fs', '298.15 K', '1.5nm' into a Quantity; a bare number is an error."""
    try:
        q = Quantity(text)
    except Exception as err:
        raise argparse.ArgumentTypeError(f"cannot parse quantity {text!r}: {err}") from err
    if not isinstance(q, Quantity) or q.dimensionless:
        raise argparse.ArgumentTypeError(f"{text!r} has no unit; write it like '2 fs' or '300 K'")
    return q


def _cmd_info(args: argparse.Namespace) -> int:
    traj = _read(args)
    print(f"file         {args.trajectory}")
    print(f"frames       {traj.n_frames}")
    print(f"atoms        {traj.n_atoms}")
    print(f"timestep     {traj.quantity('timestep').to('fs'):.6g~P} between frames")
    if traj.species_names:
        print(f"species      {', '.join(traj.species_names)}")
    if traj.box is not None:
        kind = "triclinic" if traj.is_triclinic else "orthorhombic"
        print(f"box          {kind}, volume {float(traj.volume[0]):.6g} nm³ (first frame)")
    present = [
        n
        for n in (
            "velocities",
            "masses",
            "charges",
            "dipole",
            "polarizability",
            "stress",
            "heat_flux",
        )
        if getattr(traj, n) is not None
    ]
    print(f"fields       {', '.join(present) if present else '(positions only)'}")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    import tomllib

    from ._data import bundled_files, data_dir
    from .datasets import list_datasets
    from .datasets._describe import describe, summary_rows

    root = data_dir()
    # Example trajectories (simulated) are .npz files with a TOML sidecar; they are not datasets.
    examples = {
        p.relative_to(root).with_suffix("").as_posix(): p
        for p in bundled_files((".toml",))
        if p.with_suffix(".npz").is_file()
    }
    names = list_datasets()
    if args.name is None:
        rows = [("NAME", "QUANTITY [UNIT]", "CONDITIONS", "POINTS"), *summary_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        print(f"experimental datasets in {root} (spectrinv.datasets.load_dataset(NAME)):")
        for r in rows:
            print(f"  {r[0]:{widths[0]}s}  {r[1]:{widths[1]}s}  {r[2]:{widths[2]}s}  {r[3]:>6s}")
        print("example trajectories (simulated, not experimental):")
        for name, p in examples.items():
            meta = tomllib.loads(p.read_text())
            about = meta.get("description") or meta.get("title") or ""
            print(f"  {name:{widths[0]}s}  {about}")
        print("details: spectrinv datasets NAME")
        return 0
    stems = {n.rsplit("/", 1)[-1]: n for n in [*names, *examples]}
    name = args.name if args.name in names or args.name in examples else stems.get(args.name)
    if name is None:
        raise CLIError(
            f"no dataset named {args.name!r}; available: {', '.join([*names, *examples])}"
        )
    if name in examples:
        print(examples[name].read_text())
        return 0
    print(describe(name))
    return 0


def _read(args: argparse.Namespace):
    from observables.io import read_trajectory

    kwargs = {}
    if getattr(args, "timestep", None) is not None:
        kwargs["timestep"] = args.timestep
    if getattr(args, "topology", None) is not None:
        kwargs["topology"] = args.topology
    return read_trajectory(args.trajectory, **kwargs)


def _add_trajectory_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "trajectory", help="trajectory file (.npz, .extxyz, .traj, .dcd, .xtc, .trr, .lammpstrj)"
    )
    p.add_argument("--topology", help="topology for coordinate-only formats (PDB, GRO, PSF, ...)")
    p.add_argument(
        "--timestep",
        type=parse_quantity,
        help="time between stored frames, e.g. '2 fs' (if the file lacks it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectrinv",
        description="Spectra, transport coefficients and structure from MD trajectories; "
        "fits of interatomic potentials to experiment.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="summarise a trajectory file")
    _add_trajectory_args(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("datasets", help="list bundled datasets, or show one's metadata")
    p.add_argument("name", nargs="?", help="dataset name (as listed)")
    p.set_defaults(func=_cmd_datasets)

    for register in _EXTRA_COMMANDS:
        register(sub, _add_trajectory_args)
    return parser


# Subcommands defined in other modules register themselves here (keeps this file small).
_EXTRA_COMMANDS: list[Callable] = []


def main(argv: Sequence[str] | None = None) -> int:
    from . import (  # noqa: F401  (register their subcommands)
        _cli_fit,
        _cli_observables,
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CLIError, UnitError, TrajectoryError, FileNotFoundError, ValueError) as err:
        print(f"spectrinv {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
