"""BPTT through JaxMDBackend runs: gradients vs central finite differences of the same
deterministic NVE run (Lennard-Jones, flexible water), checkpointing changes nothing,
replica batches, frozen parameters, NaN → GradientError, neighbour-list overflow recovery,
non-differentiable backends refused."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import AllPairs, HarmonicTrap, argon

from observables import Quantity, correlate
from spectrinv.backends import JaxMDBackend, OpenMMBackend, VelocityVerlet
from spectrinv.gradients import GradientError, Objective
from spectrinv.gradients._bptt import (
    BPTT,
    BlockCheckpoint,
    NoCheckpoint,
    RecursiveCheckpoint,
    SqrtCheckpoint,
)
from spectrinv.potentials import (
    AbstractPotential,
    DampedShiftedForce,
    System,
    spc_fw,
    water_box,
)


def vacf(traj):
    """Velocity autocorrelation ⟨v(0)·v(τ)⟩ averaged over atoms, 16 lags (nm²/ps²)."""
    return correlate(traj.velocities, max_lag=15, sum_axes=(2,), mean_axes=(1,))


def vacf_loss(c):
    target = jnp.exp(-jnp.arange(c.shape[0], dtype=c.dtype) / 8.0)
    return jnp.sum((c / c[0] - target) ** 2) + 1e-3 * c[0]


def _fd_directional(f, params, direction, rel_h=1e-6):
    """Central difference of f along `direction` (a pytree like params)."""
    scale = max(float(jnp.abs(x).max()) for x in jax.tree.leaves(params))
    h = rel_h * scale / max(float(jnp.abs(d).max()) for d in jax.tree.leaves(direction))
    up = jax.tree.map(lambda p, d: p + h * d, params, direction)
    dn = jax.tree.map(lambda p, d: p - h * d, params, direction)
    return (float(f(up)) - float(f(dn))) / (2 * h)


def _forward_loss(objective, static, backend, system, state, key, n_steps, stride=1):
    """Independent reference: the loss as a plain function of params (no strategy code)."""

    @eqx.filter_jit
    def f(p):
        traj, _, overflowed = backend.run(
            eqx.combine(p, static), system, state, key, n_steps, stride=stride
        )
        if state.batched:
            obs = jax.tree.map(lambda x: jnp.mean(x, 0), jax.vmap(objective.observe)(traj))
        else:
            obs = objective.observe(traj)
        return objective.loss(obs), overflowed

    def checked(p):
        value, overflowed = f(p)
        assert not bool(overflowed), "reference run overflowed its neighbour list"
        return value

    return checked


# ------------------------------------------------------------------------------ tests
@pytest.mark.slow  # BPTT vs finite differences on LJ runs by default in test_gradient_fd_crn
def test_lennard_jones_gradient_matches_finite_differences():
    """32 LJ atoms, 300 NVE steps of 4 fs (≈0.56 τ), a smooth VACF loss: d loss/dσ and
    d loss/dε from BPTT (√T checkpointing) equal central differences of the same run."""
    pos, system, lj = argon(n=2, cutoff=0.55)
    # generous capacity: the melting lattice would overflow the default one, and the
    # reference run below does not reallocate
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), capacity_multiplier=2.0)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(120, "K"), key=jax.random.key(0)
    )
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    objective = Objective(vacf, vacf_loss)
    key = jax.random.key(1)
    result = BPTT(300)(
        objective, params, static, backend=backend, system=system, state=state, key=key
    )
    f = _forward_loss(objective, static, backend, system, state, key, 300)
    assert float(result.loss) == pytest.approx(float(f(params)), rel=1e-12)
    for name in ("sigma", "epsilon"):
        direction = jax.tree.map(jnp.zeros_like, params)
        direction = eqx.tree_at(lambda p, name=name: getattr(p, name), direction, jnp.ones(()))
        fd = _fd_directional(f, params, direction)
        got = float(getattr(result.grad, name))
        assert got == pytest.approx(fd, rel=1e-4), name
        assert abs(got) > 1e-3  # not trivially zero
    assert result.diagnostics["n_steps"] == 300
    assert result.diagnostics["grad_norm"] == pytest.approx(
        float(jnp.hypot(result.grad.sigma, result.grad.epsilon)), rel=1e-12
    )
    # the returned state continues the run: 300 steps later
    assert int(result.state.step) == int(state.step) + 300
    assert result.state.positions.shape == pos.shape


def test_checkpointing_does_not_change_the_gradient():
    """Trap potential (no neighbour list), 99 steps with stride 3: every checkpoint object
    gives the un-checkpointed loss, final state and gradient (to 1e-12)."""
    system = System(box=None, species=jnp.zeros(8, jnp.int32), masses=jnp.ones(8))
    trap = HarmonicTrap(jnp.asarray(150.0))
    backend = JaxMDBackend(VelocityVerlet(Quantity(5, "fs")))
    pos = 0.1 * jax.random.normal(jax.random.key(0), (8, 3))
    state = backend.init(
        trap, system, Quantity(pos, "nm"), temperature=Quantity(300, "K"), key=jax.random.key(2)
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    objective = Objective(
        lambda t: jnp.mean(t.positions[..., 0] ** 2) + jnp.mean(t.velocities**4),
        lambda o: o,
    )
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(1))
    ref = BPTT(99, 3, NoCheckpoint())(objective, params, static, **kw)
    # 33 frames: blocks of 3 (√T), 5 (with a remainder of 3) and nested (7, 2)
    for ck, blocks in (
        (SqrtCheckpoint(), (3,)),
        (BlockCheckpoint(15), (5,)),
        (RecursiveCheckpoint(2), (7, 2)),
    ):
        assert ck.blocks(99, 3) == blocks
        got = BPTT(99, 3, ck)(objective, params, static, **kw)
        assert float(got.loss) == float(ref.loss)
        np.testing.assert_allclose(got.grad.k, ref.grad.k, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(got.state.positions, ref.state.positions)


def test_checkpoint_block_sizes():
    assert SqrtCheckpoint().blocks(10000, 1) == (100,)
    assert SqrtCheckpoint().blocks(10000, 10) == (10,)
    assert SqrtCheckpoint().blocks(4, 4) == ()  # one frame: nothing to split
    assert BlockCheckpoint(50).blocks(1000, 10) == (5,)
    assert RecursiveCheckpoint(2).blocks(1000, 1) == (100, 10)
    assert NoCheckpoint().blocks(1000, 1) == ()
    with pytest.raises(ValueError, match="positive integer"):
        BlockCheckpoint(0)


def test_replica_batch_frozen_parameter_and_nan():
    """Batched replicas: the loss of the replica-mean observable, linear here, has the mean
    of the single-replica gradients (each checked against finite differences by the other
    tests). A parameter set to None stays None. A NaN loss raises
    GradientError (never a silent NaN gradient)."""
    n = 6
    system = System(box=None, species=jnp.zeros(n, jnp.int32), masses=jnp.full(n, 2.0))

    class TwoTrap(AbstractPotential):
        k: jax.Array
        k4: jax.Array

        @property
        def cutoff(self):
            return None

        def energy(self, positions, system, neighbors=None):
            r2 = jnp.sum(positions**2, -1)
            return jnp.sum(0.5 * self.k * r2 + 0.25 * self.k4 * r2 * r2)

    pot = TwoTrap(jnp.asarray(100.0), jnp.asarray(500.0))
    backend = JaxMDBackend(VelocityVerlet(Quantity(5, "fs")))
    pos = 0.1 * jax.random.normal(jax.random.key(3), (3, n, 3))
    state = backend.init(
        pot, system, Quantity(pos, "nm"), temperature=Quantity(300, "K"), key=jax.random.key(4)
    )
    params, static = eqx.partition(pot, eqx.is_inexact_array)
    objective = Objective(lambda t: jnp.mean(jnp.sum(t.positions**2, -1)), lambda o: 3.0 * o)
    kw = dict(backend=backend, system=system, key=jax.random.key(0))
    batch = BPTT(40, 2)(objective, params, static, state=state, **kw)
    singles = [
        BPTT(40, 2)(
            objective,
            params,
            static,
            state=backend.init(
                pot,
                system,
                Quantity(pos[r], "nm"),
                velocities=Quantity(state.velocities[r], "nm/ps"),
            ),
            **kw,
        )
        for r in range(3)
    ]
    for name in ("k", "k4"):
        mean = np.mean([float(getattr(s.grad, name)) for s in singles])
        assert float(getattr(batch.grad, name)) == pytest.approx(mean, rel=1e-12)
    assert float(batch.loss) == pytest.approx(np.mean([float(s.loss) for s in singles]))
    assert batch.state.positions.shape == (3, n, 3)
    assert int(batch.state.step) == int(state.step) + 40
    # the loss is linear, so each replica's gradient of the linearised loss is its single
    # run's gradient: grad_stderr is the standard error of their mean
    for name in ("k", "k4"):
        per_replica = [float(getattr(s.grad, name)) for s in singles]
        se = float(getattr(batch.diagnostics["grad_stderr"], name))
        assert se == pytest.approx(np.std(per_replica, ddof=1) / np.sqrt(3), rel=1e-10)
        assert float(getattr(batch.diagnostics["grad_snr"], name)) == pytest.approx(
            abs(np.mean(per_replica)) / se, rel=1e-10
        )
    assert "grad_stderr" not in singles[0].diagnostics  # one replica: no spread
    frozen = eqx.tree_at(lambda p: p.k4, params, None, is_leaf=lambda x: x is None)
    static_frozen = eqx.tree_at(lambda p: p.k4, static, pot.k4, is_leaf=lambda x: x is None)
    res = BPTT(40, 2)(objective, frozen, static_frozen, state=state, **kw)
    assert res.grad.k4 is None
    assert float(res.grad.k) == pytest.approx(float(batch.grad.k), rel=1e-12)

    # a NaN parameter makes the loss NaN (same shapes: reuses the compiled gradient)
    nan_params = eqx.tree_at(lambda p: p.k4, params, jnp.asarray(jnp.nan))
    with pytest.raises(GradientError, match="loss is nan"):
        BPTT(40, 2)(objective, nan_params, static, state=state, **kw)


def test_non_differentiable_backend_refused():
    system = System(box=None, species=jnp.zeros(2, jnp.int32), masses=jnp.ones(2))
    trap = HarmonicTrap(jnp.asarray(1.0))
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    backend = OpenMMBackend(VelocityVerlet(Quantity(1, "fs")))
    with pytest.raises(TypeError, match="Reweighting"):
        BPTT(10)(
            Objective(lambda t: t.positions, jnp.sum),
            params,
            static,
            backend=backend,
            system=system,
            state=None,
            key=jax.random.key(0),
        )
    with pytest.raises(ValueError, match="multiple of stride"):
        BPTT(10, stride=3)
    with pytest.raises(TypeError, match="AbstractCheckpoint"):
        BPTT(10, checkpoint="sqrt")


@pytest.mark.slow
def test_neighbor_overflow_is_redone_not_returned():
    """An imploding LJ crystal (velocities towards the centre) overflows the neighbour list
    during the differentiated run. BPTT must grow the list and redo the run: loss and
    gradient equal those of an all-pairs (no neighbour list) run."""
    pos, system, lj = argon(n=3, a=0.62, cutoff=0.75)
    vel = -1.5 * (pos - pos.mean(0))  # nm/ps, converging flow
    backend = JaxMDBackend(VelocityVerlet(Quantity(2, "fs")))
    state = backend.init(lj, system, Quantity(pos, "nm"), velocities=Quantity(vel, "nm/ps"))
    cap0 = state.neighbors.max_occupancy
    objective = Objective(
        lambda t: jnp.mean(jnp.sum(t.velocities**2, -1)), lambda o: o, record=None
    )
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    kw = dict(backend=backend, system=system, key=jax.random.key(0))
    # the plain run does overflow with the initial capacity
    _, _, overflowed = backend.run(lj, system, state, jax.random.key(0), 200, stride=10)
    assert bool(overflowed), "the test must provoke an overflow"
    res = BPTT(200, 10)(objective, params, static, state=state, **kw)
    assert res.state.neighbors.max_occupancy > cap0
    assert not bool(jnp.any(res.state.neighbors.did_buffer_overflow))

    ref_pot = AllPairs(lj)
    ref_params, ref_static = eqx.partition(ref_pot, eqx.is_inexact_array)
    ref_state = backend.init(
        ref_pot, system, Quantity(pos, "nm"), velocities=Quantity(vel, "nm/ps")
    )
    ref = BPTT(200, 10)(objective, ref_params, ref_static, state=ref_state, **kw)
    assert float(res.loss) == pytest.approx(float(ref.loss), rel=1e-12)
    for name in ("sigma", "epsilon"):
        np.testing.assert_allclose(
            getattr(res.grad, name), getattr(ref.grad.inner, name), rtol=1e-9
        )


@pytest.mark.slow
def test_flexible_water_gradient_matches_finite_differences():
    """8 SPC/Fw molecules with damped-shifted-force electrostatics (cutoff 0.3 nm in a
    0.62 nm box), 200 NVE steps of 0.25 fs from a hot lattice: the directional derivative
    of a kinetic-energy + dipole-free geometry loss along a random direction in all 7
    parameters equals a central difference."""
    pos, system = water_box(8, key=jax.random.key(5))
    edge = float(system.box[0])
    model = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.48 * edge, "nm")))
    backend = JaxMDBackend(VelocityVerlet(Quantity(0.25, "fs")), skin=Quantity(0.05, "nm"))
    state = backend.init(
        model, system, Quantity(pos, "nm"), temperature=Quantity(300, "K"), key=jax.random.key(6)
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def observe(t):
        ke = 0.5 * jnp.sum(t.masses[None, :, None] * t.velocities**2, axis=(1, 2))
        oh = t.positions[:, 1::3] - t.positions[:, 0::3]
        return {"ke": jnp.mean(ke), "oh": jnp.mean(jnp.sum(oh**2, -1))}

    objective = Objective(observe, lambda o: (o["ke"] - 20.0) ** 2 / 100.0 + 1e3 * o["oh"])
    key = jax.random.key(0)
    res = BPTT(200)(objective, params, static, backend=backend, system=system, state=state, key=key)
    f = _forward_loss(objective, static, backend, system, state, key, 200)
    rng = np.random.default_rng(0)
    leaves, treedef = jax.tree.flatten(params)
    direction = jax.tree.unflatten(
        treedef, [jnp.asarray(rng.normal() * abs(float(x))) for x in leaves]
    )
    fd = _fd_directional(f, params, direction, rel_h=1e-7)
    got = sum(
        float(g * d)
        for g, d in zip(jax.tree.leaves(res.grad), jax.tree.leaves(direction), strict=True)
    )
    assert got == pytest.approx(fd, rel=1e-4)
