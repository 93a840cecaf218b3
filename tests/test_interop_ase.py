"""ASE interop: the calculator's energy against a NumPy Lennard-Jones (converted with ASE's
constants), its forces and stress against ASE's finite differences, in an
orthorhombic and a triclinic cell and for charged molecules; `ase.Atoms` as input of a
backend (positions, cell, masses, species, velocities) and the errors for cells no backend
handles."""

from __future__ import annotations

import ase
import ase.units
import numpy as np
import pytest
from _systems import HarmonicTrap
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.stress import voigt_6_to_full_3x3_stress

from observables import Quantity
from spectrinv.backends import JaxMDBackend, VelocityVerlet
from spectrinv.interop import SpectrinvCalculator, state_from_atoms, system_from_atoms
from spectrinv.potentials import (
    DampedShiftedForce,
    ForceShifted,
    LennardJones,
    q_spc_fw,
    water_topology,
)

#: kJ/mol in eV and nm in Å from ASE's own constants (independent of the package's).
KJ_MOL = ase.units.kJ / ase.units.mol
NM = 10.0


def _lj():
    return LennardJones(
        Quantity(3.405, "angstrom"),
        Quantity(0.99774, "kJ/mol"),
        Quantity(0.55, "nm"),
        truncation=ForceShifted(),
    )


def _argon(cell=None) -> ase.Atoms:
    """32 argon atoms (fcc, a = 5.718 Å), rattled; `cell` replaces the cubic cell with the
    atoms scaled along."""
    atoms = bulk("Ar", "fcc", a=5.718, cubic=True).repeat(2)
    if cell is not None:
        atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.05, seed=3)
    return atoms


def _lj_energy_numpy(atoms: ase.Atoms) -> float:
    """Force-shifted Lennard-Jones energy (kJ/mol) of `_lj()`, written out in NumPy with the
    minimum image through fractional coordinates: u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c)."""
    sigma, eps, rc = 0.3405, 0.99774, 0.55
    cell = np.asarray(atoms.cell[:]) / NM
    r = atoms.positions / NM
    i, j = np.triu_indices(len(atoms), 1)
    frac = (r[j] - r[i]) @ np.linalg.inv(cell)
    d = np.linalg.norm((frac - np.round(frac)) @ cell, axis=1)
    d = d[d < rc]

    def phi(x):
        return 4 * eps * ((sigma / x) ** 12 - (sigma / x) ** 6)

    dphi_c = 4 * eps * (-12 * sigma**12 / rc**13 + 6 * sigma**6 / rc**7)
    return float(np.sum(phi(d) - phi(rc) - (d - rc) * dphi_c))


TRICLINIC = np.array([[11.6, 0.0, 0.0], [1.9, 11.3, 0.0], [-1.2, 1.4, 11.5]])


@pytest.mark.parametrize("cell", [None, TRICLINIC], ids=["cubic", "triclinic"])
def test_energy_is_the_potentials_in_ase_units(cell):
    atoms = _argon(cell)
    atoms.calc = SpectrinvCalculator(_lj())
    assert atoms.get_potential_energy() == pytest.approx(_lj_energy_numpy(atoms) * KJ_MOL, rel=1e-7)


@pytest.mark.parametrize("cell", [None, TRICLINIC], ids=["cubic", "triclinic"])
def test_forces_and_stress_match_ase_finite_differences(cell):
    atoms = _argon(cell)
    atoms.calc = SpectrinvCalculator(_lj())
    forces = atoms.get_forces()
    fd_forces = calculate_numerical_forces(atoms, 1e-5, iatoms=range(6))
    np.testing.assert_allclose(forces[:6], fd_forces, atol=1e-9 * np.abs(forces).max() * 1e3)
    stress = atoms.get_stress()
    fd_stress = calculate_numerical_stress(atoms, 1e-6)
    np.testing.assert_allclose(stress, fd_stress, atol=1e-7 * np.abs(stress).max())
    # the potential part of the pressure, -tr(σ)/3, from the package's virial definition
    sigma = voigt_6_to_full_3x3_stress(stress)
    assert np.allclose(sigma, sigma.T)


@pytest.mark.slow  # 9 s of compilation on a 2-core CPU
def test_charged_molecules_with_topology():
    """Flexible water (charges, bonds, angles, exclusions, damped-shifted-force Coulomb):
    forces and stress against ASE's finite differences."""
    n = 8
    rng = np.random.default_rng(4)
    centres = (np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
               * 4.6 + 1.0)  # fmt: skip
    oh = 0.9572
    theta = np.deg2rad(104.52) / 2
    molecule = np.array([[0, 0, 0], [oh * np.sin(theta), oh * np.cos(theta), 0],
                         [-oh * np.sin(theta), oh * np.cos(theta), 0]])  # fmt: skip
    positions = (molecule[None] + centres[:, None] + rng.normal(0, 0.03, (n, 3, 3))).reshape(-1, 3)
    atoms = ase.Atoms("OH2" * n, positions=positions, cell=[9.2] * 3, pbc=True)
    cutoff = Quantity(0.45, "nm")
    model = q_spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), cutoff), lj_cutoff=cutoff)
    atoms.calc = SpectrinvCalculator(
        model, ("O", "H"), charges={"O": -0.84, "H": 0.42}, topology=water_topology(n)
    )
    forces = atoms.get_forces()
    fd = calculate_numerical_forces(atoms, 1e-5, iatoms=range(3))
    np.testing.assert_allclose(forces[:3], fd, atol=1e-6 * np.abs(forces).max())
    np.testing.assert_allclose(
        atoms.get_stress(), calculate_numerical_stress(atoms, 1e-6), atol=1e-6 * 1e-2
    )


def test_atoms_become_system_positions_and_state():
    atoms = ase.Atoms(
        "OH2", positions=[[0, 0, 0], [0.9, 0.3, 0], [-0.2, 0.9, 0.1]], cell=[20, 21, 22],
        pbc=True,
    )  # fmt: skip
    atoms.set_velocities(np.array([[0.01, 0, 0], [0, -0.02, 0.005], [0.003, 0, 0.04]]))
    positions, system = system_from_atoms(atoms, ("O", "H"), charges={"O": -0.8, "H": 0.4})
    np.testing.assert_allclose(positions.m_as("nm"), atoms.positions / 10)
    np.testing.assert_allclose(np.asarray(system.box), [2.0, 2.1, 2.2])
    np.testing.assert_array_equal(np.asarray(system.species), [0, 1, 1])
    np.testing.assert_allclose(np.asarray(system.masses), atoms.get_masses())
    np.testing.assert_allclose(np.asarray(system.charges), [-0.8, 0.4, 0.4])
    assert system.species_names == ("O", "H")


def test_state_from_atoms_keeps_positions_and_velocities():
    """ASE's kinetic energy (eV) equals ½ Σ m v² of the backend's state (kJ/mol)."""
    atoms = ase.Atoms("ArKr2", positions=[[0, 0, 0], [4, 0, 0], [0, 4.2, 0.3]])
    atoms.set_velocities(np.random.default_rng(5).normal(0, 0.003, (3, 3)))
    backend = JaxMDBackend(VelocityVerlet(Quantity(5, "fs")))
    system, state = state_from_atoms(backend, HarmonicTrap(100.0), atoms, ("Ar", "Kr"))
    np.testing.assert_array_equal(np.asarray(system.species), [0, 1, 1])
    m = np.asarray(system.masses)[:, None]
    kinetic = 0.5 * np.sum(m * np.asarray(state.velocities) ** 2)
    assert kinetic * KJ_MOL == pytest.approx(atoms.get_kinetic_energy(), rel=1e-7)
    np.testing.assert_allclose(np.asarray(state.positions), atoms.positions / 10)


def test_triclinic_and_non_periodic_cells():
    _, system = system_from_atoms(_argon(TRICLINIC))
    np.testing.assert_allclose(np.asarray(system.box), TRICLINIC / 10)
    gas = ase.Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]])
    _, system = system_from_atoms(gas)
    assert system.box is None


@pytest.mark.parametrize(
    "atoms, kwargs, message",
    [
        (ase.Atoms("Ar2", positions=[[0, 0, 0], [4, 0, 0]], cell=[10, 10, 0],
                   pbc=[True, True, False]), {}, r"pbc = \[True, True, False\].*partly periodic"),
        (ase.Atoms("Ar2", positions=[[0, 0, 0], [4, 0, 0]], pbc=True), {}, "zero volume"),
        (ase.Atoms("OH2"), {}, r"3 elements|2 elements.*species_names"),
        (ase.Atoms("OH2"), {"species_names": ("O",)}, r"elements \['H'\].*not in species_names"),
        (ase.Atoms("OH2"), {"species_names": ("O", "H"), "charges": {"O": -0.8}},
         r"no value for elements \['H'\]"),
    ],
    ids=["slab", "no-cell", "species", "unknown-element", "charges"],
)  # fmt: skip
def test_bad_atoms_are_refused_with_one_clear_line(atoms, kwargs, message):
    with pytest.raises(ValueError, match=message):
        system_from_atoms(atoms, **kwargs)


def test_calculator_refuses_a_cutoff_beyond_half_the_cell_and_stress_without_one():
    atoms = bulk("Ar", "fcc", a=5.718, cubic=True)  # 5.7 Å cell, 5.5 Å cutoff
    atoms.calc = SpectrinvCalculator(_lj())
    with pytest.raises(ValueError, match=r"cutoff 5\.5 Å exceeds half.*atoms\.repeat"):
        atoms.get_potential_energy()
    from ase.calculators.calculator import PropertyNotImplementedError

    gas = ase.Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]])
    gas.calc = SpectrinvCalculator(_lj())
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        gas.get_stress()
