"""Truncated: pathwise part vs derivatives with the same fixed start states (harmonic trap,
Lennard-Jones), the initial-ensemble term against the analytic d⟨r²⟩/dk of a canonical
harmonic trap (and the bias without it), per-segment norms, bad backends."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import AllPairs, HarmonicTrap, argon

from observables import BOLTZMANN, Quantity, SelfDiffusion, correlate
from spectrinv.backends import JaxMDBackend, Langevin, OpenMMBackend, VelocityVerlet
from spectrinv.gradients import Objective
from spectrinv.gradients._truncated import Truncated
from spectrinv.potentials import ForceShifted, LennardJones, System


def _segment_observations(objective, static, nve, system, starts, n_steps, stride=1):
    """Test-side reference: θ -> per-segment observations o_i from the fixed start states
    (one batched NVE run), written without the strategy's code."""

    def f(p):
        traj, _, overflowed = nve.run(
            eqx.combine(p, static), system, starts, jax.random.key(0), n_steps, stride=stride
        )
        return jax.vmap(objective.observe)(traj), overflowed

    return eqx.filter_jit(f)


# ------------------------------------------------------------------------ harmonic trap
N_ATOMS, TEMPERATURE, K_TRAP = 16, 300.0, 100.0  # k in kJ mol⁻¹ nm⁻², m = 1 Da
OMEGA = np.sqrt(K_TRAP / 1.0)  # 10 / ps
DT, SEG = 0.005, 20  # ω Δt = 0.05; a segment spans ω t = 1 rad
WEIGHTS = np.array([1.0, 2.0, 3.0])


def _trap():
    """`(system, trap, backend, state)`: 16 unit-mass atoms in the trap, critically damped
    Langevin at 300 K, random start positions and Maxwell–Boltzmann velocities."""
    system = System(box=None, species=jnp.zeros(N_ATOMS, jnp.int32), masses=jnp.ones(N_ATOMS))
    trap = HarmonicTrap(jnp.asarray(K_TRAP))
    backend = JaxMDBackend(
        Langevin(Quantity(DT, "ps"), Quantity(TEMPERATURE, "K"), Quantity(2 * OMEGA, "1/ps"))
    )
    pos = 0.1 * jax.random.normal(jax.random.key(0), (N_ATOMS, 3))
    state = backend.init(
        trap,
        system,
        Quantity(pos, "nm"),
        temperature=Quantity(TEMPERATURE, "K"),
        key=jax.random.key(1),
    )
    return system, trap, backend, state


def _trap_runs(n_segments):
    """Trap at 300 K; `n_segments` segments of 20 NVE steps, 100 Langevin steps apart
    (ω·100Δt = 5 at critical damping γ = 2ω: successive starts are practically
    independent). Observable: ⟨x_a²⟩ per Cartesian axis a over the segment's frames and
    atoms; loss Σ_a w_a ⟨x_a²⟩. Runs Truncated with and without the ensemble term."""
    system, trap, backend, state = _trap()
    _, state = backend.sample(trap, system, state, jax.random.key(2), 400)  # equilibrate
    w = jnp.asarray(WEIGHTS)
    objective = Objective(
        lambda t: {"x2": jnp.mean(t.positions**2, axis=(0, 1))},
        lambda o: jnp.sum(w * o["x2"]),
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(3))
    runs = {}
    for term in (True, False):
        strategy = Truncated(n_segments, SEG, decorrelation_steps=100, initial_ensemble=term)
        runs[term] = strategy(objective, params, static, **kw)
    starts, nvt = strategy.start_states(trap, **kw)
    return dict(
        runs=runs,
        starts=starts,
        nvt=nvt,
        objective=objective,
        params=params,
        static=static,
        system=system,
        nve=strategy.segment_backend(backend),
        strategy=strategy,
    )


@pytest.fixture(scope="module")
def trap_runs():
    return _trap_runs(800)


def test_trap_pathwise_part_is_the_derivative_at_fixed_start_states(trap_runs):
    """initial_ensemble=False gives exactly (1/n) Σ_i ∂L_i/∂k with the start states held
    fixed: checked against forward-mode autodiff and a central difference of the test's own
    forward function on the same start states (which `start_states` reproduces: same key,
    same final NVT state)."""
    r = trap_runs
    res = r["runs"][False]
    np.testing.assert_array_equal(res.state.positions, r["nvt"].positions)
    f = _segment_observations(r["objective"], r["static"], r["nve"], r["system"], r["starts"], SEG)

    def loss(p):
        obs, overflowed = f(p)
        return r["objective"].loss(jax.tree.map(lambda x: jnp.mean(x, 0), obs))

    assert float(res.loss) == pytest.approx(float(loss(r["params"])), rel=1e-12)
    tangent = jax.jvp(loss, (r["params"],), (jax.tree.map(jnp.ones_like, r["params"]),))[1]
    assert float(res.grad.k) == pytest.approx(float(tangent), rel=1e-10)
    h = 1e-4 * K_TRAP
    up = eqx.tree_at(lambda p: p.k, r["params"], r["params"].k + h)
    dn = eqx.tree_at(lambda p: p.k, r["params"], r["params"].k - h)
    fd = (float(loss(up)) - float(loss(dn))) / (2 * h)
    assert float(res.grad.k) == pytest.approx(fd, rel=1e-6)
    assert res.diagnostics["ensemble_term_norm"] == 0.0
    assert res.diagnostics["n_segments"] == 800


def test_trap_initial_ensemble_term_gives_the_canonical_derivative(trap_runs):
    """800 segments: standard error ≈ 5 % (see `_check_trap_gradient`)."""
    _check_trap_gradient(trap_runs, max_rel_se=0.06)


@pytest.mark.slow
def test_trap_initial_ensemble_term_tight():
    """As above with 8000 segments: standard error ≈ 1.5 %, so the estimate must be within
    6 % of the exact derivative."""
    _check_trap_gradient(_trap_runs(8000), max_rel_se=0.02)


def _check_trap_gradient(r, max_rel_se):
    """Canonical trap: ⟨x_a²⟩ = k_BT/k for every time along an NVE segment started from
    equilibrium, so dL/dk = −Σ_a w_a k_BT/k² exactly. The pathwise part alone has the
    expectation −Σ_a w_a (k_BT/k²) mean_t sin²(ωt) (it misses the change of the start
    distribution) and the ensemble term −Σ_a w_a (k_BT/k²) mean_t cos²(ωt). Each is checked
    by a z-score with the per-segment standard error; the sum must hit the exact value
    within 4 standard errors, the pathwise part alone must miss it by many."""
    kt = BOLTZMANN * TEMPERATURE
    beta = 1.0 / kt
    exact = -np.sum(WEIGHTS) * kt / K_TRAP**2
    t = DT * np.arange(1, SEG + 1)
    sin2, cos2 = np.mean(np.sin(OMEGA * t) ** 2), np.mean(np.cos(OMEGA * t) ** 2)

    # per-segment quantities, computed here: o_i, p_i = ∂(w·o_i)/∂k (forward mode),
    # s_i = w·o_i, g_i = ∂U(x_i)/∂k = ½ Σ |x_i|²
    f = _segment_observations(r["objective"], r["static"], r["nve"], r["system"], r["starts"], SEG)

    def s_of(p):
        obs, _ = f(p)
        return obs["x2"] @ jnp.asarray(WEIGHTS)

    s, p_i = jax.jvp(s_of, (r["params"],), (jax.tree.map(jnp.ones_like, r["params"]),))
    s, p_i = np.asarray(s), np.asarray(p_i)
    g = 0.5 * np.sum(np.asarray(r["starts"].positions) ** 2, axis=(1, 2))
    n = len(s)
    cov_i = (s - s.mean()) * (g - g.mean()) * n / (n - 1)
    ensemble = -beta * np.mean(cov_i)

    res_on, res_off = r["runs"][True], r["runs"][False]
    assert float(res_off.grad.k) == pytest.approx(np.mean(p_i), rel=1e-10)
    assert float(res_on.grad.k) == pytest.approx(np.mean(p_i) + ensemble, rel=1e-10)
    # grad_stderr: standard error of the mean of the per-segment gradients of the linearised
    # loss (here linear), u_i = p_i − β cov_i, whose mean is the gradient
    u_i = p_i - beta * cov_i
    assert float(res_on.grad.k) == pytest.approx(np.mean(u_i), rel=1e-10)
    se_on = float(res_on.diagnostics["grad_stderr"].k)
    assert se_on == pytest.approx(np.std(u_i, ddof=1) / np.sqrt(n), rel=1e-8)
    se_off = float(res_off.diagnostics["grad_stderr"].k)
    assert se_off == pytest.approx(np.std(p_i, ddof=1) / np.sqrt(n), rel=1e-8)
    snr = float(res_on.diagnostics["grad_snr"].k)
    assert snr == pytest.approx(abs(float(res_on.grad.k)) / se_on, rel=1e-12)
    assert res_on.diagnostics["ensemble_term_norm"] == pytest.approx(abs(ensemble), rel=1e-10)

    se_path = np.std(p_i) / np.sqrt(n)
    se_ens = beta * np.std(cov_i) / np.sqrt(n)
    se_total = np.std(p_i - beta * cov_i) / np.sqrt(n)
    z_path = (np.mean(p_i) - exact * sin2) / se_path
    z_ens = (ensemble - exact * cos2) / se_ens
    z_total = (float(res_on.grad.k) - exact) / se_total
    z_biased = (float(res_off.grad.k) - exact) / se_path
    assert abs(z_path) < 4, (np.mean(p_i), exact * sin2, se_path)
    assert abs(z_ens) < 4, (ensemble, exact * cos2, se_ens)
    assert abs(z_total) < 4, (float(res_on.grad.k), exact, se_total)
    assert se_total < max_rel_se * abs(exact)  # enough samples for the check to mean much
    assert float(res_on.grad.k) == pytest.approx(exact, rel=4 * se_total / abs(exact))
    # without the term the estimate is far off: the bias is (1 - sin²) of the answer
    assert abs(z_biased) > 20
    assert float(res_off.grad.k) / exact < 0.5


def test_segment_grad_norms_are_each_segments_contribution(trap_runs):
    """segment_grad_norms[i] = |(1/n) ∂L/∂O · ∂o_i/∂k| (one scalar parameter: |p_i|/n)."""
    r = trap_runs
    f = _segment_observations(r["objective"], r["static"], r["nve"], r["system"], r["starts"], SEG)

    def s_of(p):
        obs, _ = f(p)
        return obs["x2"] @ jnp.asarray(WEIGHTS)

    _, p_i = jax.jvp(s_of, (r["params"],), (jax.tree.map(jnp.ones_like, r["params"]),))
    norms = r["runs"][False].diagnostics["segment_grad_norms"]
    assert norms.shape == (800,)
    np.testing.assert_allclose(norms, np.abs(np.asarray(p_i)) / 800, rtol=1e-10)


def test_grad_stderr_is_calibrated_across_independent_keys():
    """The trap of above with 64 segments: over 12 independent keys (independent NVT
    chains from the same state), the spread of the returned gradient matches the
    `grad_stderr` each call reports (ratio within a generous 0.6–1.6: with 12 keys the
    spread itself is known to ≈ ±20 %)."""
    system, trap, backend, state = _trap()
    _, state = backend.sample(trap, system, state, jax.random.key(2), 400)
    w = jnp.asarray(WEIGHTS)
    objective = Objective(
        lambda t: {"x2": jnp.mean(t.positions**2, axis=(0, 1))},
        lambda o: jnp.sum(w * o["x2"]) ** 2,  # nonlinear: the linearised per-segment terms
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    strategy = Truncated(64, SEG, decorrelation_steps=100)
    grads, errors = [], []
    for i in range(12):
        res = strategy(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=jax.random.key(50 + i),
        )
        grads.append(float(res.grad.k))
        errors.append(float(res.diagnostics["grad_stderr"].k))
    ratio = np.std(grads, ddof=1) / np.sqrt(np.mean(np.square(errors)))
    assert 0.6 < ratio < 1.6, (ratio, grads, errors)


def test_segment_starts_have_no_centre_of_mass_momentum():
    """Langevin does not conserve momentum; NVE does. 32 LJ atoms given a centre-of-mass
    velocity of 1 nm/ps along x (≈ 6× the thermal speed per component) under weak friction
    (0.1/ps: it survives the chain): the segments' start states have zero total momentum
    (to round-off), and D from their NVE segments equals D from the same chain without
    the kick (the internal motion of a translation-invariant system does not see it; same
    key, so same noise) — while with `remove_com=False` the drift inflates D many times.
    All pairs (minimum image, no neighbour lists: far less to compile); one jitted D."""
    pos, system, lj = argon(n=2, cutoff=0.55)
    lj = AllPairs(lj)
    backend = JaxMDBackend(
        Langevin(Quantity(4, "fs"), Quantity(120, "K"), Quantity(0.1, "1/ps")),
        capacity_multiplier=2.0,
    )
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(120, "K"), key=jax.random.key(0)
    )
    kicked = eqx.tree_at(lambda s: s.velocities, state, state.velocities.at[:, 0].add(1.0))
    kw = dict(backend=backend, system=system, key=jax.random.key(1))
    nve = Truncated.segment_backend(backend)
    masses = np.asarray(system.masses)[None, :, None]

    per_segment_d = jax.jit(jax.vmap(lambda t: SelfDiffusion(max_lag=9, n_blocks=2)(t).y_magnitude))

    def diffusion(strategy, start):
        starts, _ = strategy.start_states(lj, state=start, **kw)
        traj, _ = nve.sample(lj, system, starts, jax.random.key(2), 40, stride=2)
        d = per_segment_d(traj)
        return np.asarray(d), np.sum(masses * np.asarray(starts.velocities), axis=1)

    d_plain, p_plain = diffusion(Truncated(4, 40, decorrelation_steps=50), state)
    d_kick, p_kick = diffusion(Truncated(4, 40, decorrelation_steps=50), kicked)
    d_drift, p_drift = diffusion(Truncated(4, 40, decorrelation_steps=50, remove_com=False), kicked)
    thermal = np.sqrt(np.sum(masses) * BOLTZMANN * 120.0)  # Da nm/ps, per component
    assert np.max(np.abs(p_kick)) < 1e-10 * thermal
    assert np.max(np.abs(p_plain)) < 1e-10 * thermal
    assert np.min(np.abs(p_drift[:, 0])) > 3 * thermal  # the kick survives the chain
    np.testing.assert_allclose(d_kick, d_plain, rtol=1e-6)
    assert np.all(d_drift > 3 * d_plain)


def test_fresh_velocities_are_maxwell_boltzmann_where_the_chain_is_not():
    """A stiff harmonic trap (ω = 10/ps, m = 1 Da) sampled by BAOAB at Δt = 0.1 ps
    (ωΔt = 1): the chain's full-step velocities have ⟨m v²⟩/k_BT = 1 − (ωΔt)²/4 = 0.75
    (BAOAB is exact in configurations for a harmonic oscillator, not in the velocities
    after the last half kick; checked with a NumPy BAOAB in the report), while
    `fresh_velocities=True` gives Maxwell–Boltzmann, 1, at the same positions.
    64 segments × 16 atoms × 3 components, start states 1 ps apart (friction 10/ps:
    independent): standard error of the mean ≈ √(2/3072) ≈ 0.026."""
    system = System(box=None, species=jnp.zeros(16, jnp.int32), masses=jnp.ones(16))
    trap = HarmonicTrap(jnp.asarray(100.0))
    backend = JaxMDBackend(Langevin(Quantity(0.1, "ps"), Quantity(300, "K"), Quantity(10, "1/ps")))
    state = backend.init(
        trap,
        system,
        Quantity(np.zeros((16, 3)), "nm"),
        temperature=Quantity(300, "K"),
        key=jax.random.key(0),
    )
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(1))
    kt = BOLTZMANN * 300.0
    out = {}
    for fresh in (False, True):
        strategy = Truncated(64, 10, decorrelation_steps=10, fresh_velocities=fresh)
        starts, _ = strategy.start_states(trap, **kw)
        out[fresh] = starts
    se = np.sqrt(2.0 / (64 * 16 * 3))
    chain = float(np.mean(np.asarray(out[False].velocities) ** 2) / kt)
    fresh = float(np.mean(np.asarray(out[True].velocities) ** 2) / kt)
    assert abs(chain - 0.75) < 4 * se, chain
    assert abs(fresh - 1.0) < 4 * se, fresh
    np.testing.assert_array_equal(out[False].positions, out[True].positions)
    x2 = float(np.mean(np.asarray(out[True].positions) ** 2) * 100.0 / kt)
    assert abs(x2 - 1.0) < 4 * se, x2  # configurations exact: ⟨k x²⟩ = k_BT


def test_truncated_needs_a_thermostat_and_a_differentiable_backend():
    system = System(box=None, species=jnp.zeros(4, jnp.int32), masses=jnp.ones(4))
    trap = HarmonicTrap(jnp.asarray(1.0))
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    objective = Objective(lambda t: jnp.mean(t.positions**2), lambda o: o)
    nve = JaxMDBackend(VelocityVerlet(Quantity(1, "fs")))
    state = nve.init(trap, system, Quantity(np.eye(4, 3), "nm"))
    kw = dict(system=system, state=state, key=jax.random.key(0))
    with pytest.raises(ValueError, match="thermostat"):
        Truncated(4, 10)(objective, params, static, backend=nve, **kw)
    openmm = OpenMMBackend(Langevin(Quantity(1, "fs"), Quantity(300, "K"), Quantity(1, "1/ps")))
    with pytest.raises(TypeError, match="JaxMDBackend"):
        Truncated(4, 10)(objective, params, static, backend=openmm, **kw)
    with pytest.raises(ValueError, match="n_segments >= 2"):
        Truncated(1, 10)
    with pytest.raises(ValueError, match="multiple of stride"):
        Truncated(4, 10, stride=3)
    with pytest.raises(TypeError, match="remove_com"):
        Truncated(4, 10, remove_com="yes")
    with pytest.raises(TypeError, match="fresh_velocities"):
        Truncated(4, 10, fresh_velocities=1)


# ------------------------------------------------------------------------- Lennard-Jones
@pytest.mark.slow
def test_lennard_jones_pathwise_part_matches_finite_differences():
    """32 LJ atoms (Langevin 120 K), 8 segments of 100 NVE steps: with initial_ensemble=False
    dL/dσ, dL/dε equal central differences of the loss over the same start states; the
    per-segment norms equal those of the finite-difference per-segment contributions; the
    initial-ensemble term equals −β cov(s_i, ∂U(x_i)/∂θ) computed here."""

    def fcc(n, a):
        g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
        basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
        return ((g[:, None, :] + basis[None]) * a).reshape(-1, 3), n * a

    pos, length = fcc(2, 0.5718)
    system = System(
        box=jnp.full(3, length), species=jnp.zeros(32, jnp.int32), masses=jnp.full(32, 39.948)
    )
    lj = LennardJones(
        Quantity(3.405, "angstrom"),
        Quantity(0.99774, "kJ/mol"),
        Quantity(0.55, "nm"),
        truncation=ForceShifted(),
    )
    backend = JaxMDBackend(
        Langevin(Quantity(4, "fs"), Quantity(120, "K"), Quantity(5, "1/ps")),
        capacity_multiplier=2.0,
    )
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(120, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 500)

    def observe(t):
        return correlate(t.velocities, max_lag=15, sum_axes=(2,), mean_axes=(1,))

    def loss(c):
        target = jnp.exp(-jnp.arange(c.shape[0], dtype=c.dtype) / 8.0)
        return jnp.sum((c / c[0] - target) ** 2)

    objective = Objective(observe, loss)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(2))
    n_seg, seg = 8, 100
    res = Truncated(n_seg, seg, decorrelation_steps=50, initial_ensemble=False)(
        objective, params, static, **kw
    )
    strategy = Truncated(n_seg, seg, decorrelation_steps=50)
    res_on = strategy(objective, params, static, **kw)
    starts, _ = strategy.start_states(lj, **kw)
    f = _segment_observations(
        objective, static, strategy.segment_backend(backend), system, starts, seg
    )
    obs0, overflowed = f(params)
    assert not bool(overflowed)
    big_o = jnp.mean(obs0, 0)
    assert float(res.loss) == pytest.approx(float(loss(big_o)), rel=1e-12)
    cotangent = jax.grad(loss)(big_o)
    contributions = []
    for name in ("sigma", "epsilon"):
        x = getattr(params, name)
        h = 1e-6 * float(x)
        up = eqx.tree_at(lambda p, name=name: getattr(p, name), params, x + h)
        dn = eqx.tree_at(lambda p, name=name: getattr(p, name), params, x - h)
        o_up, o_dn = f(up)[0], f(dn)[0]
        fd = (float(loss(jnp.mean(o_up, 0))) - float(loss(jnp.mean(o_dn, 0)))) / (2 * h)
        assert float(getattr(res.grad, name)) == pytest.approx(fd, rel=1e-4), name
        contributions.append(np.asarray((o_up - o_dn) @ cotangent) / (2 * h) / n_seg)
    fd_norms = np.hypot(*contributions)
    np.testing.assert_allclose(res.diagnostics["segment_grad_norms"], fd_norms, rtol=1e-4)

    # the ensemble term, from its definition
    s = np.asarray(obs0 @ cotangent)
    grad_u = jax.vmap(
        lambda x, nb: eqx.filter_grad(lambda p: eqx.combine(p, static).energy(x, system, nb))(
            params
        )
    )(starts.positions, starts.neighbors)
    beta = 1.0 / (BOLTZMANN * 120.0)
    for name in ("sigma", "epsilon"):
        g = np.asarray(getattr(grad_u, name))
        term = -beta * np.sum((s - s.mean()) * (g - g.mean())) / (n_seg - 1)
        on, off = float(getattr(res_on.grad, name)), float(getattr(res.grad, name))
        assert on - off == pytest.approx(term, rel=1e-8, abs=1e-12 * abs(off)), name


def test_observe_is_the_forward_part_of_the_call():
    """`Truncated.observe` (forward only, for finite-difference sensitivities) returns the
    observation `__call__` returns with the same state and key — same start states, same
    segments — and a different key gives another one."""
    system, trap, backend, state = _trap()
    objective = Objective(
        lambda t: {"x2": jnp.mean(t.positions**2, axis=(0, 1))}, lambda o: jnp.sum(o["x2"])
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    strategy = Truncated(4, SEG, decorrelation_steps=20)
    kw = dict(backend=backend, system=system, state=state)
    full = strategy(objective, params, static, key=jax.random.key(5), **kw)
    forward = strategy.observe(objective, params, static, key=jax.random.key(5), **kw)
    np.testing.assert_allclose(forward["x2"], full.observed["x2"], rtol=1e-10)
    other = strategy.observe(objective, params, static, key=jax.random.key(6), **kw)
    assert np.max(np.abs(np.asarray(other["x2"]) - np.asarray(full.observed["x2"]))) > 1e-6
