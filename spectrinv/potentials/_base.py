"""Interface of energy models: `System` (what is being simulated) and `AbstractPotential`.

Internal units throughout (nm, ps, Da, kJ/mol, e); see `observables.INTERNAL_UNITS`.
Parameters of a potential are the floating-point array leaves of the module, so a fit
optimises `eqx.filter(potential, eqx.is_inexact_array)` and freezes or ties parameters with
equinox filters / `eqx.tree_at`.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class Topology(eqx.Module):
    """Bonded structure: index arrays (atoms are 0-based). Empty arrays when absent.

    - `bonds`: `[n_bond, 2]`; `angles`: `[n_angle, 3]` (middle atom in column 1);
    - `molecule`: `[atom]` molecule index of each atom (for molecular dipoles, exclusions);
    - `exclusions`: `[n_excl, 2]` pairs whose non-bonded interaction is removed.
    """

    bonds: Int[Array, "bond 2"]
    angles: Int[Array, "angle 3"]
    molecule: Int[Array, " atom"]
    exclusions: Int[Array, "excl 2"]


class System(eqx.Module):
    """What is simulated apart from the coordinates: box, species, masses, charges, topology.

    - `box`: `[3]` orthorhombic edges or `[3, 3]` triclinic cell vectors as **rows** (nm);
      `None` for no periodic boundaries.
    - `species`: `[atom]` int; `masses`: `[atom]` Da; `charges`: `[atom]` e (optional).
    - `topology`: `Topology` or `None`.
    """

    box: Float[Array, "..."] | None
    species: Int[Array, " atom"]
    masses: Float[Array, " atom"]
    charges: Float[Array, " atom"] | None = None
    topology: Topology | None = None
    species_names: tuple[str, ...] | None = eqx.field(static=True, default=None)

    @property
    def n_atoms(self) -> int:
        return self.species.shape[0]

    @property
    def box_matrix(self) -> Float[Array, "3 3"]:
        if self.box is None:
            raise ValueError("system is not periodic")
        return jnp.diag(self.box) if self.box.ndim == 1 else self.box


class AbstractPotential(eqx.Module):
    """An energy model U(positions; θ) in kJ/mol.

    Subclasses implement `energy`. Forces are `-jax.grad(energy)`. `cutoff` (nm) tells the
    backend which neighbour list to build (`None`: all pairs / no neighbour list needed).

    Contract for `neighbors`: `None`, or a jax-md `NeighborList` in `Dense` format whose
    padded slots hold the index `n_atoms`. Implementations must give finite parameter
    gradients with padded slots present (guard r = 0 before dividing; see DESIGN §8).
    """

    @property
    @abc.abstractmethod
    def cutoff(self) -> float | None:
        """Interaction range in nm used for neighbour lists (`None`: no list)."""

    @abc.abstractmethod
    def energy(
        self,
        positions: Float[Array, "atom 3"],
        system: System,
        neighbors: Any = None,
    ) -> Float[Array, ""]:
        """Potential energy (kJ/mol) of one configuration (nm)."""
