"""Transport coefficients: Green–Kubo, Einstein/MSD, cutoffs, units, gradients, bad input.

Shapes are kept few and small so that compiled functions are reused across tests.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.constants as sc
from hypothesis import given, settings, strategies as st

import observables.testing as ot
from observables import (
    YEH_HUMMER_XI,
    EinsteinDiffusion,
    EinsteinHelfand,
    FirstZeroCrossing,
    FixedCutoff,
    FullWindow,
    IonicConductivity,
    MinimumVariancePlateau,
    Quantity,
    SelfDiffusion,
    ShearViscosity,
    ThermalConductivity,
    Trajectory,
    TrajectoryError,
    TransportResult,
    UnitError,
    correlate_direct,
    mean_squared_displacement,
    running_integral,
    yeh_hummer_correction,
)

# Ornstein–Uhlenbeck parameters (internal units): kT/m in nm²/ps², friction γ in 1/ps.
KT_M, GAMMA, DT = 1.5, 2.0, 0.05
D_EXACT = KT_M / GAMMA  # 0.75 nm²/ps
N_FRAMES, N_ATOMS = 2000, 32


def ou_velocities(rng, n_frames, n_atoms, kt_m=KT_M, gamma=GAMMA, dt=DT):
    """Exact discretisation (AR(1)) of the OU process dv = -γ v dt + sqrt(2γ kT/m) dW."""
    a = math.exp(-gamma * dt)
    s = np.sqrt(kt_m * (1.0 - a * a))
    kick = rng.normal(size=(n_frames, n_atoms, 3)) * np.asarray(s)[..., None]
    v = np.empty((n_frames, n_atoms, 3))
    v[0] = rng.normal(size=(n_atoms, 3)) * np.sqrt(kt_m)[..., None]
    a = np.asarray(a)[..., None]
    for i in range(1, n_frames):
        v[i] = v[i - 1] * a + kick[i]
    return v


def make_traj(v, dt=DT, positions=None, **kw):
    pos = np.cumsum(v, axis=0) * dt if positions is None else positions
    return Trajectory(
        Quantity(pos, "nm"),
        box=kw.pop("box", None),
        timestep=Quantity(dt, "ps"),
        velocities=Quantity(v, "nm/ps"),
        **kw,
    )


#: Shared small trajectory shape and window, so that most tests reuse one compiled program.
SMALL_FRAMES, SMALL_ATOMS = 400, 8
LAG = Quantity(1.0, "ps")


@pytest.fixture(scope="module")
def small_traj():
    return make_traj(ou_velocities(np.random.default_rng(99), SMALL_FRAMES, SMALL_ATOMS))


@pytest.fixture(scope="module")
def ou_traj():
    rng = np.random.default_rng(1234)
    return make_traj(ou_velocities(rng, N_FRAMES, N_ATOMS))


# ------------------------------------------------------------------ running integral, cutoffs
def test_running_integral_of_exponential_is_analytic():
    tau, dt = 0.7, 0.007
    t = np.arange(600) * dt
    c = 2.5 * np.exp(-t / tau)
    run = np.asarray(running_integral(jnp.asarray(c), dt))
    exact = 2.5 * tau * (1.0 - np.exp(-t / tau))
    # trapezoid rule on an exponential: relative error (dt/tau)^2 / 12 ~ 8e-6
    np.testing.assert_allclose(run[1:], exact[1:], rtol=2e-5)
    assert run[0] == 0.0
    # exact trapezoid sum, independently written
    trap = np.concatenate([[0.0], np.cumsum(0.5 * (c[1:] + c[:-1]) * dt)])
    np.testing.assert_allclose(run, trap, rtol=1e-13, atol=1e-15)


def test_cutoff_rules_on_known_curves():
    dt, n = 0.01, 400
    t = np.arange(n) * dt
    c = np.exp(-t / 0.3) * np.cos(2 * np.pi * t / 1.0)  # first zero at t = 0.25
    corr = jnp.asarray(np.stack([c, np.exp(-t / 0.3)], axis=1))
    run = running_integral(corr, dt)
    rng = np.random.default_rng(3)
    noisy = run + jnp.asarray(1e-3 * np.cumsum(rng.normal(size=run.shape), axis=0) * dt**0.5)
    rules = [
        (FullWindow(), run, 300),
        (FixedCutoff(Quantity(1.5, "ps")), run, 300),
        (FixedCutoff(Quantity(1500, "fs")), run, 300),
        (FirstZeroCrossing(), run, 300),
        (MinimumVariancePlateau(Quantity(0.5, "ps")), noisy, 399),
    ]

    @jax.jit  # one compiled program for all rules (eager op-by-op dispatch is slow)
    def indices(corr, runs, dt):
        return [
            rule.index(corr, r, dt, limit) for (rule, _, limit), r in zip(rules, runs, strict=True)
        ]

    full, fixed, fixed_fs, zc, mv = map(
        np.asarray, indices(corr, [r for _, r, _ in rules], jnp.asarray(dt))
    )
    assert np.all(full == 300)
    assert np.all(fixed == 150) and np.all(fixed_fs == 150)
    assert zc[0] == 25 or zc[0] == 26  # first sample with C <= 0 after t = 0.25
    assert c[zc[0]] <= 0 and np.all(c[1 : zc[0]] > 0)
    assert zc[1] == 300  # never crosses: window end
    # plateau detection on the noisy running integral: the flattest 0.5 ps stretch lies
    # after several decay times, and the value read there is the plateau 0.3 within ~3 %
    assert mv[1] * dt > 1.0
    assert abs(float(noisy[mv[1], 1]) - 0.3) < 0.01


def test_fixed_cutoff_beyond_window_is_an_error(ou_traj):
    obs = SelfDiffusion(max_lag=Quantity(1.0, "ps"), cutoff=FixedCutoff(Quantity(2.0, "ps")))
    with pytest.raises(ValueError, match="beyond the correlation window"):
        obs(ou_traj)


# -------------------------------------------------------------------- Ornstein–Uhlenbeck: D
def test_ou_green_kubo_recovers_exact_diffusion(ou_traj):
    window = 2.0  # ps = 4 relaxation times
    obs = SelfDiffusion(max_lag=Quantity(window, "ps"), n_blocks=10)
    res = obs(ou_traj)
    assert isinstance(res, TransportResult)
    value, err = res.value.m_as("nm**2/ps"), res.error.m_as("nm**2/ps")
    # expectation of the windowed integral (trapezoid on the sampled exponential)
    a = math.exp(-GAMMA * DT)
    lags = np.arange(round(window / DT) + 1)
    c = KT_M * a**lags
    expected = DT * np.sum(0.5 * (c[1:] + c[:-1]))
    assert abs(expected - D_EXACT * (1 - math.exp(-GAMMA * window))) < 1e-3
    assert 0 < err < 0.05 * value  # a meaningful error bar
    assert abs(value - expected) < 4 * err, (value, err, expected)
    # and vs the infinite-time D, allowing for the known truncated tail
    assert abs(value - D_EXACT) < 4 * err + D_EXACT * math.exp(-GAMMA * window)
    # the result object: shapes, units and the value read from the running integral
    assert res.time.shape == res.running.shape == res.correlation.shape == (lags.size,)
    assert res.running[-1].m_as("m**2/s") == pytest.approx(res.value.m_as("m**2/s"))
    assert res.correlation[0].m_as("nm**2/ps**2") == pytest.approx(3 * KT_M, rel=0.05)
    assert res.cutoff.m_as("ps") == pytest.approx(window)
    # VACF matches the analytic exponential at short lags (statistical tolerance)
    np.testing.assert_allclose(res.correlation.m[:10], 3 * c[:10], rtol=0.05)


def test_ou_einstein_recovers_exact_diffusion(ou_traj):
    obs = EinsteinDiffusion(max_lag=Quantity(5.0, "ps"), fit_start=Quantity(1.5, "ps"), n_blocks=10)
    res = obs(ou_traj)
    value, err = res.value.m, res.error.m
    assert 0 < err < 0.1 * value
    # For OU, MSD(t) = 6 D [t - (1 - e^{-γt})/γ]: a line of slope 6 D beyond a few 1/γ,
    # up to the e^{-γt} term (< 3 % over the fit range at γ t_start = 3).
    assert abs(value - D_EXACT) < 4 * err + 0.03 * D_EXACT, (value, err)
    t = res.time.m_as("ps")
    msd_exact = 6 * D_EXACT * (t - (1 - np.exp(-GAMMA * t)) / GAMMA)
    np.testing.assert_allclose(res.correlation.m[1:20], msd_exact[1:20], rtol=0.08)


def test_per_species_diffusion():
    rng = np.random.default_rng(7)
    n_atoms = 16
    kt_m = np.where(np.arange(n_atoms) < 8, 1.0, 0.25)  # heavy second species: 4x mass
    v = ou_velocities(rng, 1000, n_atoms, kt_m=kt_m, gamma=GAMMA)
    species = ["Na"] * 8 + ["Cl"] * 8
    traj = make_traj(v, species=species)
    obs = SelfDiffusion(species=("Na", "Cl"), max_lag=Quantity(2.0, "ps"))
    res = obs(traj)
    d, err = res.value.m, res.error.m
    assert d.shape == err.shape == (2,) and res.running.shape[1] == 2
    one = float(SelfDiffusion(species="Cl", max_lag=Quantity(2.0, "ps"))(traj).y_magnitude)
    assert one == pytest.approx(d[1], rel=1e-12)
    # species average from per-atom data, independently: D_Na from the first 8 atoms only
    na_only = make_traj(v[:, :8])
    d_na = float(SelfDiffusion(max_lag=Quantity(2.0, "ps"))(na_only).y_magnitude)
    assert d[0] == pytest.approx(d_na, rel=1e-10)
    exact = np.array([1.0, 0.25]) / GAMMA * (1 - math.exp(-GAMMA * 2.0))
    assert np.all(np.abs(d - exact) < 4 * err), (d, err, exact)
    # the result plots itself: one running curve per species, value band and cutoff line
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = res.plot(unit="m**2/s")
    assert len(ax.get_lines()) == 4 and "m" in ax.get_ylabel()
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), res.running.m_as("m**2/s")[:, 1])
    assert "±" in str(res)
    with pytest.raises(TrajectoryError, match="'K'"):
        SelfDiffusion(species="K")(traj)


# ------------------------------------------------------------------------------- MSD
def test_ballistic_msd_is_v2_t2():
    rng = np.random.default_rng(0)
    n, n_atoms, dt = 64, 5, 0.1
    v = rng.normal(size=(n_atoms, 3))
    r0 = rng.normal(size=(n_atoms, 3)) * 10
    t = np.arange(n) * dt
    pos = r0[None] + t[:, None, None] * v[None]
    msd = np.asarray(mean_squared_displacement(jnp.asarray(pos), per_atom=True))
    expected = (t**2)[:, None] * np.sum(v**2, axis=1)[None, :]
    np.testing.assert_allclose(msd, expected, rtol=1e-10, atol=1e-12)
    mean = np.asarray(mean_squared_displacement(jnp.asarray(pos), max_lag=10))
    np.testing.assert_allclose(mean, expected[:11].mean(axis=1), rtol=1e-10, atol=1e-12)


def test_msd_matches_tidynamics():
    tidynamics = pytest.importorskip("tidynamics")
    rng = np.random.default_rng(11)
    pos = np.cumsum(rng.normal(size=(500, 4, 3)), axis=0) + 50.0
    ours = np.asarray(mean_squared_displacement(jnp.asarray(pos), per_atom=True))
    for i in range(pos.shape[1]):
        ref = tidynamics.msd(pos[:, i])
        np.testing.assert_allclose(ours[1:, i], ref[1:], rtol=1e-6)
        assert abs(ours[0, i]) < 1e-6 * ref[1]


# ---------------------------------------------------------------------- property tests
seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=8)
@given(seed=seeds)
def test_permutation_invariance(seed, small_traj):
    perm = np.random.default_rng(seed).permutation(SMALL_ATOMS)
    for obs in (SelfDiffusion(max_lag=LAG), EinsteinDiffusion(max_lag=LAG)):
        ot.check_permutation_invariance(obs, small_traj, perm, rtol=1e-10)


@settings(max_examples=10)
@given(seed=seeds, shift=st.floats(-1e3, 1e3), per_atom_shift=st.booleans())
def test_msd_translation_invariance_and_non_negativity(seed, shift, per_atom_shift):
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.normal(size=(128, 6, 3)), axis=0) * 0.1
    offset = rng.normal(size=(1, 6, 3)) * shift if per_atom_shift else np.full((1, 1, 3), shift)
    m1 = np.asarray(mean_squared_displacement(jnp.asarray(pos), per_atom=True))
    m2 = np.asarray(mean_squared_displacement(jnp.asarray(pos + offset), per_atom=True))
    np.testing.assert_allclose(m2, m1, rtol=1e-8, atol=1e-10)
    assert np.all(m1 >= 0) and np.all(m2 >= 0)
    # and time reversal: reversing the frames leaves every displacement's square unchanged
    m3 = np.asarray(mean_squared_displacement(jnp.asarray(pos[::-1]), per_atom=True))
    np.testing.assert_allclose(m3, m1, rtol=1e-8, atol=1e-10)


@settings(max_examples=8)
@given(seed=seeds)
def test_time_reversal_and_acf0_non_negative(seed):
    """Reversing time (frames reversed, velocities negated; stress and heat flux even/odd)
    leaves every autocorrelation, hence every Green–Kubo coefficient, unchanged
    (`observables.testing.check_time_reversal`: values, error bars and the curves)."""
    rng = np.random.default_rng(seed)
    n = SMALL_FRAMES
    v = rng.normal(size=(n, SMALL_ATOMS, 3))
    stress = rng.normal(size=(n, 3, 3)) * 50.0
    flux = rng.normal(size=(n, 3)) * 20.0
    box = Quantity([2.0, 2.0, 2.0], "nm")

    def traj(vv, ss, ff):
        return make_traj(
            vv,
            box=box,
            positions=np.zeros_like(vv),
            stress=Quantity(ss, "kJ/mol/nm**3"),
            heat_flux=Quantity(ff, "kJ/mol*nm/ps"),
        )

    fwd = traj(v, stress, flux)
    for obs in (SelfDiffusion(max_lag=LAG), ThermalConductivity(Quantity(300.0, "K"), max_lag=LAG)):
        ot.check_time_reversal(obs, fwd, rtol=1e-9)
        assert obs(fwd).correlation.m[0] >= 0


@settings(max_examples=5)
@given(seed=seeds, scale=st.floats(0.1, 10.0))
def test_unit_consistency_angstrom_femtosecond(seed, scale):
    """The same physical trajectory in Å/fs and in nm/ps gives the same D in m²/s."""
    rng = np.random.default_rng(seed)
    v = ou_velocities(rng, SMALL_FRAMES, SMALL_ATOMS) * scale  # nm/ps
    pos = np.cumsum(v, axis=0) * DT
    nm_ps = make_traj(v)
    a_fs = Trajectory(
        Quantity(pos * 10.0, "angstrom"),
        box=None,
        timestep=Quantity(DT * 1000.0, "fs"),
        velocities=Quantity(v * 10.0 / 1000.0, "angstrom/fs"),
    )
    for obs in (
        SelfDiffusion(max_lag=LAG),
        SelfDiffusion(max_lag=Quantity(1000.0, "fs")),
        EinsteinDiffusion(max_lag=LAG),
    ):
        d1 = float(obs.quantity(nm_ps).m_as("m**2/s"))
        d2 = float(obs.quantity(a_fs).m_as("m**2/s"))
        assert d2 == pytest.approx(d1, rel=1e-9)
        assert d1 > 0


# -------------------------------------------------------- collective coefficients: prefactors
def _direct_integral(x, n_lags, dt):
    """Independent Green–Kubo integral: O(N²) ACF summed over trailing axes, trapezoid."""
    c = correlate_direct(x, max_lag=n_lags - 1)
    c = c.reshape(n_lags, -1).sum(axis=1)
    return dt * np.sum(0.5 * (c[1:] + c[:-1])), c


@pytest.fixture(scope="module")
def flux_traj():
    rng = np.random.default_rng(5)
    n, dt = 600, 0.002

    # OU-correlated stress, heat flux and charge current
    def ou(shape, tau, s):
        a = math.exp(-dt / tau)
        x = np.empty((n,) + shape)
        x[0] = rng.normal(size=shape) * s
        for i in range(1, n):
            x[i] = a * x[i - 1] + math.sqrt(1 - a * a) * s * rng.normal(size=shape)
        return x

    stress = ou((3, 3), 0.05, 30.0) + 0.5 * np.eye(3)  # + a hydrostatic part (no shear)
    return Trajectory(
        Quantity(np.zeros((n, 2, 3)), "nm"),
        box=Quantity([3.0, 3.0, 3.2], "nm"),
        timestep=Quantity(dt, "ps"),
        stress=Quantity(stress, "kJ/mol/nm**3"),
        heat_flux=Quantity(ou((3,), 0.04, 500.0), "kJ/mol*nm/ps"),
        charge_current=Quantity(ou((3,), 0.03, 5.0), "elementary_charge*nm/ps"),
    )


def test_shear_viscosity_prefactor_and_convention(flux_traj):
    T, window = 300.0, 0.2
    obs = ShearViscosity(Quantity(T, "K"), max_lag=Quantity(window, "ps"))
    eta = float(obs(flux_traj).y_magnitude)
    n_lags = round(window / 0.002) + 1
    p = np.asarray(flux_traj.stress)
    # Daivis–Evans: (1/10) <P°(0):P°(t)>, P° the symmetric traceless part, written directly
    sym = 0.5 * (p + p.transpose(0, 2, 1))
    traceless = sym - np.trace(sym, axis1=1, axis2=2)[:, None, None] * np.eye(3) / 3
    integral, _ = _direct_integral(traceless, n_lags, 0.002)
    integral /= 10.0
    vol_m3 = 3.0 * 3.0 * 3.2 * 1e-27
    kt = sc.k * T
    # pressure: 1 kJ/mol/nm^3 = 1e3 / N_A / 1e-27 Pa
    pa = 1e3 / sc.N_A / 1e-27
    eta_si = vol_m3 / kt * integral * pa**2 * 1e-12  # Pa s
    assert eta == pytest.approx(eta_si * 1e3, rel=1e-9)  # mPa s
    assert obs.quantity(flux_traj).m_as("Pa*s") == pytest.approx(eta_si, rel=1e-9)


@settings(max_examples=5)
@given(seed=seeds)
def test_shear_viscosity_is_rotation_invariant(seed, flux_traj):
    """Averaging the 5 orthonormal traceless components is invariant under P -> R P Rᵀ."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.diag(r))
    p = np.asarray(flux_traj.stress)
    rotated = flux_traj.replace(
        stress=Quantity(np.einsum("ij,fjk,lk->fil", rot, p, rot), "kJ/mol/nm**3")
    )
    obs = ShearViscosity(Quantity(300.0, "K"), max_lag=Quantity(0.2, "ps"))
    assert float(obs(rotated).y_magnitude) == pytest.approx(
        float(obs(flux_traj).y_magnitude), rel=1e-9
    )


def test_thermal_and_ionic_conductivity_prefactors(flux_traj):
    T, window, dt = 350.0, 0.2, 0.002
    n_lags = round(window / dt) + 1
    vol_m3 = 3.0 * 3.0 * 3.2 * 1e-27
    lam = ThermalConductivity(Quantity(T, "K"), max_lag=Quantity(window, "ps"))
    integral, _ = _direct_integral(np.asarray(flux_traj.heat_flux), n_lags, dt)
    # J: kJ/mol nm/ps -> J m/s per particle
    j_si = 1e3 / sc.N_A * 1e-9 / 1e-12
    lam_si = integral * j_si**2 * 1e-12 / (3 * vol_m3 * sc.k * T**2)
    res = lam(flux_traj)
    assert res.value.m == pytest.approx(lam_si, rel=1e-9)
    assert res.error.m > 0 and res.value.units == res.running.units
    sig = IonicConductivity(Quantity(T, "K"), max_lag=Quantity(window, "ps"))
    integral, _ = _direct_integral(np.asarray(flux_traj.charge_current), n_lags, dt)
    c_si = sc.e * 1e-9 / 1e-12  # e nm/ps -> C m/s
    sig_si = integral * c_si**2 * 1e-12 / (3 * vol_m3 * sc.k * T)
    assert float(sig(flux_traj).y_magnitude) == pytest.approx(sig_si, rel=1e-9)
    assert sig.quantity(flux_traj).m_as("mS/cm") == pytest.approx(sig_si * 10, rel=1e-9)


def test_ionic_current_from_charges_and_velocities():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(300, 6, 3))
    q = np.array([1.0, -1.0, 1.0, -1.0, 2.0, -2.0])
    kw = dict(box=Quantity([2.0, 2.0, 2.0], "nm"), positions=np.zeros_like(v))
    implicit = make_traj(v, charges=Quantity(q, "e"), **kw)
    explicit = make_traj(v, charge_current=Quantity(np.einsum("fai,a->fi", v, q), "e*nm/ps"), **kw)
    obs = IonicConductivity(Quantity(300.0, "K"), max_lag=Quantity(0.5, "ps"))
    assert float(obs(implicit).y_magnitude) == pytest.approx(
        float(obs(explicit).y_magnitude), rel=1e-12
    )


def test_collective_coefficients_unit_consistency(flux_traj):
    """Stress in bar, heat flux in eV·Å/fs, current in C·m/s, box in Å, time in fs, T in °C:
    the same physical coefficients (conversions written here with scipy.constants)."""
    kjmol = 1e3 / sc.N_A  # J
    same = Trajectory(
        Quantity(np.zeros((flux_traj.n_frames, 2, 3)), "angstrom"),
        box=Quantity([30.0, 30.0, 32.0], "angstrom"),
        timestep=Quantity(2.0, "fs"),
        stress=Quantity(np.asarray(flux_traj.stress) * kjmol / 1e-27 / 1e5, "bar"),
        heat_flux=Quantity(np.asarray(flux_traj.heat_flux) * kjmol / sc.e * 10 / 1000, "eV*Å/fs"),
        charge_current=Quantity(np.asarray(flux_traj.charge_current) * sc.e * 1e3, "C*m/s"),
    )
    lag = Quantity(0.2, "ps")
    for cls in (ShearViscosity, ThermalConductivity, IonicConductivity):
        ref = float(cls(Quantity(300.0, "K"), max_lag=lag)(flux_traj).y_magnitude)
        other_obs = cls(Quantity(26.85, "degC"), max_lag=Quantity(200.0, "fs"))
        other = float(other_obs(same).y_magnitude)
        assert other == pytest.approx(ref, rel=1e-9), cls.__name__


# ------------------------------------------------------------------ Einstein–Helfand route
def test_helfand_route_from_velocities_equals_msd_route(small_traj):
    """G = ∫v dt is the displacement: with trapezoid-integrated positions the Helfand fit of
    SelfDiffusion is the Einstein MSD fit, to rounding."""
    v = np.asarray(small_traj.velocities)
    pos = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(0.5 * (v[1:] + v[:-1]), 0) * DT])
    traj = make_traj(v, positions=pos + 3.0)
    helfand = EinsteinHelfand(SelfDiffusion(max_lag=LAG))
    assert helfand.y_unit == "nm**2/ps"
    assert float(helfand(traj).y_magnitude) == pytest.approx(
        float(EinsteinDiffusion(max_lag=LAG)(traj).y_magnitude), rel=1e-9
    )
    with pytest.raises(TypeError, match="Green–Kubo"):
        EinsteinHelfand(EinsteinDiffusion())


@pytest.mark.slow
def test_viscosity_green_kubo_and_helfand_match_analytic_ou():
    """OU stress: each orthonormal traceless component has ACF (s²/2) e^{-t/τ}, so
    ∫ = s² τ / 2. GK (window 4τ) and Helfand (fit 2τ..4τ) agree with their exact
    expectations within block error bars."""
    s2, tau, dt, window, T = 30.0**2, 0.05, 0.002, 0.2, 300.0
    vol = 3.0 * 3.0 * 3.2
    a = math.exp(-dt / tau)
    rng = np.random.default_rng(17)
    n = 20000  # 800 τ
    kicks = rng.normal(size=(n, 3, 3)) * math.sqrt(s2 * (1 - a * a))
    stress = np.empty((n, 3, 3))
    stress[0] = rng.normal(size=(3, 3)) * math.sqrt(s2)
    for i in range(1, n):
        stress[i] = a * stress[i - 1] + kicks[i]
    traj = Trajectory(
        Quantity(np.zeros((n, 1, 3)), "nm"),
        box=Quantity([3.0, 3.0, 3.2], "nm"),
        timestep=Quantity(dt, "ps"),
        stress=Quantity(stress + 0.5 * np.eye(3), "kJ/mol/nm**3"),
    )
    lags = np.arange(round(window / dt) + 1)
    acf = 0.5 * s2 * a**lags
    pref = vol / (sc.k * sc.N_A / 1e3 * T) * (1e3 / sc.N_A / 1e-27) * 1e-12 * 1e3  # -> mPa s
    gk_expected = pref * dt * np.sum(0.5 * (acf[1:] + acf[:-1]))
    gk = ShearViscosity(Quantity(T, "K"), max_lag=Quantity(window, "ps"))(traj)
    assert abs(gk.value.m - gk_expected) < 4 * gk.error.m, (gk.value, gk.error, gk_expected)
    assert gk.error.m < 0.1 * gk_expected  # long enough for a meaningful check
    # Helfand: exact MSD of G for an exponential ACF, fitted on the same lags
    t = lags * dt
    msd_g = 2 * 0.5 * s2 * tau * (t - tau * (1 - np.exp(-t / tau)))
    start = round(0.1 / dt)
    slope = np.polyfit(t[start:], msd_g[start:], 1)[0]
    hf_expected = pref * 0.5 * slope
    hf = EinsteinHelfand(
        ShearViscosity(Quantity(T, "K"), max_lag=Quantity(window, "ps")),
        fit_start=Quantity(0.1, "ps"),
    )(traj)
    assert abs(hf.value.m - hf_expected) < 4 * hf.error.m, (hf.value, hf.error, hf_expected)


# ------------------------------------------------------------------------------ Yeh–Hummer
def test_yeh_hummer_correction():
    T, eta, L = 298.0, 0.321e-3, 3.0e-9  # K, Pa s, m
    expected_shift = 2.837297 * sc.k * T / (6 * math.pi * eta * L)  # m^2/s
    d_pbc = Quantity(2.5e-9, "m**2/s")
    got = yeh_hummer_correction(
        d_pbc,
        temperature=Quantity(T, "K"),
        viscosity=Quantity(0.321, "mPa*s"),
        box_length=Quantity(30.0, "angstrom"),
    )
    assert got.units == d_pbc.units
    assert got.m_as("m**2/s") == pytest.approx(2.5e-9 + expected_shift, rel=1e-9)
    assert YEH_HUMMER_XI == 2.837297
    # same in internal units
    got_nm = yeh_hummer_correction(
        Quantity(2.5e-3, "nm**2/ps"),
        temperature=Quantity(T, "K"),
        viscosity=Quantity(0.321, "cP"),
        box_length=Quantity(3.0, "nm"),
    )
    assert got_nm.m_as("m**2/s") == pytest.approx(got.m_as("m**2/s"), rel=1e-9)
    with pytest.raises(UnitError, match="viscosity"):
        yeh_hummer_correction(
            d_pbc,
            temperature=Quantity(T, "K"),
            viscosity=Quantity(1, "Pa"),
            box_length=Quantity(3, "nm"),
        )
    with pytest.raises(UnitError, match="box_length"):
        yeh_hummer_correction(
            d_pbc,
            temperature=Quantity(T, "K"),
            viscosity=Quantity(1, "cP"),
            box_length=Quantity(3, "s"),
        )


# ---------------------------------------------------------------------- gradients, jit, vmap
def test_gradient_of_diffusion_wrt_velocities_matches_finite_differences(small_traj):
    rng = np.random.default_rng(9)
    v0 = np.asarray(small_traj.velocities)
    p0 = np.asarray(small_traj.positions)
    dt = small_traj.timestep
    h = 1e-4
    for obs, wrt in (
        (SelfDiffusion(max_lag=LAG), "velocities"),
        (EinsteinDiffusion(max_lag=LAG), "positions"),
    ):
        x0 = v0 if wrt == "velocities" else p0

        def d_of(x, obs=obs, wrt=wrt):
            fields = dict(positions=p0, velocities=v0)
            fields[wrt] = x
            return obs(Trajectory.from_internal(box=None, timestep=dt, **fields)).y_magnitude

        grad = np.asarray(jax.grad(d_of)(jnp.asarray(x0)))
        direction = rng.normal(size=x0.shape)
        fd = (float(d_of(x0 + h * direction)) - float(d_of(x0 - h * direction))) / (2 * h)
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-6)
        if wrt == "velocities":  # D is a quadratic form in v (fixed cutoff index): <g, v> = 2 D
            assert np.sum(grad * v0) == pytest.approx(2 * float(d_of(v0)), rel=1e-9)


def test_jit_and_vmap_with_traced_timestep(small_traj):
    """Under jit the time step is traced: the window is enforced by masking, same result."""
    for obs in (
        SelfDiffusion(max_lag=LAG, cutoff=FirstZeroCrossing()),
        EinsteinDiffusion(max_lag=LAG),
    ):
        eager = float(obs(small_traj).y_magnitude)
        jitted = float(jax.jit(lambda o, t: o(t))(obs, small_traj).y_magnitude)
        assert jitted == pytest.approx(eager, rel=1e-10)
    v = jnp.asarray(small_traj.velocities)
    obs = SelfDiffusion(max_lag=LAG)

    def d_of(vv):
        return obs(Trajectory.from_internal(vv, box=None, timestep=DT, velocities=vv)).y_magnitude

    out = np.asarray(jax.vmap(d_of)(jnp.stack([v, 2.0 * v])))
    assert out[0] == pytest.approx(float(obs(small_traj).y_magnitude), rel=1e-10)
    assert out[1] == pytest.approx(4 * out[0], rel=1e-10)  # D is quadratic in v


def test_float32_input_under_strict_promotion(small_traj):
    v = np.asarray(small_traj.velocities).astype(np.float32)
    traj = Trajectory.from_internal(v, box=None, timestep=DT, velocities=v)
    d32 = SelfDiffusion(max_lag=LAG)(traj).y_magnitude
    assert d32.dtype == jnp.float32
    assert float(d32) == pytest.approx(
        float(SelfDiffusion(max_lag=LAG)(small_traj).y_magnitude), rel=1e-4
    )


# ------------------------------------------------------------------------------- bad input
def test_missing_signals_give_clear_errors(flux_traj, ou_traj):
    with pytest.raises(TrajectoryError, match="velocities"):
        SelfDiffusion()(flux_traj.replace(velocities=None))
    with pytest.raises(TrajectoryError, match="stress"):
        ShearViscosity(Quantity(300, "K"))(flux_traj.replace(stress=None))
    with pytest.raises(TrajectoryError, match="heat_flux"):
        ThermalConductivity(Quantity(300, "K"))(flux_traj.replace(heat_flux=None))
    with pytest.raises(TrajectoryError, match="charge_current"):
        IonicConductivity(Quantity(300, "K"))(flux_traj.replace(charge_current=None))
    with pytest.raises(TrajectoryError, match="periodic box"):
        ThermalConductivity(Quantity(300, "K"))(flux_traj.replace(box=None))
    with pytest.raises(TrajectoryError, match="no species"):
        SelfDiffusion(species="O")(ou_traj)


def test_wrong_units_raise_unit_error_naming_both_units():
    for cls in (ShearViscosity, ThermalConductivity, IonicConductivity):
        with pytest.raises(UnitError, match=r"temperature.*nm.*K"):
            cls(Quantity(300.0, "nm"))
        with pytest.raises(UnitError, match="without units"):
            cls(300.0)
    with pytest.raises(UnitError, match=r"max_lag.*m.*ps"):
        SelfDiffusion(max_lag=Quantity(1.0, "m"))
    with pytest.raises(UnitError, match=r"FixedCutoff.*K.*ps"):
        FixedCutoff(Quantity(1.0, "K"))
    with pytest.raises(ValueError, match="positive"):
        ShearViscosity(Quantity(-5.0, "K"))


def test_window_and_block_errors(ou_traj):
    with pytest.raises(ValueError, match="exceeds the trajectory length"):
        SelfDiffusion(max_lag=Quantity(1.0, "ns"))(ou_traj)
    with pytest.raises(ValueError, match="blocks"):
        SelfDiffusion(max_lag=Quantity(20.0, "ps"), n_blocks=10)(ou_traj)
    with pytest.raises(ValueError, match="n_blocks"):
        SelfDiffusion(n_blocks=1)


def test_wrapped_positions_are_rejected_by_einstein():
    rng = np.random.default_rng(8)
    v = ou_velocities(rng, SMALL_FRAMES, SMALL_ATOMS)
    pos = np.cumsum(v, axis=0) * DT
    box = 1.0
    wrapped = make_traj(v, positions=pos % box, box=Quantity([box] * 3, "nm"))
    with pytest.raises(TrajectoryError, match="unwrapped"):
        EinsteinDiffusion(max_lag=LAG)(wrapped)
    unwrapped = make_traj(v, positions=pos, box=Quantity([box] * 3, "nm"))
    assert float(EinsteinDiffusion(max_lag=LAG)(unwrapped).y_magnitude) > 0


# ------------------------------------------------------- arguments mean one thing everywhere
def test_one_species_is_a_scalar_however_it_is_written():
    """`"Na"`, `("Na",)` and `["Na"]` all select one species and give a scalar; two give two."""
    rng = np.random.default_rng(3)
    v = ou_velocities(rng, 400, 8)
    traj = make_traj(v, species=["Na"] * 4 + ["Cl"] * 4)
    for cls in (SelfDiffusion, EinsteinDiffusion):
        one = cls("Na", max_lag=LAG)(traj)
        assert one.y_magnitude.shape == () and one.error_magnitude.shape == ()
        for same in (("Na",), ["Na"]):
            res = cls(same, max_lag=LAG)(traj)
            assert res.y_magnitude.shape == () and res.running_magnitude.ndim == 1
            np.testing.assert_array_equal(res.y_magnitude, one.y_magnitude)
        two = cls(("Na", "Cl"), max_lag=LAG)(traj)
        assert two.y_magnitude.shape == (2,)
        np.testing.assert_allclose(two.y_magnitude[0], one.y_magnitude, rtol=1e-12)
    assert SelfDiffusion(("Na",)) == SelfDiffusion("Na")
    with pytest.raises(ValueError, match="empty"):
        SelfDiffusion(())


def test_every_transport_observable_declares_units_the_same_way(flux_traj, small_traj):
    """`y_unit` is an instance attribute (a string) on every observable, wrappers included."""
    t = Quantity(300, "K")
    for obs, traj in (
        (SelfDiffusion(max_lag=LAG), small_traj),
        (EinsteinDiffusion(max_lag=LAG), small_traj),
        (ShearViscosity(t), flux_traj),
        (EinsteinHelfand(ShearViscosity(t)), flux_traj),
        (EinsteinHelfand(SelfDiffusion(max_lag=LAG)), small_traj),
    ):
        assert obs.x_unit is None and isinstance(obs.y_unit, str)
        res = obs(traj)
        assert isinstance(res, TransportResult) and res.y_unit == obs.y_unit
        assert res.value.units == Quantity(1, obs.y_unit).units
    helfand = EinsteinHelfand(ShearViscosity(t))
    assert helfand.y_unit == ShearViscosity(t).y_unit == "mPa*s"
    assert not hasattr(helfand, "output_unit") and not hasattr(ShearViscosity(t), "compute")


def test_transport_results_are_pytrees_under_jit(small_traj):
    obs = SelfDiffusion(max_lag=20)
    eager = obs(small_traj)
    jitted = jax.jit(lambda o, t: o(t))(obs, small_traj)
    assert isinstance(jitted, TransportResult) and jitted.error_magnitude is not None
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12)
    # a time window with a traced time step is only known at run time: no error bar then
    traced = jax.jit(lambda o, t: o(t))(SelfDiffusion(max_lag=LAG), small_traj)
    assert traced.error_magnitude is None
    assert float(traced.y_magnitude) == pytest.approx(
        float(SelfDiffusion(max_lag=LAG)(small_traj).y_magnitude), rel=1e-10
    )
    assert "no error bar" in str(traced)
