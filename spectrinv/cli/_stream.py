"""Streaming for `spectrinv spectrum | transport | rdf`: `--stream` and `--chunk-frames`.

A trajectory file is streamed (read a chunk of frames at a time with
`observables.streaming`) when asked (`--stream always`), or, by default, when it is an `.npz`
whose arrays would fill more than a quarter of the machine's memory.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import observables as ob
from observables import Quantity

from ._common import CLIError, progress, read_trajectory_args

__all__ = ["add_stream_args", "compute", "has_atoms", "read_frames"]


def add_stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stream",
        choices=("auto", "always", "never"),
        default="auto",
        help="read the file a chunk of frames at a time (memory of one chunk): always, never, "
        "or auto (default: an .npz larger than a quarter of the memory is streamed)",
    )
    p.add_argument("--chunk-frames", type=int, default=1000, help="frames per chunk when streaming")


#: `--stream auto` streams an .npz whose arrays take more than this share of the memory.
_AUTO_STREAM_SHARE = 0.25


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16e9


def _frame_source(args: argparse.Namespace, extra_inputs: bool = False):
    """A frame source (`observables.streaming`) when the file is to be streamed, else None.

    `--stream always` streams (.npz, or a format MDAnalysis reads); `auto` (default) streams
    an .npz whose arrays would fill more than a quarter of this machine's memory; `never`
    reads the whole file. `extra_inputs`: the command also reads per-frame signals from
    other files, which streaming does not combine.
    """
    from observables.io import MDA_SUFFIXES
    from observables.streaming import MDAnalysisFrames, NpzFrames

    if args.chunk_frames < 1:
        raise CLIError(f"--chunk-frames {args.chunk_frames}: give a positive number of frames")
    suffix = Path(args.trajectory).suffix.lower()
    if args.stream == "never":
        return None
    if suffix not in (".npz", *MDA_SUFFIXES):
        if args.stream == "always":
            raise CLIError(
                f"--stream reads .npz files and {', '.join(MDA_SUFFIXES)} (through MDAnalysis), "
                f"not {suffix}"
            )
        return None
    if extra_inputs:
        if args.stream == "always":
            raise CLIError("--stream cannot combine --dipoles/--polarizabilities files")
        return None
    if suffix == ".npz":
        if getattr(args, "timestep", None) is not None:
            read_trajectory_args(args)  # the reader's own refusal of --timestep for .npz
        if not Path(args.trajectory).is_file():
            raise FileNotFoundError(f"trajectory file not found: {args.trajectory}")
        frames = NpzFrames(args.trajectory)
        if args.stream == "auto" and frames.stored_bytes() < _AUTO_STREAM_SHARE * _memory_bytes():
            return None
        return frames
    if args.stream != "always":
        return None
    kw: dict[str, Any] = {}
    for option in ("timestep", "lammps_units", "type_names"):
        if getattr(args, option, None) is not None:
            kw[option] = getattr(args, option)
    if getattr(args, "masses", None) is not None:
        kw["masses"] = {k: Quantity(float(v), "Da") for k, v in args.masses.items()}
    if args.topology is None:
        if suffix in (".lammpstrj", ".dump"):
            return MDAnalysisFrames(
                args.trajectory, format="LAMMPSDUMP", topology_format="LAMMPSDUMP", **kw
            )
        raise CLIError(f"{Path(args.trajectory).name}: {suffix} files need --topology")
    return MDAnalysisFrames(args.topology, args.trajectory, **kw)


def compute(obs: Any, traj: Any, args: argparse.Namespace, what: str) -> Any:
    """`obs(traj)`, or `stream(obs, traj)` for a frame source."""
    from observables.streaming import AbstractFrameSource, stream

    if isinstance(traj, AbstractFrameSource):
        with progress(f"{what} (streaming {args.chunk_frames} frames at a time)"):
            return stream(obs, traj, chunk_frames=args.chunk_frames)
    with progress(what):
        return obs(traj)


def read_frames(args: argparse.Namespace, extra_inputs: bool = False) -> Any:
    """The frame source when streaming, else the whole trajectory."""
    source = _frame_source(args, extra_inputs)
    if source is not None:
        return source
    with progress(f"reading {args.trajectory}"):
        return read_trajectory_args(args)


def has_atoms(traj: Any) -> bool:
    if isinstance(traj, ob.Trajectory):
        return traj.positions is not None or traj.velocities is not None
    return traj.n_atoms is not None
