"""Invariance and covariance checks: translation, rotation, permutation of identical
particles, time reversal, and a change of the unit system."""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

import observables as ob

from ._report import CheckReport, describe, finish, name_of, relative_deviation

__all__ = [
    "check_translation_invariance",
    "check_rotation_invariance",
    "check_permutation_invariance",
    "check_time_reversal",
    "check_unit_covariance",
    "rebuild",
]

#: Fields that change sign under time reversal (t -> -t); the others are even.
ODD_UNDER_TIME_REVERSAL = ("velocities", "heat_flux", "charge_current")
#: Unit of each field in a unit system {L: length, T: time, M: mass}.
UNIT_TEMPLATES = {
    "positions": "{L}",
    "velocities": "{L}/{T}",
    "masses": "{M}",
    "charges": "e",
    "dipole": "e*{L}",
    "polarizability": "{L}**3",
    "stress": "kJ/mol/{L}**3",
    "heat_flux": "kJ/mol*{L}/{T}",
    "charge_current": "e*{L}/{T}",
}
INTERNAL_SYSTEM = {"length": "nm", "time": "ps", "mass": "g/mol"}


def rebuild(trajectory: ob.Trajectory, **changes: Any) -> ob.Trajectory:
    """A copy of `trajectory` with some fields replaced by plain arrays in internal units."""
    values = {f.name: getattr(trajectory, f.name) for f in dataclasses.fields(trajectory)}
    values.update(changes)
    box, timestep = values.pop("box"), values.pop("timestep")
    return ob.Trajectory.from_internal(box=box, timestep=timestep, **values)


def _compare(prop, observable, reference, transformed, rtol, trajectory, floor=0.0):
    deviation = relative_deviation(observable(reference), observable(transformed), floor=floor)
    return finish(
        CheckReport(
            prop,
            name_of(observable),
            deviation,
            rtol,
            "max relative difference",
            describe(reference if trajectory is None else trajectory),
        )
    )


def check_translation_invariance(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    shift: Any,
    *,
    wrap: bool = True,
    rtol: float = 1e-8,
) -> CheckReport:
    """Moving every atom by the same vector (and, in a periodic box, wrapping the atoms back
    into the cell) leaves the result unchanged.

    **Arguments:** `shift`: `[3]` vector, a length `Quantity` (or nm); `wrap`: map the shifted
    positions into the cell (needs a box; this is what catches distances computed without
    the minimum-image convention); `rtol`: largest accepted relative difference.

    **Returns:** a `CheckReport`; raises `PropertyError` if the results differ by more.
    """
    trajectory.require("positions")
    vec = jnp.asarray(
        ob.to_internal(shift, "length", "shift") if isinstance(shift, ob.Quantity) else shift,
        dtype=trajectory.positions.dtype,
    )
    moved = trajectory.positions + vec
    if wrap and trajectory.box is not None:
        cells = trajectory.box_matrix
        moved = jnp.stack([ob.wrap_positions(p, c) for p, c in zip(moved, cells, strict=True)])
    return _compare(
        "translation invariance",
        observable,
        trajectory,
        rebuild(trajectory, positions=moved),
        rtol,
        None,
    )


def _rotate(trajectory: ob.Trajectory, rot: jnp.ndarray) -> ob.Trajectory:
    changes = {}
    for name in ("positions", "velocities", "dipole", "heat_flux", "charge_current"):
        value = getattr(trajectory, name)
        if value is not None:
            changes[name] = value @ rot.T
    for name in ("polarizability", "stress"):
        value = getattr(trajectory, name)
        if value is not None:
            changes[name] = jnp.einsum("ij,fjk,lk->fil", rot, value, rot)
    if trajectory.box is not None:
        box = trajectory.box_matrix @ rot.T
        changes["box"] = box if trajectory.box_per_frame else box[0]
    return rebuild(trajectory, **changes)


def check_rotation_invariance(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    rotation: Any,
    *,
    rtol: float = 1e-8,
) -> CheckReport:
    """Rotating the whole system (positions, velocities, box, dipole, polarizability, stress,
    fluxes) by a proper rotation leaves the result unchanged.

    **Arguments:** `rotation`: a `[3, 3]` orthogonal matrix with determinant +1 (e.g. from
    `strategies.rotations()`); `rtol`: largest accepted relative difference.

    **Returns:** a `CheckReport`; raises `PropertyError` if the results differ by more.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    if not (np.allclose(rot @ rot.T, np.eye(3), atol=1e-10) and np.linalg.det(rot) > 0):
        raise ValueError("rotation must be a proper orthogonal 3x3 matrix (det +1)")
    rot = jnp.asarray(rot, dtype=trajectory.timestep.dtype)
    return _compare(
        "rotation invariance", observable, trajectory, _rotate(trajectory, rot), rtol, None
    )


def check_permutation_invariance(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    permutation: Any,
    *,
    rtol: float = 1e-8,
) -> CheckReport:
    """Relabelling the atoms (each atom keeps its mass, charge and species) leaves the
    result unchanged.

    **Arguments:** `permutation`: `[atom]` a permutation of `range(n_atoms)`; `rtol`:
    largest accepted relative difference.

    **Returns:** a `CheckReport`; raises `PropertyError` if the results differ by more.
    """
    perm = np.asarray(permutation)
    if sorted(perm.tolist()) != list(range(trajectory.n_atoms)):
        raise ValueError(f"not a permutation of {trajectory.n_atoms} atoms: {perm.tolist()}")
    changes = {}
    for name in ("positions", "velocities"):
        if getattr(trajectory, name) is not None:
            changes[name] = getattr(trajectory, name)[:, perm]
    for name in ("masses", "charges", "species"):
        if getattr(trajectory, name) is not None:
            changes[name] = getattr(trajectory, name)[perm]
    return _compare(
        "permutation invariance",
        observable,
        trajectory,
        rebuild(trajectory, **changes),
        rtol,
        None,
    )


def check_time_reversal(
    observable: ob.AbstractObservable, trajectory: ob.Trajectory, *, rtol: float = 1e-8
) -> CheckReport:
    """Playing the trajectory backwards (frames reversed; velocities, heat flux and charge
    current negated) leaves the result unchanged.

    Holds for every observable built from autocorrelation functions of a stationary
    process estimated over all time origins (C(t) = C(-t)) and for static averages.

    **Returns:** a `CheckReport`; raises `PropertyError` if the results differ by more than
    `rtol` (relative).
    """
    changes = {}
    for name in ("positions", "velocities", *ob.PER_FRAME_FIELDS):
        value = getattr(trajectory, name)
        if value is not None:
            changes[name] = -value[::-1] if name in ODD_UNDER_TIME_REVERSAL else value[::-1]
    if trajectory.box_per_frame:
        changes["box"] = trajectory.box[::-1]
    return _compare(
        "time-reversal symmetry",
        observable,
        trajectory,
        rebuild(trajectory, **changes),
        rtol,
        None,
    )


def _in_units(trajectory: ob.Trajectory, system: dict[str, str]) -> ob.Trajectory:
    """The same trajectory built from quantities in `system` (fields without a length, time
    or mass in their unit keep their internal unit)."""
    subs = {"L": system["length"], "T": system["time"], "M": system["mass"]}
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(trajectory):
        name = f.name
        if name in ("box", "timestep", "species", "species_names"):
            continue
        if getattr(trajectory, name) is not None:
            q = trajectory.quantity(name)
            kwargs[name] = (
                q.to(UNIT_TEMPLATES[name].format(**subs)) if name in UNIT_TEMPLATES else q
            )
    box = None if trajectory.box is None else trajectory.quantity("box").to(system["length"])
    return ob.Trajectory(
        box=box,
        timestep=trajectory.quantity("timestep").to(system["time"]),
        species=trajectory.species,
        species_names=trajectory.species_names,
        **kwargs,
    )


def _in_reference_units(result, reference):
    y = result.y.m_as(reference.y_unit)
    x = None if result.x is None else result.x.m_as(reference.x_unit)
    err = None if result.error is None else result.error.m_as(reference.y_unit)
    return [v for v in (x, y, err) if v is not None]


def check_unit_covariance(
    observable: ob.AbstractObservable | Callable[[dict[str, str]], ob.AbstractObservable],
    trajectory: ob.Trajectory,
    *,
    length: str = "angstrom",
    time: str = "fs",
    mass: str = "g/mol",
    rtol: float = 1e-9,
) -> CheckReport:
    """Writing the same physics in another unit system changes the result only by the unit
    conversion.

    The trajectory is rewritten with every field in the unit system (`length`, `time`,
    `mass`); `observable` may be a factory called with the unit system
    (`{"length": ..., "time": ..., "mass": ...}`) that builds the observable with its own
    parameters (`max_lag`, `r_max`, widths) in those units, and is called with nm, ps, g/mol
    for the reference. `mass` is a molar mass unit (g/mol, kg/mol). The two results (axis,
    values, error bars) are compared after converting to the reference result's units.

    **Returns:** a `CheckReport`; raises `PropertyError` if they differ by more than `rtol`
    (relative).
    """
    system = {"length": length, "time": time, "mass": mass}
    make = (
        observable if not isinstance(observable, ob.AbstractObservable) else (lambda _: observable)
    )
    reference_obs, other_obs = make(dict(INTERNAL_SYSTEM)), make(system)
    reference = reference_obs(trajectory)
    other = other_obs(_in_units(trajectory, system))
    deviation = relative_deviation(
        _in_reference_units(reference, reference), _in_reference_units(other, reference)
    )
    return finish(
        CheckReport(
            f"unit covariance (nm, ps, g/mol -> {length}, {time}, {mass})",
            name_of(reference_obs),
            deviation,
            rtol,
            "max relative difference after unit conversion",
            describe(trajectory),
        )
    )
