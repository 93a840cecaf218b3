"""Putting the model on the experimental grid: range checks, masks and masked quadrature.

All functions take plain arrays and are jit/grad/vmap safe. A `mask` `[point]` (1.0 / 0.0)
marks the experimental points that take part; trapezoid segments count only when both
their end points do.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import LossError
from ._prediction import is_concrete

__all__ = ["on_grid", "trapezoid", "cumulative_trapezoid"]


def on_grid(
    x_exp: Float[Array, " point"],
    x_model: Float[Array, " model"],
    y_model: Float[Array, " model"],
    *,
    clip: bool,
    exp_range: tuple[float, float],
    x_unit: str,
    where: str,
) -> tuple[Float[Array, " point"], Float[Array, " point"]]:
    """Model linearly interpolated onto `x_exp`, and the mask of points it covers.

    Without `clip`, the model's x range must cover `x_exp`: otherwise `LossError` naming both
    ranges (at call time outside `jit`; an `eqx.error_if` runtime error inside). With `clip`,
    points outside the model's range get mask 0 (at least two must remain).
    `jnp.interp` is differentiable w.r.t. `y_model` (weights of the two neighbours) and
    `x_model`; `x_model` must be ascending. `exp_range` (static floats) names the
    experimental range in messages.
    """
    x_exp = x_exp.astype(x_model.dtype)
    lo, hi = x_model[0], x_model[-1]
    tol = 1e-9 * jnp.abs(hi - lo)
    inside = (x_exp >= lo - tol) & (x_exp <= hi + tol)
    e_lo, e_hi = exp_range
    if clip:
        n_in = jnp.sum(inside)
        if is_concrete(x_model):
            if int(n_in) < 2:
                raise LossError(
                    f"{where}: the model covers [{float(lo):g}, {float(hi):g}] {x_unit}, which "
                    f"holds {int(n_in)} of the experimental points in [{e_lo:g}, {e_hi:g}] "
                    f"{x_unit}; need at least 2 (empty overlap)"
                )
        else:
            x_model = eqx.error_if(
                x_model,
                n_in < 2,
                f"{where}: the model's x range holds fewer than 2 experimental points "
                f"(experiment covers [{e_lo:g}, {e_hi:g}] {x_unit}); empty overlap",
            )
        mask = inside.astype(y_model.dtype)
    else:
        if is_concrete(x_model):
            if not bool(jnp.all(inside)):
                raise LossError(
                    f"{where}: the experimental grid [{e_lo:g}, {e_hi:g}] {x_unit} reaches beyond "
                    f"the model's x range [{float(lo):g}, {float(hi):g}] {x_unit}; restrict the "
                    "comparison with x_range=(lo, hi) or pass clip=True to drop the points "
                    "outside, or extend the model (e.g. max_frequency of the spectrum)"
                )
        else:
            x_model = eqx.error_if(
                x_model,
                ~jnp.all(inside),
                f"{where}: the experimental grid [{e_lo:g}, {e_hi:g}] {x_unit} reaches beyond "
                "the model's x range; use x_range=(lo, hi) or clip=True",
            )
        mask = jnp.ones(x_exp.shape, y_model.dtype)
    y = jnp.interp(x_exp, x_model, y_model)
    return y, mask


def trapezoid(y: Array, x: Array, mask: Array) -> Float[Array, ""]:
    r"""$\int y\,dx$ by the trapezoid rule over segments whose two end points are unmasked."""
    seg = mask[1:] * mask[:-1]
    return jnp.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1]) * seg)


def cumulative_trapezoid(y: Array, x: Array, mask: Array) -> Array:
    r"""$F_i = \int_{x_0}^{x_i} y\,dx$ (masked trapezoid), `[point]` with $F_0 = 0$."""
    seg = mask[1:] * mask[:-1]
    inc = 0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1]) * seg
    return jnp.concatenate([jnp.zeros((1,), y.dtype), jnp.cumsum(inc)])
