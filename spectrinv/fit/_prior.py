"""`SmoothnessPrior`: a Gaussian prior on the second differences of tabulated knot values."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ._params import flat_parameters, internal_magnitude

__all__ = ["SmoothnessPrior"]


class SmoothnessPrior(eqx.Module):
    r"""Penalty on the curvature of a row of knot values (a spline pair potential's table).

    For the knot values $y_0 \dots y_{n-1}$ of the parameter `parameter` (energies, kJ/mol
    internally; e.g. `TabulatedPair.values`), with second differences
    $\Delta^2 y_k = y_{k+1} - 2 y_k + y_{k-1}$ for $k = $ `first` $\dots n-2$:

    $$ P(y) = \frac{w}{M} \sum_k \left(\frac{\Delta^2 y_k}{s}\right)^2 , $$

    $M$ the number of second differences, $s$ = `scale` (an energy), $w$ = `weight`
    (dimensionless, default 1). $P$ is dimensionless. It is the reduced χ² of the second
    differences against a Gaussian prior that makes each $\Delta^2 y_k$ independently
    $\mathcal N(0, s^2)$, normalised like `ChiSquared` (divided by the count), so with
    `weight = 1` it weighs as much as one reduced-χ² target. Equivalently
    $\lambda \sum_k (\Delta^2 y_k)^2$ with $\lambda = w / (M s^2)$ (mol²/kJ²).

    **Choosing `scale`.** $\Delta^2 y_k \approx h^2 u''(r_k)$ for knot spacing $h$: $s$ is the
    curvature per knot spacing the prior still allows without cost. For a Lennard-Jones-like
    well of depth ε at $r_m$, $u''(r_m) = 57.1\,ε/σ^2$ (σ = $r_m/2^{1/6}$); `scale` of that
    order lets such a well through while it damps knot-to-knot zigzags of the same size
    (whose second differences are 4× their amplitude). `first` (≥ 1, default 1) is the
    centre knot of the first penalised second difference: knots below it (a steep
    repulsive core, already fixed by where g(r) rises) are left free.

    Multi-species tables (`[..., n]`): the sum runs over the last axis of every row and $M$
    counts all rows. Use it as `fit(..., prior=SmoothnessPrior("values", Quantity(0.2, "kJ/mol")))`:
    it is added to the total loss and its exact gradient to the targets' gradients; the
    history records its value as `prior`.
    """

    parameter: str = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    weight: float = eqx.field(static=True)
    first: int = eqx.field(static=True)

    def __init__(self, parameter: str, scale: Any, *, weight: float = 1.0, first: int = 1):
        self.parameter = str(parameter)
        self.scale = internal_magnitude(scale, "SmoothnessPrior scale")
        if not self.scale > 0:
            raise ValueError(f"SmoothnessPrior scale must be a positive energy, got {scale}")
        self.weight = float(weight)
        if not self.weight >= 0:
            raise ValueError(f"SmoothnessPrior weight must be >= 0, got {weight}")
        self.first = int(first)
        if self.first < 1:
            raise ValueError(
                f"SmoothnessPrior first must be >= 1 (the centre knot of the first second "
                f"difference), got {first}"
            )

    def knots(self, params: Any) -> Array:
        """The knot values of `parameter` in `params` (a potential or a partition of one)."""
        flat = flat_parameters(params)
        if self.parameter not in flat:
            raise KeyError(
                f"SmoothnessPrior: no parameter {self.parameter!r}; the parameters are "
                f"{sorted(flat)}"
            )
        y = jnp.asarray(flat[self.parameter])
        if y.ndim < 1 or y.shape[-1] < self.first + 2:
            raise ValueError(
                f"SmoothnessPrior: parameter {self.parameter!r} needs at least {self.first + 2} "
                f"knots along its last axis, got shape {y.shape}"
            )
        return y

    def __call__(self, params: Any) -> Array:
        """P(y) (dimensionless, a 0-d array; differentiable)."""
        y = self.knots(params)
        d2 = y[..., self.first + 1 :] - 2 * y[..., self.first : -1] + y[..., self.first - 1 : -2]
        return self.weight * jnp.mean((d2 / self.scale) ** 2)
