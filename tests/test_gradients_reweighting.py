"""Reweighting (DiffTRe) gradients: exactness of the estimator's gradient (finite differences,
fluctuation formula), neighbour lists vs all pairs, an analytic harmonic trap, BPTT
agreement, ESS-driven resampling, OpenMM as the sampler, bad input.

Statistical tests compare means with error bars from independent blocks or replicas and also
require the error bar to be small compared with the value, so that agreement is not vacuous.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, AllPairs, HarmonicTrap, argon

from observables import BOLTZMANN, RDF, GaussianKernel, Quantity, SelfDiffusion, Trajectory
from spectrinv.backends import (
    AbstractBackend,
    JaxMDBackend,
    Langevin,
    NoseHooverChain,
    OpenMMBackend,
    Positions,
    VelocityVerlet,
)
from spectrinv.gradients import Objective
from spectrinv.gradients._reweighting import Reweighting, ReweightingCache
from spectrinv.potentials import System

T_K = 120.0
DT = Quantity(4, "fs")


def mean_r2(traj):
    """⟨|r|²⟩ over atoms and frames (nm²): a frame average."""
    return jnp.mean(jnp.sum(traj.positions**2, axis=-1))


def langevin_backend(friction=5.0):
    return JaxMDBackend(Langevin(DT, Quantity(T_K, "K"), Quantity(friction, "1/ps")))


def rdf_objective(kernel=None):
    """Quadratic RDF loss against a fixed, smooth target (nonlinear in ⟨g⟩)."""
    rdf = RDF(Quantity(0.85, "nm"), bins=34, kernel=kernel)
    r = np.asarray(rdf.bin_centers.m_as("nm"))
    target = jnp.asarray(1.0 + 1.5 * np.exp(-(((r - 0.38) / 0.04) ** 2)))
    return Objective(rdf, lambda res: jnp.sum((res.g - target) ** 2))


def block_estimates(rw, objective, params, static, system, traj, n_blocks, at=None):
    """Reweighting gradients from `n_blocks` consecutive blocks of `traj` (each its own
    reference at `params`, evaluated at `at` or `params`): `[block, leaf...]` arrays."""
    size = traj.n_frames // n_blocks
    out = []
    for b in range(n_blocks):
        cache = rw.reference(
            objective,
            params,
            static,
            system=system,
            trajectory=traj[b * size : (b + 1) * size],
            temperature=Quantity(T_K, "K"),
        )
        res = rw.estimate(
            objective, params if at is None else at, static, system=system, cache=cache
        )
        out.append(res)
    return out


def mean_sem(x):
    x = np.asarray(x, dtype=float)
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(len(x))


class ReplayBackend(AbstractBackend):
    """Test stub: an 'engine' with a given integrator that replays stored frames (no MD) and
    records the `n_steps` of every `sample` call."""

    integrator: Any
    frames: Trajectory
    calls: list = eqx.field(static=True)

    def __init__(self, integrator, frames):
        self.integrator, self.frames, self.calls = integrator, frames, []

    def init(self, *args, **kwargs):
        raise NotImplementedError

    def sample(self, potential, system, state, key, n_steps, *, stride=1, record=None):
        self.calls.append(n_steps)
        return self.frames[: n_steps // stride], state


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lj_reference():
    """A short liquid-argon reference (60 frames) sampled with JaxMD Langevin."""
    pos, system, lj = argon()
    backend = langevin_backend()
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(0)
    )
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    objective = rdf_objective()
    rw = Reweighting(n_frames=60, stride=20, equilibration_steps=500, batch_size=16)
    res = rw(
        objective,
        params,
        static,
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(1),
    )
    return dict(
        system=system,
        lj=lj,
        backend=backend,
        params=params,
        static=static,
        objective=objective,
        rw=rw,
        result=res,
    )


# ------------------------------------------------------------------ (1) exact estimator
def test_gradient_matches_finite_differences_of_the_estimate(lj_reference):
    """The gradient is the exact derivative of the reweighted loss on fixed frames."""
    ref = lj_reference
    rw, cache, static, system = ref["rw"], ref["result"].cache, ref["static"], ref["system"]
    # away from the reference so that the weights are far from uniform
    at = eqx.tree_at(
        lambda p: (p.sigma, p.epsilon),
        ref["params"],
        (ref["params"].sigma * 1.002, ref["params"].epsilon * 0.97),
    )
    res = rw.estimate(ref["objective"], at, static, system=system, cache=cache)
    assert 0.2 < res.diagnostics["ess"] < 0.99

    def loss_at(p):
        return float(rw.estimate(ref["objective"], p, static, system=system, cache=cache).loss)

    for name in ("sigma", "epsilon"):
        x = getattr(at, name)
        h = 1e-5 * float(x)
        up = loss_at(eqx.tree_at(lambda p, n=name: getattr(p, n), at, x + h))
        down = loss_at(eqx.tree_at(lambda p, n=name: getattr(p, n), at, x - h))
        fd = (up - down) / (2 * h)
        got = float(getattr(res.grad, name))
        assert abs(got - fd) <= 1e-6 * abs(fd), (name, got, fd)


def test_gradient_at_reference_is_the_fluctuation_formula(lj_reference):
    """At θ = θ₀: dL/dθ = ∂L/∂O · (−β cov(oᵢ, ∂U/∂θ(xᵢ))), computed independently here
    (per-frame jax.grad of the all-pairs energy, numpy covariance)."""
    ref = lj_reference
    res, system = ref["result"], ref["system"]
    cache = res.cache
    o = np.asarray(cache.observed.g)  # [frame, bin]
    params, static = ref["params"], ref["static"]

    def energy(p, x):
        return eqx.combine(p, static).energy(x, system, None)

    du = jax.jit(jax.vmap(jax.grad(energy), in_axes=(None, 0)))(params, cache.trajectory.positions)
    first = jax.tree.map(lambda x: x[0], cache.observed)  # an RDFResult to carry g

    def loss_of_g(g):
        return ref["objective"].loss(eqx.tree_at(lambda r: r.g, first, g))

    dl_do = np.asarray(jax.grad(loss_of_g)(jnp.asarray(o.mean(0))))
    beta = 1.0 / (BOLTZMANN * T_K)
    c = o @ dl_do  # [frame]
    for name in ("sigma", "epsilon"):
        a = np.asarray(getattr(du, name))
        expected = -beta * np.mean((c - c.mean()) * (a - a.mean()))
        assert float(getattr(res.grad, name)) == pytest.approx(expected, rel=1e-9)
    assert res.diagnostics["ess"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(np.asarray(res.observed.g), o.mean(0), rtol=1e-12)


@pytest.mark.slow  # a long validation (> 4 s)
def test_neighbor_lists_agree_with_all_pairs(lj_reference):
    """Per-frame neighbour lists (cutoff) and all pairs (cutoff None) give the same energies,
    loss and gradient; a frame denser than the first grows the lists instead of overflowing."""
    ref = lj_reference
    system, lj, rw, objective = ref["system"], ref["lj"], ref["rw"], ref["objective"]
    traj = ref["result"].cache.trajectory[:8]
    # squeeze half the atoms of the last frame towards their centre: more neighbours per
    # atom than the first frame's lists were sized for
    x = np.array(traj.positions)
    centre = x[-1, :54].mean(0)
    x[-1, :54] = centre + 0.93 * (x[-1, :54] - centre)
    traj = eqx.tree_at(lambda t: t.positions, traj, jnp.asarray(x))
    wrapped = AllPairs(lj)
    out = {}
    for name, pot in (("lists", lj), ("all", wrapped)):
        params, static = eqx.partition(pot, eqx.is_inexact_array)
        cache = rw.reference(
            objective,
            params,
            static,
            system=system,
            trajectory=traj,
            temperature=Quantity(T_K, "K"),
        )
        at = eqx.tree_at(
            lambda p: getattr(p, "inner", p).sigma,
            params,
            getattr(params, "inner", params).sigma * 1.001,
        )
        out[name] = (cache, rw.estimate(objective, at, static, system=system, cache=cache))
    cache_l, res_l = out["lists"]
    cache_a, res_a = out["all"]
    assert cache_l.neighbors is not None and cache_a.neighbors is None
    assert not np.any(np.asarray(cache_l.neighbors.did_buffer_overflow))
    direct = jax.vmap(lambda p: lj.energy(p, system, None))(traj.positions)
    np.testing.assert_allclose(np.asarray(cache_l.energies), np.asarray(direct), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(cache_a.energies), np.asarray(direct), rtol=1e-12)
    assert float(res_l.loss) == pytest.approx(float(res_a.loss), rel=1e-12)
    for name in ("sigma", "epsilon"):
        assert float(getattr(res_l.grad, name)) == pytest.approx(
            float(getattr(res_a.grad.inner, name)), rel=1e-9
        )


# ---------------------------------------------------------------- (2) analytic: a trap
def harmonic_setup(n_atoms=64, k=100.0, friction=3.0, dt_fs=10.0):
    system = System(
        box=None, species=jnp.zeros(n_atoms, jnp.int32), masses=jnp.full(n_atoms, ARGON)
    )
    trap = HarmonicTrap(jnp.asarray(k))
    backend = JaxMDBackend(
        Langevin(Quantity(dt_fs, "fs"), Quantity(T_K, "K"), Quantity(friction, "1/ps"))
    )
    rng = np.random.default_rng(3)
    x0 = rng.normal(size=(n_atoms, 3)) * np.sqrt(BOLTZMANN * T_K / k)
    state = backend.init(
        trap, system, Quantity(x0, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(7)
    )
    return system, trap, backend, state


@pytest.mark.slow  # 14 s; FD checks of Reweighting stay in tests/test_reweighting_explicit.py
def test_harmonic_trap_matches_the_analytic_derivative():
    """U = ½kΣr²: ⟨r²⟩ = 3k_BT/k, so d⟨r²⟩/dk = −3k_BT/k² (exact for the canonical
    ensemble). The reweighting gradient (fluctuation formula on sampled frames) must agree
    within its block error, the error must be small (< 8 %), and the reweighted average at
    k' = 1.05 k must match 3k_BT/k'."""
    system, trap, backend, state = harmonic_setup()
    k = float(trap.k)
    kt = BOLTZMANN * T_K
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    objective = Objective(mean_r2, lambda o: o, record=(Positions(),))
    rw = Reweighting(n_frames=1600, stride=50, equilibration_steps=500, batch_size=200)
    res = rw(
        objective,
        params,
        static,
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(8),
    )
    assert res.diagnostics["resampled"] and res.diagnostics["n_frames"] == 1600
    blocks = block_estimates(rw, objective, params, static, system, res.cache.trajectory, 8)
    grads, sem = mean_sem([float(b.grad.k) for b in blocks])
    exact = -3 * kt / k**2
    assert sem < 0.08 * abs(exact)
    assert abs(float(res.grad.k) - exact) < 4 * sem, (float(res.grad.k), exact, sem)
    # the reweighted average itself at another k
    at = eqx.tree_at(lambda p: p.k, params, jnp.asarray(1.05 * k))
    moved = [
        float(b.observed)
        for b in block_estimates(
            rw, objective, params, static, system, res.cache.trajectory, 8, at=at
        )
    ]
    m, s = mean_sem(moved)
    assert abs(m - 3 * kt / (1.05 * k)) < 4 * s + 1e-3 * m
    assert abs(m - 3 * kt / k) > 4 * s  # the shift is resolved, not noise


def test_bptt_agrees_with_reweighting_harmonic():
    """BPTT (pathwise jax.grad through a Langevin run) vs reweighting of the same run's frames
    vs the exact −3k_BT/k², for the time average of ⟨r²⟩ in a harmonic trap.

    What is comparable: BPTT differentiates E[(1/F)Σ_f O(x_{t_f})] for a start ensemble fixed
    at θ₀ and dynamics at θ; its derivative equals the equilibrium derivative d⟨O⟩_θ/dθ only
    for frames long after the start (the response to a step change of θ relaxes on the
    dynamics' time scale, here ~1 ps). So the frames are recorded after a burn-in of 5 ps
    (≫ 1/γ and the oscillator's relaxation time); reweighting uses the same post-burn-in
    frames. The trap is linear, so the pathwise derivative does not explode. Error bars:
    8 groups of 8 atoms (independent oscillators) per estimator.
    """
    system, trap, backend, state = harmonic_setup()
    k = float(trap.k)
    kt = BOLTZMANN * T_K
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    stride, n_burn, n_rec = 10, 500, 2000
    groups = jnp.arange(64) // 8

    def per_group_r2(p):
        pot = eqx.combine(p, static)
        traj, _, _ = backend.run(
            pot,
            system,
            state,
            jax.random.key(11),
            n_burn + n_rec,
            stride=stride,
            record=(Positions(),),
        )
        x = traj.positions[n_burn // stride :]
        r2 = jnp.mean(jnp.sum(x * x, -1), axis=0)  # [atom]
        return jax.ops.segment_sum(r2, groups, num_segments=8) / 8.0, x

    # one compilation: the frames come out as the auxiliary output of the Jacobian
    jac, frames = eqx.filter_jit(jax.jacrev(per_group_r2, has_aux=True))(params)
    bptt = np.asarray(jac.k)  # [group]
    b_mean, b_sem = mean_sem(bptt)
    exact = -3 * kt / k**2
    # reweighting of the same frames, per atom group (a frame-average observable each)
    rw = Reweighting(n_frames=2, stride=1, batch_size=200)
    objective = Objective(mean_r2, lambda o: o, record=(Positions(),))
    rw_groups = []
    for g in range(8):
        sel = np.asarray(groups) == g
        sub = System(box=None, species=system.species[sel], masses=system.masses[sel])
        traj = _traj_from_positions(frames[:, sel], sub)
        cache = rw.reference(
            objective, params, static, system=sub, trajectory=traj, temperature=Quantity(T_K, "K")
        )
        rw_groups.append(
            float(rw.estimate(objective, params, static, system=sub, cache=cache).grad.k)
        )
    r_mean, r_sem = mean_sem(rw_groups)
    assert b_sem < 0.1 * abs(exact) and r_sem < 0.1 * abs(exact)
    assert abs(b_mean - exact) < 4 * b_sem, (b_mean, exact, b_sem)
    assert abs(r_mean - exact) < 4 * r_sem, (r_mean, exact, r_sem)
    assert abs(b_mean - r_mean) < 4 * np.hypot(b_sem, r_sem)


def _traj_from_positions(positions, system):
    return Trajectory.from_internal(
        positions,
        box=system.box,
        timestep=jnp.asarray(0.1),
        masses=system.masses,
        species=system.species,
    )


@pytest.mark.slow
def test_bptt_agrees_with_reweighting_rdf_loss():
    """Liquid argon (108 atoms, Langevin γ = 10/ps), an RDF (Gaussian kernel) loss linear in
    g: g summed over the repulsive flank 0.30–0.35 nm. BPTT vs reweighting at the same θ₀.

    What is comparable: BPTT differentiates E[(1/F)Σ_f O(x_{t_f})] for a start ensemble
    fixed at θ₀ and dynamics at θ; this equals the equilibrium derivative d⟨O⟩_θ/dθ only for
    frames long after the start (the response to a step in θ relaxes on the dynamics' time
    scale). BPTT cannot differentiate one long run (the pathwise derivative grows with the
    Lyapunov time, and memory with the steps), so it runs 16 independent replicas,
    equilibrated at θ₀, for 2 ps each and takes its frames after a 1 ps burn-in; its error
    bar is the standard error over replicas. Reweighting — the equilibrium fluctuation
    formula — uses one independent 80 ps run with 8-block errors. (Reweighting the 16 short
    BPTT runs' own frames is too noisy to be a useful comparison: 16 ps of correlated frames.)
    Measured: dL/dσ BPTT −55.0 ± 1.0, reweighting −53.4 ± 3.7 (1/nm); dL/dε BPTT
    −1.04 ± 0.02, reweighting −1.00 ± 0.08 (mol/kJ).
    """
    pos, system, lj = argon()
    backend = langevin_backend(friction=10.0)
    n_rep, stride, n_burn, n_rec = 16, 5, 250, 250
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    rdf = RDF(
        Quantity(0.45, "nm"),
        bins=8,
        r_min=Quantity(0.25, "nm"),
        kernel=GaussianKernel(Quantity(0.01, "nm")),
    )
    r = np.asarray(rdf.bin_centers.m_as("nm"))
    weights = jnp.asarray(((r > 0.30) & (r < 0.35)).astype(float))  # the repulsive flank

    def loss(res):
        return jnp.sum(weights * res.g)

    start = np.broadcast_to(pos, (n_rep,) + pos.shape)
    states = backend.init(
        lj, system, Quantity(start, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(21)
    )
    _, states = backend.sample(
        lj, system, states, jax.random.key(22), 2500, stride=2500, record=(Positions(),)
    )

    @eqx.filter_jit
    def bptt(p, st, key):
        def f(p):
            traj, _, overflow = backend.run(
                eqx.combine(p, static),
                system,
                st,
                key,
                n_burn + n_rec,
                stride=stride,
                record=(Positions(),),
            )
            return loss(rdf(traj[n_burn // stride :])), overflow

        return eqx.filter_grad(f, has_aux=True)(p)

    grads = []
    for i in range(n_rep):
        g, overflow = bptt(params, _pick_replica(states, i), jax.random.key(100 + i))
        assert not bool(overflow)
        grads.append([float(g.sigma), float(g.epsilon)])
    b_mean, b_sem = mean_sem(grads)
    # reweighting: one independent long run at θ₀, 8 blocks of 10 ps
    objective = Objective(rdf, loss, record=(Positions(),))
    rw = Reweighting(n_frames=800, stride=25, equilibration_steps=2500, batch_size=50)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(3)
    )
    res = rw(
        objective,
        params,
        static,
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(4),
    )
    blocks = block_estimates(rw, objective, params, static, system, res.cache.trajectory, 8)
    r_mean, r_sem = mean_sem([[float(b.grad.sigma), float(b.grad.epsilon)] for b in blocks])
    print(f"BPTT {b_mean} ± {b_sem}; reweighting {r_mean} ± {r_sem}")
    # σ: a larger core pushes pairs out of the flank — a clearly resolved, negative gradient
    assert r_mean[0] < 0 and b_mean[0] < 0
    assert np.all(r_sem < 0.15 * np.abs(r_mean)) and np.all(b_sem < 0.15 * np.abs(b_mean))
    for j in range(2):
        assert abs(b_mean[j] - r_mean[j]) < 4 * np.hypot(b_sem[j], r_sem[j]), j


def _pick_replica(state, i):
    step = state.step
    mapped = jax.tree.map(
        lambda x: x[i], eqx.tree_at(lambda s: s.step, state, None, is_leaf=lambda x: x is None)
    )
    return eqx.tree_at(lambda s: s.step, mapped, step, is_leaf=lambda x: x is None)


# ------------------------------------------------------------- (4) ESS and the cache
@pytest.mark.slow  # 13 s; tests/test_reweighting_grad_error.py resamples a short reference
def test_cache_reused_above_threshold_and_resampled_below(lj_reference):
    ref = lj_reference
    rw, backend, system = ref["rw"], ref["backend"], ref["system"]
    first = ref["result"]
    assert first.diagnostics["resampled"] and isinstance(first.cache, ReweightingCache)
    assert np.isnan(first.diagnostics["ess_previous"])
    assert first.cache.n_frames == 60 and first.cache.temperature == pytest.approx(T_K)
    # same parameters: the reference is reused, the state passed through untouched
    again = rw(
        ref["objective"],
        ref["params"],
        ref["static"],
        backend=backend,
        system=system,
        state=first.state,
        key=jax.random.key(5),
        cache=first.cache,
    )
    assert not again.diagnostics["resampled"]
    assert again.cache is first.cache and again.state is first.state
    assert float(again.loss) == float(first.loss)
    # a small step keeps ESS above 0.6: still reused, with ESS < 1
    near = eqx.tree_at(lambda p: p.epsilon, ref["params"], ref["params"].epsilon * 0.99)
    small = rw(
        ref["objective"],
        near,
        ref["static"],
        backend=backend,
        system=system,
        state=first.state,
        key=jax.random.key(5),
        cache=first.cache,
    )
    assert not small.diagnostics["resampled"] and 0.6 <= small.diagnostics["ess"] < 1.0
    # a large step drops ESS below the threshold: a new reference at the new parameters
    far = eqx.tree_at(lambda p: p.sigma, ref["params"], ref["params"].sigma * 1.02)
    moved = rw(
        ref["objective"],
        far,
        ref["static"],
        backend=backend,
        system=system,
        state=first.state,
        key=jax.random.key(6),
        cache=first.cache,
    )
    assert moved.diagnostics["resampled"]
    assert moved.diagnostics["ess_previous"] < 0.6
    assert moved.diagnostics["ess"] == pytest.approx(1.0, abs=1e-12)
    assert moved.cache is not first.cache
    assert float(moved.cache.params.sigma) == pytest.approx(float(far.sigma), rel=1e-15)
    assert int(moved.state.step) == int(first.state.step) + 60 * 20 + 500
    # a cache sampled at another temperature is not reused (a replaying stub engine at 130 K)
    hot = ReplayBackend(
        Langevin(DT, Quantity(130, "K"), Quantity(5, "1/ps")), first.cache.trajectory
    )
    other = rw(
        ref["objective"],
        ref["params"],
        ref["static"],
        backend=hot,
        system=system,
        state=first.state,
        key=jax.random.key(9),
        cache=first.cache,
    )
    assert other.diagnostics["resampled"] and other.cache.temperature == pytest.approx(130.0)
    assert hot.calls == [500, 1200]  # equilibration, then n_frames * stride


@pytest.mark.slow  # 9 s; tests/test_reweighting_npt.py merges replicas frame by frame
def test_replicas_are_pooled():
    """A batched state gives n_frames per replica, pooled into one reference."""
    system, trap, backend, _ = harmonic_setup(n_atoms=8)
    x0 = np.random.default_rng(0).normal(size=(3, 8, 3)) * 0.1
    states = backend.init(
        trap, system, Quantity(x0, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(1)
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    rw = Reweighting(n_frames=5, stride=10)
    res = rw(
        Objective(mean_r2, lambda o: o),
        params,
        static,
        backend=backend,
        system=system,
        state=states,
        key=jax.random.key(2),
    )
    assert res.cache.n_frames == 15 and res.state.batched
    traj = res.cache.trajectory
    assert traj.positions.shape == (15, 8, 3) and traj.velocities.shape == (15, 8, 3)
    assert float(res.observed) == pytest.approx(float(mean_r2(traj)), rel=1e-12)


# -------------------------------------------------------------------- (5) OpenMM sampler
def test_openmm_sampler_short_run(lj_reference):
    """OpenMM (sampling only) feeds reweighting: finite gradient, reference energies from the
    JAX potential equal OpenMM's own energies of those frames, the reference is reused."""
    ref = lj_reference
    pos, system, lj = argon()
    backend = OpenMMBackend(
        Langevin(DT, Quantity(T_K, "K"), Quantity(5, "1/ps")),
        platform="CPU",
        properties={"Threads": "1"},
    )
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(3)
    )
    rw = ref["rw"]  # 60 frames, stride 20, 500 equilibration steps
    res = rw(
        ref["objective"],
        ref["params"],
        ref["static"],
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(4),
    )
    assert res.diagnostics["resampled"] and np.isfinite(res.diagnostics["grad_norm"])
    assert res.diagnostics["grad_norm"] > 0 and int(res.state.step) == 500 + 1200
    x = np.asarray(res.cache.trajectory.positions)
    for i in (0, 59):
        e_mm, _ = backend.energy_and_forces(lj, system, x[i])
        assert float(res.cache.energies[i]) == pytest.approx(e_mm, rel=1e-5)
    again = rw(
        ref["objective"],
        ref["params"],
        ref["static"],
        backend=backend,
        system=system,
        state=res.state,
        key=jax.random.key(5),
        cache=res.cache,
    )
    assert not again.diagnostics["resampled"] and again.state is res.state


@pytest.mark.slow
def test_openmm_sampler_agrees_with_jaxmd():
    """OpenMM (sampling only) and JaxMD references give the same reweighting gradient within
    block errors. Observable: g(r) averaged over the repulsive flank 0.30–0.36 nm, whose
    σ-derivative is negative (a larger core pushes pairs out)."""
    pos, system, lj = argon()
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    flank = RDF(Quantity(0.36, "nm"), bins=1, r_min=Quantity(0.30, "nm"))
    objective = Objective(flank, lambda res: res.g[0], record=(Positions(),))
    rw = Reweighting(n_frames=320, stride=25, equilibration_steps=1500, batch_size=40)
    integrator = Langevin(DT, Quantity(T_K, "K"), Quantity(5, "1/ps"))
    out = {}
    for name, backend in (
        ("openmm", OpenMMBackend(integrator, platform="CPU", properties={"Threads": "1"})),
        ("jaxmd", JaxMDBackend(integrator)),
    ):
        state = backend.init(
            lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(3)
        )
        res = rw(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=jax.random.key(4),
        )
        assert res.diagnostics["resampled"] and np.isfinite(res.diagnostics["grad_norm"])
        blocks = block_estimates(rw, objective, params, static, system, res.cache.trajectory, 8)
        out[name] = (res, mean_sem([[float(b.grad.sigma), float(b.grad.epsilon)] for b in blocks]))
    (res_o, (m_o, s_o)), (res_j, (m_j, s_j)) = out["openmm"], out["jaxmd"]
    assert float(res_o.grad.sigma) < 0 and float(res_j.grad.sigma) < 0
    # the σ-gradient is resolved (measured: block error ≈ 15 % of the value)
    assert s_o[0] < 0.3 * abs(m_o[0]) and s_j[0] < 0.3 * abs(m_j[0])
    for j in range(2):
        assert abs(m_o[j] - m_j[j]) < 4 * np.hypot(s_o[j], s_j[j]), (j, m_o, s_o, m_j, s_j)


# --------------------------------------------------------------------- (6) bad input
def test_bad_input():
    pos, system, lj = argon()
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    objective = rdf_objective()
    rw = Reweighting(n_frames=4, stride=5)
    nve = JaxMDBackend(VelocityVerlet(DT))
    state = nve.init(lj, system, Quantity(pos, "nm"))
    with pytest.raises(ValueError, match="NVT.*VelocityVerlet|VelocityVerlet.*NVT"):
        rw(
            objective,
            params,
            static,
            backend=nve,
            system=system,
            state=state,
            key=jax.random.key(0),
        )
    for bad in (
        dict(n_frames=1, stride=1),
        dict(n_frames=4, stride=0),
        dict(n_frames=4, stride=1, ess_threshold=0.0),
        dict(n_frames=4, stride=1, ess_threshold=1.5),
    ):
        with pytest.raises(ValueError, match="Reweighting"):
            Reweighting(**bad)
    with pytest.raises(TypeError, match="int"):
        Reweighting(n_frames=4.5, stride=1)
    with pytest.raises(TypeError, match="Objective"):
        rw(
            lambda t: t,
            params,
            static,
            backend=nve,
            system=system,
            state=state,
            key=jax.random.key(0),
        )


def test_dynamical_observables_are_rejected(lj_reference):
    """Observables that are not frame averages raise a clear error when the reference is
    built (from any trajectory, or inside a call)."""
    ref = lj_reference
    traj = ref["result"].cache.trajectory
    # the fixture's batch size: its compiled per-frame neighbour lists are reused
    rw = Reweighting(n_frames=60, stride=20, batch_size=16)
    dynamical = {
        "Green-Kubo diffusion (fails on one frame)": SelfDiffusion(),
        "a per-frame series (shape grows with frames)": lambda t: t.positions[:, 0, 0],
        "a squared average (not a frame average)": lambda t: jnp.mean(t.velocities**2) ** 2,
    }
    for what, observe in dynamical.items():
        objective = Objective(observe, lambda o: jnp.sum(o))
        with pytest.raises(ValueError, match="time-independent observable") as err:
            rw.reference(
                objective,
                ref["params"],
                ref["static"],
                system=ref["system"],
                trajectory=traj,
                temperature=Quantity(T_K, "K"),
            )
        assert "BPTT" in str(err.value), what
    replay = ReplayBackend(NoseHooverChain(DT, Quantity(T_K, "K"), Quantity(0.5, "ps")), traj)
    with pytest.raises(ValueError, match="time-independent observable"):
        rw(
            Objective(SelfDiffusion(), jnp.sum),
            ref["params"],
            ref["static"],
            backend=replay,
            system=ref["system"],
            state=None,
            key=jax.random.key(1),
        )
    # a cache of the wrong type
    with pytest.raises(TypeError, match="ReweightingCache"):
        rw(
            ref["objective"],
            ref["params"],
            ref["static"],
            backend=replay,
            system=ref["system"],
            state=None,
            key=jax.random.key(1),
            cache={"frames": 1},
        )


# ------------------------------------------------- (7) standard errors of reweighted averages
def test_weighted_block_error_is_calibrated():
    """AR(1) samples of N(0, 1) (φ = 0.5), reweighted to N(μ, 1) with w ∝ exp(μx): the
    estimate of ⟨x⟩ = μ over 400 independent chains of 2000 frames (20 blocks) is unbiased,
    and the mean reported standard error matches the spread of the estimates to 15 % (the
    spread of 400 values is known to 4 %)."""
    from spectrinv.gradients._reweighting_frames import weighted_block_error

    n_chains, n_frames, phi, mu = 400, 2000, 0.5, 0.3
    eps = jax.random.normal(jax.random.key(5), (n_chains, n_frames))

    def chain(e):
        def step(x, en):
            x = phi * x + np.sqrt(1 - phi**2) * en
            return x, x

        return jax.lax.scan(step, e[0], e[1:])[1]

    def estimate(e):
        x = chain(e)
        w = jax.nn.softmax(mu * x)
        return jnp.sum(w * x), weighted_block_error(x, w, 20)

    est, err = (np.asarray(a) for a in jax.jit(jax.vmap(estimate))(eps))
    spread = est.std(ddof=1)
    assert abs(est.mean() - mu) < 4 * spread / np.sqrt(n_chains)
    assert abs(err.mean() / spread - 1) < 0.15, (err.mean(), spread)
    # equal weights: the block standard error of the block means
    x = np.asarray(chain(eps[0]))[:1980]
    blocks = x.reshape(20, -1).mean(1)
    np.testing.assert_allclose(
        float(weighted_block_error(jnp.asarray(x), jnp.full(1980, 1 / 1980), 20)),
        blocks.std(ddof=1) / np.sqrt(20),
        rtol=1e-10,
    )


def test_reweighted_result_carries_its_error_into_chi2():
    """Independent canonical samples of a harmonic trap carry a 'pressure' tr(Π)/3 = Σ|r|²
    (stress field, cached); reweighted to k' = 1.05 k the `PressureResult` gets the
    block error of the formula (checked against NumPy), agrees with the exact 3Nk_BT/k'
    within 4 errors, and a `ChiSquared` against a value adds it to the data's σ."""
    from observables import Pressure
    from spectrinv.losses import ChiSquared, Reference

    n_atoms, n_frames, k = 8, 1000, 100.0
    kt = BOLTZMANN * T_K
    system = System(
        box=None, species=jnp.zeros(n_atoms, jnp.int32), masses=jnp.full(n_atoms, ARGON)
    )
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n_frames, n_atoms, 3)) * np.sqrt(kt / k)
    r2 = np.sum(x**2, axis=(1, 2))
    traj = Trajectory.from_internal(x, box=None, timestep=0.1, stress=r2[:, None, None] * np.eye(3))
    bar = 1e3 / 6.02214076e23 / 1e-27 / 1e5  # bar per kJ mol⁻¹ nm⁻³ (SI constants)
    trap = HarmonicTrap(jnp.asarray(k))
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    at = eqx.tree_at(lambda p: p.k, params, jnp.asarray(1.05 * k))
    data = Quantity(3 * n_atoms * kt / (1.05 * k) * bar * 1.01, "bar")
    data_sigma = 0.5 * float(data.m) * 0.01
    loss = ChiSquared(Reference(data, y_unit="bar", uncertainty=Quantity(data_sigma, "bar")))
    objective = Objective(Pressure(), loss, record=(Positions(),))
    rw = Reweighting(n_frames=n_frames, stride=1, n_blocks=10)
    cache = rw.reference(
        objective, params, static, system=system, trajectory=traj, temperature=Quantity(T_K, "K")
    )
    res = rw.estimate(objective, at, static, system=system, cache=cache)
    # independent NumPy evaluation of the estimate and its block error
    log_w = -(0.5 * 0.05 * k * r2) / kt
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    p = r2 * bar
    mean = np.sum(w * p)
    d = (w * (p - mean)).reshape(10, -1).sum(1)
    err = np.sqrt(10 / 9 * np.sum(d**2))
    np.testing.assert_allclose(float(res.observed.y_magnitude), mean, rtol=1e-10)
    np.testing.assert_allclose(float(res.observed.error_magnitude), err, rtol=1e-8)
    exact = 3 * n_atoms * kt / (1.05 * k) * bar
    assert err < 0.02 * exact and abs(mean - exact) < 4 * err
    chi2 = (mean - data.m) ** 2 / (data_sigma**2 + err**2)
    np.testing.assert_allclose(float(res.loss), chi2, rtol=1e-8)
    # and no error bar when asked for none
    res0 = Reweighting(n_frames=n_frames, stride=1, n_blocks=None).estimate(
        objective, at, static, system=system, cache=cache
    )
    assert res0.observed.error_magnitude is None
    with pytest.raises(ValueError, match="n_blocks"):
        Reweighting(n_frames=10, stride=1, n_blocks=1)
