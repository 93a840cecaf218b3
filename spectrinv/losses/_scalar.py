r"""Relative error of a value (transport coefficient, density, elastic constants) against
experiment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from observables import Quantity, UnitError, to_magnitude, ureg

from ._base import AbstractLoss, LossError, as_scalar, check_name, check_weight
from ._prediction import value_of
from ._target import dataset_label, resolve_units
from ._units import unit_str

__all__ = ["RelativeError"]


class RelativeError(AbstractLoss):
    r"""Squared relative error of a value (or a vector of values) against experiment.

    $$ L = \frac1K\sum_{k=1}^{K}\left(\frac{v_k^\text{model} - v_k^\text{exp}}
       {v_k^\text{exp}}\right)^2 , $$

    dimensionless; $K = 1$ for a scalar (a viscosity at one temperature), $K$ = number of
    entries for a vector (elastic constants $C_{11}, C_{12}, C_{44}$). The experimental value
    is converted once, when the loss is built, into the observable's `output_unit`
    (`UnitError` naming both units when incompatible, e.g. a viscosity dataset with an RDF).

    **Arguments:**

    - `dataset`: a `spectrinv.datasets.Dataset`, or a `Quantity` (the experimental value
      itself).
    - `observable` (its `output_unit` is the unit of the prediction) or `y_unit`.
    - `at`: a state point (`Quantity`, e.g. `Quantity(298.15, "K")`): the dataset is
      linearly interpolated there (`Dataset.at`, error outside its range).
    - `label`: a label or sequence of labels of a dataset of labelled values
      (`Dataset.value`, e.g. `("C11", "C12", "C44")`); the prediction is then a vector in
      that order.
    - Without `at`/`label`: a dataset of labelled values gives all its entries in order; a
      dataset with a single point gives that point; otherwise `LossError` asks for `at`.
    - `weight`, `name`: see `AbstractLoss`.

    **Prediction:** an array (scalar or `[K]`) in the observable's unit (what
    `observable(trajectory)` returns, jit-safe), or, outside `jit`, a `TransportResult` or a
    `Quantity`.

    `terms` reports `model` and `exp` (per label for vectors: `C11_model`, `C11_exp`, ...).

    ??? cite
        Relative (dimensionless) errors let properties of different units enter one
        objective, as in ForceBalance: L.-P. Wang, T. J. Martínez, V. S. Pande, "Building
        force fields: an automatic, systematic, and reproducible approach", J. Phys. Chem.
        Lett. 5, 1885 (2014).
    """

    value: Float[Array, "..."]
    y_unit: str = eqx.field(static=True)
    labels: tuple[str, ...] | None = eqx.field(static=True)
    state_point: str | None = eqx.field(static=True)
    dataset_name: str = eqx.field(static=True)

    def __init__(
        self,
        dataset: Any,
        *,
        observable: Any = None,
        y_unit: Any = None,
        at: Any = None,
        label: str | Sequence[str] | None = None,
        weight: Any = 1.0,
        name: str = "relative_error",
    ):
        where = "RelativeError"
        xu, yu, _, units_from = resolve_units(observable, None, y_unit, where)
        if xu is not None:
            ds_unit = getattr(dataset, "y_unit", None) or getattr(dataset, "units", None)
            if (
                ds_unit is not None
                and ureg.Unit(str(ds_unit)).dimensionality != ureg.Unit(yu).dimensionality
            ):
                raise UnitError(
                    f"{where}: {dataset_label(dataset)} is in {unit_str(ds_unit)}, which cannot "
                    f"be compared with {units_from}'s output in {yu} (x in {xu})"
                )
            raise LossError(
                f"{where}: {units_from} gives a curve (x in {xu}); compare curves with "
                "MeanSquaredError / Wasserstein1 / PeakPosition"
            )
        if at is not None and label is not None:
            raise ValueError(f"{where}: give at= (a state point) or label=, not both")
        labels = None
        state_point = None
        if isinstance(dataset, pint.Quantity):
            if at is not None or label is not None:
                raise ValueError(f"{where}: at=/label= need a Dataset, not a Quantity")
            exp_q = dataset
            what = f"the experimental value {dataset:~P}"
        else:
            what = dataset_label(dataset)
            if at is not None:
                if not isinstance(at, pint.Quantity):
                    raise UnitError(
                        f"{where}: at must be a Quantity (e.g. Quantity(298.15, 'K')), got {at!r}"
                    )
                exp_q = dataset.at(at)[0]
                state_point = f"{at:~P}"
            elif label is not None:
                labels = (label,) if isinstance(label, str) else tuple(label)
                vals = [dataset.value(lab)[0] for lab in labels]
                exp_q = _stack_quantities(vals)
                if isinstance(label, str):
                    labels = None
                    state_point = label
            elif getattr(dataset, "x", None) is None:
                labels = getattr(dataset, "labels", None)
                labels = None if labels is None else tuple(labels)
                exp_q = _quantity(dataset.y, dataset.y_unit)
            else:
                xs = np.asarray(dataset.x)
                if xs.shape[0] != 1:
                    raise LossError(
                        f"{where}: {what} has {xs.shape[0]} points along "
                        f"{getattr(dataset, 'x_name', None) or 'x'} ({dataset.x_unit}); choose "
                        f"one with at=Quantity(value, '{dataset.x_unit}')"
                    )
                exp_q = _quantity(np.asarray(dataset.y)[0], dataset.y_unit)
                state_point = f"{float(xs[0]):g} {dataset.x_unit}"
        try:
            exp = np.asarray(to_magnitude(exp_q, yu, "value"), dtype=float)
        except UnitError:
            raise UnitError(
                f"{where}: {what} is in {unit_str(exp_q.units)} "
                f"({exp_q.dimensionality}), which cannot be converted to {yu} "
                f"({ureg.Unit(yu).dimensionality}), "
                f"the unit of {units_from}"
            ) from None
        if not np.all(np.isfinite(exp)) or np.any(exp == 0):
            raise LossError(
                f"{where}: the experimental value {exp} {yu} must be finite and non-zero "
                "(it is the denominator)"
            )
        if labels is not None and exp.shape != (len(labels),):
            labels = None
        self.value = jnp.asarray(exp)
        self.y_unit = yu
        self.labels = labels
        self.state_point = state_point
        self.dataset_name = what
        self.weight = check_weight(weight)
        self.name = check_name(name)

    def _evaluate(self, prediction):
        where = f"RelativeError ({self.dataset_name})"
        v = value_of(prediction, y_unit=self.y_unit, where=where)
        if not jnp.issubdtype(v.dtype, jnp.floating):
            v = v.astype(float)
        e = self.value.astype(v.dtype)
        if v.shape != e.shape:
            if v.size == e.size:
                v = v.reshape(e.shape)
            else:
                raise LossError(
                    f"{where}: the prediction has shape {tuple(v.shape)}, the experimental value "
                    f"{tuple(e.shape)}"
                )
        rel = (v - e) / e
        diag = {}
        if e.ndim == 0:
            diag = {"model": v, "exp": e}
        else:
            names = self.labels or tuple(str(k + 1) for k in range(e.shape[0]))
            for k, lab in enumerate(names):
                diag[f"{lab}_model"] = as_scalar(v[k])
                diag[f"{lab}_exp"] = as_scalar(e[k])
        return jnp.mean(rel**2), diag


def _quantity(m: Any, unit: str) -> pint.Quantity:
    return Quantity(np.asarray(m, dtype=float), unit)


def _stack_quantities(qs: Sequence[pint.Quantity]) -> pint.Quantity:
    unit = qs[0].units
    return _quantity([q.m_as(unit) for q in qs], str(unit))
