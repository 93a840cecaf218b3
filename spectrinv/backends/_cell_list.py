"""Dense neighbour lists from a cell list in fractional coordinates, built for XLA on CPU
and GPU: sort-based cell assignment, distances in cell-major structure-of-arrays layout,
compaction by a blocked prefix sum done as small matrix products.

Why not jax-md's `partition.neighbor_list`: on a CPU its dense update spends most of its time
in two places that this builder avoids. (1) It gathers a `[atom, candidate, 3]` array and
computes displacements with the xyz axis innermost, which XLA does not vectorise; here the
27 neighbour cells of each cell are compared with that cell's atoms as `[cell, slot,
candidate]` arrays, one coordinate at a time (about ten times faster per candidate in our
single-core measurements). (2) Its compaction takes a cumulative sum along each row, which
XLA lowers to an associative scan; here the prefix sum is split into the candidate blocks of
the neighbour cells and done as two small matrix products. End to end: 4–6× faster than
jax-md's dense update and 5–7× faster than the jax-md-based lists this package used before
(`benchmarks/performance/floors.py`, "neighbour rebuild" rows; docs/benchmarks.md).

The lists are returned as jax-md `NeighborList` objects (`Dense` format: `idx[i]` holds the
neighbours of atom i, padded with `n_atoms`), so every consumer of a jax-md list (potentials,
the backend's overflow handling, `dataclasses.replace` of capacities) works unchanged.
`cell_list_capacity` is the number of slots per cell and `max_occupancy` the row length; the
error code flags `CELL_LIST_OVERFLOW` / `NEIGHBOR_LIST_OVERFLOW` when either is exceeded
(the list is then incomplete and the backend reallocates). As in jax-md the flags are sticky:
an update ORs its flags into those of the list it updates, so an overflow at any rebuild
during a run is still visible at its end.

Cells: `floor(w_d / (r_list (1 + cell_margin)))` cells along each cell vector, w_d the
perpendicular width of the box, so every pair within r_list lies in the same or adjacent
cells (mod the number of cells; the offsets are de-duplicated when there are fewer than
three cells along a vector). Distances use the minimum image in fractional coordinates,
s − round(s), mapped to Cartesian by the cell matrix (rows are the cell vectors).

**Changing boxes** (NPT): `update(frac, nbrs, box=...)` builds the list in another box of
the same shape (same sparsity pattern of the cell matrix) with the grid of the allocation
box. The grid stays valid while every direction with three or more cells keeps cells at
least r_list wide; `cell_margin` leaves room for the box to shrink by that fraction. When a
box makes the grid invalid the update sets `CELL_SIZE_TOO_SMALL` (the list may miss pairs)
and the backend reallocates for the new box, as for an overflow.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import observables as ob

from ..potentials import perpendicular_widths

with jax.numpy_dtype_promotion("standard"):
    from jax_md import partition

PEC = partition.PartitionErrorCode


class Grid(NamedTuple):
    """Static description of the cells of one box and list radius."""

    shape: tuple[int, int, int]  # cells along each cell vector
    neighbours: np.ndarray  # [cell, neighbour cell] flat indices (incl. the cell itself)
    cell: np.ndarray  # [3, 3] cell vectors as rows (nm)
    orthorhombic: bool
    r_list: float


def grid(box: np.ndarray, r_list: float, cell_margin: float = 0.0) -> Grid:
    """Cells of edge ≥ `r_list (1 + cell_margin)` for a concrete box (`[3]` edges or
    `[3, 3]` rows)."""
    box = np.asarray(box, dtype=float)
    cell = np.diag(box) if box.ndim == 1 else box
    orthorhombic = box.ndim == 1 or bool(np.all(cell == np.diag(np.diag(cell))))
    edge = r_list * (1.0 + cell_margin)
    shape = tuple(int(n) for n in np.maximum(1, np.floor(perpendicular_widths(box) / edge)))
    offsets = [np.unique(np.array([-1, 0, 1]) % n) for n in shape]
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    shifts = np.array(list(itertools.product(*offsets)))
    near = (index[:, None, :] + shifts[None]) % np.array(shape)
    flat = (near[..., 0] * shape[1] + near[..., 1]) * shape[2] + near[..., 2]
    return Grid(shape, flat.astype(np.int32), cell, orthorhombic, float(r_list))


def _cell_index(frac: jax.Array, g: Grid) -> jax.Array:
    """Flat cell index of every atom."""
    shape = jnp.asarray(g.shape, jnp.int32)
    ci = jnp.clip(jnp.floor(frac * shape.astype(frac.dtype)).astype(jnp.int32), 0, shape - 1)
    return (ci[:, 0] * g.shape[1] + ci[:, 1]) * g.shape[2] + ci[:, 2]


def _cells(frac: jax.Array, g: Grid, capacity: int):
    """Atoms sorted into cells: `[cell, slot]` atom indices (padded with n), the cell of
    every atom, the sort order, first sorted position and count of every cell."""
    n = frac.shape[0]
    n_cells = g.neighbours.shape[0]
    c = _cell_index(frac, g)
    order = jnp.argsort(c).astype(jnp.int32)
    sorted_cells = c[order]
    ids = jnp.arange(n_cells, dtype=jnp.int32)
    starts = jnp.searchsorted(sorted_cells, ids, side="left").astype(jnp.int32)
    counts = jnp.searchsorted(sorted_cells, ids, side="right").astype(jnp.int32) - starts
    slot = jnp.arange(capacity, dtype=jnp.int32)
    valid = slot[None, :] < counts[:, None]
    atoms = jnp.where(valid, order[jnp.minimum(starts[:, None] + slot[None, :], n - 1)], n)
    return atoms, valid, order, sorted_cells, starts, counts


def _pair_r2(frac: jax.Array, atoms: jax.Array, g: Grid, cell: jax.Array):
    """Squared minimum-image distances `[cell, slot, candidate]` between the atoms of each
    cell and those of its neighbour cells, and the candidate indices `[cell, candidate]`.
    `cell`: `[3, 3]` cell vectors (rows) with the zero pattern of `g.cell`."""
    n_cells, capacity = atoms.shape
    pad = jnp.concatenate([frac, jnp.full((1, 3), 0.5, frac.dtype)])
    table = jnp.asarray(g.neighbours)
    candidates = atoms[table].reshape(n_cells, -1)
    own = [pad[atoms, a] for a in range(3)]  # [cell, slot] per fractional axis
    other = [pad[candidates, a] for a in range(3)]  # [cell, candidate]
    ds = []
    for a in range(3):
        d = other[a][:, None, :] - own[a][:, :, None]
        ds.append(d - jnp.floor(d + 0.5))
    pattern = np.asarray(g.cell) != 0
    h = cell.astype(frac.dtype)
    r2 = jnp.zeros(ds[0].shape, frac.dtype)
    for x in range(3):
        if g.orthorhombic:
            comp = ds[x] * h[x, x]
        else:
            comp = sum(ds[a] * h[a, x] for a in range(3) if pattern[a, x])
        r2 = r2 + comp * comp
    return r2, candidates


def _compact(mask: jax.Array, candidates: jax.Array, n_blocks: int, width: int, n: int):
    """Rows of `mask` `[row, n_blocks * width]` compacted to the indices of their true
    entries, in order, `[row, width_out]` padded with n; returns (idx, count per row)."""
    rows = mask.shape[0]
    m = mask.reshape(rows, n_blocks, -1).astype(jnp.float32)
    block = m.shape[-1]
    inclusive = m @ jnp.triu(jnp.ones((block, block), jnp.float32))  # within each block
    totals = inclusive[..., -1]
    before = totals @ jnp.triu(jnp.ones((n_blocks, n_blocks), jnp.float32), 1)  # exclusive
    slot = (before[..., None] + inclusive).astype(jnp.int32).reshape(rows, -1) - 1
    count = (before[:, -1] + totals[:, -1]).astype(jnp.int32)
    flat_pos = jnp.arange(slot.size, dtype=jnp.int32).reshape(slot.shape)
    row_base = (jnp.arange(rows, dtype=jnp.int32) * width)[:, None]
    # dropped entries get distinct out-of-range targets, so the indices stay unique
    target = jnp.where(mask & (slot < width), row_base + slot, rows * width + flat_pos)
    values = jnp.broadcast_to(candidates, slot.shape)
    idx = jnp.full((rows * width,), n, jnp.int32)
    idx = idx.at[target.ravel()].set(values.ravel(), mode="drop", unique_indices=True)
    return idx.reshape(rows, width), count


def _build(frac: jax.Array, g: Grid, capacity: int, width: int, cell=None):
    """(idx `[atom, width]`, neighbours per atom, largest cell count) of one configuration
    in the box `cell` (`[3, 3]` rows; default: the grid's own)."""
    n = frac.shape[0]
    atoms, valid, order, sorted_cells, starts, counts = _cells(frac, g, capacity)
    cell = jnp.asarray(g.cell) if cell is None else cell
    r2, candidates = _pair_r2(frac, atoms, g, cell)
    n_cells = atoms.shape[0]
    mask = (
        (r2 < jnp.asarray(g.r_list**2, r2.dtype))
        & valid[:, :, None]
        & (candidates[:, None, :] < n)
        & (candidates[:, None, :] != atoms[:, :, None])
    ).reshape(n_cells * capacity, -1)
    # compact one row per atom (not per cell slot: a third of the slots are padding)
    rank = jnp.minimum(jnp.arange(n, dtype=jnp.int32) - starts[sorted_cells], capacity - 1)
    row_of_atom = jnp.zeros(n, jnp.int32).at[order].set(sorted_cells * capacity + rank)
    cell_of_atom = jnp.zeros(n, jnp.int32).at[order].set(sorted_cells)
    idx, count = _compact(
        mask[row_of_atom], candidates[cell_of_atom], g.neighbours.shape[1], width, n
    )
    return idx, count, jnp.max(counts)


def cell_matrix(box: jax.Array) -> jax.Array:
    """`[3, 3]` cell vectors (rows) of a `[3]` orthorhombic or `[3, 3]` box."""
    return jnp.diag(box) if box.ndim == 1 else box


def grid_fits(g: Grid, box: jax.Array) -> jax.Array:
    """Whether the cells of `g` are still at least r_list wide in `box` (traceable) along
    every direction with three or more cells (with fewer, all cells are searched)."""
    widths = ob.perpendicular_widths(cell_matrix(box))
    shape = np.asarray(g.shape)
    edge = widths / jnp.asarray(shape, widths.dtype)
    return jnp.all(jnp.where(jnp.asarray(shape >= 3), edge >= g.r_list, True))


def rounded_capacity(size: int) -> int:
    """`size` rounded up to a coarse ladder (steps of 2^(⌊log₂ size⌋ − 2), at least 4: at
    most 25 % more): lists allocated for similar configurations then get the same shapes,
    so the programs compiled for one are reused for the next."""
    step = max(4, 2 ** (max(int(size), 1).bit_length() - 3))
    return -(-int(size) // step) * step


def neighbor_list_fns(
    box: np.ndarray, r_list: float, capacity_multiplier: float, cell_margin: float = 0.0
):
    """`partition.NeighborListFns` (allocate, update) for fractional coordinates in this
    box; `allocate` sizes cells and rows from the configuration times
    `capacity_multiplier` (with `round_up=True` rounded up by `rounded_capacity`).
    `update(frac, nbrs, box=None)` takes another box of the same shape (see the module
    docstring); `cell_margin` sizes the cells for boxes up to that fraction narrower."""
    g = grid(box, r_list, cell_margin)
    n_cells = g.neighbours.shape[0]

    def update(frac, nbrs, box=None, **unused):
        if box is None:
            idx, count, fullest = _build(frac, g, nbrs.cell_list_capacity, nbrs.max_occupancy)
            too_small = jnp.zeros((), bool)
        else:
            h = cell_matrix(jnp.asarray(box)).astype(frac.dtype)
            idx, count, fullest = _build(frac, g, nbrs.cell_list_capacity, nbrs.max_occupancy, h)
            too_small = ~grid_fits(g, h)
        # sticky, as in jax-md: an overflow at any rebuild of a chunk stays flagged
        error = nbrs.error.update(PEC.CELL_LIST_OVERFLOW, fullest > nbrs.cell_list_capacity)
        error = error.update(PEC.NEIGHBOR_LIST_OVERFLOW, jnp.max(count) > nbrs.max_occupancy)
        error = error.update(PEC.CELL_SIZE_TOO_SMALL, too_small)
        return dataclasses.replace(nbrs, idx=idx, reference_position=frac, error=error)

    # compiled once per (box, r_list, ...) — `allocate` is called at every MD (re)start,
    # and a fresh `jax.jit` of a new closure there would recompile each time
    occupancy = jax.jit(lambda f, capacity: _build(f, g, capacity, 1)[1], static_argnums=1)
    update_jit = jax.jit(update)

    def allocate(frac, extra_capacity: int = 0, round_up: bool = False, **unused):
        frac = jnp.asarray(frac)
        n = frac.shape[0]
        if n < 2:
            raise ValueError(f"a neighbour list needs at least 2 atoms, got {n}")
        counts = np.bincount(np.asarray(_cell_index(frac, g)), minlength=n_cells)
        capacity = int(np.ceil(counts.max() * capacity_multiplier))
        capacity = min(n, rounded_capacity(capacity) if round_up else capacity)
        count = occupancy(frac, capacity)
        width = int(int(np.asarray(count).max()) * capacity_multiplier + extra_capacity)
        width = max(1, min(n - 1, rounded_capacity(width) if round_up else width))
        template = partition.NeighborList(
            idx=jnp.zeros((n, width), jnp.int32),
            reference_position=frac,
            error=partition.PartitionError(jnp.zeros((), jnp.uint8)),
            cell_list_capacity=capacity,
            max_occupancy=width,
            format=partition.NeighborListFormat.Dense,
            cell_size=None,
            cell_list_fn=None,
            update_fn=update,
        )
        return update_jit(frac, template)

    return partition.NeighborListFns(allocate, update)
