"""`JaxMDBackend`: differentiable MD in JAX with cell-list neighbour lists.

**How a run is organised.** `sample` advances the state in *chunks* of `chunk_steps` steps;
each chunk is one jitted `lax.scan` (frames) of `lax.scan` (`stride` steps) that records the
requested signals once per frame. After each chunk the neighbour list's overflow flag is
read on the host. If it is set (for any replica), the list is reallocated from the
**post-overflow** positions (capacity × `capacity_multiplier`) and the chunk is **redone
from its start state** with the larger list, so no step ever uses forces from an overflowed
list (DESIGN §8). After `max_reallocations` reallocations within one chunk a `RuntimeError`
is raised. A non-finite state after a chunk raises `FloatingPointError`.

**Neighbour lists.** jax-md `Dense` `NeighborList` objects (padded slots hold `n_atoms`)
built by our own cell list (`_cell_list`: sort-based, cell-major structure-of-arrays
distances, prefix sums as small matrix products; 4–6× faster than jax-md's own dense update
on a 2-core CPU, `benchmarks/floors.py`) on fractional coordinates with a minimum-image
metric for orthorhombic and triclinic cells, listing pairs within r_c + skin. The rebuild
decision is ours: rebuild when any atom of any
replica moved more than skin/2 since the last rebuild. Because the decision is a single
`lax.cond` outside the per-replica `vmap`, replicas do not turn it into a rebuild-every-step
`select` (DESIGN §8). jax-md's `MALFORMED_BOX` bit is ignored; only `did_buffer_overflow`
is acted on (cell-list or row overflow).

**Replicas.** Give `init` positions `[replica, atom, 3]` for a batch: all replicas advance
together and the returned `Trajectory` has a leading replica axis on every field
(`jax.tree.map(lambda x: x[r], traj)` picks one).

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
frames would read as one triclinic cell). Gradient strategies do
not support a barostat (the accept/reject step is not differentiable).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from observables import BOLTZMANN, Trajectory, to_internal

from ..potentials._base import AbstractPotential, System, perpendicular_widths
from ._barostat import (
    MonteCarloBarostat,
    box_volume,
    checked_barostat,
    min_width,
    molecule_centres,
)
from ._base import AbstractBackend, AbstractRecorder, Frame, MDState, Positions, Velocities
from ._cell_list import PEC, cell_matrix, grid, grid_fits, neighbor_list_fns
from ._integrators import AbstractIntegrator


@contextlib.contextmanager
def _jaxmd_context():
    """Standard dtype promotion and jax-md's known int64→int32 scatter warning silenced."""
    with jax.numpy_dtype_promotion("standard"), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="scatter inputs have incompatible types", category=FutureWarning
        )
        yield


_log = logging.getLogger(__name__)

__all__ = ["JaxMDBackend", "NeighborListOverflowError", "maxwell_boltzmann"]


class NeighborListOverflowError(RuntimeError):
    """The neighbour list kept overflowing after the allowed number of reallocations."""


def maxwell_boltzmann(key, masses, temperature_k: float, shape, dtype, remove_com=True):
    """Velocities (nm/ps) drawn at `temperature_k` (K), COM momentum removed, rescaled to
    exactly that kinetic temperature (with N_f = 3N − 3 if `remove_com`)."""
    m = jnp.asarray(masses, dtype)[..., None]
    v = jax.random.normal(key, shape, dtype) * jnp.sqrt(BOLTZMANN * temperature_k / m)
    n = shape[-2]
    if remove_com:
        p = jnp.sum(m * v, axis=-2, keepdims=True)
        v = v - p / jnp.sum(m, axis=-2, keepdims=True)
    dof = 3 * n - 3 if remove_com else 3 * n
    ke = 0.5 * jnp.sum(m * v * v, axis=(-2, -1), keepdims=True)
    target = 0.5 * dof * BOLTZMANN * temperature_k
    if temperature_k > 0:
        v = v * jnp.sqrt(target / ke)
    return v


# ------------------------------------------------------------------- neighbour machinery
def _box_key(box: np.ndarray) -> tuple:
    return (box.shape, tuple(np.asarray(box, dtype=float).ravel().tolist()))


@functools.lru_cache(maxsize=32)
def _neighbor_fns(
    box_key: tuple,
    r_list: float,
    capacity_multiplier: float,
    dtype_name: str,
    cell_margin: float = 0.0,
):
    """Neighbour-list functions on fractional coordinates for one (concrete) cell
    (`_cell_list.neighbor_list_fns`; `dtype_name` keys the cache per precision)."""
    shape, flat = box_key
    return neighbor_list_fns(
        np.asarray(flat).reshape(shape), r_list, capacity_multiplier, cell_margin
    )


#: update function of every list we allocated -> (box key, list radius) it was built for.
_LIST_ORIGIN: dict = {}

#: error bits after which a list is incomplete: row or cell overflow, cells too small
_LIST_INVALID = int(PEC.NEIGHBOR_LIST_OVERFLOW | PEC.CELL_LIST_OVERFLOW | PEC.CELL_SIZE_TOO_SMALL)


def _list_invalid(nbrs) -> Array:
    """Whether any of the (batched) lists missed pairs (overflow or cells too small)."""
    return jnp.any((nbrs.error.code & _LIST_INVALID) != 0)


def _fractional(positions: jax.Array, box: jax.Array) -> jax.Array:
    box = box.astype(positions.dtype)
    s = positions / box if box.ndim == 1 else positions @ jnp.linalg.inv(box)
    s = s - jnp.floor(s)
    return jnp.where(s >= 1, jnp.zeros((), s.dtype), s)


@jax.jit
def _update_list(frac, nbrs):
    return nbrs.update(frac)


@jax.jit
def _update_list_in(frac, nbrs, box):
    return nbrs.update(frac, box=box)


def _boxes(state: MDState):
    """The replicas' current boxes under a barostat (host array), else `None`."""
    return None if state.barostat is None else np.asarray(state.barostat.box)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


# ----------------------------------------------------------------------------- backend
class JaxMDBackend(AbstractBackend):
    """Default, differentiable backend (pure JAX; jax-md neighbour lists).

    **Arguments:**
    - `integrator`: `VelocityVerlet`, `Langevin` or `NoseHooverChain` (with its time step);
    - `skin`: neighbour-list skin (length, default 0.1 nm); pairs within r_c + skin are listed;
    - `chunk_steps`: steps per jitted chunk between host-side overflow checks (rounded to a
      multiple of `stride`);
    - `max_reallocations`: reallocations allowed within one chunk before giving up;
    - `capacity_multiplier`: headroom of a (re)allocated neighbour list;
    - `barostat`: a `MonteCarloBarostat` for NPT (needs a thermostatted integrator), or
      `None` (fixed box).
    """

    integrator: AbstractIntegrator
    skin: float = eqx.field(static=True)
    chunk_steps: int = eqx.field(static=True)
    max_reallocations: int = eqx.field(static=True)
    capacity_multiplier: float = eqx.field(static=True)
    barostat: MonteCarloBarostat | None = None

    def __init__(
        self,
        integrator: AbstractIntegrator,
        *,
        skin: Any = None,
        chunk_steps: int = 1000,
        max_reallocations: int = 5,
        capacity_multiplier: float = 1.25,
        barostat: MonteCarloBarostat | None = None,
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

    # ---------------------------------------------------------------- neighbour lists
    def _uses_neighbors(self, potential: AbstractPotential, system: System) -> bool:
        return potential.cutoff is not None and system.box is not None

    def _check_cutoff(self, potential, system):
        if potential.cutoff is None or system.box is None:
            return
        widths = perpendicular_widths(np.asarray(system.box))
        if potential.cutoff > 0.5 * widths.min():
            raise ValueError(
                f"cutoff {potential.cutoff} nm exceeds half the smallest perpendicular width of "
                f"the box ({0.5 * widths.min():.6g} nm; widths {np.round(widths, 6).tolist()} "
                "nm): the minimum-image convention would miss interactions. Use a larger box "
                "(replicate the cell) or a shorter cutoff."
            )

    def _allocate(self, potential, positions, system, at_least=None, boxes=None, grid_boxes=None):
        """Neighbour list(s) for `[replica, atom, 3]` positions with one common capacity
        (neighbour and cell-list capacities no smaller than those of `at_least`).
        `boxes`: the replicas' current boxes under a barostat; the cells are sized, with the
        barostat's margin, for the smallest of `grid_boxes` (default: of `boxes`)."""
        if boxes is None:
            box = np.asarray(system.box)
            margin = 0.0
        else:
            boxes = np.asarray(boxes)
            sizing = boxes if grid_boxes is None else np.asarray(grid_boxes)
            box = sizing[int(np.argmin(np.asarray(jax.vmap(box_volume)(jnp.asarray(sizing)))))]
            margin = self.barostat.cell_margin
        r_list = float(potential.cutoff) + self.skin
        fns = _neighbor_fns(
            _box_key(box),
            r_list,
            self.capacity_multiplier,
            jnp.dtype(positions.dtype).name,
            margin,
        )
        if boxes is None:
            frac = _fractional(positions, jnp.asarray(box))
        else:
            frac = jax.vmap(_fractional)(positions, jnp.asarray(boxes))
        with _jaxmd_context():
            lists = [fns.allocate(frac[r]) for r in range(len(frac))]
        if at_least is not None:
            lists.append(at_least)
        cap = max(n.max_occupancy for n in lists)
        caps = [n.cell_list_capacity for n in lists if n.cell_list_capacity is not None]
        cl_cap = max(caps) if caps else None
        template = dataclasses.replace(lists[0], max_occupancy=cap, cell_list_capacity=cl_cap)
        _LIST_ORIGIN[template.update_fn] = (_box_key(box), r_list, grid(box, r_list, margin))
        with _jaxmd_context():
            if boxes is None:
                return _stack([_update_list(frac[r], template) for r in range(len(frac))])
            return _stack(
                [
                    _update_list_in(frac[r], template, jnp.asarray(boxes[r]))
                    for r in range(len(frac))
                ]
            )

    def _grown_template(
        self,
        potential,
        system,
        old,
        failed_positions,
        boxes=None,
        grid_boxes=None,
        overflowed=None,
    ):
        """Capacity for a list that overflowed: allocated from the post-overflow positions
        (the configuration that did not fit, `[replica, atom, 3]`) and at least
        (`capacity_multiplier` + 0.25) × the old capacity, so a system that keeps compressing
        is caught up with geometrically. `old` is the overflowed list, batched or not (only
        its capacities are read); returns a template for `_allocate(..., at_least=...)`.
        `overflowed` (error bits): grow geometrically only the capacity that overflowed (a
        list redone because a barostat shrank the box below its cells needs new cells, not
        longer rows); `None` grows both. `boxes`, `grid_boxes`: as in `_allocate`."""
        grown = _first(
            self._allocate(potential, failed_positions, system, boxes=boxes, grid_boxes=grid_boxes)
        )
        grow = self.capacity_multiplier + 0.25
        rows = overflowed is None or bool(overflowed & PEC.NEIGHBOR_LIST_OVERFLOW)
        cells = overflowed is None or bool(overflowed & PEC.CELL_LIST_OVERFLOW)
        cl_caps = [c for c in (grown.cell_list_capacity, old.cell_list_capacity) if c]
        return dataclasses.replace(
            grown,
            max_occupancy=min(
                system.n_atoms - 1,
                max(grown.max_occupancy, int(np.ceil(old.max_occupancy * (grow if rows else 1)))),
            ),
            cell_list_capacity=(
                int(np.ceil(max(cl_caps) * (grow if cells else 1))) if cl_caps else None
            ),
        )

    def _list_matches(self, potential, system, nbrs, boxes=None) -> bool:
        """Was `nbrs` built for this box and cutoff + skin? (a stale list is rebuilt).
        Under a barostat (`boxes`, per replica): for this cutoff + skin, with cells that
        still fit every replica's box."""
        origin = _LIST_ORIGIN.get(nbrs.update_fn)
        r_list = float(potential.cutoff) + self.skin
        if origin is None or origin[1] != r_list:
            return False
        if boxes is None:
            return origin[0] == _box_key(np.asarray(system.box))
        return all(bool(grid_fits(origin[2], jnp.asarray(b))) for b in np.asarray(boxes))

    def _ensure_list(self, potential, system, state, allocate=None):
        """`state` (batched) with a neighbour list built for this box and cutoff + skin: a
        missing or stale list is allocated afresh (`allocate`, default `_allocate`) and the
        forces recomputed."""
        if not self._uses_neighbors(potential, system):
            return state
        boxes = _boxes(state)
        if state.neighbors is not None and self._list_matches(
            potential, system, state.neighbors, boxes
        ):
            return state
        allocate = self._allocate if allocate is None else allocate
        if boxes is None:
            nbrs = allocate(potential, state.positions, system)
        else:
            nbrs = allocate(potential, state.positions, system, boxes=boxes)
        state = eqx.tree_at(lambda s: s.neighbors, state, nbrs, is_leaf=lambda x: x is None)
        return _refresh_jit(potential, system, state, self.skin, True)

    def _checked_chunk(
        self,
        potential,
        system,
        start,
        key,
        record,
        n_frames,
        stride,
        *,
        allocate=None,
        gather=np.asarray,
        what="chunk",
    ):
        """`n_frames · stride` steps from the batched `start` with `_run_chunk`; on
        neighbour-list overflow (any replica) the list is reallocated from the post-overflow
        positions and the chunk redone from `start`, at most `max_reallocations` times; a
        non-finite state raises. `allocate` / `gather` let a sharded backend allocate on the
        whole batch. Returns `(final_state, frames)`."""
        allocate = self._allocate if allocate is None else allocate
        for attempt in range(self.max_reallocations + 1):
            new, frames = _run_chunk(
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
            overflow, finite = _health(new)
            if not bool(overflow):
                break
            if attempt == self.max_reallocations:
                raise NeighborListOverflowError(
                    f"{what}: neighbour list still overflows after {self.max_reallocations} "
                    f"reallocations from step {int(start.step)}; the system is probably "
                    "collapsing (check the time step and potential) or raise "
                    "max_reallocations / capacity_multiplier."
                )
            old = start.neighbors
            if start.barostat is None:
                grown = self._grown_template(potential, system, old, gather(new.positions))
                fresh = allocate(potential, start.positions, system, at_least=grown)
            else:
                # cells sized for the smallest box seen (start, frames, end), shrunk by the
                # largest trial move, so that trial boxes fit the new cells as well
                boxes = np.concatenate([gather(new.barostat.box), gather(start.barostat.box)])
                seen = gather(frames["box"]).reshape(-1, 3, 3)  # recorded as cell matrices
                if boxes.ndim == 2:  # orthorhombic edges
                    seen = np.diagonal(seen, axis1=1, axis2=2)
                shrink = np.exp(-np.max(gather(start.barostat.log_step)) / 3)
                seen = np.concatenate([boxes, seen]) * shrink
                grown = self._grown_template(
                    potential,
                    system,
                    old,
                    np.concatenate([gather(new.positions), gather(start.positions)]),
                    boxes=boxes,
                    grid_boxes=seen,
                    overflowed=int(np.bitwise_or.reduce(gather(new.neighbors.error.code).ravel())),
                )
                fresh = allocate(
                    potential,
                    start.positions,
                    system,
                    at_least=grown,
                    boxes=_boxes(start),
                    grid_boxes=seen,
                )
            _log.info(
                "%s: neighbour list overflow from step %d: capacity %d -> %d, redoing it",
                what,
                int(start.step),
                old.max_occupancy,
                fresh.max_occupancy,
            )
            start = eqx.tree_at(lambda s: s.neighbors, start, fresh)
            start = _refresh_jit(potential, system, start, self.skin, True)
        if not bool(finite):
            raise FloatingPointError(
                f"{what}: non-finite positions/velocities between steps {int(start.step)} and "
                f"{int(new.step)}: the integration blew up (time step too large, overlapping "
                "atoms or a potential without a repulsive core?)"
            )
        return new, frames

    def _sample_chunks(
        self,
        potential,
        system,
        state,
        key,
        record,
        n_steps,
        stride,
        *,
        allocate=None,
        gather=np.asarray,
    ):
        """The body of `sample` on a batched state: a list ensured, then chunks of
        `chunk_steps` (`_checked_chunk`). Returns `(final_state, signals)` with the
        signals frame-major."""
        st = self._ensure_list(potential, system, state, allocate)
        chunk = max(stride, (self.chunk_steps // stride) * stride)
        recorded: list[dict] = []
        done = 0
        while done < n_steps:
            n_chunk = min(chunk, n_steps - done)
            start = st
            st, frames = self._checked_chunk(
                potential,
                system,
                st,
                key,
                record,
                n_chunk // stride,
                stride,
                allocate=allocate,
                gather=gather,
            )
            if self.barostat is not None:
                st = eqx.tree_at(
                    lambda s: s.barostat, st, self.barostat.adapted(st.barostat, start.barostat)
                )
            recorded.append(frames)
            done += n_chunk
        fields = [r.field for r in record] + (["box"] if self.barostat is not None else [])
        return st, {f: jnp.concatenate([c[f] for c in recorded], axis=0) for f in fields}

    # ------------------------------------------------------------------------- init
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
        """Starting state from positions (length quantity, `[atom, 3]` or
        `[replica, atom, 3]`) and velocities (velocity quantity) or a `temperature` (K) for
        Maxwell–Boltzmann velocities (needs `key`); neither: at rest.

        `neighbor_capacity`: allocate the neighbour list with at least this many slots per
        atom (keeps array shapes, hence compiled code, stable across repeated `init` calls,
        as in a fit)."""
        pos = jnp.asarray(to_internal(positions, "length", "positions"))
        if not jnp.issubdtype(pos.dtype, jnp.floating):
            pos = pos.astype(jnp.result_type(float))
        if pos.ndim not in (2, 3) or pos.shape[-1] != 3:
            raise ValueError(f"positions must be [atom, 3] or [replica, atom, 3], got {pos.shape}")
        if pos.shape[-2] != system.n_atoms:
            raise ValueError(
                f"positions have {pos.shape[-2]} atoms but the system has {system.n_atoms}"
            )
        if not bool(jnp.all(jnp.isfinite(pos))):
            bad = np.argwhere(~np.isfinite(np.asarray(pos)))[0].tolist()
            raise ValueError(f"positions contain non-finite values (first at index {bad})")
        if np.any(np.asarray(system.masses) <= 0):
            raise ValueError("all masses must be positive")
        self._check_cutoff(potential, system)
        batched = pos.ndim == 3
        pos_b = pos if batched else pos[None]
        dtype = pos.dtype
        if velocities is not None:
            vel = jnp.asarray(to_internal(velocities, "velocity", "velocities"), dtype)
            vel_b = jnp.broadcast_to(vel if batched or vel.ndim == 3 else vel[None], pos_b.shape)
        elif temperature is not None:
            t = float(to_internal(temperature, "temperature", "temperature"))
            if key is None:
                raise ValueError("init(temperature=...) needs a PRNG key for the velocities")
            vel_b = maxwell_boltzmann(key, system.masses, t, pos_b.shape, dtype)
        else:
            vel_b = jnp.zeros_like(pos_b)
        if not bool(jnp.all(jnp.isfinite(vel_b))):
            raise ValueError("velocities contain non-finite values")
        barostat, boxes = None, None
        if self.barostat is not None:
            if system.box is None:
                raise ValueError("a barostat needs a periodic system (system.box is None)")
            self.barostat.molecular(system)  # raises for molecular scaling without topology
            barostat = self.barostat.init_state(system.box, pos_b.shape[0], dtype)
            boxes = np.asarray(barostat.box)
        nbrs = (
            self._allocate(potential, pos_b, system, boxes=boxes)
            if self._uses_neighbors(potential, system)
            else None
        )
        if nbrs is not None and neighbor_capacity is not None:
            wanted = min(int(neighbor_capacity), system.n_atoms - 1)
            if _first(nbrs).max_occupancy < wanted:
                template = dataclasses.replace(_first(nbrs), max_occupancy=wanted)
                nbrs = self._allocate(potential, pos_b, system, at_least=template, boxes=boxes)
        n_dof = 3 * system.n_atoms - 3
        state = MDState(
            positions=pos_b,
            velocities=vel_b,
            forces=jnp.zeros_like(pos_b),
            potential_energy=jnp.zeros(pos_b.shape[0], dtype),
            thermostat=self.integrator.init_thermostat(pos_b, system.masses, n_dof),
            neighbors=nbrs,
            reference_positions=pos_b,
            step=jnp.zeros((), jnp.int32),
            barostat=barostat,
        )
        state = _refresh_jit(potential, system, state, self.skin, True)
        return state if batched else _unbatch(state)

    # ------------------------------------------------------------------------ sample
    def sample(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: Any,
        n_steps: int,
        *,
        stride: int = 1,
        record: tuple[AbstractRecorder, ...] | None = None,
    ) -> tuple[Trajectory, MDState]:
        """Run `n_steps` steps recording every `stride` steps.

        **Arguments:** `record`: recorder objects (default `(Positions(), Velocities())`);
        `n_steps` must be a multiple of `stride`.

        **Returns:** `(trajectory, final_state)`; see the module docstring for frames and
        replicas.
        """
        record, fields, n_steps, stride = _sample_arguments(record, n_steps, stride)
        self._check_cutoff(potential, system)
        batched = state.batched
        state = self._with_barostat_state(system, state if batched else _batch(state))
        st, signals = self._sample_chunks(potential, system, state, key, record, n_steps, stride)
        traj = self._trajectory(signals, system, stride, batched)
        return traj, (st if batched else _unbatch(st))

    def _with_barostat_state(self, system, state: MDState) -> MDState:
        """A batched state checked against this backend's barostat: a fixed-box state gets
        a fresh `BarostatState` at `system.box`; an NPT state needs a barostat."""
        if self.barostat is None and state.barostat is not None:
            raise ValueError(
                "this state comes from an NPT run (state.barostat is set) but the backend has "
                "no barostat. To continue at the final box: system = eqx.tree_at(lambda s: "
                "s.box, system, state.barostat.box[0]) (for replica 0), then backend.init(...) "
                "with state.positions and state.velocities."
            )
        if self.barostat is not None and state.barostat is None:
            if system.box is None:
                raise ValueError("a barostat needs a periodic system (system.box is None)")
            self.barostat.molecular(system)
            bs = self.barostat.init_state(
                system.box, state.positions.shape[0], state.positions.dtype
            )
            state = eqx.tree_at(lambda s: s.barostat, state, bs, is_leaf=lambda x: x is None)
        return state

    def run(
        self,
        potential: AbstractPotential,
        system: System,
        state: MDState,
        key: Any,
        n_steps: int,
        *,
        stride: int = 1,
        record: tuple[AbstractRecorder, ...] | None = None,
        checkpoint_blocks: tuple[int, ...] = (),
    ) -> tuple[Trajectory, MDState, Array]:
        """Pure, traceable counterpart of `sample` (for `jit`, `grad`, `vmap`, checkpointing).

        Runs `n_steps` with the state's neighbour-list capacity as it is — no host-side
        checks, no reallocation — and returns `(trajectory, final_state, overflowed)`, where
        `overflowed` (bool array) says whether the list overflowed at any step; the results
        are then invalid and the caller must reallocate (e.g. via `sample`) and rerun. Under
        `jax.vmap` the neighbour-rebuild `lax.cond` becomes a `select` (rebuild every step:
        correct but slower); prefer batched states (`init` with `[replica, atom, 3]`).

        `checkpoint_blocks` (frames, outermost first; default `()`: no checkpointing) splits
        the scan over frames into blocks of that many frames, each wrapped in
        `jax.checkpoint`, nested for several entries (e.g. `(100, 10)`: blocks of 100
        frames made of checkpointed sub-blocks of 10). Reverse-mode differentiation then
        stores only the carry (state and neighbour list) at block boundaries and recomputes
        each block's steps during the backward pass: memory ~ n_frames/b + b·stride steps
        for one level. The forward values are identical to the unblocked scan.
        """
        record = (Positions(), Velocities()) if record is None else tuple(record)
        n_steps, stride = int(n_steps), int(stride)
        if stride < 1 or n_steps < stride or n_steps % stride:
            raise ValueError(
                f"n_steps ({n_steps}) must be a positive multiple of stride ({stride})"
            )
        checkpoint_blocks = tuple(int(b) for b in checkpoint_blocks)
        if any(b < 1 for b in checkpoint_blocks):
            raise ValueError(
                f"checkpoint_blocks must be positive frame counts, got {checkpoint_blocks}"
            )
        batched = state.batched
        st = self._with_barostat_state(system, state if batched else _batch(state))
        new, frames = _run_chunk(
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
        if new.neighbors is None:
            overflowed = jnp.zeros((), bool)
        else:
            overflowed = _list_invalid(new.neighbors)
        traj = self._trajectory(frames, system, stride, batched)
        return traj, (new if batched else _unbatch(new)), overflowed

    def _trajectory(self, signals, system, stride, batched) -> Trajectory:
        signals = {f: jnp.swapaxes(v, 0, 1) for f, v in signals.items()}  # replica first
        dt = self.integrator.timestep * stride

        def build(sig):
            sig = dict(sig)
            positions = sig.pop("positions")
            return Trajectory.from_internal(
                positions,
                box=sig.pop("box", system.box),
                timestep=jnp.asarray(dt, positions.dtype),
                masses=system.masses,
                species=system.species,
                charges=system.charges,
                species_names=system.species_names,
                **sig,
            )

        if batched:
            return jax.vmap(build)(signals)
        return build({f: v[0] for f, v in signals.items()})


@eqx.filter_jit
def _health(state: MDState) -> tuple[Array, Array]:
    """(any replica's neighbour list overflowed, all positions and velocities finite) as
    scalars; on sharded input they are all-reduced, hence readable on every host."""
    if state.neighbors is None:
        overflow = jnp.zeros((), bool)
    else:
        overflow = _list_invalid(state.neighbors)
    finite = jnp.all(jnp.isfinite(state.positions)) & jnp.all(jnp.isfinite(state.velocities))
    return overflow, finite


def _sample_arguments(record, n_steps, stride):
    """Checked `(record, fields, n_steps, stride)` of a `sample` call."""
    record = (Positions(), Velocities()) if record is None else tuple(record)
    fields = [r.field for r in record]
    if "positions" not in fields:
        raise ValueError("record must include Positions() (a Trajectory needs positions)")
    if len(set(fields)) != len(fields):
        raise ValueError(f"two recorders fill the same Trajectory field: {fields}")
    n_steps, stride = int(n_steps), int(stride)
    if stride < 1 or n_steps < stride or n_steps % stride:
        raise ValueError(f"n_steps ({n_steps}) must be a positive multiple of stride ({stride})")
    return record, fields, n_steps, stride


def _first(nbrs):
    return jax.tree.map(lambda x: x[0], nbrs)


def _batch(state: MDState) -> MDState:
    return _map_state(state, lambda x: x[None])


def _unbatch(state: MDState) -> MDState:
    return _map_state(state, lambda x: x[0])


def _map_state(state: MDState, f) -> MDState:
    step = state.step
    mapped = jax.tree.map(
        f, eqx.tree_at(lambda s: s.step, state, None, is_leaf=lambda x: x is None)
    )
    return eqx.tree_at(lambda s: s.step, mapped, step, is_leaf=lambda x: x is None)


# --------------------------------------------------------------------- jitted kernels
def _rebuilt_lists(positions, nbrs, box, boxes=None):
    """The batched lists `nbrs` rebuilt at batched positions `[replica, atom, 3]`, in `box`
    or, under a barostat, in each replica's own box (`boxes`)."""
    with _jaxmd_context():
        if boxes is None:
            frac = _fractional(positions, box)
            return jax.vmap(lambda s, n: n.update(s))(frac, nbrs)
        return jax.vmap(lambda p, n, b: n.update(_fractional(p, b), box=b))(positions, nbrs, boxes)


def _checked_lists(positions, nbrs, ref, box, skin: float, force=False, boxes=None):
    """`(nbrs, ref)`: the batched lists `nbrs` (built at `ref`), rebuilt at `positions`
    when any atom of any replica moved more than skin/2 since `ref`, or when `force`. The
    one rebuild rule of the forward run, the adjoint's backward pass and the recorders.
    `boxes`: per-replica boxes under a barostat."""
    if nbrs is None:
        return nbrs, ref
    if force:
        return _rebuilt_lists(positions, nbrs, box, boxes), positions
    moved = jnp.sum((positions - ref) ** 2, axis=-1)
    need = jnp.max(moved) > (0.5 * skin) ** 2
    return jax.lax.cond(
        need,
        lambda a: (_rebuilt_lists(a[0], a[1], box, boxes), a[0]),
        lambda a: (a[1], a[2]),
        (positions, nbrs, ref),
    )


def _in_box(system: System, box) -> System:
    """`system` with another box (a replica's current box under a barostat)."""
    return system if box is None else eqx.tree_at(lambda s: s.box, system, box)


def _refresh(potential, system, state: MDState, skin: float, force_rebuild=False) -> MDState:
    """Energies and forces at `state.positions` (batched), rebuilding the neighbour list when
    any atom of any replica moved more than skin/2 since the last rebuild. Under a
    barostat each replica is evaluated in its own box (`state.barostat.box`)."""
    boxes = None if state.barostat is None else state.barostat.box
    nbrs, ref = _checked_lists(
        state.positions,
        state.neighbors,
        state.reference_positions,
        system.box,
        skin,
        force_rebuild,
        boxes,
    )

    def one(pos, nb, box):
        return jax.value_and_grad(potential.energy)(pos, _in_box(system, box), nb)

    if boxes is None:
        if nbrs is None:
            energy, grad = jax.vmap(lambda p: one(p, None, None))(state.positions)
        else:
            energy, grad = jax.vmap(lambda p, nb: one(p, nb, None))(state.positions, nbrs)
    elif nbrs is None:
        energy, grad = jax.vmap(lambda p, b: one(p, None, b))(state.positions, boxes)
    else:
        energy, grad = jax.vmap(one)(state.positions, nbrs, boxes)
    return eqx.tree_at(
        lambda s: (s.potential_energy, s.forces, s.neighbors, s.reference_positions),
        state,
        (energy, -grad, nbrs, ref),
        is_leaf=lambda x: x is None,
    )


_refresh_jit = eqx.filter_jit(_refresh)


def _scan_blocks(body, carry, length: int, blocks: tuple[int, ...]):
    """`lax.scan(body, carry, None, length)` split into blocks of `blocks[0]` iterations,
    each under `jax.checkpoint`, recursively for the remaining entries of `blocks` (a
    remainder shorter than a block is scanned on its own). `()` is the plain scan."""
    blocks = tuple(b for b in blocks if b < length)
    if not blocks:
        return jax.lax.scan(body, carry, None, length=length)
    b, inner = blocks[0], blocks[1:]
    n_full, rest = divmod(length, b)

    @functools.partial(jax.checkpoint, prevent_cse=False)
    def block(c, _):
        return _scan_blocks(body, c, b, inner)

    carry, ys = jax.lax.scan(block, carry, None, length=n_full)
    ys = jax.tree.map(lambda y: y.reshape((n_full * b,) + y.shape[2:]), ys)
    if rest:
        carry, tail = _scan_blocks(body, carry, rest, inner)
        ys = jax.tree.map(lambda y, t: jnp.concatenate([y, t]), ys, tail)
    return carry, ys


def _volume_move(barostat, integrator, potential, system, state, key, skin):
    """One Monte Carlo volume move of every replica (`_barostat` module docstring)."""
    bs = state.barostat
    pos = state.positions
    dtype = pos.dtype
    n_rep = pos.shape[0]
    k_move, k_accept = jax.random.split(key)
    log_ratio = jax.random.uniform(k_move, (n_rep,), dtype, -1.0, 1.0) * bs.log_step
    scale = jnp.exp(log_ratio / 3)
    box_scale = scale.reshape((n_rep,) + (1,) * (bs.box.ndim - 1))
    new_box = bs.box * box_scale
    if barostat.molecular(system):
        centres, n_units = jax.vmap(lambda p, b: molecule_centres(p, system, b))(pos, bs.box)
        new_pos = pos + (scale - 1)[:, None, None] * centres
    else:
        new_pos = pos * scale[:, None, None]
        n_units = jnp.full((n_rep,), pos.shape[-2])
    trial = eqx.tree_at(
        lambda s: (s.positions, s.barostat.box), state, (new_pos, new_box.astype(bs.box.dtype))
    )
    trial = _refresh(potential, system, trial, skin, True)
    kt = BOLTZMANN * integrator.temperature
    volume, new_volume = jax.vmap(box_volume)(bs.box), jax.vmap(box_volume)(new_box)
    exponent = (
        -(
            trial.potential_energy
            - state.potential_energy
            + barostat.pressure * (new_volume - volume)
        )
        / kt
        + (n_units + 1).astype(dtype) * log_ratio
    )
    accept = jnp.log(jax.random.uniform(k_accept, (n_rep,), dtype)) < exponent
    if potential.cutoff is not None:  # the minimum image needs r_c <= half the width
        widths = jax.vmap(min_width)(new_box)
        accept = accept & (widths >= 2 * potential.cutoff)

    def pick(new, old):
        if not isinstance(new, jax.Array) or new.ndim == 0 or new.shape[0] != n_rep:
            return old
        return jnp.where(accept.reshape((n_rep,) + (1,) * (new.ndim - 1)), new, old)

    chosen = jax.tree.map(pick, trial, state)  # the scalar step is kept from `state`
    if state.neighbors is not None:  # a trial list that missed pairs invalidates the chunk
        code = chosen.neighbors.error.code | trial.neighbors.error.code
        chosen = eqx.tree_at(lambda s: s.neighbors.error.code, chosen, code)
    stats = chosen.barostat
    return eqx.tree_at(
        lambda s: (s.barostat.attempted, s.barostat.accepted),
        chosen,
        (stats.attempted + 1, stats.accepted + accept.astype(stats.accepted.dtype)),
    )


@eqx.filter_jit
def _run_chunk(
    integrator,
    potential,
    system,
    state,
    key,
    record,
    n_frames,
    stride,
    skin,
    checkpoint_blocks=(),
    barostat=None,
):
    refresh = functools.partial(_refresh, potential, system, skin=skin)
    masses = system.masses
    # Forces of the incoming state may come from other parameters (a fit changes the
    # potential between calls): recompute them so the first half kick is consistent and
    # differentiable in the parameters.
    state = refresh(state)

    def one_step(st, _):
        k = jax.random.fold_in(key, st.step)
        if barostat is None:
            st = integrator.step(st, refresh, masses, k)
        else:
            k, k_volume = jax.random.split(k)
            st = integrator.step(st, refresh, masses, k)
            st = jax.lax.cond(
                (st.step + 1) % barostat.frequency == 0,
                lambda s: _volume_move(barostat, integrator, potential, system, s, k_volume, skin),
                lambda s: s,
                st,
            )
        return eqx.tree_at(lambda s: s.step, st, st.step + 1), None

    def one_frame(st, _):
        st, _ = jax.lax.scan(one_step, st, None, length=stride)

        def rec(pos, vel, frc, epot, nb, box):
            frame = Frame(pos, vel, frc, epot, nb, _in_box(system, box))
            return {r.field: r(frame, potential) for r in record}

        boxes = None if st.barostat is None else st.barostat.box
        if st.neighbors is None:
            out = jax.vmap(lambda p, v, f, e, b: rec(p, v, f, e, None, b))(
                st.positions, st.velocities, st.forces, st.potential_energy, boxes
            )
        else:
            out = jax.vmap(rec)(
                st.positions, st.velocities, st.forces, st.potential_energy, st.neighbors, boxes
            )
        if boxes is not None:  # as [3, 3] rows: a stack of [3] edges can look like one cell
            out["box"] = jax.vmap(cell_matrix)(boxes)
        return st, out

    if not checkpoint_blocks:
        return jax.lax.scan(one_frame, state, None, length=n_frames)
    return _scan_blocks(one_frame, state, n_frames, tuple(checkpoint_blocks))
