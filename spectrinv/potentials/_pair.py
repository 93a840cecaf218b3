"""`AbstractPairPotential`: the energy of a pair potential summed over neighbour pairs.

The concrete forms are `LennardJones`, `Morse`, `Buckingham` (analytic), `TabulatedPair`
(cubic spline) and `NeuralPair` (an MLP). Every pair potential is an equinox module whose
floating-point array leaves are its fit parameters, stored in internal units (nm, kJ/mol).
Constructors take `pint` quantities and convert them once; energies are plain-array
functions safe under `jit`, `vmap` and `grad`.

The total energy is U = ½ Σ_i Σ_{j ∈ nbr(i)} u_{s_i s_j}(r_ij) over the pairs within the
cutoff r_c (each pair appears twice in a dense neighbour list). Truncation is an object
(`Shifted()`, `ForceShifted()`, `Switched(width)`, `Truncated()`).

**Gradient safety.** Padded neighbour slots (index `n_atoms`) and r = 0 are masked *before*
any division: distances are computed as sqrt(where(mask, r², r_c²)), so reverse-mode
gradients with respect to parameters stay finite. (jax-md's stock Lennard-Jones, which
divides before masking, gives NaN parameter gradients on padded lists.)

**Species.** Parameters are scalars (one species), per-species vectors combined by a mixing
rule (`LorentzBerthelot()`: σ_ij = (σ_i + σ_j)/2, ε_ij = √(ε_i ε_j); applied inside `energy`,
so a fit of the per-species values keeps the rule), or explicit symmetric `[species,
species]` matrices.

**Freezing and tying parameters.** What is fitted is the set of inexact array leaves
selected by an equinox filter spec (`eqx.partition`); everything else is held fixed. Tie
parameters by parametrising the shared quantity and rebuilding with `eqx.tree_at`, or use
per-species vectors with a mixing rule (the cross terms are then tied by construction).
The potentials page of the API documentation shows both.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._base import System
from ._local import AbstractLocalPotential
from ._mixing import LorentzBerthelot
from ._truncation import AbstractTruncation

__all__ = ["AbstractPairPotential", "pair_parameter", "pick"]


class AbstractPairPotential(AbstractLocalPotential):
    """U = ½ Σ_i Σ_j u_{s_i s_j}(r_ij) for r_ij < r_c, with a truncation object.

    Subclasses define `_phi(r, si, sj, dtype)`: the untruncated pair function on arrays of
    (safe, strictly positive) distances `r` (nm) and species indices, in kJ/mol.
    """

    r_cut: float = eqx.field(static=True)
    truncation: AbstractTruncation

    @property
    def cutoff(self) -> float:
        """The cutoff r_c in nm."""
        return self.r_cut

    @abc.abstractmethod
    def _phi(
        self,
        r: Float[Array, "*pair"],
        si: Int[Array, "*pair"],
        sj: Int[Array, "*pair"],
        dtype: Any,
    ) -> Float[Array, "*pair"]:
        """The untruncated pair function (kJ/mol) at distances `r` (nm, > 0)."""

    def pair_energy(self, r: Array, si: Array | int = 0, sj: Array | int = 0) -> Array:
        """Truncated u(r) (kJ/mol) for distances `r` (nm) below the cutoff; 0 beyond."""
        shape = np.broadcast_shapes(jnp.shape(r), jnp.shape(si), jnp.shape(sj))
        r = jnp.broadcast_to(jnp.asarray(r), shape)
        si = jnp.broadcast_to(jnp.asarray(si), shape)
        sj = jnp.broadcast_to(jnp.asarray(sj), shape)
        inside = r < self.r_cut
        safe = jnp.where(inside, r, self.r_cut)
        u = self.truncation(lambda x: self._phi(x, si, sj, r.dtype), safe, self.r_cut)
        return jnp.where(inside, u, jnp.zeros((), r.dtype))

    def site_energies(
        self,
        dr: Float[Array, "atom nbr 3"],
        mask: Any,
        idx: Int[Array, "atom nbr"],
        system: System,
    ) -> Float[Array, " atom"]:
        """U_i = ½ Σ_k u_{s_i s_k}(r_ik) (kJ/mol): each pair energy split equally between
        its two atoms."""
        dtype = dr.dtype
        r2 = jnp.sum(dr * dr, axis=-1)
        rc2 = self.r_cut * self.r_cut
        mask = mask & (r2 < rc2) & (r2 > 0)
        r = jnp.sqrt(jnp.where(mask, r2, jnp.asarray(rc2, dtype)))
        species = system.species
        padded = jnp.concatenate([species, jnp.zeros((1,), species.dtype)])
        n = species.shape[0]
        si = jnp.broadcast_to(species[:, None], idx.shape)
        sj = padded[jnp.where(mask, idx, n)]
        u = self.truncation(lambda x: self._phi(x, si, sj, dtype), r, self.r_cut)
        return 0.5 * jnp.sum(jnp.where(mask, u, jnp.zeros((), dtype)), axis=-1)

    def _matrix(self, name: str, dtype: Any) -> Array:
        """Parameter `name` as a `[species, species]` matrix (or a scalar) of `dtype`."""
        value = getattr(self, name).astype(dtype)
        if value.ndim == 1:
            return getattr(self, "mixing", LorentzBerthelot())(name, value)
        return value


def pair_parameter(value: np.ndarray, name: str) -> Array:
    """A parameter array checked to be a scalar, a per-species vector or a symmetric square
    `[species, species]` matrix of finite values."""
    value = np.asarray(value, dtype=float)
    if value.ndim > 2 or (value.ndim == 2 and value.shape[0] != value.shape[1]):
        raise ValueError(f"{name} must be a scalar, a per-species vector or a square matrix")
    if value.ndim == 2 and not np.allclose(value, value.T):
        raise ValueError(f"{name} matrix must be symmetric, got {value.tolist()}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} has non-finite values: {value.tolist()}")
    return jnp.asarray(value)


def pick(matrix: Array, si: Array, sj: Array) -> Array:
    """The entries of a pair matrix for species pairs (si, sj); a scalar as it is."""
    return matrix if matrix.ndim == 0 else matrix[si, sj]
