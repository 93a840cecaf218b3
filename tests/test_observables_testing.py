"""`observables.testing`: its packaging, its strategies, and its checks on planted bugs.

The planted-bug tests take real observables, break each one the way observables are
commonly broken (a pair normalisation by N² instead of N(N-1), a missing 1/2π, a time step
read in fs as ps, distances without periodic images, a biased correlation estimator), and
show that the check named for that property fails on the broken variant, with a report
naming the property, while the real observable passes the same check on the same input.
"""

import importlib
import pathlib
import runpy
import subprocess
import sys
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import find, given, settings, strategies as st

import observables as ob
import observables.testing as ot
from observables import Quantity as Q
from observables.testing import strategies as ots


# ------------------------------------------------------------------------------ packaging
def test_without_hypothesis_the_import_error_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name == "observables.testing" or name.startswith("observables.testing."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # what a missing package looks like
    with pytest.raises(ImportError, match=r'pip install "spectrinv\[testing\]"'):
        importlib.import_module("observables.testing")


def test_importable_without_pytest():
    """With pytest made unimportable, `observables.testing` still imports (fresh interpreter)."""
    code = (
        "import sys; sys.modules['pytest'] = sys.modules['_pytest'] = None; "
        "import observables.testing; print('imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "imported", out.stderr[-2000:]


# ----------------------------------------------------------------------------- strategies
@settings(max_examples=15)
@given(ots.boxes(triclinic=True), st.data())
def test_triclinic_boxes_and_their_r_max_are_valid_for_the_rdf(box, data):
    cell = np.asarray(box.m_as("nm"))
    assert cell.shape == (3, 3) and np.linalg.det(cell) > 0
    assert np.allclose(np.triu(cell, 1), 0)  # lower triangular: a along x, b in the xy plane
    r_max = ots.max_r_max(box)
    widths = np.asarray(ob.perpendicular_widths(jnp.asarray(cell)))
    assert r_max.m_as("nm") == pytest.approx(widths.min() / 2, rel=1e-12)
    traj = data.draw(ots.trajectories(n_frames=1, n_atoms=(2, 4), box=st.just(box)))
    ob.RDF(r_max, bins=4, n_blocks=None)(traj)  # the largest r_max is accepted ...
    with pytest.raises(ValueError, match="exceeds the limit"):  # ... and a larger one refused
        ob.RDF(r_max * 1.01, bins=4, n_blocks=None)(traj)


def test_a_failing_example_shrinks_to_a_small_readable_trajectory():
    """Any property that fails for 3 or more atoms shrinks to 3 atoms, 2 frames, the atoms
    at the origin of a cube and at rest: still a valid trajectory."""
    fields = ("positions", "velocities", "masses")
    smallest = find(
        ots.trajectories(fields=fields, n_atoms=(1, 6), n_frames=(2, 8)),
        lambda t: t.n_atoms >= 3,
        settings=settings(database=None, max_examples=200),
    )
    assert (smallest.n_frames, smallest.n_atoms) == (2, 3)
    np.testing.assert_array_equal(np.asarray(smallest.positions), 0.0)
    np.testing.assert_array_equal(np.asarray(smallest.velocities), 0.0)
    np.testing.assert_allclose(smallest.quantity("masses").m_as("g/mol"), 1.0, rtol=1e-12)
    np.testing.assert_allclose(smallest.quantity("box").m_as("nm"), 1.0, rtol=1e-12)


@settings(max_examples=5)
@given(ots.ornstein_uhlenbeck(n_atoms=256, n_frames=(200, 300)))
def test_ornstein_uhlenbeck_velocities_have_the_stated_statistics(ou):
    """Equipartition ⟨v²⟩ = 3kT/m and the lag-1 correlation e^{-γΔt}, from NumPy directly."""
    v = np.asarray(ou.trajectory.velocities)
    c0 = np.mean(np.sum(v * v, axis=-1))
    c1 = np.mean(np.sum(v[1:] * v[:-1], axis=-1))
    kt_over_m = ob.BOLTZMANN * ou.temperature / ou.mass
    assert c0 == pytest.approx(3 * kt_over_m, rel=0.03)
    dt = float(ou.trajectory.timestep)
    assert c1 / c0 == pytest.approx(np.exp(-ou.gamma * dt), abs=0.02)
    assert ou.diffusion().m_as("nm**2/ps") == pytest.approx(kt_over_m / ou.gamma, rel=1e-12)


@settings(max_examples=3)
@given(ots.simple_cubic_lattice())
def test_lattice_shells_hold_the_stated_neighbours(lattice):
    """Counting neighbours with `minimum_image` recovers the 6, 12, 8 (and 6 at 2a, half the
    box when n_cells = 4) of the first shells."""
    x = jnp.asarray(lattice.trajectory.positions[0])
    d = ob.minimum_image(x[:, None] - x[None], lattice.trajectory.box_matrix[0])
    r = np.sort(np.linalg.norm(np.asarray(d[0]), axis=-1))[1:]
    for radius, count in lattice.shells[:3]:
        assert np.sum(np.isclose(r, radius, rtol=1e-9)) == count


@settings(max_examples=3)
@given(ots.simple_cubic_lattice())
def test_coordination_numbers_of_a_lattice_and_the_n_squared_variant(lattice):
    """The RDF of a simple cubic crystal integrates to 6, 18, 26 neighbours; with the pair
    density N²/V the counts come out (N-1)/N too small and the sum rule names it."""
    traj = lattice.trajectory
    rdf = ob.RDF(ots.max_r_max(traj.quantity("box")), bins=200, n_blocks=None)
    assert ot.check_coordination_numbers(rdf, traj, lattice.shells).deviation < 1e-9
    report = _caught(
        ot.check_coordination_numbers,
        _RDFOverNSquared(rdf),
        traj,
        lattice.shells,
        prop="coordination numbers",
    )
    assert report.deviation == pytest.approx(1 / traj.n_atoms, rel=1e-6)


@settings(max_examples=3)
@given(ots.damped_harmonic_dipoles(n_frames=8192))
def test_damped_dipoles_have_the_stated_autocorrelation(osc):
    """⟨M(0)·M(t)⟩ from the correlation engine against the exact damped-oscillator form, over
    the first 60 frames (about two periods at the slowest ω0)."""
    c = np.asarray(ob.correlate(osc.trajectory.dipole, max_lag=60, sum_axes=(1,)))
    exact = osc.variance * osc.normalised_acf(np.arange(61) * osc.trajectory.quantity("timestep"))
    assert np.max(np.abs(c - exact)) < 0.1 * osc.variance
    omega = ob.Quantity(np.linspace(-4000.0, 4000.0, 400001), "1/ps")  # the line is normalised
    assert np.trapezoid(osc.line_shape(omega).m_as("ps"), omega.m) == pytest.approx(1, abs=2e-3)


@settings(max_examples=3)
@given(ots.damped_harmonic_polarizabilities(n_frames=16384, gamma=(20.0, 40.0)))
def test_raman_depolarisation_ratio_and_peak_of_damped_polarizabilities(osc):
    """The classical Raman spectra: ∫VH / ∫VV equals the stated depolarisation ratio to 15 %
    (32 ps hold a few hundred correlation times of the single isotropic oscillator; 15
    examples: at most 6 %) and VV peaks within a quarter of the line width γ of the
    classical line's maximum, √(ω0² - γ²/2) (15 examples: at most 1.8 grid points, 0.1 γ)."""
    raman = ob.RamanSpectrum(Q(300.0, "K"), quantum_correction=ob.Classical(), max_lag=400)
    res = raman(osc.trajectory)
    ratio = float(res.vh.integral().m) / float(res.vv.integral().m)
    assert ratio == pytest.approx(osc.depolarization_ratio, rel=0.15)
    omega = res.vv.to("rad/ps").x.m
    peak = omega[np.argmax(np.asarray(res.vv.y_magnitude))]
    tolerance = osc.gamma / 4 + (omega[1] - omega[0])  # a quarter of the line width
    assert abs(peak - np.sqrt(osc.omega0**2 - osc.gamma**2 / 2)) <= tolerance


# ---------------------------------------------------------------------------- the reports
def test_a_failure_names_the_property_the_deviation_and_the_example():
    traj = ob.Trajectory(
        Q(np.zeros((4, 2, 3)), "nm"),
        box=Q([2.0, 2.0, 2.0], "nm"),
        timestep=Q(1.0, "fs"),
        velocities=Q(np.ones((4, 2, 3)), "nm/ps"),
        masses=Q([1.0, 2.0], "Da"),
    )
    with pytest.raises(ot.PropertyError) as info:
        ot.check_vdos_modes(_VDOSMissingOneOverTwoPi(ob.VDOS(max_lag=2, n_blocks=None)), traj)
    message = str(info.value)
    assert message.startswith("VDOS sum rule (3N modes) FAILS for _VDOSMissingOneOverTwoPi")
    assert "4 frames; 2 atoms" in message and "timestep 0.001 ps" in message
    assert info.value.report.deviation == pytest.approx(2 * np.pi - 1, rel=1e-9)
    assert isinstance(info.value, AssertionError)


# ------------------------------------------------------------------- planted bugs, caught
class _RDFOverNSquared(ob.AbstractObservable):
    """RDF with the pair density N²/V instead of N(N-1)/V."""

    inner: ob.RDF
    x_unit = "nm"
    y_unit = "dimensionless"

    def __call__(self, trajectory):
        res, n = self.inner(trajectory), trajectory.n_atoms
        return eqx.tree_at(lambda r: r.g, res, res.g * (n - 1) / n)


class _VDOSMissingOneOverTwoPi(ob.AbstractObservable):
    """VDOS per unit of frequency computed per unit of angular frequency × 2π too much."""

    inner: ob.VDOS
    x_unit = "1/cm"
    y_unit = "cm"

    def __call__(self, trajectory):
        res = self.inner(trajectory)
        return eqx.tree_at(lambda r: r.y_magnitude, res, res.y_magnitude * 2 * np.pi)


class _DiffusionTimestepInFs(ob.AbstractObservable):
    """Self-diffusion that takes the time step (ps) for femtoseconds and converts it again."""

    inner: ob.SelfDiffusion
    x_unit = None
    y_unit = "nm**2/ps"

    def __call__(self, trajectory):
        slipped = ob.Trajectory.from_internal(
            trajectory.positions,
            box=trajectory.box,
            timestep=trajectory.timestep * 1000.0,
            velocities=trajectory.velocities,
            masses=trajectory.masses,
        )
        return self.inner(slipped)


class _RDFWithoutPeriodicImages(ob.AbstractObservable):
    """RDF from plain distances: the real RDF in a cell 100× larger, renormalised."""

    inner: ob.RDF
    x_unit = "nm"
    y_unit = "dimensionless"

    def __call__(self, trajectory):
        big = ob.Trajectory.from_internal(
            trajectory.positions, box=trajectory.box * 100.0, timestep=trajectory.timestep
        )
        res = self.inner(big)
        return eqx.tree_at(lambda r: r.g, res, res.g * 100.0**3)


class _BiasedSelfDiffusion(ob.SelfDiffusion):
    """VACF normalised by the number of frames N instead of the N - k origins at lag k."""

    def _correlation(self, trajectory, signal, n_lags):
        c = super()._correlation(trajectory, signal, n_lags)
        n = signal.shape[0]
        lags = jnp.arange(n_lags, dtype=c.dtype)
        return c * ((n - lags) / n)[:, None]


def _caught(check, broken, *args, prop, **kwargs):
    with pytest.raises(ot.PropertyError) as info:
        check(broken, *args, **kwargs)
    report = info.value.report
    assert report.property.startswith(prop) and not report.passed
    assert report.observable == type(broken).__name__
    return report


@settings(max_examples=3)
@given(ots.ideal_gas(n_atoms=8, n_frames=400, box=ots.boxes(min_width=2.0, max_width=2.5)))
def test_planted_pair_normalisation_by_n_squared(gas):
    """Triclinic or orthorhombic cells, r_max at its largest valid value."""
    rdf = ob.RDF(ots.max_r_max(gas.quantity("box")), bins=20, n_blocks=None)
    assert ot.check_ideal_gas_rdf(rdf, gas).passed
    report = _caught(ot.check_ideal_gas_rdf, _RDFOverNSquared(rdf), gas, prop="ideal-gas")
    assert report.deviation > 6  # 1/8 low, with a counting error of 1.2-1.6 %


VELOCITIES = ots.ornstein_uhlenbeck(n_atoms=8, n_frames=48)


@settings(max_examples=3)
@given(VELOCITIES)
def test_planted_missing_one_over_two_pi(ou):
    vdos = ob.VDOS(max_lag=16, n_blocks=None)
    assert ot.check_vdos_modes(vdos, ou.trajectory).deviation < 1e-10
    report = _caught(
        ot.check_vdos_modes, _VDOSMissingOneOverTwoPi(vdos), ou.trajectory, prop="VDOS sum rule"
    )
    assert report.deviation == pytest.approx(2 * np.pi - 1, rel=1e-9)


@settings(max_examples=3)
@given(ots.ornstein_uhlenbeck(n_atoms=32, n_frames=400))
def test_planted_timestep_unit_slip_fs_for_ps(ou):
    diffusion = ob.SelfDiffusion(max_lag=20)
    exact = ou.diffusion(window=20 * ou.trajectory.quantity("timestep"))
    assert ot.check_value(diffusion, ou.trajectory, exact, rtol=0.01).passed
    _caught(
        ot.check_value,
        _DiffusionTimestepInFs(diffusion),
        ou.trajectory,
        exact,
        rtol=0.01,
        prop="value = known answer",
    )


@settings(max_examples=5)
@given(
    ots.ideal_gas(n_atoms=8, n_frames=2, box=ots.boxes(min_width=1.5)),
    st.tuples(*[st.floats(0.25, 0.75)] * 3),
)
def test_planted_distance_without_periodic_images(gas, fraction):
    """Shifting by a quarter to three quarters of the cell and wrapping moves some atoms
    across the cell; plain distances then change, minimum-image distances do not."""
    rdf = ob.RDF(Q(0.7, "nm"), bins=10, kernel=ob.GaussianKernel(Q(0.05, "nm")), n_blocks=None)
    shift = Q(np.asarray(fraction) @ np.asarray(gas.box_matrix[0]), "nm")
    assert ot.check_translation_invariance(rdf, gas, shift).passed
    broken = _RDFWithoutPeriodicImages(rdf)
    # the variant is a translation-invariant function of plain distances ...
    assert ot.check_translation_invariance(broken, gas, shift, wrap=False).passed
    # ... which wrapping the atoms back into the cell exposes
    _caught(ot.check_translation_invariance, broken, gas, shift, prop="translation invariance")


@settings(max_examples=3)
@given(ots.ornstein_uhlenbeck(n_atoms=2048, n_frames=40, gamma=(4.0, 6.0)))
def test_planted_biased_correlation_estimator(ou):
    real = ob.SelfDiffusion(max_lag=16, n_blocks=2)
    assert ot.check_correlation_function(real, ou.trajectory, ou.vacf).passed
    _caught(
        ot.check_correlation_function,
        _BiasedSelfDiffusion(max_lag=16, n_blocks=2),
        ou.trajectory,
        ou.vacf,
        prop="correlation function = exact",
    )


def test_detailed_balance_holds_for_quantum_corrections_and_fails_classically():
    for correction in (ob.Harmonic(), ob.Standard(), ob.Schofield()):
        assert ot.check_detailed_balance(correction, 250.0).passed
    _caught(ot.check_detailed_balance, ob.Classical(), 250.0, prop="detailed balance")


# ---------------------------------------------------------------- error bars and tutorial
class _OverconfidentDiffusion(ob.AbstractObservable):
    """Self-diffusion reporting a fifth of its block standard error."""

    inner: ob.SelfDiffusion
    x_unit = None
    y_unit = "nm**2/ps"

    def __call__(self, trajectory):
        res = self.inner(trajectory)
        return eqx.tree_at(lambda r: r.error_magnitude, res, res.error_magnitude / 5)


def test_error_calibration_of_self_diffusion_on_ornstein_uhlenbeck_replicas():
    """12 independent replicas: the block error of D is calibrated (rms z within a factor
    2 of 1; the rms of 12 z-scores scatters by about 20 %); a fifth of it is not."""
    replicas = [
        ots.OrnsteinUhlenbeck.sample(
            seed, n_atoms=16, n_frames=400, gamma=10.0, temperature=300.0, mass=10.0
        )
        for seed in range(12)
    ]
    exact = replicas[0].diffusion(window=Q(0.2, "ps"))
    diffusion = ob.SelfDiffusion(max_lag=20, n_blocks=5)
    trajectories = [r.trajectory for r in replicas]
    report = ot.check_error_calibration(diffusion, trajectories, exact)
    assert report.passed
    _caught(
        ot.check_error_calibration,
        _OverconfidentDiffusion(diffusion),
        trajectories,
        exact,
        prop="error bars calibrated",
    )


def test_the_tutorial_example_passes_and_its_biased_variant_fails():
    path = pathlib.Path(__file__).parents[1] / "docs" / "examples" / "property_testing.py"
    tutorial = runpy.run_path(str(path))
    for name in ("test_symmetries", "test_jit_vmap_and_gradient"):
        tutorial[name]()
    tutorial["test_exact_vacf_of_ornstein_uhlenbeck_velocities"]()

    @settings(max_examples=2, database=None)
    @given(ots.ornstein_uhlenbeck(n_atoms=1024, n_frames=40, gamma=(4.0, 6.0)))
    def biased_fails(ou):
        biased = tutorial["VACF"](max_lag=16, unbiased=False)
        _caught(
            ot.check_correlation_function,
            biased,
            ou.trajectory,
            ou.vacf,
            prop="correlation function = exact",
        )

    biased_fails()


# ------------------------------------------------- every other check fails when it should
class _ValueResult(ob.AbstractResult):
    y_magnitude: jax.Array
    x_magnitude: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "nm**2/ps**2"
    error_magnitude: ClassVar[None] = None
    density: ClassVar[bool] = False


class _MeanSquareVelocity(ob.AbstractObservable):
    """⟨v(0)v(lag)⟩ per component, optionally broken in one way (`bug`); the lag is one frame
    or `lag_ps` (eager use only: it reads the time step as a number)."""

    bug: str = eqx.field(static=True, default="")
    lag_ps: float | None = eqx.field(static=True, default=None)  # None: 1 frame
    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "nm**2/ps**2"

    def __call__(self, trajectory):
        v = trajectory.velocities
        lag = 1 if self.lag_ps is None else max(1, round(self.lag_ps / float(trajectory.timestep)))
        y = jnp.mean(v[lag:] * v[:-lag])
        if self.bug == "trace-time noise":  # a NumPy random number frozen into the trace
            y = y + np.random.default_rng().normal()
        elif self.bug == "stop_gradient":
            y = 0.5 * y + 0.5 * jax.lax.stop_gradient(y)
        elif self.bug == "float64 inside":
            y = y.astype(jnp.float64)
        elif self.bug == "x only":
            y = jnp.mean(v[lag:, :, 0] * v[:-lag, :, 0])
        elif self.bug == "first atom weighted":
            y = y + jnp.mean(v[:, 0] ** 2)
        elif self.bug == "mean velocity":
            y = y + jnp.mean(v)
        return _ValueResult(y)


def _lag_read_as_ps(units):
    """A factory that takes the magnitude of a 2 fs lag in the unit system's time unit as ps
    (a unit slip in a parameter: right only when the unit system is in ps; in ns the lag
    becomes 2e-6 ps, rounded up to 1 frame instead of 2)."""
    return _MeanSquareVelocity(lag_ps=ob.Quantity(0.002, "ps").m_as(units["time"]))


CHECK_FAILURES = {
    "trace-time noise": (lambda o, t: ot.check_transforms(o, t), "eager = jit∘vmap"),
    "stop_gradient": (lambda o, t: ot.check_gradient(o, t, "velocities"), "gradient"),
    "float64 inside": (lambda o, t: ot.check_dtypes(o, t), "float32 = float64"),
    "x only": (lambda o, t: ot.check_rotation_invariance(o, t, ROTATION), "rotation"),
    "first atom weighted": (
        lambda o, t: ot.check_permutation_invariance(o, t, [1, 2, 3, 0]),
        "permutation",
    ),
    "mean velocity": (lambda o, t: ot.check_time_reversal(o, t), "time-reversal"),
}
ROTATION = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
    [[1.0, 0.0, 0.0], [0.0, 0.6, -0.8], [0.0, 0.8, 0.6]]
)


def _velocity_traj():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(16, 4, 3)) + np.array([0.5, -0.2, 0.1])  # a net drift
    return ob.Trajectory(
        Q(np.zeros((16, 4, 3)), "nm"),
        box=Q([2.0, 2.0, 2.0], "nm"),
        timestep=Q(1.0, "fs"),
        velocities=Q(v, "nm/ps"),
        masses=Q([1.0, 2.0, 3.0, 4.0], "g/mol"),
    )


@pytest.mark.parametrize("bug", sorted(CHECK_FAILURES))
def test_each_check_fails_on_a_variant_that_breaks_its_property(bug):
    run, prop = CHECK_FAILURES[bug]
    traj = _velocity_traj()
    assert run(_MeanSquareVelocity(), traj).passed
    with pytest.raises(ot.PropertyError, match=prop) as info:
        run(_MeanSquareVelocity(bug=bug), traj)
    assert info.value.report.deviation > 10 * info.value.report.tolerance


def test_unit_covariance_catches_a_parameter_read_in_the_wrong_unit():
    traj = _velocity_traj()
    correct = lambda units: _MeanSquareVelocity(  # noqa: E731
        lag_ps=ob.Quantity(0.002, "ps").to(units["time"]).to("ps").m
    )
    assert ot.check_unit_covariance(correct, traj, length="angstrom", time="ps").passed
    assert ot.check_unit_covariance(correct, traj, length="angstrom", time="fs").passed
    assert ot.check_unit_covariance(_lag_read_as_ps, traj, time="ps").passed
    with pytest.raises(ot.PropertyError, match=r"unit covariance \(nm, ps, g/mol -> angstrom, ns"):
        ot.check_unit_covariance(_lag_read_as_ps, traj, length="angstrom", time="ns")
    with pytest.raises(ot.PropertyError, match="unit covariance"):  # 2 ps: past the end, NaN
        ot.check_unit_covariance(_lag_read_as_ps, traj, length="angstrom", time="fs")
