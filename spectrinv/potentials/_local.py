r"""`AbstractLocalPotential`: an energy that is a sum of site energies of neighbour vectors.

$$U = \sum_i U_i\big(\{\mathbf r_{ik}\}_{k \in \mathrm{nbr}(i)}\big),
\qquad \mathbf r_{ik} = \mathbf r_k - \mathbf r_i \ \text{(minimum image)},$$

where each site energy $U_i$ depends only on the displacements from atom $i$ to its own
neighbours within the cutoff. Pair potentials ($U_i = \tfrac12\sum_k u(r_{ik})$),
Stillinger–Weber and EDIP (two-body halves plus the three-body terms centred on $i$, and for
EDIP the coordination $Z_i$ of atom $i$) have this form.

Writing the energy this way gives two things for free:

- per-atom energies `atom_energies` (kJ/mol, `[atom]`), summing to `energy`;
- the derivative of each site energy with respect to its own neighbour vectors,
  $\partial U_i/\partial \mathbf r_{ik}$, from **one** reverse-mode gradient of
  $\sum_i U_i$ with respect to the `[atom, nbr, 3]` displacement table (row $i$ of the table
  enters only $U_i$). That is what the many-body heat flux needs
  (`spectrinv.backends.HeatFlux`); no per-atom Jacobian is formed.

The split of $U$ into site energies is a convention (any split with the same total gives
the same forces); quantities built on it, such as the heat flux, inherit the convention.
"""

from __future__ import annotations

import abc
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from ._base import AbstractPotential, System, neighbor_pairs

__all__ = ["AbstractLocalPotential", "neighbour_table"]


def neighbour_table(
    positions: Float[Array, "atom 3"], system: System, neighbors: Any, name: str
) -> tuple[Float[Array, "atom nbr 3"], Bool[Array, "atom nbr"], Int[Array, "atom nbr"]]:
    """`(dr, mask, idx)`: `dr[i, k] = r_idx[i,k] − r_i` (minimum image, nm; zero on masked
    slots), `mask` true for a real neighbour other than `i` itself, and the neighbour
    indices (padded slots hold `n_atoms`). `neighbors`: `None` (all pairs) or a jax-md
    `Dense` list; another format is refused naming the potential `name`."""
    if neighbors is not None:
        fmt = getattr(neighbors.format, "name", str(neighbors.format))
        if fmt != "Dense":
            raise ValueError(f"{name} needs a Dense neighbour list, got {fmt}")
    dr, mask, idx = neighbor_pairs(positions, system, neighbors)
    n = positions.shape[0]
    mask = mask & (idx != jnp.arange(n, dtype=idx.dtype)[:, None])
    return dr, mask, idx


class AbstractLocalPotential(AbstractPotential):
    """U = Σ_i U_i, each site energy a function of atom i's neighbour displacements only.

    Subclasses implement `site_energies(dr, mask, idx, system)`: the `[atom]` site
    energies (kJ/mol) from the displacement table `dr` `[atom, nbr, 3]` (nm, `dr[i, k]` =
    r_k − r_i, minimum image), its validity `mask` and neighbour indices `idx` (for species
    lookups; padded slots hold `n_atoms`). Row `i` of `dr` must enter `U_i` only, and
    slots outside the potential's own cutoff must contribute nothing (neighbour lists hold
    pairs within cutoff + skin). Masked slots have `dr = 0`: guard distances before any
    division so that reverse-mode gradients stay finite.
    """

    @abc.abstractmethod
    def site_energies(
        self,
        dr: Float[Array, "atom nbr 3"],
        mask: Bool[Array, "atom nbr"],
        idx: Int[Array, "atom nbr"],
        system: System,
    ) -> Float[Array, " atom"]:
        """Site energies U_i (kJ/mol) from the neighbour displacement table (nm)."""

    def atom_energies(
        self, positions: Float[Array, "atom 3"], system: System, neighbors: Any = None
    ) -> Float[Array, " atom"]:
        """Per-atom energies U_i (kJ/mol, `[atom]`) of one configuration (nm); they sum to
        `energy`. The split is this potential's convention (see the module docstring)."""
        dr, mask, idx = neighbour_table(positions, system, neighbors, type(self).__name__)
        return self.site_energies(dr, mask, idx, system)

    def energy(
        self, positions: Float[Array, "atom 3"], system: System, neighbors: Any = None
    ) -> Float[Array, ""]:
        return jnp.sum(self.atom_energies(positions, system, neighbors))
