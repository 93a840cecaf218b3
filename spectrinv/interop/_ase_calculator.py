"""`SpectrinvCalculator`: any package potential as an ASE calculator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity, to_internal

from ..potentials import AbstractPotential, Topology, perpendicular_widths
from ._ase_atoms import _ase, system_from_atoms

__all__ = ["SpectrinvCalculator"]

#: eV in the internal energy unit, kJ/mol (the package's constants: E·N_A).
_EV = float(to_internal(Quantity(1.0, "eV"), "energy", "eV"))


@eqx.filter_jit
def _evaluate(potential, positions, system):
    """Energy (kJ/mol), forces (kJ mol⁻¹ nm⁻¹) and, for a periodic system, the strain
    derivative ∂U/∂ε (kJ/mol, `[3, 3]`) under r → r(1 + ε), h → h(1 + ε) (rows)."""

    def strained(eps):
        deform = jnp.eye(3, dtype=positions.dtype) + eps
        if system.box is None:
            return potential.energy(positions @ deform, system, None)
        box = system.box_matrix.astype(positions.dtype) @ deform
        return potential.energy(positions @ deform, eqx.tree_at(lambda s: s.box, system, box))

    def energy(r):
        return potential.energy(r, system, None)

    u, grad_r = jax.value_and_grad(energy)(positions)
    du_deps = jax.grad(strained)(jnp.zeros((3, 3), positions.dtype))
    return u, -grad_r, du_deps


def _calculator_base():
    _ase()
    from ase.calculators.calculator import Calculator

    return Calculator


class SpectrinvCalculator(_calculator_base()):
    """An ASE calculator for any `spectrinv` potential: energy, forces and stress.

    **Arguments:**
    - `potential`: an `AbstractPotential` (parameters in internal units);
    - `species_names`, `charges`, `topology`: how the atoms map onto the potential's
      species, charges and bonded structure (see `system_from_atoms`).

    **Results** (ASE units): `energy` and `free_energy` (eV): the potential energy U;
    `forces` (eV/Å): −∂U/∂r; `stress` (eV/Å³, Voigt order xx, yy, zz, yz, xz, xy):
    σ = (1/V) ∂U/∂ε, the derivative under a homogeneous strain of positions and cell
    (ASE's sign convention: the negative of the virial pressure tensor; no kinetic
    part), for a cell periodic in all three directions only.

    Conversions: 1 eV = 96.4853 kJ/mol (the package's constants, e·N_A), 1 Å = 0.1 nm.
    Every pair is evaluated through the minimum-image convention (no neighbour list:
    O(N²), for systems of up to a few thousand atoms), so a potential's cutoff must be
    below half the cell's smallest perpendicular width (checked). Arrays follow JAX's
    default precision: float64 with `jax_enable_x64` on, float32 otherwise.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        potential: AbstractPotential,
        species_names: Sequence[str] | None = None,
        *,
        charges: Mapping[str, float] | Any = None,
        topology: Topology | None = None,
        **kwargs: Any,
    ):
        if not isinstance(potential, AbstractPotential):
            raise TypeError(
                f"potential must be a spectrinv AbstractPotential, got {type(potential).__name__}"
            )
        super().__init__(**kwargs)
        self.potential = potential
        self.species_names = None if species_names is None else tuple(species_names)
        self.charges = charges
        self.topology = topology

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        from ase.calculators.calculator import PropertyNotImplementedError, all_changes
        from ase.stress import full_3x3_to_voigt_6_stress

        changes = all_changes if system_changes is None else system_changes
        super().calculate(atoms, properties, changes)
        positions, system = system_from_atoms(
            self.atoms, self.species_names, charges=self.charges, topology=self.topology
        )
        if "stress" in properties and system.box is None:
            raise PropertyNotImplementedError(
                "stress needs a cell periodic in all three directions (atoms.pbc is False)"
            )
        cutoff = self.potential.cutoff
        if cutoff is not None and system.box is not None:
            half = 0.5 * float(perpendicular_widths(np.asarray(system.box)).min())
            if cutoff > half:
                raise ValueError(
                    f"the potential's cutoff {cutoff * 10:.6g} Å exceeds half the cell's "
                    f"smallest width ({half * 10:.6g} Å): repeat the cell (atoms.repeat) so "
                    "that the minimum-image convention finds every pair"
                )
        r = jnp.asarray(positions.m_as("nm"))
        u, forces, du_deps = _evaluate(self.potential, r, system)
        self.results["energy"] = self.results["free_energy"] = float(u) / _EV
        self.results["forces"] = np.asarray(forces, float) / _EV / 10.0
        if system.box is not None:
            g = np.asarray(du_deps, float)
            volume = abs(np.linalg.det(np.asarray(system.box_matrix, float)))
            sigma = 0.5 * (g + g.T) / volume / _EV / 1000.0  # kJ/mol/nm³ -> eV/Å³
            self.results["stress"] = full_3x3_to_voigt_6_stress(sigma)
