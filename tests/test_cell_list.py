"""The cell-list neighbour builder (`spectrinv.backends._cell_list`): every list equals a
brute-force minimum-image search (orthorhombic, triclinic, boxes with fewer than three cells
along a vector, float32 and float64, under vmap), holds no self pair and no duplicate, pads
with n_atoms, and flags cell and row overflow (stickily) instead of returning a short list."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spectrinv.backends._cell_list import grid, neighbor_list_fns
from spectrinv.backends._neighbors import fractional as _fractional


def brute_force(positions, box, r_list):
    cell = np.diag(box) if np.ndim(box) == 1 else np.asarray(box)
    s = np.asarray(positions, float) @ np.linalg.inv(cell)
    ds = s[None] - s[:, None]
    ds -= np.round(ds)
    r = np.linalg.norm(ds @ cell, axis=-1)
    np.fill_diagonal(r, np.inf)
    return [set(np.nonzero(row < r_list)[0].tolist()) for row in r]


def as_sets(idx, n):
    idx = np.asarray(idx)
    rows = []
    for row in idx:
        real = row[row < n].tolist()
        assert len(real) == len(set(real)), "duplicate neighbour"
        assert np.all(row[len(real) :] == n), "padding must follow the neighbours and be n"
        rows.append(set(real))
    return rows


def build(positions, box, r_list, dtype=jnp.float64, multiplier=1.25):
    frac = _fractional(jnp.asarray(positions, dtype), jnp.asarray(box, dtype))
    fns = neighbor_list_fns(np.asarray(box, float), r_list, multiplier)
    return fns, frac, fns.allocate(frac)


def _check_against_brute_force(n, edges, r_list, tilt, triclinic, seed):
    lx, ly, lz = edges
    box = (
        np.array([[lx, 0, 0], [tilt[0] * lx, ly, 0], [tilt[1] * lx, tilt[2] * ly, lz]])
        if triclinic
        else np.array(edges)
    )
    cell = np.diag(box) if box.ndim == 1 else box
    rng = np.random.default_rng(seed)
    positions = rng.random((n, 3)) @ cell + rng.normal(scale=2.0, size=(n, 3))  # unwrapped
    _, _, nb = build(positions, box, r_list)
    assert not bool(nb.did_buffer_overflow)
    assert nb.idx.shape[0] == n and nb.idx.dtype == jnp.int32
    assert as_sets(nb.idx, n) == brute_force(positions, box, r_list)
    return grid(box, r_list).shape


def test_lists_equal_brute_force_with_one_and_two_cells_along_a_vector():
    """One fixed case: random unwrapped atoms in a triclinic box with (1, 2, 5) cells (the
    other tests here cover orthorhombic boxes); the random sweep is the slow test below."""
    shape = _check_against_brute_force(60, (1.3, 1.25, 3.0), 0.6, (-0.4, 0.4, -0.4), True, 5)
    assert shape == (1, 2, 5)


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(2, 120),
    edges=st.tuples(*[st.floats(1.2, 4.0)] * 3),
    r_list=st.floats(0.2, 0.6),
    tilt=st.tuples(*[st.floats(-0.4, 0.4)] * 3),
    triclinic=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lists_equal_brute_force(n, edges, r_list, tilt, triclinic, seed):
    """Random atoms in random boxes, including 1 and 2 cells along a vector (each example
    compiles a new list; the default counterpart is
    `test_lists_equal_brute_force_with_one_and_two_cells_along_a_vector`)."""
    _check_against_brute_force(n, edges, r_list, tilt, triclinic, seed)


def test_large_dense_system_float32_and_update_after_moves():
    """864 atoms on a perturbed fcc lattice (6³ cells), float32; after random moves within
    the capacity the jitted update still equals brute force."""
    rng = np.random.default_rng(1)
    g = np.stack(np.meshgrid(*[np.arange(6)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = ((g[:, None] + basis[None]) * 0.5).reshape(-1, 3) + rng.normal(0, 0.02, (864, 3))
    box = np.full(3, 3.0)
    assert grid(box, 0.45).shape == (6, 6, 6)
    fns, frac, nb = build(pos, box, 0.45, jnp.float32)
    assert nb.idx.shape[1] < 864 // 4  # a real cell list, not all pairs
    assert as_sets(nb.idx, 864) == brute_force(pos, box, 0.45)
    moved = pos + rng.normal(0, 0.03, pos.shape)
    frac2 = _fractional(jnp.asarray(moved, jnp.float32), jnp.asarray(box, jnp.float32))
    nb2 = jax.jit(lambda s, nb: nb.update(s))(frac2, nb)
    assert not bool(nb2.did_buffer_overflow)
    assert as_sets(nb2.idx, 864) == brute_force(moved, box, 0.45)


def test_vmap_over_replicas_equals_one_at_a_time():
    rng = np.random.default_rng(2)
    box = np.array([2.5, 2.0, 3.0])
    pos = rng.random((3, 80, 3)) * box
    fns, frac, nb = build(pos[0], box, 0.5)
    nb = dataclasses.replace(nb, max_occupancy=40, cell_list_capacity=20)
    frac_all = _fractional(jnp.asarray(pos), jnp.asarray(box))
    batched = jax.jit(jax.vmap(lambda s: nb.update(s)))(frac_all)
    update = jax.jit(lambda s: nb.update(s))
    for r in range(3):
        single = update(frac_all[r])
        np.testing.assert_array_equal(batched.idx[r], single.idx)
        assert as_sets(single.idx, 80) == brute_force(pos[r], box, 0.5)


@jax.jit
def _update(nb, frac):
    """`nb.update` compiled once per list capacity (eager updates dispatch op by op)."""
    return nb.update(frac)


def test_overflow_is_flagged_and_sticky():
    rng = np.random.default_rng(3)
    box = np.full(3, 2.0)
    pos = rng.random((100, 3)) * box
    fns, frac, nb = build(pos, box, 0.5)
    assert not bool(nb.did_buffer_overflow)
    fullest_row = int((np.asarray(nb.idx) < 100).sum(1).max())
    short_rows = dataclasses.replace(nb, max_occupancy=fullest_row - 1)
    assert bool(_update(short_rows, frac).did_buffer_overflow)
    small_cells = dataclasses.replace(nb, cell_list_capacity=1)  # 100 atoms in 4³ cells
    assert bool(_update(small_cells, frac).did_buffer_overflow)
    # an overflow stays flagged through a later update that fits, as in jax-md
    overflowed = _update(short_rows, frac)
    refit = _update(dataclasses.replace(overflowed, max_occupancy=nb.max_occupancy), frac)
    assert bool(refit.did_buffer_overflow)
    assert not bool(_update(_update(nb, frac), frac).did_buffer_overflow)


def test_compression_overflows_then_reallocation_fits():
    """All atoms squeezed into one corner: the old capacities overflow; allocating from the
    squeezed positions gives a list equal to brute force."""
    rng = np.random.default_rng(4)
    box = np.full(3, 3.0)
    pos = rng.random((150, 3)) * box
    fns, frac, nb = build(pos, box, 0.6)
    squeezed = 0.3 * pos
    frac_sq = _fractional(jnp.asarray(squeezed), jnp.asarray(box))
    assert bool(_update(nb, frac_sq).did_buffer_overflow)
    fresh = fns.allocate(frac_sq)
    assert not bool(fresh.did_buffer_overflow)
    assert as_sets(fresh.idx, 150) == brute_force(squeezed, box, 0.6)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 atoms"):
        neighbor_list_fns(np.full(3, 2.0), 0.5, 1.25).allocate(jnp.zeros((1, 3)))
