"""The EDIP fit of docs/examples/silicon_phonon_fit.py: its Jacobian against finite
differences, and its standard-error formula against an independent linear least-squares case."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from spectrinv.potentials import EDIP, diamond_lattice

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "examples" / "silicon_phonon_fit.py"


@pytest.fixture(scope="module")
def fit_script():
    spec = importlib.util.spec_from_file_location("silicon_phonon_fit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_standard_errors_match_linear_least_squares(fit_script):
    rng = np.random.default_rng(7)
    n, p = 11, 3
    t = np.linspace(0.0, 2.0, n)
    x = np.stack([np.ones(n), t, t**2], axis=1)
    y = x @ np.array([1.0, -0.5, 0.25]) + 0.05 * rng.standard_normal(n)
    coef, ssr, *_ = np.linalg.lstsq(x, y, rcond=None)
    s2 = ssr[0] / (n - p)
    cov = s2 * np.linalg.inv(x.T @ x)
    se = np.sqrt(np.diag(cov))

    out = fit_script.standard_errors(x, y - x @ coef)

    assert out["degrees_of_freedom"] == n - p
    np.testing.assert_allclose(out["residual_variance"], s2, rtol=1e-12)
    np.testing.assert_allclose(out["covariance"], cov, rtol=1e-10)
    np.testing.assert_allclose(out["standard_errors"], se, rtol=1e-10)
    np.testing.assert_allclose(out["correlation"], cov / np.outer(se, se), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["condition_number"], np.linalg.cond(x), rtol=1e-10)
    # scipy's curve_fit scales its covariance by the same s² (absolute_sigma=False)
    _, pcov = scipy.optimize.curve_fit(
        lambda tt, a, b, c: a + b * tt + c * tt**2, t, y, p0=[0.0, 0.0, 0.0]
    )
    np.testing.assert_allclose(out["covariance"], pcov, rtol=1e-6)


def test_standard_errors_need_more_data_than_parameters(fit_script):
    with pytest.raises(ValueError, match="n > p"):
        fit_script.standard_errors(np.ones((2, 2)), np.ones(2))


def test_edip_log_parameters_energy_gradient_matches_central_difference(fit_script):
    # every continuous EDIP parameter through the log|p| parametrisation (u1 < 0 keeps its
    # sign): d U / d log|p| of a distorted 8-atom cubic cell against central differences
    names = fit_script.parameter_names(EDIP())
    assert len(names) == 17 and "u1" in names
    log_model = fit_script.LogModel(EDIP(), names)
    assert log_model.signs[names.index("u1")] == -1
    positions, system = diamond_lattice(1)
    rattle = np.random.default_rng(3).uniform(-0.004, 0.004, positions.shape)  # nm
    positions = positions + jnp.asarray(rattle)

    def energy(x):
        return log_model(x).energy(positions, system)

    x0 = jnp.asarray(log_model.x0)
    start, published = log_model(x0), EDIP()
    for name in names:
        np.testing.assert_allclose(getattr(start, name), getattr(published, name), rtol=1e-14)
    h, eye = 1e-5, jnp.eye(len(names))

    @jax.jit
    def grad_and_shifted(x):  # one compilation for both
        return jax.grad(energy)(x), jax.vmap(energy)(jnp.concatenate([x + h * eye, x - h * eye]))

    grad, shifted = (np.asarray(v) for v in grad_and_shifted(x0))
    fd = (shifted[: len(names)] - shifted[len(names) :]) / (2 * h)
    # all but c and alpha (the coordination is 4 for every atom: all within c)
    assert np.sum(np.abs(grad) > 1e-6 * np.max(np.abs(grad))) == 15
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8 * np.max(np.abs(grad)))


@pytest.mark.slow
def test_edip_jacobian_column_matches_central_difference(fit_script):
    # the 11 fitted quantities (C11, C12, C44, eight phonons) w.r.t. log gamma
    target = fit_script.targets()
    log_model = fit_script.LogModel(EDIP(), ("gamma",))
    residuals = fit_script.residual_function(
        log_model, target, diamond_lattice(1), fit_script.primitive()
    )
    x0 = jnp.asarray(log_model.x0)
    column = np.asarray(jax.jacfwd(residuals)(x0))[:, 0]
    fun = jax.jit(residuals)
    h = 1e-4
    fd = (np.asarray(fun(x0 + h)) - np.asarray(fun(x0 - h))) / (2 * h)
    # L LO does not depend on gamma; every other quantity does
    assert np.sum(np.abs(column) > 1e-2) == 10
    np.testing.assert_allclose(column, fd, rtol=1e-5, atol=1e-9)
