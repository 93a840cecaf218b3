"""`spectrinv info TRAJ` and `spectrinv datasets [NAME]`: look at inputs before computing."""

from __future__ import annotations

import argparse

from ._common import CLIError, add_trajectory_args, read_trajectory_args

__all__ = ["add_commands"]


def _cmd_info(args: argparse.Namespace) -> int:
    traj = read_trajectory_args(args)
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

    from ..datasets import bundled_files, data_dir, describe, list_datasets, summary_rows

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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `info` and `datasets` to the subcommand parsers."""
    p = sub.add_parser("info", help="summarise a trajectory file")
    add_trajectory_args(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("datasets", help="list bundled datasets, or show one's metadata")
    p.add_argument("name", nargs="?", help="dataset name (as listed)")
    p.set_defaults(func=_cmd_datasets)
