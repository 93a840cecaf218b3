"""Quantum correction factors: detailed balance, limits, absorption factors."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import observables.testing as ot
from observables import (
    Classical,
    Harmonic,
    Quantity,
    Schofield,
    Standard,
    beta_hbar_omega,
)

QUANTUM = [Harmonic(), Standard(), Schofield()]


@pytest.mark.parametrize("corr", QUANTUM, ids=lambda c: type(c).__name__)
@given(x=st.floats(min_value=-40.0, max_value=40.0, allow_nan=False))
def test_detailed_balance_of_factor(corr, x):
    # Q(-x) = exp(-x) Q(x) is what makes Q * (even classical spectrum) satisfy detailed balance.
    xs = jnp.asarray([x, -x])
    q = np.asarray(corr(xs))
    np.testing.assert_allclose(q[1], np.exp(-x) * q[0], rtol=1e-12)
    assert np.all(q > 0)


@pytest.mark.parametrize("corr", QUANTUM, ids=lambda c: type(c).__name__)
@settings(max_examples=5)
@given(temperature=st.floats(50.0, 1000.0))
def test_detailed_balance_of_corrected_spectrum(corr, temperature):
    """An even classical spectrum, corrected: S(-w) = exp(-b hbar w) S(w) (checked by
    `observables.testing.check_detailed_balance`), and the Stokes side is enhanced."""
    ot.check_detailed_balance(corr, temperature, rtol=1e-11)
    omega = jnp.asarray([-150.0, 150.0])
    quantum = np.asarray(corr.corrected(omega, jnp.ones(2), temperature))
    assert quantum[1] > quantum[0]


def test_classical_is_symmetric_and_violates_detailed_balance():
    x = jnp.asarray([2.0, -2.0])
    q = np.asarray(Classical()(x))
    assert q[0] == q[1] == 1.0
    assert not np.isclose(q[1], np.exp(-2.0) * q[0])


@pytest.mark.parametrize("corr", [*QUANTUM, Classical()], ids=lambda c: type(c).__name__)
def test_high_temperature_limit_and_zero_frequency(corr):
    x = jnp.asarray([0.0, 1e-9, -1e-9, 1e-4])
    q = np.asarray(corr(x))
    np.testing.assert_allclose(q[:3], 1.0, atol=1e-8)
    np.testing.assert_allclose(q[3], 1.0, atol=1e-4)
    assert np.all(np.isfinite(np.asarray(corr.absorption_factor(x))))


def test_absorption_factors_match_closed_forms():
    x = jnp.linspace(-30.0, 30.0, 601)
    xn = np.asarray(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        tanh_form = np.where(xn == 0, 1.0, np.tanh(xn / 2) / (xn / 2))
        sinh_form = np.where(xn == 0, 1.0, np.sinh(xn / 2) / (xn / 2))
    np.testing.assert_allclose(Harmonic().absorption_factor(x), 1.0, rtol=0)
    np.testing.assert_allclose(Standard().absorption_factor(x), tanh_form, rtol=1e-12)
    np.testing.assert_allclose(Schofield().absorption_factor(x), sinh_form, rtol=1e-12)
    # harmonic Q itself: x / (1 - exp(-x)), independent evaluation
    with np.errstate(invalid="ignore", divide="ignore"):
        harm = np.where(xn == 0, 1.0, xn / -np.expm1(-xn))
    np.testing.assert_allclose(Harmonic()(x), harm, rtol=1e-12)


def test_beta_hbar_omega_value():
    # 1000 cm^-1 at 300 K: h c nu / kT = 4.7959 (from CODATA constants through pint)
    omega = Quantity(1000.0, "1/cm").to("1/ps", "sp").magnitude * 2 * np.pi
    expected = (Quantity(1000.0, "1/cm") * Quantity(1, "planck_constant * speed_of_light")).to(
        "J"
    ) / Quantity(300.0, "K * boltzmann_constant").to("J")
    np.testing.assert_allclose(beta_hbar_omega(jnp.asarray(omega), 300.0), expected.m, rtol=1e-9)
