"""`BandIntensity` (integrated band intensities) and composite config losses."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from observables import IRSpectrum, Quantity, Spectrum
from spectrinv.datasets import Dataset
from spectrinv.fit._config_objective import build_losses
from spectrinv.fit._config_schema import ConfigError
from spectrinv.fit._sensitivity import compared_values
from spectrinv.losses import BandIntensity, LossError, LossSum, Reference, band_intensity

UNITS = dict(x_unit="1/cm", y_unit="1/cm")
MODEL_X = np.linspace(900.0, 2100.0, 2401)
WINDOWS = [
    (Quantity(1100.0, "1/cm"), Quantity(1400.0, "1/cm")),
    (Quantity(1500.0, "1/cm"), Quantity(1900.0, "1/cm")),
]


def gauss(x, mu, sigma, amp=1.0):
    return amp * np.exp(-((x - mu) ** 2) / (2 * sigma**2))


def two_bands(x, a1=1.0, a2=2.0, mu1=1250.0, mu2=1700.0):
    return gauss(x, mu1, 20.0, a1) + gauss(x, mu2, 30.0, a2)


def dataset():
    x = np.linspace(1000.0, 2000.0, 401)
    return Dataset(
        x=Quantity(x, "1/cm"), y=Quantity(two_bands(x), "1/cm"), name="toy", quantity="n_alpha"
    )


def spectrum(y, x=MODEL_X):
    return Spectrum.from_arrays(jnp.asarray(x), jnp.asarray(y), x_unit="1/cm", y_unit="1/cm")


def loss():
    return BandIntensity(Reference(dataset(), **UNITS), windows=WINDOWS, band_names=["a", "b"])


def test_integrals_of_gaussian_bands_are_amp_sigma_sqrt_2pi():
    terms = loss().terms(spectrum(two_bands(MODEL_X, a1=1.2, a2=2.0)))
    # the windows hold >= 7.5 sigma of each band: the Gaussian tails outside are < 1e-12
    assert float(terms["band_intensity/a_exp"]) == pytest.approx(20 * math.sqrt(2 * math.pi), 1e-4)
    assert float(terms["band_intensity/b_exp"]) == pytest.approx(60 * math.sqrt(2 * math.pi), 1e-4)
    assert float(terms["band_intensity/a_model"]) == pytest.approx(
        24 * math.sqrt(2 * math.pi), 1e-4
    )
    # relative errors 0.2 and 0: mean of squares
    assert float(terms["band_intensity"]) == pytest.approx(0.2**2 / 2, rel=1e-3)


def test_baseline_subtraction_removes_a_linear_background():
    ref = Reference(dataset(), **UNITS)
    bi = BandIntensity(ref, windows=WINDOWS, subtract_baseline=True)
    background = 0.5 + 1e-3 * (MODEL_X - 1000.0)
    val = float(bi(spectrum(two_bands(MODEL_X) + background)))
    assert val == pytest.approx(0.0, abs=1e-6)
    without = BandIntensity(ref, windows=WINDOWS)(spectrum(two_bands(MODEL_X) + background))
    assert float(without) > 1.0  # the background's area (150-400 per window) dominates


def test_gradient_in_the_amplitude_is_analytic():
    bi = loss()

    def f(s):
        return bi(spectrum(jnp.asarray(two_bands(MODEL_X, a1=1.0, a2=2.0)) * s))

    s = 1.3
    assert float(jax.grad(f)(s)) == pytest.approx(2 * (s - 1.0), rel=1e-4)


@settings(max_examples=20, deadline=None)
@given(shift=st.floats(-60.0, 60.0), scale=st.floats(0.2, 5.0))
def test_intensity_ignores_band_position_and_scales_with_amplitude(shift, scale):
    """Moving a band inside its window leaves its integral; scaling all intensities by s
    gives the loss (s - 1)^2 exactly."""
    bi = loss()
    y = two_bands(MODEL_X, a1=scale, a2=2.0 * scale, mu1=1250.0 + shift, mu2=1700.0 + shift)
    assert float(bi(spectrum(y))) == pytest.approx((scale - 1.0) ** 2, rel=1e-3, abs=1e-9)


def test_numpy_and_jax_give_the_same_integral():
    x = np.linspace(0.0, 10.0, 101)
    y = np.sin(x) ** 2
    a = band_intensity(x, y, 1.0, 9.0, resolution=256, subtract_baseline=False)
    b = band_intensity(
        jnp.asarray(x), jnp.asarray(y), 1.0, 9.0, resolution=256, subtract_baseline=False
    )
    assert isinstance(a, np.floating | float) and float(a) == pytest.approx(float(b), rel=1e-12)
    exact = 4.0 - (math.sin(18.0) - math.sin(2.0)) / 4.0  # ∫_1^9 sin² = 4 - (sin 18 - sin 2)/4
    assert float(a) == pytest.approx(exact, rel=2e-3)


def test_bad_windows_and_models_are_refused():
    ref = Reference(dataset(), **UNITS)
    with pytest.raises(LossError, match="BandIntensity: window 1 .* lies outside"):
        BandIntensity(ref, windows=[(Quantity(900.0, "1/cm"), Quantity(1100.0, "1/cm"))])
    with pytest.raises(LossError, match="BandIntensity: window 1 .* holds 1 point"):
        BandIntensity(ref, windows=[(Quantity(1500.0, "1/cm"), Quantity(1502.0, "1/cm"))])
    with pytest.raises(ValueError, match="2 distinct names"):
        BandIntensity(ref, windows=WINDOWS, band_names=["a", "a"])
    short = np.linspace(1200.0, 1800.0, 601)
    with pytest.raises(LossError, match="model covers only"):
        loss()(spectrum(two_bands(short), x=short))


def test_sensitivity_compares_the_intensities_with_relative_weights():
    bi = loss()
    pred = spectrum(two_bands(MODEL_X, a1=1.5))
    (c,) = compared_values(bi, pred, None, "ir")
    e = np.array([20, 60]) * math.sqrt(2 * math.pi)
    np.testing.assert_allclose(c.values, [30 * math.sqrt(2 * math.pi), e[1]], rtol=1e-4)
    np.testing.assert_allclose(c.weights, 1.0 / (2 * e**2), rtol=1e-4)


# ---------------------------------------------------------------- [[targets.losses]] in a config
def _water_ir():
    from spectrinv.datasets import load_dataset

    return load_dataset("water_segelstein_298K"), IRSpectrum(Quantity(298.15, "K"))


def test_config_losses_build_a_sum_of_terms():
    ds, obs = _water_ir()
    t = {
        "losses": [
            {"loss": "mse", "weight": 1e-8, "x_range": [["500 1/cm", "3900 1/cm"]]},
            {"loss": "band_intensity", "windows": [["1200 1/cm", "1900 1/cm"]], "weight": 2.0},
            {"loss": "peak_position", "windows": [["1450 1/cm", "1850 1/cm"]]},
        ]
    }
    total = build_losses(t, ds, obs, Quantity(298.15, "K"), "[[targets]] 1")
    assert isinstance(total, LossSum)
    assert list(total.names) == ["mse", "band_intensity", "peak_position"]
    assert list(total.weights) == [1e-8, 2.0, 1.0]


@pytest.mark.parametrize(
    ("t", "match"),
    [
        ({"losses": []}, "a list of tables"),
        ({"losses": [{"weight": 1.0}]}, "missing|loss"),
        ({"losses": [{"loss": "band_intensity"}]}, "needs windows"),
        (
            {"losses": [{"loss": "mse"}, {"loss": "mse"}]},
            "appears twice",
        ),
        ({"losses": [{"loss": "mse"}], "weight": 2.0}, "weight belong in"),
        ({"losses": [{"loss": "mse", "frames": 3}]}, "frames"),
        ({"losses": [{"loss": "msa"}]}, "msa"),
    ],
)
def test_config_losses_bad_input(t, match):
    ds, obs = _water_ir()
    with pytest.raises(ConfigError, match=match):
        build_losses(t, ds, obs, Quantity(298.15, "K"), "[[targets]] 1")


# ------------------------------------------------------- band centroid beyond a window edge
def test_peak_position_of_a_band_that_left_its_window_is_beyond_the_edge():
    """A model band whose maximum lies below the window: the curve falls through the whole
    window, nothing is above the edge-to-edge baseline, and the position is reported half
    a window below the lower edge (finite, a higher loss than any position inside, no
    gradient); a band above the window is reported half a window above the upper edge."""
    from spectrinv.losses import PeakPosition

    ref = Reference(dataset(), **UNITS)
    window = [(Quantity(1550.0, "1/cm"), Quantity(1850.0, "1/cm"))]
    pp = PeakPosition(ref, windows=window)

    def model(mu):
        x = jnp.asarray(MODEL_X)
        return spectrum(2.0 * jnp.exp(-((x - mu) ** 2) / (2 * 30.0**2)))

    for mu, where in ((1480.0, 1550.0 - 150.0), (1950.0, 1850.0 + 150.0)):
        terms = pp.terms(model(mu))
        assert float(terms["peak_position/peak_1_model"]) == pytest.approx(where, abs=1e-9)
    # inside, near the edge, the loss is smaller than outside
    assert float(pp(model(1560.0))) < float(pp(model(1480.0)))
    grad = jax.grad(lambda mu: pp(model(mu)))(1480.0)
    assert np.isfinite(float(grad))
