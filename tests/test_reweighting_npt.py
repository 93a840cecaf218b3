"""`Reweighting` of isothermal-isobaric (NPT) frames, each in its own box: density targets.

For frames sampled at θ₀ and fixed pressure P the weight of frame k at θ is
exp(−β[U_θ(x_k, V_k) − U_θ₀(x_k, V_k)]) (the P V_k term is the same at θ and θ₀), so
⟨ρ⟩_θ = Σ w_k ρ_k with ρ_k = M/(N_A V_k), and at θ₀ d⟨ρ⟩/dθ = −β cov(ρ, ∂U/∂θ).

Exactness (fast, synthetic frames whose boxes differ by up to ±6 % in edge length): the
package's estimate against an independent NumPy force-shifted Lennard-Jones energy evaluated
in each frame's own box (all pairs, minimum image), so per-frame boxes and the per-box
neighbour lists are both checked. Statistics (slow): the reweighted ⟨ρ⟩ at θ₀ ± h against
fresh NPT runs at θ₀ ± h with common random numbers, and the gradient against their central
finite difference.
"""

import types

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, EPS, SIGMA, fcc

from observables import BOLTZMANN, Density, Quantity, Trajectory
from spectrinv.backends import JaxMDBackend, Langevin, MonteCarloBarostat, Positions
from spectrinv.gradients import Objective, Reweighting
from spectrinv.gradients._reweighting_frames import merge_replicas
from spectrinv.potentials import ForceShifted, LennardJones, System

T_K = 100.0
BETA = 1.0 / (BOLTZMANN * T_K)
CUTOFF = 0.5  # nm, below half the narrowest synthetic box (1.074 nm)
#: kg/m³ of 1 g/mol in 1 nm³: 1e-3 kg / 6.02214076e23 / 1e-27 m³
KG_M3_PER_DA_NM3 = 1e-3 / 6.02214076e23 / 1e-27


def lj_system(n_cells=2, a=0.5718):
    """4 n³ argon atoms on an fcc lattice (32 for n=2), cubic box, force-shifted LJ."""
    lattice, edge = fcc(n_cells, a)
    system = System(
        box=jnp.full(3, edge),
        species=jnp.zeros(len(lattice), jnp.int32),
        masses=jnp.full(len(lattice), ARGON),
    )
    lj = LennardJones(SIGMA, EPS, Quantity(CUTOFF, "nm"), truncation=ForceShifted())
    return lattice, edge, system, lj


def npt_frames(lattice, edge, n_frames=16, seed=0, triclinic=False):
    """Frames as an NPT run stores them: a box per frame (`[frame, 3, 3]` rows), edges
    scaled by factors in [0.94, 1.06], and the lattice scaled with the box plus Gaussian
    displacements (0.015 nm). No MD: the estimator identities hold for any frames."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.94, 1.06, n_frames)
    pos = scale[:, None, None] * (lattice + rng.normal(0.0, 0.015, (n_frames,) + lattice.shape))
    boxes = scale[:, None, None] * edge * np.eye(3)
    if triclinic:
        boxes[:, 1, 0] = 0.1 * edge
    return Trajectory.from_internal(
        jnp.asarray(pos), box=jnp.asarray(boxes), timestep=0.1, masses=jnp.full(len(lattice), ARGON)
    )


# ------------------------------------------------------- independent NumPy reference
def lj_energy(pos, edge, sigma, eps):
    """Force-shifted LJ energy (kJ/mol) of one frame in a cubic box of edge `edge` (nm),
    all pairs, minimum image; written independently of the package."""
    d = pos[:, None, :] - pos[None, :, :]
    d -= edge * np.round(d / edge)
    r = np.sqrt(np.sum(d * d, axis=-1))[np.triu_indices(len(pos), 1)]

    def phi(x):
        return 4 * eps * ((sigma / x) ** 12 - (sigma / x) ** 6)

    def dphi(x):
        return 4 * eps * (-12 * sigma**12 / x**13 + 6 * sigma**6 / x**7)

    u = np.where(r < CUTOFF, phi(r) - phi(CUTOFF) - (r - CUTOFF) * dphi(CUTOFF), 0.0)
    return u.sum()


def frame_arrays(traj):
    """Positions `[frame, atom, 3]`, cube edges `[frame]` and densities ρ_k (kg/m³)."""
    pos = np.asarray(traj.positions)
    edges = np.asarray(traj.box)[:, 0, 0]
    rho = pos.shape[1] * ARGON * KG_M3_PER_DA_NM3 / edges**3
    return pos, edges, rho


def reweighted_density(traj, sigma0, eps0, sigma, eps, edges=None):
    """Independent ⟨ρ⟩_θ from frames sampled at θ₀, each frame's energy in its own box
    (or in the boxes `edges`, to show what a wrong box would give)."""
    pos, own, rho = frame_arrays(traj)
    edges = own if edges is None else edges
    u0 = np.array([lj_energy(p, e, sigma0, eps0) for p, e in zip(pos, edges, strict=True)])
    u = np.array([lj_energy(p, e, sigma, eps) for p, e in zip(pos, edges, strict=True)])
    log_w = -BETA * (u - u0)
    w = np.exp(log_w - log_w.max())
    return (w / w.sum()) @ rho


# --------------------------------------------------------------------------- fixtures
OBJECTIVE = Objective(Density(n_blocks=None), lambda r: r.y_magnitude, record=(Positions(),))


@pytest.fixture(scope="module")
def frames():
    lattice, edge, system, lj = lj_system()
    traj = npt_frames(lattice, edge)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    rw = Reweighting(n_frames=2, stride=1, batch_size=8, n_blocks=4)
    cache = rw.reference(
        OBJECTIVE, params, static, system=system, trajectory=traj, temperature=Quantity(T_K, "K")
    )
    return dict(system=system, params=params, static=static, rw=rw, cache=cache, traj=traj)


def estimate(f, params):
    return f["rw"].estimate(OBJECTIVE, params, f["static"], system=f["system"], cache=f["cache"])


# ------------------------------------------------------------------------------ tests
def test_density_and_gradient_at_theta0_are_mean_and_covariance(frames):
    """At θ₀: ⟨ρ⟩ = the plain mean of M/V_k, and d⟨ρ⟩/dθ = −β cov(ρ, ∂U/∂θ) with ∂U/∂ε = U/ε
    (U is linear in ε) from the NumPy energies and ∂U/∂σ from jax.grad of the potential
    in each frame's own box (all pairs, no neighbour list)."""
    res = estimate(frames, frames["params"])
    pos, edges, rho = frame_arrays(frames["traj"])
    sigma, eps = float(frames["params"].sigma), float(frames["params"].epsilon)
    u = np.array([lj_energy(p, e, sigma, eps) for p, e in zip(pos, edges, strict=True)])

    def energy(params, p, e):
        system = eqx.tree_at(lambda s: s.box, frames["system"], jnp.full(3, e))
        return eqx.combine(params, frames["static"]).energy(p, system, None)

    grads = jax.jit(jax.vmap(jax.grad(energy), in_axes=(None, 0, 0)))(frames["params"], pos, edges)
    du_dsigma = np.asarray(grads.sigma)

    def cov(a, b):
        return np.mean((a - a.mean()) * (b - b.mean()))

    assert res.diagnostics["ess"] == pytest.approx(1.0, abs=1e-12)
    assert float(res.observed.y_magnitude) == pytest.approx(rho.mean(), rel=1e-12)
    assert float(res.grad.epsilon) == pytest.approx(-BETA * cov(rho, u / eps), rel=1e-9)
    assert float(res.grad.sigma) == pytest.approx(-BETA * cov(rho, du_dsigma), rel=1e-9)
    # the check can fail: every frame's energy in the first frame's box gives another value
    wrong = -BETA * cov(rho, np.array([lj_energy(p, edges[0], sigma, eps) for p in pos]) / eps)
    assert abs(wrong - float(res.grad.epsilon)) > 0.05 * abs(float(res.grad.epsilon))


def test_gradient_away_from_theta0_equals_finite_difference_of_numpy_average(frames):
    """At θ₁ = (0.995 σ₀, 1.03 ε₀) (non-uniform weights): the reweighted ⟨ρ⟩ equals the
    NumPy one, and its gradient the derivative of the NumPy ⟨ρ⟩ by central differences
    with one Richardson step (h = 2e-6, 1e-6 relative; truncation O(h⁴), rounding ≲ 1e-9
    relative)."""
    s0, e0 = float(frames["params"].sigma), float(frames["params"].epsilon)
    s1, e1 = 0.995 * s0, 1.03 * e0
    at = eqx.tree_at(
        lambda p: (p.sigma, p.epsilon), frames["params"], (jnp.asarray(s1), jnp.asarray(e1))
    )
    res = estimate(frames, at)
    traj = frames["traj"]
    assert 0.05 < res.diagnostics["ess"] < 0.95  # the weights are far from uniform
    assert float(res.observed.y_magnitude) == pytest.approx(
        reweighted_density(traj, s0, e0, s1, e1), rel=1e-12
    )

    def derivative(f, x):
        def central(h):
            return (f(x + h) - f(x - h)) / (2 * h)

        return (4 * central(1e-6 * x) - central(2e-6 * x)) / 3

    fd_s = derivative(lambda s: reweighted_density(traj, s0, e0, s, e1), s1)
    fd_e = derivative(lambda e: reweighted_density(traj, s0, e0, s1, e), e1)
    assert float(res.grad.sigma) == pytest.approx(fd_s, rel=1e-6)
    assert float(res.grad.epsilon) == pytest.approx(fd_e, rel=1e-6)


def test_portable_cache_rebuilds_the_per_frame_lists(frames):
    """A checkpointed cache (no lists) gives the same estimate: the lists are rebuilt, each
    in its frame's box."""
    at = eqx.tree_at(lambda p: p.sigma, frames["params"], frames["params"].sigma * 0.995)
    full = estimate(frames, at)
    restored = frames["rw"].estimate(
        OBJECTIVE, at, frames["static"], system=frames["system"], cache=frames["cache"].portable()
    )
    assert float(restored.grad.sigma) == float(full.grad.sigma)
    assert float(restored.observed.y_magnitude) == float(full.observed.y_magnitude)


def test_npt_replicas_are_merged_with_every_frame_box():
    """Batched NPT frames (leading replica axis) become one trajectory whose frames keep
    their own boxes, replica by replica (a fixed-box merge keeps replica 0's box only)."""
    lattice, edge, _, _ = lj_system()
    a, b = (npt_frames(lattice, edge, n_frames=3, seed=s) for s in (1, 2))
    batched = jax.tree.map(lambda x, y: jnp.stack([x, y]), a, b)
    merged = merge_replicas(batched, box_per_frame=True)
    assert merged.box_per_frame and merged.n_frames == 6
    np.testing.assert_array_equal(merged.box, np.concatenate([a.box, b.box]))
    np.testing.assert_array_equal(merged.positions, np.concatenate([a.positions, b.positions]))


def test_bad_npt_input_is_refused_in_one_line():
    lattice, edge, system, lj = lj_system()
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    rw = Reweighting(n_frames=2, stride=1, batch_size=8)
    t = Quantity(T_K, "K")

    def reference(traj, system=system):
        return rw.reference(
            OBJECTIVE, params, static, system=system, trajectory=traj, temperature=t
        )

    # a frame whose box is narrower than two cutoffs
    small = npt_frames(lattice, edge, n_frames=4)
    boxes = np.asarray(small.box).copy()
    boxes[2] *= 0.8  # edge 0.91 nm < 2 × 0.5 nm
    small = eqx.tree_at(lambda tr: tr.box, small, jnp.asarray(boxes))
    with pytest.raises(ValueError, match=r"cutoff 0.5 nm exceeds half .* box of frame 2") as err:
        reference(small)
    assert "\n" not in str(err.value)
    # triclinic frame boxes for a system that holds edges
    with pytest.raises(ValueError, match="triclinic") as err:
        reference(npt_frames(lattice, edge, n_frames=4, triclinic=True))
    assert "\n" not in str(err.value)
    # per-frame boxes for a non-periodic system
    with pytest.raises(ValueError, match="system.box is None"):
        reference(
            npt_frames(lattice, edge, n_frames=4),
            eqx.tree_at(lambda s: s.box, system, None, is_leaf=lambda x: x is None),
        )
    # a barostat that is not the isotropic Monte Carlo one
    backend = types.SimpleNamespace(barostat=object(), integrator=None)
    with pytest.raises(ValueError, match="isotropic MonteCarloBarostat only") as err:
        rw(OBJECTIVE, params, static, backend=backend, system=system, state=None, key=None)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ NPT runs (slow, statistics)
def npt_backend(adapt):
    integrator = Langevin(Quantity(4, "fs"), Quantity(T_K, "K"), Quantity(5, "1/ps"))
    barostat = MonteCarloBarostat(Quantity(800, "bar"), frequency=5, scaling="atomic", adapt=adapt)
    return JaxMDBackend(integrator, barostat=barostat)


@pytest.mark.slow
def test_npt_reweighting_matches_fresh_npt_runs_with_common_random_numbers():
    """32 LJ argon atoms at 100 K and 800 bar (16 ps equilibration with step tuning, then
    fixed steps). For each of 3 keys: a reference of 500 frames (20 ps) at θ₀ through
    `Reweighting.__call__` with the barostat, and fresh NPT runs at σ₀(1 ± 1 %) from the
    same state with the same key (common random numbers).

    Checked: (i) on the real NPT frames, ⟨ρ⟩ and d⟨ρ⟩/dσ at θ₀ equal the plain mean of M/V_k
    and −β cov(ρ, ∂U/∂σ) (jax.grad of the potential per frame, in its own box, all pairs);
    (ii) the reweighted ⟨ρ⟩ at σ₀(1 ± 1 %), summed over keys, equals the fresh runs' within
    3 combined block errors; (iii) the mean reweighting gradient equals the mean central
    finite difference of the fresh runs within 3 errors: the larger of the combined stated
    errors (the gradient's `grad_stderr`, the fresh runs' block errors) and the key-to-key
    spread of the difference, which must be below 40 % of the gradient, so a wrong sign or
    a gradient off by a factor of 2.5 fails. Measured (2-core CPU, 5 min): the sums
    over keys z = +0.79 (σ₀ + 1 %), −0.22 (σ₀ − 1 %); mean dρ/dσ −7100 (reweighting) vs
    −7983 kg/m³/nm (finite difference), error 2420 (key-to-key; stated 1549), z = +0.36."""
    lattice, edge, system, lj = lj_system()
    state = npt_backend(True).init(
        lj, system, Quantity(lattice, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(0)
    )
    _, state = npt_backend(True).sample(lj, system, state, jax.random.key(1), 4000, stride=100)
    backend = npt_backend(False)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    rw = Reweighting(n_frames=500, stride=10, n_blocks=10)
    rel = 0.01
    h = rel * float(params.sigma)

    def at(sign):
        return eqx.tree_at(lambda p: p.sigma, params, params.sigma * (1 + sign * rel))

    def energy(p, x, box):
        return eqx.combine(p, static).energy(x, eqx.tree_at(lambda s: s.box, system, box), None)

    du_dsigma = jax.jit(jax.vmap(lambda x, b: jax.grad(energy)(params, x, b).sigma))
    diff = {+1: [], -1: []}
    grads, fds = [], []
    for k in range(3):
        key = jax.random.key(100 + k)
        ref = rw(OBJECTIVE, params, static, backend=backend, system=system, state=state, key=key)
        traj = ref.cache.trajectory
        boxes = np.asarray(traj.box)
        assert traj.box_per_frame and np.ptp(boxes[:, 0, 0]) > 0.03 * edge  # the box moves
        rho = lattice.shape[0] * ARGON * KG_M3_PER_DA_NM3 / np.linalg.det(boxes)
        e = np.asarray(du_dsigma(traj.positions, jnp.asarray(np.diagonal(boxes, 0, 1, 2))))
        cov = np.mean((rho - rho.mean()) * (e - e.mean()))
        assert float(ref.observed.y_magnitude) == pytest.approx(rho.mean(), rel=1e-12)
        assert float(ref.grad.sigma) == pytest.approx(-BETA * cov, rel=1e-8)
        fresh = {}
        for sign in (+1, -1):
            rew = rw.estimate(OBJECTIVE, at(sign), static, system=system, cache=ref.cache)
            run = rw(
                OBJECTIVE, at(sign), static, backend=backend, system=system, state=state, key=key
            )
            fresh[sign] = (float(run.observed.y_magnitude), float(run.observed.error_magnitude))
            d = float(rew.observed.y_magnitude) - fresh[sign][0]
            err = np.hypot(float(rew.observed.error_magnitude), fresh[sign][1])
            diff[sign].append((d, err))
            print(
                f"key {k} σ(1{sign * rel:+.0%}): reweighted {float(rew.observed.y_magnitude):.1f} "
                f"± {float(rew.observed.error_magnitude):.1f}, fresh {fresh[sign][0]:.1f} ± "
                f"{fresh[sign][1]:.1f} kg/m³, ESS {rew.diagnostics['ess']:.2f}"
            )
        fd = (fresh[+1][0] - fresh[-1][0]) / (2 * h)
        fd_err = np.hypot(fresh[+1][1], fresh[-1][1]) / (2 * h)
        grads.append((float(ref.grad.sigma), float(ref.diagnostics["grad_stderr"].sigma)))
        fds.append((fd, fd_err))
        print(
            f"key {k}: ρ₀ {rho.mean():.1f} kg/m³, dρ/dσ reweighting {grads[-1][0]:.0f} ± "
            f"{grads[-1][1]:.0f}, finite difference {fd:.0f} ± {fd_err:.0f} kg/m³/nm"
        )
    for sign in (+1, -1):
        d, err = np.array(diff[sign]).T
        z = d.sum() / np.sqrt(np.sum(err**2))
        print(f"σ(1{sign * rel:+.0%}): Σ(reweighted − fresh) z = {z:+.2f}")
        assert abs(z) < 3, (sign, diff[sign])
    g, g_err = np.array(grads).T
    f, f_err = np.array(fds).T
    stated = np.sqrt(np.sum(g_err**2 + f_err**2)) / len(g)
    spread = np.std(g - f, ddof=1) / np.sqrt(len(g))  # the per-key errors can be too small
    combined = max(stated, spread)
    print(
        f"mean dρ/dσ: reweighting {g.mean():.0f}, finite difference {f.mean():.0f}, "
        f"error {combined:.0f} (stated {stated:.0f}, key-to-key {spread:.0f}), "
        f"z = {(g.mean() - f.mean()) / combined:+.2f}"
    )
    assert combined < abs(f.mean()) / 2.5, (combined, f.mean())
    assert abs(g.mean() - f.mean()) < 3 * combined, (grads, fds)
