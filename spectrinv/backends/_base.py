"""`AbstractBackend`, the MD state and the recorder hook.

A backend turns `(potential, system, state, key, n_steps)` into a `Trajectory` holding
only the requested signals, one frame every `stride` steps, plus the final state so that
runs can be continued. Recorders are small objects `(frame, potential) -> signal` that name
the `Trajectory` field they fill; new signals (heat flux, polarizability) are new recorders.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from observables import Trajectory

from ..potentials import AbstractPotential, System
from ._state import MDState

__all__ = [
    "MDState",
    "Frame",
    "AbstractRecorder",
    "Positions",
    "Velocities",
    "Stress",
    "Dipole",
    "Polarizability",
    "AbstractBackend",
]


class Frame(eqx.Module):
    """What a recorder sees: one replica's state at a recorded step (unbatched arrays)."""

    positions: Array
    velocities: Array
    forces: Array
    potential_energy: Array
    neighbors: Any
    system: System


class AbstractRecorder(eqx.Module):
    """Computes one per-frame signal; `field` names the `Trajectory` field it fills.

    `uses_potential` declares whether the signal depends on the potential's parameters θ at
    fixed positions and velocities (through `potential`, `frame.forces` or
    `frame.potential_energy`): `True` for `Stress` and `HeatFlux`, `False` for `Positions`,
    `Velocities`, `Dipole` and `Polarizability`. Strategies that reuse recorded frames at
    other parameters (`spectrinv.gradients.Reweighting`) recompute such signals at θ, which
    gives the explicit term ⟨∂O/∂θ⟩ of the gradient. It defaults to `True` (the safe
    choice: correct, only more work); a new recorder whose signal is θ-independent sets it
    to `False`.
    """

    field: ClassVar[str]
    uses_potential: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, frame: Frame, potential: AbstractPotential) -> Array: ...


class Positions(AbstractRecorder):
    """Unwrapped Cartesian positions `[atom, 3]`, nm."""

    field: ClassVar[str] = "positions"
    uses_potential: ClassVar[bool] = False

    def __call__(self, frame, potential):
        return frame.positions


class Velocities(AbstractRecorder):
    """Velocities `[atom, 3]`, nm/ps."""

    field: ClassVar[str] = "velocities"
    uses_potential: ClassVar[bool] = False

    def __call__(self, frame, potential):
        return frame.velocities


class Stress(AbstractRecorder):
    """Pressure tensor P = (Σ m v⊗v + W)/V, kJ mol⁻¹ nm⁻³, `[3, 3]`.

    The virial W_ab = −∂U/∂ε_ab is the derivative of the energy under a homogeneous strain
    r → r(1 + ε), h → h(1 + ε) of positions and cell (rows), taken by autodiff of the
    potential, so it is correct for any potential that uses the minimum-image convention
    (pair and many-body) — it equals Σ_pairs r_ij ⊗ f_ij for pair potentials.
    """

    field: ClassVar[str] = "stress"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame, potential):
        system = frame.system
        box = system.box_matrix.astype(frame.positions.dtype)

        def strained(eps):
            deform = jnp.eye(3, dtype=eps.dtype) + eps
            strained_system = eqx.tree_at(lambda s: s.box, system, box @ deform)
            return potential.energy(frame.positions @ deform, strained_system, frame.neighbors)

        du = jax.grad(strained)(jnp.zeros((3, 3), frame.positions.dtype))
        m = system.masses.astype(frame.velocities.dtype)
        kinetic = jnp.einsum("i,ia,ib->ab", m, frame.velocities, frame.velocities)
        return (kinetic - du) / jnp.linalg.det(box)


class Dipole(AbstractRecorder):
    """Total dipole `[3]` (e·nm) from a dipole model `model(positions, system) -> [3]`.

    Any callable (equinox module or function) with that signature works, e.g. the point-charge
    dipole models of `spectrinv.potentials`.
    """

    field: ClassVar[str] = "dipole"
    uses_potential: ClassVar[bool] = False
    model: Any

    def __call__(self, frame, potential):
        return self.model(frame.positions, frame.system)


def _dipole_moment(potential, who: str):
    """`potential.dipole_moment`, or a one-line TypeError naming the recorder `who`."""
    method = getattr(potential, "dipole_moment", None)
    if method is None:
        raise TypeError(
            f"{who} needs a potential with a dipole_moment(positions, system) method (e.g. "
            f"FlexibleWater); {type(potential).__name__} has none: record Dipole(model) with "
            "a dipole model instead"
        )
    return method


class PotentialDipole(AbstractRecorder):
    """Total dipole `[3]` (e·nm) from the potential itself: `potential.dipole_moment(positions,
    system)` (e.g. `FlexibleWater` with a fitted `ChargeFluxDipole`). The dipole then
    depends on the potential's parameters, so fitted charges and charge fluxes receive
    gradients from an IR target, and `Reweighting` recomputes it at the current parameters.
    """

    field: ClassVar[str] = "dipole"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame, potential):
        return _dipole_moment(potential, "PotentialDipole")(frame.positions, frame.system)


class PotentialDipoleCurrent(AbstractRecorder):
    """Time derivative of the total dipole `[3]` (e·nm/ps) from the potential's own dipole
    surface: dM/dt = (∂M/∂r)·v, a forward-mode derivative of
    `potential.dipole_moment(positions, system)` along the velocities. Exact for
    geometry-dependent charges (a `ChargeFluxDipole`), where Σ q v misses the charges'
    own change. Fills `charge_current`, which `IRSpectrum(source=FromDipoleDerivative())`
    correlates: on short segments that spectrum is free of the slow drift of M that the
    dipole source's factor ω² spreads over all frequencies.
    """

    field: ClassVar[str] = "charge_current"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame, potential):
        method = _dipole_moment(potential, "PotentialDipoleCurrent")
        _, current = jax.jvp(
            lambda r: method(r, frame.system), (frame.positions,), (frame.velocities,)
        )
        return current


class Polarizability(AbstractRecorder):
    """Total polarizability `[3, 3]` (nm³, polarizability volume) from a polarizability model
    `model(positions, system) -> [3, 3]`, e.g. `spectrinv.potentials.BondPolarizability`."""

    field: ClassVar[str] = "polarizability"
    uses_potential: ClassVar[bool] = False
    model: Any

    def __call__(self, frame, potential):
        return self.model(frame.positions, frame.system)


class AbstractBackend(eqx.Module):
    """An MD engine behind one interface.

    `init(potential, system, positions, ...)` builds a starting `MDState`;
    `sample(potential, system, state, key, n_steps, stride=..., record=...)` runs and
    returns `(Trajectory, final_state)`. Differentiable backends
    (`AbstractDifferentiableBackend`, e.g. `JaxMDBackend`) can be traced by the gradient
    strategies; sampling-only ones (`OpenMMBackend`) feed reweighting.
    """

    @abc.abstractmethod
    def init(
        self,
        potential: AbstractPotential,
        system: System,
        positions: Any,
        *,
        velocities: Any = None,
        temperature: Any = None,
        key: Any = None,
        neighbor_capacity: int | None = None,
    ) -> MDState:
        """Starting state from `positions` (length `Quantity`, `[atom, 3]` or, where the
        backend supports replicas, `[replica, atom, 3]`) and `velocities` (velocity
        `Quantity`) or a `temperature` (`Quantity` in K; Maxwell–Boltzmann velocities drawn
        with the PRNG `key`); neither: at rest. `neighbor_capacity`: the least number of
        neighbour slots per atom of the state's list (keeps array shapes, hence compiled
        code, stable across repeated calls); backends that manage no lists ignore it."""

    @abc.abstractmethod
    def sample(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: PRNGKeyArray | None,
        n_steps: int,
        *,
        stride: int = 1,
        record: tuple[AbstractRecorder, ...] | None = None,
    ) -> tuple[Trajectory, MDState]:
        """Run `n_steps` steps from `state`, recording `record` (default positions and
        velocities) every `stride` steps; returns `(trajectory, final_state)`."""
