"""ASE `Atoms` as input: positions, cell, masses, species (and velocities, charges) →
a `System`, positions and an MD state of a backend.

Unit conversion (ASE → internal): positions and cell Å → nm (÷ 10); masses amu = Da;
velocities Å per ASE time unit (Å·√(amu/eV)) → nm/ps, with 1 ps = 1000 `ase.units.fs`
ASE time units; initial charges e.

Cell: ASE stores the cell vectors as rows, as `System.box` does. A cell with only its
diagonal set becomes orthorhombic edges `[3]`, any other a triclinic `[3, 3]` box (which
`JaxMDBackend` handles); all three directions periodic or none (no box). A partly periodic
cell (a slab, a wire) is refused: no backend here implements mixed boundary conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from observables import Quantity

from ..backends import AbstractBackend, MDState
from ..potentials import AbstractPotential, System, Topology

__all__ = ["state_from_atoms", "system_from_atoms"]


def _ase():
    try:
        import ase
        import ase.units
    except ImportError as err:  # pragma: no cover - the `ase` extra is installed in CI
        raise ImportError("spectrinv.interop needs ASE: pip install 'spectrinv[ase]'") from err
    return ase


def _checked_atoms(atoms: Any) -> Any:
    ase = _ase()
    if not isinstance(atoms, ase.Atoms):
        raise TypeError(f"expected an ase.Atoms, got {type(atoms).__name__}")
    if len(atoms) == 0:
        raise ValueError("the ase.Atoms object has no atoms")
    return atoms


def atoms_box(atoms: Any) -> np.ndarray | None:
    """The cell of `atoms` as a `System.box` (nm): `[3]` edges when orthorhombic, `[3, 3]`
    rows otherwise, None when no direction is periodic. A partly periodic or degenerate
    cell raises a `ValueError`."""
    pbc = np.asarray(atoms.pbc, bool)
    if not pbc.any():
        return None
    if not pbc.all():
        raise ValueError(
            f"atoms.pbc = {pbc.tolist()}: a partly periodic cell (slab or wire) is not "
            "supported; make it periodic in all three directions (atoms.pbc = True, with a "
            "vacuum gap if needed) or in none (atoms.pbc = False)"
        )
    cell = np.asarray(atoms.cell[:], float) / 10.0
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError(
            f"atoms.cell has zero volume ({np.round(cell * 10, 6).tolist()} Å) but atoms.pbc "
            "is True: set the cell (atoms.set_cell) or atoms.pbc = False"
        )
    if np.linalg.det(cell) < 0:
        raise ValueError("atoms.cell is left-handed (negative determinant); reorder its vectors")
    off_diagonal = cell - np.diag(np.diag(cell))
    return np.diag(cell).copy() if not off_diagonal.any() else cell


def _species(symbols: list[str], species_names: Sequence[str] | None) -> tuple:
    unique = sorted(set(symbols), key=symbols.index)
    if species_names is None:
        if len(unique) > 1:
            raise ValueError(
                f"the atoms hold {len(unique)} elements ({', '.join(unique)}): give "
                "species_names (e.g. species_names=('O', 'H')) to say which species index "
                "of the potential each element is"
            )
        species_names = tuple(unique)
    names = tuple(str(n) for n in species_names)
    missing = [s for s in unique if s not in names]
    if missing:
        raise ValueError(f"elements {missing} of the atoms are not in species_names {list(names)}")
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[s] for s in symbols], np.int32), names


def _charges(atoms: Any, charges: Any, symbols: list[str]) -> np.ndarray | None:
    if charges is None:
        initial = np.asarray(atoms.get_initial_charges(), float)
        return initial if initial.any() else None
    if isinstance(charges, Mapping):
        missing = sorted({s for s in symbols if s not in charges})
        if missing:
            raise ValueError(f"charges (e) has no value for elements {missing}")
        return np.array([float(charges[s]) for s in symbols])
    q = np.asarray(charges, float)
    if q.shape != (len(symbols),):
        raise ValueError(f"charges must be [atom] = [{len(symbols)}] (e), got shape {q.shape}")
    return q


def system_from_atoms(
    atoms: Any,
    species_names: Sequence[str] | None = None,
    *,
    charges: Mapping[str, float] | Any = None,
    topology: Topology | None = None,
) -> tuple[Quantity, System]:
    """Positions and a `System` from an ASE `Atoms`.

    **Arguments:**
    - `atoms`: an `ase.Atoms` (positions in Å, masses in amu, cell rows in Å);
    - `species_names`: element symbols in the order of the potential's species indices
      (e.g. `("O", "H")` for `spc_fw`); optional when the atoms hold one element;
    - `charges`: `{symbol: charge}` or `[atom]` (e); default: the atoms' initial charges
      when any is non-zero, else none;
    - `topology`: bonds, angles and exclusions for molecular potentials (e.g.
      `water_topology(n)`), atoms in the order of `atoms`.

    **Returns:** `(positions, system)`: positions `[atom, 3]` as a Quantity in nm, and a
    `System` with the box (see the module docstring), species, masses (Da), charges.
    """
    atoms = _checked_atoms(atoms)
    symbols = list(atoms.get_chemical_symbols())
    species, names = _species(symbols, species_names)
    masses = np.asarray(atoms.get_masses(), float)
    if not np.all(masses > 0):
        raise ValueError(f"atoms have non-positive masses (amu): {masses[masses <= 0][:5]}")
    box = atoms_box(atoms)
    q = _charges(atoms, charges, symbols)
    if topology is not None and np.asarray(topology.molecule).shape[0] not in (0, len(atoms)):
        raise ValueError(
            f"topology is for {np.asarray(topology.molecule).shape[0]} atoms, the atoms "
            f"have {len(atoms)}"
        )
    system = System(
        box=None if box is None else jnp.asarray(box),
        species=jnp.asarray(species),
        masses=jnp.asarray(masses),
        charges=None if q is None else jnp.asarray(q),
        topology=topology,
        species_names=names,
    )
    return Quantity(np.asarray(atoms.positions, float) / 10.0, "nm"), system


def atoms_velocities(atoms: Any) -> Quantity:
    """The atoms' velocities (from their momenta) as a Quantity `[atom, 3]` in nm/ps."""
    _checked_atoms(atoms)
    ase = _ase()
    # Å per ASE time unit -> Å/ps -> nm/ps
    v = np.asarray(atoms.get_velocities(), float) * (1000.0 * ase.units.fs) / 10.0
    return Quantity(v, "nm/ps")


def state_from_atoms(
    backend: AbstractBackend,
    potential: AbstractPotential,
    atoms: Any,
    species_names: Sequence[str] | None = None,
    *,
    charges: Mapping[str, float] | Any = None,
    topology: Topology | None = None,
    temperature: Any = None,
    key: PRNGKeyArray | None = None,
) -> tuple[System, MDState]:
    """A backend's starting state from an ASE `Atoms` (see `system_from_atoms`).

    Velocities: Maxwell–Boltzmann at `temperature` (needs `key`) when given, else the
    atoms' own (from their momenta; at rest if they have none).

    **Returns:** `(system, state)`, ready for `backend.sample(potential, system, state,
    ...)`. The backend's own checks apply (e.g. the cutoff against the cell's widths).
    """
    positions, system = system_from_atoms(atoms, species_names, charges=charges, topology=topology)
    if temperature is not None:
        state = backend.init(potential, system, positions, temperature=temperature, key=key)
    else:
        state = backend.init(potential, system, positions, velocities=atoms_velocities(atoms))
    return system, state
