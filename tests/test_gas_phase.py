"""`gas_phase_energy`: U_min + (3n − 6) k_BT / 2 of one molecule, for ΔH_vap."""

from __future__ import annotations

import jax
import pytest

from observables import PotentialEnergy, Quantity
from spectrinv.backends import Energy, JaxMDBackend, Langevin, Positions, gas_phase_energy
from spectrinv.potentials import spc_fw, water_box

T = Quantity(298.15, "K")
R = 1.380649e-23 * 6.02214076e23 / 1e3  # kJ/(mol K), SI


@pytest.fixture(scope="module")
def molecule():
    model = spc_fw()
    # 2.5 nm box: more than twice the 0.9 nm cutoff (one molecule, nothing to interact with)
    pos, system = water_box(1, Quantity(0.002, "g/cm**3"), model=model)
    return model, system, Quantity(pos, "nm")


@pytest.mark.slow  # a long validation (> 4 s)
def test_harmonic_water_is_three_half_kt(molecule):
    """SPC/Fw is harmonic in bonds and angle with its minimum at U = 0 (r0, θ0, no
    intramolecular non-bonded terms): from a stretched start the molecule relaxes there and
    E_gas = (9 − 6)/2 R T = 3.7184 kJ/mol at 298.15 K."""
    model, system, pos = molecule
    stretched = pos * 1.05
    assert gas_phase_energy(model, system, stretched, T).m_as("kJ/mol") == pytest.approx(
        1.5 * R * 298.15, abs=1e-5
    )


def test_bad_input(molecule):
    model, system, pos = molecule
    with pytest.raises(ValueError, match="positive"):
        gas_phase_energy(model, system, pos, Quantity(-1, "K"))
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        gas_phase_energy(model, system, pos[:2], T)
    with pytest.raises(Exception, match="nm|length"):
        gas_phase_energy(model, system, pos.m, T)  # no unit


@pytest.mark.slow
def test_agrees_with_a_langevin_run_of_one_molecule(molecule):
    """20 ps of Langevin dynamics of the isolated molecule (298.15 K, 0.5 fs, 10/ps):
    ⟨U⟩ agrees with the harmonic-limit value within 3 block errors (measured 3.64 ± 0.24
    vs 3.72 kJ/mol)."""
    model, system, pos = molecule
    backend = JaxMDBackend(Langevin(Quantity(0.5, "fs"), T, Quantity(10, "1/ps")))
    state = backend.init(model, system, pos, temperature=T, key=jax.random.key(0))
    _, state = backend.sample(model, system, state, jax.random.key(1), 2000)
    traj, _ = backend.sample(
        model, system, state, jax.random.key(2), 40000, stride=10, record=(Positions(), Energy())
    )
    md = PotentialEnergy(3, n_blocks=20)(traj)
    harmonic = gas_phase_energy(model, system, pos, T).m_as("kJ/mol")
    print(f"\nMD {md.value.m:.3f} +- {md.error.m:.3f} kJ/mol, harmonic {harmonic:.3f} kJ/mol")
    assert abs(md.value.m - harmonic) < 3 * md.error.m
    assert md.error.m < 0.1 * harmonic
