"""`Reference`: what a loss compares a prediction with — an experimental dataset, converted
once into the units of the observable's output, with the compared range and the model grid.

Every loss takes one `Reference` (`MeanSquaredError(Reference(water, ir))`), so the dataset,
the observable, the range and the units are given, checked and converted in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from observables import AbstractObservable, Quantity, UnitError, to_magnitude, ureg

from ..datasets import Dataset, LabelledValues, Table
from ._base import LossError
from ._prediction import observable_units
from ._units import convert_pair, convert_x, convert_y, unit_str

__all__ = ["Reference"]


class Reference(eqx.Module):
    r"""An experimental reference in the units of the prediction it is compared with.

    Built once, outside `jit`: the units of the prediction are read from `observable` (its
    declared output units, see `observable_units`), the dataset is converted into them (x with
    the spectroscopic relations between cm⁻¹, THz, meV, rad/ps; y and its uncertainty by
    pint), restricted to `x_range`, and checked (finite, ascending, enough points, a model
    grid that covers it). A unit mismatch raises `UnitError` naming both units; a range or
    grid problem `LossError`. Every loss (`MeanSquaredError`, `ChiSquared`, `Wasserstein1`,
    `PeakPosition`, `RelativeError`) takes one `Reference`.

    Two kinds, decided by the observable:

    - a **curve** (spectra, RDF: the observable has an x axis): `x` `[point]` the
      experimental grid (`x_unit`), `y` `[point]` (`y_unit`), `uncertainty` `[point]` (1σ,
      `y_unit`) or None;
    - a **value** (transport coefficients, elastic constants: no x axis): `x` is None, `y`
      is `[]` or `[label]` (`y_unit`), chosen from the dataset with `at` or `label`;
      `uncertainty` the same shape (1σ, `y_unit`: the dataset's, linearly interpolated by
      `at`, or the `uncertainty` argument) or None.

    **Arguments:**

    - `dataset`: a `spectrinv.datasets.Dataset` (a table y(x), or labelled values); for a
      value reference also a `Quantity` (the experimental value itself).
    - `observable`: the `AbstractObservable` whose output is the prediction (e.g.
      `IRSpectrum(...)`: x in its `x_unit`, y in 1/cm; `RDF(...)`: x in nm, dimensionless,
      model grid = its bin centres; `ShearViscosity(...)`: a value in its `y_unit`).
    - `x_unit`, `y_unit`: instead of `observable`, the units of a custom prediction (a
      `Spectrum` or `(x, y)` arrays; `y_unit` alone for a value).
    - `model_x`: the model's x grid (a `Quantity` `[model]`) for plain-array predictions,
      when the observable does not fix it.
    - `x_range`: `(lo, hi)` Quantities: compare only there (curves; default: the whole
      dataset).
    - `clip`: drop experimental points outside the model's range when the loss is called
      (curves; default False: such points raise `LossError` naming both ranges).
    - `at`: a state point (`Quantity`, e.g. `Quantity(298.15, "K")`) where a table is
      interpolated (values; `Dataset.at`, error outside its range).
    - `label`: a label or a sequence of labels of labelled values (values; the prediction is
      then a vector in that order). Without `at`/`label`, labelled values give all entries and
      a table of one point gives that point.
    - `uncertainty`: the 1σ of an experimental value given as a `Quantity` (values; e.g.
      `Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s", uncertainty=Quantity(0.02,
      "mPa*s"))`). A `Dataset` carries its own.

    **Fields:** `x`, `y`, `uncertainty`, `model_x` (plain arrays in `x_unit`/`y_unit`);
    `x_unit` (None for a value), `y_unit`, `clip`, `exp_range` (static floats `(x[0], x[-1])`
    of a curve), `labels`, `state_point`, `description` (the dataset, for messages),
    `source` (where the units came from).
    """

    x: Float[Array, " point"] | None
    y: Float[Array, "*value"]
    uncertainty: Float[Array, " point"] | Float[Array, "*value"] | None
    model_x: Float[Array, " model"] | None
    x_unit: str | None = eqx.field(static=True)
    y_unit: str = eqx.field(static=True)
    clip: bool = eqx.field(static=True)
    exp_range: tuple[float, float] | None = eqx.field(static=True)
    labels: tuple[str, ...] | None = eqx.field(static=True)
    state_point: str | None = eqx.field(static=True)
    description: str = eqx.field(static=True)
    source: str = eqx.field(static=True)

    def __init__(
        self,
        dataset: Dataset | Quantity,
        observable: AbstractObservable | None = None,
        *,
        x_unit: Any = None,
        y_unit: Any = None,
        model_x: Quantity | None = None,
        x_range: tuple[Quantity, Quantity] | Quantity | None = None,
        clip: bool = False,
        at: Quantity | None = None,
        label: str | Sequence[str] | None = None,
        uncertainty: Quantity | None = None,
    ):
        if not isinstance(dataset, Dataset | pint.Quantity):
            raise TypeError(
                "Reference: dataset must be a spectrinv.datasets.Dataset (e.g. load_dataset(...))"
                f" or a Quantity (an experimental value), got {type(dataset).__name__}"
            )
        if uncertainty is not None and not isinstance(dataset, pint.Quantity):
            raise ValueError(
                "Reference: uncertainty= is for an experimental value given as a Quantity; a "
                "Dataset carries its own uncertainty"
            )
        xu, yu, grid, source = _resolve_units(observable, x_unit, y_unit)
        self.y_unit, self.source, self.clip = yu, source, bool(clip)
        if xu is None:
            for key, given in (("x_range", x_range), ("model_x", model_x), ("clip", clip)):
                if given is not None and given is not False:
                    raise ValueError(
                        f"Reference: {key}= applies to curves, but {source} gives a single "
                        "value (no x axis); omit it"
                    )
            value, sigma, labels, state_point, description = _value(
                dataset, yu, source, at, label, uncertainty
            )
            self.x, self.y, self.model_x = None, jnp.asarray(value), None
            self.uncertainty = None if sigma is None else jnp.asarray(sigma)
            self.x_unit, self.exp_range = None, None
            self.labels, self.state_point, self.description = labels, state_point, description
            return
        if at is not None or label is not None:
            raise ValueError(
                f"Reference: at=/label= choose a single value, but {source} gives a curve "
                f"(x in {xu}); restrict a curve with x_range=(lo, hi)"
            )
        x, y, sigma, description = _curve(dataset, xu, yu, source, x_range)
        grid = _model_grid(grid, model_x, xu, source)
        if grid is not None and not clip:
            _check_covered(x, grid, xu, description)
        self.x, self.y = jnp.asarray(x), jnp.asarray(y)
        self.uncertainty = None if sigma is None else jnp.asarray(sigma)
        self.model_x = None if grid is None else jnp.asarray(grid)
        self.x_unit, self.exp_range = xu, (float(x[0]), float(x[-1]))
        self.labels, self.state_point, self.description = None, None, description

    @property
    def is_curve(self) -> bool:
        """True for a curve y(x), False for a value."""
        return self.x_unit is not None


# ------------------------------------------------------------------------------- units
def _resolve_units(
    observable: Any, x_unit: Any, y_unit: Any
) -> tuple[str | None, str, np.ndarray | None, str]:
    """`(x_unit, y_unit, model grid, source)` from an observable or explicit units."""
    if observable is not None:
        if x_unit is not None or y_unit is not None:
            raise ValueError(
                "Reference: give either observable= or x_unit=/y_unit=, not both (the "
                "observable declares its output units)"
            )
        xu, yu, grid = observable_units(observable)
        return xu, yu, grid, type(observable).__name__
    if y_unit is None:
        raise ValueError(
            "Reference needs the units of the prediction: pass observable=... (e.g. "
            "IRSpectrum(...)), or x_unit=... and y_unit=... for a custom prediction"
        )
    xu = None if x_unit is None else unit_str(x_unit)
    return xu, unit_str(y_unit), None, "the prediction"


def _label(dataset: Dataset) -> str:
    name = getattr(dataset, "name", None)
    quantity = getattr(dataset, "quantity", None)
    label = f"dataset {name!r}" if name else "the dataset"
    return f"{label} ({quantity})" if quantity else label


# ------------------------------------------------------------------------------- curves
def _curve(
    dataset: Dataset | Quantity, xu: str, yu: str, source: str, x_range: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """The dataset's curve `(x, y, σ, description)` in `(xu, yu)`, restricted to `x_range`."""
    label = _label(dataset)
    if not isinstance(dataset, Table):
        what = f"{dataset:~P}" if isinstance(dataset, pint.Quantity) else label
        raise LossError(
            f"Reference: {what} has no x axis (a value), but {source} gives a curve (x in "
            f"{xu}); compare a value with the output of a value observable (e.g. "
            "ShearViscosity) and RelativeError"
        )
    what = f"Reference: {label} vs {source}"
    try:
        x = convert_x(dataset.x, dataset.x_unit, xu, what)
        y = convert_y(dataset.y, dataset.y_unit, yu, what)
    except UnitError as err:
        raise UnitError(
            f"{err}. {label} is in x: {dataset.x_unit}, y: {dataset.y_unit}; {source} "
            f"gives x: {xu}, y: {yu}"
        ) from None
    sigma = None
    if dataset.uncertainty is not None:
        # an uncertainty is a difference: convert affinely, v -> |f(v) - f(0)| (offset units)
        zero = convert_y(0.0, dataset.y_unit, yu, what)
        sigma = np.abs(convert_y(dataset.uncertainty, dataset.y_unit, yu, what) - zero)
    if x.ndim != 1 or y.shape != x.shape:
        raise LossError(
            f"Reference: {label} has x {x.shape}, y {y.shape}; expected 1-D, same shape"
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise LossError(f"Reference: {label} has non-finite x or y values")
    if np.any(np.diff(x) <= 0):
        raise LossError(f"Reference: {label} x values are not strictly ascending")
    if x_range is not None:
        lo, hi = convert_pair(x_range, xu, "Reference x_range")
        keep = (x >= lo) & (x <= hi)
        if keep.sum() < 2:
            raise LossError(
                f"Reference: x_range [{lo:g}, {hi:g}] {xu} holds {int(keep.sum())} point(s) of "
                f"{label}, which covers [{x[0]:g}, {x[-1]:g}] {xu}; need at least 2 (empty "
                "overlap?)"
            )
        x, y = x[keep], y[keep]
        sigma = None if sigma is None else sigma[keep]
    if x.shape[0] < 2:
        raise LossError(f"Reference: {label} has {x.shape[0]} point(s); need >= 2")
    return x, y, sigma, label


def _model_grid(grid: np.ndarray | None, model_x: Any, xu: str, source: str) -> np.ndarray | None:
    """The model's x grid in `xu`: the observable's (RDF bin centres) or `model_x`."""
    if model_x is None:
        return grid
    if grid is not None:
        raise ValueError(f"Reference: {source} fixes the model grid; omit model_x")
    if not isinstance(model_x, pint.Quantity):
        raise LossError(
            f"Reference: model_x must be a Quantity (e.g. Quantity(r, 'nm')), got "
            f"{type(model_x).__name__}"
        )
    mx = convert_x(model_x.magnitude, str(model_x.units), xu, "Reference model_x")
    if mx.ndim != 1 or mx.shape[0] < 2 or np.any(np.diff(mx) <= 0):
        raise LossError(
            f"Reference: model_x must be 1-D, strictly ascending, >= 2 points; got shape {mx.shape}"
        )
    return mx


def _check_covered(x: np.ndarray, grid: np.ndarray, xu: str, label: str) -> None:
    """With a model grid known before simulating, data beyond it is refused now (the same
    tolerance as the check when the loss is called)."""
    lo, hi = float(grid[0]), float(grid[-1])
    tol = 1e-9 * abs(hi - lo)
    if x[0] < lo - tol or x[-1] > hi + tol:
        raise LossError(
            f"Reference: the grid of {label} [{x[0]:.6g}, {x[-1]:.6g}] {xu} reaches beyond the "
            f"model's [{lo:.6g}, {hi:.6g}] {xu}; widen the observable (e.g. RDF r_max), restrict "
            "the comparison with x_range=(lo, hi), or pass clip=True"
        )


# ------------------------------------------------------------------------------- values
def _value(
    dataset: Dataset | Quantity, yu: str, source: str, at: Any, label: Any, uncertainty: Any
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None, str | None, str]:
    """`(value in yu, its 1σ in yu or None, labels, state point, description)` of a value
    reference."""
    if at is not None and label is not None:
        raise ValueError("Reference: give at= (a state point) or label=, not both")
    if isinstance(dataset, pint.Quantity):
        if at is not None or label is not None:
            raise ValueError("Reference: at=/label= need a Dataset, not a Quantity")
        if uncertainty is not None and not isinstance(uncertainty, pint.Quantity):
            raise UnitError(
                f"Reference: uncertainty must be a Quantity (e.g. Quantity(0.02, "
                f"'{unit_str(dataset.units)}')), got {uncertainty!r}"
            )
        exp_q, unc_q, labels, state_point = dataset, uncertainty, None, None
        what = f"the experimental value {dataset:~P}"
    else:
        what = _label(dataset)
        exp_q, unc_q, labels, state_point = _select_value(dataset, what, at, label)
    try:
        exp = np.asarray(to_magnitude(exp_q, yu, "value"), dtype=float)
    except UnitError:
        raise UnitError(
            f"Reference: {what} is in {unit_str(exp_q.units)} ({exp_q.dimensionality}), which "
            f"cannot be converted to {yu} ({ureg.Unit(yu).dimensionality}), the unit of {source}"
        ) from None
    if not np.all(np.isfinite(exp)):
        raise LossError(f"Reference: the experimental value {exp} {yu} of {what} must be finite")
    sigma = None if unc_q is None else _value_sigma(unc_q, exp, yu, what)
    if labels is not None and exp.shape != (len(labels),):
        labels = None
    return exp, sigma, labels, state_point, what


def _value_sigma(unc_q: pint.Quantity, exp: np.ndarray, yu: str, what: str) -> np.ndarray:
    """The 1σ of a value in `yu` (a difference: converted affinely, v -> f(v) - f(0); its
    sign is kept, so that a loss can refuse a negative σ)."""
    src = unit_str(unc_q.units)
    where = f"Reference: the uncertainty of {what}"
    sigma = convert_y(np.asarray(unc_q.magnitude, dtype=float), src, yu, where) - convert_y(
        0.0, src, yu, where
    )
    if sigma.shape != exp.shape:
        raise ValueError(
            f"{where} has shape {sigma.shape}, the value {exp.shape}; give one σ per value"
        )
    return sigma


def _select_value(
    dataset: Dataset, what: str, at: Any, label: Any
) -> tuple[pint.Quantity, pint.Quantity | None, tuple[str, ...] | None, str | None]:
    """The experimental quantity chosen by `at` / `label` and its 1σ (see `Reference`)."""
    if at is not None:
        if not isinstance(at, pint.Quantity):
            raise UnitError(
                f"Reference: at must be a Quantity (e.g. Quantity(298.15, 'K')), got {at!r}"
            )
        value, unc = dataset.at(at)
        return value, unc, None, f"{at:~P}"
    if label is not None:
        labels = (label,) if isinstance(label, str) else tuple(label)
        pairs = [dataset.value(lab) for lab in labels]
        exp_q = _stack([v for v, _ in pairs])
        uncs = [u for _, u in pairs]
        unc_q = None if any(u is None for u in uncs) else _stack(uncs)
        if isinstance(label, str):
            return exp_q, unc_q, None, label
        return exp_q, unc_q, labels, None
    unc = dataset.uncertainty
    if isinstance(dataset, LabelledValues):
        unc_q = None if unc is None else _quantity(unc, dataset.y_unit)
        return _quantity(dataset.y, dataset.y_unit), unc_q, tuple(dataset.labels), None
    xs = np.asarray(dataset.x)
    if xs.shape[0] != 1:
        raise LossError(
            f"Reference: {what} has {xs.shape[0]} points along "
            f"{dataset.x_name or 'x'} ({dataset.x_unit}), but the observable "
            f"gives a single value; choose one with at=Quantity(value, '{dataset.x_unit}')"
        )
    state_point = f"{float(xs[0]):g} {dataset.x_unit}"
    unc_q = None if unc is None else _quantity(np.asarray(unc)[0], dataset.y_unit)
    return _quantity(np.asarray(dataset.y)[0], dataset.y_unit), unc_q, None, state_point


def _quantity(m: Any, unit: str) -> pint.Quantity:
    return Quantity(np.asarray(m, dtype=float), unit)


def _stack(qs: Sequence[pint.Quantity]) -> pint.Quantity:
    unit = qs[0].units
    return _quantity([q.m_as(unit) for q in qs], str(unit))
