"""The MD state of a fit target: its equilibrated starting configuration and the state a
strategy starts from at every evaluation (deterministic in the saved configuration)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity

from ..backends import AbstractBackend, MDState
from ..potentials import AbstractPotential
from ._target import Target

__all__ = ["equilibrate", "init_state", "saved_box"]


def saved_box(state: MDState) -> dict:
    """`{"box": ...}` of an NPT state (its current box, nm), `{}` for a fixed box: an NPT
    target continues from the box its last run ended in."""
    return {} if state.barostat is None else {"box": np.asarray(state.barostat.box)}


def equilibrate(target: Target, potential, key) -> dict:
    """Initial configuration of a target: Maxwell–Boltzmann velocities at its temperature,
    `melt_steps` of its melt backend if it has one, and `equilibration_steps` of its
    backend (no gradient)."""
    k_v, k_run = jax.random.split(key)
    positions = Quantity(np.asarray(target.positions), "nm")
    temperature = Quantity(target.temperature, "K")
    velocities = None
    if target.melt_steps:  # at fixed volume; the target's backend (NPT too) starts after
        hot, n = target.melt_backend, target.melt_steps
        state = hot.init(potential, target.system, positions, temperature=temperature, key=k_v)
        _, state = hot.sample(
            potential, target.system, state, jax.random.fold_in(key, 1), n, stride=n
        )
        positions = Quantity(np.asarray(state.positions), "nm")
        velocities = Quantity(np.asarray(state.velocities), "nm/ps")
    state = target.backend.init(
        potential,
        target.system,
        positions,
        **(
            {"temperature": temperature, "key": k_v}
            if velocities is None
            else {"velocities": velocities}
        ),
    )
    if target.equilibration_steps:
        n = target.equilibration_steps
        _, state = target.backend.sample(potential, target.system, state, k_run, n, stride=n)
    return {
        "positions": np.asarray(state.positions),
        "velocities": np.asarray(state.velocities),
        # headroom: the equilibrated liquid's list fluctuates; stable shapes, no recompiles
        "neighbor_capacity": int(np.ceil(1.2 * state.neighbor_capacity)),
        **saved_box(state),
    }


def init_state(target: Target, potential: AbstractPotential, cfg: dict) -> MDState:
    """The MD state of a target at the start of a step: a deterministic function of the
    saved configuration (positions, velocities) and of the neighbour-list capacity, which
    only grows during a fit (stable shapes: no recompilation from step to step)."""
    backend: AbstractBackend = target.backend
    system = target.system
    if cfg.get("box") is not None:  # NPT: start in the saved box, not the configured one
        box = jnp.asarray(cfg["box"], jnp.asarray(system.box).dtype)
        system = eqx.tree_at(lambda s: s.box, system, box)

    def init(capacity: int) -> MDState:
        return backend.init(
            potential,
            system,
            Quantity(cfg["positions"], "nm"),
            velocities=Quantity(cfg["velocities"], "nm/ps"),
            neighbor_capacity=capacity,
        )

    saved = int(cfg.get("neighbor_capacity") or 0)
    state = init(saved)
    if state.neighbor_capacity > saved:
        # the list must grow: leave 20 % headroom so that it rarely grows again
        state = init(int(np.ceil(1.2 * state.neighbor_capacity)))
    return state
