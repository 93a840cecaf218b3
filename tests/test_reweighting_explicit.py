"""Reweighting of observables whose per-frame value depends on the parameters (pressure,
potential energy): the explicit term ⟨∂O/∂θ⟩ of the DiffTRe estimator.

The reference for the exactness tests is an independent NumPy implementation of the
force-shifted Lennard-Jones energy and virial pressure: the Reweighting gradient must equal
a central finite difference of reweighted averages of the same frames (exact for the
estimator), and at θ₀ the closed forms that follow from U and the virial being linear in ε.
The statistical test (slow) compares with finite differences of independent NVT runs with
common random numbers.
"""

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, EPS, SIGMA, AllPairs

from observables import BOLTZMANN, Quantity, Trajectory
from spectrinv.backends import (
    AbstractBackend,
    AbstractRecorder,
    Dipole,
    HeatFlux,
    JaxMDBackend,
    Langevin,
    Polarizability,
    Positions,
    Stress,
    Velocities,
)
from spectrinv.gradients import Objective, Reweighting
from spectrinv.gradients._reweighting_frames import estimate_jit, potential_recorders
from spectrinv.gradients._reweighting_grad_error import reweighted_gradient_error
from spectrinv.potentials import ForceShifted, LennardJones, System

T_K = 120.0  # ≈ ε/k_B of argon: T* ≈ 1
BETA = 1.0 / (BOLTZMANN * T_K)
CUTOFF = 0.7  # nm, ≈ 2.06 σ, below half the box edge (0.734 nm)


class EnergyInDipole(AbstractRecorder):
    """Test recorder: the potential energy (kJ/mol) carried as the x component of the
    `dipole` field (a `Trajectory` has no energy field); it depends on the potential."""

    field: ClassVar[str] = "dipole"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame, potential):
        zero = jnp.zeros((), frame.potential_energy.dtype)
        return jnp.stack([frame.potential_energy, zero, zero])


def observe(traj):
    """⟨P⟩ (trace of the pressure tensor / 3, kJ mol⁻¹ nm⁻³) and ⟨U⟩ (kJ/mol): frame means."""
    return dict(
        P=jnp.mean(jnp.trace(traj.stress, axis1=-2, axis2=-1)) / 3.0,
        U=jnp.mean(traj.dipole[:, 0]),
    )


class Pick(eqx.Module):
    """Linear loss c_P ⟨P⟩ + c_U ⟨U⟩ (array weights: one compilation for every choice)."""

    c: Any

    def __call__(self, avg):
        return self.c[0] * avg["P"] + self.c[1] * avg["U"]


RECORD = (Positions(), Velocities(), Stress(), EnergyInDipole())
P_ONLY = Pick(jnp.array([1.0, 0.0]))
U_ONLY = Pick(jnp.array([0.0, 1.0]))


def liquid(n=4, density=0.8):
    """n³ argon atoms (64 for n=4) on a simple-cubic lattice at reduced density ρσ³, a box
    no fcc or bcc crystal fits, and a force-shifted LJ potential (r_c = 0.7 nm)."""
    sigma = SIGMA.m_as("nm")
    edge = (n**3 / density) ** (1 / 3) * sigma
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (g + 0.5) * edge / n
    system = System(
        box=jnp.full(3, edge),
        species=jnp.zeros(len(pos), jnp.int32),
        masses=jnp.full(len(pos), ARGON),
    )
    lj = LennardJones(SIGMA, EPS, Quantity(CUTOFF, "nm"), truncation=ForceShifted())
    return pos, system, lj


def synthetic_frames(system, lattice, n_frames=24, seed=0):
    """Lattice positions with Gaussian displacements (0.02 nm) and Maxwell–Boltzmann
    velocities at T_K: frames from no MD at all (the estimator identities hold for any)."""
    rng = np.random.default_rng(seed)
    pos = lattice + rng.normal(0.0, 0.02, (n_frames,) + lattice.shape)
    vel = rng.normal(0.0, np.sqrt(BOLTZMANN * T_K / ARGON), pos.shape)
    return Trajectory.from_internal(
        jnp.asarray(pos),
        box=system.box,
        timestep=0.1,
        velocities=jnp.asarray(vel),
        masses=system.masses,
    )


# ------------------------------------------------------- independent NumPy reference
def pair_terms(pos, edge, sigma, eps):
    """Force-shifted LJ energy U (kJ/mol) and virial W = −Σ_pairs r u'(r) (kJ/mol) of one
    frame, minimum image in a cubic box, written out independently of the package."""
    d = pos[:, None, :] - pos[None, :, :]
    d -= edge * np.round(d / edge)
    iu = np.triu_indices(len(pos), 1)
    r = np.sqrt(np.sum(d * d, axis=-1))[iu]

    def phi(x):
        return 4 * eps * ((sigma / x) ** 12 - (sigma / x) ** 6)

    def dphi(x):
        return 4 * eps * (-12 * sigma**12 / x**13 + 6 * sigma**6 / x**7)

    rc = CUTOFF
    inside = r < rc
    u = np.where(inside, phi(r) - phi(rc) - (r - rc) * dphi(rc), 0.0)
    du = np.where(inside, dphi(r) - dphi(rc), 0.0)
    return u.sum(), -(r * du).sum()


def frame_values(traj, edge, sigma, eps):
    """Per-frame U, P = (Σ m v² + W)/(3V) and the kinetic part P_kin, as NumPy arrays."""
    pos, vel = np.asarray(traj.positions), np.asarray(traj.velocities)
    volume = edge**3
    kin = np.einsum("i,fia,fia->f", np.full(pos.shape[1], ARGON), vel, vel) / (3 * volume)
    uw = np.array([pair_terms(p, edge, sigma, eps) for p in pos])
    return uw[:, 0], kin + uw[:, 1] / (3 * volume), kin


def reweighted(traj, edge, sigma0, eps0, sigma, eps):
    """Independent ⟨P⟩_θ and ⟨U⟩_θ from frames sampled at θ₀ = (σ₀, ε₀)."""
    u0, _, _ = frame_values(traj, edge, sigma0, eps0)
    u, p, _ = frame_values(traj, edge, sigma, eps)
    log_w = -BETA * (u - u0)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    return dict(P=w @ p, U=w @ u)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def frames():
    lattice, system, lj = liquid()
    traj = synthetic_frames(system, lattice)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    rw = Reweighting(n_frames=2, stride=1, batch_size=8)
    objective = Objective(observe, P_ONLY, record=RECORD)
    cache = rw.reference(
        objective, params, static, system=system, trajectory=traj, temperature=Quantity(T_K, "K")
    )
    edge = float(system.box[0])
    return dict(system=system, params=params, static=static, rw=rw, cache=cache, edge=edge)


def gradients(f, at):
    """{(observable, parameter): d⟨O⟩/dθ} from `Reweighting.estimate` at parameters `at`."""
    out = {}
    for name, loss in (("P", P_ONLY), ("U", U_ONLY)):
        res = f["rw"].estimate(
            Objective(observe, loss, record=RECORD),
            at,
            f["static"],
            system=f["system"],
            cache=f["cache"],
        )
        out[name, "sigma"], out[name, "epsilon"] = float(res.grad.sigma), float(res.grad.epsilon)
        out[name, "value"] = float(res.observed[name])
    return out


# ------------------------------------------------------------------------------ tests
def test_recorders_declare_whether_they_use_the_potential():
    assert Stress.uses_potential and HeatFlux.uses_potential
    assert not any(r.uses_potential for r in (Positions, Velocities, Dipole, Polarizability))


@pytest.mark.parametrize("shift", [(1.0, 1.0), (0.996, 1.03)], ids=["theta0", "theta1"])
def test_gradient_equals_finite_difference_of_reweighted_averages(frames, shift):
    """Both estimator terms, for P and U and both parameters, at θ₀ (uniform weights) and at
    θ₁ ≠ θ₀ (non-uniform weights): d/dθ of the independent reweighted average, by central
    differences in float64 with one Richardson step (h = 1e-5, 5e-6 relative; truncation
    O(h⁴), rounding ≲ 1e-9 relative)."""
    s0, e0 = float(frames["params"].sigma), float(frames["params"].epsilon)
    s1, e1 = s0 * shift[0], e0 * shift[1]
    p0 = frames["params"]
    at = eqx.tree_at(
        lambda p: (p.sigma, p.epsilon), p0, (p0.sigma * shift[0], p0.epsilon * shift[1])
    )
    got = gradients(frames, at)
    traj, edge = frames["cache"].trajectory, frames["edge"]
    avg = reweighted(traj, edge, s0, e0, s1, e1)

    def central(name, par, h):
        ds, de = (s1 * h, 0.0) if par == "sigma" else (0.0, e1 * h)
        plus = reweighted(traj, edge, s0, e0, s1 + ds, e1 + de)[name]
        minus = reweighted(traj, edge, s0, e0, s1 - ds, e1 - de)[name]
        return (plus - minus) / (2 * (ds + de))

    for name in ("P", "U"):
        np.testing.assert_allclose(got[name, "value"], avg[name], rtol=1e-10)
        for par in ("sigma", "epsilon"):
            fd = (4 * central(name, par, 5e-6) - central(name, par, 1e-5)) / 3  # Richardson
            np.testing.assert_allclose(got[name, par], fd, rtol=1e-7, err_msg=f"{name} {par}")


def test_epsilon_gradient_closed_form_and_old_estimator_is_wrong(frames):
    """At θ₀, U and the virial are linear in ε, so ∂U/∂ε = U/ε and ∂P/∂ε = (P − P_kin)/ε:
    d⟨U⟩/dε = (⟨U⟩ − β var U)/ε and d⟨P⟩/dε = (⟨P − P_kin⟩ − β cov(P, U))/ε. The
    covariance term alone (the estimator without ⟨∂O/∂θ⟩) is far from it."""
    s0, e0 = float(frames["params"].sigma), float(frames["params"].epsilon)
    u, p, kin = frame_values(frames["cache"].trajectory, frames["edge"], s0, e0)
    cov_pu = np.mean((p - p.mean()) * (u - u.mean()))
    dU = (u.mean() - BETA * u.var()) / e0
    dP = ((p - kin).mean() - BETA * cov_pu) / e0
    got = gradients(frames, frames["params"])
    np.testing.assert_allclose(got["U", "epsilon"], dU, rtol=1e-9)
    np.testing.assert_allclose(got["P", "epsilon"], dP, rtol=1e-9)
    covariance_only = -BETA * cov_pu / e0
    assert abs(covariance_only - dP) > 0.2 * abs(dP)


def test_gradient_error_terms_carry_the_explicit_term(frames):
    """The standard error of a Reweighting gradient comes from per-frame terms h_i whose
    weighted mean is the gradient (`spectrinv.gradients._reweighting_grad_error`). With a
    θ-dependent signal (the virial) h_i includes ∂(c·o_i)/∂θ, and Σ w_i h_i still equals
    the autodiff gradient at θ₁ ≠ θ₀, for both parameters."""
    p0, static, cache = frames["params"], frames["static"], frames["cache"]
    system = frames["system"]
    at = eqx.tree_at(lambda p: (p.sigma, p.epsilon), p0, (p0.sigma * 0.996, p0.epsilon * 1.03))
    recorders = potential_recorders(RECORD)
    args = (cache.trajectory, cache.energies, cache.neighbors, system, BETA, 8, 10)
    _, grad, _, _, per_frame, w = estimate_jit(
        at, static, observe, P_ONLY, recorders, cache.observed, *args
    )
    stderr, h = reweighted_gradient_error(
        at, static, system, observe, P_ONLY, recorders, per_frame, w, cache.trajectory,
        cache.neighbors, BETA, 8, 10,
    )  # fmt: skip
    for name in ("sigma", "epsilon"):
        g = float(getattr(grad, name))
        np.testing.assert_allclose(float(jnp.dot(w, getattr(h, name))), g, rtol=1e-10)
        assert 0 < float(getattr(stderr, name)) < abs(g)


def test_reference_recomputes_signals_of_a_file_trajectory(frames):
    """Frames without stress (e.g. read from a file) get it from the potential at θ₀."""
    traj = frames["cache"].trajectory
    u, p, _ = frame_values(traj, frames["edge"], float(SIGMA.m_as("nm")), float(EPS.m_as("kJ/mol")))
    np.testing.assert_allclose(
        np.trace(np.asarray(traj.stress), axis1=1, axis2=2) / 3, p, rtol=1e-10
    )
    np.testing.assert_allclose(np.asarray(traj.dipole[:, 0]), u, rtol=1e-10)


def test_parameter_dependent_signal_without_velocities_is_an_error(frames):
    traj = frames["cache"].trajectory
    bare = Trajectory.from_internal(traj.positions, box=traj.box, timestep=0.1)
    with pytest.raises(ValueError, match="needs their velocities; record Velocities"):
        frames["rw"].reference(
            Objective(observe, P_ONLY, record=(Positions(), Stress())),
            frames["params"],
            frames["static"],
            system=frames["system"],
            trajectory=bare,
            temperature=Quantity(T_K, "K"),
        )


def test_untraceable_observable_of_a_parameter_dependent_signal_is_an_error(frames):
    def concrete(traj):  # needs concrete values: float() of a tracer fails
        return jnp.asarray(float(jnp.mean(traj.stress)))

    objective = Objective(concrete, lambda x: x, record=RECORD)
    with pytest.raises(ValueError, match="must be traceable"):
        frames["rw"].estimate(
            objective,
            frames["params"],
            frames["static"],
            system=frames["system"],
            cache=frames["cache"],
        )


# ------------------------------------------------------------------------ MD sampling
def langevin():
    return JaxMDBackend(Langevin(Quantity(4, "fs"), Quantity(T_K, "K"), Quantity(5, "1/ps")))


class Spy(AbstractBackend):
    """Test wrapper: runs the wrapped backend and keeps what every `sample` call was asked
    to record and returned."""

    inner: Any
    calls: list = eqx.field(static=True)

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    @property
    def integrator(self):
        return self.inner.integrator

    def init(self, *args, **kwargs):
        return self.inner.init(*args, **kwargs)

    def sample(self, potential, system, state, key, n_steps, *, stride=1, record=None):
        traj, state = self.inner.sample(
            potential, system, state, key, n_steps, stride=stride, record=record
        )
        self.calls.append((record, traj))
        return traj, state


def replica_start(system, lattice, n_replicas, seed=0):
    rng = np.random.default_rng(seed)
    return Quantity(lattice + rng.normal(0.0, 0.01, (n_replicas,) + lattice.shape), "nm")


def closed_form_epsilon(traj, edge, sigma, eps):
    """d⟨P⟩/dε and d⟨U⟩/dε at θ₀ from frames (closed forms above), NumPy."""
    u, p, kin = frame_values(traj, edge, sigma, eps)
    dP = ((p - kin).mean() - BETA * np.mean((p - p.mean()) * (u - u.mean()))) / eps
    return dP, (u.mean() - BETA * u.var()) / eps


def test_md_reference_recomputes_the_engine_signals_and_records_velocities():
    """Through `Reweighting.__call__` on two JaxMD Langevin replicas: velocities are recorded
    although the objective does not ask for them, the θ₀ stress and energy recomputed from
    the frames equal the engine's (bit-level agreement up to summation order), and the ε
    gradient equals the closed form on the merged frames."""
    lattice, system, lj = liquid()
    pot = AllPairs(lj)  # no neighbour lists: less to compile
    backend = Spy(langevin())
    state = backend.init(
        pot,
        system,
        replica_start(system, lattice, 2),
        temperature=Quantity(T_K, "K"),
        key=jax.random.key(0),
    )
    params, static = eqx.partition(pot, eqx.is_inexact_array)
    record = (Positions(), Stress(), EnergyInDipole())
    rw = Reweighting(n_frames=6, stride=5, batch_size=12)
    res = rw(
        Objective(observe, P_ONLY, record=record),
        params,
        static,
        backend=backend,
        system=system,
        state=state,
        key=jax.random.key(1),
    )
    asked, engine = backend.calls[-1]
    assert "velocities" in [r.field for r in asked]
    ref = res.cache.trajectory
    assert ref.n_frames == 12
    np.testing.assert_allclose(
        ref.stress, np.asarray(engine.stress).reshape(ref.stress.shape), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        ref.dipole, np.asarray(engine.dipole).reshape(ref.dipole.shape), rtol=1e-9, atol=1e-9
    )
    dP, _ = closed_form_epsilon(ref, float(system.box[0]), float(lj.sigma), float(lj.epsilon))
    np.testing.assert_allclose(float(res.grad.inner.epsilon), dP, rtol=1e-9)


@pytest.mark.slow
def test_epsilon_gradient_agrees_with_finite_differences_of_nvt_runs():
    """d⟨P⟩/dε and d⟨U⟩/dε from Reweighting on 16 Langevin replicas (64 atoms, 12 ps
    equilibration, 12 ps sampled, 300 frames each) against central differences of
    independent NVT runs at ε(1 ± h) with common random numbers (same start, same keys).
    Standard errors: jackknife over replicas for Reweighting (through the closed form, which
    equals it exactly), replica spread for the differences; |z| < 3 and the error bar of the
    difference must exclude the covariance-only (old) estimate. Measured: see the report."""
    n_rep, n_eq, n_run, stride, h = 16, 3000, 3000, 10, 0.05
    lattice, system, lj = liquid()
    backend = langevin()
    state = backend.init(
        lj,
        system,
        replica_start(system, lattice, n_rep),
        temperature=Quantity(T_K, "K"),
        key=jax.random.key(0),
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 2000, stride=2000)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    key = jax.random.key(2)
    rw = Reweighting(n_frames=n_run // stride, stride=stride, equilibration_steps=n_eq)
    grads = {}
    for name, loss in (("P", P_ONLY), ("U", U_ONLY)):
        res = rw(
            Objective(observe, loss, record=RECORD),
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=key,
        )
        grads[name] = float(res.grad.epsilon)
    ref = res.cache.trajectory
    edge, sigma, eps = float(system.box[0]), float(lj.sigma), float(lj.epsilon)
    closed = closed_form_epsilon(ref, edge, sigma, eps)
    np.testing.assert_allclose([grads["P"], grads["U"]], closed, rtol=1e-9)
    per = ref.n_frames // n_rep
    jack = []
    for r in range(n_rep):
        keep = np.concatenate(
            [np.arange(n_rep * per)[: r * per], np.arange(n_rep * per)[(r + 1) * per :]]
        )
        sub = Trajectory.from_internal(
            ref.positions[keep], box=ref.box, timestep=ref.timestep, velocities=ref.velocities[keep]
        )
        jack.append(closed_form_epsilon(sub, edge, sigma, eps))
    jack = np.array(jack)
    se_rw = np.sqrt((n_rep - 1) / n_rep * np.sum((jack - jack.mean(0)) ** 2, axis=0))

    key_eq, key_run = jax.random.split(key)  # the keys Reweighting.__call__ uses
    averages = []
    for factor in (1 + h, 1 - h):
        pot = eqx.tree_at(lambda p: p.epsilon, lj, lj.epsilon * factor)
        _, st = backend.sample(pot, system, state, key_eq, n_eq, stride=n_eq)
        traj, _ = backend.sample(pot, system, st, key_run, n_run, stride=stride, record=RECORD)
        p = np.trace(np.asarray(traj.stress), axis1=-2, axis2=-1).mean(-1) / 3
        averages.append(np.stack([p, np.asarray(traj.dipole[..., 0]).mean(-1)]))
    fd = (averages[0] - averages[1]) / (2 * h * eps)  # [observable, replica]
    fd_mean, fd_se = fd.mean(1), fd.std(1, ddof=1) / np.sqrt(n_rep)
    z = (np.array([grads["P"], grads["U"]]) - fd_mean) / np.hypot(se_rw, fd_se)
    u, p, _ = frame_values(ref, edge, sigma, eps)
    covariance_only = -BETA * np.mean((p - p.mean()) * (u - u.mean())) / eps
    print(f"RW {grads} ± {se_rw}; FD {fd_mean} ± {fd_se}; z {z}; cov-only {covariance_only}")
    assert np.all(np.abs(z) < 3), z
    assert abs(covariance_only - fd_mean[0]) > 3 * np.hypot(fd_se[0], se_rw[0])


@pytest.mark.slow
def test_sigma_gradient_agrees_with_finite_differences_of_nvt_runs():
    """As above for d⟨P⟩/dσ and d⟨U⟩/dσ (no closed form: the Reweighting standard error is a
    jackknife over replicas of the estimator itself), differences at σ(1 ± 2 %)."""
    n_rep, n_eq, n_run, stride, h = 16, 3000, 3000, 10, 0.02
    lattice, system, lj = liquid()
    backend = langevin()
    state = backend.init(
        lj,
        system,
        replica_start(system, lattice, n_rep),
        temperature=Quantity(T_K, "K"),
        key=jax.random.key(0),
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 2000, stride=2000)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    key = jax.random.key(2)
    rw = Reweighting(n_frames=n_run // stride, stride=stride, equilibration_steps=n_eq)
    objectives = [Objective(observe, loss, record=RECORD) for loss in (P_ONLY, U_ONLY)]
    res = rw(objectives[0], params, static, backend=backend, system=system, state=state, key=key)
    grads = np.array(
        [
            float(rw.estimate(o, params, static, system=system, cache=res.cache).grad.sigma)
            for o in objectives
        ]
    )
    ref = res.cache.trajectory
    per = ref.n_frames // n_rep
    jack = []
    for r in range(n_rep):
        keep = np.concatenate([np.arange(r * per), np.arange((r + 1) * per, n_rep * per)])
        sub = Trajectory.from_internal(
            ref.positions[keep], box=ref.box, timestep=ref.timestep, velocities=ref.velocities[keep]
        )
        cache = rw.reference(
            objectives[0],
            params,
            static,
            system=system,
            trajectory=sub,
            temperature=Quantity(T_K, "K"),
        )
        jack.append(
            [
                float(rw.estimate(o, params, static, system=system, cache=cache).grad.sigma)
                for o in objectives
            ]
        )
    jack = np.array(jack)
    se_rw = np.sqrt((n_rep - 1) / n_rep * np.sum((jack - jack.mean(0)) ** 2, axis=0))
    key_eq, key_run = jax.random.split(key)
    averages = []
    for factor in (1 + h, 1 - h):
        pot = eqx.tree_at(lambda p: p.sigma, lj, lj.sigma * factor)
        _, st = backend.sample(pot, system, state, key_eq, n_eq, stride=n_eq)
        traj, _ = backend.sample(pot, system, st, key_run, n_run, stride=stride, record=RECORD)
        p = np.trace(np.asarray(traj.stress), axis1=-2, axis2=-1).mean(-1) / 3
        averages.append(np.stack([p, np.asarray(traj.dipole[..., 0]).mean(-1)]))
    fd = (averages[0] - averages[1]) / (2 * h * float(lj.sigma))
    fd_mean, fd_se = fd.mean(1), fd.std(1, ddof=1) / np.sqrt(n_rep)
    z = (grads - fd_mean) / np.hypot(se_rw, fd_se)
    print(f"RW {grads} ± {se_rw}; FD {fd_mean} ± {fd_se}; z {z}")
    assert np.all(np.abs(z) < 3), z
    assert se_rw[0] < 0.2 * abs(grads[0])  # the pressure comparison is not vacuous
