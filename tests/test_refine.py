"""`refine`: the answer of a reweighting fit from independent references, with its error.

Default suite: the propagated data covariance against the textbook formula and a Monte
Carlo of a misweighted least-squares fit, and bad input. Slow: a planted truth (LJ ε from a
pressure simulated at known ε) recovered within its reported error."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from _fit_systems import quadratic_target

from observables import Pressure, Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Stress, Velocities
from spectrinv.datasets import Dataset
from spectrinv.fit import Target, refine
from spectrinv.fit._refine import _data_covariance
from spectrinv.gradients import BPTT, Objective, Reweighting
from spectrinv.losses import ChiSquared, Reference
from spectrinv.potentials import ForceShifted, LennardJones, fcc_lattice


def _linear(seed=0, n=15, p=3):
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(n, p)) * np.array([1.0, 5.0, 0.2])[:p]
    return rng, jac


def test_data_covariance_with_matching_weights_is_the_inverse_information():
    rng, jac = _linear()
    sigma = rng.uniform(0.5, 2.0, size=jac.shape[0])
    cov = _data_covariance(jac, sigma, sigma)
    expected = np.linalg.inv(jac.T @ np.diag(sigma**-2) @ jac)  # textbook Gauss–Newton
    np.testing.assert_allclose(cov, expected, rtol=1e-10)


def test_data_covariance_of_a_misweighted_fit_matches_monte_carlo():
    """Weights that are not the data's errors (the χ² adds the simulation's error): the
    scatter of the weighted least-squares estimates is the sandwich A Σ_d Aᵀ, not the
    inverse information."""
    rng, jac = _linear(seed=3)
    n = jac.shape[0]
    data_sigma = rng.uniform(0.2, 1.0, size=n)
    weight_sigma = np.sqrt(data_sigma**2 + rng.uniform(0.0, 2.0, size=n) ** 2)
    w = weight_sigma**-2
    estimator = np.linalg.solve(jac.T @ (w[:, None] * jac), jac.T * w[None, :])
    draws = rng.normal(size=(20000, n)) * data_sigma  # y − Jθ
    estimates = draws @ estimator.T
    mc = np.cov(estimates, rowvar=False)
    cov = _data_covariance(jac, weight_sigma, data_sigma)
    np.testing.assert_allclose(np.diag(cov), np.diag(mc), rtol=0.05)
    naive = np.linalg.inv(jac.T @ (w[:, None] * jac))
    assert not np.allclose(np.diag(naive), np.diag(mc), rtol=0.2)  # the case matters


def test_data_covariance_is_zero_without_data_errors():
    rng, jac = _linear(seed=4)
    sigma = rng.uniform(0.5, 2.0, size=jac.shape[0])
    np.testing.assert_array_equal(_data_covariance(jac, sigma, np.zeros_like(sigma)), 0.0)


def _lj_pressure_target(data: Dataset, n_frames=100, stride=20, positions=None):
    positions0, system = fcc_lattice(2, Quantity(1409.5, "kg/m**3"), Quantity(39.948, "Da"))
    temperature = Quantity(110.0, "K")
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), temperature, Quantity(5, "1/ps")))
    pressure = Pressure()
    objective = Objective(
        pressure,
        ChiSquared(Reference(data, pressure, at=temperature)),
        (Positions(), Velocities(), Stress()),
    )
    return Target(
        "pressure",
        objective,
        system,
        positions0 if positions is None else positions,
        backend,
        Reweighting(n_frames=n_frames, stride=stride, equilibration_steps=200, batch_size=50),
        temperature,
        equilibration_steps=2000,
        dataset=data,
    )


def _pressure_data(p_bar: float, err_bar: float) -> Dataset:
    return Dataset.from_arrays(
        np.array([110.0]),
        np.array([p_bar]),
        x_unit="K",
        y_unit="bar",
        uncertainty=np.array([err_bar]),
        quantity="pressure",
        name="planted pressure",
    )


def _lj(eps_kelvin: float = 119.8, sigma_nm: float = 0.3405) -> LennardJones:
    return LennardJones(
        Quantity(sigma_nm, "nm"),
        Quantity(eps_kelvin, "K * boltzmann_constant"),
        Quantity(0.55, "nm"),  # under half the 32-atom box (1.146 nm)
        truncation=ForceShifted(),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"references": 1}, "references must be an int >= 2"),
        ({"passes": 0}, "passes must be an int >= 1"),
        ({"ess_min": 1.0}, "ess_min must be in"),
        ({"max_step": 0.0}, "max_step must be in"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    target = _lj_pressure_target(_pressure_data(1000.0, 10.0))
    with pytest.raises(ValueError, match=match):
        refine(_lj(119.8), [target], **kwargs)


def test_a_target_without_reweighting_is_refused():
    with pytest.raises(ValueError, match="uses BPTT, not Reweighting"):
        refine(_lj(119.8), [quadratic_target(BPTT(n_steps=2))])
    with pytest.raises(ValueError, match="at least one Target"):
        refine(_lj(119.8), [])


@pytest.mark.slow
def test_planted_sigma_is_recovered_within_its_reported_error():
    """32 LJ atoms at 110 K: the 'data' is the pressure of a long run at σ = 0.3405 nm
    (independent of `refine`: plain sampling and `Pressure`); `refine` starts 1 % off in σ
    and must land within 3 reported standard errors and 0.3 % of the truth. (ε alone is a
    poor test: at this state point d ln P / d ln ε ≈ −0.7, so one 20 ps reference of 32
    atoms pins ε only to several per cent.)"""
    jax.config.update("jax_enable_x64", True)
    truth = _lj()
    target0 = _lj_pressure_target(_pressure_data(1000.0, 10.0))
    hot = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(400.0, "K"), Quantity(5, "1/ps")))
    state = hot.init(
        truth,
        target0.system,
        Quantity(np.asarray(target0.positions), "nm"),
        temperature=Quantity(400.0, "K"),
        key=jax.random.key(11),
    )
    _, state = hot.sample(truth, target0.system, state, jax.random.key(10), 2000)  # melt
    _, state = target0.backend.sample(truth, target0.system, state, jax.random.key(12), 4000)
    liquid = Quantity(np.asarray(state.positions), "nm")
    traj, _ = target0.backend.sample(
        truth,
        target0.system,
        state,
        jax.random.key(13),
        40 * 2000,
        stride=20,
        record=(Positions(), Velocities(), Stress()),
    )
    reference = Pressure(n_blocks=20)(traj)
    data = _pressure_data(float(reference.y_magnitude), float(reference.error_magnitude))
    target = _lj_pressure_target(data, positions=liquid)
    potential, refined = refine(
        _lj(sigma_nm=0.3405 * 1.01),
        [target],
        trainable=["sigma"],
        references=6,
        passes=2,
        seed=5,
        progress=True,
    )
    print(refined)
    (sigma,), (se,) = refined.values, refined.standard_errors
    assert float(potential.sigma) == pytest.approx(sigma)
    assert se > 0 and np.isfinite(se)
    assert abs(sigma - 0.3405) < 3 * se, (sigma, se)
    assert abs(sigma / 0.3405 - 1) < 0.003
    assert refined.per_reference.shape == (6, 1)
    assert np.all(refined.ess >= 0.5)
    json.dumps(refined.to_dict())  # JSON-ready
    assert np.isfinite(refined.fisher.condition_number)
