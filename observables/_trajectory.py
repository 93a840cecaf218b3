"""`Trajectory`: the one input type of every observable."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._trajectory_fields import (
    FIELDS as _FIELDS,
    PER_ATOM_FIELDS,
    PER_FRAME_FIELDS,
    SIGNALS as _SIGNALS,
    TrajectoryError,
)
from ._trajectory_npz import read_npz, write_npz
from ._units import (
    INTERNAL_UNITS,
    Quantity,
    UnitError,
    from_internal,
    to_internal,
)

__all__ = ["Trajectory", "TrajectoryError", "PER_FRAME_FIELDS"]


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _as_float_array(x: Any, name: str) -> Array:
    arr = jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        if jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == bool:
            arr = arr.astype(jnp.result_type(float))
        else:
            raise TrajectoryError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


class Trajectory(eqx.Module):
    """A sequence of frames of one system, with optional per-frame signals.

    All arrays are stored in the internal unit system (`observables.INTERNAL_UNITS`:
    nm, ps, Da, kJ/mol, e); build one from pint quantities with the constructor, or from
    plain arrays already in internal units with `Trajectory.from_internal` (what MD
    backends do inside `jit`).

    **Fields** (shapes; units as stored):

    - `positions`: `[frame, atom, 3]`, nm, or `None`. Unwrapped or wrapped; observables that
      need unwrapped coordinates say so. A trajectory without positions holds only
      per-frame signals (e.g. a dipole series for `IRSpectrum`) and/or velocities.
    - `box`: periodic cell, nm: `[3]` (orthorhombic edge lengths), `[3, 3]` (triclinic; rows
      are the cell vectors **a**, **b**, **c**), or either with a leading frame axis for a
      box that changes (NPT). `None` for a non-periodic system.
    - `timestep`: scalar, ps: time between consecutive **stored frames**.
    - `velocities`: `[frame, atom, 3]`, nm/ps, optional.
    - `masses`: `[atom]`, Da, optional. `charges`: `[atom]`, e, optional.
    - `species`: `[atom]` int index into `species_names`, optional.
    - `dipole`: `[frame, 3]`, e·nm — total dipole moment of the cell.
    - `polarizability`: `[frame, 3, 3]`, nm³ — polarizability volume α/(4πε₀) of the cell.
    - `stress`: `[frame, 3, 3]`, kJ mol⁻¹ nm⁻³ — pressure tensor (positive = compressive
      convention of the virial pressure, P = (Σ m v⊗v + Σ r⊗f)/V).
    - `heat_flux`: `[frame, 3]`, kJ mol⁻¹ · nm ps⁻¹ — the energy current J = Σᵢ eᵢvᵢ + ...
      (extensive: *not* divided by the volume).
    - `charge_current`: `[frame, 3]`, e nm ps⁻¹ — J = Σᵢ qᵢ vᵢ (extensive).
    - `potential_energy`: `[frame]`, kJ mol⁻¹ — total potential energy of the cell.

    Construction validates shapes, dtypes, finiteness (when the values are concrete, i.e.
    outside `jit`) and units; every error names the field and the problem.

    Example:
        ```python
        import numpy as np
        from observables import Quantity, Trajectory

        traj = Trajectory(
            positions=Quantity(np.random.rand(100, 64, 3) * 12.0, "angstrom"),
            box=Quantity([12.0, 12.0, 12.0], "angstrom"),
            timestep=Quantity(2.0, "fs"),
        )
        ```
    """

    positions: Float[Array, "frame atom 3"] | None
    box: Float[Array, "..."] | None
    timestep: Float[Array, ""]
    velocities: Float[Array, "frame atom 3"] | None = None
    masses: Float[Array, " atom"] | None = None
    charges: Float[Array, " atom"] | None = None
    species: Int[Array, " atom"] | None = None
    dipole: Float[Array, "frame 3"] | None = None
    polarizability: Float[Array, "frame 3 3"] | None = None
    stress: Float[Array, "frame 3 3"] | None = None
    heat_flux: Float[Array, "frame 3"] | None = None
    charge_current: Float[Array, "frame 3"] | None = None
    potential_energy: Float[Array, " frame"] | None = None
    species_names: tuple[str, ...] | None = eqx.field(static=True, default=None)

    _unit_fields: ClassVar[dict[str, tuple[str, str]]] = _FIELDS

    def __init__(
        self,
        positions: Any = None,
        *,
        box: Any,
        timestep: Any,
        velocities: Any = None,
        masses: Any = None,
        charges: Any = None,
        species: Any = None,
        species_names: tuple[str, ...] | list[str] | None = None,
        dipole: Any = None,
        polarizability: Any = None,
        stress: Any = None,
        heat_flux: Any = None,
        charge_current: Any = None,
        potential_energy: Any = None,
    ):
        """Build from pint quantities (converted to internal units here).

        **Arguments:** every physical argument is a `pint.Quantity` of the observables
        registry (`observables.Quantity(value, unit)`); see the class docstring for shapes.
        `positions` may be omitted when another per-frame field is given (e.g. only a dipole
        series, a time step and a box for an IR spectrum). `box=None` means no periodic
        boundaries. `species` is an integer array (or a list of
        names, which sets `species_names`).

        **Raises:** `UnitError` for a missing or wrong unit (naming both units),
        `TrajectoryError` for shapes, dtypes or non-finite values.
        """
        given = dict(
            positions=positions,
            velocities=velocities,
            masses=masses,
            charges=charges,
            dipole=dipole,
            polarizability=polarizability,
            stress=stress,
            heat_flux=heat_flux,
            charge_current=charge_current,
            potential_energy=potential_energy,
        )
        for name, value in given.items():
            if value is None:
                setattr(self, name, None)
                continue
            kind = _FIELDS[name][0]
            setattr(self, name, _as_float_array(to_internal(value, kind, name), name))
        self.box = (
            None if box is None else _as_float_array(to_internal(box, "length", "box"), "box")
        )
        self.timestep = _as_float_array(to_internal(timestep, "time", "timestep"), "timestep")
        self.species, self.species_names = _species(species, species_names)

    @classmethod
    def from_internal(
        cls, positions: Array | None = None, *, box: Array | None, timestep: Any, **fields
    ) -> "Trajectory":
        """Build from plain arrays that are **already in internal units** (nm, ps, Da, e, ...).

        This is the constructor for code running under `jit` (MD backends, transformations);
        it performs the same shape checks as the main constructor. Passing a `pint.Quantity`
        here is an error (use the main constructor).
        """
        values = dict(positions=positions, box=box, timestep=timestep, **fields)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"Trajectory.from_internal got unknown fields {sorted(unknown)}")
        obj = object.__new__(cls)
        for f in dataclasses.fields(cls):
            v = values.get(f.name, f.default)
            if isinstance(v, Quantity):
                raise UnitError(
                    f"{f.name} is a pint Quantity; Trajectory.from_internal takes plain arrays "
                    f"in internal units ({INTERNAL_UNITS}). Use Trajectory(...) for quantities."
                )
            if v is not None and f.name != "species_names":
                v = jnp.asarray(v) if f.name == "species" else _as_float_array(v, f.name)
            object.__setattr__(obj, f.name, v)
        if obj.species_names is not None:
            object.__setattr__(obj, "species_names", tuple(obj.species_names))
        obj.__check_init__()
        return obj

    def __check_init__(self):
        n_frames, n_atoms = self._sizes()
        expected = {
            "positions": (n_frames, n_atoms, 3),
            "velocities": (n_frames, n_atoms, 3),
            "masses": (n_atoms,),
            "charges": (n_atoms,),
            "species": (n_atoms,),
            "dipole": (n_frames, 3),
            "polarizability": (n_frames, 3, 3),
            "stress": (n_frames, 3, 3),
            "heat_flux": (n_frames, 3),
            "charge_current": (n_frames, 3),
            "potential_energy": (n_frames,),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is None:
                continue
            if tuple(value.shape) != shape:
                per_frame = name not in ("masses", "charges", "species")
                what = "frame count" if per_frame and value.shape[:1] != shape[:1] else "shape"
                atoms = "" if n_atoms is None else f" of {n_atoms} atoms"
                raise TrajectoryError(
                    f"{name} has a {what} mismatch: shape {tuple(value.shape)}, expected {shape} "
                    f"for {n_frames} frames{atoms}."
                )
        if self.box is not None:
            ok = {(3,), (3, 3), (n_frames, 3), (n_frames, 3, 3)}
            if tuple(self.box.shape) not in ok:
                raise TrajectoryError(
                    f"box has shape {tuple(self.box.shape)}; expected (3,) edge lengths, (3, 3) "
                    f"cell vectors as rows, or ({n_frames}, 3) / ({n_frames}, 3, 3) per frame."
                )
        if self.timestep.shape != ():
            raise TrajectoryError(
                f"timestep must be a scalar, got shape {tuple(self.timestep.shape)}"
            )
        if self.species is not None and not jnp.issubdtype(self.species.dtype, jnp.integer):
            raise TrajectoryError(f"species must be integers, got dtype {self.species.dtype}")
        self._check_values()

    def _sizes(self) -> tuple[int, int | None]:
        """(frames, atoms) from the first per-frame / per-atom field; checks the leading ones."""
        pos = self.positions
        if pos is not None and (pos.ndim != 3 or pos.shape[-1] != 3):
            raise TrajectoryError(
                f"positions must have shape [frame, atom, 3], got {tuple(pos.shape)}; "
                "a single frame needs a leading axis of length 1 (positions[None])."
            )
        per_frame = [n for n in PER_FRAME_FIELDS if getattr(self, n) is not None]
        if not per_frame:
            raise TrajectoryError(
                "a Trajectory needs positions or another per-frame field (velocities, dipole, "
                "polarizability, stress, heat_flux, charge_current); got none"
            )
        lead = getattr(self, per_frame[0])
        n_frames = lead.shape[0] if lead.ndim else 0
        atom_fields = [n for n in PER_ATOM_FIELDS if getattr(self, n) is not None]
        n_atoms = None
        if atom_fields:
            value = getattr(self, atom_fields[0])
            axis = 1 if atom_fields[0] in PER_FRAME_FIELDS else 0
            n_atoms = value.shape[axis] if value.ndim > axis else -1  # -1: a shape mismatch
        if n_frames < 1 or n_atoms == 0:
            raise TrajectoryError(
                f"{per_frame[0]} has an empty axis: shape {tuple(lead.shape)}"
                if n_frames < 1
                else f"{atom_fields[0]} has no atoms: shape {tuple(value.shape)}"
            )
        return n_frames, n_atoms

    def _check_values(self):
        """Finiteness and sign checks; only possible on concrete (non-traced) values."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "species_names" or _is_tracer(value):
                continue
            arr = np.asarray(value)
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))
                raise TrajectoryError(
                    f"{f.name} contains {len(bad)} non-finite value(s) (NaN/inf); first at index "
                    f"{tuple(int(i) for i in bad[0])}."
                )
        if not _is_tracer(self.timestep) and not float(self.timestep) > 0:
            raise TrajectoryError(f"timestep must be positive, got {float(self.timestep)} ps")
        if self.masses is not None and not _is_tracer(self.masses):
            if np.any(np.asarray(self.masses) <= 0):
                raise TrajectoryError("masses must be positive")
        if self.box is not None and not _is_tracer(self.box):
            b = np.asarray(self.box)
            if b.shape[-2:] != (3, 3):  # edge lengths -> diagonal matrices (numpy: no tracing)
                b = b[..., :, None] * np.eye(3)
            if np.any(np.linalg.det(b) <= 0):
                raise TrajectoryError(
                    "box has zero or negative volume; for a triclinic cell give the cell vectors "
                    "as rows of a right-handed 3x3 matrix."
                )
        if (
            self.species is not None
            and self.species_names is not None
            and not _is_tracer(self.species)
        ):
            sp = np.asarray(self.species)
            if sp.min() < 0 or sp.max() >= len(self.species_names):
                raise TrajectoryError(
                    f"species indices span {sp.min()}..{sp.max()} but species_names has "
                    f"{len(self.species_names)} entries"
                )

    # ----------------------------------------------------------------------------- views
    @property
    def n_frames(self) -> int:
        """Number of frames (from positions, or the first per-frame signal)."""
        for name in PER_FRAME_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return value.shape[0]
        raise TrajectoryError("this trajectory has no per-frame field")

    @property
    def n_atoms(self) -> int:
        """Number of atoms; `TrajectoryError` if the trajectory has no per-atom field."""
        for name in PER_ATOM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return value.shape[1] if name in PER_FRAME_FIELDS else value.shape[0]
        raise TrajectoryError(
            "this trajectory has no atoms (no positions, velocities, masses, charges or "
            "species); it holds only per-frame signals"
        )

    @property
    def is_periodic(self) -> bool:
        return self.box is not None

    @property
    def is_triclinic(self) -> bool:
        """True if the box is given as a 3x3 matrix with non-zero off-diagonal elements."""
        if (
            self.box is None
            or self.box.shape[-1] != 3
            or self.box.ndim < 2
            or self.box.shape[-2:] != (3, 3)
        ):
            return False
        if _is_tracer(self.box):
            return True
        b = np.asarray(self.box)
        return bool(np.any(b - b * np.eye(3) != 0))

    @property
    def box_per_frame(self) -> bool:
        return self.box is not None and (
            self.box.ndim == 3 or (self.box.ndim == 2 and self.box.shape != (3, 3))
        )

    @property
    def box_matrix(self) -> Float[Array, "frame 3 3"]:
        """Cell vectors as rows, one 3x3 matrix per frame (nm)."""
        if self.box is None:
            raise TrajectoryError("this trajectory has no periodic box")
        b = self.box
        if b.shape[-1] == 3 and (b.ndim == 1 or (b.ndim == 2 and b.shape != (3, 3))):
            b = b[..., :, None] * jnp.eye(3, dtype=b.dtype)
        if b.ndim == 2:
            b = jnp.broadcast_to(b, (self.n_frames, 3, 3))
        return b

    @property
    def volume(self) -> Float[Array, " frame"]:
        """Cell volume per frame, nm³."""
        return jnp.linalg.det(self.box_matrix)

    @property
    def times(self) -> Quantity:
        """Time of each frame relative to the first, as a `Quantity` (ps)."""
        return from_internal(
            jnp.arange(self.n_frames, dtype=self.timestep.dtype) * self.timestep, "time"
        )

    def quantity(self, name: str) -> Quantity:
        """A field as a pint `Quantity` in its internal unit (e.g. `traj.quantity("positions")`)."""
        if name == "box":
            return from_internal(self.box, "length")
        if name == "timestep":
            return from_internal(self.timestep, "time")
        if name not in _FIELDS:
            raise KeyError(f"{name!r} is not a unit-carrying field; choose from {sorted(_FIELDS)}")
        value = getattr(self, name)
        if value is None:
            raise TrajectoryError(f"this trajectory has no {name}")
        return from_internal(value, _FIELDS[name][0])

    def require(self, *names: str) -> None:
        """Raise a clear error if any of the named optional fields is missing."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise TrajectoryError(
                f"this observable needs {', '.join(missing)} but the trajectory has none; "
                "attach it with Trajectory.replace(...) or read it from a file."
            )

    # ------------------------------------------------------------------ transformations
    def __getitem__(self, index: int | slice) -> "Trajectory":
        """Frames `index` (an int or a slice with positive step); keeps the frame axis.

        A slice with step `k` multiplies `timestep` by `k`.
        """
        if isinstance(index, int | np.integer):
            i = int(index) % self.n_frames if -self.n_frames <= index < self.n_frames else None
            if i is None:
                raise IndexError(f"frame {index} out of range for {self.n_frames} frames")
            index = slice(i, i + 1)
        if not isinstance(index, slice):
            raise TypeError(
                f"Trajectory frames are selected with an int or a slice, not {type(index).__name__}"
            )
        start, stop, step = index.indices(self.n_frames)
        if step <= 0:
            raise ValueError("Trajectory slices need a positive step (time runs forward)")
        if len(range(start, stop, step)) == 0:
            raise IndexError(f"slice {index} selects no frames out of {self.n_frames}")
        sl = slice(start, stop, step)
        changes: dict[str, Any] = {}
        for name in ("positions", "velocities", *_SIGNALS):
            v = getattr(self, name)
            if v is not None:
                changes[name] = v[sl]
        if self.box_per_frame:
            changes["box"] = self.box[sl]
        changes["timestep"] = self.timestep * step
        return self._replace_internal(**changes)

    def _replace_internal(self, **changes) -> "Trajectory":
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(changes)
        box = values.pop("box")
        timestep = values.pop("timestep")
        return Trajectory.from_internal(box=box, timestep=timestep, **values)

    def replace(self, **quantities: Any) -> "Trajectory":
        """A copy with some fields replaced, given as quantities (e.g. `dipole=Quantity(...)`).

        Pass `None` to drop an optional field.
        """
        changes = {}
        for name, q in quantities.items():
            if name == "species_names" or name == "species":
                changes[name] = q
            elif name == "box":
                changes[name] = None if q is None else to_internal(q, "length", "box")
            elif name == "timestep":
                changes[name] = to_internal(q, "time", "timestep")
            elif name in _FIELDS:
                changes[name] = None if q is None else to_internal(q, _FIELDS[name][0], name)
            else:
                raise TypeError(f"Trajectory has no field {name!r}")
        return self._replace_internal(**changes)

    # ------------------------------------------------------------------------------ npz
    def to_npz(self, path: str | os.PathLike, *, compressed: bool = True) -> None:
        """Save to a `.npz` file: arrays in internal units plus a JSON header of units."""
        write_npz(self, path, compressed=compressed)

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> "Trajectory":
        """Load a file written by `to_npz` (or any npz with the same keys and a units header).

        The header's unit strings are honoured, so files in Å/fs load correctly. Returns the
        keyword arguments of the main constructor, as quantities.
        """
        return cls(**read_npz(path, {f.name for f in dataclasses.fields(cls)}))


def _species(species: Any, names: Any) -> tuple[Array | None, tuple[str, ...] | None]:
    if species is None:
        if names is not None:
            raise TrajectoryError("species_names given without species")
        return None, None
    arr = np.asarray(species)
    if arr.dtype.kind in "USO":
        labels = [str(s) for s in arr.tolist()]
        if names is None:
            names = tuple(dict.fromkeys(labels))
        names = tuple(names)
        lookup = {n: i for i, n in enumerate(names)}
        missing = sorted(set(labels) - set(lookup))
        if missing:
            raise TrajectoryError(f"species {missing} are not in species_names {names}")
        return jnp.asarray([lookup[s] for s in labels], dtype=jnp.int32), names
    if arr.dtype.kind not in "iu":
        raise TrajectoryError(f"species must be integers or names, got dtype {arr.dtype}")
    return jnp.asarray(arr, dtype=jnp.int32), None if names is None else tuple(names)
