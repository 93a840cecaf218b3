"""Every observable runs eagerly, under jit∘vmap (same numbers) and under grad (finite)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import observables as ob
from observables import Quantity as Q

N_FRAMES, N_ATOMS = 64, 6


def make_traj(seed: int) -> ob.Trajectory:
    rng = np.random.default_rng(seed)
    vel = rng.normal(size=(N_FRAMES, N_ATOMS, 3))
    pos = 0.4 + 0.2 * rng.uniform(size=(1, N_ATOMS, 3)) + 0.001 * np.cumsum(vel, axis=0)
    return ob.Trajectory(
        Q(pos, "nm"),
        velocities=Q(vel, "nm/ps"),
        masses=Q([16.0, 1.0, 1.0] * 2, "Da"),
        charges=Q([-0.8, 0.4, 0.4] * 2, "e"),
        species=np.array([0, 1, 1, 0, 1, 1]),
        box=Q([1.5, 1.5, 1.5], "nm"),
        timestep=Q(1, "fs"),
        dipole=Q(rng.normal(size=(N_FRAMES, 3)), "e*nm"),
        polarizability=Q(rng.normal(size=(N_FRAMES, 3, 3)), "angstrom**3"),
        stress=Q(rng.normal(size=(N_FRAMES, 3, 3)), "bar"),
        heat_flux=Q(rng.normal(size=(N_FRAMES, 3)), "kJ/mol*nm/ps"),
        charge_current=Q(rng.normal(size=(N_FRAMES, 3)), "e*nm/ps"),
    )


T = Q(300, "K")
OBSERVABLES = {
    "IRSpectrum": ob.IRSpectrum(T, max_lag=16),
    "IRSpectrum-derivative": ob.IRSpectrum(T, max_lag=16, source=ob.FromDipoleDerivative()),
    "RamanSpectrum": ob.RamanSpectrum(T, max_lag=16),
    "VDOS": ob.VDOS(max_lag=16),
    "SelfDiffusion": ob.SelfDiffusion(n_blocks=2),
    "EinsteinDiffusion": ob.EinsteinDiffusion(n_blocks=2),
    "ShearViscosity": ob.ShearViscosity(T, n_blocks=2),
    "ThermalConductivity": ob.ThermalConductivity(T, n_blocks=2),
    "IonicConductivity": ob.IonicConductivity(T, n_blocks=2),
    "RDF": ob.RDF(Q(0.7, "nm"), bins=20),
    "RDF-smooth": ob.RDF(Q(0.7, "nm"), bins=20, kernel=ob.GaussianKernel(Q(0.02, "nm"))),
}


def leaves(x):
    return [np.asarray(v) for v in jax.tree.leaves(eqx.filter(x, eqx.is_array))]


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_jit_of_vmap_matches_eager(name):
    """jit(vmap(obs)) over a batch of two trajectories equals obs on each, eagerly."""
    obs = OBSERVABLES[name]
    t0, t1 = make_traj(0), make_traj(1)
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), t0, t1)
    out = eqx.filter_jit(eqx.filter_vmap(lambda o, t: o(t), in_axes=(None, 0)))(obs, batch)
    for i, t in enumerate((t0, t1)):
        eager = leaves(obs(t))
        batched = leaves(out)
        assert len(eager) == len(batched) > 0
        for a, b in zip(eager, batched, strict=True):
            assert np.all(np.isfinite(a))
            np.testing.assert_allclose(b[i], a, rtol=1e-9, atol=1e-12 * (1 + np.max(np.abs(a))))


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_grad_is_finite(name):
    obs, traj = OBSERVABLES[name], make_traj(0)

    def loss(t):
        return sum(jnp.sum(v**2) for v in jax.tree.leaves(eqx.filter(obs(t), eqx.is_inexact_array)))

    grads = eqx.filter_grad(loss)(traj)
    flat = leaves(grads)
    assert flat and all(np.all(np.isfinite(g)) for g in flat)
    if name != "RDF":  # the histogram is piecewise constant in positions
        assert any(np.any(g != 0) for g in flat), f"{name}: gradient is identically zero"
