"""`observables.Pressure`: the frame-averaged virial pressure in bar with a block error."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from observables import ErrorBarWarning, Pressure, PressureResult, Quantity, Trajectory
from observables._trajectory import TrajectoryError

#: bar per kJ mol⁻¹ nm⁻³, from SI constants (independent of the package's unit helpers)
BAR = 1e3 / 6.02214076e23 / 1e-27 / 1e5


def trajectory(stress, n_atoms=2, box=2.0):
    stress = np.asarray(stress, dtype=float)
    n = stress.shape[0]
    positions = np.zeros((n, n_atoms, 3)) + np.arange(n_atoms)[None, :, None] * 0.1
    return Trajectory.from_internal(positions, box=np.full(3, box), timestep=0.01, stress=stress)


def test_ideal_gas_kinetic_pressure_is_nkt_over_v():
    """Stress = kinetic tensor Σ m v⊗v / V of Maxwell–Boltzmann velocities (no forces):
    ⟨P⟩ = N k_B T / V, computed here with SI constants, within 4 block errors; the block
    error matches the exact standard error of the mean of independent frames to 25 %."""
    rng = np.random.default_rng(0)
    n_atoms, n_frames, temperature, mass, box = 50, 2000, 300.0, 39.948, 3.0
    kt = 1.380649e-23 * 6.02214076e23 * temperature / 1e3  # kJ/mol
    v = rng.normal(size=(n_frames, n_atoms, 3)) * np.sqrt(kt / mass)
    stress = np.einsum("fia,fib->fab", mass * v, v) / box**3
    res = Pressure(n_blocks=20)(trajectory(stress, n_atoms=n_atoms, box=box))
    assert isinstance(res, PressureResult) and res.x is None
    exact = n_atoms * 1.380649e-23 * temperature / (box * 1e-9) ** 3 / 1e5  # bar
    assert res.value.units == Quantity(1, "bar").units
    assert abs(res.value.m - exact) < 4 * res.error.m
    # per-frame P = (2/3) K/V: variance of (Σ m v²)/3V is 2 N (kT)²/(3 V²)
    sem = np.sqrt(2 * n_atoms / 3) * kt / box**3 * BAR / np.sqrt(n_frames)
    assert abs(res.error.m / sem - 1) < 0.25


def test_hand_built_stress_and_units():
    """P = tr(Π)/3 per frame, averaged, in bar: 1 kJ mol⁻¹ nm⁻³ = 16.6054 bar."""
    stress = np.stack([np.diag([1.0, 2.0, 3.0]), np.diag([3.0, 3.0, 3.0]) + 5 * np.eye(3)[::-1]])
    res = Pressure(n_blocks=None)(trajectory(stress))
    assert res.error is None
    np.testing.assert_allclose(res.value.m, 0.5 * (2.0 + 3.0 + 5.0 / 3.0) * BAR, rtol=1e-9)
    np.testing.assert_allclose(BAR, 16.6054, rtol=1e-5)


@settings(max_examples=20, deadline=None)
@given(
    a=st.floats(-5, 5),
    b=st.floats(-5, 5),
    seed=st.integers(0, 2**16),
)
def test_linear_in_stress_and_invariant_under_frame_permutation(a, b, seed):
    rng = np.random.default_rng(seed)
    s1, s2 = rng.normal(size=(2, 6, 3, 3))
    p = Pressure(n_blocks=None)
    pa = float(p(trajectory(a * s1 + b * s2)).y_magnitude)
    expected = a * float(p(trajectory(s1)).y_magnitude) + b * float(p(trajectory(s2)).y_magnitude)
    assert abs(pa - expected) <= 1e-9 * (1 + abs(expected))
    perm = rng.permutation(6)
    np.testing.assert_allclose(
        float(p(trajectory(s1[perm])).y_magnitude), float(p(trajectory(s1)).y_magnitude), 1e-12
    )


def test_error_bar_is_calibrated_on_correlated_series():
    """AR(1) pressure series (correlation time ≈ 4 frames, 2000 frames, 20 blocks): over
    100 independent series the mean reported error matches the spread of the estimates
    to 20 % (the spread of 100 values is known to 7 %), and the rms z-score is ≈ 1
    (Student t with 19 dof: 1.06)."""
    n_series, n_frames, phi = 100, 2000, 0.8
    key = jax.random.key(1)
    noise = jax.random.normal(key, (n_series, n_frames))

    def ar1(eps):
        def step(x, e):
            x = phi * x + np.sqrt(1 - phi**2) * e
            return x, x

        return jax.lax.scan(step, eps[0], eps[1:])[1]

    series = np.asarray(jax.vmap(ar1)(noise))  # [series, frame - 1], unit variance, mean 0
    stress = series[..., None, None] * np.eye(3)  # P = series * BAR
    p = Pressure(n_blocks=20)
    out = [p(trajectory(s)) for s in stress]
    est = np.array([float(r.y_magnitude) for r in out]) / BAR
    err = np.array([float(r.error_magnitude) for r in out]) / BAR
    spread = est.std(ddof=1)
    assert abs(err.mean() / spread - 1) < 0.2, (err.mean(), spread)
    rms_z = np.sqrt(np.mean((est / err) ** 2))
    assert 0.8 < rms_z < 1.3, rms_z


def test_frame_average_and_single_frame():
    """`Pressure` of a trajectory is the mean over its frames (what `Reweighting` needs); a
    single frame has no error bar (`ErrorBarWarning`)."""
    stress = np.random.default_rng(2).normal(size=(10, 3, 3))
    traj = trajectory(stress)
    p = Pressure()
    with pytest.warns(ErrorBarWarning):
        per_frame = [float(p(traj[i]).y_magnitude) for i in range(10)]
    assert p(traj[0]).error_magnitude is None
    np.testing.assert_allclose(float(p(traj).y_magnitude), np.mean(per_frame), rtol=1e-12)
    # differentiable: the pressure is linear in the stress
    base = trajectory(np.zeros((10, 3, 3)))
    g = jax.grad(lambda s: p(eqx.tree_at(lambda t: t.stress, base, s)).y_magnitude)
    expected = np.broadcast_to(np.eye(3) * BAR / 30, (10, 3, 3))
    np.testing.assert_allclose(np.asarray(g(jnp.asarray(stress))), expected, rtol=1e-12)


def test_bad_input():
    traj = Trajectory.from_internal(np.zeros((3, 2, 3)), box=np.full(3, 2.0), timestep=0.01)
    with pytest.raises(TrajectoryError, match="stress"):
        Pressure()(traj)
    stress = np.zeros((4, 3, 3))
    stress[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="stress contains 1 non-finite"):
        trajectory(stress)  # refused when the trajectory is built
    sneaked = eqx.tree_at(lambda t: t.stress, trajectory(np.zeros((4, 3, 3))), stress)
    with pytest.raises(ValueError, match="stress of frame 2 is not finite"):
        Pressure()(sneaked)
    with pytest.raises(ValueError, match="n_blocks"):
        Pressure(n_blocks=1)
    with pytest.raises(TypeError, match="Trajectory"):
        Pressure()(np.zeros((3, 3, 3)))
