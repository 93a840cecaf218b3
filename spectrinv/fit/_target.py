"""`Target`: one experimental comparison at one state point."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from observables import to_internal

from ..backends import AbstractBackend
from ..gradients import AbstractGradient, Objective
from ..potentials import System

__all__ = ["Target"]


class Target(eqx.Module):
    """One term of a fit: an observable simulated at one state point, compared with a
    dataset by a loss, with a gradient strategy.

    **Arguments:**
    - `name`: label used in the history, plots and checkpoint (unique within a fit);
    - `objective`: `spectrinv.gradients.Objective(observe=observable, loss=loss,
      record=recorders)`;
    - `system`, `positions` (length quantity `[atom, 3]`): the simulated system and its
      starting configuration;
    - `backend`: e.g. `JaxMDBackend(Langevin(...))` — the ensemble the strategy samples;
    - `gradient`: a strategy object (`BPTT`, `Adjoint`, `Truncated`, `Reweighting`);
    - `temperature`: state point (K) for the initial Maxwell–Boltzmann velocities;
    - `equilibration_steps`: steps run once with `backend` before the first fit step
      (not differentiated);
    - `melt_backend`, `melt_steps`: optionally, a hot thermostat (e.g.
      `JaxMDBackend(Langevin(dt, Quantity(400, "K"), friction))`, fixed volume) run for
      `melt_steps` before the equilibration, so that a lattice start becomes a liquid
      (a superheated crystal can survive the equilibration at the target temperature);
    - `dataset`: the experimental `Dataset` (for plots and the record), optional.

    The loss of the fit is the sum of the targets' losses, so several observables and
    several state points (temperatures, compositions) are fitted at once by listing
    several targets. A target's weight is part of its loss: `Objective(observable,
    0.5 * MeanSquaredError(reference), record)`.
    """

    name: str = eqx.field(static=True)
    objective: Objective
    system: System
    positions: Any
    backend: AbstractBackend
    gradient: AbstractGradient
    temperature: float = eqx.field(static=True)
    equilibration_steps: int = eqx.field(static=True, default=0)
    dataset: Any = None
    melt_backend: AbstractBackend | None = None
    melt_steps: int = eqx.field(static=True, default=0)

    def __init__(
        self,
        name: str,
        objective: Objective,
        system: System,
        positions: Any,
        backend: AbstractBackend,
        gradient: AbstractGradient,
        temperature: Any,
        *,
        equilibration_steps: int = 0,
        dataset: Any = None,
        melt_backend: AbstractBackend | None = None,
        melt_steps: int = 0,
    ):
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a spectrinv.gradients.Objective, got {objective!r}")
        if not isinstance(backend, AbstractBackend):
            raise TypeError(f"backend must be an AbstractBackend, got {type(backend).__name__}")
        if not isinstance(gradient, AbstractGradient):
            raise TypeError(
                f"gradient must be an AbstractGradient (BPTT(), Adjoint(), Truncated(), "
                f"Reweighting()), got {type(gradient).__name__}"
            )
        self.name = str(name)
        self.objective = objective
        self.system = system
        pos = np.asarray(to_internal(positions, "length", f"target {name!r} positions"))
        if pos.ndim != 2 or pos.shape != (system.n_atoms, 3):
            raise ValueError(
                f"target {name!r}: positions must be [atom, 3] = [{system.n_atoms}, 3], got "
                f"{pos.shape}"
            )
        if not np.all(np.isfinite(pos)):
            raise ValueError(f"target {name!r}: positions contain NaN/inf")
        self.positions = jnp.asarray(pos)
        self.backend = backend
        self.gradient = gradient
        self.temperature = float(to_internal(temperature, "temperature", "temperature"))
        if int(equilibration_steps) < 0:
            raise ValueError("equilibration_steps must be >= 0")
        self.equilibration_steps = int(equilibration_steps)
        self.dataset = dataset
        if int(melt_steps) < 0:
            raise ValueError(f"target {name!r}: melt_steps must be >= 0, got {melt_steps}")
        if int(melt_steps) and not isinstance(melt_backend, AbstractBackend):
            raise TypeError(
                f"target {name!r}: melt_steps = {melt_steps} needs a melt_backend (an "
                f"AbstractBackend), got {type(melt_backend).__name__}"
            )
        self.melt_backend = melt_backend if int(melt_steps) else None
        self.melt_steps = int(melt_steps)
