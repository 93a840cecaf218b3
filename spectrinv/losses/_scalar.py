r"""Relative error of a value (transport coefficient, density, elastic constants) against
experiment."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractLoss, LossError, as_scalar, check_name
from ._prediction import value_of
from ._reference import Reference

__all__ = ["RelativeError"]


class RelativeError(AbstractLoss):
    r"""Squared relative error of a value (or a vector of values) against experiment.

    $$ L = \frac1K\sum_{k=1}^{K}\left(\frac{v_k^\text{model} - v_k^\text{exp}}
       {v_k^\text{exp}}\right)^2 , $$

    dimensionless; $K = 1$ for a scalar (a viscosity at one temperature), $K$ = number of
    entries for a vector (elastic constants $C_{11}, C_{12}, C_{44}$). The experimental value
    $v^\text{exp}$ is the reference's `y`, converted once into the observable's
    `y_unit` when the `Reference` was built.

    **Arguments:**

    - `reference`: a value `Reference`, e.g.
      `Reference(viscosity_data, ShearViscosity(T), at=Quantity(298.15, "K"))`,
      `Reference(elastic_data, y_unit="GPa", label=("C11", "C12", "C44"))` or
      `Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s")`.
    - `name`: the key in `terms` (default `"relative_error"`).

    **Prediction:** an array (scalar or `[K]`) in the reference's `y_unit` (what the value
    observable returns, jit-safe), or, outside `jit`, a `TransportResult` or a `Quantity`.

    `terms` reports `model` and `exp` (per label for vectors: `C11_model`, `C11_exp`, ...).

    ??? cite
        Relative (dimensionless) errors let properties of different units enter one
        objective, as in ForceBalance: L.-P. Wang, T. J. Martínez, V. S. Pande, "Building
        force fields: an automatic, systematic, and reproducible approach", J. Phys. Chem.
        Lett. 5, 1885 (2014).
    """

    reference: Reference
    name: str = eqx.field(static=True)

    def __init__(self, reference: Reference, *, name: str = "relative_error"):
        if not isinstance(reference, Reference):
            raise TypeError(
                "RelativeError takes a Reference (e.g. RelativeError(Reference(dataset, "
                f"observable, at=Quantity(298.15, 'K')))), got {type(reference).__name__}"
            )
        if reference.is_curve:
            raise LossError(
                f"RelativeError compares values, but the reference ({reference.description} vs "
                f"{reference.source}) is a curve (x in {reference.x_unit}); compare curves with "
                "MeanSquaredError / Wasserstein1 / PeakPosition"
            )
        if np.any(np.asarray(reference.y) == 0):
            raise LossError(
                f"RelativeError: the experimental value of {reference.description} is "
                f"{np.asarray(reference.y)} {reference.y_unit}; it must be non-zero (it is the "
                "denominator of a relative error); compare it with ChiSquared instead"
            )
        self.reference = reference
        self.name = check_name(name)

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        ref = self.reference
        where = f"RelativeError ({ref.description})"
        v = value_of(prediction, y_unit=ref.y_unit, where=where)
        if not jnp.issubdtype(v.dtype, jnp.floating):
            v = v.astype(float)
        e = ref.y.astype(v.dtype)
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
            names = ref.labels or tuple(str(k + 1) for k in range(e.shape[0]))
            for k, lab in enumerate(names):
                diag[f"{lab}_model"] = as_scalar(v[k])
                diag[f"{lab}_exp"] = as_scalar(e[k])
        return jnp.mean(rel**2), diag
