"""Neighbour lists of the JAX engine: allocation, growth after an overflow, the rebuild
rule of a run, and lists for a stack of independent frames.

Lists are jax-md `Dense` `NeighborList` objects (padded slots hold `n_atoms`) built by our
own cell list (`_cell_list`) on fractional coordinates with a minimum-image metric for
orthorhombic and triclinic cells, listing pairs within r_list = r_c + skin. jax-md's
`MALFORMED_BOX` bit is ignored; a list is invalid when a row or the cell list overflowed
or the cells became too small for the box.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ..potentials import AbstractPotential, System, perpendicular_widths
from ._barostat import box_volume
from ._cell_list import PEC, grid, grid_fits, neighbor_list_fns, rounded_capacity

__all__ = ["frame_neighbors"]

#: extra list radius (nm) beyond the cutoff of per-frame lists, so that rounding in the
#: fractional metric cannot drop a pair sitting exactly at the cutoff.
FRAME_LIST_MARGIN = 1e-6

#: update function of every list we allocated -> (box key, list radius, cell grid).
LIST_ORIGIN: dict = {}

#: error bits after which a list is incomplete: row or cell overflow, cells too small
LIST_INVALID = int(PEC.NEIGHBOR_LIST_OVERFLOW | PEC.CELL_LIST_OVERFLOW | PEC.CELL_SIZE_TOO_SMALL)


@contextlib.contextmanager
def jaxmd_context():
    """Standard dtype promotion and jax-md's known int64→int32 scatter warning silenced."""
    with jax.numpy_dtype_promotion("standard"), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="scatter inputs have incompatible types", category=FutureWarning
        )
        yield


def box_key(box: np.ndarray) -> tuple:
    """A hashable key of a concrete box (cache key of the list functions)."""
    return (box.shape, tuple(np.asarray(box, dtype=float).ravel().tolist()))


@functools.lru_cache(maxsize=32)
def neighbor_fns(
    key: tuple,
    r_list: float,
    capacity_multiplier: float,
    dtype_name: str,
    cell_margin: float = 0.0,
):
    """Neighbour-list functions on fractional coordinates for one (concrete) cell
    (`_cell_list.neighbor_list_fns`; `dtype_name` keys the cache per precision)."""
    shape, flat = key
    return neighbor_list_fns(
        np.asarray(flat).reshape(shape), r_list, capacity_multiplier, cell_margin
    )


def list_invalid(nbrs: Any) -> Bool[Array, ""]:
    """Whether any of the (batched) lists missed pairs (overflow or cells too small)."""
    return jnp.any((nbrs.error.code & LIST_INVALID) != 0)


def fractional(
    positions: Float[Array, "*frame atom 3"], box: Float[Array, "3"] | Float[Array, "3 3"]
) -> Float[Array, "*frame atom 3"]:
    """Fractional coordinates in [0, 1) of Cartesian `positions` (nm) in `box` (nm: `[3]`
    edges or `[3, 3]` cell vectors as rows)."""
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


def stack(trees: list) -> Any:
    """Stack pytrees along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def first(nbrs: Any) -> Any:
    """The first list of a batch of lists."""
    return jax.tree.map(lambda x: x[0], nbrs)


# -------------------------------------------------------------------- allocation
def check_cutoff(potential: AbstractPotential, system: System) -> None:
    """Raise a `ValueError` if the cutoff exceeds half the box's smallest width."""
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


def allocate_lists(
    positions: Float[Array, "replica atom 3"],
    box: np.ndarray | None,
    r_list: float,
    capacity_multiplier: float,
    *,
    at_least: Any = None,
    boxes: np.ndarray | None = None,
    grid_boxes: np.ndarray | None = None,
    cell_margin: float = 0.0,
) -> Any:
    """Neighbour lists for `[replica, atom, 3]` positions with one common capacity
    (neighbour and cell-list capacities no smaller than those of `at_least`).
    `boxes`: the replicas' current boxes under a barostat; the cells are then sized, with
    `cell_margin`, for the smallest of `grid_boxes` (default: of `boxes`)."""
    if boxes is None:
        box = np.asarray(box)
        margin = 0.0
    else:
        boxes = np.asarray(boxes)
        sizing = boxes if grid_boxes is None else np.asarray(grid_boxes)
        box = sizing[int(np.argmin(np.asarray(jax.vmap(box_volume)(jnp.asarray(sizing)))))]
        margin = cell_margin
    fns = neighbor_fns(
        box_key(box), r_list, capacity_multiplier, jnp.dtype(positions.dtype).name, margin
    )
    if boxes is None:
        frac = fractional(positions, jnp.asarray(box))
    else:
        frac = jax.vmap(fractional)(positions, jnp.asarray(boxes))
    with jaxmd_context():
        lists = [fns.allocate(frac[r]) for r in range(len(frac))]
    if at_least is not None:
        lists.append(at_least)
    cap = max(n.max_occupancy for n in lists)
    caps = [n.cell_list_capacity for n in lists if n.cell_list_capacity is not None]
    cl_cap = max(caps) if caps else None
    template = dataclasses.replace(lists[0], max_occupancy=cap, cell_list_capacity=cl_cap)
    LIST_ORIGIN[template.update_fn] = (box_key(box), r_list, grid(box, r_list, margin))
    with jaxmd_context():
        if boxes is None:
            return stack([_update_list(frac[r], template) for r in range(len(frac))])
        return stack(
            [_update_list_in(frac[r], template, jnp.asarray(boxes[r])) for r in range(len(frac))]
        )


def grown_capacity(
    grown: Any, old: Any, n_atoms: int, capacity_multiplier: float, overflowed: int | None
) -> Any:
    """Capacity for a list that overflowed: that of `grown` (allocated from the
    configuration that did not fit) and at least (`capacity_multiplier` + 0.25) × the old
    capacity, so a system that keeps compressing is caught up with geometrically.
    `overflowed` (error bits): grow geometrically only the capacity that overflowed (a list
    redone because a barostat shrank the box below its cells needs new cells, not longer
    rows); `None` grows both. Returns a template for `allocate_lists(..., at_least=...)`."""
    grow = capacity_multiplier + 0.25
    rows = overflowed is None or bool(overflowed & PEC.NEIGHBOR_LIST_OVERFLOW)
    cells = overflowed is None or bool(overflowed & PEC.CELL_LIST_OVERFLOW)
    cl_caps = [c for c in (grown.cell_list_capacity, old.cell_list_capacity) if c]
    return dataclasses.replace(
        grown,
        max_occupancy=min(
            n_atoms - 1,
            max(grown.max_occupancy, int(np.ceil(old.max_occupancy * (grow if rows else 1)))),
        ),
        cell_list_capacity=(
            int(np.ceil(max(cl_caps) * (grow if cells else 1))) if cl_caps else None
        ),
    )


def list_matches(nbrs: Any, box: np.ndarray | None, r_list: float, boxes=None) -> bool:
    """Was `nbrs` built for this box and list radius? (a stale list is rebuilt). Under a
    barostat (`boxes`, per replica): for this radius, with cells that still fit every
    replica's box."""
    origin = LIST_ORIGIN.get(nbrs.update_fn)
    if origin is None or origin[1] != r_list:
        return False
    if boxes is None:
        return origin[0] == box_key(np.asarray(box))
    return all(bool(grid_fits(origin[2], jnp.asarray(b))) for b in np.asarray(boxes))


# ------------------------------------------------------------------ rebuild rule
def rebuilt_lists(positions, nbrs, box, boxes=None):
    """The batched lists `nbrs` rebuilt at batched positions `[replica, atom, 3]`, in `box`
    or, under a barostat, in each replica's own box (`boxes`)."""
    with jaxmd_context():
        if boxes is None:
            frac = fractional(positions, box)
            return jax.vmap(lambda s, n: n.update(s))(frac, nbrs)
        return jax.vmap(lambda p, n, b: n.update(fractional(p, b), box=b))(positions, nbrs, boxes)


def checked_lists(positions, nbrs, ref, box, skin: float, force=False, boxes=None):
    """`(nbrs, ref)`: the batched lists `nbrs` (built at `ref`), rebuilt at `positions`
    when any atom of any replica moved more than skin/2 since `ref`, or when `force`. The
    one rebuild rule of the forward run, the adjoint's backward pass and the recorders.
    `boxes`: per-replica boxes under a barostat."""
    if nbrs is None:
        return nbrs, ref
    if force:
        return rebuilt_lists(positions, nbrs, box, boxes), positions
    moved = jnp.sum((positions - ref) ** 2, axis=-1)
    need = jnp.max(moved) > (0.5 * skin) ** 2
    return jax.lax.cond(
        need,
        lambda a: (rebuilt_lists(a[0], a[1], box, boxes), a[0]),
        lambda a: (a[1], a[2]),
        (positions, nbrs, ref),
    )


# ------------------------------------------------------------- per-frame lists
def frame_neighbors(
    potential: AbstractPotential,
    system: System,
    positions: Float[Array, "frame atom 3"],
    *,
    capacity_multiplier: float = 1.25,
    batch_size: int = 32,
    boxes: Any = None,
) -> Any:
    """One jax-md `Dense` neighbour list per frame (stacked on a leading `[frame]` axis) of
    independent configurations `positions` (nm), listing pairs within the potential's
    cutoff (+1e-6 nm against rounding), for evaluating `potential.energy` frame by frame
    (e.g. reweighting). `None` for a potential without cutoff or a non-periodic system (all
    pairs). Capacity: allocated on the first frame, grown by 1.5× until no frame overflows;
    frames are processed `batch_size` at a time. Deterministic: the same frames give the
    same lists. `boxes`: one box per frame (`[frame, ...]`, nm, the shape of `system.box`),
    as recorded under a barostat: each frame's list is built in its own box, on cells sized
    for the narrowest box."""
    if potential.cutoff is None or system.box is None:
        return None
    cutoff = float(potential.cutoff)
    if boxes is not None:
        return _frame_neighbors_in_boxes(
            cutoff, positions, np.asarray(boxes), capacity_multiplier, batch_size
        )
    box = np.asarray(system.box)
    widths = perpendicular_widths(box)
    if cutoff > 0.5 * widths.min():
        raise ValueError(
            f"cutoff {cutoff} nm exceeds half the smallest perpendicular width of the box "
            f"({0.5 * widths.min():.6g} nm); use a larger box or a shorter cutoff"
        )
    fns = neighbor_fns(
        box_key(box),
        cutoff + FRAME_LIST_MARGIN,
        float(capacity_multiplier),
        jnp.dtype(positions.dtype).name,
    )
    frac = fractional(positions, jnp.asarray(box))
    with jaxmd_context():
        # capacities on a coarse ladder: references of similar frames share compiled programs
        template = fns.allocate(frac[0], round_up=True)
    return _grown_until_no_overflow(
        template,
        positions.shape[1],
        lambda t: _update_frames(frac, t, batch_size),
        lambda lists: lists.did_buffer_overflow,
    )


def _grown_until_no_overflow(template, n_atoms, build, overflowed):
    """`build(template)` (the stacked per-frame lists), with the template's capacities grown
    by 1.5× until `overflowed(lists)` is false for every frame (at most 12 times)."""
    for _ in range(12):
        with jaxmd_context():
            lists = build(template)
        if not np.any(np.asarray(overflowed(lists))):
            return lists
        caps = template.cell_list_capacity
        template = dataclasses.replace(
            template,
            max_occupancy=min(n_atoms, rounded_capacity(np.ceil(template.max_occupancy * 1.5))),
            cell_list_capacity=None if caps is None else rounded_capacity(np.ceil(caps * 1.5)),
        )
    raise RuntimeError(
        "could not build neighbour lists for the frames (the capacity kept overflowing after "
        "12 enlargements by 1.5x); are atoms collapsing onto each other?"
    )


def pad_frames(tree: Any, n_frames: int, batch_size: int) -> Any:
    """Pad the leading frame axis to a multiple of `batch_size` (repeating the last frame)
    and reshape to `[batch, batch_size, ...]`."""
    n_batches = -(-n_frames // batch_size)
    pad = n_batches * batch_size - n_frames

    def one(x):
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
        return x.reshape((n_batches, batch_size) + x.shape[1:])

    return jax.tree.map(one, tree)


def unpad_frames(tree: Any, n_frames: int) -> Any:
    """Inverse of `pad_frames`: `[batch, batch_size, ...]` back to the first `n_frames`."""
    return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[:n_frames], tree)


def _frame_neighbors_in_boxes(cutoff, positions, boxes, capacity_multiplier, batch_size):
    """`frame_neighbors` with one box per frame (`boxes` `[frame, 3]` or `[frame, 3, 3]`)."""
    widths = np.stack([perpendicular_widths(b) for b in boxes])
    narrow = int(np.argmin(widths.min(axis=1)))
    if cutoff > 0.5 * widths[narrow].min():
        raise ValueError(
            f"cutoff {cutoff} nm exceeds half the smallest perpendicular width of the box of "
            f"frame {narrow} ({0.5 * widths[narrow].min():.6g} nm); use a larger system or a "
            "shorter cutoff"
        )
    fns = neighbor_fns(
        box_key(boxes[narrow]),
        cutoff + FRAME_LIST_MARGIN,
        float(capacity_multiplier),
        jnp.dtype(positions.dtype).name,
    )
    box_arr = jnp.asarray(boxes, positions.dtype)
    frac = jax.vmap(fractional)(positions, box_arr)
    with jaxmd_context():
        template = fns.allocate(frac[0], round_up=True)
    return _grown_until_no_overflow(
        template,
        positions.shape[1],
        lambda t: _update_frames_in(frac, box_arr, t, batch_size),
        list_invalid_each,
    )


def list_invalid_each(nbrs: Any) -> Bool[Array, " frame"]:
    """Per list of a stack: whether it missed pairs (overflow or cells too small)."""
    return (nbrs.error.code & LIST_INVALID) != 0


@eqx.filter_jit
def _update_frames_in(frac, boxes, template, batch_size):
    n = frac.shape[0]
    size = min(batch_size, n)
    one = jax.vmap(lambda s, b: template.update(s, box=b))
    out = jax.lax.map(lambda args: one(*args), pad_frames((frac, boxes), n, size))
    return unpad_frames(out, n)


@eqx.filter_jit
def _update_frames(frac, template, batch_size):
    n = frac.shape[0]
    size = min(batch_size, n)
    out = jax.lax.map(jax.vmap(template.update), pad_frames(frac, n, size))
    return unpad_frames(out, n)
