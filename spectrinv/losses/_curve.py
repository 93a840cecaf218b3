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
from ._prediction import curve_of, error_of
from ._reference import Reference

__all__ = [
    "AbstractCurveLoss",
    "MeanSquaredError",
    "curve_reference",
    "curves_on_grid",
    "masked_mean",
]


class AbstractCurveLoss(AbstractLoss):
    """A loss between a model curve and an experimental curve on the experimental grid.

    **Fields:** `reference`: a curve `Reference` (the experimental x `[point]`, y `[point]`,
    uncertainty, model grid, units and compared range); `name`.
    """

    reference: eqx.AbstractVar[Reference]

    def _curves(self, prediction: Any) -> tuple[Array, Array, Array, Array]:
        """(x, model on x, experiment on x, mask), all plain arrays in the model's dtype."""
        x, model, exp, mask, _ = curves_on_grid(self.reference, prediction, type(self).__name__)
        return x, model, exp, mask


def curves_on_grid(
    ref: Reference, prediction: Any, loss_name: str
) -> tuple[Array, Array, Array, Array, Array | None]:
    """`(x, model on x, experiment on x, mask, model error on x or None)`, plain arrays in the
    model's dtype; the model's standard error (`error_of`) is interpolated like the model."""
    where = f"{loss_name} ({ref.description})"
    xm, ym = curve_of(
        prediction, x_unit=ref.x_unit, y_unit=ref.y_unit, model_x=ref.model_x, where=where
    )
    if not jnp.issubdtype(ym.dtype, jnp.floating):
        ym = ym.astype(float)
    xm = xm.astype(ym.dtype)
    y_model, mask = on_grid(
        ref.x, xm, ym, clip=ref.clip, exp_range=ref.exp_range, x_unit=ref.x_unit, where=where
    )
    x = ref.x.astype(ym.dtype)
    err = error_of(prediction, ym, where)
    err_model = None if err is None else jnp.interp(x, xm, err.astype(ym.dtype))
    return x, y_model, ref.y.astype(ym.dtype), mask, err_model


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
            f"{reference.source}) is a single value; compare it with ChiSquared or RelativeError"
        )
    return reference


def masked_mean(v: Array, mask: Array) -> Array:
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
        return masked_mean((m - e) ** 2, mask), {}
