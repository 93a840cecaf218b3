"""Initial conditions of an MD state: checked positions and Maxwell–Boltzmann velocities."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from observables import BOLTZMANN, to_internal

from ..potentials import System

__all__ = ["maxwell_boltzmann"]


def maxwell_boltzmann(
    key: PRNGKeyArray,
    masses: Float[Array, " atom"],
    temperature_k: float,
    shape: tuple[int, ...],
    dtype: Any,
    remove_com: bool = True,
) -> Float[Array, "*replica atom 3"]:
    """Velocities (nm/ps) of `shape` (`[(replica,) atom, 3]`) drawn at `temperature_k` (K)
    for `masses` (g/mol), COM momentum removed, rescaled to exactly that kinetic
    temperature (with N_f = 3N − 3 if `remove_com`)."""
    m = jnp.asarray(masses, dtype)[..., None]
    v = jax.random.normal(key, shape, dtype) * jnp.sqrt(BOLTZMANN * temperature_k / m)
    n = shape[-2]
    if remove_com:
        p = jnp.sum(m * v, axis=-2, keepdims=True)
        v = v - p / jnp.sum(m, axis=-2, keepdims=True)
    dof = 3 * n - 3 if remove_com else 3 * n
    ke = 0.5 * jnp.sum(m * v * v, axis=(-2, -1), keepdims=True)
    target = 0.5 * dof * BOLTZMANN * temperature_k
    if temperature_k > 0:
        v = v * jnp.sqrt(target / ke)
    return v


def checked_positions(positions: Any, system: System) -> Float[Array, "*replica atom 3"]:
    """Positions (nm, plain float array) from a length quantity, checked against `system`."""
    pos = jnp.asarray(to_internal(positions, "length", "positions"))
    if not jnp.issubdtype(pos.dtype, jnp.floating):
        pos = pos.astype(jnp.result_type(float))
    if pos.ndim not in (2, 3) or pos.shape[-1] != 3:
        raise ValueError(f"positions must be [atom, 3] or [replica, atom, 3], got {pos.shape}")
    if pos.shape[-2] != system.n_atoms:
        raise ValueError(
            f"positions have {pos.shape[-2]} atoms but the system has {system.n_atoms}"
        )
    if not bool(jnp.all(jnp.isfinite(pos))):
        bad = np.argwhere(~np.isfinite(np.asarray(pos)))[0].tolist()
        raise ValueError(f"positions contain non-finite values (first at index {bad})")
    if np.any(np.asarray(system.masses) <= 0):
        raise ValueError("all masses must be positive")
    return pos


def initial_velocities(pos_b, system, velocities, temperature, key, batched):
    """Batched velocities (nm/ps) from a velocity quantity, a temperature, or at rest."""
    dtype = pos_b.dtype
    if velocities is not None:
        vel = jnp.asarray(to_internal(velocities, "velocity", "velocities"), dtype)
        vel_b = jnp.broadcast_to(vel if batched or vel.ndim == 3 else vel[None], pos_b.shape)
    elif temperature is not None:
        t = float(to_internal(temperature, "temperature", "temperature"))
        if key is None:
            raise ValueError("init(temperature=...) needs a PRNG key for the velocities")
        vel_b = maxwell_boltzmann(key, system.masses, t, pos_b.shape, dtype)
    else:
        vel_b = jnp.zeros_like(pos_b)
    if not bool(jnp.all(jnp.isfinite(vel_b))):
        raise ValueError("velocities contain non-finite values")
    return vel_b
