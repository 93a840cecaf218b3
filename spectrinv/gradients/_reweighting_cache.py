"""`ReweightingCache`: the reference frames, energies and per-frame observables a
`Reweighting` gradient reuses while the effective sample size allows."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, PyTree

from observables import Trajectory

__all__ = ["ReweightingCache"]


class ReweightingCache(eqx.Module):
    """The reference a `Reweighting` gradient reuses (returned as `GradientResult.cache`).

    **Fields:**
    - `trajectory`: the reference frames (`Trajectory`, `[frame, atom, 3]` nm; replicas
      merged into one frame axis; signals of recorders that use the potential computed at
      $\theta_0$);
    - `observed`: `observe(trajectory[i])` for every frame, a pytree with a leading
      `[frame]` axis;
    - `energies`: `[frame]` reference energies $U_{\\theta_0}(x_i)$, kJ/mol, from the JAX
      potential;
    - `params`: the reference parameters $\\theta_0$;
    - `neighbors`: per-frame jax-md `Dense` neighbour lists (leading `[frame]` axis) or
      `None` (all pairs);
    - `temperature`: K, the temperature the reference was sampled (and is reweighted) at;
    - `cutoff`: the potential's cutoff (nm) the lists were built for (`None`: no lists).
    """

    trajectory: Trajectory
    observed: PyTree
    energies: Float[Array, " frame"]
    params: PyTree
    neighbors: Any
    temperature: float = eqx.field(static=True)
    cutoff: float | None = eqx.field(static=True)

    @property
    def n_frames(self) -> int:
        return int(self.energies.shape[0])

    def portable(self) -> ReweightingCache:
        """This cache without its neighbour lists (which hold jax-md closures, not data), as
        a fit checkpoint stores it; `Reweighting` rebuilds the lists from the
        frames on first use, deterministically (the same lists, bit for bit)."""
        return eqx.tree_at(lambda c: c.neighbors, self, None, is_leaf=lambda x: x is None)
