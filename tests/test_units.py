import numpy as np
import pytest
from hypothesis import given, strategies as st

import observables as ob
from observables import BOLTZMANN, EPSILON0, HBAR, SPEED_OF_LIGHT


def test_internal_system_is_coherent():
    # 1 Da nm^2 / ps^2 must be exactly 1 kJ/mol: integrators rely on it.
    q = ob.Quantity(1.0, "g/mol * nm**2 / ps**2")
    assert q.m_as("kJ/mol") == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    "value, unit, kind, expected",
    [
        (1.0, "dalton", "mass", 1.0),
        (1.0, "eV", "energy", 96.485332),
        (1.0, "kcal/mol", "energy", 4.184),
        (120.0, "K", "energy", 120.0 * 0.0083144626),
        (1.0, "bar", "pressure", 0.0602214076),
    ],
)
def test_per_particle_and_molar_units_convert(value, unit, kind, expected):
    assert ob.to_internal(ob.Quantity(value, unit), kind) == pytest.approx(expected, rel=1e-7)


def test_temperature_is_not_a_length():
    with pytest.raises(ob.UnitError, match="K"):
        ob.to_internal(ob.Quantity(1.0, "K"), "length", "sigma")


def test_constants_match_codata():
    assert BOLTZMANN == pytest.approx(0.00831446261815324, rel=1e-12)  # kJ/mol/K
    assert SPEED_OF_LIGHT == pytest.approx(299792.458, rel=1e-12)  # nm/ps
    assert HBAR == pytest.approx(0.0635077993, rel=1e-8)  # kJ/mol ps
    # Coulomb constant 1/(4 pi eps0) = 138.935458 kJ/mol nm e^-2 (GROMACS manual).
    assert 1 / (4 * np.pi * EPSILON0) == pytest.approx(138.935458, rel=1e-8)


def test_mismatch_names_both_units():
    with pytest.raises(ob.UnitError, match=r"timestep has unit m .*cannot be converted to ps"):
        ob.to_internal(ob.Quantity(2.0, "m"), "time", "timestep")


def test_bare_float_rejected_with_hint():
    with pytest.raises(ob.UnitError, match="without units.*Quantity"):
        ob.to_internal(2.0, "length", "sigma")


def test_foreign_registry_rejected():
    import pint

    other = pint.UnitRegistry()
    with pytest.raises(ob.UnitError, match="different pint UnitRegistry"):
        ob.to_internal(other.Quantity(1.0, "nm"), "length", "x")


def test_polarizability_si_to_volume():
    # alpha' = alpha / (4 pi eps0); 1 A^3 corresponds to 1.11265e-40 C m^2/V.
    si = ob.Quantity(1.1126500560536185e-40, "C * m**2 / V")
    assert ob.to_internal(si, "polarizability") == pytest.approx(1e-3, rel=1e-9)


@given(st.floats(1e-6, 1e6), st.sampled_from(["angstrom", "nm", "pm", "bohr"]))
def test_round_trip(value, unit):
    q = ob.Quantity(value, unit)
    back = ob.from_internal(ob.to_internal(q, "length"), "length").m_as(unit)
    assert back == pytest.approx(value, rel=1e-12)


def test_unknown_kind():
    with pytest.raises(KeyError, match="known kinds"):
        ob.to_internal(ob.Quantity(1.0, "nm"), "lenght")
