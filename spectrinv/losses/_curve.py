r"""Pointwise losses between a model curve and an experimental curve on the experimental grid.

The model is linearly interpolated onto the experimental points $x_i$ (`jnp.interp`,
differentiable w.r.t. the model's y), inside the compared range (`x_range`, and with
`clip=True` the part of it the model covers). Units are converted once, when the loss is
built: the dataset goes into the observable's units (see `Reference`).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractLoss, LossError, check_name
from ._grid import on_grid
from ._normalisation import Absolute, AbstractNormalisation, check_normalisation
from ._prediction import curve_of
from ._reference import Reference

__all__ = ["AbstractCurveLoss", "MeanSquaredError", "ChiSquared", "curve_reference"]


class AbstractCurveLoss(AbstractLoss):
    """A loss between a model curve and an experimental curve on the experimental grid.

    **Fields:** `reference`: a curve `Reference` (the experimental x `[point]`, y `[point]`,
    uncertainty, model grid, units and compared range); `name`.
    """

    reference: eqx.AbstractVar[Reference]

    def _curves(self, prediction: Any) -> tuple[Array, Array, Array, Array]:
        """(x, model on x, experiment on x, mask), all plain arrays in the model's dtype."""
        ref = self.reference
        where = f"{type(self).__name__} ({ref.description})"
        xm, ym = curve_of(
            prediction, x_unit=ref.x_unit, y_unit=ref.y_unit, model_x=ref.model_x, where=where
        )
        if not jnp.issubdtype(ym.dtype, jnp.floating):
            ym = ym.astype(float)
        y_model, mask = on_grid(
            ref.x,
            xm.astype(ym.dtype),
            ym,
            clip=ref.clip,
            exp_range=ref.exp_range,
            x_unit=ref.x_unit,
            where=where,
        )
        return ref.x.astype(ym.dtype), y_model, ref.y.astype(ym.dtype), mask


def curve_reference(reference: Any, where: str) -> Reference:
    """`reference` if it is a curve `Reference`, else a one-line error naming the fix."""
    if not isinstance(reference, Reference):
        raise TypeError(
            f"{where} takes a Reference (e.g. {where}(Reference(dataset, observable))), got "
            f"{type(reference).__name__}"
        )
    if not reference.is_curve:
        raise LossError(
            f"{where} compares curves, but the reference ({reference.description} vs "
            f"{reference.source}) is a single value; compare it with RelativeError"
        )
    return reference


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
    weight it (`1e6 * MeanSquaredError(...)`, or use `ChiSquared`) when combining with other
    losses.

    **Arguments:**

    - `reference`: a curve `Reference` (dataset, observable, range, units, model grid).
    - `normalisation`: `Absolute()` (default), `AreaNormalised()` or `PeakNormalised()`.
    - `name`: the key in `terms` (default `"mse"`).

    **Returns** (`__call__`): $L$, a 0-d array.

    ??? cite
        J. R. Taylor, *An Introduction to Error Analysis*, 2nd ed., University Science
        Books (1997), ch. 8 (least squares); for computed vs measured IR spectra:
        M. Thomas, M. Brehm, R. Fligg, P. Vöhringer, B. Kirchner, "Computing vibrational
        spectra from ab initio molecular dynamics", Phys. Chem. Chem. Phys. 15, 6608 (2013).
    """

    reference: Reference
    normalisation: AbstractNormalisation
    name: str = eqx.field(static=True)

    def __init__(
        self,
        reference: Reference,
        *,
        normalisation: AbstractNormalisation | None = None,
        name: str = "mse",
    ):
        self.reference = curve_reference(reference, "MeanSquaredError")
        self.normalisation = check_normalisation(
            Absolute() if normalisation is None else normalisation
        )
        self.name = check_name(name)
        # the experimental curve must be normalisable on its own grid
        self.normalisation.check(np.asarray(self.reference.x), np.asarray(self.reference.y))

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        x, model, exp, mask = self._curves(prediction)
        m = self.normalisation(x, model, mask)
        e = self.normalisation(x, exp, mask)
        return _masked_mean((m - e) ** 2, mask), {}


class ChiSquared(AbstractCurveLoss):
    r"""Reduced χ² with the experimental uncertainty.

    $$ \chi^2/N = \frac{1}{N}\sum_{i=1}^{N}
       \left(\frac{y_\text{model}(x_i) - y_\text{exp}(x_i)}{\sigma_i}\right)^2 , $$

    model linearly interpolated onto the $N$ experimental points in the compared range;
    $\sigma_i$ = the reference's 1σ uncertainty (the dataset's, converted to the
    observable's y unit), or `relative_uncertainty` × $|y_\text{exp}(x_i)|$ when the source
    gives none. Dimensionless; ≈ 1 for a model that agrees within the stated errors (model
    noise not included).

    **Arguments:**

    - `reference`: a curve `Reference`.
    - `relative_uncertainty`: an assumed relative 1σ (e.g. 0.05) for datasets without
      uncertainty. A dataset without uncertainty and no `relative_uncertainty` raises
      `LossError` when the loss is built.
    - `name`: the key in `terms` (default `"chi2"`).

    **Fields:** `sigma` `[point]`, the σ used (y unit).

    ??? cite
        W. H. Press, S. A. Teukolsky, W. T. Vetterling, B. P. Flannery, *Numerical
        Recipes*, 3rd ed., Cambridge University Press (2007), §15.1.
    """

    reference: Reference
    sigma: Float[Array, " point"]
    relative_uncertainty: float | None = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        reference: Reference,
        *,
        relative_uncertainty: float | None = None,
        name: str = "chi2",
    ):
        ref = self.reference = curve_reference(reference, "ChiSquared")
        self.name = check_name(name)
        y = np.asarray(ref.y)
        if relative_uncertainty is not None:
            r = float(relative_uncertainty)
            if not r > 0 or not np.isfinite(r):
                raise ValueError(f"relative_uncertainty must be > 0, got {relative_uncertainty!r}")
            if ref.uncertainty is not None:
                raise ValueError(
                    f"ChiSquared: {ref.description} has its own uncertainty; omit "
                    "relative_uncertainty (or drop the dataset's uncertainty deliberately)"
                )
            sigma = r * np.abs(y)
            self.relative_uncertainty = r
        else:
            if ref.uncertainty is None:
                raise LossError(
                    f"ChiSquared: {ref.description} has no uncertainty, so χ² is undefined. Use "
                    "MeanSquaredError (or a shape loss), or assume one: "
                    "ChiSquared(..., relative_uncertainty=0.05)"
                )
            sigma = np.asarray(ref.uncertainty)
            self.relative_uncertainty = None
        bad = ~(sigma > 0)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise LossError(
                f"ChiSquared: the uncertainty of {ref.description} is {sigma[i]:g} {ref.y_unit} "
                f"at x = {float(ref.x[i]):g} {ref.x_unit}; every σ must be > 0"
            )
        self.sigma = jnp.asarray(sigma)

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        x, model, exp, mask = self._curves(prediction)
        sigma = self.sigma.astype(model.dtype)
        return _masked_mean(((model - exp) / sigma) ** 2, mask), {}
