"""`Truncated(..., checkpoint=AdjointSegments())`: the discrete adjoint inside each segment
gives BPTT's gradient, and the memory of the program that differentiates a segment does
not grow with the segment length (BPTT's does)."""

from operator import attrgetter

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from _systems import AllPairs, HarmonicTrap, argon

from observables import Quantity, correlate
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Velocities
from spectrinv.gradients import (
    AdjointSegments,
    NoCheckpoint,
    Objective,
    SqrtCheckpoint,
    Truncated,
)
from spectrinv.gradients._adjoint import _loss_and_cotangent
from spectrinv.gradients._adjoint_kernels import backward_interval
from spectrinv.gradients._truncated import _pathwise
from spectrinv.potentials import System

N_SEGMENTS, STRIDE = 3, 2


def _vacf_objective():
    def observe(t):
        return correlate(t.velocities, max_lag=7, sum_axes=(2,), mean_axes=(1,))

    def loss(c):
        target = jnp.exp(-jnp.arange(c.shape[0], dtype=c.dtype) / 4.0)
        return jnp.sum((c / c[0] - target) ** 2)

    return Objective(observe, loss)


def _setup(kind):
    """`lj`: 32 argon atoms (force-shifted LJ over all pairs: a small program to compile),
    Langevin 120 K, 4 fs, equilibrated 200 steps from the fcc lattice. `trap`: 16 atoms
    of 1 Da in a harmonic trap (k = 100 kJ mol⁻¹ nm⁻², ω = 10 ps⁻¹), Langevin 300 K,
    5 fs, friction 20 ps⁻¹ (a program that compiles in seconds)."""
    if kind == "lj":
        pos, system, pair = argon(n=2, cutoff=0.55)
        model, temperature = AllPairs(pair), 120.0
        integrator = Langevin(Quantity(4, "fs"), Quantity(120, "K"), Quantity(5, "1/ps"))
    else:
        system = System(box=None, species=jnp.zeros(16, jnp.int32), masses=jnp.ones(16))
        pos = 0.1 * jax.random.normal(jax.random.key(5), (16, 3))
        model, temperature = HarmonicTrap(jnp.asarray(100.0)), 300.0
        integrator = Langevin(Quantity(5, "fs"), Quantity(300, "K"), Quantity(20, "1/ps"))
    backend = JaxMDBackend(integrator)
    state = backend.init(
        model,
        system,
        Quantity(pos, "nm"),
        temperature=Quantity(temperature, "K"),
        key=jax.random.key(0),
    )
    _, state = backend.sample(model, system, state, jax.random.key(1), 200)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(2))
    objective = _vacf_objective() if kind == "lj" else _trap_objective()
    return dict(model=model, params=params, static=static, kw=kw, objective=objective)


def _trap_objective():
    """⟨x_a²⟩ per Cartesian axis a over frames and atoms; loss Σ_a w_a ⟨x_a²⟩ (cheap to
    differentiate: the loss's VJP is negligible next to the tape of the run)."""
    w = jnp.asarray([1.0, 2.0, 3.0])
    return Objective(lambda t: jnp.mean(t.positions**2, axis=(0, 1)), lambda o: jnp.sum(w * o))


@pytest.fixture(scope="module")
def lj():
    return _setup("lj")


def _check_same_gradient(setup, leaves):
    """Same key, float64: the adjoint (two anchor intervals per segment) and checkpointed
    BPTT give the same loss, gradient, per-segment norms and standard errors."""
    out = {}
    for name, checkpoint in (
        ("bptt", SqrtCheckpoint()),
        ("adjoint", AdjointSegments(anchor_every=12)),
    ):
        strategy = Truncated(
            N_SEGMENTS, 24, stride=STRIDE, decorrelation_steps=40, checkpoint=checkpoint
        )
        out[name] = strategy(setup["objective"], setup["params"], setup["static"], **setup["kw"])
    b, a = out["bptt"], out["adjoint"]
    assert float(a.loss) == pytest.approx(float(b.loss), rel=1e-12)
    for leaf in leaves:
        get = attrgetter(leaf)
        print(f"\n{leaf}: BPTT {float(get(b.grad)):.15g}, adjoint {float(get(a.grad)):.15g}")
        assert float(get(a.grad)) == pytest.approx(float(get(b.grad)), rel=1e-6), leaf
        se_a, se_b = (float(get(r.diagnostics["grad_stderr"])) for r in (a, b))
        assert se_a == pytest.approx(se_b, rel=1e-6), leaf
    assert jnp.allclose(
        a.diagnostics["segment_grad_norms"], b.diagnostics["segment_grad_norms"], rtol=1e-6
    )
    assert 0 <= a.diagnostics["reconstruction_error"] < 1e-10  # nm, float64, 12 steps
    assert "reconstruction_error" not in b.diagnostics


def test_adjoint_segments_give_the_bptt_gradient():
    """Harmonic trap (the default, fast case)."""
    _check_same_gradient(_setup("trap"), ["k"])


@pytest.mark.slow
def test_adjoint_segments_give_the_bptt_gradient_lennard_jones(lj):
    """32 LJ atoms, dL/dσ and dL/dε of a VACF loss."""
    _check_same_gradient(lj, ["inner.sigma", "inner.epsilon"])


def _temp_bytes(lowered):
    return int(lowered.compile().compiled.memory_analysis().temp_size_in_bytes)


def segment_memory(lj, segment_steps):
    """XLA temporary memory (bytes) of the compiled programs that differentiate one batch of
    segments: BPTT without checkpoints (`_pathwise`, all of it in one program) and the
    adjoint's two programs whose size could depend on the length — the reverse pass over
    the segment (`backward_interval`, one anchor interval of `segment_steps`) and the VJP
    of the loss with respect to the recorded signals."""
    objective = lj["objective"]
    params, static = lj["params"], lj["static"]
    strategy = Truncated(N_SEGMENTS, segment_steps, stride=STRIDE, decorrelation_steps=40)
    starts, _ = strategy.start_states(lj["model"], **lj["kw"])
    nve = strategy.segment_backend(lj["kw"]["backend"])
    system = lj["kw"]["system"]
    n_frames = segment_steps // STRIDE
    args = (objective, params, static, nve, system, starts, jax.random.key(3))
    bptt = _temp_bytes(_pathwise.lower(*args, segment_steps, STRIDE, NoCheckpoint().blocks(1, 1)))
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (N_SEGMENTS,) + x.shape), params)
    zeros = jnp.zeros_like(starts.positions)
    signals = {f: jnp.zeros((n_frames,) + zeros.shape) for f in ("positions", "velocities")}
    record = (Positions(), Velocities())
    backward = _temp_bytes(
        backward_interval.lower(
            stacked,
            static,
            nve,
            system,
            record,
            starts.positions,
            starts.velocities,
            starts.forces,
            None,
            starts.positions,
            zeros,
            zeros,
            jax.tree.map(jnp.zeros_like, stacked),
            signals,
            STRIDE,
            n_frames,
        )
    )
    loss_vjp = _temp_bytes(_loss_and_cotangent.lower(objective, nve, system, signals, STRIDE, True))
    return dict(bptt=bptt, backward=backward, loss_vjp=loss_vjp)


def _check_memory(setup, length):
    short, long = segment_memory(setup, length), segment_memory(setup, 4 * length)
    print(f"\nL = {length}: {short}\nL = {4 * length}: {long}")
    assert long["bptt"] > 3.0 * short["bptt"]
    assert long["backward"] <= 1.05 * short["backward"] + 4096
    assert long["loss_vjp"] < 0.2 * long["bptt"]


def test_adjoint_segment_memory_is_flat_in_the_segment_length():
    """Harmonic trap, 3 segments of L = 16 and 4L = 64 steps: BPTT's temporary memory grows
    ~4× (it stores every step), the adjoint's reverse pass stays the same size (it holds one
    step's adjoint state); the loss's VJP, common to both, grows with the frames but stays
    far below BPTT's tape."""
    _check_memory(_setup("trap"), 16)


@pytest.mark.slow
def test_adjoint_segment_memory_lennard_jones(lj):
    """As above for 32 LJ atoms, L = 16 and 64 steps."""
    _check_memory(lj, 16)


def test_adjoint_segments_bad_input():
    with pytest.raises(ValueError, match="anchor_every"):
        AdjointSegments(anchor_every=0)
    with pytest.raises(ValueError, match="max_reconstruction_error"):
        AdjointSegments(max_reconstruction_error=Quantity(-1.0, "nm"))
    with pytest.raises(TypeError, match="AdjointSegments"):
        Truncated(4, 10, checkpoint="adjoint")
