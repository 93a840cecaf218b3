"""Standard error of `Reweighting` gradients (`grad_stderr`, `grad_snr`).

The gradient is the weighted mean Σ w_i h_i of per-frame terms h_i (module docstring of
`spectrinv.gradients._reweighting_grad_error`). Checked: that identity against the autodiff
gradient (with the explicit term: test_reweighting_explicit.py), the uniform-weight limit,
and the calibration of the reported error over independent references of exact canonical
samples of a harmonic trap (no MD: the frames are drawn from the Boltzmann distribution
directly, so they are independent and the exact derivative is known).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import HarmonicTrap

from observables import BOLTZMANN, Quantity, Trajectory
from spectrinv.backends import JaxMDBackend, Langevin
from spectrinv.gradients import Objective
from spectrinv.gradients._reweighting import Reweighting
from spectrinv.gradients._reweighting_frames import estimate_jit
from spectrinv.gradients._reweighting_grad_error import reweighted_gradient_error
from spectrinv.potentials import System

N_ATOMS, T_K, K0 = 8, 300.0, 100.0  # k in kJ mol⁻¹ nm⁻²
KT = BOLTZMANN * T_K
TARGET = 0.1  # nm², away from ⟨r²⟩ = 3kT/k ≈ 0.075 so that the loss has a slope


def mean_r2(traj):
    """⟨|r|²⟩ over atoms and frames (nm²)."""
    return jnp.mean(jnp.sum(traj.positions**2, axis=-1))


OBJECTIVE = Objective(mean_r2, lambda o: (o - TARGET) ** 2)


def trap_reference(n_frames, seed, n_blocks=10):
    """`(rw, params, static, system, cache)`: `n_frames` exact canonical samples of the
    trap at k = K0 (x ~ N(0, kT/k) per coordinate) as a reference."""
    system = System(box=None, species=jnp.zeros(N_ATOMS, jnp.int32), masses=jnp.ones(N_ATOMS))
    rng = np.random.default_rng(seed)
    pos = rng.normal(0.0, np.sqrt(KT / K0), (n_frames, N_ATOMS, 3))
    traj = Trajectory.from_internal(jnp.asarray(pos), box=None, timestep=0.1)
    params, static = eqx.partition(HarmonicTrap(jnp.asarray(K0)), eqx.is_inexact_array)
    rw = Reweighting(n_frames=n_frames, stride=1, batch_size=64, n_blocks=n_blocks)
    cache = rw.reference(
        OBJECTIVE, params, static, system=system, trajectory=traj, temperature=Quantity(T_K, "K")
    )
    return rw, params, static, system, cache


def test_per_frame_terms_average_to_the_gradient_away_from_the_reference():
    rw, params, static, system, cache = trap_reference(200, seed=0)
    at = eqx.tree_at(lambda p: p.k, params, jnp.asarray(1.04 * K0))  # non-uniform weights
    beta = 1.0 / KT
    loss, grad, _, ess, per_frame, w = estimate_jit(
        at, static, None, OBJECTIVE.loss, (), cache.observed, cache.trajectory,
        cache.energies, cache.neighbors, system, beta, rw.batch_size, rw.n_blocks,
    )  # fmt: skip
    assert 0.3 < float(ess) < 0.99
    stderr, h = reweighted_gradient_error(
        at, static, system, None, OBJECTIVE.loss, (), per_frame, w, cache.trajectory,
        cache.neighbors, beta, rw.batch_size, rw.n_blocks,
    )  # fmt: skip
    assert h.k.shape == (200,)
    np.testing.assert_allclose(float(jnp.dot(w, h.k)), float(grad.k), rtol=1e-10)
    # the public diagnostics are these numbers
    res = rw.estimate(OBJECTIVE, at, static, system=system, cache=cache)
    np.testing.assert_allclose(float(res.diagnostics["grad_stderr"].k), float(stderr.k), rtol=1e-12)
    snr = abs(float(res.grad.k)) / float(stderr.k)
    np.testing.assert_allclose(float(res.diagnostics["grad_snr"].k), snr, rtol=1e-12)


def test_no_gradient_error_without_blocks():
    rw, params, static, system, cache = trap_reference(40, seed=1, n_blocks=None)
    res = rw.estimate(OBJECTIVE, params, static, system=system, cache=cache)
    assert "grad_stderr" not in res.diagnostics and "grad_snr" not in res.diagnostics


def test_gradient_error_is_calibrated_over_independent_references():
    """40 references of 400 independent canonical frames: the gradients' spread matches the
    reported standard errors (ratio of spread to rms error within 0.7–1.4; a sample standard
    deviation over 40 values is ±11 % at 1σ), and the mean gradient hits the exact
    d/dk (⟨r²⟩ − t)² = 2(3kT/k − t)(−3kT/k²) within 4 standard errors of the mean."""
    grads, errors = [], []
    for seed in range(40):
        rw, params, static, system, cache = trap_reference(400, seed=100 + seed)
        res = rw.estimate(OBJECTIVE, params, static, system=system, cache=cache)
        grads.append(float(res.grad.k))
        errors.append(float(res.diagnostics["grad_stderr"].k))
    grads, errors = np.asarray(grads), np.asarray(errors)
    ratio = grads.std(ddof=1) / np.sqrt(np.mean(errors**2))
    assert 0.7 < ratio < 1.4, ratio
    mean_r2_exact = 3 * KT / K0
    exact = 2 * (mean_r2_exact - TARGET) * (-3 * KT / K0**2)
    sem = grads.std(ddof=1) / np.sqrt(len(grads))
    rms = np.sqrt(np.mean(errors**2))
    print(f"spread {grads.std(ddof=1):.4g}, rms error {rms:.4g}, ratio {ratio:.3f}; mean")
    print(f"gradient {grads.mean():.5g} ± {sem:.2g} vs exact {exact:.5g}")
    assert abs(grads.mean() - exact) < 4 * sem, (grads.mean(), exact, sem)
    assert np.mean(errors) < 0.2 * abs(exact)  # the check has power (SNR ≈ 12 per reference)


@pytest.mark.parametrize("n_blocks", [2, 10])
def test_gradient_error_reduces_to_the_block_error_of_uniform_weights(n_blocks):
    """At θ₀ (uniform weights) with a linear loss, h_i = −β (o_i − ō)(e_i − ē), e_i = ∂U_i/∂k
    = ½Σr², and the reported error is the plain block standard error s/√B of the block
    means of h_i (computed here with numpy)."""
    rw, params, static, system, cache = trap_reference(120, seed=7, n_blocks=n_blocks)
    linear = Objective(mean_r2, lambda o: o)
    res = rw.estimate(linear, params, static, system=system, cache=cache)
    pos = np.asarray(cache.trajectory.positions)
    o = np.mean(np.sum(pos**2, axis=-1), axis=-1)
    du = 0.5 * np.sum(pos**2, axis=(1, 2))
    h = -(o - o.mean()) * (du - du.mean()) / KT
    blocks = h.reshape(n_blocks, -1).mean(axis=1)
    expected = blocks.std(ddof=1) / np.sqrt(n_blocks)
    np.testing.assert_allclose(float(res.grad.k), h.mean(), rtol=1e-10)
    np.testing.assert_allclose(float(res.diagnostics["grad_stderr"].k), expected, rtol=1e-10)


def test_a_reference_with_fewer_frames_than_asked_is_sampled_anew():
    """When a fit doubles `n_frames` (`target_snr`), the next call must not reuse the smaller
    reference; a larger reference than asked is reused."""
    system = System(box=None, species=jnp.zeros(N_ATOMS, jnp.int32), masses=jnp.ones(N_ATOMS))
    trap = HarmonicTrap(jnp.asarray(K0))
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(T_K, "K"), Quantity(20, "1/ps")))
    pos = np.random.default_rng(3).normal(0.0, np.sqrt(KT / K0), (N_ATOMS, 3))
    state = backend.init(
        trap, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(0)
    )
    params, static = eqx.partition(trap, eqx.is_inexact_array)
    kw = dict(backend=backend, system=system, state=state, key=jax.random.key(1))
    small = Reweighting(n_frames=20, stride=5)(OBJECTIVE, params, static, **kw)
    grown = Reweighting(n_frames=40, stride=5)(OBJECTIVE, params, static, cache=small.cache, **kw)
    assert grown.diagnostics["resampled"] and grown.diagnostics["n_frames"] == 40
    again = Reweighting(n_frames=20, stride=5)(OBJECTIVE, params, static, cache=grown.cache, **kw)
    assert not again.diagnostics["resampled"] and again.diagnostics["n_frames"] == 40
