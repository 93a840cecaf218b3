"""Spectra: transform, IR, Raman, VDOS and the `Spectrum` result.

Analytic references are computed here from closed forms (Lorentzians, harmonic oscillators,
rotational averages), never from the code under test.
"""

import itertools

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
import scipy.optimize
import scipy.signal
from _systems import rotating_ou_dipole, wavenumber_to_omega
from hypothesis import given, settings, strategies as st

import observables.testing as ot
from observables.testing import strategies as ots

matplotlib.use("Agg")

from observables import (  # noqa: E402
    BOLTZMANN,
    EPSILON0,
    HBAR,
    SPEED_OF_LIGHT,
    VDOS,
    Classical,
    FromDipoleDerivative,
    Gaussian,
    Hann,
    Harmonic,
    IRSpectrum,
    NoWindow,
    Quantity,
    RamanSpectrum,
    Schofield,
    SpectralTransform,
    Spectrum,
    SpectrumError,
    Standard,
    Trajectory,
    TrajectoryError,
    UnitError,
)

CM_PER_PS = SPEED_OF_LIGHT * 1e-7  # speed of light in cm/ps


def lorentzian_pair(omega, amplitude, omega0, tau):
    """(1/2pi) FT of amplitude * cos(omega0 t) exp(-|t|/tau)."""
    return (
        amplitude
        / (2 * np.pi)
        * (tau / (1 + ((omega - omega0) * tau) ** 2) + tau / (1 + ((omega + omega0) * tau) ** 2))
    )


def dipole_trajectory(dipole, dt_ps, box_nm=3.0, **extra):
    n = dipole.shape[0]
    return Trajectory(
        Quantity(np.zeros((n, 1, 3)), "nm"),
        box=Quantity([box_nm] * 3, "nm"),
        timestep=Quantity(dt_ps, "ps"),
        dipole=Quantity(dipole, "e * nm"),
        **extra,
    )


# ------------------------------------------------------------------------ transform
def test_transform_of_damped_cosine_is_exact_lorentzian():
    dt, omega0, tau = 0.002, 188.0, 0.1
    k = 2000  # 40 tau: truncation error exp(-40)
    t = np.arange(k + 1) * dt
    corr = jnp.asarray(np.cos(omega0 * t) * np.exp(-t / tau))
    tr = SpectralTransform(NoWindow(), max_lag=k, frequency_step=Quantity(0.05, "rad/ps"))
    omega, spec = tr.transform(corr, jnp.asarray(dt), k + 1)
    omega, spec = np.asarray(omega), np.asarray(spec)
    exact = lorentzian_pair(omega, 1.0, omega0, tau)
    peak = exact.max()
    # Sampling error only: the kink of exp(-|t|/tau) at t = 0 gives the trapezoid rule an
    # offset dt^2 / (12 pi tau) = 1.06e-6 (Euler-Maclaurin), plus aliasing of the 1/w^2 tails
    # near the Nyquist frequency; both < 1.5e-4 of the peak here.
    assert np.max(np.abs(spec - exact)) < 1.5e-4 * peak
    low = omega < 600.0
    assert np.max(np.abs(spec - exact)[low]) < 1.3 * dt**2 / (12 * np.pi * tau)
    # peak position and half width at half maximum read off the computed spectrum
    i = np.argmax(spec)
    assert abs(omega[i] - omega0) <= 0.05
    half = spec >= spec[i] / 2
    lo, hi = omega[half].min(), omega[half].max()
    # exact half width of the Lorentzian pair (the -w0 partner shifts it from 1/tau by 0.35 %)
    pair_peak = lorentzian_pair(omega0, 1.0, omega0, tau)

    def half(w):
        return lorentzian_pair(w, 1.0, omega0, tau) - pair_peak / 2

    w_lo = scipy.optimize.brentq(half, omega0 - 30, omega0)
    w_hi = scipy.optimize.brentq(half, omega0, omega0 + 30)
    assert abs((hi - lo) - (w_hi - w_lo)) <= 2 * 0.05
    assert abs((w_hi - w_lo) / 2 - 1 / tau) < 0.005 / tau


def test_ir_damped_harmonic_dipole_lineshape():
    """Rotating OU dipole: the IR spectrum recovers omega0, 1/tau and the amplitude."""
    dt, omega0, tau, var, box = 0.004, 188.4, 0.1, 0.0025, 3.0
    dipole = rotating_ou_dipole(2**18, dt, omega0, tau, var, seed=7)
    traj = dipole_trajectory(dipole, dt, box)
    temperature = 300.0
    ir = IRSpectrum(
        Quantity(temperature, "K"), max_lag=Quantity(2, "ps"), max_frequency=Quantity(2500, "1/cm")
    )
    spec = ir(traj)
    assert spec.x_unit == "1/cm" and spec.y_unit == "1/cm" and not spec.density
    nu = np.asarray(spec.x_magnitude)
    n_alpha = np.asarray(spec.y_magnitude)
    omega = wavenumber_to_omega(nu)
    beta = 1 / (BOLTZMANN * temperature)
    volume = box**3
    # exact n*alpha = pi beta w^2 C(w) / (3 c V eps0), in 1/nm -> 1/cm (x 1e7)
    to_corr = 3 * SPEED_OF_LIGHT * volume * EPSILON0 / (np.pi * beta) / 1e7
    exact = lorentzian_pair(omega, var, omega0, tau) * omega**2 / to_corr
    # peak of n*alpha at the exact one within one grid step (pi/T = 1.57 rad/ps)
    step = omega[1] - omega[0]
    assert abs(omega[np.argmax(n_alpha)] - omega[np.argmax(exact)]) <= step * 1.01
    # fit the recovered correlation spectrum with a Lorentzian pair
    mask = omega > 20.0
    corr = n_alpha[mask] * to_corr / omega[mask] ** 2
    (amp, w0_fit, tau_fit), _ = scipy.optimize.curve_fit(
        lorentzian_pair, omega[mask], corr, p0=[0.002, 180.0, 0.08]
    )
    assert abs(w0_fit - omega0) / omega0 < 3e-3
    assert abs(tau_fit - tau) / tau < 0.03
    assert abs(amp - var) / var < 0.03
    # and the whole curve, pointwise, within the statistical noise
    assert np.max(np.abs(n_alpha - exact)) < 0.1 * exact.max()


# ----------------------------------------------------------------------- sum rules
@settings(max_examples=8)
@given(
    seed=st.integers(0, 2**31 - 1),
    k=st.sampled_from([7, 47]),
    window=st.sampled_from([NoWindow(), Hann(Quantity(30, "fs")), Gaussian(Quantity(20, "fs"))]),
)
def test_parseval_sum_rule(seed, k, window):
    """Trapezoid over [0, Nyquist] of C~(w) equals C(0)/2 for any window with w(0) = 1."""
    x = jnp.asarray(np.random.default_rng(seed).normal(size=(48, 3)))
    dt = jnp.asarray(0.001)  # ps
    tr = SpectralTransform(window, max_lag=k)
    omega, spec = tr.spectrum(x, dt, sum_axes=(1,))
    omega, spec = np.asarray(omega), np.asarray(spec)
    np.testing.assert_allclose(omega[-1], np.pi / 0.001, rtol=1e-12)  # grid ends at Nyquist
    integral = np.sum(0.5 * (spec[1:] + spec[:-1]) * np.diff(omega))
    c0 = float(jnp.mean(jnp.sum(x**2, axis=1)))
    np.testing.assert_allclose(integral, c0 / 2, rtol=1e-10)


# --------------------------------------------------------------------------- VDOS
def harmonic_oscillators(n_frames=4096, dt=0.005, temperature=300.0, seed=3):
    """Independent 3D oscillators x = A cos(w t + phi), equipartition amplitudes."""
    omegas = np.array([50.0, 50.0, 120.0, 120.0, 200.0, 200.0])  # rad/ps
    masses = np.array([1.0, 16.0, 12.0, 2.0, 14.0, 7.0])  # Da
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(1, 6, 3))
    amp = np.sqrt(2 * BOLTZMANN * temperature / (masses * omegas**2))[None, :, None]
    t = (np.arange(n_frames) * dt)[:, None, None]
    w = omegas[None, :, None]
    pos = amp * np.cos(w * t + phase)
    vel = -amp * w * np.sin(w * t + phase)
    traj = Trajectory(
        Quantity(pos, "nm"),
        box=None,
        timestep=Quantity(dt, "ps"),
        velocities=Quantity(vel, "nm/ps"),
        masses=Quantity(masses, "Da"),
    )
    return traj, omegas


def test_vdos_of_harmonic_oscillators():
    traj, omegas = harmonic_oscillators()
    g = VDOS()(traj)
    assert g.density and g.y_unit == "cm"
    nu = np.asarray(g.x_magnitude)
    y = np.asarray(g.y_magnitude)
    # total: exactly 3N over the full grid
    np.testing.assert_allclose(np.trapezoid(y, nu), 3 * 6, rtol=1e-10)
    omega = wavenumber_to_omega(nu)
    step = omega[1] - omega[0]
    for w0 in np.unique(omegas):
        window = np.abs(omega - w0) < 15.0
        area = np.trapezoid(y[window], nu[window])
        np.testing.assert_allclose(area, 3 * 2, rtol=1e-2)  # 2 atoms x 3 components
        peak = omega[window][np.argmax(y[window])]
        assert abs(peak - w0) <= step / 2 + 1e-9
    # in THz, the Jacobian keeps the integral at 3N
    g_thz = g.to("THz")
    assert g_thz.y_unit == "1/THz"
    np.testing.assert_allclose(np.trapezoid(g_thz.y_magnitude, g_thz.x_magnitude), 18.0, rtol=1e-10)


def test_vdos_equipartition_scale():
    """Self-normalised g equals the kT formula 2 C~/(kT) when equipartition holds."""
    traj, _ = harmonic_oscillators(n_frames=1024)
    tr = SpectralTransform(Hann(), max_lag=256)
    m = traj.masses
    sig = traj.velocities * jnp.sqrt(m)[None, :, None]
    omega, spec = tr.spectrum(sig, traj.timestep, sum_axes=(1, 2))
    g_kt = 2 * np.asarray(spec) / (BOLTZMANN * 300.0)  # per rad/ps
    g = VDOS(window=Hann(), max_lag=256, x_unit="rad/ps")(traj)
    np.testing.assert_allclose(np.asarray(g.y_magnitude), g_kt, rtol=2e-3, atol=1e-6 * g_kt.max())


# ------------------------------------------------------------------ non-negativity
@settings(max_examples=10)
@given(
    seed=st.integers(0, 2**31 - 1),
    sigma_fs=st.floats(min_value=2.0, max_value=40.0),
)
def test_nonnegative_with_gaussian_window(seed, sigma_fs):
    rng = np.random.default_rng(seed)
    n = 40
    vel = rng.normal(size=(n, 2, 3)).cumsum(axis=0) * 0.1
    traj = Trajectory(
        Quantity(np.zeros((n, 2, 3)), "nm"),
        box=Quantity([2.0, 2.0, 2.0], "nm"),
        timestep=Quantity(1.0, "fs"),
        velocities=Quantity(vel, "nm/ps"),
        masses=Quantity(rng.uniform(1, 20, size=2), "Da"),
        dipole=Quantity(rng.normal(size=(n, 3)).cumsum(axis=0), "e * nm"),
    )
    window = Gaussian(Quantity(sigma_fs, "fs"))
    g = np.asarray(VDOS(window=window, max_lag=n - 1)(traj).y_magnitude)
    assert g.min() >= -1e-12 * g.max()
    for q in (Harmonic(), Standard()):
        ir = IRSpectrum(Quantity(300, "K"), quantum_correction=q, window=window, max_lag=n - 1)
        y = np.asarray(ir(traj).y_magnitude)
        assert y.min() >= -1e-12 * y.max()


def test_hann_side_lobes_are_bounded_for_sharp_lines():
    # Hann's transform has negative side lobes (~2.7 %): documented, and bounded.
    traj, _ = harmonic_oscillators(n_frames=1024)
    y = np.asarray(VDOS(window=Hann(), max_lag=256)(traj).y_magnitude)
    assert y.min() >= -0.03 * y.max()


# ------------------------------------------------------------------------ units
UNIT_SYSTEMS = [
    dict(length="nm", time="ps", dipole="e * nm", temp=(300.0, "K")),
    dict(length="angstrom", time="fs", dipole="e * angstrom", temp=(26.85, "degC")),
    dict(length="pm", time="ns", dipole="debye", temp=(540.0, "degR")),
]


@settings(max_examples=6)
@given(system=st.sampled_from(UNIT_SYSTEMS), seed=st.integers(0, 1000))
def test_same_physics_in_other_units_gives_same_spectrum(system, seed):
    rng = np.random.default_rng(seed)
    n = 64
    dip_nm = rng.normal(size=(n, 3)).cumsum(axis=0) * 0.01  # e nm
    vel = rng.normal(size=(n, 2, 3))  # nm/ps
    dt_ps, box_nm = 0.0005, 2.0

    def build(length, time, dipole, temp):
        lf = Quantity(1, "nm").m_as(length)
        tf = Quantity(1, "ps").m_as(time)
        traj = Trajectory(
            Quantity(np.zeros((n, 2, 3)), length),
            box=Quantity(np.full(3, box_nm * lf), length),
            timestep=Quantity(dt_ps * tf, time),
            velocities=Quantity(vel * lf / tf, f"{length}/{time}"),
            masses=Quantity([1.0, 2.0], "Da"),
            dipole=Quantity(dip_nm, "e * nm").to(dipole),
        )
        ir = IRSpectrum(Quantity(*temp), max_lag=Quantity(10 * dt_ps * tf, time))
        vd = VDOS(max_lag=Quantity(10 * dt_ps * tf, time))
        return ir(traj), vd(traj)

    ir_ref, vd_ref = build(**UNIT_SYSTEMS[0])
    ir_new, vd_new = build(**system)
    for ref, new in ((ir_ref, ir_new), (vd_ref, vd_new)):
        assert ref.x_unit == new.x_unit and ref.y_unit == new.y_unit
        np.testing.assert_allclose(new.x_magnitude, ref.x_magnitude, rtol=1e-10)
        np.testing.assert_allclose(
            new.y_magnitude, ref.y_magnitude, rtol=1e-9, atol=1e-12 * float(ref.y_magnitude.max())
        )


def test_axis_units_thz_mev():
    traj, _ = harmonic_oscillators(n_frames=1024)
    g_cm = VDOS(max_lag=256)(traj)
    g_mev = VDOS(max_lag=256, x_unit="meV")(traj)
    # 1 meV = 8.0655 cm^-1 (h c / e), computed from CODATA by pint independently of the code
    cm_per_mev = Quantity(1, "meV").to("1/cm", "sp").m
    np.testing.assert_allclose(g_mev.x_magnitude * cm_per_mev, g_cm.x_magnitude, rtol=1e-12)
    np.testing.assert_allclose(g_mev.y_magnitude, g_cm.y_magnitude * cm_per_mev, rtol=1e-12)
    back = g_mev.to("1/cm")
    np.testing.assert_allclose(back.y_magnitude, g_cm.y_magnitude, rtol=1e-12)
    assert back.y_unit == "cm"


# ------------------------------------------------------------------------- IR options
def test_quantum_corrections_in_ir_pipeline():
    dipole = rotating_ou_dipole(256, 0.004, 188.4, 0.1, 0.0025, seed=1)
    traj = dipole_trajectory(dipole, 0.004)
    kw = dict(max_lag=64)
    base = IRSpectrum(Quantity(300, "K"), **kw)(traj)
    classical = IRSpectrum(Quantity(300, "K"), quantum_correction=Classical(), **kw)(traj)
    standard = IRSpectrum(Quantity(300, "K"), quantum_correction=Standard(), **kw)(traj)
    schofield = IRSpectrum(Quantity(300, "K"), quantum_correction=Schofield(), **kw)(traj)
    # harmonic factor gives back the classical absorption formula
    np.testing.assert_allclose(base.y_magnitude, classical.y_magnitude, rtol=1e-12)
    # absolute SI prefactor, evaluated with pint in per-molecule SI units (not the package's
    # molar internal units): n alpha = pi w^2 C~(w) / (3 c V eps0 k_B T)
    w, c = SpectralTransform(Hann(), max_lag=64).spectrum(
        jnp.asarray(dipole), jnp.asarray(0.004), sum_axes=(1,), subtract_mean=True
    )
    c_tilde = Quantity(np.asarray(c), "e**2 * nm**2 * ps")
    omega_q = Quantity(np.asarray(w), "1/ps")
    denominator = 3 * Quantity(1, "speed_of_light") * Quantity(27.0, "nm**3")
    denominator = denominator * Quantity(1, "vacuum_permittivity * boltzmann_constant * K") * 300
    expected = (np.pi * omega_q**2 * c_tilde / denominator).to("1/cm").m
    np.testing.assert_allclose(base.y_magnitude, expected, rtol=1e-10, atol=1e-14 * expected.max())
    omega = wavenumber_to_omega(base.x_magnitude)
    x = HBAR * omega / (BOLTZMANN * 300.0)
    with np.errstate(invalid="ignore"):
        ratio_std = np.where(x > 0, np.tanh(x / 2) / (x / 2), 1.0)
        ratio_sch = np.where(x > 0, np.sinh(x / 2) / (x / 2), 1.0)
    np.testing.assert_allclose(standard.y_magnitude, base.y_magnitude * ratio_std, rtol=1e-10)
    np.testing.assert_allclose(schofield.y_magnitude, base.y_magnitude * ratio_sch, rtol=1e-10)


def test_dipole_derivative_route_matches_dipole_route():
    """Point charges on harmonic orbits: M = sum q r and dM/dt = sum q v give the same IR."""
    traj, _ = harmonic_oscillators(n_frames=2048, dt=0.002)
    charges = np.array([0.4, -0.4, 0.8, -0.3, 0.5, -1.0])
    dipole = np.einsum("i,fid->fd", charges, np.asarray(traj.positions))
    traj = traj.replace(
        charges=Quantity(charges, "e"),
        dipole=Quantity(dipole, "e * nm"),
        box=Quantity([2.0, 2.0, 2.0], "nm"),
    )
    kw = dict(window=Gaussian(Quantity(0.3, "ps")), max_lag=Quantity(1.5, "ps"))
    a = IRSpectrum(Quantity(300, "K"), **kw)(traj)
    b = IRSpectrum(Quantity(300, "K"), source=FromDipoleDerivative(), **kw)(traj)
    omega = wavenumber_to_omega(a.x_magnitude)
    ya, yb = np.asarray(a.y_magnitude), np.asarray(b.y_magnitude)
    # Undamped lines: the windowed line W(w - w0) is weighted by w^2 in one route and by w0^2
    # in the other, so compare line areas: equal up to the window's second moment
    # (1/sigma^2 / w0^2 < 0.5 %) and the finite-time estimate of C(t) (~1 % here).
    for w0 in (50.0, 120.0, 200.0):
        line = np.abs(omega - w0) < 20.0
        area_a = np.trapezoid(ya[line], omega[line])
        area_b = np.trapezoid(yb[line], omega[line])
        np.testing.assert_allclose(area_b, area_a, rtol=0.02)
        assert abs(np.argmax(ya[line]) - np.argmax(yb[line])) <= 1


# --------------------------------------------------------------------------- Raman
def polarizability_series(rng, n, iso_only=False, traceless=False):
    a = rng.normal(size=(n, 3, 3)).cumsum(axis=0) * 1e-3
    a = 0.5 * (a + np.swapaxes(a, 1, 2))
    iso = np.trace(a, axis1=1, axis2=2) / 3
    if iso_only:
        return (1.5 + iso)[:, None, None] * np.eye(3)
    if traceless:
        return a - iso[:, None, None] * np.eye(3)
    return a + 1.5 * np.eye(3)


def raman_trajectory(pol, dt_ps=0.001):
    n = pol.shape[0]
    return Trajectory(
        Quantity(np.zeros((n, 1, 3)), "nm"),
        box=None,
        timestep=Quantity(dt_ps, "ps"),
        polarizability=Quantity(pol, "angstrom**3"),
    )


def test_raman_isotropic_only_has_zero_depolarisation(rng):
    traj = raman_trajectory(polarizability_series(rng, 128, iso_only=True))
    out = RamanSpectrum(Quantity(300, "K"), max_lag=32)(traj)
    vv = np.asarray(out.vv.y_magnitude)
    assert vv.max() > 0
    np.testing.assert_allclose(out.anisotropic.y_magnitude, 0.0, atol=1e-14 * vv.max())
    np.testing.assert_allclose(out.vh.y_magnitude, 0.0, atol=1e-14 * vv.max())
    np.testing.assert_allclose(out.depolarization_ratio().y_magnitude, 0.0, atol=1e-12)
    np.testing.assert_allclose(out.vv.y_magnitude, out.isotropic.y_magnitude, rtol=1e-12)


def test_raman_traceless_has_depolarisation_three_quarters(rng):
    traj = raman_trajectory(polarizability_series(rng, 128, traceless=True))
    out = RamanSpectrum(Quantity(300, "K"), max_lag=32)(traj)
    rho = np.asarray(out.depolarization_ratio().y_magnitude)
    vv = np.asarray(out.vv.y_magnitude)
    significant = np.abs(vv) > 1e-6 * np.abs(vv).max()
    np.testing.assert_allclose(rho[significant], 0.75, rtol=1e-10)


def _rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def icosahedral_rotations():
    """The 60 rotations of the icosahedron (closure of a 5-fold and a 3-fold rotation)."""
    phi = (1 + np.sqrt(5)) / 2
    gens = [_rotation([0, 1, phi], 2 * np.pi / 5), _rotation([1, 1, 1], 2 * np.pi / 3)]
    group = {tuple(np.round(np.eye(3), 8).ravel()): np.eye(3)}
    frontier = [np.eye(3)]
    while frontier:
        new = []
        for g, h in itertools.product(frontier, gens):
            m = h @ g
            key = tuple(np.round(m, 8).ravel())
            if key not in group:
                group[key] = m
                new.append(m)
        frontier = new
    return list(group.values())


def test_vv_vh_are_rotational_averages_of_lab_frame_correlations(rng):
    """VV = iso + 4/45 aniso and VH = aniso/15 equal the orientational averages of the lab
    <a_zz a_zz> and <a_zx a_zx> spectra (icosahedral group: exact for quadratic forms)."""
    rotations = icosahedral_rotations()
    assert len(rotations) == 60
    pol = polarizability_series(rng, 128)
    dt = jnp.asarray(0.001)
    tr = SpectralTransform(Hann(), max_lag=32)
    lab = np.einsum("rij,fjk,rlk->rfil", np.array(rotations), pol, np.array(rotations))
    zz = jnp.asarray(np.moveaxis(lab[:, :, 2, 2], 0, 1))  # [frame, rotation]
    zx = jnp.asarray(np.moveaxis(lab[:, :, 2, 0], 0, 1))
    _, s_zz = tr.spectrum(zz, dt, subtract_mean=True)
    _, s_zx = tr.spectrum(zx, dt, subtract_mean=True)
    vv_avg = np.asarray(s_zz).mean(axis=1) * 1e-6  # angstrom^6 -> nm^6
    vh_avg = np.asarray(s_zx).mean(axis=1) * 1e-6
    raman = RamanSpectrum(Quantity(300, "K"), quantum_correction=Classical(), max_lag=32)
    omega, iso, aniso = raman.classical(raman_trajectory(pol))
    vv = np.asarray(iso + 4 / 45 * aniso)
    vh = np.asarray(aniso / 15)
    np.testing.assert_allclose(vv, vv_avg, rtol=1e-8, atol=1e-10 * np.abs(vv).max())
    np.testing.assert_allclose(vh, vh_avg, rtol=1e-8, atol=1e-10 * np.abs(vh).max())


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31 - 1), rotation=ots.rotations())
def test_raman_iso_aniso_invariant_under_rotation(seed, rotation):
    """α -> R α Rᵀ leaves the whole Raman result (isotropic, anisotropic, VV, VH) unchanged."""
    pol = polarizability_series(np.random.default_rng(seed), 128)
    raman = RamanSpectrum(Quantity(300, "K"), max_lag=32)
    report = ot.check_rotation_invariance(raman, raman_trajectory(pol), rotation, rtol=1e-9)
    assert report.passed


def test_raman_reduced_form(rng):
    traj = raman_trajectory(polarizability_series(rng, 128))
    kw = dict(quantum_correction=Standard(), max_lag=32)
    bose = RamanSpectrum(Quantity(250, "K"), **kw)(traj).vv
    reduced = RamanSpectrum(Quantity(250, "K"), reduced=True, **kw)(traj).vv
    omega = wavenumber_to_omega(bose.x_magnitude)
    x = HBAR * omega / (BOLTZMANN * 250.0)
    # R = I / (n + 1) = (1 - exp(-x)) I
    np.testing.assert_allclose(
        reduced.y_magnitude, bose.y_magnitude * (1 - np.exp(-x)), rtol=1e-10, atol=1e-300
    )
    assert bose.y_unit == "cm*nm**6" and bose.density


# ------------------------------------------------------------------------ Spectrum
def make_spectrum(density=True):
    x = jnp.linspace(0.0, 100.0, 101)
    return Spectrum(
        Quantity(x, "1/cm"),
        Quantity(2.0 * x + 1.0, "cm" if density else "1/cm"),
        density=density,
        metadata={"kind": "test", "temperature_K": 300.0, "quantity": "g"},
    )


def test_spectrum_plot_ends_where_the_spectrum_does():
    """A band at 1600 cm⁻¹ on a grid to Nyquist (8333 cm⁻¹ for 2 fs frames): the default
    window stops at 1.2 × the last point above 1 % of the peak (2000 cm⁻¹), not at Nyquist;
    "all" and explicit windows (any spectral unit) override it; the standard error is drawn
    as a band."""
    import matplotlib.pyplot as plt

    x = np.linspace(0.0, 8333.0, 2000)
    y = 1.0 / (1.0 + ((x - 1600.0) / 40.0) ** 2)
    band = Spectrum(Quantity(jnp.asarray(x), "1/cm"), Quantity(jnp.asarray(y), "cm"), density=True)
    shown = band.plot().get_lines()[0].get_xdata()
    assert 2300 < shown.max() < 2500
    assert band.plot(x_range="all").get_lines()[0].get_xdata().max() == x[-1]
    window = band.plot(x_range=(Quantity(1000, "1/cm"), Quantity(60, "THz"))).get_lines()[0]
    assert window.get_xdata().min() >= 1000 and window.get_xdata().max() <= 60 * 33.35641 + 1e-6
    with pytest.raises(UnitError, match="x_range"):
        band.plot(x_range=(Quantity(1, "nm"), Quantity(2, "nm")))
    with pytest.raises(UnitError, match="x_range"):
        band.plot(x_range=(1000, 2000))
    with pytest.raises(ValueError, match="'all'"):
        band.plot(x_range="some")
    errored = Spectrum(
        Quantity(jnp.asarray(x), "1/cm"),
        Quantity(jnp.asarray(y), "cm"),
        error=Quantity(jnp.full(x.size, 0.01), "cm"),
        density=True,
    )
    assert len(errored.plot().collections) == 1  # the ±1σ band
    plt.close("all")


def test_spectrum_csv_round_trip(tmp_path):
    s = make_spectrum()
    path = tmp_path / "s.csv"
    s.to_csv(path)
    text = path.read_text().splitlines()
    assert "[1/cm]" in text[5] and "[cm]" in text[5]
    back = Spectrum.from_csv(path)
    np.testing.assert_array_equal(back.x_magnitude, s.x_magnitude)
    np.testing.assert_array_equal(back.y_magnitude, s.y_magnitude)
    assert (back.x_unit, back.y_unit, back.density) == (s.x_unit, s.y_unit, s.density)
    assert back.metadata == s.metadata


def test_spectrum_resample():
    s = make_spectrum(density=False)
    grid = Quantity(jnp.asarray([0.5, 10.25, 99.0]), "1/cm")
    r = s.resample(grid)
    np.testing.assert_allclose(r.y_magnitude, 2 * np.asarray(grid.m) + 1, rtol=1e-12)
    # another unit: THz grid inside the range; a non-density keeps its values
    thz = Quantity(jnp.asarray([0.3, 1.5, 2.9]), "THz")
    r2 = s.resample(thz)
    cm = np.asarray(thz.m) / CM_PER_PS
    np.testing.assert_allclose(r2.y_magnitude, 2 * cm + 1, rtol=1e-12)
    assert r2.x_unit == "THz"
    # a density is rescaled by the Jacobian d(cm^-1)/d(THz)
    d = make_spectrum(density=True).resample(thz)
    np.testing.assert_allclose(d.y_magnitude, (2 * cm + 1) / CM_PER_PS, rtol=1e-12)
    assert d.y_unit == "1/THz"
    with pytest.raises(SpectrumError, match="only"):
        s.resample(Quantity(jnp.asarray([50.0, 150.0]), "1/cm"))
    with pytest.raises(UnitError, match=r"x in 1/cm onto a grid in m"):
        s.resample(Quantity(jnp.asarray([1.0]), "m"))
    with pytest.raises(UnitError):
        s.resample(jnp.asarray([1.0]))


def test_spectrum_plot_returns_axes():
    import matplotlib.pyplot as plt

    ax = make_spectrum().plot()
    assert isinstance(ax, matplotlib.axes.Axes)
    assert "cm" in ax.get_xlabel() and "Wavenumber" in ax.get_xlabel()
    assert "g" in ax.get_ylabel() and "cm" in ax.get_ylabel()
    plt.close("all")


# ---------------------------------------------------------------------- bad input
def test_missing_signals_raise_clear_errors():
    traj = Trajectory(
        Quantity(np.zeros((16, 2, 3)), "nm"),
        box=Quantity([1.0] * 3, "nm"),
        timestep=Quantity(1, "fs"),
    )
    with pytest.raises(TrajectoryError, match="dipole"):
        IRSpectrum(Quantity(300, "K"))(traj)
    with pytest.raises(TrajectoryError, match="polarizability"):
        RamanSpectrum(Quantity(300, "K"))(traj)
    with pytest.raises(TrajectoryError, match="velocities"):
        VDOS()(traj)
    with pytest.raises(TrajectoryError, match="charges"):
        IRSpectrum(Quantity(300, "K"), source=FromDipoleDerivative())(traj)
    no_box = Trajectory(
        Quantity(np.zeros((16, 1, 3)), "nm"),
        box=None,
        timestep=Quantity(1, "fs"),
        dipole=Quantity(np.ones((16, 3)), "debye"),
    )
    with pytest.raises(TrajectoryError, match="volume"):
        IRSpectrum(Quantity(300, "K"))(no_box)
    with pytest.raises(ValueError, match="max_lag"):
        IRSpectrum(Quantity(300, "K"), max_lag=Quantity(1, "ns"), volume=Quantity(1, "nm**3"))(
            no_box
        )


def test_bad_units_raise_unit_error():
    with pytest.raises(UnitError, match=r"temperature has unit m \(\[length\]\).* to K"):
        IRSpectrum(Quantity(300, "m"))
    with pytest.raises(UnitError, match="without units"):
        IRSpectrum(300.0)
    with pytest.raises(UnitError, match="without units"):
        VDOS(window=Hann(2.0))
    with pytest.raises(UnitError, match="without units"):
        VDOS(window=Gaussian(0.1))
    with pytest.raises(UnitError):
        VDOS(max_lag=2.0)
    with pytest.raises(UnitError, match="spectral axis"):
        VDOS(x_unit="nm")
    with pytest.raises(UnitError):
        VDOS(max_frequency=Quantity(3000, "K"))
    with pytest.raises(TypeError, match="AbstractQuantumCorrection"):
        IRSpectrum(Quantity(300, "K"), quantum_correction="harmonic")


# -------------------------------------------------------------------- jit and grad
def test_jit_with_traced_trajectory():
    dipole = rotating_ou_dipole(256, 0.004, 188.4, 0.1, 0.0025, seed=2)
    traj = dipole_trajectory(dipole, 0.004)
    ir = IRSpectrum(Quantity(300, "K"), max_lag=64)
    eager = ir(traj)
    jitted = jax.jit(lambda tr: ir(tr))(traj)
    np.testing.assert_allclose(jitted.y_magnitude, eager.y_magnitude, rtol=1e-12)
    np.testing.assert_allclose(jitted.x_magnitude, eager.x_magnitude, rtol=1e-12)
    timed = IRSpectrum(Quantity(300, "K"), max_lag=Quantity(0.2, "ps"))
    with pytest.raises(ValueError, match="concrete time step"):
        jax.jit(lambda tr: timed(tr))(traj)


def test_gradient_wrt_dipole_matches_finite_differences(rng):
    n, dt = 64, 0.004
    dipole0 = jnp.asarray(rotating_ou_dipole(n, dt, 188.4, 0.1, 0.0025, seed=4))
    ir = IRSpectrum(Quantity(300, "K"), window=Gaussian(Quantity(0.05, "ps")), max_lag=24)
    grid = Quantity(jnp.linspace(200.0, 1800.0, 40), "1/cm")
    target = jnp.linspace(0.0, 1.0, 40)

    def loss(dipole):
        traj = Trajectory.from_internal(
            jnp.zeros((n, 1, 3)), box=jnp.full(3, 3.0), timestep=dt, dipole=dipole
        )
        y = ir(traj).resample(grid).y_magnitude
        return jnp.sum((y / 1e3 - target) ** 2)

    grad = jax.jit(jax.grad(loss))(dipole0)
    assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0
    loss_jit = jax.jit(loss)
    h = 1e-6
    for _ in range(3):
        direction = jnp.asarray(rng.normal(size=(n, 3)))
        fd = (loss_jit(dipole0 + h * direction) - loss_jit(dipole0 - h * direction)) / (2 * h)
        np.testing.assert_allclose(jnp.vdot(grad, direction), fd, rtol=1e-6)


def test_vdos_time_reversal_and_permutation_invariance():
    traj, _ = harmonic_oscillators(n_frames=1024)
    vdos = VDOS(max_lag=256)
    ref = np.asarray(vdos(traj).y_magnitude)
    # time reversal: frames in reverse order, velocities negated
    reversed_traj = Trajectory.from_internal(
        traj.positions[::-1],
        box=None,
        timestep=traj.timestep,
        velocities=-traj.velocities[::-1],
        masses=traj.masses,
    )
    np.testing.assert_allclose(vdos(reversed_traj).y_magnitude, ref, rtol=1e-10, atol=1e-12)
    perm = np.array([3, 0, 5, 1, 4, 2])
    permuted = Trajectory.from_internal(
        traj.positions[:, perm],
        box=None,
        timestep=traj.timestep,
        velocities=traj.velocities[:, perm],
        masses=traj.masses[perm],
    )
    np.testing.assert_allclose(vdos(permuted).y_magnitude, ref, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ one protocol, one meaning
def test_ir_from_a_dipole_only_trajectory(rng):
    """IR needs only a dipole series, a time step and a volume: no fake positions."""
    dip = rng.normal(size=(64, 3))
    full = dipole_trajectory(dip, 0.001)
    bare = Trajectory(
        dipole=Quantity(dip, "e * nm"), box=Quantity([3.0] * 3, "nm"), timestep=Quantity(1, "fs")
    )
    ir = IRSpectrum(Quantity(300, "K"), max_lag=16)
    np.testing.assert_array_equal(ir(bare).y_magnitude, ir(full).y_magnitude)
    no_box = Trajectory(dipole=Quantity(dip, "e * nm"), box=None, timestep=Quantity(1, "fs"))
    with_volume = IRSpectrum(Quantity(300, "K"), max_lag=16, volume=Quantity(27, "nm**3"))
    np.testing.assert_allclose(with_volume(no_box).y_magnitude, ir(full).y_magnitude, rtol=1e-12)
    with pytest.raises(TrajectoryError, match="volume"):
        ir(no_box)
    with pytest.raises(TrajectoryError, match="polarizability"):
        RamanSpectrum(Quantity(300, "K"))(bare)
    with pytest.raises(TrajectoryError, match="velocities"):
        VDOS()(bare)


def test_raman_component_selects_what_the_result_presents(rng):
    traj = raman_trajectory(polarizability_series(rng, 128))
    kw = dict(max_lag=32)
    default = RamanSpectrum(Quantity(300, "K"), **kw)(traj)
    assert default.selected == "vv"
    np.testing.assert_array_equal(default.y_magnitude, default.vv.y_magnitude)
    for name, attr in (("vh", "vh"), ("iso", "isotropic"), ("anisotropic", "anisotropic")):
        res = RamanSpectrum(Quantity(300, "K"), component=name, **kw)(traj)
        np.testing.assert_array_equal(res.y_magnitude, getattr(default, attr).y_magnitude)
        np.testing.assert_array_equal(res.component(name).y_magnitude, res.y_magnitude)
        assert res.x_unit == "1/cm" and res.y_unit == RamanSpectrum(Quantity(300, "K")).y_unit
    with pytest.raises(ValueError, match="Raman component 'hv'"):
        RamanSpectrum(Quantity(300, "K"), component="hv")


def test_spectral_observables_declare_their_units():
    ir = IRSpectrum(Quantity(300, "K"), x_unit="THz")
    assert ir.units() == ("THz", "1/cm")
    assert VDOS(x_unit="THz").units() == ("THz", "1/THz")
    assert RamanSpectrum(Quantity(300, "K"), x_unit="meV").units() == ("meV", "nm**6/meV")
