"""Frame sources: trajectory files read a chunk of frames at a time (for `observables.streaming`).

A frame source knows a trajectory's size, time step and per-atom data (masses, charges,
species) without reading its frames, and yields `Trajectory` objects of at most
`chunk_frames` consecutive frames, in order, holding only the per-frame fields asked for.
Peak memory is that of one chunk, whatever the file size.

- `NpzFrames(path, ...)`: one or more `.npz` files written by `Trajectory.to_npz`
  (compressed or not), read as consecutive parts of one run. Each array is read from its
  zip member as a stream (`.npy` header, then rows), so nothing larger than a chunk is
  ever in memory; no memory map is needed, and compressed files work the same way.
- `MDAnalysisFrames(topology, trajectory, ...)` (`observables._frames_mdanalysis`): any
  format `observables.io.read_mdanalysis` reads, one frame range (`start`/`stop`) at a time.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._trajectory import Trajectory
from ._trajectory_fields import FIELDS, PER_FRAME_FIELDS, TrajectoryError
from ._trajectory_npz import _header, _member
from ._units import Quantity, to_internal

__all__ = ["AbstractFrameSource", "NpzFrames", "check_chunk_frames"]

_PER_ATOM = ("masses", "charges", "species")


def check_chunk_frames(chunk_frames: Any) -> int:
    """`chunk_frames` as a positive int; `ValueError` naming the value otherwise."""
    if (
        isinstance(chunk_frames, bool)
        or not isinstance(chunk_frames, int | np.integer)
        or chunk_frames < 1
    ):
        raise ValueError(
            f"chunk_frames must be a positive int number of frames (e.g. 1000), got "
            f"{chunk_frames!r}"
        )
    return int(chunk_frames)


class AbstractFrameSource(abc.ABC):
    """A trajectory on disk, read a chunk of frames at a time.

    **Properties:** `n_frames`, `n_atoms` (`None` for a file without atoms), `timestep`
    (ps, float), `fields` (the per-frame fields the file has), `per_atom` (dict of the
    per-atom fields as quantities: `masses`, `charges`, `species`, `species_names`),
    `name` (for messages).

    `chunks(chunk_frames, fields)` yields `Trajectory` objects of at most `chunk_frames`
    consecutive frames with the per-frame `fields` asked for (plus the box and the per-atom
    fields); `frames(fields)` reads all frames of those fields at once (for per-frame
    signals, which are small).
    """

    @property
    @abc.abstractmethod
    def n_frames(self) -> int: ...

    @property
    @abc.abstractmethod
    def n_atoms(self) -> int | None: ...

    @property
    @abc.abstractmethod
    def timestep(self) -> float: ...

    @property
    @abc.abstractmethod
    def fields(self) -> tuple[str, ...]: ...

    @property
    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def chunks(
        self, chunk_frames: int, fields: Sequence[str] = ("positions",)
    ) -> Iterator[Trajectory]: ...

    def require(self, *names: str) -> None:
        """Raise a one-line `TrajectoryError` if a per-frame field or per-atom field is missing."""
        have = set(self.fields) | {k for k, v in self.per_atom.items() if v is not None}
        missing = [n for n in names if n not in have]
        if missing:
            raise TrajectoryError(
                f"{self.name} has no {', '.join(missing)}, which this observable needs"
            )

    @property
    @abc.abstractmethod
    def per_atom(self) -> dict[str, Any]: ...

    def box(self) -> Any:
        """The periodic box in nm as stored (`[3]`, `[3, 3]`, or per frame), or None."""
        boxes, const = [], None
        for chunk in self.chunks(10_000, self.fields[:1]):
            if chunk.box is None:
                return None
            if chunk.box_per_frame:
                boxes.append(np.asarray(chunk.box))
            else:
                const = np.asarray(chunk.box)
        return np.concatenate(boxes) if boxes else const

    def arrays(self, chunk_frames: int, field: str) -> Iterator[np.ndarray]:
        """The per-frame `field` in chunks of at most `chunk_frames` frames, as NumPy arrays
        in internal units (no `Trajectory` is built: the correlation accumulators need
        nothing else, and this keeps the memory of a chunk on the NumPy side)."""
        for chunk in self.chunks(chunk_frames, (field,)):
            yield np.asarray(getattr(chunk, field))

    def first_chunk(self, chunk_frames: int, fields: Sequence[str]) -> Trajectory:
        """The first chunk alone (the file is closed again)."""
        chunks = self.chunks(chunk_frames, fields)
        try:
            return next(chunks)
        finally:
            chunks.close()

    def frames(self, fields: Sequence[str], chunk_frames: int = 100_000) -> Trajectory:
        """All frames of the per-frame `fields` (and the box) as one `Trajectory`."""
        parts = list(self.chunks(chunk_frames, fields))
        if len(parts) == 1:
            return parts[0]
        values: dict[str, Any] = {}
        first = parts[0]
        for name in fields:
            values[name] = np.concatenate([np.asarray(getattr(p, name)) for p in parts])
        same = all(
            not p.box_per_frame and np.array_equal(np.asarray(p.box), np.asarray(first.box))
            for p in parts
        )
        if first.box is None or same:
            values["box"] = first.box
        else:  # per frame, or parts with different boxes: one matrix per frame
            values["box"] = np.concatenate([np.asarray(p.box_matrix) for p in parts])
        keep = {f.name: getattr(first, f.name) for f in dataclasses.fields(first)}
        keep.update(values)
        box, dt = keep.pop("box"), keep.pop("timestep")
        return Trajectory.from_internal(box=box, timestep=dt, **keep)


# ------------------------------------------------------------------------------------ npz
class _NpyStream:
    """Rows of one `.npy` member of a zip archive, read in order (never the whole array)."""

    def __init__(self, archive: zipfile.ZipFile, member: str, path: Path):
        self.path, self.member = path, member
        try:
            self.file = archive.open(member + ".npy")
            version = np.lib.format.read_magic(self.file)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            self.shape, fortran, self.dtype = read(self.file)
        except Exception as err:  # zlib.error, zipfile.BadZipFile, EOFError, ValueError
            raise self._damaged(err) from None
        if fortran and len(self.shape) > 1:
            raise TrajectoryError(
                f"{path}: array {member!r} is stored in Fortran order and cannot be read "
                "frame by frame; write it again with Trajectory.to_npz"
            )
        if self.dtype.hasobject:
            raise TrajectoryError(f"{path}: array {member!r} holds Python objects, not numbers")
        self.row_shape = tuple(self.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def _damaged(self, err: Exception) -> TrajectoryError:
        kind = type(err).__qualname__
        if type(err).__module__ not in ("builtins", "zipfile"):
            kind = f"{type(err).__module__}.{kind}"  # zlib.error
        return TrajectoryError(
            f"{self.path}: array {self.member!r} cannot be read ({kind}: "
            f"{' '.join(str(err).split())}); the file is damaged"
        )

    def read(self, n: int) -> np.ndarray:
        want = n * self.row_bytes
        try:
            data = self.file.read(want)
        except Exception as err:  # zlib.error, zipfile.BadZipFile, EOFError
            raise self._damaged(err) from None
        if len(data) != want:
            raise TrajectoryError(f"{self.path}: array {self.member!r} ends early (truncated file)")
        return np.frombuffer(data, dtype=self.dtype).reshape((n,) + self.row_shape)

    def close(self) -> None:
        self.file.close()


@dataclasses.dataclass
class _NpzPart:
    path: Path
    n_frames: int
    units: dict[str, str]
    fields: tuple[str, ...]
    box: Any  # a Quantity, per frame or constant, or None


class NpzFrames(AbstractFrameSource):
    """One or more `.npz` trajectories (`Trajectory.to_npz`), read a chunk of frames at a time.

    **Arguments:** `paths`: one file, or several parts of one run in time order (each part's
    frames follow the previous part's last frame). All parts must have the same atoms
    (count, masses, charges, species), time step, box kind and per-frame fields; a part
    that differs is refused with a `TrajectoryError` naming both files.

    Per-frame arrays are read from the archive as streams, so a chunk of frames is the
    largest thing in memory; compressed (`to_npz(compressed=True)`, the default) and
    uncompressed files both work. The small arrays (box, masses, time step, per-frame
    signals when asked for with `frames`) are read whole.
    """

    def __init__(self, *paths: str | os.PathLike):
        if not paths:
            raise TypeError("NpzFrames needs at least one .npz path")
        if len(paths) == 1 and isinstance(paths[0], list | tuple):
            paths = tuple(paths[0])
        self._parts: list[_NpzPart] = []
        self._per_atom: dict[str, Any] = {}
        self._n_atoms: int | None = None
        self._dt: float | None = None
        for p in paths:
            self._add(Path(p))

    def _add(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"trajectory file not found: {path}")
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as err:  # zipfile.BadZipFile, ValueError, OSError
            raise TrajectoryError(f"{path} is not a readable .npz file: {err}") from err
        with data:
            header = _header(data, path)
            units = header["units"]
            allowed = set(FIELDS) | {"box", "timestep", "species", "__header__"}
            unknown = set(data.files) - allowed
            if unknown:
                raise TrajectoryError(f"{path} has unknown arrays {sorted(unknown)}")
            if "timestep" not in data.files:
                raise TrajectoryError(f"{path} has no 'timestep' array")
            fields = tuple(n for n in PER_FRAME_FIELDS if n in data.files)
            if not fields:
                raise TrajectoryError(
                    f"{path} has no per-frame array (positions, or a signal such as dipole)"
                )
            with zipfile.ZipFile(path) as archive:
                shapes = {}
                for n in fields:
                    stream = _NpyStream(archive, n, path)
                    shapes[n] = stream.shape
                    stream.close()
            n_frames = shapes[fields[0]][0]
            for n in fields:
                if shapes[n][0] != n_frames:
                    raise TrajectoryError(
                        f"{path}: {n} has {shapes[n][0]} frames but {fields[0]} has {n_frames}"
                    )
            atom_shapes = [shapes[n][1] for n in ("positions", "velocities") if n in shapes]
            per_atom = {"species_names": header.get("species_names")}
            for n in _PER_ATOM:
                if n in data.files:
                    v = _member(data, n, path)
                    per_atom[n] = v if n == "species" else Quantity(v, units[n])
                    atom_shapes.append(v.shape[0])
                else:
                    per_atom[n] = None
            if per_atom["species_names"] is not None:
                per_atom["species_names"] = tuple(per_atom["species_names"])
            n_atoms = atom_shapes[0] if atom_shapes else None
            if any(s != n_atoms for s in atom_shapes):
                raise TrajectoryError(f"{path}: the per-atom arrays disagree on the atom count")
            dt = float(
                to_internal(
                    Quantity(_member(data, "timestep", path), units["timestep"]), "time", "timestep"
                )
            )
            box = None
            if "box" in data.files:
                box = Quantity(_member(data, "box", path), units.get("box", "nm"))
        self._check_consistent(path, n_atoms, dt, fields, per_atom, box)
        self._parts.append(_NpzPart(path, int(n_frames), units, fields, box))

    def _check_consistent(self, path, n_atoms, dt, fields, per_atom, box) -> None:
        if not self._parts:
            self._n_atoms, self._dt, self._per_atom = n_atoms, dt, per_atom
            return
        first = self._parts[0]
        if n_atoms != self._n_atoms:
            raise TrajectoryError(
                f"{path.name} has {n_atoms} atoms but {first.path.name} has {self._n_atoms}; "
                "the parts of one streamed trajectory must hold the same atoms"
            )
        if abs(dt - self._dt) > 1e-9 * self._dt:
            raise TrajectoryError(
                f"{path.name} has a time step of {dt:g} ps but {first.path.name} has "
                f"{self._dt:g} ps; the parts of one run need the same time step"
            )
        if set(fields) != set(first.fields):
            raise TrajectoryError(
                f"{path.name} has the per-frame arrays {sorted(fields)} but {first.path.name} "
                f"has {sorted(first.fields)}"
            )
        for n in (*_PER_ATOM, "species_names"):
            a, b = per_atom[n], self._per_atom[n]
            a = a.m if isinstance(a, Quantity) else a
            b = b.m if isinstance(b, Quantity) else b
            same = (a is None and b is None) or (
                a is not None and b is not None and np.array_equal(np.asarray(a), np.asarray(b))
            )
            if not same:
                raise TrajectoryError(
                    f"{path.name} has other {n} than {first.path.name}; the parts of one "
                    "streamed trajectory must hold the same atoms"
                )
        if (box is None) != (first.box is None):
            raise TrajectoryError(
                f"{path.name} and {first.path.name} differ in having a periodic box"
            )

    # ---------------------------------------------------------------------------- views
    @property
    def n_frames(self) -> int:
        return sum(p.n_frames for p in self._parts)

    @property
    def n_atoms(self) -> int | None:
        return self._n_atoms

    @property
    def timestep(self) -> float:
        return self._dt

    @property
    def fields(self) -> tuple[str, ...]:
        return self._parts[0].fields

    @property
    def per_atom(self) -> dict[str, Any]:
        return dict(self._per_atom)

    def box(self) -> Any:
        if self._parts[0].box is None:
            return None
        boxes = [np.asarray(p.box.m_as("nm")) for p in self._parts]
        if _box_per_frame(boxes[0].shape):
            return np.concatenate(boxes)
        if all(np.array_equal(b, boxes[0]) for b in boxes):
            return boxes[0]
        parts = zip(boxes, self._parts, strict=True)
        return np.concatenate([np.broadcast_to(b, (p.n_frames,) + b.shape) for b, p in parts])

    def stored_bytes(self) -> int:
        """Uncompressed size of the per-frame arrays (what reading them all would take)."""
        total = 0
        for part in self._parts:
            with zipfile.ZipFile(part.path) as archive:
                total += sum(i.file_size for i in archive.infolist())
        return total

    @property
    def name(self) -> str:
        names = [p.path.name for p in self._parts]
        return names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} parts)"

    def arrays(self, chunk_frames: int, field: str) -> Iterator[np.ndarray]:
        chunk_frames = check_chunk_frames(chunk_frames)
        self.require(field)
        kind = FIELDS[field][0]
        for part in self._parts:
            scale = float(to_internal(Quantity(1.0, part.units[field]), kind, field))
            with zipfile.ZipFile(part.path) as archive:
                stream = _NpyStream(archive, field, part.path)
                try:
                    for start in range(0, part.n_frames, chunk_frames):
                        x = stream.read(min(chunk_frames, part.n_frames - start))
                        x = x.astype(np.float64) if scale == 1.0 else x * scale
                        if not np.all(np.isfinite(x)):
                            bad = np.argwhere(~np.isfinite(x))[0]
                            raise TrajectoryError(
                                f"{part.path}: {field} has a non-finite value (NaN/inf) at "
                                f"frame {start + int(bad[0])} of that file"
                            )
                        yield x
                finally:
                    stream.close()

    def chunks(
        self, chunk_frames: int, fields: Sequence[str] = ("positions",)
    ) -> Iterator[Trajectory]:
        """`Trajectory` chunks of at most `chunk_frames` frames holding `fields` (in order)."""
        chunk_frames = check_chunk_frames(chunk_frames)
        fields = tuple(fields)
        self.require(*fields)
        for part in self._parts:
            yield from self._part_chunks(part, chunk_frames, fields)

    def _part_chunks(self, part: _NpzPart, chunk_frames: int, fields: tuple[str, ...]):
        with zipfile.ZipFile(part.path) as archive:
            streams = {n: _NpyStream(archive, n, part.path) for n in fields}
            try:
                box = part.box
                per_frame_box = box is not None and _box_per_frame(box.m.shape)
                for start in range(0, part.n_frames, chunk_frames):
                    m = min(chunk_frames, part.n_frames - start)
                    kw: dict[str, Any] = {
                        n: Quantity(streams[n].read(m), part.units[n]) for n in fields
                    }
                    kw["box"] = box[start : start + m] if per_frame_box else box
                    yield Trajectory(
                        timestep=Quantity(self._dt, "ps"),
                        **{k: v for k, v in self._per_atom.items() if v is not None},
                        **kw,
                    )
            finally:
                for s in streams.values():
                    s.close()


def _box_per_frame(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 or (len(shape) == 2 and shape != (3, 3))
