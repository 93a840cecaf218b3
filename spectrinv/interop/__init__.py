"""Interoperability with other atomistic tools. ASE (`pip install 'spectrinv[ase]'`):
`SpectrinvCalculator` runs any package potential as an ASE calculator (energy, forces,
stress in eV, eV/Å, eV/Å³), and `system_from_atoms` / `state_from_atoms` turn an
`ase.Atoms` (positions, cell, masses, species, velocities) into a `System` and a backend's
starting state."""

from ._ase_atoms import (
    atoms_box as atoms_box,
    atoms_velocities as atoms_velocities,
    state_from_atoms as state_from_atoms,
    system_from_atoms as system_from_atoms,
)
from ._ase_calculator import SpectrinvCalculator as SpectrinvCalculator
