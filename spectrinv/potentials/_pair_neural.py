"""`NeuralPair`: a pair potential given by a small MLP of the distance."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from observables import ureg

from ._pair import AbstractPairPotential
from ._param_units import as_cutoff, as_energy
from ._truncation import Truncated

__all__ = ["NeuralPair"]


class NeuralPair(AbstractPairPotential):
    """u(r) = f_θ(r / r_c, pair type) · (1 − (r/r_c)²)³ [+ prior(r)], an equinox MLP.

    The switching factor makes energy, force and second derivative vanish at r_c. The input
    is r/r_c plus a one-hot code of the unordered species pair when there are several
    species. `prior` (any pair potential, e.g. a purely repulsive `LennardJones`) supplies a
    physical core; its parameters are leaves too (freeze them with a filter if wanted).

    **Arguments:** `cutoff` (length), `key`, `width`, `depth`, `n_species`,
    `energy_scale` (energy; the MLP output unit), `prior`.
    """

    mlp: eqx.nn.MLP
    energy_scale: float = eqx.field(static=True)
    n_species: int = eqx.field(static=True)
    prior: AbstractPairPotential | None

    def __init__(
        self,
        cutoff,
        key,
        *,
        width: int = 16,
        depth: int = 2,
        n_species: int = 1,
        energy_scale=None,
        prior: AbstractPairPotential | None = None,
    ):
        self.r_cut = as_cutoff(cutoff)
        self.n_species = int(n_species)
        n_pairs = self.n_species * (self.n_species + 1) // 2
        in_size = 1 + (n_pairs if self.n_species > 1 else 0)
        self.mlp = eqx.nn.MLP(in_size, "scalar", width, depth, activation=jax.nn.tanh, key=key)
        scale = ureg.Quantity(1.0, "kJ/mol") if energy_scale is None else energy_scale
        self.energy_scale = float(as_energy(scale, "energy_scale"))
        if prior is not None and prior.r_cut > self.r_cut:
            raise ValueError("prior's cutoff must not exceed the NeuralPair cutoff")
        self.prior = prior
        self.truncation = Truncated()

    def _phi(self, r, si, sj, dtype):
        wdtype = self.mlp.layers[0].weight.dtype
        x = (r / self.r_cut).astype(wdtype)
        feats = x[..., None]
        if self.n_species > 1:
            lo, hi = jnp.minimum(si, sj), jnp.maximum(si, sj)
            pair = lo * self.n_species - lo * (lo - 1) // 2 + (hi - lo)
            n_pairs = self.n_species * (self.n_species + 1) // 2
            feats = jnp.concatenate([feats, jax.nn.one_hot(pair, n_pairs, dtype=wdtype)], -1)
        flat = feats.reshape(-1, feats.shape[-1])
        out = jax.vmap(self.mlp)(flat).reshape(r.shape).astype(dtype)
        xr = r / self.r_cut
        switch = jnp.where(xr < 1, (1.0 - xr * xr) ** 3, jnp.zeros((), dtype))
        u = self.energy_scale * out * switch
        if self.prior is not None:
            u = u + self.prior.pair_energy(r, si, sj)
        return u
