"""`JaxMDBackend`: differentiable MD in JAX with cell-list neighbour lists.

**How a run is organised.** `sample` advances the state in *chunks* of `chunk_steps` steps;
each chunk is one jitted `lax.scan` (frames) of `lax.scan` (`stride` steps) that records the
requested signals once per frame (`_chunk`). After each chunk the neighbour list's overflow
flag is read on the host. If it is set (for any replica), the list is reallocated from the
**post-overflow** positions (capacity × `capacity_multiplier`) and the chunk is **redone
from its start state** with the larger list, so no step ever uses forces from an overflowed
list (an overflowed list silently misses pairs). After `max_reallocations` reallocations
within one chunk a `NeighborListOverflowError` is raised. A non-finite state after a chunk
raises `FloatingPointError`.

**Neighbour lists** (`_neighbors`): jax-md `Dense` lists built by our own cell list
(sort-based, cell-major structure-of-arrays distances; 4–6× faster than jax-md's own dense
update on a 2-core CPU, `benchmarks/performance/floors.py`) on fractional coordinates with a
minimum-image metric for orthorhombic and triclinic cells, listing pairs within
r_c + skin. The rebuild decision is ours: rebuild when any atom of any replica moved more
than skin/2 since the last rebuild. Because the decision is a single `lax.cond` outside
the per-replica `vmap`, replicas do not turn it into a rebuild-every-step `select`.

**Replicas.** Give `init` positions `[replica, atom, 3]` for a batch: all replicas advance
together and the returned `Trajectory` has a leading replica axis on every field
(`jax.tree.map(lambda x: x[r], traj)` picks one). `parallel=Sharded()` splits the
replicas over several devices or hosts with the same numbers (`_parallel`).

**Precision.** Arrays follow the dtype of the positions given to `init` (float32 or float64
when `jax_enable_x64` is on); nothing flips global JAX configuration. Positions are kept
unwrapped (good for diffusion; in float32 keep runs short enough that |r| stays ≲ 10³ box
lengths).

**Forces at the start.** Every chunk (and `run`) starts by recomputing energies and forces
of the incoming state with the potential given, so a state can be reused after the
potential's parameters change (as in a fit) and gradients include the initial forces.

**Frames.** Frame k holds the state after (k + 1)·stride steps (the start state is not
repeated); `Trajectory.timestep` = stride·Δt.

**NPT**: `barostat=MonteCarloBarostat(pressure)` with a thermostatted integrator
(`Langevin`, `NoseHooverChain`). The box then lives in the state (`state.barostat.box`, one
per replica) and changes inside the jitted scan; neighbour lists are rebuilt in the
current box, and a box that shrinks beyond the cells' margin is treated like an overflow
(reallocated and the chunk redone). Every frame records its box, always as `[3, 3]` cell
vectors (rows), so `Trajectory.box` is `[frame, 3, 3]` (a stack of `[3]` edges of three
frames would read as one triclinic cell). Gradient strategies that differentiate the run do
not support a barostat (the accept/reject step is not differentiable); `Reweighting` does
(each frame reweighted in its own box).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from observables import Trajectory, to_internal

from .._progress import progress_task
from ..potentials import AbstractPotential, System
from ._barostat import MonteCarloBarostat, barostat_state_for, checked_barostat
from ._base import AbstractRecorder, Positions, Velocities
from ._chunk import (
    health,
    refresh_jit,
    run_arguments,
    run_chunk,
    sample_arguments,
    trajectory_from_signals,
)
from ._differentiable import AbstractDifferentiableBackend, Signals
from ._initial import checked_positions, initial_velocities, maxwell_boltzmann
from ._integrators import AbstractIntegrator
from ._lists import allocate, ensure_list, grown_template, placed, reallocated, uses_neighbors
from ._neighbors import (
    check_cutoff,
    checked_lists,
    first,
    list_invalid,
)
from ._parallel import AbstractParallelism, SingleDevice
from ._state import MDState, batch_state, unbatch_state

_log = logging.getLogger(__name__)

__all__ = ["JaxMDBackend", "NeighborListOverflowError", "maxwell_boltzmann"]


class NeighborListOverflowError(RuntimeError):
    """The neighbour list kept overflowing after the allowed number of reallocations."""


class JaxMDBackend(AbstractDifferentiableBackend):
    """Default, differentiable backend (pure JAX; jax-md neighbour lists).

    **Arguments:**
    - `integrator`: `VelocityVerlet`, `Langevin` or `NoseHooverChain` (with its time step);
    - `skin`: neighbour-list skin (length, default 0.1 nm); pairs within r_c + skin are listed;
    - `chunk_steps`: steps per jitted chunk between host-side overflow checks (rounded to a
      multiple of `stride`);
    - `max_reallocations`: reallocations allowed within one chunk before giving up;
    - `capacity_multiplier`: headroom of a (re)allocated neighbour list;
    - `barostat`: a `MonteCarloBarostat` for NPT (needs a thermostatted integrator), or
      `None` (fixed box);
    - `parallel`: where the replicas of a batched state run: `SingleDevice()` (default) or
      `Sharded(devices)` (split over devices and hosts, same numbers).

    Implements `AbstractDifferentiableBackend`, the interface the gradient strategies use.
    """

    integrator: AbstractIntegrator
    skin: float = eqx.field(static=True)
    chunk_steps: int = eqx.field(static=True)
    max_reallocations: int = eqx.field(static=True)
    capacity_multiplier: float = eqx.field(static=True)
    barostat: MonteCarloBarostat | None = None
    parallel: AbstractParallelism = SingleDevice()

    def __init__(
        self,
        integrator: AbstractIntegrator,
        *,
        skin: Any = None,
        chunk_steps: int = 1000,
        max_reallocations: int = 5,
        capacity_multiplier: float = 1.25,
        barostat: MonteCarloBarostat | None = None,
        parallel: AbstractParallelism | None = None,
    ):
        if not isinstance(integrator, AbstractIntegrator):
            raise TypeError(
                f"integrator must be an AbstractIntegrator (e.g. VelocityVerlet(Quantity(2, "
                f"'fs'))), got {type(integrator).__name__}"
            )
        self.integrator = integrator
        self.skin = 0.1 if skin is None else float(to_internal(skin, "length", "skin"))
        if self.skin < 0:
            raise ValueError(f"skin must be >= 0, got {self.skin} nm")
        self.chunk_steps = int(chunk_steps)
        self.max_reallocations = int(max_reallocations)
        self.capacity_multiplier = float(capacity_multiplier)
        if self.chunk_steps < 1 or self.capacity_multiplier < 1:
            raise ValueError("chunk_steps must be >= 1 and capacity_multiplier >= 1")
        self.barostat = checked_barostat(barostat, integrator)
        parallel = SingleDevice() if parallel is None else parallel
        if not isinstance(parallel, AbstractParallelism):
            raise TypeError(
                f"parallel must be SingleDevice() or Sharded(devices), got {parallel!r}"
            )
        if self.barostat is not None and not isinstance(parallel, SingleDevice):
            raise NotImplementedError(
                "a barostat (NPT) does not run sharded yet (its list reallocation gathers "
                "per-replica boxes on one host); use parallel=SingleDevice() for NPT."
            )
        self.parallel = parallel

    # ---------------------------------------------------------------- neighbour lists
    def _placed(self, tree: Any, n_replicas: int) -> Any:
        return placed(self, tree, n_replicas)

    def _allocate(self, potential, positions, system, at_least=None, boxes=None):
        """Lists for `[replica, atom, 3]` positions (see `_lists.allocate`)."""
        return allocate(self, potential, positions, system, at_least=at_least, boxes=boxes)

    # ------------------------------------------------------- the differentiable interface
    def prepare(self, potential: AbstractPotential, system: System, state: MDState) -> MDState:
        check_cutoff(potential, system)
        if state.batched:
            self.parallel.check_replicas(state.positions.shape[0])
            st = self.parallel.shard(state, state.positions.shape[0])
        else:
            st = batch_state(state)
        st = barostat_state_for(self.barostat, system, st)
        return ensure_list(self, potential, system, st)

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
        start = state
        for attempt in range(self.max_reallocations + 1):
            new, frames = run_chunk(
                self.integrator,
                potential,
                system,
                start,
                key,
                tuple(record),
                n_frames,
                stride,
                self.skin,
                barostat=self.barostat,
            )
            overflow, finite = health(new)
            if not bool(overflow):
                break
            if attempt == self.max_reallocations:
                raise NeighborListOverflowError(
                    f"{what}: neighbour list still overflows after {self.max_reallocations} "
                    f"reallocations from step {int(start.step)}; the system is probably "
                    "collapsing (check the time step and potential) or raise "
                    "max_reallocations / capacity_multiplier."
                )
            start = reallocated(self, potential, system, start, new, frames)
        if not bool(finite):
            raise FloatingPointError(
                f"{what}: non-finite positions/velocities between steps {int(start.step)} and "
                f"{int(new.step)}: the integration blew up (time step too large, overlapping "
                "atoms or a potential without a repulsive core?)"
            )
        return new, frames

    def build_trajectory(
        self, signals: Signals, system: System, stride: int, *, batched: bool
    ) -> Trajectory:
        return trajectory_from_signals(
            signals, system, self.integrator.timestep * stride, batched=batched
        )

    def refresh(self, potential: AbstractPotential, system: System, state: MDState) -> MDState:
        return refresh_jit(potential, system, state, self.skin, True)

    def grow_neighbors(
        self,
        potential: AbstractPotential,
        system: System,
        neighbors: Any,
        positions: Float[Array, "replica atom 3"],
        failed_positions: Float[Array, "replica atom 3"],
    ) -> Any:
        grown = grown_template(
            self, potential, system, neighbors, self.parallel.gather(failed_positions)
        )
        return self._allocate(potential, positions, system, at_least=grown)

    def checked_neighbors(
        self,
        system: System,
        positions: Float[Array, "replica atom 3"],
        neighbors: Any,
        reference: Float[Array, "replica atom 3"],
    ) -> tuple[Any, Float[Array, "replica atom 3"]]:
        return checked_lists(positions, neighbors, reference, system.box, self.skin)

    def frame_neighbors(
        self,
        potential: AbstractPotential,
        system: System,
        positions: Float[Array, "frame atom 3"],
        *,
        capacity_multiplier: float | None = None,
        batch_size: int = 32,
    ) -> Any:
        """One neighbour list per frame (`spectrinv.backends.frame_neighbors`), with this
        backend's `capacity_multiplier` unless another is given."""
        multiplier = (
            self.capacity_multiplier if capacity_multiplier is None else capacity_multiplier
        )
        return super().frame_neighbors(
            potential, system, positions, capacity_multiplier=multiplier, batch_size=batch_size
        )

    def with_integrator(self, integrator: AbstractIntegrator) -> JaxMDBackend:
        checked_barostat(self.barostat, integrator)
        return eqx.tree_at(lambda b: b.integrator, self, integrator)

    # ------------------------------------------------------------------------- init
    def init(
        self,
        potential: AbstractPotential,
        system: System,
        positions: Any,
        *,
        velocities: Any = None,
        temperature: Any = None,
        key: PRNGKeyArray | None = None,
        neighbor_capacity: int | None = None,
    ) -> MDState:
        """Starting state from positions (length quantity, `[atom, 3]` or
        `[replica, atom, 3]`) and velocities (velocity quantity) or a `temperature` (K) for
        Maxwell–Boltzmann velocities (needs `key`); neither: at rest.

        `neighbor_capacity`: allocate the neighbour list with at least this many slots per
        atom (keeps array shapes, hence compiled code, stable across repeated `init` calls,
        as in a fit). A batched state is placed on the devices of `parallel`."""
        pos = checked_positions(positions, system)
        check_cutoff(potential, system)
        batched = pos.ndim == 3
        pos_b = pos if batched else pos[None]
        if batched:
            self.parallel.check_replicas(pos_b.shape[0])
        vel_b = initial_velocities(pos_b, system, velocities, temperature, key, batched)
        barostat, boxes = None, None
        if self.barostat is not None:
            if system.box is None:
                raise ValueError("a barostat needs a periodic system (system.box is None)")
            self.barostat.molecular(system)  # raises for molecular scaling without topology
            barostat = self.barostat.init_state(system.box, pos_b.shape[0], pos_b.dtype)
            boxes = np.asarray(barostat.box)
        nbrs = None
        if uses_neighbors(potential, system):
            nbrs = self._allocate(potential, pos_b, system, boxes=boxes)
            if neighbor_capacity is not None:
                wanted = min(int(neighbor_capacity), system.n_atoms - 1)
                if first(nbrs).max_occupancy < wanted:
                    template = dataclasses.replace(first(nbrs), max_occupancy=wanted)
                    nbrs = self._allocate(potential, pos_b, system, at_least=template, boxes=boxes)
        n_dof = 3 * system.n_atoms - 3
        state = MDState(
            positions=pos_b,
            velocities=vel_b,
            forces=jnp.zeros_like(pos_b),
            potential_energy=jnp.zeros(pos_b.shape[0], pos_b.dtype),
            thermostat=self.integrator.init_thermostat(pos_b, system.masses, n_dof),
            neighbors=nbrs,
            reference_positions=pos_b,
            step=jnp.zeros((), jnp.int32),
            barostat=barostat,
        )
        state = refresh_jit(potential, system, self._placed(state, pos_b.shape[0]), self.skin, True)
        return state if batched else unbatch_state(state)

    # ------------------------------------------------------------------------ sample
    def sample(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        n_steps: int,
        *,
        stride: int = 1,
        record: tuple[AbstractRecorder, ...] | None = None,
    ) -> tuple[Trajectory, MDState]:
        """Run `n_steps` steps recording every `stride` steps.

        **Arguments:** `record`: recorder objects (default `(Positions(), Velocities())`);
        `n_steps` must be a multiple of `stride`.

        **Returns:** `(trajectory, final_state)`; see the module docstring for frames and
        replicas (a batched run's arrays are split over the devices of `parallel`).
        """
        record, _, n_steps, stride = sample_arguments(record, n_steps, stride)
        batched = state.batched
        st = self.prepare(potential, system, state)
        chunk = max(stride, (self.chunk_steps // stride) * stride)
        recorded: list[dict] = []
        done = 0
        # a row of the progress display (nothing without one): a count for runs of
        # several chunks, a spinner for one
        with progress_task(
            "MD sampling", n_steps if n_steps > chunk else None, unit="steps"
        ) as shown:
            while done < n_steps:
                n_chunk = min(chunk, n_steps - done)
                start = st
                st, frames = self.run_chunk(
                    potential, system, st, key, record, n_chunk // stride, stride
                )
                if self.barostat is not None:
                    st = eqx.tree_at(
                        lambda s: s.barostat,
                        st,
                        self.barostat.adapted(st.barostat, start.barostat),
                    )
                recorded.append(frames)
                done += n_chunk
                shown.advance(n_chunk)
        fields = [r.field for r in record] + (["box"] if self.barostat is not None else [])
        signals = {f: jnp.concatenate([c[f] for c in recorded], axis=0) for f in fields}
        traj = self.build_trajectory(signals, system, stride, batched=batched)
        if not batched:
            return traj, unbatch_state(st)
        return self.parallel.shard(traj, st.positions.shape[0]), st

    # --------------------------------------------------------------------------- run
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
        """Pure, traceable counterpart of `sample` (for `jit`, `grad`, `vmap`, checkpointing).

        Runs `n_steps` with the state's neighbour-list capacity as it is — no host-side
        checks, no reallocation — and returns `(trajectory, final_state, overflowed)`, where
        `overflowed` (bool array) says whether the list overflowed at any step; the results
        are then invalid and the caller must reallocate (e.g. via `sample`) and rerun. Under
        `jax.vmap` the neighbour-rebuild `lax.cond` becomes a `select` (rebuild every step:
        correct but slower); prefer batched states (`init` with `[replica, atom, 3]`). A
        batched state is constrained to the devices of `parallel` (placed if concrete).

        `checkpoint_blocks` (frames, outermost first; default `()`: no checkpointing) splits
        the scan over frames into blocks of that many frames, each wrapped in
        `jax.checkpoint`, nested for several entries (e.g. `(100, 10)`: blocks of 100
        frames made of checkpointed sub-blocks of 10). Reverse-mode differentiation then
        stores only the carry (state and neighbour list) at block boundaries and recomputes
        each block's steps during the backward pass: memory ~ n_frames/b + b·stride steps
        for one level. The forward values are identical to the unblocked scan.
        """
        record = (Positions(), Velocities()) if record is None else tuple(record)
        n_steps, stride, checkpoint_blocks = run_arguments(n_steps, stride, checkpoint_blocks)
        batched = state.batched
        n_replicas = state.positions.shape[0] if batched else 1
        if batched:
            self.parallel.check_replicas(n_replicas)
            state = self.parallel.shard(state, n_replicas)
        st = barostat_state_for(self.barostat, system, state if batched else batch_state(state))
        new, frames = run_chunk(
            self.integrator,
            potential,
            system,
            st,
            key,
            record,
            n_steps // stride,
            stride,
            self.skin,
            checkpoint_blocks,
            barostat=self.barostat,
        )
        overflowed = jnp.zeros((), bool) if new.neighbors is None else list_invalid(new.neighbors)
        traj = self.build_trajectory(frames, system, stride, batched=batched)
        if not batched:
            return traj, unbatch_state(new), overflowed
        return (
            self.parallel.shard(traj, n_replicas),
            self.parallel.shard(new, n_replicas),
            overflowed,
        )
