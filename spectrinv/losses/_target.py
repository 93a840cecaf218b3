"""The experimental side of a loss: a `Dataset` converted once into the units of the
observable it will be compared with.

The x axis is converted with the spectroscopic relations when both units are spectral axis
units (cm⁻¹ ↔ THz ↔ meV ↔ rad/ps, via `observables._spectrum.axis_scale`; the order of
points is preserved because all these units are proportional to ω), otherwise by plain
pint conversion (nm ↔ Å, K ↔ °C). y and its uncertainty are converted by pint. A
dimension mismatch raises `UnitError` naming the dataset, both units and the observable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from observables import UnitError

from ._base import LossError
from ._prediction import observable_units
from ._units import convert_pair, convert_x, convert_y, unit_str

__all__ = ["resolve_units", "curve_target"]


def dataset_label(dataset: Any) -> str:
    name = getattr(dataset, "name", None)
    quantity = getattr(dataset, "quantity", None)
    label = f"dataset {name!r}" if name else "the dataset"
    return f"{label} ({quantity})" if quantity else label


def resolve_units(
    observable: Any, x_unit: Any, y_unit: Any, where: str
) -> tuple[str | None, str, np.ndarray | None, str]:
    """`(x_unit, y_unit, model_x, what)` from an observable or explicit units; `what`
    describes the source of the units for error messages."""
    if observable is not None:
        if x_unit is not None or y_unit is not None:
            raise ValueError(
                f"{where}: give either observable= or x_unit=/y_unit=, not both (the "
                "observable declares its output units)"
            )
        xu, yu, model_x = observable_units(observable)
        return xu, yu, model_x, type(observable).__name__
    if y_unit is None:
        raise ValueError(
            f"{where} needs the units of the prediction: pass observable=... (e.g. "
            "IRSpectrum(...)), or x_unit=... and y_unit=... for a custom prediction"
        )
    return (
        None if x_unit is None else unit_str(x_unit),
        unit_str(y_unit),
        None,
        "the prediction",
    )


class CurveTarget:
    """Experimental x, y, σ (numpy float64) in the loss's units (a build-time helper)."""

    def __init__(self, x, y, sigma, x_unit, y_unit, label):
        self.x, self.y, self.sigma = x, y, sigma
        self.x_unit, self.y_unit, self.label = x_unit, y_unit, label


def curve_target(
    dataset: Any,
    *,
    x_unit: str | None,
    y_unit: str,
    units_from: str,
    where: str,
    x_range: Any = None,
    min_points: int = 2,
) -> CurveTarget:
    """The dataset's curve converted to `(x_unit, y_unit)`, restricted to `x_range`."""
    label = dataset_label(dataset)
    ds_x = getattr(dataset, "x", None)
    if ds_x is None:
        raise LossError(
            f"{where}: {label} has no x axis (labelled values); compare it with RelativeError"
        )
    if x_unit is None:
        raise LossError(
            f"{where}: {units_from} gives a single value (no x axis), but {label} is a curve "
            f"of {getattr(dataset, 'y_name', None) or 'y'} against "
            f"{getattr(dataset, 'x_name', None) or 'x'}; "
            "use RelativeError(dataset, observable=..., at=Quantity(...)) to compare it at one "
            "state point"
        )
    what = f"{where}: {label} vs {units_from}"
    try:
        x = convert_x(ds_x, dataset.x_unit, x_unit, what)
        y = convert_y(dataset.y, dataset.y_unit, y_unit, what)
    except UnitError as err:
        raise UnitError(
            f"{err}. {label} is in x: {dataset.x_unit}, y: {dataset.y_unit}; {units_from} "
            f"gives x: {x_unit}, y: {y_unit}"
        ) from None
    sigma = None
    if getattr(dataset, "uncertainty", None) is not None:
        # an uncertainty is a difference: convert affinely, v -> |f(v) - f(0)| (offset units)
        zero = convert_y(0.0, dataset.y_unit, y_unit, what)
        sigma = np.abs(convert_y(dataset.uncertainty, dataset.y_unit, y_unit, what) - zero)
    if x.ndim != 1 or y.shape != x.shape:
        raise LossError(f"{where}: {label} has x {x.shape}, y {y.shape}; expected 1-D, same shape")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise LossError(f"{where}: {label} has non-finite x or y values")
    if np.any(np.diff(x) <= 0):
        raise LossError(f"{where}: {label} x values are not strictly ascending")
    if x_range is not None:
        lo, hi = convert_pair(x_range, x_unit, f"{where} x_range")
        keep = (x >= lo) & (x <= hi)
        if keep.sum() < min_points:
            raise LossError(
                f"{where}: x_range [{lo:g}, {hi:g}] {x_unit} holds {int(keep.sum())} point(s) of "
                f"{label}, which covers [{x[0]:g}, {x[-1]:g}] {x_unit}; need at least "
                f"{min_points} (empty overlap?)"
            )
        x, y = x[keep], y[keep]
        sigma = None if sigma is None else sigma[keep]
    if x.shape[0] < min_points:
        raise LossError(f"{where}: {label} has {x.shape[0]} point(s); need >= {min_points}")
    return CurveTarget(x, y, sigma, x_unit, y_unit, label)
