"""`MDAnalysisFrames`: a trajectory MDAnalysis reads, as a frame source (`observables._frames`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._frames import AbstractFrameSource, check_chunk_frames
from ._trajectory import Trajectory
from ._trajectory_fields import PER_FRAME_FIELDS, TrajectoryError

__all__ = ["MDAnalysisFrames"]


class MDAnalysisFrames(AbstractFrameSource):
    """A trajectory MDAnalysis reads (DCD, XTC, TRR, LAMMPS dump, ...), a frame range at a time.

    **Arguments:** as `observables.io.read_mdanalysis` (`topology`, `trajectory`, and its
    keyword arguments such as `timestep`, `select`, `masses`, `lammps_units`), without
    `start`/`stop`/`step`. Each chunk is read with `read_mdanalysis(..., start=i,
    stop=i + chunk_frames)`, so the units, masses and box conventions are the same as a
    whole-file read. Every chunk must have the atoms of the first (`TrajectoryError`
    otherwise).
    """

    def __init__(self, topology: str | os.PathLike, trajectory: Any = None, **kwargs: Any):
        for k in ("start", "stop", "step"):
            if k in kwargs:
                raise TypeError(f"MDAnalysisFrames reads every frame; {k}= is not supported")
        from .io import read_mdanalysis

        self._read = lambda start, stop: read_mdanalysis(
            topology, trajectory, start=start, stop=stop, **self._kwargs
        )
        self._kwargs = dict(kwargs)
        self._label = Path(trajectory if trajectory is not None else topology).name
        try:
            import MDAnalysis as mda
        except ImportError as err:  # pragma: no cover
            raise ImportError(
                "MDAnalysisFrames needs MDAnalysis: pip install 'spectrinv[io]'"
            ) from err
        first = self._read(0, 2)
        self._first = first
        if self._kwargs.get("timestep") is None:
            self._kwargs["timestep"] = first.quantity("timestep")
        self._dt = float(first.timestep)
        args = [str(topology)] if trajectory is None else [str(topology), str(trajectory)]
        kw = {k: kwargs[k] for k in ("format", "topology_format") if k in kwargs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._n_frames = len(mda.Universe(*args, **kw).trajectory)

    @property
    def n_frames(self) -> int:
        return self._n_frames

    @property
    def n_atoms(self) -> int | None:
        return self._first.n_atoms

    @property
    def timestep(self) -> float:
        return self._dt

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(n for n in PER_FRAME_FIELDS if getattr(self._first, n) is not None)

    @property
    def per_atom(self) -> dict[str, Any]:
        t = self._first
        out = {n: None if getattr(t, n) is None else t.quantity(n) for n in ("masses", "charges")}
        out["species"] = None if t.species is None else np.asarray(t.species)
        out["species_names"] = t.species_names
        return out

    @property
    def name(self) -> str:
        return self._label

    def chunks(
        self, chunk_frames: int, fields: Sequence[str] = ("positions",)
    ) -> Iterator[Trajectory]:
        chunk_frames = check_chunk_frames(chunk_frames)
        fields = tuple(fields)
        self.require(*fields)
        for start in range(0, self._n_frames, chunk_frames):
            t = self._read(start, min(start + chunk_frames, self._n_frames))
            if t.n_atoms != self.n_atoms:
                raise TrajectoryError(
                    f"{self._label}: frame {start} has {t.n_atoms} atoms but frame 0 has "
                    f"{self.n_atoms}; a streamed trajectory must keep its atoms"
                )
            drop = {
                n: None for n in PER_FRAME_FIELDS if n not in fields and getattr(t, n) is not None
            }
            yield t._replace_internal(**drop) if drop else t
