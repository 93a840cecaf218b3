"""Losses: analytic values, properties, units, gradients, jit/vmap, bad input, real observables.

Expected values come from closed forms (Gaussian overlap integrals, W1 of a shift, truncated
normal means) or from independent NumPy formulas, never from the code under test.
"""

import inspect
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats
from _systems import rotating_ou_dipole, wavenumber_to_omega
from hypothesis import given, settings, strategies as st

from observables import (
    RDF,
    VDOS,
    IRSpectrum,
    Quantity,
    RDFResult,
    ShearViscosity,
    Spectrum,
    Trajectory,
    TransportResult,
    UnitError,
)
from spectrinv.datasets import Dataset, load_dataset
from spectrinv.gradients import Objective
from spectrinv.losses import (
    Absolute,
    AbstractLoss,
    AreaNormalised,
    ChiSquared,
    LossError,
    LossSum,
    MeanSquaredError,
    PeakNormalised,
    PeakPosition,
    Reference,
    RelativeError,
    Wasserstein1,
    as_curve,
    observable_units,
)

CM_PER_THZ_EXACT = 1e12 / 29979245800.0  # 1 THz = 33.356... cm^-1 (c = 299792458 m/s)
UNITS = dict(x_unit="1/cm", y_unit="1/cm")


def gauss(x, mu, sigma, amp=1.0):
    return amp * np.exp(-((x - mu) ** 2) / (2 * sigma**2))


def spectrum(x, y, x_unit="1/cm", y_unit="1/cm"):
    return Spectrum.from_arrays(jnp.asarray(x), jnp.asarray(y), x_unit=x_unit, y_unit=y_unit)


def band_dataset(mu=1500.0, sigma=30.0, lo=1000.0, hi=2000.0, n=201, uncertainty=None, **kw):
    x = np.linspace(lo, hi, n)
    unc = None if uncertainty is None else Quantity(uncertainty, "1/cm")
    return Dataset(
        x=Quantity(x, "1/cm"),
        y=Quantity(gauss(x, mu, sigma), "1/cm"),
        uncertainty=unc,
        name="toy_band",
        quantity="n_alpha",
        **kw,
    )


MODEL_X = np.linspace(900.0, 2100.0, 2401)  # 0.5 cm^-1 steps, covers the toy dataset


# ------------------------------------------------------------------------- analytic values
def test_mse_of_shifted_gaussians_matches_overlap_integral():
    """MSE = (1/N) sum (g1 - g2)^2 -> (1/(N h)) * 2 sigma sqrt(pi) (1 - exp(-D^2 / 4 sigma^2))."""
    sigma, delta, amp = 30.0, 20.0, 2.5
    ds = Dataset(
        x=Quantity(np.linspace(1000, 2000, 201), "1/cm"),
        y=Quantity(gauss(np.linspace(1000, 2000, 201), 1500, sigma, amp), "1/cm"),
    )
    loss = MeanSquaredError(Reference(ds, **UNITS))
    pred = spectrum(MODEL_X, gauss(MODEL_X, 1500 + delta, sigma, amp))
    integral = (
        amp**2 * 2 * sigma * math.sqrt(math.pi) * (1 - math.exp(-(delta**2) / (4 * sigma**2)))
    )
    expected = integral / (201 * 5.0)
    # linear interpolation from a 0.5 cm^-1 model grid: error ~ h^2 g''/8 ~ 1e-4 relative
    assert float(loss(pred)) == pytest.approx(expected, rel=1e-3)


@settings(max_examples=15)
@given(shift=st.floats(-120.0, 120.0), sigma=st.floats(15.0, 60.0))
def test_w1_of_shifted_band_equals_shift(shift, sigma):
    """W1 between a distribution and its translate is |shift| (any band shape, any scale)."""
    loss = Wasserstein1(Reference(band_dataset(mu=1500.0, sigma=sigma), **UNITS))
    w1 = float(loss(spectrum(MODEL_X, 3.7 * gauss(MODEL_X, 1500 + shift, sigma))))
    # measured: |error| < 1e-12 inside the grid, 5e-8 from the tails cut at 1000/2000 cm^-1
    assert w1 == pytest.approx(abs(shift), abs=1e-6)


def test_w1_of_two_gaussians_of_different_width():
    """W1 between N(mu1, s1) and N(mu2, s2) = int |F1 - F2| dx, here from scipy's normal
    CDFs on a fine grid (independent of the code)."""
    ds = band_dataset(mu=1400.0, sigma=40.0)
    loss = Wasserstein1(Reference(ds, **UNITS))
    fine = np.linspace(0.0, 3000.0, 300001)
    diff = np.abs(scipy.stats.norm.cdf(fine, 1450, 70) - scipy.stats.norm.cdf(fine, 1400, 40))
    expected = np.trapezoid(diff, fine)
    # 5 cm^-1 data grid: trapezoid CDFs, measured 5.5e-5 relative
    assert float(loss(spectrum(MODEL_X, gauss(MODEL_X, 1450, 70)))) == pytest.approx(
        expected, rel=2e-4
    )


def test_chi_squared_with_known_sigma():
    """Model = data + c sigma_i on the data grid: chi^2/N = c^2 exactly; sigma given in 1/m."""
    x = np.linspace(1000, 2000, 201)
    y = gauss(x, 1500, 80) + 0.2
    sigma_cm = 0.01 + 0.05 * y
    ds = Dataset(
        x=Quantity(x, "1/cm"),
        y=Quantity(y * 100, "1/m"),
        uncertainty=Quantity(sigma_cm * 100, "1/m"),
    )
    loss = ChiSquared(Reference(ds, **UNITS))
    for c in (0.0, 0.5, 2.0):
        pred = spectrum(x, y + c * sigma_cm * np.where(np.arange(201) % 2, 1, -1))
        assert float(loss(pred)) == pytest.approx(c**2, rel=1e-10, abs=1e-20)


def test_chi_squared_relative_uncertainty():
    x = np.linspace(1000, 2000, 201)
    y = 1.0 + 0.5 * np.sin(x / 100)
    ds = Dataset(x=Quantity(x, "1/cm"), y=Quantity(y, "1/cm"))
    loss = ChiSquared(Reference(ds, **UNITS), relative_uncertainty=0.1)
    assert float(loss(spectrum(x, 1.05 * y))) == pytest.approx(0.25, rel=1e-12)


def test_peak_position_of_gaussian_band_is_its_centre():
    ds = band_dataset(mu=1480.0, sigma=25.0)
    window = (Quantity(1330.0, "1/cm"), Quantity(1630.0, "1/cm"))  # symmetric about 1480
    loss = PeakPosition(Reference(ds, **UNITS), windows=[window], band_names=["bend"])
    # a baseline (linear background) must not move the baseline-subtracted centroid
    pred = spectrum(MODEL_X, gauss(MODEL_X, 1510.0, 25.0) + 0.3 + 1e-4 * MODEL_X)
    terms = loss.terms(pred)
    assert float(terms["peak_position/bend_exp"]) == pytest.approx(1480.0, abs=1e-6)
    # window symmetric about 1480, not about 1510: the truncated tail biases the model
    # centroid by less than sigma * phi(4.8) / Phi ~ 1e-4 cm^-1 (+ baseline of the tails)
    assert float(terms["peak_position/bend_model"]) == pytest.approx(1510.0, abs=0.05)
    assert float(terms["peak_position"]) == pytest.approx(30.0**2, rel=5e-3)


def test_peak_position_without_baseline_is_truncated_normal_mean():
    """No baseline, asymmetric window [a, b]: centroid = mu + s (phi(al) - phi(be)) / Z."""
    mu, s, a, b = 1500.0, 60.0, 1420.0, 1700.0
    ds = band_dataset(mu=mu, sigma=s)
    loss = PeakPosition(
        Reference(ds, **UNITS),
        windows=Quantity([a, b], "1/cm"),
        subtract_baseline=False,
        resolution=4096,
    )
    al, be = (a - mu) / s, (b - mu) / s
    z = scipy.stats.norm.cdf(be) - scipy.stats.norm.cdf(al)
    expected = mu + s * (scipy.stats.norm.pdf(al) - scipy.stats.norm.pdf(be)) / z
    assert float(loss.exp_positions[0]) == pytest.approx(expected, abs=0.05)
    assert abs(expected - mu) > 5  # the case is not trivially the centre


def test_peak_position_relative():
    ds = band_dataset(mu=1500.0, sigma=20.0)
    w = [(Quantity(1400.0, "1/cm"), Quantity(1600.0, "1/cm"))]
    loss = PeakPosition(Reference(ds, **UNITS), windows=w, relative=True)
    val = float(loss(spectrum(MODEL_X, gauss(MODEL_X, 1515.0, 20.0))))
    assert val == pytest.approx((15.0 / 1500.0) ** 2, rel=1e-2)


# --------------------------------------------------------------------------- properties
def _all_curve_losses(ds, **extra):
    win = [(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    return [
        MeanSquaredError(Reference(ds, **UNITS, **extra)),
        MeanSquaredError(Reference(ds, **UNITS, **extra), normalisation=AreaNormalised()),
        MeanSquaredError(Reference(ds, **UNITS, **extra), normalisation=PeakNormalised()),
        ChiSquared(Reference(ds, **UNITS, **extra), relative_uncertainty=0.05),
        Wasserstein1(Reference(ds, **UNITS, **extra)),
        PeakPosition(Reference(ds, **UNITS), windows=win),
    ]


@settings(max_examples=5)
@given(
    seed=st.integers(0, 2**31 - 1),
    mu=st.floats(1400.0, 1600.0),
    sigma=st.floats(20.0, 60.0),
)
def test_losses_are_nonnegative_and_zero_on_the_data(seed, mu, sigma):
    rng = np.random.default_rng(seed)
    ds = band_dataset(mu=1500.0, sigma=40.0)
    x = np.asarray(ds.x)
    y_exp = np.asarray(ds.y)
    for loss in _all_curve_losses(ds):
        # a random positive model on a fine grid
        noisy = gauss(MODEL_X, mu, sigma) * (1 + 0.1 * rng.random(MODEL_X.size)) + 0.01
        assert float(loss(spectrum(MODEL_X, noisy))) >= 0
        # the data itself, given on its own grid (exact under linear interpolation)
        assert float(loss(spectrum(x, y_exp))) == pytest.approx(0.0, abs=1e-20)
        # the data on a grid that contains the data points plus midpoints (still exact)
        xm = np.sort(np.concatenate([x, 0.5 * (x[1:] + x[:-1])]))
        assert float(loss(spectrum(xm, np.interp(xm, x, y_exp)))) == pytest.approx(0.0, abs=1e-18)


def test_pointwise_losses_are_positive_for_any_change_on_the_grid():
    ds = band_dataset()
    x, y = np.asarray(ds.x), np.asarray(ds.y)
    for loss in _all_curve_losses(ds)[:4]:
        for i in (0, 57, 200):
            bumped = y.copy()
            bumped[i] += 0.01
            assert float(loss(spectrum(x, bumped))) > 0, (loss.name, i)


@settings(max_examples=10)
@given(scale=st.floats(1e-3, 1e3), mu=st.floats(1450.0, 1550.0))
def test_shape_losses_ignore_the_model_scale(scale, mu):
    ds = band_dataset()
    y = gauss(MODEL_X, mu, 35.0) + 0.02
    for loss in [
        MeanSquaredError(Reference(ds, **UNITS), normalisation=AreaNormalised()),
        MeanSquaredError(Reference(ds, **UNITS), normalisation=PeakNormalised()),
        Wasserstein1(Reference(ds, **UNITS)),
        PeakPosition(
            Reference(ds, **UNITS), windows=[(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
        ),
    ]:
        a = float(loss(spectrum(MODEL_X, y)))
        b = float(loss(spectrum(MODEL_X, scale * y)))
        assert b == pytest.approx(a, rel=1e-9, abs=1e-15), loss


def test_absolute_mse_scales_quadratically():
    ds = band_dataset()
    loss = MeanSquaredError(Reference(ds, **UNITS), normalisation=Absolute())
    zero = float(loss(spectrum(MODEL_X, np.zeros_like(MODEL_X))))
    assert zero == pytest.approx(np.mean(np.asarray(ds.y) ** 2), rel=1e-12)


def _in_thz(ds):
    """The same dataset with x in THz (independent conversion with c = 299792458 m/s)."""
    return Dataset(
        x=Quantity(np.asarray(ds.x) / CM_PER_THZ_EXACT, "THz"),
        y=Quantity(np.asarray(ds.y) * 100.0, "1/m"),
        uncertainty=None
        if ds.uncertainty is None
        else Quantity(np.asarray(ds.uncertainty), "1/cm"),
        name=ds.name,
    )


@settings(max_examples=8)
@given(mu=st.floats(1420.0, 1580.0), sigma=st.floats(20.0, 50.0))
def test_dataset_in_thz_gives_the_same_loss_as_in_wavenumbers(mu, sigma):
    ds = band_dataset(uncertainty=np.full(201, 0.02))
    ds_thz = _in_thz(ds)
    pred = spectrum(MODEL_X, gauss(MODEL_X, mu, sigma))
    win_cm = [(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    win_thz = [
        (Quantity(1300.0 / CM_PER_THZ_EXACT, "THz"), Quantity(1700.0 / CM_PER_THZ_EXACT, "THz"))
    ]
    pairs = [
        (MeanSquaredError(Reference(ds, **UNITS)), MeanSquaredError(Reference(ds_thz, **UNITS))),
        (ChiSquared(Reference(ds, **UNITS)), ChiSquared(Reference(ds_thz, **UNITS))),
        (Wasserstein1(Reference(ds, **UNITS)), Wasserstein1(Reference(ds_thz, **UNITS))),
        (
            MeanSquaredError(Reference(ds, **UNITS), normalisation=AreaNormalised()),
            MeanSquaredError(Reference(ds_thz, **UNITS), normalisation=AreaNormalised()),
        ),
        (
            PeakPosition(Reference(ds, **UNITS), windows=win_cm),
            PeakPosition(Reference(ds_thz, **UNITS), windows=win_thz),
        ),
    ]
    for a, b in pairs:
        assert float(b(pred)) == pytest.approx(float(a(pred)), rel=1e-9, abs=1e-14), a


def test_prediction_in_thz_with_loss_built_for_thz():
    """A loss built for a THz axis (the observable's x_unit) converts the cm^-1 dataset."""
    ds = band_dataset()
    ir = IRSpectrum(Quantity(300, "K"), x_unit="THz")
    assert observable_units(ir)[:2] == ("THz", "1/cm")
    loss = Wasserstein1(Reference(ds, ir))
    ref = Wasserstein1(Reference(ds, **UNITS))
    y = gauss(MODEL_X, 1530.0, 30.0)
    w_thz = float(loss(spectrum(MODEL_X / CM_PER_THZ_EXACT, y, x_unit="THz")))
    assert w_thz * CM_PER_THZ_EXACT == pytest.approx(float(ref(spectrum(MODEL_X, y))), rel=1e-9)


# ---------------------------------------------------------------------------- gradients
def _fd_check(fn, y, idx, h=1e-6, rtol=1e-5):
    g = np.asarray(jax.grad(fn)(jnp.asarray(y)))
    for i in idx:
        e = np.zeros_like(y)
        e[i] = h
        fd = (float(fn(jnp.asarray(y + e))) - float(fn(jnp.asarray(y - e)))) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=rtol, abs=1e-9 * max(1.0, np.max(np.abs(g)))), i
    return g


@pytest.mark.parametrize(
    "make",
    [
        lambda ds: MeanSquaredError(Reference(ds, **UNITS)),
        lambda ds: MeanSquaredError(Reference(ds, **UNITS), normalisation=AreaNormalised()),
        lambda ds: MeanSquaredError(Reference(ds, **UNITS), normalisation=PeakNormalised()),
        lambda ds: ChiSquared(Reference(ds, **UNITS), relative_uncertainty=0.1),
        lambda ds: Wasserstein1(Reference(ds, **UNITS)),
        lambda ds: PeakPosition(
            Reference(ds, **UNITS), windows=[(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
        ),
        lambda ds: (
            2.0 * MeanSquaredError(Reference(ds, **UNITS)) + Wasserstein1(Reference(ds, **UNITS))
        ),
    ],
    ids=["mse", "mse-area", "mse-peak", "chi2", "w1", "peak", "sum"],
)
def test_gradient_wrt_prediction_matches_finite_differences(make):
    ds = band_dataset()
    loss = make(ds)
    xm = np.linspace(950.0, 2050.0, 331)  # not aligned with the data grid
    y = gauss(xm, 1530.0, 45.0) * (1.0 + 0.05 * np.sin(xm / 17.0)) + 0.01

    def fn(yy):
        return loss(spectrum(xm, yy))

    idx = [20, 150, 171, 180, 330]
    g = _fd_check(fn, y, idx)
    assert np.any(np.abs(g[idx]) > 0)


def test_relative_error_gradient():
    loss = RelativeError(Reference(Quantity(0.89, "mPa*s"), y_unit="mPa*s"))
    g = jax.grad(loss)(jnp.asarray(0.8))
    assert float(g) == pytest.approx(2 * (0.8 - 0.89) / 0.89**2, rel=1e-12)


# ------------------------------------------------------------------------ jit / vmap / grad
def test_jit_vmap_grad_agree_with_eager():
    """One compilation: vmap over a batch of Spectrum pytrees, and vmap of grad, under jit."""
    ds = band_dataset()
    win = [(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    loss = (
        MeanSquaredError(Reference(ds, **UNITS), normalisation=AreaNormalised())
        + ChiSquared(Reference(ds, **UNITS), relative_uncertainty=0.05)
        + 1e3 * Wasserstein1(Reference(ds, **UNITS))
        + PeakPosition(Reference(ds, **UNITS), windows=win)
    )

    def f(y):
        return loss(spectrum(MODEL_X, y))

    ys = jnp.asarray(np.stack([gauss(MODEL_X, m, 40.0) + 0.01 for m in (1480.0, 1530.0)]))
    eager = np.array([float(f(y)) for y in ys])

    @jax.jit
    def batched(ys):
        spectra = jax.vmap(lambda y: spectrum(MODEL_X, y))(ys)  # a batched Spectrum pytree
        return jax.vmap(loss)(spectra), jax.vmap(jax.grad(f))(ys)

    values, grads = batched(ys)
    np.testing.assert_allclose(np.asarray(values), eager, rtol=1e-12)
    # directional derivative of the jitted, vmapped gradient vs central differences (eager)
    v = jnp.asarray(np.random.default_rng(1).normal(size=MODEL_X.size))
    h = 1e-5
    for k in range(2):
        fd = (float(f(ys[k] + h * v)) - float(f(ys[k] - h * v))) / (2 * h)
        assert float(jnp.dot(grads[k], v)) == pytest.approx(fd, rel=1e-6)
    # the loss object itself is a pytree that eqx.filter_jit accepts
    w1 = Wasserstein1(Reference(ds, **UNITS))
    pred = spectrum(MODEL_X, ys[0])
    assert float(eqx.filter_jit(w1)(pred)) == pytest.approx(float(w1(pred)), rel=1e-12)


def test_range_error_under_jit_is_raised_at_runtime():
    ds = band_dataset()
    loss = MeanSquaredError(Reference(ds, **UNITS))
    short = np.linspace(1200.0, 2100.0, 300)
    with pytest.raises(LossError, match=r"\[1000, 2000\].*\[1200, 2100\]"):
        loss(spectrum(short, gauss(short, 1500, 30)))
    with pytest.raises(Exception, match="reaches beyond"):
        jax.jit(lambda y: loss(spectrum(short, y)))(jnp.asarray(gauss(short, 1500, 30)))


def test_float32_prediction_is_accepted():
    ds = band_dataset()
    loss = MeanSquaredError(Reference(ds, **UNITS))
    pred = spectrum(MODEL_X.astype(np.float32), gauss(MODEL_X, 1510, 30).astype(np.float32))
    val = loss(pred)
    assert val.dtype == jnp.float32
    ref = float(loss(spectrum(MODEL_X, gauss(MODEL_X, 1510, 30))))
    assert float(val) == pytest.approx(ref, rel=1e-4)


# ---------------------------------------------------------------------------- composition
def test_weights_sums_and_terms():
    ds = band_dataset()
    mse = MeanSquaredError(Reference(ds, **UNITS))
    w1 = Wasserstein1(Reference(ds, **UNITS))
    pk = 0.1 * PeakPosition(
        Reference(ds, **UNITS), windows=[(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    )
    pred = spectrum(MODEL_X, gauss(MODEL_X, 1520, 30))
    a, b, c = float(mse(pred)), float(w1(pred)), float(pk(pred))
    total = 0.5 * mse + w1 / 4 + pk
    assert isinstance(total, LossSum) and isinstance(pk, LossSum)
    # one flat sum: the weights sit in the sum, one per loss, the losses themselves are bare
    assert total.losses == (mse, w1, pk.losses[0]) and total.weights == (0.5, 0.25, 0.1)
    assert float(total(pred)) == pytest.approx(0.5 * a + 0.25 * b + c, rel=1e-12)
    terms = total.terms(pred)
    assert set(terms) == {
        "mse",
        "w1",
        "peak_position",
        "peak_position/peak_1_model",
        "peak_position/peak_1_exp",
    }
    assert float(terms["peak_position"]) == pytest.approx(c, rel=1e-12)
    assert all(np.shape(v) == () for v in terms.values())
    assert sum(float(v) for v in total.contributions(pred).values()) == pytest.approx(
        float(total(pred)), rel=1e-12
    )
    # repeated names get suffixes; sum() works
    twice = sum([mse, mse])
    assert set(twice.terms(pred)) == {"mse", "mse_2"}
    s = 2.0 * mse + 3.0 * w1
    assert float(s(pred)) == pytest.approx(2 * a + 3 * b, rel=1e-12)
    # scaling a sum scales every term, and sums never nest
    assert float((3 * (mse + w1))(pred)) == pytest.approx(3 * (a + b), rel=1e-12)
    assert float((3 * (mse + w1)).terms(pred)["w1"]) == pytest.approx(3 * b, rel=1e-12)
    nested = (mse + w1) + 2 * (mse + pk)
    assert nested.weights == (1.0, 1.0, 2.0, 0.2)
    assert not any(isinstance(loss, LossSum) for loss in nested.losses)
    with pytest.raises(ValueError, match="weight"):
        -1.0 * mse
    with pytest.raises(TypeError):
        mse * w1


def test_a_custom_loss_combines_like_the_built_in_ones():
    """Subclassing: set `name`, implement `evaluate`; `+`, `*` and `terms` come with it."""

    class Total(AbstractLoss):
        name: str = eqx.field(static=True, default="total")

        def evaluate(self, prediction):  # any AbstractResult: its y values
            y = prediction.y_magnitude
            return jnp.sum(y), {"first": y[0]}

    ds = band_dataset()
    x = np.asarray(ds.x)
    mse = MeanSquaredError(Reference(ds, **UNITS))
    loss = 2.0 * Total() + mse
    y = np.asarray(ds.y) + 0.1
    pred = spectrum(x, y)
    assert float(loss(pred)) == pytest.approx(2 * np.sum(y) + 0.01, rel=1e-12)
    terms = (Total() / 4).terms(spectrum([1.0, 2.0], [1.0, 3.0]))
    assert float(terms["total"]) == 1.0 and float(terms["total/first"]) == 1.0


def test_one_way_to_combine_losses():
    """`+` and scalar weights are the only mechanism: the aliases and helpers that did the
    same are gone, and neither the losses nor a fit target take a weight argument."""
    import spectrinv.fit
    import spectrinv.losses

    for gone in ("WeightedSum", "sum_losses", "JointLoss"):
        assert not hasattr(spectrinv.losses, gone), gone
    ds = band_dataset()
    with pytest.raises(TypeError, match="weight"):
        MeanSquaredError(Reference(ds, **UNITS), weight=2.0)
    assert "weight" not in inspect.signature(spectrinv.fit.Target).parameters


def test_losses_of_two_state_points_add_as_fit_targets_do():
    """Two predictions (two state points) are two fit targets, each with its own loss; the
    fit's total is the sum of their values, each reporting its own terms."""
    ds1, ds2 = band_dataset(mu=1500.0), band_dataset(mu=1600.0)
    loss_298 = MeanSquaredError(Reference(ds1, **UNITS)) + Wasserstein1(Reference(ds1, **UNITS))
    loss_350 = 2.0 * Wasserstein1(Reference(ds2, **UNITS))
    p1 = spectrum(MODEL_X, gauss(MODEL_X, 1510, 30))
    p2 = spectrum(MODEL_X, gauss(MODEL_X, 1580, 30))
    val = float(loss_298(p1)) + float(loss_350(p2))
    mse1 = float(MeanSquaredError(Reference(ds1, **UNITS))(p1))
    expected = mse1 + 10.0 + 2.0 * 20.0
    assert val == pytest.approx(expected, rel=1e-3)
    assert set(loss_298.terms(p1)) == {"mse", "w1"}
    assert set(loss_350.terms(p2)) == {"w1"}
    assert float(loss_350.terms(p2)["w1"]) == pytest.approx(40.0, rel=1e-3)


# -------------------------------------------------------------------------------- scalars
def test_relative_error_at_state_point_with_unit_conversion():
    temps = np.array([280.0, 300.0, 320.0])
    eta = np.array([1.4, 0.85, 0.58])  # mPa s
    ds = Dataset(
        x=Quantity(temps, "K"),
        y=Quantity(eta * 1e-3, "Pa*s"),
        name="eta",
        quantity="shear_viscosity",
    )
    visc = ShearViscosity(Quantity(300, "K"))
    loss = RelativeError(Reference(ds, visc, at=Quantity(25.0, "degC")))
    exp = np.interp(298.15, temps, eta)
    assert float(loss.reference.y) == pytest.approx(exp, rel=1e-12)
    assert float(loss(jnp.asarray(0.8))) == pytest.approx(((0.8 - exp) / exp) ** 2, rel=1e-12)
    terms = loss.terms(jnp.asarray(0.8))
    assert float(terms["relative_error/exp"]) == pytest.approx(exp)
    # a TransportResult (outside jit) in another unit
    res = TransportResult(
        y_magnitude=jnp.asarray(0.8e-3),
        error_magnitude=jnp.asarray(0.0),
        running_magnitude=jnp.zeros(2),
        correlation_magnitude=jnp.zeros(2),
        cutoff_magnitude=jnp.asarray(1.0),
        timestep=jnp.asarray(0.5),
        y_unit="Pa*s",
        correlation_unit="bar**2",
        n_blocks=1,
        method="test",
    )
    assert float(loss(res)) == pytest.approx(((0.8 - exp) / exp) ** 2, rel=1e-12)


def test_relative_error_labelled_vector():
    ds = Dataset(
        y=Quantity([165.7, 63.9, 79.6], "GPa"),
        labels=("C11", "C12", "C44"),
        quantity="elastic_constants",
        name="si_elastic",
    )
    loss = RelativeError(Reference(ds, y_unit="bar", label=("C11", "C44")))
    pred = jnp.asarray([165.7e4 * 1.1, 79.6e4 * 0.9])
    assert float(loss(pred)) == pytest.approx((0.1**2 + 0.1**2) / 2, rel=1e-10)
    terms = loss.terms(pred)
    assert float(terms["relative_error/C44_exp"]) == pytest.approx(79.6e4)
    full = RelativeError(Reference(ds, y_unit="GPa"))
    assert float(full(jnp.asarray([165.7, 63.9, 79.6]))) == 0.0


# ------------------------------------------------------------------------------ bad input
def test_unit_mismatch_names_both_units():
    eta = Dataset(
        x=Quantity([280.0, 300.0], "K"),
        y=Quantity([1.4, 0.85], "mPa*s"),
        name="eta",
        quantity="shear_viscosity",
    )
    rdf = RDF(Quantity(1.0, "nm"), bins=10)
    with pytest.raises(UnitError, match=r"(?s)K.*nm"):
        MeanSquaredError(Reference(eta, rdf))
    density = Dataset(x=Quantity([280.0, 300.0], "K"), y=Quantity([0.999, 0.997], "g/cm**3"))
    with pytest.raises(UnitError, match=r"(?s)g/cm.*mPa"):
        RelativeError(Reference(density, ShearViscosity(Quantity(300, "K")), at=Quantity(290, "K")))
    with pytest.raises(UnitError, match=r"mPa\*s.*dimensionless"):
        RelativeError(Reference(eta, rdf))
    visc = ShearViscosity(Quantity(300, "K"))
    with pytest.raises(LossError, match="RelativeError"):
        MeanSquaredError(Reference(eta, visc, at=Quantity(290, "K")))
    with pytest.raises(LossError, match=r"2 points along x.*at=Quantity"):
        Reference(eta, visc)
    with pytest.raises(LossError, match="MeanSquaredError"):
        RelativeError(Reference(band_dataset(), **UNITS))
    # a density-of-states observable declares y per unit of its axis
    assert observable_units(VDOS(x_unit="THz"))[:2] == ("THz", "1/THz")
    with pytest.raises(UnitError, match=r"1/cm.*cm"):
        MeanSquaredError(Reference(band_dataset(), VDOS()))
    # a spectrum prediction whose static units differ from the loss's: its x axis converts
    # (THz -> 1/cm, a constant factor), its y unit must match
    loss = MeanSquaredError(Reference(band_dataset(), **UNITS))
    y = gauss(MODEL_X, 1510, 30)
    in_thz = float(loss(spectrum(MODEL_X / CM_PER_THZ_EXACT, y, x_unit="THz")))
    assert in_thz == pytest.approx(float(loss(spectrum(MODEL_X, y))), rel=1e-9)
    with pytest.raises(UnitError, match=r"1/m.*1/cm"):
        jax.jit(lambda y: loss(spectrum(MODEL_X, y, y_unit="1/m")))(jnp.asarray(MODEL_X))
    with pytest.raises(ValueError, match="observable=.*x_unit="):
        MeanSquaredError(Reference(band_dataset()))


def test_reference_refuses_what_does_not_apply_to_its_kind():
    ds = band_dataset()
    with pytest.raises(TypeError, match=r"dataset must be a spectrinv.datasets.Dataset.*ndarray"):
        Reference(np.ones(3), **UNITS)
    labelled = Dataset(y=Quantity([1.0, 2.0], "GPa"), labels=("C11", "C12"), name="c")
    with pytest.raises(LossError, match=r"dataset 'c'.*no x axis.*RelativeError"):
        Reference(labelled, **UNITS)
    with pytest.raises(TypeError, match=r"takes a Reference.*MeanSquaredError\(Reference"):
        MeanSquaredError(ds)
    with pytest.raises(TypeError, match="takes a Reference"):
        RelativeError(Quantity(0.89, "mPa*s"))
    with pytest.raises(ValueError, match="at=/label=.*curve"):
        Reference(ds, at=Quantity(300, "K"), **UNITS)
    with pytest.raises(ValueError, match="x_range=.*single value"):
        Reference(
            Quantity(0.89, "mPa*s"),
            y_unit="mPa*s",
            x_range=(Quantity(1, "K"), Quantity(2, "K")),
        )
    with pytest.raises(ValueError, match="not both"):
        Reference(ds, IRSpectrum(Quantity(300, "K")), x_unit="1/cm")


def test_reference_checks_the_model_grid_when_built():
    """An observable that fixes its grid (RDF bins) is checked against the data when the
    reference is built, not first inside a simulation; x_range or clip=True lift it."""
    rdf = RDF(Quantity(0.45, "nm"), bins=30)  # bin centres 0.0075 .. 0.4425 nm
    ds = Dataset(
        x=Quantity(np.linspace(0.2, 0.53, 34), "nm"),
        y=Quantity(np.ones(34), "dimensionless"),
        name="g",
    )
    with pytest.raises(LossError, match=r"reaches beyond the model's \[0.0075, 0.4425\] nm"):
        Reference(ds, rdf)
    inside = (Quantity(0.2, "nm"), Quantity(0.44, "nm"))
    assert Reference(ds, rdf, x_range=inside).exp_range == pytest.approx((0.2, 0.44))
    clipped = MeanSquaredError(Reference(ds, rdf, clip=True))
    assert float(clipped(jnp.ones(30))) == pytest.approx(0.0, abs=1e-15)


def test_one_reference_serves_several_losses():
    ds = band_dataset(uncertainty=np.full(201, 0.02))
    ref = Reference(ds, **UNITS)
    pred = spectrum(MODEL_X, gauss(MODEL_X, 1520, 30))
    win = [(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    for loss in (
        MeanSquaredError(ref),
        ChiSquared(ref),
        Wasserstein1(ref),
        PeakPosition(ref, windows=win),
    ):
        assert loss.reference is ref
        assert np.isfinite(float(loss(pred)))
    assert ref.is_curve and not Reference(Quantity(1.0, "mPa*s"), y_unit="Pa*s").is_curve


def test_chi_squared_needs_an_uncertainty():
    with pytest.raises(LossError, match=r"no uncertainty.*MeanSquaredError.*relative_uncertainty"):
        ChiSquared(Reference(band_dataset(), **UNITS))
    with pytest.raises(LossError, match="must be > 0"):
        ChiSquared(Reference(band_dataset(uncertainty=np.r_[np.ones(200), 0.0]), **UNITS))


def test_windows_and_ranges_outside_the_data():
    ds = band_dataset()  # 1000..2000 cm^-1
    with pytest.raises(LossError, match=r"window 1 \[900, 1200\].*\[1000, 2000\]"):
        PeakPosition(
            Reference(ds, **UNITS), windows=[(Quantity(900.0, "1/cm"), Quantity(1200.0, "1/cm"))]
        )
    with pytest.raises(LossError, match="holds 1 point"):
        PeakPosition(
            Reference(ds, **UNITS), windows=[(Quantity(1501.0, "1/cm"), Quantity(1506.0, "1/cm"))]
        )
    with pytest.raises(LossError, match=r"holds 0 point.*empty overlap"):
        MeanSquaredError(
            Reference(ds, x_range=(Quantity(3000, "1/cm"), Quantity(3500, "1/cm")), **UNITS)
        )
    with pytest.raises(UnitError, match="Quantity"):
        MeanSquaredError(Reference(ds, x_range=(1000, 1500), **UNITS))
    loss = MeanSquaredError(Reference(ds, clip=True, **UNITS))
    far = np.linspace(2500.0, 3000.0, 50)
    with pytest.raises(LossError, match="empty overlap"):
        loss(spectrum(far, np.ones(50)))
    pk = PeakPosition(
        Reference(ds, **UNITS), windows=[(Quantity(1300.0, "1/cm"), Quantity(1700.0, "1/cm"))]
    )
    with pytest.raises(LossError, match="windows span"):
        pk(spectrum(far, np.ones(50)))


def test_clip_and_x_range_restrict_the_comparison():
    ds = band_dataset()
    model_x = np.linspace(1200.0, 1800.0, 1201)
    pred = spectrum(model_x, gauss(model_x, 1500, 30))
    clipped = MeanSquaredError(Reference(ds, clip=True, **UNITS))
    ranged = MeanSquaredError(
        Reference(ds, x_range=(Quantity(1200, "1/cm"), Quantity(1800, "1/cm")), **UNITS)
    )
    assert float(clipped(pred)) == pytest.approx(0.0, abs=1e-12)
    assert float(clipped(pred)) == pytest.approx(float(ranged(pred)), abs=1e-15)
    pred2 = spectrum(model_x, gauss(model_x, 1520, 30))
    assert float(clipped(pred2)) == pytest.approx(float(ranged(pred2)), rel=1e-12)


# ------------------------------------------------------------------------ real observables
def _ir_setup():
    dt = 0.002  # ps
    bands = [(1650.0, 0.5, 1e-3), (3400.0, 0.04, 4e-4)]  # (cm^-1, tau ps, variance)
    dip = sum(
        rotating_ou_dipole(2**12, dt, wavenumber_to_omega(nu), tau, var, seed=k)
        for k, (nu, tau, var) in enumerate(bands)
    )
    traj = lambda d: Trajectory(  # noqa: E731
        Quantity(np.zeros((d.shape[0], 1, 3)), "nm"),
        box=Quantity([2.0] * 3, "nm"),
        timestep=Quantity(dt, "ps"),
        dipole=Quantity(d, "e * nm"),
    )
    ir = IRSpectrum(
        Quantity(298.15, "K"), max_lag=Quantity(1.0, "ps"), max_frequency=Quantity(4500, "1/cm")
    )
    return dip, traj, ir


def test_ir_spectrum_against_bundled_water_dataset():
    ds = load_dataset("water_segelstein_298K")
    dip, traj, ir = _ir_setup()
    windows = [
        (Quantity(1500.0, "1/cm"), Quantity(1800.0, "1/cm")),
        (Quantity(3000.0, "1/cm"), Quantity(3700.0, "1/cm")),
    ]
    loss = (
        1e6 * MeanSquaredError(Reference(ds, ir), normalisation=AreaNormalised())
        + Wasserstein1(Reference(ds, ir))
        + PeakPosition(
            Reference(ds, ir), windows=windows, band_names=["bend", "stretch"], relative=True
        )
    )
    spec = ir(traj(dip))
    terms = loss.terms(spec)
    for k, v in terms.items():
        assert np.isfinite(float(v)) and np.shape(v) == (), k
    # the synthetic bands sit where they were put; the experimental centroids where the bands are
    assert float(terms["peak_position/bend_model"]) == pytest.approx(1650.0, abs=10.0)
    assert float(terms["peak_position/stretch_model"]) == pytest.approx(3400.0, abs=40.0)
    assert 1600 < float(terms["peak_position/bend_exp"]) < 1700
    assert 3250 < float(terms["peak_position/stretch_exp"]) < 3450
    # the dataset table is converted into IRSpectrum's units (cm^-1): W1 < the 0..4000 span
    assert 0 < float(terms["w1"]) < 1000

    # it is what an Objective holds as its loss
    obj = Objective(observe=ir, loss=loss)
    assert float(obj.loss(obj.observe(traj(dip)))) == pytest.approx(float(loss(spec)), rel=1e-12)


@pytest.mark.slow
def test_gradient_through_ir_spectrum_matches_finite_differences():
    """d loss / d dipole through IRSpectrum and the losses (bundled water data)."""
    ds = load_dataset("water_segelstein_298K")
    dip, traj, ir = _ir_setup()
    windows = [(Quantity(1500.0, "1/cm"), Quantity(1800.0, "1/cm"))]
    loss = (
        1e6 * MeanSquaredError(Reference(ds, ir), normalisation=AreaNormalised())
        + Wasserstein1(Reference(ds, ir))
        + PeakPosition(Reference(ds, ir), windows=windows, relative=True)
    )

    def through_md(d):
        return loss(ir(traj(d)))

    rng = np.random.default_rng(3)
    v = rng.normal(size=dip.shape) * 1e-3
    g = jax.grad(through_md)(jnp.asarray(dip))
    h = 1e-3
    fd = float(through_md(jnp.asarray(dip + h * v))) - float(through_md(jnp.asarray(dip - h * v)))
    fd /= 2 * h
    assert float(jnp.sum(g * v)) == pytest.approx(fd, rel=1e-4)


def test_rdf_observable_predictions():
    """RDF: g as a plain array (grid from the observable), RDFResult, dataset in angstrom."""
    rng = np.random.default_rng(0)
    box = 2.0
    pos = rng.random((4, 64, 3)) * box  # ideal gas: g -> 1
    traj = Trajectory(
        Quantity(pos, "nm"), box=Quantity([box] * 3, "nm"), timestep=Quantity(1.0, "ps")
    )
    rdf = RDF(Quantity(0.9, "nm"), bins=30, r_min=Quantity(0.1, "nm"))
    r_ang = np.linspace(1.5, 8.5, 15)
    ds = Dataset(
        x=Quantity(r_ang, "angstrom"),
        y=Quantity(np.ones(15), "dimensionless"),
        quantity="rdf",
        name="ideal",
    )
    loss = MeanSquaredError(Reference(ds, rdf))
    assert loss.reference.x_unit == "nm"
    np.testing.assert_allclose(np.asarray(loss.reference.x), r_ang / 10.0, rtol=1e-12)
    res = rdf(traj)
    assert isinstance(res, RDFResult)
    g = res.g  # the same curve as a plain [bin] array on the observable's grid
    a, b = float(loss(g)), float(loss(res))
    assert a == pytest.approx(b, rel=1e-12)
    centres = 0.1 + (np.arange(30) + 0.5) * (0.8 / 30)
    expected = np.mean((np.interp(r_ang / 10, centres, np.asarray(g)) - 1.0) ** 2)
    assert a == pytest.approx(expected, rel=1e-10)
    assert a < 0.5  # ideal gas, 4 frames of 64 atoms: noisy but near 1
    with pytest.raises(LossError, match="no x axis"):
        MeanSquaredError(Reference(ds, x_unit="nm", y_unit="dimensionless"))(g)


def test_as_curve_puts_the_model_on_the_dataset_axes():
    ds = band_dataset()  # 1/cm, 1/cm
    spec_thz = spectrum(MODEL_X / CM_PER_THZ_EXACT, gauss(MODEL_X, 1500, 30) / 100, "THz", "1/mm")
    x, y, xl, yl = as_curve(spec_thz, ds)
    np.testing.assert_allclose(x, MODEL_X, rtol=1e-12)
    np.testing.assert_allclose(y, gauss(MODEL_X, 1500, 30) / 10, rtol=1e-12)  # 1/mm -> 1/cm
    assert "cm" in xl and "n_alpha" in yl
    x, y, xl, yl = as_curve(spec_thz)  # no dataset: the model's own units
    assert xl == "Frequency (THz)" and "mm" in yl
    rdf = RDF(Quantity(1.0, "nm"), bins=10)
    r_ang = Dataset(x=Quantity([2.0, 5.0], "angstrom"), y=Quantity([1.0, 1.0], "dimensionless"))
    x, y, xl, _ = as_curve(jnp.ones(10), r_ang, observable=rdf)
    np.testing.assert_allclose(x, (np.arange(10) + 0.5) * 1.0)  # 0.05 nm centres in angstrom
    assert "Å" in xl or "angstrom" in xl
    assert as_curve(jnp.asarray(0.8)) is None
    assert as_curve(jnp.ones(10)) is None  # no grid known


def test_loss_is_an_abstract_loss_with_defaults():
    ds = band_dataset()
    for loss in _all_curve_losses(ds):
        assert isinstance(loss, AbstractLoss) and not isinstance(loss, LossSum)
