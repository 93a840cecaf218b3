r"""Pointwise losses between a model curve and an experimental curve on the experimental grid.

The model is linearly interpolated onto the experimental points $x_i$ (`jnp.interp`,
differentiable w.r.t. the model's y), inside the compared range (`x_range`, and with
`clip=True` the part of it the model covers). Units are converted once, when the loss is
built: the dataset goes into the observable's units (see `spectrinv.losses._target`).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from ._base import AbstractLoss, LossError, check_name, check_weight
from ._grid import on_grid
from ._normalisation import Absolute, AbstractNormalisation, check_normalisation
from ._prediction import curve_of
from ._target import curve_target, resolve_units
from ._units import convert_x

__all__ = ["AbstractCurveLoss", "MeanSquaredError", "ChiSquared"]


class AbstractCurveLoss(AbstractLoss):
    """A loss between a model curve and an experimental curve on the experimental grid.

    **Fields** (set by `_build`): `x` `[point]` experimental grid in `x_unit`; `y` `[point]` in
    `y_unit`; `uncertainty` `[point]` (1σ, `y_unit`) or None; `model_x` the model's grid for
    plain-array predictions (or None); `clip`; `exp_range` (static floats, `x_unit`).
    """

    x: Float[Array, " point"]
    y: Float[Array, " point"]
    uncertainty: Float[Array, " point"] | None
    model_x: Float[Array, " model"] | None
    x_unit: str = eqx.field(static=True)
    y_unit: str = eqx.field(static=True)
    clip: bool = eqx.field(static=True)
    exp_range: tuple[float, float] = eqx.field(static=True)
    dataset_name: str = eqx.field(static=True)

    def _build(
        self,
        dataset: Any,
        *,
        observable: Any,
        x_unit: Any,
        y_unit: Any,
        model_x: Any,
        x_range: Any,
        clip: bool,
        weight: Any,
        name: str,
        min_points: int = 2,
    ) -> Any:
        where = type(self).__name__
        xu, yu, mx, units_from = resolve_units(observable, x_unit, y_unit, where)
        target = curve_target(
            dataset,
            x_unit=xu,
            y_unit=yu,
            units_from=units_from,
            where=where,
            x_range=x_range,
            min_points=min_points,
        )
        if model_x is not None:
            if mx is not None:
                raise ValueError(f"{where}: {units_from} fixes the model grid; omit model_x")
            if not isinstance(model_x, pint.Quantity):
                raise LossError(
                    f"{where}: model_x must be a Quantity (e.g. Quantity(r, 'nm')), got "
                    f"{type(model_x).__name__}"
                )
            mx = convert_x(model_x.magnitude, str(model_x.units), xu, f"{where} model_x")
            if mx.ndim != 1 or np.any(np.diff(mx) <= 0):
                raise LossError(f"{where}: model_x must be 1-D and strictly ascending")
        self.x = jnp.asarray(target.x)
        self.y = jnp.asarray(target.y)
        self.uncertainty = None if target.sigma is None else jnp.asarray(target.sigma)
        self.model_x = None if mx is None else jnp.asarray(mx)
        self.x_unit = xu
        self.y_unit = yu
        self.clip = bool(clip)
        self.exp_range = (float(target.x[0]), float(target.x[-1]))
        self.dataset_name = target.label
        self.weight = check_weight(weight)
        self.name = check_name(name)
        return target

    def _curves(self, prediction: Any) -> tuple[Array, Array, Array, Array]:
        """(x, model on x, experiment on x, mask), all plain arrays in the model's dtype."""
        where = f"{type(self).__name__} ({self.dataset_name})"
        xm, ym = curve_of(
            prediction, x_unit=self.x_unit, y_unit=self.y_unit, model_x=self.model_x, where=where
        )
        if not jnp.issubdtype(ym.dtype, jnp.floating):
            ym = ym.astype(float)
        y_model, mask = on_grid(
            self.x,
            xm.astype(ym.dtype),
            ym,
            clip=self.clip,
            exp_range=self.exp_range,
            x_unit=self.x_unit,
            where=where,
        )
        return self.x.astype(ym.dtype), y_model, self.y.astype(ym.dtype), mask


def _masked_mean(v: Array, mask: Array) -> Array:
    return jnp.sum(mask * v) / jnp.sum(mask)


class MeanSquaredError(AbstractCurveLoss):
    r"""Mean squared difference on the experimental grid.

    $$ L = \frac{1}{N}\sum_{i=1}^{N} \big(\mathcal N[y_\text{model}](x_i) -
       \mathcal N[y_\text{exp}](x_i)\big)^2 , $$

    over the $N$ experimental points $x_i$ in the compared range, with the model linearly
    interpolated onto $x_i$ and $\mathcal N$ the `normalisation` applied to both curves.

    **Units:** (y unit)² for `Absolute()` (e.g. cm⁻² for n·α), (x unit)⁻² for
    `AreaNormalised()`, dimensionless for `PeakNormalised()`. Not divided by the data's scale:
    weight it (or use `ChiSquared`) when combining with other losses.

    **Arguments:**

    - `dataset`: a `spectrinv.datasets.Dataset` with an x axis.
    - `observable`: the observable whose output is the prediction (its declared units are
      used: `IRSpectrum.x_unit` and 1/cm, RDF → nm and dimensionless, ...); or instead
    - `x_unit`, `y_unit`: units of a custom prediction (`Spectrum` or `(x, y)` arrays).
    - `model_x`: the model's x grid (a `Quantity`) for plain-array predictions.
    - `x_range`: `(lo, hi)` Quantities; compare only there (default: the whole dataset).
    - `clip`: drop experimental points outside the model's range at call time (default
      False: such points raise `LossError` naming both ranges).
    - `normalisation`: `Absolute()` (default), `AreaNormalised()` or `PeakNormalised()`.
    - `weight`, `name`: see `AbstractLoss`.

    **Returns** (`__call__`): `weight * L`, a 0-d array.

    ??? cite
        J. R. Taylor, *An Introduction to Error Analysis*, 2nd ed., University Science
        Books (1997), ch. 8 (least squares); for computed vs measured IR spectra:
        M. Thomas, M. Brehm, R. Fligg, P. Vöhringer, B. Kirchner, "Computing vibrational
        spectra from ab initio molecular dynamics", Phys. Chem. Chem. Phys. 15, 6608 (2013).
    """

    normalisation: AbstractNormalisation

    def __init__(
        self,
        dataset: Any,
        *,
        observable: Any = None,
        x_unit: Any = None,
        y_unit: Any = None,
        model_x: Any = None,
        x_range: Any = None,
        clip: bool = False,
        normalisation: AbstractNormalisation | None = None,
        weight: Any = 1.0,
        name: str = "mse",
    ):
        self.normalisation = check_normalisation(
            Absolute() if normalisation is None else normalisation
        )
        self._build(
            dataset,
            observable=observable,
            x_unit=x_unit,
            y_unit=y_unit,
            model_x=model_x,
            x_range=x_range,
            clip=clip,
            weight=weight,
            name=name,
        )
        # the experimental curve must be normalisable on its own grid
        self.normalisation.check(np.asarray(self.x), np.asarray(self.y))

    def _evaluate(self, prediction):
        x, model, exp, mask = self._curves(prediction)
        m = self.normalisation(x, model, mask)
        e = self.normalisation(x, exp, mask)
        return _masked_mean((m - e) ** 2, mask), {}


class ChiSquared(AbstractCurveLoss):
    r"""Reduced χ² with the experimental uncertainty.

    $$ \chi^2/N = \frac{1}{N}\sum_{i=1}^{N}
       \left(\frac{y_\text{model}(x_i) - y_\text{exp}(x_i)}{\sigma_i}\right)^2 , $$

    model linearly interpolated onto the $N$ experimental points in the compared range;
    $\sigma_i$ = the dataset's 1σ uncertainty (converted to the observable's y unit), or
    `relative_uncertainty` × $|y_\text{exp}(x_i)|$ when the source gives none.
    Dimensionless; ≈ 1 for a model that agrees within the stated errors (model noise
    not included).

    **Arguments:** as `MeanSquaredError` (no normalisation), plus `relative_uncertainty`:
    an assumed relative 1σ (e.g. 0.05) for datasets without uncertainty. A dataset without
    uncertainty and no `relative_uncertainty` raises `LossError` when the loss is built.

    ??? cite
        W. H. Press, S. A. Teukolsky, W. T. Vetterling, B. P. Flannery, *Numerical
        Recipes*, 3rd ed., Cambridge University Press (2007), §15.1.
    """

    relative_uncertainty: float | None = eqx.field(static=True)

    def __init__(
        self,
        dataset: Any,
        *,
        observable: Any = None,
        x_unit: Any = None,
        y_unit: Any = None,
        model_x: Any = None,
        x_range: Any = None,
        clip: bool = False,
        relative_uncertainty: float | None = None,
        weight: Any = 1.0,
        name: str = "chi2",
    ):
        target = self._build(
            dataset,
            observable=observable,
            x_unit=x_unit,
            y_unit=y_unit,
            model_x=model_x,
            x_range=x_range,
            clip=clip,
            weight=weight,
            name=name,
        )
        if relative_uncertainty is not None:
            r = float(relative_uncertainty)
            if not r > 0 or not np.isfinite(r):
                raise ValueError(f"relative_uncertainty must be > 0, got {relative_uncertainty!r}")
            if target.sigma is not None:
                raise ValueError(
                    f"ChiSquared: {target.label} has its own uncertainty; omit "
                    "relative_uncertainty (or drop the dataset's uncertainty deliberately)"
                )
            sigma = r * np.abs(target.y)
            self.relative_uncertainty = r
        else:
            if target.sigma is None:
                raise LossError(
                    f"ChiSquared: {target.label} has no uncertainty, so χ² is undefined. Use "
                    "MeanSquaredError (or a shape loss), or assume one: "
                    "ChiSquared(..., relative_uncertainty=0.05)"
                )
            sigma = target.sigma
            self.relative_uncertainty = None
        bad = ~(sigma > 0)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise LossError(
                f"ChiSquared: the uncertainty of {target.label} is {sigma[i]:g} {self.y_unit} at "
                f"x = {target.x[i]:g} {self.x_unit}; every σ must be > 0"
            )
        self.uncertainty = jnp.asarray(sigma)

    def _evaluate(self, prediction):
        x, model, exp, mask = self._curves(prediction)
        sigma = self.uncertainty.astype(model.dtype)
        return _masked_mean(((model - exp) / sigma) ** 2, mask), {}
