"""Dynamical gradient strategies against central finite differences of the same estimator
with common random numbers (CRN).

**The estimator.** For a strategy S, an objective, a start state s and a PRNG key k,

    L_S(θ; s, k) = S(objective, θ, ..., state=s, key=k).loss

is a deterministic function of θ: everything random in it (the Langevin noise of `BPTT`,
the NVT chain that draws `Truncated`'s start states) is fixed by k. Its central difference
FD = [L_S(θ₀ + h) − L_S(θ₀ − h)] / 2h uses the *same* s and k at θ₀ ± h, and is compared
with S's gradient g at θ₀ (same s, k) through

    z = (g − FD) / √(se_g² + se_FD²).

- `BPTT` (Langevin, the noise fixed by k) and `Adjoint` (NVE): L_S is one deterministic
  run, so FD → g as h → 0 and the check is tight (relative 1e-4) on top of |z| < 3;
  se_g is the `grad_stderr` diagnostic (spread over replicas) and se_FD = |FD_h − FD_h/2|.
- `Truncated`: L_S(θ; s, k) re-samples the start states from the NVT chain started at s
  with key k *at θ*, so the start states move with θ and FD contains the response of
  the start-state ensemble, obtained by differentiating through the common-noise chain.
  `Truncated` estimates that response differently, by its initial-ensemble
  (likelihood-ratio) term −β cov(s_i, ∂U(x_i)/∂θ). The two are different estimators of
  the same derivative dE[L]/dθ over the NVT-started segment ensemble: they agree in
  expectation, not key by key. So g and FD are averaged over K independent keys and
  se_g combines the per-key `grad_stderr` diagnostics, se_FD is the spread of FD over the
  keys. (Holding the start states fixed at θ ± h would make FD the pathwise part alone —
  checked exactly in test_gradients_truncated.py — and leave the ensemble term
  unchecked.) Two conditions make the comparison meaningful: the chain starts at s
  equilibrated at θ₀ and draws a start state every `decorrelation_steps` ≥ 2/γ
  (γ the Langevin friction), so the start states relax to the θ ± h ensemble; and the
  CRN loss is smooth in θ over h (short NVE segments, a friction-damped chain): FD at h
  and at h/2 must agree.

Small cases run by default (|z| < 3 asserted); larger ones are marked `slow`. Each test
prints one row of the validation table (run with `-s`):
`pytest tests/test_gradient_fd_crn.py -m slow -s -p no:cacheprovider`.
"""

from operator import attrgetter

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import FCC_A, AllPairs, argon, fcc

from observables import (
    RDF,
    GaussianKernel,
    IRSpectrum,
    Quantity,
    SelfDiffusion,
    ShearViscosity,
    Trajectory,
    correlate,
)
from spectrinv.backends import (
    Dipole,
    JaxMDBackend,
    Langevin,
    Positions,
    Stress,
    Velocities,
)
from spectrinv.gradients import BPTT, Adjoint, Objective, Reweighting, Truncated
from spectrinv.potentials import AbstractPotential, System

T_LJ = 120.0  # K; T* ≈ 1.0 at ρ* ≈ 0.84: liquid argon


# ---------------------------------------------------------------------------- machinery
def _shift(params, name, dx):
    get = attrgetter(name)
    return eqx.tree_at(get, params, get(params) + dx)


def crn_check(label, strategy, objective, params, static, name, rel_h, keys, size, **kw):
    """g, FD (h and h/2) and z over `keys` for the scalar parameter `name`; prints a row."""
    get = attrgetter(name)
    h = rel_h * abs(float(get(params)))
    g, se, fd, fd2 = [], [], [], []
    for i, key in enumerate(keys):
        res = strategy(objective, params, static, key=key, **kw)
        g.append(float(get(res.grad)))
        if "grad_stderr" in res.diagnostics:
            se.append(float(get(res.diagnostics["grad_stderr"])))

        def loss(dx, key=key):
            return float(strategy(objective, _shift(params, name, dx), static, key=key, **kw).loss)

        fd.append((loss(h) - loss(-h)) / (2 * h))
        if i == 0:  # smoothness of the CRN loss over h
            fd2.append((loss(h / 2) - loss(-h / 2)) / h)
    g, se, fd = np.array(g), np.array(se), np.array(fd)
    n_keys = len(keys)
    if len(se):
        se_g = np.sqrt(np.sum(se**2)) / n_keys
    else:  # no per-call standard error (Reweighting): the spread of g over the keys
        se_g = np.std(g, ddof=1) / np.sqrt(n_keys)
    if n_keys > 1:
        se_fd = np.std(fd, ddof=1) / np.sqrt(n_keys)
    else:
        se_fd = abs(fd[0] - fd2[0])
    z = (g.mean() - fd.mean()) / np.hypot(se_g, se_fd)
    row = dict(
        label=label,
        size=size,
        g=g.mean(),
        fd=fd.mean(),
        se_g=se_g,
        se_fd=se_fd,
        z=z,
        fd_h=fd[0],
        fd_h2=fd2[0],
        g_keys=g,
        fd_keys=fd,
        se_keys=se,
    )
    print(
        f"\n| {label} | {size} | {row['g']:.4g} | {row['fd']:.4g} | {se_g:.2g} | "
        f"{se_fd:.2g} | {z:+.2f} | FD(h)={fd[0]:.5g}, FD(h/2)={fd2[0]:.5g} |"
    )
    return row


# ------------------------------------------------------------------------ LJ liquid
def _lj_langevin(n_cells):
    """4 n³ argon atoms on the fcc lattice (force-shifted LJ, cutoff ≤ half the box) and a
    Langevin backend: 120 K, 4 fs, friction 5/ps."""
    cutoff = 0.55 if n_cells == 2 else 0.85
    pos, system, lj = argon(n=n_cells, cutoff=cutoff)
    backend = JaxMDBackend(
        Langevin(Quantity(4, "fs"), Quantity(T_LJ, "K"), Quantity(5, "1/ps")),
        capacity_multiplier=2.0,
    )
    return pos, system, lj, backend


def lj_liquid(n_cells, all_pairs=False):
    """`_lj_langevin(n_cells)` equilibrated 400 steps from the fcc lattice; with
    `all_pairs` the potential is evaluated over all pairs (no neighbour lists: less to
    compile; the parameters are then `inner.sigma`, `inner.epsilon`)."""
    pos, system, lj, backend = _lj_langevin(n_cells)
    if all_pairs:
        lj = AllPairs(lj)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(T_LJ, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 400)
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    return dict(system=system, lj=lj, backend=backend, state=state, params=params, static=static)


@pytest.fixture(scope="module")
def lj32():
    return lj_liquid(2)


def _diffusion_objective(max_lag):
    d_target = 3e-3  # nm²/ps

    def observe(t):
        return SelfDiffusion(max_lag=max_lag, n_blocks=2)(t).y_magnitude

    return Objective(observe, lambda d: ((d - d_target) / d_target) ** 2)


def _viscosity_objective(max_lag):
    eta_target = 0.3  # mPa·s

    def observe(t):
        return ShearViscosity(Quantity(T_LJ, "K"), max_lag=max_lag, n_blocks=2)(t).y_magnitude

    return Objective(
        observe, lambda eta: ((eta - eta_target) / eta_target) ** 2, (Positions(), Stress())
    )


def _truncated_lj(lj, objective, n_segments, n_keys, label):
    strategy = Truncated(n_segments, 40, stride=2, decorrelation_steps=100)
    keys = [jax.random.key(100 + i) for i in range(n_keys)]
    size = f"{lj['system'].n_atoms} atoms, {n_segments} segments × 40 steps, {n_keys} keys"
    return crn_check(
        label,
        strategy,
        objective,
        lj["params"],
        lj["static"],
        "epsilon",
        1e-3,
        keys,
        size,
        backend=lj["backend"],
        system=lj["system"],
        state=lj["state"],
    )


def _assert_crn(row, max_z=3.0, smooth=0.05, smooth_abs=None):
    """|z| < max_z; FD(h) and FD(h/2) of the first key agree to `smooth` relative or
    `smooth_abs` absolute (default a tenth of se_g)."""
    assert abs(row["z"]) < max_z, row
    tol = 0.1 * row["se_g"] if smooth_abs is None else smooth_abs
    assert row["fd_h"] == pytest.approx(row["fd_h2"], rel=smooth, abs=tol), row
    assert np.all(np.isfinite(row["se_keys"])) and np.all(row["se_keys"] > 0)
    assert np.isfinite(row["se_g"]) and row["se_g"] > 0


@pytest.mark.slow
def test_truncated_self_diffusion(lj32):
    row = _truncated_lj(lj32, _diffusion_objective(9), 32, 3, "Truncated, D (Green–Kubo)")
    _assert_crn(row)


@pytest.mark.slow
def test_truncated_shear_viscosity(lj32):
    row = _truncated_lj(lj32, _viscosity_objective(9), 32, 3, "Truncated, η (Green–Kubo)")
    _assert_crn(row)


# --------------------------------------------------- static observables: Reweighting
R_MAX = 0.55  # nm, below half the 32-atom box edge (0.572 nm)


def _rdf_objective(n_blocks=None):
    """Smooth RDF (Gaussian kernel, σ = 0.01 nm, 22 bins over 0.22–0.55 nm); loss
    Σ_k (g_k − 1)² Δr (nm): the squared distance from the ideal gas. The kernel keeps the
    common-random-number loss smooth in θ (a histogram jumps when a pair crosses a bin
    edge) and BPTT's gradient non-zero."""
    rdf = RDF(
        Quantity(R_MAX, "nm"),
        bins=22,
        r_min=Quantity(0.22, "nm"),
        kernel=GaussianKernel(Quantity(0.01, "nm")),
        n_blocks=n_blocks,
    )

    def observe(t):
        return rdf(t).g

    return Objective(observe, lambda g: jnp.sum((g - 1.0) ** 2) * 0.015, (Positions(),))


def _pressure_objective():
    """Pressure P = ⟨tr σ⟩/3 over frames from the `Stress` recorder (kJ mol⁻¹ nm⁻³, kinetic
    and virial parts; 1 kJ mol⁻¹ nm⁻³ = 16.6 bar); loss ((P − P_t) / 100 kJ mol⁻¹ nm⁻³)²
    with P_t = −400 kJ mol⁻¹ nm⁻³, far from P (tens of kJ mol⁻¹ nm⁻³ at this state
    point), so that ∂L/∂P hardly varies with the estimate's noise: a target inside that
    noise would make the two derivatives differ by a finite-sample term (as for the IR
    centroid) rather than test the gradient."""

    def observe(t):
        return jnp.mean(jnp.trace(t.stress, axis1=-2, axis2=-1)) / 3.0

    return Objective(observe, lambda p: ((p + 400.0) / 100.0) ** 2, (Positions(), Stress()))


def _reweighting_lj(lj, objective, label, n_frames, n_keys, stride=25, name="epsilon"):
    """`Reweighting` on the LJ liquid: `n_frames` frames `stride` steps apart after 100
    equilibration steps; CRN FD = Reweighting's own loss at ε ± h with the same start and
    key, i.e. independent NVT runs at ε ± h with common random numbers."""
    strategy = Reweighting(n_frames=n_frames, stride=stride, equilibration_steps=100)
    keys = [jax.random.key(300 + i) for i in range(n_keys)]
    size = f"{lj['system'].n_atoms} atoms, {n_frames} frames × {stride} steps, {n_keys} keys"
    return crn_check(
        label,
        strategy,
        objective,
        lj["params"],
        lj["static"],
        name,
        1e-3,
        keys,
        size,
        backend=lj["backend"],
        system=lj["system"],
        state=lj["state"],
    )


def _assert_reweighting(row):
    """Reweighting's CRN loss is a plain NVT run of thousands of steps: the common noise
    keeps nearby-θ chains close, but not to round-off (chaos), so FD(h) and FD(h/2) need
    only agree within the key-to-key spread of FD, which already contains that noise."""
    _assert_crn(row, smooth_abs=row["se_fd"])


@pytest.fixture(scope="module")
def lj32_pairs():
    """The 32-atom liquid over all pairs: no per-frame neighbour lists, so a `Reweighting`
    call after the first compiles nothing and takes ~0.1 s."""
    return lj_liquid(2, all_pairs=True)


@pytest.mark.slow
def test_reweighting_rdf(lj32_pairs):
    row = _reweighting_lj(
        lj32_pairs, _rdf_objective(), "Reweighting, RDF", 40, 8, name="inner.epsilon"
    )
    _assert_reweighting(row)


@pytest.mark.slow  # ~18 s; the default FD check is in tests/test_reweighting_explicit.py
def test_reweighting_pressure(lj32_pairs):
    row = _reweighting_lj(
        lj32_pairs, _pressure_objective(), "Reweighting, pressure", 40, 8, name="inner.epsilon"
    )
    _assert_reweighting(row)


@pytest.fixture(scope="module")
def lj108_pairs():
    return lj_liquid(3, all_pairs=True)


@pytest.mark.slow
def test_reweighting_rdf_large(lj108_pairs):
    row = _reweighting_lj(
        lj108_pairs, _rdf_objective(), "Reweighting, RDF", 100, 16, name="inner.epsilon"
    )
    _assert_reweighting(row)


@pytest.mark.slow
def test_reweighting_pressure_large(lj108_pairs):
    row = _reweighting_lj(
        lj108_pairs, _pressure_objective(), "Reweighting, pressure", 100, 16, name="inner.epsilon"
    )
    _assert_reweighting(row)


# ------------------------------------------------------------ VACF loss: BPTT, Adjoint
def _vacf_objective():
    """MSE between the normalised VACF (12 lags, atom- and origin-averaged) and a fixed
    target exp(−t/τ), τ = 6 frames."""

    def observe(t):
        return correlate(t.velocities, max_lag=11, sum_axes=(2,), mean_axes=(1,))

    def loss(c):
        target = jnp.exp(-jnp.arange(c.shape[0], dtype=c.dtype) / 6.0)
        return jnp.mean((c / c[0] - target) ** 2)

    return Objective(observe, loss)


def _replicas(n_cells, n_replicas, nve):
    """`n_replicas` copies of the fcc argon lattice, each displaced by 0.01 nm Gaussian
    noise, with Maxwell–Boltzmann velocities at 120 K (zero total momentum); on the
    Langevin backend (BPTT: the noise is fixed by the key) or its NVE counterpart."""
    _, system, pair, langevin = _lj_langevin(n_cells)
    # all pairs, no neighbour list: 32 atoms, and a much smaller program to compile
    lj = dict(system=system, lj=AllPairs(pair))
    lj["params"], lj["static"] = eqx.partition(lj["lj"], eqx.is_inexact_array)
    backend = Truncated.segment_backend(langevin) if nve else langevin
    pos, _ = fcc(n_cells, FCC_A)
    noise = 0.01 * np.random.default_rng(3).normal(size=(n_replicas,) + pos.shape)
    state = backend.init(
        lj["lj"],
        lj["system"],
        Quantity(pos[None] + noise, "nm"),
        temperature=Quantity(T_LJ, "K"),
        key=jax.random.key(8),
    )
    return lj, backend, state


def _deterministic_row(strategy, label, n_cells, n_replicas, n_steps, nve, objective=None):
    lj, backend, state = _replicas(n_cells, n_replicas, nve)
    kind = "NVE" if nve else "Langevin"
    size = f"{lj['system'].n_atoms} atoms × {n_replicas} replicas, {n_steps} steps ({kind})"
    return crn_check(
        label,
        strategy(n_steps, stride=2),
        _vacf_objective() if objective is None else objective,
        lj["params"],
        lj["static"],
        "inner.epsilon",
        1e-5,
        [jax.random.key(3)],
        size,
        backend=backend,
        system=lj["system"],
        state=state,
    )


def _assert_deterministic(row):
    assert abs(row["z"]) < 3, row
    assert row["g"] == pytest.approx(row["fd"], rel=1e-4), row


def test_bptt_vacf():
    _assert_deterministic(_deterministic_row(BPTT, "BPTT, VACF MSE", 2, 2, 40, nve=False))


def test_bptt_rdf():
    row = _deterministic_row(BPTT, "BPTT, RDF", 2, 2, 40, nve=False, objective=_rdf_objective())
    _assert_deterministic(row)


def test_adjoint_vacf():
    _assert_deterministic(_deterministic_row(Adjoint, "Adjoint, VACF MSE", 2, 2, 40, nve=True))


# ----------------------------------------------------------- IR band centroid (Truncated)
class MorseDiatomics(AbstractPotential):
    """Independent diatomic molecules (atoms 2m, 2m+1) with a Morse bond
    U = Σ_m D (1 − exp(−a (r_m − r₀)))² (kJ/mol; a in 1/nm, r₀ in nm); no
    intermolecular forces, no cutoff."""

    depth: jax.Array
    a: jax.Array
    r0: float = eqx.field(static=True)

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        r = jnp.linalg.norm(positions[1::2] - positions[0::2], axis=-1)
        return jnp.sum(self.depth * (1 - jnp.exp(-self.a * (r - self.r0))) ** 2)


def _stretch_dipole(slope):
    """M = Σ_m μ' (r_m − r₀) û_m (e·nm): a bond whose dipole vanishes at r₀ and changes
    with the stretch (slope μ' in e), so the spectrum holds the vibrational band (with its
    rotational P/R branches) and no permanent-dipole rotational band."""

    def dipole(positions, system):
        bond = positions[1::2] - positions[0::2]
        r = jnp.linalg.norm(bond, axis=-1, keepdims=True)
        return jnp.sum(slope * (r - 0.113) * bond / r, axis=0)

    return dipole


BAND = (1000.0, 2800.0)  # cm⁻¹: the stretch band (harmonic ν̃₀ ≈ 1810 cm⁻¹)


def _ir_centroid_row(n_molecules, n_segments, n_keys, scale=None, substeps=1, fresh=False):
    """CO-like Morse diatomics (12 + 16 Da, D = 1000 kJ/mol, a = 20 /nm, r₀ = 0.113 nm:
    ν̃₀ = a √(2D/μ) / 2πc ≈ 1810 cm⁻¹) with the stretch dipole of slope 1 e in a 2 nm
    periodic box,
    Langevin 300 K, 1 fs; segments of 200 NVE steps recorded every 2 fs. Loss: the band
    centroid ν̄ = ∫ν̃ I(ν̃) dν̃ / ∫ I(ν̃) dν̃ over 1000–2800 cm⁻¹ of the segment-averaged
    IR spectrum (cm⁻¹); parameter a. With `scale`, the loss is the band's first moment
    ∫ν̃ I(ν̃) dν̃ / `scale` instead (linear in the averaged spectrum)."""
    n = 2 * n_molecules
    system = System(
        box=jnp.full(3, 2.0),
        species=jnp.tile(jnp.asarray([0, 1], jnp.int32), n_molecules),
        masses=jnp.tile(jnp.asarray([12.0, 16.0]), n_molecules),
    )
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 2.0, (n_molecules, 3))
    axis = rng.normal(size=(n_molecules, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    pos = np.stack([centres - 0.0565 * axis, centres + 0.0565 * axis], 1).reshape(n, 3)
    model = MorseDiatomics(jnp.asarray(1000.0), jnp.asarray(20.0), 0.113)
    dt = 1.0 / substeps  # fs
    backend = JaxMDBackend(Langevin(Quantity(dt, "fs"), Quantity(300, "K"), Quantity(10, "1/ps")))
    state = backend.init(
        model, system, Quantity(pos, "nm"), temperature=Quantity(300, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(model, system, state, jax.random.key(1), 500 * substeps)
    ir = IRSpectrum(Quantity(300, "K"), max_lag=50, n_blocks=None)

    def observe(t):
        return ir(t).y_magnitude

    x = None

    def loss(spectrum):
        band = ((x >= BAND[0]) & (x <= BAND[1])).astype(spectrum.dtype)
        if scale is not None:  # the first moment alone: linear in the spectrum
            return jnp.sum(band * x * spectrum) / scale
        return jnp.sum(band * x * spectrum) / jnp.sum(band * spectrum)

    record = (Positions(), Velocities(), Dipole(_stretch_dipole(1.0)))
    objective = Objective(observe, loss, record)
    # the frequency grid the observable will produce (static: it depends only on the
    # number of frames, 100, and their spacing, 2 fs): from a synthetic probe trajectory of
    # that length, no MD (one compilation fewer)
    rng = np.random.default_rng(2)
    probe = Trajectory.from_internal(
        jnp.asarray(np.broadcast_to(pos, (100, n, 3))),
        box=system.box,
        timestep=0.002,
        velocities=jnp.asarray(rng.normal(size=(100, n, 3))),
        dipole=jnp.asarray(rng.normal(size=(100, 3))),
        masses=system.masses,
        species=system.species,
    )
    x = ir(probe).x_magnitude
    params, static = eqx.partition(model, eqx.is_inexact_array)
    strategy = Truncated(
        n_segments,
        200 * substeps,
        stride=2 * substeps,
        decorrelation_steps=300 * substeps,
        fresh_velocities=fresh,
    )
    keys = [jax.random.key(200 + i) for i in range(n_keys)]
    size = f"{n_molecules} diatomics, {n_segments} segments × {200 * substeps} steps, {n_keys} keys"
    return crn_check(
        "Truncated, IR band centroid",
        strategy,
        objective,
        params,
        static,
        "a",
        1e-3,
        keys,
        size,
        backend=backend,
        system=system,
        state=state,
    )


def test_truncated_ir_band_centroid():
    _assert_crn(_ir_centroid_row(16, 8, 2))


@pytest.mark.slow
def test_truncated_ir_band_centroid_large():
    _assert_crn(_ir_centroid_row(32, 32, 4))
