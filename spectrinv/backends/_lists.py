"""Neighbour-list management of a `JaxMDBackend` state on the host: allocation for a batch
(gathered from every device, placed on the backend's devices), growth after an overflow,
and the stale-list check before a run."""

from __future__ import annotations

import logging
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._chunk import refresh_jit
from ._neighbors import allocate_lists, first, grown_capacity, list_matches
from ._state import MDState

_log = logging.getLogger("spectrinv.backends._jaxmd")


def uses_neighbors(potential: Any, system: Any) -> bool:
    """Whether a run of `potential` in `system` uses neighbour lists (cutoff and box)."""
    return potential.cutoff is not None and system.box is not None


def boxes_of(state: MDState) -> np.ndarray | None:
    """The replicas' current boxes under a barostat (host array), else `None`."""
    return None if state.barostat is None else np.asarray(state.barostat.box)


def placed(backend: Any, tree: Any, n_replicas: int) -> Any:
    """`tree` placed on the devices of `parallel`; a batch that cannot be split evenly
    (one system, a batch of one) stays on one device."""
    if n_replicas % backend.parallel.n_devices:
        return tree
    return backend.parallel.shard(tree, n_replicas)


def allocate(
    backend: Any,
    potential,
    positions,
    system,
    at_least=None,
    boxes=None,
    grid_boxes=None,
    place=True,
):
    """Lists for `[replica, atom, 3]` positions (gathered from every device and host, so
    all processes compute the same capacity) with one common capacity, at least that of
    `at_least`; placed on the devices of `parallel` when `place`. `boxes`, `grid_boxes`:
    per-replica boxes under a barostat (`allocate_lists`)."""
    n_replicas = positions.shape[0]
    positions = jnp.asarray(backend.parallel.gather(positions))
    nbrs = allocate_lists(
        positions,
        None if system.box is None else np.asarray(system.box),
        float(potential.cutoff) + backend.skin,
        backend.capacity_multiplier,
        at_least=at_least,
        boxes=boxes,
        grid_boxes=grid_boxes,
        cell_margin=0.0 if backend.barostat is None else backend.barostat.cell_margin,
    )
    return placed(backend, nbrs, n_replicas) if place else nbrs


def grown_template(
    backend: Any,
    potential,
    system,
    old,
    failed_positions,
    boxes=None,
    grid_boxes=None,
    overflowed=None,
):
    """A template for `_allocate(at_least=...)` after `old` overflowed: allocated from
    the post-overflow positions, capacity grown geometrically (`grown_capacity`)."""
    grown = first(
        allocate(
            backend,
            potential,
            failed_positions,
            system,
            boxes=boxes,
            grid_boxes=grid_boxes,
            place=False,
        )
    )
    return grown_capacity(
        grown, old, system.n_atoms, backend.capacity_multiplier, overflowed=overflowed
    )


def ensure_list(backend: Any, potential, system, state: MDState) -> MDState:
    """`state` (batched) with a neighbour list built for this box and cutoff + skin: a
    missing or stale list is allocated afresh and the forces recomputed."""
    if not uses_neighbors(potential, system):
        return state
    boxes = boxes_of(state)
    if state.neighbors is not None and list_matches(
        state.neighbors, system.box, float(potential.cutoff) + backend.skin, boxes
    ):
        return state
    nbrs = allocate(backend, potential, state.positions, system, boxes=boxes)
    state = eqx.tree_at(lambda s: s.neighbors, state, nbrs, is_leaf=lambda x: x is None)
    return refresh_jit(potential, system, state, backend.skin, True)


def reallocated(backend: Any, potential, system, start: MDState, new, frames) -> MDState:
    """`start` with a list large enough for the chunk that overflowed from it (`new`:
    its end state, `frames`: its signals), forces refreshed."""
    gather = backend.parallel.gather
    old = start.neighbors
    if start.barostat is None:
        grown = grown_template(backend, potential, system, old, gather(new.positions))
        fresh = allocate(backend, potential, start.positions, system, at_least=grown)
    else:
        # cells sized for the smallest box seen (start, frames, end), shrunk by the
        # largest trial move, so that trial boxes fit the new cells as well
        boxes = np.concatenate([gather(new.barostat.box), gather(start.barostat.box)])
        seen = gather(frames["box"]).reshape(-1, 3, 3)  # recorded as cell matrices
        if boxes.ndim == 2:  # orthorhombic edges
            seen = np.diagonal(seen, axis1=1, axis2=2)
        shrink = np.exp(-np.max(gather(start.barostat.log_step)) / 3)
        seen = np.concatenate([boxes, seen]) * shrink
        grown = grown_template(
            backend,
            potential,
            system,
            old,
            np.concatenate([gather(new.positions), gather(start.positions)]),
            boxes=boxes,
            grid_boxes=seen,
            overflowed=int(np.bitwise_or.reduce(gather(new.neighbors.error.code).ravel())),
        )
        fresh = allocate(
            backend,
            potential,
            start.positions,
            system,
            at_least=grown,
            boxes=boxes_of(start),
            grid_boxes=seen,
        )
    _log.info(
        "neighbour list overflow from step %d: capacity %d -> %d, redoing the chunk",
        int(start.step),
        old.max_occupancy,
        fresh.max_occupancy,
    )
    start = eqx.tree_at(lambda s: s.neighbors, start, fresh)
    return refresh_jit(potential, system, start, backend.skin, True)
