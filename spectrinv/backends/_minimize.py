"""Energy minimisation (FIRE) of a configuration, e.g. to relax a lattice start before MD."""

from __future__ import annotations

import jax
from jaxtyping import Array, Float

from ..potentials import AbstractPotential, System

__all__ = ["fire_minimize"]


def fire_minimize(
    potential: AbstractPotential,
    system: System,
    positions: Float[Array, "atom 3"],
    *,
    steps: int = 2000,
    dt_start: float = 1e-4,
    dt_max: float = 4e-4,
) -> Float[Array, "atom 3"]:
    """Relax `positions` (nm, unwrapped) with `steps` FIRE steps on `potential.energy`.

    FIRE: E. Bitzek et al., *Phys. Rev. Lett.* **97**, 170201 (2006), via
    `jax_md.minimize.fire_descent`. Time steps `dt_start`, `dt_max` are in ps (internal
    units; FIRE's fictitious dynamics uses unit masses). All pairs are evaluated (no
    neighbour list), so this is meant for small systems such as example and test set-ups.
    Returns the relaxed positions with the input dtype.
    """
    with jax.numpy_dtype_promotion("standard"):  # jax-md fails under strict promotion
        from jax_md import minimize

        init, apply = minimize.fire_descent(
            lambda x: potential.energy(x, system),
            lambda x, dx, **kw: x + dx,
            dt_start=dt_start,
            dt_max=dt_max,
        )
        state = jax.lax.fori_loop(0, steps, lambda i, s: apply(s), init(positions))
    return state.position
