"""Compiled pieces of `Truncated`: the segments' pathwise shares and forward-only mean
observation, the initial-ensemble (likelihood-ratio) term, and the start-velocity helpers
(centre-of-mass removal, fresh Maxwell–Boltzmann draws)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from observables import BOLTZMANN

from ._base import unit_mean, zero_errors
from ._bptt import unit_run

__all__ = ["remove_com_velocity", "maxwell_boltzmann"]


def _vdot_tree(a, b):
    """Σ over leaves of ⟨a, b⟩ (real arrays)."""
    leaves = [
        jnp.sum(x * y)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        if eqx.is_array(x)
    ]
    return sum(leaves) if leaves else jnp.zeros(())


@jax.jit
def remove_com_velocity(velocities, masses):
    """Velocities `[(replica,) atom, 3]` (nm/ps) minus each replica's mass-weighted
    centre-of-mass velocity V = Σ_i m_i v_i / Σ_i m_i (masses in Da): zero total momentum."""
    m = masses.astype(velocities.dtype)[:, None]
    com = jnp.sum(m * velocities, axis=-2, keepdims=True) / jnp.sum(m)
    return velocities - com


def maxwell_boltzmann(key, like, masses, temperature):
    """Velocities (nm/ps) of the shape and dtype of `like` drawn from the Maxwell–Boltzmann
    distribution at `temperature` (K): each component Gaussian with variance k_BT/m_i."""
    sd = jnp.sqrt(BOLTZMANN * temperature / masses).astype(like.dtype)[:, None]
    return sd * jax.random.normal(key, like.shape, like.dtype)


@eqx.filter_jit
def _pathwise(objective, params, static, backend, system, starts, key, n_steps, stride, blocks):
    """Per-segment pathwise gradients: every segment gets its own copy of the parameters
    (stacked along a leading segment axis), so the gradient w.r.t. the stack holds each
    segment's contribution (1/n)·∂L/∂O·∂o_i/∂θ; their sum is the pathwise gradient."""
    n = starts.positions.shape[0]
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), params)
    starts = eqx.tree_at(lambda s: s.step, starts, jnp.broadcast_to(starts.step, (n,)))

    one = unit_run(objective, static, backend, system, n_steps, stride, blocks)

    def value(ps):
        per_segment, aux = jax.vmap(one, in_axes=(0, 0, None))(ps, starts, key)
        observed = unit_mean(per_segment)
        return objective.loss(observed), (observed, per_segment, aux)

    (loss, (observed, per_segment, (final, overflowed))), grads = eqx.filter_value_and_grad(
        value, has_aux=True
    )(stacked)
    return loss, observed, per_segment, final.positions, overflowed, grads


@eqx.filter_jit
def _forward(objective, params, static, backend, system, starts, key, n_steps, stride):
    """The segments' mean observation without the gradient: the runs of `_pathwise`
    (same start states, same key), forward only."""
    n = starts.positions.shape[0]
    starts = eqx.tree_at(lambda s: s.step, starts, jnp.broadcast_to(starts.step, (n,)))
    one = unit_run(objective, static, backend, system, n_steps, stride, ())
    per_segment, (final, overflowed) = jax.vmap(one, in_axes=(None, 0, None))(params, starts, key)
    return unit_mean(per_segment), final.positions, overflowed


@eqx.filter_jit
def _ensemble_term(objective, params, static, system, starts, observed, per_segment, beta):
    """Per-segment shares e_i = −β n/(n−1) (s_i − s̄)(g_i − ḡ), `[segment, ...]` per leaf,
    s_i = ⟨∂L/∂O, o_i⟩, g_i = ∂U(x_i)/∂θ; their mean is the initial-ensemble term
    −β n/(n−1) [mean(s g) − mean(s) mean(g)]."""
    value, vjp = jax.vjp(objective.loss, observed)
    (cotangent,) = vjp(jnp.ones_like(value))
    # errors are not differentiated (`unit_mean`): they take no part in the linearisation
    s = jax.vmap(lambda o: _vdot_tree(cotangent, o))(zero_errors(per_segment))

    def energy(p, x, nb):
        return eqx.combine(p, static).energy(x, system, nb)

    grad_u = eqx.filter_grad(energy)
    if starts.neighbors is None:
        g = jax.vmap(lambda x: grad_u(params, x, None))(starts.positions)
    else:
        g = jax.vmap(lambda x, nb: grad_u(params, x, nb))(starts.positions, starts.neighbors)
    n = s.shape[0]
    s = s - jnp.mean(s)
    scale = -beta * n / (n - 1)

    def cov(gl):
        if gl is None:
            return None
        w = s.astype(gl.dtype).reshape((n,) + (1,) * (gl.ndim - 1))
        return scale * w * (gl - jnp.mean(gl, axis=0))

    return jax.tree.map(cov, g)
