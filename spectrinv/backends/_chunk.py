"""The jitted kernels of the JAX engine: forces with the rebuild rule (`refresh`), one
chunk of steps as a `lax.scan` of frames of `stride` steps that records the requested
signals (`run_chunk`, with optional nested `jax.checkpoint` blocks), the Monte Carlo
volume move of the barostat, and the host-side health check of a chunk.

All kernels work on batched states (`[replica, atom, 3]`); the neighbour-rebuild decision
is a single `lax.cond` over all replicas (rebuild when any atom of any replica moved more
than skin/2), so batching does not turn it into a rebuild-every-step `select`.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from observables import BOLTZMANN, Trajectory

from ..potentials import System
from ._barostat import box_volume, min_width, molecule_centres
from ._base import Frame, Positions, Velocities
from ._cell_list import cell_matrix
from ._neighbors import checked_lists, list_invalid
from ._state import MDState

__all__ = ["refresh", "refresh_jit", "run_chunk", "health", "sample_arguments", "in_box"]


@eqx.filter_jit
def health(state: MDState) -> tuple[Array, Array]:
    """(any replica's neighbour list overflowed, all positions and velocities finite) as
    scalars; on sharded input they are all-reduced, hence readable on every host."""
    if state.neighbors is None:
        overflow = jnp.zeros((), bool)
    else:
        overflow = list_invalid(state.neighbors)
    finite = jnp.all(jnp.isfinite(state.positions)) & jnp.all(jnp.isfinite(state.velocities))
    return overflow, finite


def sample_arguments(record, n_steps, stride):
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


def in_box(system: System, box) -> System:
    """`system` with another box (a replica's current box under a barostat)."""
    return system if box is None else eqx.tree_at(lambda s: s.box, system, box)


def refresh(potential, system, state: MDState, skin: float, force_rebuild=False) -> MDState:
    """Energies and forces at `state.positions` (batched), rebuilding the neighbour list when
    any atom of any replica moved more than skin/2 since the last rebuild. Under a
    barostat each replica is evaluated in its own box (`state.barostat.box`)."""
    boxes = None if state.barostat is None else state.barostat.box
    nbrs, ref = checked_lists(
        state.positions,
        state.neighbors,
        state.reference_positions,
        system.box,
        skin,
        force_rebuild,
        boxes,
    )

    def one(pos, nb, box):
        return jax.value_and_grad(potential.energy)(pos, in_box(system, box), nb)

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


refresh_jit = eqx.filter_jit(refresh)


def scan_blocks(body, carry, length: int, blocks: tuple[int, ...]):
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
        return scan_blocks(body, c, b, inner)

    carry, ys = jax.lax.scan(block, carry, None, length=n_full)
    ys = jax.tree.map(lambda y: y.reshape((n_full * b,) + y.shape[2:]), ys)
    if rest:
        carry, tail = scan_blocks(body, carry, rest, inner)
        ys = jax.tree.map(lambda y, t: jnp.concatenate([y, t]), ys, tail)
    return carry, ys


def volume_move(barostat, integrator, potential, system, state, key, skin):
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
    trial = refresh(potential, system, trial, skin, True)
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
def run_chunk(
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
    forces = functools.partial(refresh, potential, system, skin=skin)
    masses = system.masses
    # Forces of the incoming state may come from other parameters (a fit changes the
    # potential between calls): recompute them so the first half kick is consistent and
    # differentiable in the parameters.
    state = forces(state)

    def one_step(st, _):
        k = jax.random.fold_in(key, st.step)
        if barostat is None:
            st = integrator.step(st, forces, masses, k)
        else:
            k, k_volume = jax.random.split(k)
            st = integrator.step(st, forces, masses, k)
            st = jax.lax.cond(
                (st.step + 1) % barostat.frequency == 0,
                lambda s: volume_move(barostat, integrator, potential, system, s, k_volume, skin),
                lambda s: s,
                st,
            )
        return eqx.tree_at(lambda s: s.step, st, st.step + 1), None

    def one_frame(st, _):
        st, _ = jax.lax.scan(one_step, st, None, length=stride)

        def rec(pos, vel, frc, epot, nb, box):
            frame = Frame(pos, vel, frc, epot, nb, in_box(system, box))
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
    return scan_blocks(one_frame, state, n_frames, tuple(checkpoint_blocks))


def trajectory_from_signals(
    signals: dict[str, Array], system: System, timestep: float, *, batched: bool
) -> Trajectory:
    """The `Trajectory` of recorded signals `{field: [frame, replica, ...]}` with frames
    `timestep` (ps) apart; `batched`: keep the replica axis (first), else replica 0."""
    signals = {f: jnp.swapaxes(v, 0, 1) for f, v in signals.items()}  # replica first

    def build(sig):
        sig = dict(sig)
        positions = sig.pop("positions")
        return Trajectory.from_internal(
            positions,
            box=sig.pop("box", system.box),
            timestep=jnp.asarray(timestep, positions.dtype),
            masses=system.masses,
            species=system.species,
            charges=system.charges,
            species_names=system.species_names,
            **sig,
        )

    if batched:
        return jax.vmap(build)(signals)
    return build({f: v[0] for f, v in signals.items()})


def run_arguments(n_steps: int, stride: int, checkpoint_blocks: tuple[int, ...]):
    """Checked `(n_steps, stride, checkpoint_blocks)` of a `run` call."""
    n_steps, stride = int(n_steps), int(stride)
    if stride < 1 or n_steps < stride or n_steps % stride:
        raise ValueError(f"n_steps ({n_steps}) must be a positive multiple of stride ({stride})")
    checkpoint_blocks = tuple(int(b) for b in checkpoint_blocks)
    if any(b < 1 for b in checkpoint_blocks):
        raise ValueError(
            f"checkpoint_blocks must be positive frame counts, got {checkpoint_blocks}"
        )
    return n_steps, stride, checkpoint_blocks
