"""Integrators as objects: velocity Verlet (NVE), Langevin BAOAB (NVT), Nosé–Hoover chain (NVT).

Parameters are `pint` quantities converted once at construction into internal units (ps, K,
1/ps) and stored as plain floats. Every integrator works on *batched* arrays: positions and
velocities `[replica, atom, 3]`, so one step advances all replicas together (the backend
adds a replica axis of length 1 for a single system). Reductions (kinetic energy) are over
the last two axes only.

An integrator step receives `refresh(state) -> state`, which recomputes energies, forces
(and, when needed, the neighbour list) at `state.positions`; it never sees the potential.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from observables import BOLTZMANN, to_internal

__all__ = ["AbstractIntegrator", "VelocityVerlet", "Langevin", "NoseHooverChain"]


def _positive(q: Any, kind: str, name: str) -> float:
    value = float(to_internal(q, kind, name))
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {q}")
    return value


def kinetic_energy(velocities: jax.Array, masses: jax.Array) -> jax.Array:
    """½ Σ m v² per replica (kJ/mol), `[replica]` for `[replica, atom, 3]` velocities."""
    return 0.5 * jnp.sum(masses[..., None] * velocities * velocities, axis=(-2, -1))


class AbstractIntegrator(eqx.Module):
    """One MD time step. `timestep` is in ps.

    `init_thermostat(positions, masses, n_dof)` returns extra state carried by the integrator
    (a pytree, `None` if stateless); `step(state, refresh, masses, key)` advances one step.
    `conserved_extra(state, n_dof)` is the integrator's contribution to the conserved
    quantity (0 for NVE; the heat-bath energy for Nosé–Hoover) per replica.
    """

    timestep: float = eqx.field(static=True)

    @property
    def ensemble(self) -> str:
        return "NVE"

    @property
    def temperature(self) -> float | None:
        return None

    def init_thermostat(self, positions, masses, n_dof: int) -> Any:
        return None

    def conserved_extra(self, state, n_dof: int):
        return jnp.zeros(state.positions.shape[:-2], state.positions.dtype)

    @abc.abstractmethod
    def step(self, state, refresh, masses, key): ...


class VelocityVerlet(AbstractIntegrator):
    """Velocity Verlet (NVE), time reversible and symplectic.

    v ← v + (Δt/2) F/m;  r ← r + Δt v;  F ← F(r);  v ← v + (Δt/2) F/m.
    """

    def __init__(self, timestep: Any):
        self.timestep = _positive(timestep, "time", "timestep")

    def step(self, state, refresh, masses, key):
        dt = self.timestep
        inv_m = (1.0 / masses)[..., None].astype(state.positions.dtype)
        v = state.velocities + (0.5 * dt) * state.forces * inv_m
        state = refresh(
            eqx.tree_at(lambda s: (s.positions, s.velocities), state, (state.positions + dt * v, v))
        )
        v = state.velocities + (0.5 * dt) * state.forces * inv_m
        return eqx.tree_at(lambda s: s.velocities, state, v)


class Langevin(AbstractIntegrator):
    """Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews 2013), NVT.

    B: v += (Δt/2)F/m; A: r += (Δt/2)v; O: v ← c₁v + √((1−c₁²) k_BT/m) ξ with c₁ = e^{−γΔt};
    A; F ← F(r); B. Configurational sampling is accurate to O(Δt²) with a small constant.
    Momentum is not conserved, so all 3N degrees of freedom are thermalised.

    **Arguments:** `timestep` (time), `temperature` (K), `friction` γ (1/time).

    ??? cite
        B. Leimkuhler, C. Matthews, Appl. Math. Res. Express 2013, 34 (2013).
    """

    kT: float = eqx.field(static=True)
    friction: float = eqx.field(static=True)

    def __init__(self, timestep: Any, temperature: Any, friction: Any):
        self.timestep = _positive(timestep, "time", "timestep")
        self.kT = BOLTZMANN * _positive(temperature, "temperature", "temperature")
        self.friction = _positive(friction, "frequency", "friction")

    @property
    def ensemble(self) -> str:
        return "NVT"

    @property
    def temperature(self) -> float:
        return self.kT / BOLTZMANN

    def step(self, state, refresh, masses, key):
        dt = self.timestep
        dtype = state.positions.dtype
        inv_m = (1.0 / masses)[..., None].astype(dtype)
        c1 = jnp.exp(jnp.asarray(-self.friction * dt, dtype))
        sigma = jnp.sqrt((1.0 - c1 * c1) * self.kT * inv_m)
        v = state.velocities + (0.5 * dt) * state.forces * inv_m
        r = state.positions + (0.5 * dt) * v
        v = c1 * v + sigma * jax.random.normal(key, v.shape, dtype)
        r = r + (0.5 * dt) * v
        state = refresh(eqx.tree_at(lambda s: (s.positions, s.velocities), state, (r, v)))
        v = state.velocities + (0.5 * dt) * state.forces * inv_m
        return eqx.tree_at(lambda s: s.velocities, state, v)


class NoseHooverChain(AbstractIntegrator):
    """Nosé–Hoover chain thermostat (Martyna, Klein, Tuckerman 1992) around velocity Verlet.

    Chain of length M with masses Q₁ = N_f k_BT τ², Q_k = k_BT τ² (τ = `tau`); each step is
    a Trotter splitting: chain half step (Δt/2), velocity Verlet, chain half step. The
    conserved quantity is H + Σ_k p_ξk²/(2Q_k) + N_f k_BT ξ₁ + k_BT Σ_{k≥2} ξ_k
    (`conserved_extra` returns the bath terms). N_f = 3N − 3 (momentum is conserved).

    ??? cite
        G. J. Martyna, M. L. Klein, M. Tuckerman, J. Chem. Phys. 97, 2635 (1992).
    """

    kT: float = eqx.field(static=True)
    tau: float = eqx.field(static=True)
    chain_length: int = eqx.field(static=True)

    def __init__(self, timestep: Any, temperature: Any, tau: Any, chain_length: int = 3):
        self.timestep = _positive(timestep, "time", "timestep")
        self.kT = BOLTZMANN * _positive(temperature, "temperature", "temperature")
        self.tau = _positive(tau, "time", "tau")
        if chain_length < 1:
            raise ValueError(f"chain_length must be >= 1, got {chain_length}")
        self.chain_length = int(chain_length)

    @property
    def ensemble(self) -> str:
        return "NVT"

    @property
    def temperature(self) -> float:
        return self.kT / BOLTZMANN

    def _q(self, n_dof: int, dtype):
        q = [n_dof * self.kT * self.tau**2] + [self.kT * self.tau**2] * (self.chain_length - 1)
        return jnp.asarray(q, dtype)

    def init_thermostat(self, positions, masses, n_dof):
        shape = positions.shape[:-2] + (self.chain_length,)
        return (jnp.zeros(shape, positions.dtype), jnp.zeros(shape, positions.dtype))

    def conserved_extra(self, state, n_dof):
        xi, vxi = state.thermostat
        q = self._q(n_dof, xi.dtype)
        kt = self.kT
        return (
            0.5 * jnp.sum(q * vxi * vxi, -1)
            + n_dof * kt * xi[..., 0]
            + kt * jnp.sum(xi[..., 1:], -1)
        )

    def _chain_half(self, v, thermostat, masses, n_dof):
        xi, vxi = thermostat
        dtype = v.dtype
        q = self._q(n_dof, dtype)
        m_ = self.chain_length
        kt = self.kT
        d4, d8 = 0.25 * self.timestep, 0.125 * self.timestep
        ke2 = 2.0 * kinetic_energy(v, masses.astype(dtype))
        vx = [vxi[..., k] for k in range(m_)]

        def force(k, ke2_now):
            if k == 0:
                return (ke2_now - n_dof * kt) / q[0]
            return (q[k - 1] * vx[k - 1] ** 2 - kt) / q[k]

        def update(k, ke2_now):
            if k < m_ - 1:
                vx[k] = vx[k] * jnp.exp(-d8 * vx[k + 1])
            vx[k] = vx[k] + d4 * force(k, ke2_now)
            if k < m_ - 1:
                vx[k] = vx[k] * jnp.exp(-d8 * vx[k + 1])

        for k in reversed(range(m_)):
            update(k, ke2)
        scale = jnp.exp(-0.5 * self.timestep * vx[0])
        v = v * scale[..., None, None]
        ke2 = ke2 * scale * scale
        xi = xi + 0.5 * self.timestep * jnp.stack(vx, -1)
        for k in range(m_):
            update(k, ke2)
        return v, (xi, jnp.stack(vx, -1))

    def step(self, state, refresh, masses, key):
        n_dof = 3 * state.positions.shape[-2] - 3
        dt = self.timestep
        inv_m = (1.0 / masses)[..., None].astype(state.positions.dtype)
        v, th = self._chain_half(state.velocities, state.thermostat, masses, n_dof)
        v = v + (0.5 * dt) * state.forces * inv_m
        state = refresh(
            eqx.tree_at(
                lambda s: (s.positions, s.velocities, s.thermostat),
                state,
                (state.positions + dt * v, v, th),
            )
        )
        v = state.velocities + (0.5 * dt) * state.forces * inv_m
        v, th = self._chain_half(v, state.thermostat, masses, n_dof)
        return eqx.tree_at(lambda s: (s.velocities, s.thermostat), state, (v, th))
