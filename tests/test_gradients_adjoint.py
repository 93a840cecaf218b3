"""`Adjoint` (discrete adjoint of velocity Verlet): agreement with plain BPTT (`jax.grad`
through `JaxMDBackend.run`) and with central finite differences, velocity / position /
stress losses, flexible water, replicas, frozen parameters, the reconstruction-error check
and bad input.

All default LJ tests share one 32-atom argon system, `stride=10` and `anchor_every=100`, so
the jitted forward/backward kernels compile once for the module."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import argon, fcc

from observables import Quantity, UnitError
from spectrinv.backends import (
    JaxMDBackend,
    Langevin,
    Positions,
    Stress,
    Velocities,
    VelocityVerlet,
)
from spectrinv.gradients._adjoint import Adjoint, ReconstructionError
from spectrinv.gradients._base import Objective, tree_norm
from spectrinv.potentials import (
    DampedShiftedForce,
    spc_fw,
    water_box,
)

STRIDE, ANCHOR = 10, 100


def argon_nve(dtype=jnp.float64, n=3):
    """4 n³ argon atoms (fcc start, ρ* ≈ 0.84; n=3: 108, r_c = 0.85 nm; n=2: 32, r_c =
    0.55 nm, under half the 1.14 nm box), force-shifted LJ, 90 K, Δt = 4 fs."""
    if n == 3:
        pos, system, lj = argon(dtype=dtype)
        backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    else:
        pos, system, lj = argon(n=n, cutoff=0.55, dtype=dtype)
        # generous capacity: the small melting lattice would overflow the default one
        backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), capacity_multiplier=2.0)
    state = backend.init(
        lj,
        system,
        Quantity(pos.astype(dtype), "nm"),
        temperature=Quantity(90, "K"),
        key=jax.random.key(0),
    )
    return system, lj, backend, state


@pytest.fixture(scope="module")
def lj_setup():
    return argon_nve(n=2)


def vacf(traj):
    """⟨v(t)·v(0)⟩ per frame (frame 0 as the time origin), nm²/ps²."""
    v = traj.velocities
    return jnp.mean(jnp.sum(v * v[:1], axis=-1), axis=-1)


def sum_squares(x):
    return jnp.sum(x**2)


VACF = Objective(vacf, sum_squares)


def bptt(objective, params, static, backend, system, state, n_steps, stride=STRIDE):
    """Plain BPTT reference: `jax.value_and_grad` through `backend.run` (mean over replicas
    for a batched state, the convention of `Adjoint`)."""

    def loss(p):
        traj, final, overflowed = backend.run(
            eqx.combine(p, static),
            system,
            state,
            jax.random.key(1),
            n_steps,
            stride=stride,
            record=objective.record,
        )
        if state.batched:
            obs = jax.tree.map(lambda x: jnp.mean(x, 0), jax.vmap(objective.observe)(traj))
        else:
            obs = objective.observe(traj)
        return objective.loss(obs), (overflowed, final)

    (value, (overflowed, final)), grad = eqx.filter_jit(jax.value_and_grad(loss, has_aux=True))(
        params
    )
    assert not bool(overflowed)
    return value, grad, final


def adjoint(objective, params, static, backend, system, state, n_steps, **kw):
    kw = dict(stride=STRIDE, anchor_every=ANCHOR) | kw
    return Adjoint(n_steps, **kw)(
        objective,
        params,
        static,
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(1),
    )


def rel_diff(a, b):
    diff = jax.tree.map(lambda x, y: x - y, a, b)
    return float(tree_norm(diff) / tree_norm(b))


@pytest.mark.slow
def test_matches_bptt_lj_1000_steps(lj_setup):
    """VACF loss through 1000 steps (4 ps ≈ 1.9 τ), 10 anchors: adjoint = BPTT to ≤ 1e-6
    relative (measured ~1e-15), same loss, reconstruction error at rounding level."""
    system, lj, backend, state = lj_setup
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    res = adjoint(VACF, params, static, backend, system, state, 1000)
    value, grad, final = bptt(VACF, params, static, backend, system, state, 1000)
    np.testing.assert_allclose(res.loss, value, rtol=1e-12)
    assert rel_diff(res.grad, grad) < 1e-6
    for leaf in ("sigma", "epsilon"):  # each component, not only the norm
        np.testing.assert_allclose(getattr(res.grad, leaf), getattr(grad, leaf), rtol=1e-6)
    d = res.diagnostics
    assert d["n_anchors"] == 11 and d["n_steps"] == 1000
    assert 0 < d["reconstruction_error"] < 1e-12  # nm, float64, 100-step intervals
    assert d["reconstruction_error_velocity"] < 1e-10
    assert d["grad_norm"] == pytest.approx(float(tree_norm(grad)), rel=1e-6)
    # the final state is the forward run's, ready to continue from
    np.testing.assert_allclose(res.state.positions, final.positions, atol=1e-10)
    np.testing.assert_allclose(res.state.velocities, final.velocities, atol=1e-10)


def msd(traj):
    """Mean square displacement from frame 0 per frame, nm²."""
    dr = traj.positions - traj.positions[:1]
    return jnp.mean(jnp.sum(dr * dr, axis=-1), axis=-1)


def test_position_loss_matches_central_finite_differences_frozen_sigma(lj_setup):
    """A loss on positions (MSD) through 200 steps with only ε free (σ frozen: its gradient
    is None): dL/dε vs central differences of the forward loss, ≤ 1e-4 relative."""
    system, lj, backend, state = lj_setup
    spec = jax.tree.map(lambda _: False, lj)
    spec = eqx.tree_at(lambda p: p.epsilon, spec, True)
    params, static = eqx.partition(lj, spec)
    objective = Objective(msd, sum_squares)
    res = adjoint(objective, params, static, backend, system, state, 200)
    assert res.grad.sigma is None and res.diagnostics["n_anchors"] == 3

    @jax.jit
    def forward_loss(eps):
        pot = eqx.tree_at(lambda p: p.epsilon, lj, eps)
        traj, _, _ = backend.run(pot, system, state, jax.random.key(1), 200, stride=STRIDE)
        return sum_squares(msd(traj))

    eps = lj.epsilon
    h = 1e-4 * eps
    fd = (forward_loss(eps + h) - forward_loss(eps - h)) / (2 * h)
    np.testing.assert_allclose(res.grad.epsilon, fd, rtol=1e-4)
    np.testing.assert_allclose(res.loss, forward_loss(eps), rtol=1e-12)


@pytest.mark.slow
def test_stress_loss_uneven_intervals_matches_bptt(lj_setup):
    """A loss on a recorder that depends on the parameters and the neighbour list (the
    `Stress` tensor) plus one on positions — their cotangents enter via the recorders' VJP;
    250 steps with 100-step anchors (intervals 100 + 100 + 50)."""
    system, lj, backend, state = lj_setup
    params, static = eqx.partition(lj, eqx.is_inexact_array)

    def observe(traj):
        return msd(traj), jnp.trace(traj.stress, axis1=-2, axis2=-1) / 3

    def loss(obs):
        m, pressure = obs
        return jnp.sum(m * m) + 1e-6 * jnp.mean(pressure) ** 2

    objective = Objective(observe, loss, record=(Positions(), Velocities(), Stress()))
    res = adjoint(objective, params, static, backend, system, state, 250)
    assert res.diagnostics["n_anchors"] == 4
    value, grad, _ = bptt(objective, params, static, backend, system, state, 250)
    np.testing.assert_allclose(res.loss, value, rtol=1e-12)
    for leaf in ("sigma", "epsilon"):
        np.testing.assert_allclose(getattr(res.grad, leaf), getattr(grad, leaf), rtol=1e-8)


def test_reconstruction_tolerance_raises(lj_setup):
    """The check itself: a float64 reconstruction error (~1e-17 nm, not exactly zero) above
    a zero tolerance raises, naming the error and the fix."""
    system, lj, backend, state = lj_setup
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    with pytest.raises(ReconstructionError, match="anchor_every"):
        adjoint(
            VACF,
            params,
            static,
            backend,
            system,
            state,
            200,
            max_reconstruction_error=Quantity(0.0, "nm"),
        )


@pytest.mark.slow
def test_float32_long_interval_reconstruction_fails():
    """float32, one 3000-step anchor interval: chaotic growth of rounding errors drives the
    reversed trajectory away from the start (measured: 4e-6 nm after 1000 steps, 1.3e-4 nm
    after 2000) beyond the default 1e-4 nm and `Adjoint` raises; with 100-step anchors the
    same run stays far below it."""
    system, lj, backend, state = argon_nve(jnp.float32)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    with pytest.raises(ReconstructionError, match="float32"):
        adjoint(VACF, params, static, backend, system, state, 3000, anchor_every=3000)
    res = adjoint(VACF, params, static, backend, system, state, 3000, anchor_every=100)
    assert res.diagnostics["reconstruction_error"] < 1e-6


@pytest.mark.slow
def test_replicas_match_bptt():
    """A batched state (2 replicas): the loss of the replica-mean VACF; adjoint = BPTT."""
    system, lj, backend, _ = argon_nve()
    pos, _ = fcc(3, 0.5718)
    pos2 = np.stack([pos, pos + 0.002 * np.random.default_rng(0).normal(size=pos.shape)])
    state = backend.init(
        lj, system, Quantity(pos2, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(2)
    )
    assert state.batched
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    res = adjoint(VACF, params, static, backend, system, state, 300)
    value, grad, _ = bptt(VACF, params, static, backend, system, state, 300)
    np.testing.assert_allclose(res.loss, value, rtol=1e-12)
    assert rel_diff(res.grad, grad) < 1e-8
    assert res.state.positions.shape == (2, 108, 3)

    # grad_stderr: per-replica gradients of the linearised loss u_r = ⟨∂L/∂O, ∂o_r/∂θ⟩;
    # with two replicas the standard error of their mean is |u_1 − u_2| / 2. Reference:
    # jax.grad of ⟨c, o_1 − o_2⟩ through the run, c = ∂L/∂O at the estimate.
    c = jax.grad(sum_squares)(res.observed)

    def difference(p):
        traj, _, _ = backend.run(
            eqx.combine(p, static), system, state, jax.random.key(1), 300, stride=STRIDE
        )
        obs = jax.vmap(vacf)(traj)
        return jnp.vdot(c, obs[0] - obs[1])

    diff = eqx.filter_jit(jax.grad(difference))(params)
    for name in ("sigma", "epsilon"):
        se = float(getattr(res.diagnostics["grad_stderr"], name))
        assert se == pytest.approx(abs(float(getattr(diff, name))) / 2, rel=1e-6), name
        assert float(getattr(res.diagnostics["grad_snr"], name)) == pytest.approx(
            abs(float(getattr(res.grad, name))) / se, rel=1e-12
        )


@pytest.mark.slow
def test_flexible_water_matches_bptt():
    """8 SPC/Fw molecules, DSF electrostatics (r_c = 0.3 nm), Δt = 0.5 fs, 200 steps, VACF
    loss: gradient w.r.t. every parameter (bond, angle, charges, LJ) equals BPTT's."""
    pos, system = water_box(8, key=jax.random.PRNGKey(1))
    model = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.3, "nm")))
    backend = JaxMDBackend(VelocityVerlet(Quantity(0.5, "fs")))
    state = backend.init(
        model, system, Quantity(pos, "nm"), temperature=Quantity(300, "K"), key=jax.random.key(3)
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    res = adjoint(VACF, params, static, backend, system, state, 200, anchor_every=50)
    value, grad, _ = bptt(VACF, params, static, backend, system, state, 200)
    np.testing.assert_allclose(res.loss, value, rtol=1e-12)
    assert rel_diff(res.grad, grad) < 1e-8
    for a, b in zip(jax.tree.leaves(res.grad), jax.tree.leaves(grad), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10 * float(tree_norm(grad)))
    assert res.diagnostics["reconstruction_error"] < 1e-12


def test_bad_input(lj_setup):
    system, lj, backend, state = lj_setup
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    langevin = JaxMDBackend(Langevin(Quantity(4, "fs"), Quantity(90, "K"), Quantity(1, "1/ps")))
    with pytest.raises(TypeError, match="VelocityVerlet"):
        Adjoint(100)(
            VACF,
            params,
            static,
            backend=langevin,
            system=system,
            state=state,
            key=jax.random.key(0),
        )
    with pytest.raises(TypeError, match="JaxMDBackend"):
        Adjoint(100)(
            VACF,
            params,
            static,
            backend=object(),
            system=system,
            state=state,
            key=jax.random.key(0),
        )
    with pytest.raises(ValueError, match="multiple of stride"):
        Adjoint(105, stride=10)
    with pytest.raises(UnitError, match="max_reconstruction_error"):
        Adjoint(100, max_reconstruction_error=1e-4)
    assert Adjoint(100, stride=10, anchor_every=95).anchor_every == 90
    # default interval by precision, rounded to the stride
    assert Adjoint(2010, stride=30).anchor_interval(jnp.float64) == 990
    assert Adjoint(2010, stride=30).anchor_interval(jnp.float32) == 90
    assert Adjoint(2010, stride=30, anchor_every=300).anchor_interval(jnp.float32) == 300
