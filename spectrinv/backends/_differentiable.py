"""`AbstractDifferentiableBackend`: the public interface of an MD engine that gradient
strategies and the fit loop drive.

A gradient strategy needs more from an engine than `init` and `sample`: it prepares a
batched state (cutoff checked, neighbour list valid for the box, forces at the current
parameters), runs chunks with recorders and a host-side overflow check, traces the pure
`run` under `jax.grad`, grows a neighbour list after an overflow, applies the engine's
rebuild rule inside its own traced code (the adjoint's backward pass), builds a
`Trajectory` from recorded signals, and reshapes replicas. Every such step is a public,
documented method here, so strategies never call an engine's private helpers and any
engine implementing this class works with every strategy.

**Shapes.** States passed to and returned by the methods below (except `batch`'s input
and `unbatch`'s output) are *batched*: arrays `[replica, atom, 3]`; a single system is a
batch of one. Positions are nm, velocities nm/ps, forces kJ mol⁻¹ nm⁻¹, energies kJ/mol.
"""

import abc
from typing import Any

from equinox import AbstractVar
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from observables import Trajectory

from ..potentials import AbstractPotential, System
from ._base import AbstractBackend, AbstractRecorder
from ._integrators import AbstractIntegrator
from ._neighbors import frame_neighbors
from ._parallel import AbstractParallelism
from ._state import MDState, batch_state, unbatch_state

__all__ = ["AbstractDifferentiableBackend"]

#: recorded signals of a chunk: `{Trajectory field: [frame, replica, ...]}`
Signals = dict[str, Array]


class AbstractDifferentiableBackend(AbstractBackend):
    """An MD engine that gradient strategies can differentiate through (`JaxMDBackend`).

    **Fields every implementation has:** `integrator` (an `AbstractIntegrator`, with its
    time step), `skin` (neighbour-list skin, nm), `max_reallocations` (list reallocations
    allowed per chunk or differentiated run), `parallel` (`SingleDevice()` or
    `Sharded(devices)`: where the replicas run), `barostat` (`None` for a fixed box).

    **Methods** (all states batched, see the module docstring): `run` (pure, traceable),
    `prepare`, `run_chunk`, `build_trajectory`, `refresh`, `grow_neighbors`,
    `checked_neighbors` (traceable), `frame_neighbors`, `batch`, `unbatch`,
    `with_integrator`.
    """

    integrator: AbstractVar[AbstractIntegrator]
    skin: AbstractVar[float]
    max_reallocations: AbstractVar[int]
    parallel: AbstractVar[AbstractParallelism]
    barostat: AbstractVar[Any]

    @abc.abstractmethod
    def run(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        n_steps: int,
        *,
        stride: int = 1,
        record: tuple[AbstractRecorder, ...] | None = None,
        checkpoint_blocks: tuple[int, ...] = (),
    ) -> tuple[Trajectory, MDState, Bool[Array, ""]]:
        """Pure, traceable run of `n_steps` steps (for `jit`, `grad`, `vmap`): returns
        `(trajectory, final_state, overflowed)`; no reallocation — if `overflowed`, the
        results are invalid and the caller grows the list (`grow_neighbors`) and reruns.
        `checkpoint_blocks`: nested `jax.checkpoint` blocks of the scan over frames."""

    @abc.abstractmethod
    def prepare(self, potential: AbstractPotential, system: System, state: MDState) -> MDState:
        """`state` made ready for a run of `potential`: the cutoff checked against the box,
        batched (a single state becomes a batch of one), placed on the devices of
        `parallel`, with a neighbour list built for this box and cutoff + skin (a missing
        or stale one is allocated afresh and the forces recomputed). Returns the batched
        state."""

    @abc.abstractmethod
    def run_chunk(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        record: tuple[AbstractRecorder, ...],
        n_frames: int,
        stride: int,
        *,
        what: str = "chunk",
    ) -> tuple[MDState, Signals]:
        """`n_frames · stride` steps from the prepared, batched `state` (forces recomputed
        first), recording `record` every `stride` steps. On neighbour-list overflow (any
        replica) the list is reallocated from the post-overflow positions and the chunk
        redone from `state`, at most `max_reallocations` times (then
        `NeighborListOverflowError`); a non-finite state raises `FloatingPointError`
        (`what` names the caller in both messages). Returns `(final_state, signals)`,
        signals frame-major: `{field: [frame, replica, ...]}`."""

    @abc.abstractmethod
    def build_trajectory(
        self, signals: Signals, system: System, stride: int, *, batched: bool
    ) -> Trajectory:
        """The `Trajectory` of recorded `signals` (`{field: [frame, replica, ...]}`, as
        `run_chunk` returns them, chunks concatenated along frames); `batched`: keep the
        replica axis first on every field, else take the only replica. Traceable."""

    @abc.abstractmethod
    def refresh(self, potential: AbstractPotential, system: System, state: MDState) -> MDState:
        """`state` with its neighbour list rebuilt at its positions and energies and forces
        recomputed with `potential`."""

    @abc.abstractmethod
    def grow_neighbors(
        self,
        potential: AbstractPotential,
        system: System,
        neighbors: Any,
        positions: Float[Array, "replica atom 3"],
        failed_positions: Float[Array, "replica atom 3"],
    ) -> Any:
        """A larger list after `neighbors` overflowed: capacity enough for
        `failed_positions` (the configuration that did not fit) and grown at least
        geometrically, built at `positions`."""

    @abc.abstractmethod
    def checked_neighbors(
        self,
        system: System,
        positions: Float[Array, "replica atom 3"],
        neighbors: Any,
        reference: Float[Array, "replica atom 3"],
    ) -> tuple[Any, Float[Array, "replica atom 3"]]:
        """The engine's rebuild rule, traceable: `(neighbors, reference)` rebuilt at
        `positions` when any atom of any replica moved more than skin/2 since `reference`
        (the positions the list was built at), else unchanged."""

    def frame_neighbors(
        self,
        potential: AbstractPotential,
        system: System,
        positions: Float[Array, "frame atom 3"],
        *,
        capacity_multiplier: float = 1.25,
        batch_size: int = 32,
    ) -> Any:
        """One neighbour list per frame of a stack of independent configurations
        (`spectrinv.backends.frame_neighbors`), or `None` without a cutoff or box."""
        return frame_neighbors(
            potential,
            system,
            positions,
            capacity_multiplier=capacity_multiplier,
            batch_size=batch_size,
        )

    def batch(self, state: MDState) -> MDState:
        """`state` as a batch (a single system becomes a batch of one replica)."""
        return state if state.batched else batch_state(state)

    def unbatch(self, state: MDState) -> MDState:
        """The single replica of a batch of one, without the replica axis."""
        return unbatch_state(state)

    @abc.abstractmethod
    def with_integrator(self, integrator: AbstractIntegrator) -> "AbstractDifferentiableBackend":
        """The same engine (skin, chunking, parallelism) with another integrator."""
