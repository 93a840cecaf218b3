"""The model side of a loss: which units an observable's output is in, and how a prediction
becomes plain arrays.

**Declared units** (`observable_units`, read once when a loss is built):

| observable                         | x (unit)                       | y (unit)                 |
|------------------------------------|--------------------------------|--------------------------|
| `IRSpectrum(x_unit=...)`           | spectral axis, `x_unit`        | `output_unit` (1/cm)     |
| `VDOS(x_unit=...)` (a density)     | spectral axis, `x_unit`        | 1/`x_unit`               |
| `RDF(...)`                         | bin centres, nm                | dimensionless            |
| transport (`ShearViscosity`, ...)  | none (a value)                 | `output_unit`            |
| any other `AbstractObservable`     | `x_unit` attribute if present  | `output_unit`            |

**Adapting a prediction** (at call time, inside `jit`):

- `Spectrum` → `(x_magnitude, y_magnitude)`; its static `x_unit`/`y_unit` must equal the
  units the loss was built for (else `UnitError` naming both, at trace time);
- `RDFResult` → (bin centres, `g`), centres converted from nm to the loss's x unit;
- `(x, y)` tuple of arrays → as is (in the loss's units);
- a plain array → `y` on the model grid known from the observable (`RDF`'s bin centres) or
  given as `model_x=` when the loss was built;
- for scalar losses: an array / scalar as is; a `TransportResult` or `pint.Quantity` (outside
  `jit` only) converted to the loss's unit.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pint

from observables import (
    RDF,
    VDOS,
    AbstractObservable,
    RamanSpectra,
    RamanSpectrum,
    RDFResult,
    Spectrum,
    TransportResult,
    UnitError,
    axis_label,
    to_magnitude,
    ureg,
)

from ._base import LossError
from ._units import convert_x, convert_y, is_spectral, same_unit, unit_str

__all__ = ["observable_units", "unit_str", "same_unit", "curve_of", "value_of", "as_curve"]


def describe(observable: Any) -> str:
    return type(observable).__name__


def observable_units(observable: Any) -> tuple[str | None, str, np.ndarray | None]:
    """`(x_unit, y_unit, model_x)` of what `observable(trajectory)` returns.

    `x_unit` is None for observables that give a value (transport coefficients); `model_x`
    is the model's x grid when the observable fixes it (the RDF's bin centres, nm), else None.
    """
    if not isinstance(observable, AbstractObservable):
        raise TypeError(
            f"observable must be an observables.AbstractObservable (e.g. IRSpectrum(...), "
            f"RDF(...), ShearViscosity(...)), got {type(observable).__name__}; for a custom "
            "prediction give x_unit=/y_unit= instead"
        )
    if isinstance(observable, RamanSpectrum):
        raise TypeError(
            "RamanSpectrum returns RamanSpectra (vv, vh, iso, aniso spectra), not one curve: "
            "build the loss with x_unit=/y_unit= of the component you compare (e.g. "
            "spectra.vv.x_unit, spectra.vv.y_unit) and pass that component as the prediction"
        )
    if isinstance(observable, RDF):
        e = observable.edges
        return "nm", "dimensionless", 0.5 * (e[:-1] + e[1:])
    x_unit = getattr(observable, "x_unit", None)
    y_unit = unit_str(observable.output_unit)
    if isinstance(observable, VDOS):
        # a density: per unit of its axis (output_unit is for the default cm^-1 axis)
        y_unit = unit_str(ureg.dimensionless / ureg.Unit(x_unit))
    return (None if x_unit is None else unit_str(x_unit)), y_unit, None


# ----------------------------------------------------------------------- prediction side
def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic | float | int) and not isinstance(
        x, bool
    )


def curve_of(
    prediction: Any,
    *,
    x_unit: str,
    y_unit: str,
    model_x: Any,
    where: str,
) -> tuple[jax.Array, jax.Array]:
    """`(x, y)` plain arrays of a curve prediction in the loss's units (see module docs)."""
    if isinstance(prediction, Spectrum):
        for axis, got, want in (
            ("x", prediction.x_unit, x_unit),
            ("y", prediction.y_unit, y_unit),
        ):
            if not same_unit(got, want):
                raise UnitError(
                    f"{where}: the predicted spectrum has {axis} in {got}, but the loss was "
                    f"built for {axis} in {want}; build the loss with the observable that "
                    f"produces this spectrum (observable=...) or with {axis}_unit='{got}'"
                )
        return jnp.asarray(prediction.x_magnitude), jnp.asarray(prediction.y_magnitude)
    if isinstance(prediction, RDFResult):
        if not same_unit(y_unit, "dimensionless"):
            raise UnitError(
                f"{where}: an RDF (g(r), dimensionless) cannot be compared with y in {y_unit}"
            )
        try:
            factor = float(ureg.Quantity(1.0, "nm").m_as(x_unit))
        except pint.errors.DimensionalityError:
            raise UnitError(
                f"{where}: an RDF has r in nm, but the loss was built for x in {x_unit}"
            ) from None
        edges = prediction.edges
        return 0.5 * (edges[:-1] + edges[1:]) * factor, prediction.g
    if isinstance(prediction, RamanSpectra):
        raise LossError(
            f"{where}: got RamanSpectra; pass one component (prediction.vv, .vh, .iso, .aniso)"
        )
    if isinstance(prediction, TransportResult | pint.Quantity):
        raise LossError(
            f"{where} compares curves, but the prediction is a {type(prediction).__name__}; "
            "use RelativeError for a single value, or pass a Spectrum / (x, y) arrays"
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
        f"{where}: cannot read a curve from a {type(prediction).__name__}; expected a Spectrum, "
        "an RDFResult, (x, y) arrays or an array of y on the model grid"
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
    if isinstance(prediction, TransportResult):
        prediction = prediction.value
    if isinstance(prediction, pint.Quantity):
        return jnp.asarray(to_magnitude(prediction, y_unit, f"{where} prediction"))
    if isinstance(prediction, Spectrum | RDFResult | RamanSpectra):
        raise LossError(
            f"{where} compares values, but the prediction is a {type(prediction).__name__}; "
            "use MeanSquaredError / Wasserstein1 / PeakPosition for curves"
        )
    if _is_array(prediction):
        return jnp.asarray(prediction)
    raise LossError(
        f"{where}: cannot read a value from a {type(prediction).__name__}; expected an array "
        f"in {y_unit}, a TransportResult or a Quantity"
    )


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
    incompatible, e.g. data in arbitrary units). Accepts a `Spectrum`, an `RDFResult`, an
    `(x, y)` tuple, or a plain array of y when `observable` fixes the grid (`RDF`).
    Returns `None` for values (scalars, transport results) and for arrays without a grid.
    """
    if isinstance(observed, Spectrum):
        x, y = np.asarray(observed.x_magnitude), np.asarray(observed.y_magnitude)
        xu, yu, x_name = observed.x_unit, observed.y_unit, None
    elif isinstance(observed, RDFResult):
        e = np.asarray(observed.edges)
        x, y = 0.5 * (e[:-1] + e[1:]), np.asarray(observed.g)
        xu, yu, x_name = "nm", "dimensionless", "r"
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
        x_name = "r" if isinstance(observable, RDF) else None
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
