r"""Standard error of a `Reweighting` gradient, from per-frame contributions.

With normalised weights $w_i(\theta) \propto e^{-\beta(U_\theta(x_i) - U_0(x_i))}$ and the
reweighted average $\bar o = \sum_i w_i o_i$, the chain rule gives the gradient of
$L(\bar o)$ as a weighted mean of per-frame terms,

$$ \frac{dL}{d\theta} = \sum_i w_i h_i, \qquad
   h_i = c \cdot \frac{\partial o_i}{\partial\theta}
         - \beta \, \big(c \cdot (o_i - \bar o)\big) \, (e_i - \bar e),
   \qquad c = \frac{\partial L}{\partial \bar o}, \quad
   e_i = \frac{\partial U_\theta(x_i)}{\partial\theta}, \quad \bar e = \sum_j w_j e_j $$

(using $\partial w_i/\partial\theta = -\beta w_i(e_i - \bar e)$). This identity is exact,
and $\bar e$ may be left out of it since $\sum_i w_i (o_i - \bar o) = 0$, but not out of
the error: centring both factors makes $h_i - g$ the influence of frame $i$ on the
estimate (the linearisation of a covariance), whereas an uncentred $e_i$ would add
$\bar e \sum_{i\in b} w_i (o_i - \bar o)$ to every block and inflate the error.
the first term is the explicit $\langle \partial O/\partial\theta\rangle_w$ and vanishes
when $O$ reads no parameter-dependent signal. The standard error of the gradient is then
that of a weighted mean, with the same contiguous blocks as the reweighted average's error
bar (`weighted_block_error`):
$\sigma_g^2 = \frac{B}{B-1} \sum_b \big(\sum_{i \in b} w_i (h_i - g)\big)^2$.
It is the delta-method (linearised) error: the noise of $c$ itself, which matters only
where $L$ is strongly curved on the scale of the noise of $\bar o$, is not included, as for
the per-unit errors of the other strategies (`gradient_spread`).

Reference: W. G. Cochran, *Sampling Techniques*, 3rd ed. (Wiley, 1977), §6.4;
S. Thaler, J. Zavadlav, *Nat. Commun.* **12**, 6884 (2021) (the estimator).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..backends import pad_frames, unpad_frames
from ._reweighting_frames import (
    frame_observation_fn,
    in_frame_box,
    weighted_block_error,
    weighted_mean,
    with_reweighted_errors,
)

__all__ = ["frame_parameter_gradients", "reweighted_gradient_error"]


def _inexact(x) -> bool:
    return eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.inexact)


def contract(c, o):
    """Σ over the inexact array leaves of `c · o` (same structure; other leaves skipped)."""
    terms = [
        jnp.sum(a * b)
        for a, b in zip(jax.tree.leaves(c), jax.tree.leaves(o), strict=True)
        if _inexact(a) and _inexact(b)
    ]
    return sum(terms, jnp.zeros(()))


def frame_parameter_gradients(
    params, static, system, observe, recorders, trajectory, neighbors, c, batch_size, boxes=None
):
    """Per-frame parameter gradients `(x, e)`, pytrees of `params` with a leading `[frame]`
    axis: x_i = ∂(c·o_i)/∂θ (`None` without `recorders`: the cached o_i do not depend on θ)
    and e_i = ∂U_θ(x_i)/∂θ; `batch_size` frames at a time. `boxes`: per-frame boxes of NPT
    frames (`frame_boxes`; with `recorders` the frames' boxes are read from `trajectory`)."""
    n = trajectory.n_frames
    size = min(batch_size, n)
    if boxes is not None and not recorders:

        def energy_in_box(p, pos_box, nbrs):
            pos, box = pos_box
            return eqx.combine(p, static).energy(pos, in_frame_box(system, box), nbrs)

        grad_u = jax.grad(energy_in_box)

        def batch_npt(args):
            x, nbrs = args
            axes = (0, None if nbrs is None else 0)
            return jax.vmap(lambda xi, nb: grad_u(params, xi, nb), in_axes=axes)(x, nbrs)

        inputs = ((trajectory.positions, boxes), neighbors)
        return None, unpad_frames(jax.lax.map(batch_npt, pad_frames(inputs, n, size)), n)
    if recorders:
        one, cached = frame_observation_fn(system, observe, recorders, trajectory)

        def terms(p, fields, nbrs):
            energy, obs = one(eqx.combine(p, static), fields, nbrs)
            return jnp.stack([contract(c, obs), energy])

        per_frame, inputs = jax.jacrev(terms), (cached, neighbors)
    else:

        def terms(p, pos, nbrs):
            return eqx.combine(p, static).energy(pos, system, nbrs)

        per_frame, inputs = jax.grad(terms), (trajectory.positions, neighbors)

    def batch(args):
        x, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda xi: per_frame(params, xi, None))(x)
        return jax.vmap(lambda xi, nb: per_frame(params, xi, nb))(x, nbrs)

    out = unpad_frames(jax.lax.map(batch, pad_frames(inputs, n, size)), n)
    if not recorders:
        return None, out
    return jax.tree.map(lambda g: g[:, 0], out), jax.tree.map(lambda g: g[:, 1], out)


@eqx.filter_jit
def reweighted_gradient_error(
    params,
    static,
    system,
    observe,
    loss_fn,
    recorders,
    observed,
    w,
    trajectory,
    neighbors,
    beta,
    batch_size,
    n_blocks,
    boxes=None,
):
    """Block standard error of the reweighted gradient (module docstring): a pytree like
    the gradient, and the per-frame terms $h_i$ (leading `[frame]` axis). `observed`: the
    per-frame observations at `params` (`[frame]`), `w`: the normalised weights,
    `loss_fn`: the objective's loss of the average, `boxes`: per-frame boxes of NPT
    frames."""
    blocks = min(n_blocks, w.shape[0])
    plain = jax.tree.map(lambda o: weighted_mean(o, w), observed)

    def loss_of_plain(m):
        return loss_fn(with_reweighted_errors(m, observed, w, blocks))

    c = jax.grad(loss_of_plain, allow_int=True)(plain)
    deviation = jax.tree.map(
        lambda o, m: o - m if _inexact(o) and _inexact(m) else o, observed, plain
    )
    a = jax.vmap(lambda d: contract(c, d))(deviation)
    x, e = frame_parameter_gradients(
        params, static, system, observe, recorders, trajectory, neighbors, c, batch_size, boxes
    )

    def term(e_leaf, x_leaf=None):
        centred = e_leaf - jnp.tensordot(w.astype(e_leaf.dtype), e_leaf, axes=1)
        h = -beta * a.reshape((-1,) + (1,) * (e_leaf.ndim - 1)) * centred
        return h if x_leaf is None else h + x_leaf

    h = jax.tree.map(term, e) if x is None else jax.tree.map(term, e, x)
    return jax.tree.map(lambda x: weighted_block_error(x, w, blocks), h), h
