"""Mixing rules: per-species parameter vectors combined into pair matrices."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["AbstractMixing", "LorentzBerthelot"]


class AbstractMixing(eqx.Module):
    """Combines per-species parameter vectors into pair matrices."""

    @abc.abstractmethod
    def __call__(
        self, name: str, values: Float[Array, " species"]
    ) -> Float[Array, "species species"]:
        """The `[species, species]` matrix of parameter `name` from its per-species values."""


class LorentzBerthelot(AbstractMixing):
    """Lengths: arithmetic mean; energies (and any other parameter): geometric mean."""

    lengths: tuple[str, ...] = eqx.field(static=True, default=("sigma", "r0", "rho"))

    def __call__(self, name, values):
        if name in self.lengths:
            return 0.5 * (values[:, None] + values[None, :])
        return jnp.sqrt(values[:, None] * values[None, :])
