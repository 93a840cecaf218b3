"""Parameter uncertainty and identifiability: the Gauss–Newton covariance of a linear model
is exact, a degenerate pair is reported (never NaN), units come back, and the fit and the
CLI's `--check` report them."""

from __future__ import annotations

import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin
from spectrinv.fit import (
    ParameterUncertainty,
    Target,
    fit,
    parameter_uncertainty,
    plot_uncertainty,
)
from spectrinv.gradients import AbstractGradient, GradientResult, Objective, tree_norm
from spectrinv.potentials import LennardJones, fcc_lattice


def _linear_problem(seed=0, n=12):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 3)) * np.array([1.0, 10.0, 0.1])
    sigma = rng.uniform(0.5, 2.0, size=n)
    theta = np.array([2.0, -0.3, 15.0])
    return a, sigma, theta


def test_linear_gaussian_covariance_is_the_inverse_information():
    a, sigma, theta = _linear_problem()
    res = parameter_uncertainty(a, sigma, ["a", "b", "c"], theta, ["nm", "kJ/mol", "1"])
    w = np.diag(1 / sigma**2)
    expected = np.linalg.inv(a.T @ w @ a)  # independent: the textbook formula
    np.testing.assert_allclose(res.covariance, expected, rtol=1e-10)
    np.testing.assert_allclose(res.standard_errors, np.sqrt(np.diag(expected)), rtol=1e-10)
    d = np.sqrt(np.diag(expected))
    np.testing.assert_allclose(res.correlation, expected / np.outer(d, d), atol=1e-10)
    rel = np.diag(theta) @ (a.T @ w @ a) @ np.diag(theta)
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(rel), rtol=1e-10)
    assert res.condition_number == pytest.approx(
        np.linalg.eigvalsh(rel)[-1] / np.linalg.eigvalsh(rel)[0], rel=1e-10
    )
    assert res.is_identifiable


def test_least_squares_estimates_scatter_with_the_reported_covariance():
    """Monte Carlo: refit y = Aθ + noise (noise ~ N(0, Σ)) many times; the sample
    covariance of the estimates matches the reported one within sampling error."""
    a, sigma, theta = _linear_problem(seed=1)
    res = parameter_uncertainty(a, sigma, ["a", "b", "c"], theta)
    rng = np.random.default_rng(7)
    n_rep = 4000
    y = a @ theta + rng.normal(size=(n_rep, a.shape[0])) * sigma
    aw = a / sigma[:, None]
    est = np.linalg.lstsq(aw, (y / sigma).T, rcond=None)[0].T
    sample = np.cov(est, rowvar=False)
    se = res.standard_errors
    # a sample variance of 4000 Gaussian draws has relative sd sqrt(2/3999) ≈ 2.2 %
    np.testing.assert_allclose(np.sqrt(np.diag(sample)), se, rtol=0.05)
    np.testing.assert_allclose(sample / np.outer(se, se), res.correlation, atol=0.05)


def test_degenerate_pair_is_unconstrained_and_named():
    """Only θ1 + θ2 enters (with equal values, relative directions are (1, ±1)/√2)."""
    x = np.linspace(0, 1, 8)
    jac = np.stack([x, x, 1 + x**2], axis=1)  # q = (θ1 + θ2)·x + θ3·(1 + x²)
    res = parameter_uncertainty(jac, 0.1, ["t1", "t2", "t3"], [1.0, 1.0, 2.0])
    assert not res.is_identifiable
    assert res.unconstrained.tolist() == [True, False, False]
    np.testing.assert_allclose(np.abs(res.eigenvectors[:, 0]), [2**-0.5, 2**-0.5, 0], atol=1e-8)
    assert res.eigenvectors[0, 0] * res.eigenvectors[1, 0] < 0  # (1, -1)/√2
    assert res.direction(0) == "0.71 ln t1 - 0.71 ln t2"
    assert math.isinf(res.standard_errors[0]) and math.isinf(res.standard_errors[1])
    assert math.isfinite(res.standard_errors[2])
    assert math.isinf(res.condition_number)
    for arr in (res.covariance, res.correlation, res.eigenvalues, res.standard_errors):
        assert not np.any(np.isnan(arr))
    d = res.to_dict()
    text = json.dumps(d)  # JSON-safe: no NaN / Infinity literals
    assert "NaN" not in text and "Infinity" not in text
    assert d["standard_errors"]["t1"]["value"] == "inf"
    assert d["unconstrained"] == ["0.71 ln t1 - 0.71 ln t2"]
    assert d["condition_number"] == "inf"
    assert "unconstrained" in str(res)


def test_standard_error_comes_back_in_the_parameters_unit():
    # q = ε·f(x) + σ·g(x): J has columns f, g; σ in nm
    x = np.linspace(0.3, 1.0, 10)
    jac = np.stack([np.exp(-x), x**2], axis=1)
    res = parameter_uncertainty(jac, 0.01, ["epsilon", "sigma"], [0.99, 0.34], ["kJ/mol", "nm"])
    d = res.to_dict()
    assert d["standard_errors"]["sigma"]["unit"] == "nm"
    expected = np.sqrt(np.linalg.inv(jac.T @ jac / 0.01**2)[1, 1])
    assert d["standard_errors"]["sigma"]["value"] == pytest.approx(expected, rel=1e-10)
    line = next(ln for ln in str(res).splitlines() if ln.strip().startswith("sigma"))
    assert line.endswith("nm") and f"{expected:.3g}" in line
    assert isinstance(res, ParameterUncertainty)


@pytest.mark.parametrize(
    ("jac", "sigma", "match"),
    [
        (np.ones((3, 2)), np.ones(2), "one 1σ error per compared value"),
        (np.ones((3, 2)), np.array([1.0, 0.0, 1.0]), "finite and > 0"),
        (np.array([[1.0, np.nan], [0, 1]]), 1.0, "NaN"),
    ],
)
def test_bad_input_is_a_one_line_error(jac, sigma, match):
    with pytest.raises(ValueError, match=match):
        parameter_uncertainty(jac, sigma, ["a", "b"], [1.0, 1.0])


# ------------------------------------------------------------------ fit and command line
CONFIG = """
[fit]
steps = 0
seed = 3
learning_rate = 0.05
precision = "float64"
trainable = ["sigma", "epsilon"]

[model]
kind = "lennard_jones"
sigma = "3.3 angstrom"
epsilon = "110 K"
cutoff = "0.55 nm"

[[targets]]
name = "rdf"
observable = "rdf"
loss = "mse"
temperature = "90 K"
timestep = "5 fs"

[targets.dataset]
file = "gr.csv"
x = "r"
y = "g"
x_unit = "nm"
y_unit = "dimensionless"
quantity = "rdf"

[targets.system]
cells = 2
density = "1409.5 kg/m**3"

[targets.observable_options]
r_max = "0.55 nm"
bins = 40
width = "0.01 nm"

[targets.gradient]
kind = "bptt"
length = "0.02 ps"
"""


def _config(folder):
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    lines = ["r,g"] + [f"{a:.6f},{b:.6f}" for a, b in zip(r, g, strict=True)]
    (folder / "gr.csv").write_text("\n".join(lines) + "\n")
    path = folder / "fit.toml"
    path.write_text(CONFIG)
    return path


class LinearModel(AbstractGradient):
    """Test-only strategy without MD: the prediction is q = A·(σ, ε), so the sensitivity
    matrix is A exactly and the fit's reported covariance is known in closed form."""

    a: tuple = eqx.field(static=True)  # [data][parameter], hashable

    def __init__(self, a):
        self.a = tuple(tuple(float(v) for v in row) for row in np.asarray(a))

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        def f(p):
            q = jnp.asarray(self.a) @ jnp.stack([p.sigma, p.epsilon])
            return objective.loss(q), q

        (loss, q), g = jax.value_and_grad(f, has_aux=True)(params)
        return GradientResult(loss, g, q, state, {"grad_norm": tree_norm(g)})


def test_fit_reports_the_exact_covariance_of_a_linear_model(tmp_path):
    a = np.array([[1.0, 0.2], [0.5, 1.0], [2.0, -1.0], [0.0, 3.0]])  # [data, (σ nm, ε kJ/mol)]
    data = np.array([0.5, 1.0, 0.3, 2.0])
    s = np.array([0.1, 0.2, 0.05, 0.3])

    def loss(q):  # χ² with errors s: the implied 1σ of every value is s
        return jnp.sum(((q - data) / s) ** 2)

    pos, system = fcc_lattice(1, Quantity(1409.5, "kg/m**3"), Quantity(39.948, "Da"))
    system = eqx.tree_at(lambda s: s.box, system, None)  # 4 atoms in vacuum: no neighbour list
    lj = LennardJones(Quantity(3.4, "angstrom"), Quantity(0.9, "kJ/mol"), Quantity(0.55, "nm"))
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(85, "K"), Quantity(5, "1/ps")))
    objective = Objective(lambda traj: traj.positions, loss)
    target = Target("lin", objective, system, pos, backend, LinearModel(a), Quantity(85, "K"))
    result = fit(lj, [target], steps=1, output_dir=tmp_path, progress=False, plots=False)
    summary = json.loads((tmp_path / "fit.json").read_text())["uncertainty"]
    unc = result.uncertainty
    assert unc.names == ("sigma", "epsilon")  # the potential's parameter order
    expected = np.linalg.inv(a.T @ np.diag(1 / s**2) @ a)
    np.testing.assert_allclose(unc.covariance, expected, rtol=1e-6)
    se = np.sqrt(np.diag(expected))
    assert summary["standard_errors"]["sigma"] == {
        "value": pytest.approx(se[0], rel=1e-6),
        "unit": "nm",
        "relative": pytest.approx(se[0] / abs(unc.values[0]), rel=1e-6),
    }
    assert summary["standard_errors"]["epsilon"]["unit"] == "kJ/mol"
    assert summary["parameters"]["sigma"]["value"] == pytest.approx(result.potential.sigma)
    assert summary["correlation"]["names"] == ["sigma", "epsilon"]
    assert len(summary["eigenvalues"]) == 2 and summary["condition_number"] > 1
    assert summary["n_data"] == 4 and "loss weights" in summary["error_source"]
    plot_uncertainty(unc, tmp_path / "uncertainty.png")
    assert (tmp_path / "uncertainty.png").stat().st_size > 1000


def _check_output(config, out_dir, capsys) -> str:
    from spectrinv.cli import main

    assert main(["fit", str(config), "--check", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert not out_dir.exists()  # nothing was fitted or written
    assert "--check" in out and "ln sigma" in out and "ln epsilon" in out
    assert "condition number" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("sigma") and "±" in ln)
    assert line.rstrip().endswith("nm")
    return out


def test_check_names_the_parameters_and_exits_0(tmp_path, capsys, monkeypatch):
    """The CLI path with the MD replaced by a linear model of the RDF (q = A·(σ, ε) on the
    40 bins) in which only σ + ε enters: `--check` must name that combination."""
    import spectrinv.fit as sf

    real = sf.identifiability
    a = np.stack([np.linspace(0, 1, 40)] * 2, axis=1)  # d q / d σ = d q / d ε

    def linear(potential, targets, **kw):
        targets = [
            eqx.tree_at(
                lambda t: (t.gradient, t.system.box), t, (LinearModel(a), None), is_leaf=_none
            )
            for t in targets
        ]
        return real(potential, targets, **kw)

    monkeypatch.setattr(sf, "identifiability", linear)
    out = _check_output(_config(tmp_path), tmp_path / "out", capsys)
    # relative directions: σ ≈ 0.33 nm and ε ≈ 0.91 kJ/mol enter as 0.33 δσ/σ + 0.91 δε/ε
    assert "NOT constrained by these targets" in out


def _none(x):
    return x is None


@pytest.mark.slow
def test_check_on_a_real_md_config(tmp_path, capsys):
    _check_output(_config(tmp_path), tmp_path / "out", capsys)


def test_compared_values_are_what_each_loss_compares():
    """The model curve on the experimental points with the dataset's σ (chi2), the loss's
    implied weights 1/N without one (mse), and the band centroids (peak position)."""
    from spectrinv.datasets import Table
    from spectrinv.fit._sensitivity import compared_values
    from spectrinv.losses import ChiSquared, MeanSquaredError, PeakPosition, Reference

    x = np.linspace(1000.0, 2000.0, 21)
    y = np.exp(-(((x - 1500) / 80) ** 2))
    data = Table(
        Quantity(x, "1/cm"), Quantity(y, "1/cm"), uncertainty=Quantity(0.1 + 0 * x, "1/cm")
    )
    ref = Reference(data, x_unit="1/cm", y_unit="1/cm")
    xm = np.linspace(900.0, 2100.0, 301)
    ym = np.exp(-(((xm - 1520) / 80) ** 2))
    (c,) = compared_values(ChiSquared(ref), (xm, ym), None, "t")
    np.testing.assert_allclose(c.values, np.interp(x, xm, ym))
    np.testing.assert_allclose(c.data_sigma, 0.1)
    plain = Reference(Table(Quantity(x, "1/cm"), Quantity(y, "1/cm")), x_unit="1/cm", y_unit="1/cm")
    (m,) = compared_values(2.0 * MeanSquaredError(plain), (xm, ym), None, "t")
    assert m.data_sigma is None
    np.testing.assert_allclose(m.weights, 2.0 / x.size)  # L = (2/N) Σ (q - d)²
    win = [(Quantity(1300, "1/cm"), Quantity(1700, "1/cm"))]
    (p,) = compared_values(PeakPosition(plain, windows=win), (xm, ym), None, "t")
    assert p.values.shape == (1,) and p.values[0] == pytest.approx(1520, abs=1)
    np.testing.assert_allclose(p.weights, 1.0)
