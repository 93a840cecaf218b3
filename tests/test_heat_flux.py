"""HeatFlux recorder: J = d/dt Σ r_i e_i exactly (non-periodic cluster), and it runs in MD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, FCC_A, fcc

from observables import Quantity
from spectrinv.backends import Frame, HeatFlux, JaxMDBackend, Positions, Velocities, VelocityVerlet
from spectrinv.potentials import LennardJones, Morse, System


def cluster(rng, n=12):
    pos = rng.uniform(0, 0.9, size=(n, 3))
    vel = rng.normal(scale=0.3, size=(n, 3))
    system = System(
        box=None,
        species=jnp.asarray(rng.integers(0, 2, n), jnp.int32),
        masses=jnp.asarray(rng.uniform(10, 40, n)),
    )
    return jnp.asarray(pos), jnp.asarray(vel), system


POTENTIALS = {
    "lj": LennardJones(
        Quantity([0.30, 0.34], "nm"), Quantity([0.8, 1.0], "kJ/mol"), Quantity(0.7, "nm")
    ),
    "morse": Morse(
        Quantity(1.0, "kJ/mol"), Quantity(20.0, "1/nm"), Quantity(0.35, "nm"), Quantity(0.7, "nm")
    ),
}


@pytest.mark.parametrize("name", sorted(POTENTIALS))
def test_heat_flux_is_time_derivative_of_energy_moment(rng, name):
    pot = POTENTIALS[name]
    pos, vel, system = cluster(rng)
    m = system.masses

    def moment(x, v):  # Σ r_i e_i with e_i = ½ m v² + ½ Σ_j u(r_ij)
        d = x[:, None, :] - x[None, :, :]
        r = jnp.sqrt(jnp.sum(d * d, axis=-1) + jnp.eye(len(x)))
        u = pot.pair_energy(r, system.species[:, None], system.species[None, :])
        u = jnp.where(jnp.eye(len(x), dtype=bool), 0.0, u)
        e = 0.5 * m * jnp.sum(v * v, axis=-1) + 0.5 * jnp.sum(u, axis=-1)
        return e @ x

    @jax.jit  # one compiled program instead of op-by-op dispatch
    def flux_and_reference(pos, vel):
        force = -jax.grad(pot.energy)(pos, system, None)
        _, exact = jax.jvp(moment, (pos, vel), (vel, force / m[:, None]))
        frame = Frame(pos, vel, force, pot.energy(pos, system, None), None, system)
        return HeatFlux()(frame, pot), exact

    flux, exact = flux_and_reference(pos, vel)
    np.testing.assert_allclose(flux, exact, rtol=1e-10, atol=1e-10)


@pytest.mark.slow  # 6 s; tests/test_heat_flux_many_body.py checks periodic fluxes
def test_heat_flux_recorded_in_periodic_md():
    """108 argon atoms, 20 NVE steps: the recorded flux is finite and equals the all-pairs
    evaluation of the last frame."""
    pos, system, lj = _argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(0)
    )
    record = (Positions(), Velocities(), HeatFlux())
    traj, _ = backend.sample(lj, system, state, jax.random.key(1), 20, stride=10, record=record)
    assert traj.heat_flux.shape == (2, 3) and np.all(np.isfinite(traj.heat_flux))
    # with a neighbour list it equals the all-pairs evaluation of the same frame
    all_pairs = jax.jit(lambda x, v: HeatFlux()(Frame(x, v, None, None, None, system), lj))
    reference = all_pairs(traj.positions[-1], traj.velocities[-1])
    np.testing.assert_allclose(traj.heat_flux[-1], reference, rtol=1e-8, atol=1e-10)


def _argon():
    pos, length = fcc(3, FCC_A)
    system = System(
        box=jnp.full(3, length),
        species=jnp.zeros(len(pos), jnp.int32),
        masses=jnp.full(len(pos), ARGON),
    )
    lj = LennardJones(Quantity(0.3405, "nm"), Quantity(0.996, "kJ/mol"), Quantity(0.8, "nm"))
    return pos, system, lj
