r"""Reduced χ² of a prediction against experiment, weighted by the experimental and the
simulation uncertainties combined in quadrature; for curves and for values alike."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractLoss, LossError, as_scalar, check_name
from ._curve import curves_on_grid, masked_mean
from ._prediction import is_concrete, value_and_error_of
from ._reference import Reference

__all__ = ["ChiSquared"]


class ChiSquared(AbstractLoss):
    r"""Reduced χ² with the experimental and the simulation uncertainty combined.

    $$ \chi^2/N = \frac{1}{N}\sum_{i=1}^{N}
       \frac{\big(y_\text{sim}(x_i) - y_\text{exp}(x_i)\big)^2}{\sigma_i^2},
       \qquad \sigma_i^2 = \sigma_{\text{exp},i}^2 + \sigma_{\text{sim},i}^2 , $$

    over the $N$ compared points: for a **curve** the experimental points $x_i$ in the
    compared range (the model linearly interpolated onto them); for a **value** the $N$
    entries of the reference (one for a viscosity at one temperature, $K$ for elastic
    constants $C_{11}, C_{12}, C_{44}$).

    - $\sigma_{\text{exp},i}$: the reference's 1σ uncertainty (the dataset's, converted to
      the observable's y unit; for a value interpolated at `at` or given as `uncertainty=`),
      or `relative_uncertainty` × $|y_\text{exp,i}|$ for data that give none.
    - $\sigma_{\text{sim},i}$: the standard error the prediction carries (its
      `error_magnitude`, e.g. the block-averaged error of a `TransportResult`), in the same
      unit as its values and converted with them. On a curve it is interpolated onto $x_i$
      linearly, like the prediction itself; for neighbouring points that are positively
      correlated (a smoothed spectrum, a kernel RDF) this is the error of the interpolated
      value, otherwise an upper bound of it. Predictions without an error (plain arrays,
      `error_magnitude` None), or `include_simulation_error=False`, give
      $\sigma_{\text{sim}} = 0$: the χ² with the experimental uncertainty alone.

    **Gradient.** $\sigma_\text{sim}$ enters through `jax.lax.stop_gradient`: the gradient is
    that of a χ² with fixed weights $1/\sigma_i^2$, evaluated at the current ones. Were the
    weights differentiated, the optimiser could lower χ² by making the simulation noisier
    (a larger $\sigma_\text{sim}$) instead of closer to experiment.

    **Normalisation and units:** divided by $N$ (reduced χ², no degrees of freedom
    subtracted), dimensionless. ≈ 1 when the prediction agrees with experiment within the
    combined errors; ≫ 1 is a significant disagreement.

    **Arguments:**

    - `reference`: a curve or a value `Reference`.
    - `relative_uncertainty`: an assumed relative 1σ (e.g. 0.05) for data without
      uncertainty. Data without uncertainty and no `relative_uncertainty` raise `LossError`
      when the loss is built, as does a σ that is not finite and > 0.
    - `include_simulation_error`: add the prediction's standard error in quadrature (default
      True).
    - `name`: the key in `terms` (default `"chi2"`).

    **Fields:** `sigma`, the experimental σ used (y unit; `[point]` or the value's shape).

    `terms` of a value report `model`, `exp` and `sigma` (the combined σ), per label for
    vectors (`C11_model`, ...).

    **Prediction:** as `MeanSquaredError` for a curve, as `RelativeError` for a value; a
    negative or non-finite simulation error raises `LossError` (outside `jit`; a runtime
    error inside).

    ??? cite
        P. R. Bevington, D. K. Robinson, *Data Reduction and Error Analysis for the Physical
        Sciences*, 3rd ed., McGraw-Hill (2003), ch. 6 and 11 (weighted least squares, χ²,
        reduced χ²); errors of independent quantities added in quadrature: ch. 3.
    """

    reference: Reference
    sigma: Float[Array, "*point"]
    relative_uncertainty: float | None = eqx.field(static=True)
    include_simulation_error: bool = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        reference: Reference,
        *,
        relative_uncertainty: float | None = None,
        include_simulation_error: bool = True,
        name: str = "chi2",
    ):
        if not isinstance(reference, Reference):
            raise TypeError(
                "ChiSquared takes a Reference (e.g. ChiSquared(Reference(dataset, observable))), "
                f"got {type(reference).__name__}"
            )
        if not isinstance(include_simulation_error, bool):
            raise TypeError(
                f"include_simulation_error must be True or False, got {include_simulation_error!r}"
            )
        self.reference = reference
        self.name = check_name(name)
        self.include_simulation_error = include_simulation_error
        self.relative_uncertainty = _relative(relative_uncertainty, reference)
        self.sigma = jnp.asarray(_experimental_sigma(reference, self.relative_uncertainty))

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        ref = self.reference
        where = f"ChiSquared ({ref.description})"
        if ref.is_curve:
            _, model, exp, mask, err = curves_on_grid(ref, prediction, "ChiSquared")
        else:
            model, exp, err = self._values(prediction, where)
            mask = jnp.ones(exp.shape, model.dtype)
        variance = self.sigma.astype(model.dtype) ** 2
        if self.include_simulation_error and err is not None:
            err = _checked_error(jax.lax.stop_gradient(err.astype(model.dtype)), where)
            variance = variance + err**2
        chi2 = masked_mean((model - exp) ** 2 / variance, mask)
        if ref.is_curve:
            return chi2, {}
        return chi2, _value_terms(ref, model, exp, jnp.sqrt(variance))

    def _values(self, prediction: Any, where: str) -> tuple[Array, Array, Array | None]:
        """(model, experiment, model error or None) of a value, shaped like the reference."""
        v, err = value_and_error_of(prediction, y_unit=self.reference.y_unit, where=where)
        if not jnp.issubdtype(v.dtype, jnp.floating):
            v = v.astype(float)
        e = self.reference.y.astype(v.dtype)
        if v.shape != e.shape:
            if v.size != e.size:
                raise LossError(
                    f"{where}: the prediction has shape {tuple(v.shape)}, the experimental "
                    f"value {tuple(e.shape)}"
                )
            v = v.reshape(e.shape)
            err = None if err is None else err.reshape(e.shape)
        return v, e, err


def _relative(relative_uncertainty: Any, ref: Reference) -> float | None:
    if relative_uncertainty is None:
        return None
    if isinstance(relative_uncertainty, bool):
        raise TypeError(f"relative_uncertainty must be a number, got {relative_uncertainty!r}")
    r = float(relative_uncertainty)
    if not (r > 0 and math.isfinite(r)):
        raise ValueError(
            f"relative_uncertainty must be finite and > 0, got {relative_uncertainty!r}"
        )
    if ref.uncertainty is not None:
        raise ValueError(
            f"ChiSquared: {ref.description} has its own uncertainty; omit relative_uncertainty "
            "(or drop the dataset's uncertainty deliberately)"
        )
    return r


def _experimental_sigma(ref: Reference, relative: float | None) -> np.ndarray:
    """σ_exp in the reference's y unit, checked finite and > 0 (a one-line `LossError`)."""
    y = np.asarray(ref.y)
    if relative is not None:
        sigma = relative * np.abs(y)
    elif ref.uncertainty is None:
        fix = "MeanSquaredError (or a shape loss)" if ref.is_curve else "RelativeError"
        raise LossError(
            f"ChiSquared: {ref.description} has no uncertainty, so χ² is undefined. Use {fix}, "
            "or assume one: ChiSquared(..., relative_uncertainty=0.05)"
        )
    else:
        sigma = np.asarray(ref.uncertainty, dtype=float)
    bad = ~((sigma > 0) & np.isfinite(sigma))
    if np.any(bad):
        i = int(np.argmax(bad.ravel()))
        s = sigma.ravel()[i]
        if ref.is_curve:
            at = f" at x = {float(ref.x[i]):g} {ref.x_unit}"
        elif ref.labels:
            at = f" for {ref.labels[i]}"
        else:
            at = ""
        raise LossError(
            f"ChiSquared: the uncertainty of {ref.description} is {s:g} {ref.y_unit}{at}; "
            "every σ must be > 0 and finite"
        )
    return sigma


def _checked_error(err: Array, where: str) -> Array:
    """The simulation's standard error, refused when negative or not finite."""
    bad = ~(jnp.isfinite(err) & (err >= 0))
    message = f"{where}: the prediction's standard error must be finite and >= 0"
    if is_concrete(err):
        if bool(jnp.any(bad)):
            i = int(jnp.argmax(bad.ravel()))
            raise LossError(f"{message}; got {float(err.ravel()[i]):g}")
        return err
    return eqx.error_if(err, jnp.any(bad), message)


def _value_terms(ref: Reference, model: Array, exp: Array, sigma: Array) -> dict[str, Array]:
    if exp.ndim == 0:
        return {"model": model, "exp": exp, "sigma": sigma}
    names = ref.labels or tuple(str(k + 1) for k in range(exp.shape[0]))
    terms = {}
    for k, lab in enumerate(names):
        terms[f"{lab}_model"] = as_scalar(model[k])
        terms[f"{lab}_exp"] = as_scalar(exp[k])
        terms[f"{lab}_sigma"] = as_scalar(sigma[k])
    return terms
