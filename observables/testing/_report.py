"""`CheckReport` and `PropertyError`: what every property check returns or raises."""

import dataclasses
from typing import Any

import equinox as eqx
import jax
import numpy as np

import observables as ob

__all__ = ["CheckReport", "PropertyError", "describe", "relative_deviation", "finish"]


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """The outcome of one property check.

    **Fields:**

    - `property`: the property checked, in words (e.g. `"translation invariance"`).
    - `observable`: the observable's class name.
    - `deviation`: how far the property is from holding, in the measure the check states in
      `measure` (e.g. a relative difference, or a number of standard errors).
    - `tolerance`: the largest `deviation` accepted.
    - `measure`: what `deviation` measures.
    - `example`: a short description of the input (sizes, box, time step, fields).
    - `values`: the numbers behind the deviation, by name (e.g. `{"autodiff": ..., "fd": ...}`
      for a gradient check); may be empty.
    - `passed`: `deviation <= tolerance`.
    """

    property: str
    observable: str
    deviation: float
    tolerance: float
    measure: str
    example: str
    values: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.deviation <= self.tolerance)

    def __str__(self) -> str:
        verdict = "holds" if self.passed else "FAILS"
        return (
            f"{self.property} {verdict} for {self.observable}: {self.measure} = "
            f"{self.deviation:.3g} (tolerance {self.tolerance:.3g}) on {self.example}"
        )


class PropertyError(AssertionError):
    """A property check failed; `report` is the `CheckReport` with the numbers."""

    def __init__(self, report: CheckReport):
        super().__init__(str(report))
        self.report = report


def finish(report: CheckReport) -> CheckReport:
    """Return `report` if the property holds, else raise `PropertyError(report)`."""
    if not report.passed:
        raise PropertyError(report)
    return report


def name_of(observable: Any) -> str:
    return type(observable).__name__


def describe(trajectory: ob.Trajectory) -> str:
    """A one-line description of a trajectory: frames, atoms, box, time step, fields."""
    parts = [f"{trajectory.n_frames} frames"]
    try:
        parts.append(f"{trajectory.n_atoms} atoms")
    except ob.TrajectoryError:
        pass
    if trajectory.box is None:
        parts.append("no box")
    else:
        box = np.asarray(trajectory.box)
        shape = "triclinic" if trajectory.is_triclinic else "orthorhombic"
        widths = np.round(np.asarray(ob.perpendicular_widths(trajectory.box_matrix[0])), 4)
        parts.append(f"{shape} box (widths {widths.tolist()} nm{', per frame' * (box.ndim == 3)})")
    parts.append(f"timestep {float(trajectory.timestep):.4g} ps")
    fields = [
        f.name
        for f in dataclasses.fields(trajectory)
        if f.name not in ("box", "timestep", "species_names")
        and getattr(trajectory, f.name) is not None
    ]
    parts.append("fields " + ", ".join(fields))
    return "Trajectory(" + "; ".join(parts) + ")"


def array_leaves(tree: Any) -> list[np.ndarray]:
    """The array leaves of a pytree (e.g. a result) as float64 NumPy arrays."""
    return [
        np.asarray(v, dtype=np.float64) for v in jax.tree.leaves(eqx.filter(tree, eqx.is_array))
    ]


def relative_deviation(reference: Any, other: Any, *, floor: float = 0.0) -> float:
    """max |other - reference| / max(max |reference|, floor) over the arrays of two pytrees.

    Each array is measured on its own scale, except the error bars of a result
    (`AbstractResult.error_magnitude`), which are measured on the scale of its values
    (error bars of zero, or near zero, differ by rounding). Structures must match; a
    mismatch counts as an infinite deviation, and so does a non-finite value in one of
    the two that is not in the other.
    """
    a, b = array_leaves(reference), array_leaves(other)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=False)):
        return float("inf")
    floors = [floor] * len(a)
    if isinstance(reference, ob.AbstractResult) and reference.error_magnitude is not None:
        y_scale = float(np.max(np.abs(np.asarray(reference.y_magnitude))))
        raw = jax.tree.leaves(eqx.filter(reference, eqx.is_array))
        for i, leaf in enumerate(raw):
            if leaf is reference.error_magnitude:
                floors[i] = max(floor, y_scale)
    worst = 0.0
    for x, y, low in zip(a, b, floors, strict=True):
        finite = np.isfinite(x) & np.isfinite(y)
        if not np.array_equal(np.isfinite(x), np.isfinite(y)) or not np.array_equal(
            x[~finite], y[~finite], equal_nan=True
        ):
            return float("inf")
        if not np.any(finite):
            continue
        scale = max(float(np.max(np.abs(x[finite]))), low)
        diff = float(np.max(np.abs(x[finite] - y[finite])))
        worst = max(worst, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")))
    return worst
