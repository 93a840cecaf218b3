"""`MDState`, the dynamical state of one system or of a batch of replicas, and the
batching of replicas (a single state is a batch of one inside the engine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from observables import Quantity, from_internal

__all__ = ["MDState", "batch_state", "unbatch_state"]


class MDState(eqx.Module):
    """Dynamical state of one system or of a batch of replicas (leading axis), internal units.

    - `positions`: `[(replica,) atom, 3]` nm, **unwrapped** Cartesian coordinates;
    - `velocities`, `forces`: same shape, nm/ps and kJ mol⁻¹ nm⁻¹;
    - `potential_energy`: `[(replica)]` kJ/mol at `positions`;
    - `thermostat`: integrator-specific extra state (e.g. Nosé–Hoover chain) or `None`;
    - `neighbors`: jax-md `Dense` neighbour list (batched with the replicas) or `None`;
    - `reference_positions`: positions at the last neighbour rebuild;
    - `step`: number of steps taken (int scalar);
    - `barostat`: `BarostatState` (current box per replica, move statistics) under a
      barostat (NPT), else `None`; the box is then `barostat.box`, not `system.box`.

    The fields are plain arrays in internal units, so a state passes through `jit`;
    `state.quantity("positions")` (or `"velocities"`, `"forces"`, `"potential_energy"`,
    `"box"`) returns one as a pint `Quantity`, in the units `init` accepts.

    A state's neighbour list is tied to the box (and cutoff + skin) it was built for: after
    changing `system.box` or the potential's cutoff, build a new state with `init`.
    """

    positions: Float[Array, "*replica atom 3"]
    velocities: Float[Array, "*replica atom 3"]
    forces: Float[Array, "*replica atom 3"]
    potential_energy: Float[Array, "*replica"]
    thermostat: Any
    neighbors: Any
    reference_positions: Float[Array, "*replica atom 3"]
    step: Int[Array, ""]
    barostat: Any = None

    #: internal unit kind of each field `quantity` converts
    QUANTITIES: ClassVar[dict[str, str]] = {
        "positions": "length",
        "velocities": "velocity",
        "forces": "force",
        "potential_energy": "energy",
        "box": "length",
    }

    @property
    def batched(self) -> bool:
        """Whether the state holds a batch of replicas (`positions` `[replica, atom, 3]`)."""
        return self.positions.ndim == 3

    @property
    def neighbor_capacity(self) -> int:
        """Neighbour slots per atom of the state's list (0 without a list)."""
        return 0 if self.neighbors is None else int(self.neighbors.max_occupancy)

    def kinetic_energy(self, masses: Float[Array, " atom"]) -> Float[Array, "*replica"]:
        """½ Σ m v² (kJ/mol), per replica when batched; `masses` in g/mol."""
        m = masses.astype(self.velocities.dtype)[..., None]
        return 0.5 * jnp.sum(m * self.velocities**2, axis=(-2, -1))

    def quantity(self, name: str) -> Quantity:
        """The field `name` as a pint `Quantity`: `"positions"` (nm), `"velocities"`
        (nm/ps), `"forces"` (kJ mol⁻¹ nm⁻¹), `"potential_energy"` (kJ/mol) or `"box"` (nm,
        the barostat's current box per replica; only under a barostat: otherwise the box
        is `system.box`)."""
        if name not in self.QUANTITIES:
            raise ValueError(
                f"MDState.quantity({name!r}): unknown field; use one of {sorted(self.QUANTITIES)}"
            )
        if name == "box":
            if self.barostat is None:
                raise ValueError(
                    "MDState.quantity('box'): this state has a fixed box (no barostat); read "
                    "it from the System (system.box, nm)"
                )
            value = self.barostat.box
        else:
            value = getattr(self, name)
        return from_internal(value, self.QUANTITIES[name])


def _map_state(state: MDState, f: Callable[[Array], Array]) -> MDState:
    """`f` applied to every array of the state except the scalar step counter."""
    step = state.step
    mapped = jax.tree.map(
        f, eqx.tree_at(lambda s: s.step, state, None, is_leaf=lambda x: x is None)
    )
    return eqx.tree_at(lambda s: s.step, mapped, step, is_leaf=lambda x: x is None)


def batch_state(state: MDState) -> MDState:
    """A batch of one replica from an unbatched state (leading axis of length 1)."""
    return _map_state(state, lambda x: x[None])


def unbatch_state(state: MDState) -> MDState:
    """The first replica of a batched state, without the replica axis."""
    return _map_state(state, lambda x: x[0])
