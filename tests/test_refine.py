"""`refine`: the answer of a reweighting fit from independent references, with its error.

Default suite: the propagated data covariance against the textbook formula and a Monte
Carlo of a misweighted least-squares fit, and bad input. Slow: a planted truth (LJ ε from a
pressure simulated at known ε) recovered within its reported error."""

from __future__ import annotations

import json
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[1]


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


def _lj_pressure_target(data: Dataset, n_frames=200, stride=20, positions=None):
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


# ------------------------------------------------------------------------- config / CLI
def _example_config(refine_table: str, example: str = "lj_planted/fit.toml"):
    import tomllib

    from spectrinv.fit import parse_config

    path = ROOT / "docs" / "examples" / example
    text = path.read_text().replace("[fit]\n", f"[fit]\n{refine_table}\n", 1)
    jax.config.update("jax_enable_x64", True)
    return parse_config(tomllib.loads(text), source=str(path), base=path.parent)


def test_config_refine_options_are_read():
    config = _example_config("refine = { references = 3, passes = 1, ess_min = 0.6 }")
    assert config.refine == {"references": 3, "passes": 1, "max_explore": 20, "ess_min": 0.6}
    assert _example_config("refine = true").refine == {
        "references": 8,
        "passes": 2,
        "max_explore": 20,
    }
    assert _example_config("").refine is None


@pytest.mark.parametrize(
    "table, match",
    [
        ("refine = { references = 1 }", "refine references: expected an integer >= 2"),
        ("refine = { passes = 0 }", "refine passes: expected an integer >= 1"),
        ("refine = { ess_min = 1.0 }", "ess_min must be a number in"),
        ("refine = { refrences = 4 }", "refrences"),
        ('refine = "yes"', "must be true, false or a table"),
    ],
)
def test_bad_config_refine_options_are_refused(table, match):
    from spectrinv.fit import ConfigError

    with pytest.raises(ConfigError, match=match):
        _example_config(table)


def test_config_refine_needs_reweighting_targets():
    from spectrinv.fit import ConfigError

    with pytest.raises(
        ConfigError, match="needs every target to use gradient kind = 'reweighting'"
    ):
        _example_config("refine = true", "lj_rdf/fit_bptt.toml")


@pytest.mark.slow
def test_cli_fit_with_refine_writes_its_answer(tmp_path, capsys):
    """`spectrinv fit` on a small planted-LJ config with `[fit] refine`: the refined answer
    and its errors are printed with units and written to refine.json."""
    import shutil

    from spectrinv.cli import main

    src = ROOT / "docs" / "examples" / "lj_planted"
    for name in ("g_ref.csv", "pressure_ref.csv"):
        shutil.copy(src / name, tmp_path / name)
    text = (src / "fit.toml").read_text()
    for old, new in (
        ("steps = 36", "steps = 1\nrefine = { references = 2, passes = 1, max_explore = 1 }"),
        ("frames = 200", "frames = 40"),
        ('equilibration = "20 ps"', 'equilibration = "1 ps"'),
    ):
        text = text.replace(old, new)
    config = tmp_path / "fit.toml"
    config.write_text(text)
    assert main(["fit", str(config), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "refined over 2 independent references" in printed
    assert " nm (sampling" in printed and " kJ/mol (sampling" in printed
    saved = json.loads((tmp_path / "out" / "refine.json").read_text())
    assert saved["names"] == ["sigma", "epsilon"] and len(saved["per_reference"]) == 2
    assert all(np.isfinite(saved["standard_errors"]))
