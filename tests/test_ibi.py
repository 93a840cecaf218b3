"""Iterative Boltzmann inversion: the update against analytic cases, the pressure ramp's
sign and size, bad input; convergence on a small LJ liquid (slow)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from observables import RDF, GaussianKernel, Quantity
from spectrinv.backends import JaxMDBackend, Langevin
from spectrinv.fit import IBIStatePoint, PressureRamp, ibi_update, iterative_boltzmann_inversion
from spectrinv.potentials import TabulatedPair, fcc_lattice

jax.config.update("jax_enable_x64", True)

KT_120 = 120.0 * 0.00831446261815324  # kJ/mol


def test_update_is_kt_log_ratio_where_known():
    # g_model = g_target exp(c(r)) => update = α k_B T c(r) at knots on the bins
    r = np.linspace(0.31, 0.79, 25)
    g_t = 1.0 + 0.5 * np.sin(12 * r)
    c = 0.2 * (r - 0.5)
    du = ibi_update(r, r, g_t * np.exp(c), g_t, KT_120, mixing=0.5)
    np.testing.assert_allclose(du, 0.5 * KT_120 * c, rtol=1e-12, atol=1e-15)
    # the same g: no update
    assert np.all(ibi_update(r, r, g_t, g_t, KT_120) == 0)


def test_core_takes_the_update_of_its_edge():
    r = np.linspace(0.01, 0.79, 40)
    g_t = np.where(r < 0.3, 0.0, 1.0)
    g_m = np.where(r < 0.32, 0.0, 2.0)  # model core wider: ln 2 where both are defined
    du = ibi_update(r, r, g_m, g_t, KT_120)
    np.testing.assert_allclose(du, KT_120 * np.log(2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="never both above g_min"):
        ibi_update(r, r, np.zeros_like(r), g_t, KT_120)


def test_pressure_ramp_sign_and_saturation():
    ramp = PressureRamp(0.1, Quantity(300.0, "bar"))
    r = np.array([0.0, 0.4, 0.8])
    # pressure too high by 150 bar -> more attractive: A = -0.1 kT * 0.5
    np.testing.assert_allclose(ramp.correction(r, 0.8, 1.0, 150.0), [-0.05, -0.025, 0.0])
    # too low by 3000 bar -> saturates at +0.1 kT
    np.testing.assert_allclose(ramp.correction(r, 0.8, 1.0, -3000.0), [0.1, 0.05, 0.0])


def _state(name="s", r=None, g=None, rdf=None, pressure=None):
    positions, system = fcc_lattice(3, Quantity(1411.5, "kg/m**3"), Quantity(39.948, "Da"))
    rdf = rdf or RDF(Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")))
    r = rdf.bin_centers if r is None else r
    g = np.ones(len(np.asarray(r.m_as("nm")))) if g is None else g
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(120, "K"), Quantity(5, "1/ps")))
    return IBIStatePoint(name, r, g, rdf, system, positions, backend, Quantity(120, "K"), pressure)


def _table():
    return TabulatedPair(
        Quantity(np.zeros(26), "kJ/mol"), Quantity(0.28, "nm"), Quantity(0.8, "nm")
    )


@pytest.mark.parametrize(
    ("states", "match"),
    [
        ([], "at least one"),
        (
            [_state(r=Quantity(np.linspace(0.0, 0.8, 40), "nm"), g=np.ones(40))],
            "differs from the RDF",
        ),
        ([_state(rdf=RDF(Quantity(0.6, "nm"), 60))], "below the potential's cutoff"),
        ([_state(g=np.zeros(80))], "zero everywhere"),
        ([_state(g=np.full(80, np.nan))], "finite"),
        ([_state(), _state()], "unique"),
    ],
)
def test_bad_input_one_line(states, match):
    with pytest.raises(ValueError, match=match) as err:
        iterative_boltzmann_inversion(
            _table(), states, iterations=1, equilibration_steps=0, n_frames=1, stride=1
        )
    assert "\n" not in str(err.value)


def test_pressure_correction_needs_a_target_pressure():
    with pytest.raises(ValueError, match="target pressure"):
        iterative_boltzmann_inversion(
            _table(),
            [_state()],
            iterations=1,
            equilibration_steps=0,
            n_frames=1,
            stride=1,
            pressure_correction=PressureRamp(),
        )


@pytest.mark.slow
def test_ibi_converges_towards_the_lj_structure():
    """Target: g(r) of force-shifted LJ (σ 0.3405 nm, ε/k_B 120 K) at ρσ³ = 0.84, 120 K,
    108 atoms; start: the potential of mean force −k_BT ln g (a steep wall where g = 0).
    Six IBI iterations must bring the RMS g(r) mismatch down to a third of the start's and
    the well depth within 25 %."""
    from spectrinv.backends import Positions
    from spectrinv.potentials import ForceShifted, LennardJones

    lj = LennardJones(
        Quantity(0.3405, "nm"),
        Quantity(120.0, "K * boltzmann_constant"),
        Quantity(0.8, "nm"),
        truncation=ForceShifted(),
    )
    s = _state()
    hot = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(400, "K"), Quantity(5, "1/ps")))
    st = hot.init(lj, s.system, s.positions, temperature=Quantity(400, "K"), key=jax.random.key(1))
    _, st = hot.sample(lj, s.system, st, jax.random.key(2), 2000, stride=2000)
    _, st = s.backend.sample(lj, s.system, st, jax.random.key(3), 2000, stride=2000)
    traj, st = s.backend.sample(
        lj, s.system, st, jax.random.key(4), 40000, stride=20, record=(Positions(),)
    )
    g_t = np.asarray(s.rdf(traj).g)
    liquid = Quantity(np.asarray(st.positions), "nm")
    s = IBIStatePoint("lj", s.r, g_t, s.rdf, s.system, liquid, s.backend, s.temperature)
    n = 26
    knots = 0.28 + 0.02 * np.arange(n)
    g_k = np.interp(knots, np.asarray(s.r.m_as("nm")), g_t)
    edge = int(np.argmax(g_k > 0.01))
    pmf = -KT_120 * np.log(np.maximum(g_k, 1e-3))
    # core (no pairs): a steep repulsion continued from the PMF at the edge
    pmf[:edge] = pmf[edge] + 10 * KT_120 * ((knots[edge] / knots[:edge]) ** 12 - 1)
    start = TabulatedPair(Quantity(pmf, "kJ/mol"), Quantity(0.28, "nm"), Quantity(0.8, "nm"))
    res = iterative_boltzmann_inversion(
        start, [s], iterations=6, equilibration_steps=1000, n_frames=200, stride=20, progress=False
    )
    rms = [h["rms_dg"]["lj"] for h in res.history]
    assert rms[-1] < rms[0] / 3, rms
    r = np.linspace(0.34, 0.6, 200)
    u = np.asarray(res.potential.pair_energy(jax.numpy.asarray(r)))
    u_lj = np.asarray(lj.pair_energy(jax.numpy.asarray(r)))
    assert abs(u.min() / u_lj.min() - 1) < 0.25, (u.min(), u_lj.min())
