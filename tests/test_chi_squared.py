"""χ² with the experimental and the simulation uncertainty combined in quadrature: analytic
values (σ² = σ_exp² + σ_sim² written out here with NumPy), the gradient of a fixed-weight χ²
(σ_sim is not differentiated), scalar targets, units, bad uncertainties, and χ² as the
default loss of a config whose dataset has uncertainties."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

from observables import AbstractResult, Quantity, TransportResult, UnitError
from spectrinv.datasets import Dataset
from spectrinv.fit import ConfigError, parse_config
from spectrinv.losses import (
    ChiSquared,
    LossError,
    LossSum,
    MeanSquaredError,
    Reference,
    RelativeError,
)

UNITS = dict(x_unit="1/cm", y_unit="1/cm")


class Curve(AbstractResult):
    """A minimal curve result with a standard error, read only through the result protocol."""

    x_magnitude: Array
    y_magnitude: Array
    error_magnitude: Array | None
    x_unit: str = eqx.field(static=True, default="1/cm")
    y_unit: str = eqx.field(static=True, default="1/cm")
    density: bool = eqx.field(static=True, default=False)


def transport(value, error, unit="mPa*s"):
    return TransportResult(
        y_magnitude=jnp.asarray(value),
        error_magnitude=None if error is None else jnp.asarray(error),
        running_magnitude=jnp.zeros(2),
        correlation_magnitude=jnp.zeros(2),
        cutoff_magnitude=jnp.asarray(1.0),
        timestep=jnp.asarray(0.5),
        y_unit=unit,
        correlation_unit="bar**2",
        n_blocks=5,
        method="test",
    )


X_EXP = np.linspace(1000.0, 2000.0, 51)  # 20 cm^-1 steps
Y_EXP = 1.0 + 0.5 * np.sin(X_EXP / 90.0)
SIGMA_EXP = 0.02 + 0.01 * Y_EXP
X_MODEL = np.linspace(900.0, 2100.0, 601)  # 2 cm^-1 steps: every data point is a model point


def curve_data(sigma=SIGMA_EXP):
    return Dataset(
        x=Quantity(X_EXP, "1/cm"),
        y=Quantity(Y_EXP, "1/cm"),
        uncertainty=None if sigma is None else Quantity(sigma, "1/cm"),
        name="toy",
    )


def model_curve(scale=1.0):
    """y = (1 + 0.5 sin(x/90)) (1 + 0.03 (x - 1500)/500), σ_sim = 0.01 + 2e-5 (x - 900):
    linear in x, so its linear interpolation onto the data points is exact."""
    y = (1.0 + 0.5 * np.sin(X_MODEL / 90.0)) * (1.0 + 0.03 * (X_MODEL - 1500.0) / 500.0)
    err = 0.01 + 2e-5 * (X_MODEL - 900.0)
    return Curve(jnp.asarray(X_MODEL), jnp.asarray(scale * y), jnp.asarray(err))


def by_hand(x_exp, y_exp, sigma_exp, y_model_fn, sim_err_fn):
    """Reduced χ² with σ² = σ_exp² + σ_sim², written out independently of the loss."""
    resid = y_model_fn(x_exp) - y_exp
    return float(np.mean(resid**2 / (sigma_exp**2 + sim_err_fn(x_exp) ** 2)))


def model_y(x):
    return (1.0 + 0.5 * np.sin(x / 90.0)) * (1.0 + 0.03 * (x - 1500.0) / 500.0)


def model_err(x):
    return 0.01 + 2e-5 * (x - 900.0)


# ------------------------------------------------------------------------------- curves
def test_curve_chi2_combines_errors_in_quadrature():
    ref = Reference(curve_data(), **UNITS)
    pred = model_curve()
    combined = by_hand(X_EXP, Y_EXP, SIGMA_EXP, model_y, model_err)
    exp_only = by_hand(X_EXP, Y_EXP, SIGMA_EXP, model_y, lambda x: 0 * x)
    assert float(ChiSquared(ref)(pred)) == pytest.approx(combined, rel=1e-10)
    off = ChiSquared(ref, include_simulation_error=False)
    assert float(off(pred)) == pytest.approx(exp_only, rel=1e-10)
    # no error on the prediction (plain (x, y) arrays, or error_magnitude None): σ_exp alone
    assert float(ChiSquared(ref)((pred.x_magnitude, pred.y_magnitude))) == pytest.approx(
        exp_only, rel=1e-10
    )
    no_err = Curve(pred.x_magnitude, pred.y_magnitude, None)
    assert float(ChiSquared(ref)(no_err)) == pytest.approx(exp_only, rel=1e-10)
    assert combined < 0.8 * exp_only  # the simulation error matters at this size
    # the same under jit
    assert float(eqx.filter_jit(ChiSquared(ref))(pred)) == pytest.approx(combined, rel=1e-10)


def test_curve_chi2_with_relative_uncertainty_and_x_range():
    ds = curve_data(sigma=None)
    ref = Reference(ds, **UNITS, x_range=(Quantity(1200, "1/cm"), Quantity(1800, "1/cm")))
    keep = (X_EXP >= 1200) & (X_EXP <= 1800)
    expected = by_hand(X_EXP[keep], Y_EXP[keep], 0.05 * np.abs(Y_EXP[keep]), model_y, model_err)
    loss = ChiSquared(ref, relative_uncertainty=0.05)
    assert float(loss(model_curve())) == pytest.approx(expected, rel=1e-10)


def test_simulation_error_is_not_differentiated():
    """d χ²/dθ for y = θ y0, σ_sim = θ s0 (a noisier simulation as θ grows) is the gradient
    of the χ² with the weights frozen at θ0: mean(2 (θ y0 - y_exp) y0 / (σ_exp² + θ0² s0²))."""
    ref = Reference(curve_data(), **UNITS)
    loss = ChiSquared(ref)
    base = model_curve()

    def total(theta):
        return loss(Curve(base.x_magnitude, theta * base.y_magnitude, theta * base.error_magnitude))

    theta0 = 1.1
    y0, s0 = model_y(X_EXP), model_err(X_EXP)
    frozen = SIGMA_EXP**2 + theta0**2 * s0**2
    expected = np.mean(2 * (theta0 * y0 - Y_EXP) * y0 / frozen)
    assert float(jax.grad(total)(theta0)) == pytest.approx(expected, rel=1e-10)
    # differentiating the weights too would give a different number (the test can fail)
    with_weights = expected - np.mean((theta0 * y0 - Y_EXP) ** 2 * 2 * theta0 * s0**2 / frozen**2)
    assert abs(with_weights - expected) > 0.01 * abs(expected)  # 3.6 % here, >> 1e-10
    # the gradient with respect to the error field itself is exactly zero
    g = jax.grad(lambda p: loss(p))(base)
    assert np.all(np.asarray(g.error_magnitude) == 0.0)
    assert np.any(np.asarray(g.y_magnitude) != 0.0)


# ------------------------------------------------------------------------------- values
def test_scalar_chi2_of_a_transport_result():
    ref = Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s", uncertainty=Quantity(0.02, "mPa*s"))
    loss = ChiSquared(ref)
    expected = (0.95 - 0.89) ** 2 / (0.02**2 + 0.03**2)
    assert float(loss(transport(0.95, 0.03))) == pytest.approx(expected, rel=1e-12)
    assert float(loss(transport(0.95, None))) == pytest.approx((0.06 / 0.02) ** 2, rel=1e-12)
    assert float(loss(jnp.asarray(0.95))) == pytest.approx((0.06 / 0.02) ** 2, rel=1e-12)
    terms = loss.terms(transport(0.95, 0.03))
    assert float(terms["chi2/sigma"]) == pytest.approx(np.hypot(0.02, 0.03), rel=1e-12)
    assert float(terms["chi2/model"]) == pytest.approx(0.95)


def test_scalar_chi2_interpolates_the_dataset_and_converts_units():
    """Data 1.0 ± 0.02 mPa s at 290 K, 0.8 ± 0.04 at 300 K: at 295 K, 0.9 ± 0.03. The
    prediction, 0.95e-3 ± 0.04e-3 Pa s, is 0.95 ± 0.04 mPa s: χ² = 0.05² / (0.03² + 0.04²) = 1."""
    ds = Dataset(
        x=Quantity([290.0, 300.0], "K"),
        y=Quantity([1.0, 0.8], "mPa*s"),
        uncertainty=Quantity([0.02, 0.04], "mPa*s"),
        name="eta",
    )
    loss = ChiSquared(Reference(ds, y_unit="mPa*s", at=Quantity(295.0, "K")))
    assert float(loss(transport(0.95e-3, 0.04e-3, unit="Pa*s"))) == pytest.approx(1.0, rel=1e-10)


def test_labelled_values_chi2():
    ds = Dataset(
        y=Quantity([165.7, 63.9, 79.6], "GPa"),
        labels=("C11", "C12", "C44"),
        uncertainty=Quantity([1.0, 0.5, 0.4], "GPa"),
        name="si",
    )
    loss = ChiSquared(Reference(ds, y_unit="GPa", label=("C11", "C44")))
    pred = jnp.asarray([167.7, 79.0])
    assert float(loss(pred)) == pytest.approx(((2.0 / 1.0) ** 2 + (0.6 / 0.4) ** 2) / 2, rel=1e-12)
    assert float(loss.terms(pred)["chi2/C44_sigma"]) == pytest.approx(0.4)


def test_a_value_without_uncertainty_names_the_fix():
    ref = Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s")
    with pytest.raises(LossError, match=r"no uncertainty.*relative_uncertainty=0\.05"):
        ChiSquared(ref)
    loss = ChiSquared(ref, relative_uncertainty=0.05)
    assert float(loss(jnp.asarray(0.9345))) == pytest.approx(1.0, rel=1e-10)


def test_a_zero_value_is_fine_for_chi2_not_for_a_relative_error():
    ref = Reference(Quantity(0.0, "bar"), y_unit="bar", uncertainty=Quantity(0.5, "bar"))
    assert float(ChiSquared(ref)(jnp.asarray(1.0))) == pytest.approx(4.0, rel=1e-12)
    with pytest.raises(LossError, match=r"must be non-zero.*ChiSquared"):
        RelativeError(ref)


# ---------------------------------------------------------------------------- bad input
def test_simulation_error_in_other_units_names_both():
    ref = Reference(curve_data(), **UNITS)
    pred = Curve(jnp.asarray(X_MODEL), jnp.ones(601), jnp.ones(601), y_unit="nm")
    with pytest.raises(UnitError, match=r"nm.*1/cm"):
        ChiSquared(ref)(pred)
    value = ChiSquared(
        Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s", uncertainty=Quantity(0.02, "mPa*s"))
    )
    with pytest.raises(UnitError, match=r"m²/s.*cannot be converted to mPa·s"):
        value(transport(2e-9, 1e-10, unit="m^2/s"))


@pytest.mark.parametrize("bad", [0.0, -0.01, np.nan])
def test_zero_negative_or_nan_experimental_sigma(bad):
    ref = Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s", uncertainty=Quantity(bad, "mPa*s"))
    with pytest.raises(LossError, match=r"uncertainty of .* is (0|-0\.01|nan) mPa.*> 0 and finite"):
        ChiSquared(ref)


def test_zero_sigma_on_a_curve_names_the_point():
    sigma = SIGMA_EXP.copy()
    sigma[3] = 0.0  # a Dataset itself refuses negative and NaN uncertainties
    with pytest.raises(LossError, match=r"is 0 1/cm at x = 1060 1/cm.*> 0 and finite"):
        ChiSquared(Reference(curve_data(sigma), **UNITS))
    # an assumed relative σ vanishes where the data do
    zero = Dataset(x=Quantity(X_EXP, "1/cm"), y=Quantity(np.sin(X_EXP / 90.0) * 0, "1/cm"))
    with pytest.raises(LossError, match=r"is 0 1/cm at x = 1000 1/cm"):
        ChiSquared(Reference(zero, **UNITS), relative_uncertainty=0.05)


@pytest.mark.parametrize("bad", [-0.01, np.nan])
def test_negative_or_nan_simulation_error(bad):
    ref = Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s", uncertainty=Quantity(0.02, "mPa*s"))
    with pytest.raises(LossError, match=r"standard error must be finite and >= 0"):
        ChiSquared(ref)(transport(0.95, bad))
    with pytest.raises(Exception, match=r"standard error must be finite and >= 0"):
        jax.block_until_ready(eqx.filter_jit(ChiSquared(ref))(transport(0.95, bad)))
    # without the simulation error the same prediction is fine
    assert np.isfinite(float(ChiSquared(ref, include_simulation_error=False)(transport(0.95, bad))))


def test_bad_options():
    ref = Reference(curve_data(), **UNITS)
    with pytest.raises(ValueError, match="has its own uncertainty"):
        ChiSquared(ref, relative_uncertainty=0.05)
    with pytest.raises(TypeError, match="include_simulation_error must be True or False"):
        ChiSquared(ref, include_simulation_error="yes")
    with pytest.raises(ValueError, match="relative_uncertainty must be finite and > 0"):
        ChiSquared(Reference(curve_data(None), **UNITS), relative_uncertainty=-1)
    with pytest.raises(TypeError, match="takes a Reference"):
        ChiSquared(curve_data())
    with pytest.raises(ValueError, match="uncertainty= is for an experimental value"):
        Reference(curve_data(), **UNITS, uncertainty=Quantity(1.0, "1/cm"))


# ------------------------------------------------------------------------------- config
def _raw(dataset, observable="rdf", **target):
    options = {"r_max": "0.55 nm", "bins": 40} if observable == "rdf" else {"max_lag": "0.1 ps"}
    return {
        "fit": {"steps": 1, "precision": "float64"},
        "model": {
            "kind": "lennard_jones",
            "sigma": "3.4 angstrom",
            "epsilon": "120 K",
            "cutoff": "0.55 nm",
        },
        "targets": [
            {
                "name": "t",
                "dataset": dataset,
                "observable": observable,
                "temperature": "90 K",
                "system": {"cells": 2, "density": "1409.5 kg/m**3"},
                "observable_options": options,
                "gradient": {"kind": "bptt", "length": "0.05 ps"},
                **target,
            }
        ],
    }


@pytest.fixture
def folder(tmp_path):
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    rows = [f"{a:.6f},{b:.6f},{0.02 + 0.05 * b:.6f}" for a, b in zip(r, g, strict=True)]
    (tmp_path / "gr.csv").write_text("\n".join(["r,g,dg", *rows]) + "\n")
    eta = ["T,eta,deta", "85,0.30,0.006", "95,0.24,0.005"]
    (tmp_path / "eta.csv").write_text("\n".join(eta) + "\n")
    return tmp_path


RDF_FILE = {"file": "gr.csv", "x": "r", "y": "g", "x_unit": "nm", "y_unit": "dimensionless"}
ETA_FILE = {"file": "eta.csv", "x": "T", "y": "eta", "x_unit": "K", "y_unit": "mPa*s"}


def _loss(raw, folder):
    return parse_config(raw, base=folder).targets[0].objective.loss


def test_config_default_is_chi2_when_the_dataset_has_uncertainties(folder):
    with_errors = {**RDF_FILE, "uncertainty": "dg"}
    loss = _loss(_raw(with_errors), folder)
    assert isinstance(loss, ChiSquared) and loss.include_simulation_error
    g = np.ones(40)  # g = 1 on the RDF's bins; a plain array carries no simulation error
    r = np.linspace(0.2, 0.53, 34)
    g_exp = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    sigma = 0.02 + 0.05 * g_exp
    assert float(loss(g)) == pytest.approx(np.mean(((1 - g_exp) / sigma) ** 2), rel=1e-4)
    # explicit choices are respected
    assert isinstance(_loss(_raw(with_errors, loss="mse"), folder), MeanSquaredError)
    off = _loss(_raw(with_errors, include_simulation_error=False), folder)
    assert isinstance(off, ChiSquared) and not off.include_simulation_error
    weighted = _loss(_raw(with_errors, weight=0.5), folder)
    assert isinstance(weighted, LossSum) and isinstance(weighted.losses[0], ChiSquared)


def test_config_without_uncertainties_needs_a_loss(folder):
    with pytest.raises(ConfigError, match=r"no loss given.*'gr'.*no uncertainty.*'mse'"):
        _loss(_raw(RDF_FILE), folder)
    assert isinstance(_loss(_raw(RDF_FILE, loss="mse"), folder), MeanSquaredError)
    peak = {"x_range": [["0.34 nm", "0.53 nm"]]}  # g > 0 there, so 10 % of it is > 0
    assumed = _loss(_raw(RDF_FILE, loss="chi2", relative_uncertainty=0.1, **peak), folder)
    assert isinstance(assumed, ChiSquared) and assumed.relative_uncertainty == 0.1
    with pytest.raises(ConfigError, match=r"relative_uncertainty applies to loss 'chi2' only"):
        _loss(_raw(RDF_FILE, loss="mse", relative_uncertainty=0.1), folder)
    with pytest.raises(ConfigError, match=r"chi2.*no uncertainty.*relative_uncertainty"):
        _loss(_raw(RDF_FILE, loss="chi2"), folder)


def test_config_default_chi2_for_a_transport_value(folder):
    """Viscosity 0.30 ± 0.006 mPa s at 85 K, 0.24 ± 0.005 at 95 K: at the 90 K of the target,
    0.27 ± 0.0055 mPa s."""
    loss = _loss(_raw({**ETA_FILE, "uncertainty": "deta"}, observable="shear_viscosity"), folder)
    assert isinstance(loss, ChiSquared) and not loss.reference.is_curve
    expected = (0.28 - 0.27) ** 2 / (0.0055**2 + 0.004**2)
    assert float(loss(transport(0.28, 0.004))) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ConfigError, match="no loss given"):
        _loss(_raw(ETA_FILE, observable="shear_viscosity"), folder)
