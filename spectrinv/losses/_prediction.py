"""The model side of a loss: which units an observable's output is in, and how a prediction
becomes plain arrays.

Everything here goes through the observable protocol of `observables`, never a concrete
class:

- **Declared units** (`observable_units`, read once when a loss is built): an
  `AbstractObservable`'s `x_unit` (`None` for a value), `y_unit` and `x_grid()` (the model's
  axis when fixed in advance, e.g. an RDF's bin centres).
- **A prediction** (at call time, inside `jit`) is an `AbstractResult` (`Spectrum`,
  `RamanSpectra` — its selected component —, `RDFResult`, `TransportResult`, ...), read
  through `x_magnitude`, `y_magnitude`, `x_unit`, `y_unit`, `density`. A curve's y must be in
  the loss's y unit (else `UnitError` naming both, at trace time); its x is converted by a
  constant factor when the units differ but convert (nm ↔ Å, cm⁻¹ ↔ THz), except for a
  density (whose y would change too). A value (`x_unit` None) is converted to the loss's
  unit by a constant factor. Also accepted: an `(x, y)` tuple of arrays (in the loss's
  units), a plain array (y on the observable's grid or `model_x`; a value for scalar
  losses) and, outside `jit`, a `pint.Quantity` value.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pint

from observables import (
    AbstractObservable,
    AbstractResult,
    UnitError,
    axis_label,
    axis_scale,
    to_magnitude,
    ureg,
)

from ._base import LossError
from ._units import convert_x, convert_y, is_spectral, same_unit, unit_str

__all__ = [
    "observable_units",
    "unit_str",
    "same_unit",
    "is_spectral",
    "describe",
    "curve_of",
    "value_of",
    "value_and_error_of",
    "error_of",
    "as_curve",
    "is_concrete",
]


def describe(observable: Any) -> str:
    return type(observable).__name__


def observable_units(observable: Any) -> tuple[str | None, str, np.ndarray | None]:
    """`(x_unit, y_unit, model_x)` of what `observable(trajectory)` returns.

    `x_unit` is None for observables that give a value (transport coefficients); `model_x`
    is the model's x grid when the observable fixes it (`observable.x_grid()`), else None.
    """
    if not isinstance(observable, AbstractObservable):
        raise TypeError(
            f"observable must be an observables.AbstractObservable (e.g. IRSpectrum(...), "
            f"RDF(...), ShearViscosity(...)), got {type(observable).__name__}; for a custom "
            "prediction give x_unit=/y_unit= instead"
        )
    x_unit, y_unit = observable.units()
    grid = observable.x_grid()
    return (
        None if x_unit is None else unit_str(x_unit),
        unit_str(y_unit),
        None if grid is None else np.asarray(grid),
    )


# ----------------------------------------------------------------------- prediction side
def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic | float | int) and not isinstance(
        x, bool
    )


def _axis_factor(src: str, dst: str) -> float | None:
    """Constant factor taking axis values in `src` to `dst`, or None if they do not convert."""
    if is_spectral(src) and is_spectral(dst):
        return axis_scale(dst) / axis_scale(src)
    try:
        return float(ureg.Quantity(1.0, src).m_as(dst))
    except (pint.errors.DimensionalityError, pint.errors.OffsetUnitCalculusError):
        return None


def _result_curve(prediction: AbstractResult, x_unit: str, y_unit: str, where: str):
    name = type(prediction).__name__
    if prediction.x_magnitude is None:
        raise LossError(
            f"{where} compares curves, but the prediction is a value ({name}); use "
            "RelativeError for a single value, or pass a Spectrum / (x, y) arrays"
        )
    if not same_unit(prediction.y_unit, y_unit):
        raise UnitError(
            f"{where}: the predicted {name} has y in {prediction.y_unit}, but the loss was "
            f"built for y in {y_unit}; build the loss with the observable that produces this "
            f"prediction (observable=...) or with y_unit='{prediction.y_unit}'"
        )
    x = jnp.asarray(prediction.x_magnitude)
    if not same_unit(prediction.x_unit, x_unit):
        factor = None if prediction.density else _axis_factor(prediction.x_unit, x_unit)
        if factor is None:
            raise UnitError(
                f"{where}: the predicted {name} has x in {prediction.x_unit}, but the loss was "
                f"built for x in {x_unit}; build the loss with the observable that produces "
                f"this prediction (observable=...) or with x_unit='{prediction.x_unit}'"
            )
        x = x * factor
    return x, jnp.asarray(prediction.y_magnitude)


def curve_of(
    prediction: Any,
    *,
    x_unit: str,
    y_unit: str,
    model_x: Any,
    where: str,
) -> tuple[jax.Array, jax.Array]:
    """`(x, y)` plain arrays of a curve prediction in the loss's units (see module docs)."""
    if isinstance(prediction, AbstractResult):
        x, y = _result_curve(prediction, x_unit, y_unit, where)
        _check_curve_shapes(x, y, where)
        return x, y
    if isinstance(prediction, pint.Quantity):
        raise LossError(
            f"{where} compares curves, but the prediction is a Quantity; use RelativeError "
            "for a single value, or pass a Spectrum / (x, y) arrays"
        )
    if isinstance(prediction, tuple) and len(prediction) == 2:
        x, y = (jnp.asarray(a) for a in prediction)
        _check_curve_shapes(x, y, where)
        return x, y
    if _is_array(prediction):
        y = jnp.asarray(prediction)
        if model_x is None:
            raise LossError(
                f"{where}: a plain-array prediction (shape {tuple(y.shape)}) has no x axis; "
                "build the loss with observable=RDF(...) (which fixes the grid) or "
                "model_x=Quantity(grid, unit), or pass (x, y) arrays or a Spectrum"
            )
        x = jnp.asarray(model_x).astype(y.dtype)
        _check_curve_shapes(x, y, where)
        return x, y
    raise LossError(
        f"{where}: cannot read a curve from a {type(prediction).__name__}; expected an "
        "observable's result (Spectrum, RDFResult, ...), (x, y) arrays or an array of y on "
        "the model grid"
    )


def _check_curve_shapes(x, y, where):
    if x.ndim != 1 or y.shape != x.shape:
        raise LossError(
            f"{where}: the model curve must be 1-D x and y of the same shape; got x "
            f"{tuple(x.shape)}, y {tuple(y.shape)}"
        )
    if x.shape[0] < 2:
        raise LossError(f"{where}: the model curve has {x.shape[0]} point(s); need at least 2")


def value_of(prediction: Any, *, y_unit: str, where: str) -> jax.Array:
    """Plain array of a value prediction in `y_unit` (see module docs)."""
    return value_and_error_of(prediction, y_unit=y_unit, where=where)[0]


def value_and_error_of(
    prediction: Any, *, y_unit: str, where: str
) -> tuple[jax.Array, jax.Array | None]:
    """`(value, standard error or None)` of a value prediction, both plain arrays in `y_unit`.

    The error is the result's `error_magnitude` (same unit as its value, converted by the
    same constant factor); arrays and Quantities carry none.
    """
    if isinstance(prediction, AbstractResult):
        if prediction.x_magnitude is not None:
            raise LossError(
                f"{where} compares values, but the prediction is a curve "
                f"({type(prediction).__name__}); use MeanSquaredError / Wasserstein1 / "
                "PeakPosition for curves"
            )
        y = jnp.asarray(prediction.y_magnitude)
        err = _error_array(prediction, y, where)
        if same_unit(prediction.y_unit, y_unit):
            return y, err
        factor = float(
            to_magnitude(ureg.Quantity(1.0, prediction.y_unit), y_unit, f"{where} prediction")
        )
        return y * factor, None if err is None else err * abs(factor)
    if isinstance(prediction, pint.Quantity):
        return jnp.asarray(to_magnitude(prediction, y_unit, f"{where} prediction")), None
    if _is_array(prediction):
        return jnp.asarray(prediction), None
    raise LossError(
        f"{where}: cannot read a value from a {type(prediction).__name__}; expected an array "
        f"in {y_unit}, an observable's result (TransportResult) or a Quantity"
    )


def error_of(prediction: Any, y: jax.Array, where: str) -> jax.Array | None:
    """The standard error of a curve prediction (its `error_magnitude`, in its y unit, which
    `curve_of` has checked), a plain array shaped like `y`; None when it carries none."""
    if isinstance(prediction, AbstractResult):
        return _error_array(prediction, y, where)
    return None


def _error_array(prediction: AbstractResult, y: jax.Array, where: str) -> jax.Array | None:
    err = prediction.error_magnitude
    if err is None:
        return None
    err = jnp.asarray(err)
    if err.shape != y.shape:
        raise LossError(
            f"{where}: the predicted {type(prediction).__name__} has an error of shape "
            f"{tuple(err.shape)} but values of shape {tuple(y.shape)}; they must match"
        )
    return err


def is_concrete(*arrays: Any) -> bool:
    """True when none of `arrays` is a tracer (so Python-side checks can run)."""
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


# ------------------------------------------------------------------------------- plotting
def as_curve(
    observed: Any, dataset: Any = None, *, observable: Any = None
) -> tuple[np.ndarray, np.ndarray, str, str] | None:
    """`(x, y, x_label, y_label)` of an observable's output for plots (NumPy, outside `jit`).

    With a `dataset` (with an x axis) the curve is expressed in the dataset's x and y units,
    so that model and experiment share axes (y stays in the model's unit when the two are
    incompatible, e.g. data in arbitrary units). Accepts an observable's result with an axis
    (`Spectrum`, `RDFResult`, ...), an `(x, y)` tuple, or a plain array of y when
    `observable` fixes the grid (`RDF`). Returns `None` for values (scalars, transport
    results) and for arrays without a grid.
    """
    if isinstance(observed, AbstractResult):
        if observed.x_magnitude is None:
            return None
        x, y = np.asarray(observed.x_magnitude), np.asarray(observed.y_magnitude)
        xu, yu, x_name = observed.x_unit, observed.y_unit, observed.x_name
    elif isinstance(observed, tuple) and len(observed) == 2:
        x, y = (np.asarray(a) for a in observed)
        if observable is None:
            return None
        xu, yu, _ = observable_units(observable)
        x_name = None
    elif _is_array(observed) and np.ndim(observed) == 1 and observable is not None:
        xu, yu, grid = observable_units(observable)
        if grid is None or xu is None:
            return None
        x, y = np.asarray(grid), np.asarray(observed)
        x_name = None
    else:
        return None
    if x.ndim != 1 or y.shape != x.shape:
        return None
    y_name = "model"
    if dataset is not None and getattr(dataset, "x", None) is not None:
        try:
            x = convert_x(x, xu, dataset.x_unit, "as_curve")
            xu = dataset.x_unit
            x_name = getattr(dataset, "x_name", None) or x_name
        except UnitError:
            pass
        try:
            y = convert_y(y, yu, dataset.y_unit, "as_curve")
            yu = dataset.y_unit
            y_name = getattr(dataset, "y_name", None) or y_name
        except UnitError:
            pass
    if x_name is None:
        x_name = axis_label(xu) if is_spectral(xu) else "x"
    return x, y, f"{x_name} ({ureg.Unit(xu):~P})", _label(y_name, yu)


def _label(name: str, unit: str) -> str:
    u = ureg.Unit(unit)
    return name if u == ureg.dimensionless else f"{name} ({u:~P})"
