"""`BPTT`: back-propagation through the MD trajectory, with block checkpointing.

The reference strategy: the whole run is one traced `JaxMDBackend.run` and
`jax.value_and_grad` differentiates `loss(⟨observe(trajectory)⟩)` through every time step.
Exact for the simulated trajectory (up to floating point), but

- **memory** grows with the number of steps unless the scan is checkpointed: without
  checkpointing a 500-atom LJ run needs ≈10 GB for 1000 steps (measured, float32 CPU). Checkpoint
  objects (`SqrtCheckpoint`, `BlockCheckpoint`, `RecursiveCheckpoint`, `NoCheckpoint`) split
  the scan over frames into blocks under `jax.checkpoint`; only block boundaries (state and
  neighbour list) are stored and each block is recomputed once during the backward pass
  (≈ 2× the forward cost in total, plus the backward pass itself). XLA temporary memory
  of one gradient, 500 LJ atoms, float32, CPU (compiled `memory_analysis`):

  | steps | none | per step | √T | blocks of 8 | recursive (2 levels) |
  |---|---|---|---|---|---|
  | 1000 | 6511 MiB | 284 MiB | 256 MiB (b = 32) | 123 MiB | 110 MiB (100, 10) |
  | 4000 | — | 1057 MiB | 482 MiB (b = 63) | — | 170 MiB (252, 16) |

  A step's residuals (pair distances, force intermediates) are ~25× its carry, so the
  memory-optimal single block is nearer √T/5 than √T (`BlockCheckpoint`);
- **chaos**: for a chaotic system (any liquid) the gradient of a dynamical loss grows
  exponentially with the trajectory length. Measured for LJ with this package: ~1e-3 after 200
  steps (Δt = 0.005 τ), ~1e3 after 1000 and ~1e30 after 5000 steps. Beyond about one
  correlation time use `Truncated` (many short segments) instead.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree

from ..backends import AbstractDifferentiableBackend, MDState, NeighborListOverflowError
from ..potentials import AbstractPotential, System
from ._base import (
    AbstractGradient,
    GradientResult,
    Objective,
    check_gradient,
    gradient_spread,
    quiet_unit_observe,
    require_fixed_box,
    tree_mean,
    unit_mean,
)

__all__ = [
    "AbstractCheckpoint",
    "NoCheckpoint",
    "SqrtCheckpoint",
    "BlockCheckpoint",
    "RecursiveCheckpoint",
    "BPTT",
]

_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------ checkpointing
class AbstractCheckpoint(eqx.Module):
    """How the scan over time steps is checkpointed for reverse-mode differentiation.

    `blocks(n_steps, stride)` returns the block lengths in *frames* (outermost first) that
    `JaxMDBackend.run(..., checkpoint_blocks=...)` wraps in `jax.checkpoint`; `()` means
    no checkpointing. A block boundary stores the full carry (positions, velocities, forces,
    thermostat, neighbour list); inside a block every step's residuals are stored during
    that block's recomputation only. With one level of blocks of b steps the peak memory
    is ~ (T/b)·carry + b·(per-step residuals), minimal at b ≈ √T.
    """

    @abc.abstractmethod
    def blocks(self, n_steps: int, stride: int) -> tuple[int, ...]: ...


class NoCheckpoint(AbstractCheckpoint):
    """Store every step (memory ∝ T; fastest for short runs)."""

    def blocks(self, n_steps, stride):
        return ()


class SqrtCheckpoint(AbstractCheckpoint):
    """Blocks of ≈ √T steps (rounded to whole frames): memory ~ √T, each step computed
    twice in the forward sense. The default."""

    def blocks(self, n_steps, stride):
        n_frames = n_steps // stride
        b = max(1, round(math.sqrt(n_steps) / stride))
        return () if b >= n_frames else (b,)


class BlockCheckpoint(AbstractCheckpoint):
    """Blocks of a user-chosen number of `steps` (rounded to whole frames of `stride`
    steps, at least one frame). `BlockCheckpoint(1)` with `stride=1` is per-step
    checkpointing: it stores the carry, including the int32 neighbour index array, at
    every step (≈90 % of the checkpoint memory for 500 LJ atoms, measured) and still
    grows ∝ T — prefer `SqrtCheckpoint`."""

    steps: int = eqx.field(static=True)

    def __init__(self, steps: int):
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
            raise ValueError(f"BlockCheckpoint(steps) needs a positive integer, got {steps!r}")
        self.steps = int(steps)

    def blocks(self, n_steps, stride):
        b = max(1, round(self.steps / stride))
        return () if b >= n_steps // stride else (b,)


class RecursiveCheckpoint(AbstractCheckpoint):
    """`levels` nested levels of checkpointed blocks of T^(k/(levels+1)) steps
    (k = levels … 1): memory ~ (levels + 1)·T^(1/(levels+1)) at the price of recomputing
    every step `levels` extra times. `levels=1` is `SqrtCheckpoint`."""

    levels: int = eqx.field(static=True, default=2)

    def __post_init__(self):
        if isinstance(self.levels, bool) or self.levels < 1:
            raise ValueError(f"RecursiveCheckpoint(levels) must be >= 1, got {self.levels!r}")

    def blocks(self, n_steps, stride):
        n_frames = n_steps // stride
        out = []
        for k in range(self.levels, 0, -1):
            b = max(1, round(n_steps ** (k / (self.levels + 1)) / stride))
            if b < n_frames and (not out or b < out[-1]):
                out.append(b)
        return tuple(out)


# -------------------------------------------------------------------- shared machinery
def require_differentiable(backend: Any, strategy: str) -> AbstractDifferentiableBackend:
    """`backend` checked to be a differentiable engine with a fixed box."""
    if not isinstance(backend, AbstractDifferentiableBackend):
        raise TypeError(
            f"{strategy} differentiates through the MD run and needs a differentiable backend "
            f"(an AbstractDifferentiableBackend such as JaxMDBackend), got "
            f"{type(backend).__name__}. Sampling-only backends (e.g. OpenMMBackend) can only be "
            "used with gradients.Reweighting (time-independent observables)."
        )
    require_fixed_box(backend, strategy)
    return backend


def _check_steps(n_steps: Any, stride: Any, what: str) -> tuple[int, int]:
    for name, v in ((what, n_steps), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if n_steps % stride:
        raise ValueError(
            f"{what} ({n_steps}) must be a multiple of stride ({stride}); e.g. use "
            f"{what}={(n_steps // stride + 1) * stride}"
        )
    return int(n_steps), int(stride)


def _grown_list(
    backend: AbstractDifferentiableBackend,
    potential: AbstractPotential,
    system: System,
    start: MDState,
    failed_positions: Array,
) -> MDState:
    """`start` (batched) with a larger neighbour list after an overflow: allocated from the
    post-overflow positions (the configuration that did not fit), capacity grown at least
    geometrically, then rebuilt at the start positions — as the backend's `sample` does."""
    old = start.neighbors
    fresh = backend.grow_neighbors(potential, system, old, start.positions, failed_positions)
    _log.info(
        "neighbour list overflow in a differentiated run: capacity %d -> %d, redoing it",
        old.max_occupancy,
        fresh.max_occupancy,
    )
    return backend.refresh(potential, system, eqx.tree_at(lambda s: s.neighbors, start, fresh))


def redo_on_overflow(
    backend: AbstractDifferentiableBackend,
    potential: AbstractPotential,
    system: System,
    state: MDState,
    attempt_fn: Callable[[MDState], tuple[Any, Array, Array]],
    what: str,
) -> tuple[Any, MDState]:
    """Call `attempt_fn(batched_state) -> (out, final_positions, overflowed)` until the
    neighbour list does not overflow, growing it in between; never return an overflowed
    result. Returns `(out, the state it started from)`."""
    for attempt in range(backend.max_reallocations + 1):
        out, final_positions, overflowed = attempt_fn(state)
        if state.neighbors is None or not bool(np.any(np.asarray(overflowed))):
            return out, state
        if attempt == backend.max_reallocations:
            break
        state = _grown_list(backend, potential, system, state, final_positions)
    raise NeighborListOverflowError(
        f"{what}: the neighbour list still overflows after {backend.max_reallocations} "
        "reallocations; the system is probably collapsing (check the time step and the "
        "potential's parameters) or raise the backend's max_reallocations / "
        "capacity_multiplier."
    )


def unit_run(objective, static, backend, system, n_steps, stride, blocks):
    """`one(params, state, key) -> (observe(trajectory), (final_state, overflowed))`: one
    unit's (replica's, segment's) differentiable run, to be `vmap`ped over units with a
    copy of the parameters each (so one backward pass gives every unit's share)."""

    def one(p, st, k):
        traj, final, overflowed = backend.run(
            eqx.combine(p, static),
            system,
            st,
            k,
            n_steps,
            stride=stride,
            record=objective.record,
            checkpoint_blocks=blocks,
        )
        return quiet_unit_observe(objective.observe, traj), (final, overflowed)

    return one


# ------------------------------------------------------------------------------ BPTT
@eqx.filter_jit
def _bptt_value_and_grad(
    objective, params, static, backend, system, state, key, n_steps, stride, blocks
):
    # `state` is always batched here (a single system is a batch of one, whose replica mean
    # is exactly observe(trajectory)).
    def value(p):
        potential = eqx.combine(p, static)
        traj, final, overflowed = backend.run(
            potential,
            system,
            state,
            key,
            n_steps,
            stride=stride,
            record=objective.record,
            checkpoint_blocks=blocks,
        )
        observed = unit_mean(jax.vmap(objective.observe)(traj))
        return objective.loss(observed), (observed, final, overflowed)

    return eqx.filter_value_and_grad(value, has_aux=True)(params)


@eqx.filter_jit
def _bptt_per_replica(
    objective, params, static, backend, system, state, key, n_steps, stride, blocks
):
    """As `_bptt_value_and_grad` for a batch of R ≥ 2 replicas, but every replica runs
    (under `vmap`) with its own copy of the parameters and its own key
    `fold_in(key, r)`, so the gradient w.r.t. the stack holds each replica's share
    (1/R)·∂L/∂O·∂o_r/∂θ; their sum is the gradient. Returns the shares `[R, ...]`."""
    n = state.positions.shape[0]
    stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), params)
    step = state.step
    state = eqx.tree_at(lambda s: s.step, state, jnp.broadcast_to(step, (n,)))
    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(n))

    one = unit_run(objective, static, backend, system, n_steps, stride, blocks)

    def value(ps):
        per_replica, (final, overflowed) = jax.vmap(one)(ps, state, keys)
        observed = unit_mean(per_replica)
        final = eqx.tree_at(lambda s: s.step, final, step + n_steps)
        return objective.loss(observed), (observed, final, jnp.any(overflowed))

    return eqx.filter_value_and_grad(value, has_aux=True)(stacked)


class BPTT(AbstractGradient):
    """Back-propagation through time: `jax.value_and_grad` of the loss through one traced
    MD run (the reference gradient; exact for the trajectory simulated).

    From `state`, `backend.run` advances `n_steps` steps recording `objective.record`
    every `stride` steps. For a batched state (`[replica, atom, 3]`) the estimate is the
    replica mean `observed = mean_r observe(trajectory_r)` (`jax.vmap` over the replica
    axis; `unit_mean`: the error bar of an observable result in it is the spread of the
    replicas / √R); for a single state `observed = observe(trajectory)`. The loss is
    `objective.loss(observed)` and the gradient is taken w.r.t. `params` (the potential is
    `eqx.combine(params, static)`; `None` leaves stay `None`). The whole computation is one
    `eqx.filter_jit` (step counts and checkpoint blocks are static: a new `n_steps`
    recompiles). Forces of the incoming state are recomputed with the current parameters.

    **Arguments:**
    - `n_steps`: time steps to differentiate through (a multiple of `stride`);
    - `stride`: steps between recorded frames;
    - `checkpoint`: `SqrtCheckpoint()` (default), `BlockCheckpoint(steps)`,
      `RecursiveCheckpoint(levels)` or `NoCheckpoint()`; it changes memory and time, never
      the result (identical to ~1e-14 relative in float64).

    **Returns** (`__call__`): a `GradientResult` with `state` the final MD state (continue
    sampling from it), `observed` the estimate, `diagnostics = {"grad_norm", "n_steps"}`,
    and for R ≥ 2 replicas also `"grad_stderr"` and `"grad_snr"`: the standard error of
    the mean of the per-replica gradients u_r = ∂L/∂O · ∂o_r/∂θ of the *linearised* loss
    (a loss of an average is not an average of losses; mean_r u_r is exactly the returned
    gradient) and |grad| / stderr, both with the structure of `grad`.

    **Replicas:** with R ≥ 2 replicas each replica runs under `jax.vmap` with its own copy
    of the parameters (so one backward pass yields every u_r) and its own key
    `jax.random.fold_in(key, r)` for the thermostat noise (deterministic integrators
    ignore it). Under `vmap` the neighbour-list rebuild test becomes a `select` (a
    rebuild every step), which costs ≈ 1.45× the batched run (measured for `Truncated`'s
    identical construction, 108 LJ atoms); the gradient is unchanged.

    **When to use:** short runs (≲ one correlation time, a few hundred steps for a liquid)
    where the dynamics themselves are the target, or as the reference for the other
    strategies. The gradient of a dynamical loss through a chaotic liquid grows
    exponentially with the run length (LJ: |∇L| ~1e-3 after 200 steps of 0.005 τ, ~1e3
    after 1000, ~1e30 after 5000): beyond about one correlation time use
    `Truncated`; for time-independent observables `Reweighting` needs no backprop at all.
    The run is deterministic for a given `key`, so finite differences of the same run
    check it (the tests do).

    **Neighbour lists:** if the list overflows anywhere in the run (`run` reports it), the
    gradient is discarded, the list reallocated with a larger capacity from the
    post-overflow positions and the whole run redone (at most the backend's
    `max_reallocations` times, then `NeighborListOverflowError`). A gradient from an
    overflowed run is never returned. Non-finite loss or gradient raises `GradientError`.

    Only differentiable backends (`AbstractDifferentiableBackend`, e.g. `JaxMDBackend`) can
    be differentiated; other backends raise `TypeError`. With `JaxMDBackend(...,
    parallel=Sharded())` the replicas of a batched state run split over the devices, with
    the one-device gradient.

    ??? cite
        A. Griewank, A. Walther, *Evaluating Derivatives*, 2nd ed., SIAM (2008), ch. 12
        (checkpointing); S. S. Schoenholz, E. D. Cubuk, "JAX MD: a framework for
        differentiable physics", NeurIPS 33 (2020).
    """

    n_steps: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    checkpoint: AbstractCheckpoint

    def __init__(self, n_steps: int, stride: int = 1, checkpoint: AbstractCheckpoint | None = None):
        self.n_steps, self.stride = _check_steps(n_steps, stride, "n_steps")
        checkpoint = SqrtCheckpoint() if checkpoint is None else checkpoint
        if not isinstance(checkpoint, AbstractCheckpoint):
            raise TypeError(
                "checkpoint must be an AbstractCheckpoint (SqrtCheckpoint(), "
                f"BlockCheckpoint(steps), RecursiveCheckpoint(), NoCheckpoint()), got "
                f"{type(checkpoint).__name__}"
            )
        self.checkpoint = checkpoint

    def __call__(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        backend: AbstractDifferentiableBackend,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        cache: None = None,
    ) -> GradientResult:
        backend = require_differentiable(backend, "BPTT")
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a gradients.Objective, got {type(objective)}")
        potential = eqx.combine(params, static)
        replicas = state.batched
        blocks = self.checkpoint.blocks(self.n_steps, self.stride)

        n_rep = state.positions.shape[0] if replicas else 1
        run = _bptt_per_replica if n_rep >= 2 else _bptt_value_and_grad

        def attempt(st):
            (loss, (observed, final, overflowed)), grad = run(
                objective,
                params,
                static,
                backend,
                system,
                st,
                key,
                self.n_steps,
                self.stride,
                blocks,
            )
            return (loss, observed, final, grad), final.positions, overflowed

        start = backend.prepare(potential, system, state)
        (loss, observed, final, grad), _ = redo_on_overflow(
            backend, potential, system, start, attempt, "BPTT"
        )
        diagnostics = {}
        if n_rep >= 2:  # grad holds the replicas' shares: the gradient is their sum
            per_unit = jax.tree.map(lambda g: n_rep * g, grad)
            grad = tree_mean(per_unit)
            diagnostics = gradient_spread(per_unit, grad)
        if not replicas:
            final = backend.unbatch(final)
        norm = check_gradient(loss, grad, what="BPTT")
        return GradientResult(
            loss=loss,
            grad=grad,
            observed=observed,
            state=final,
            diagnostics={"grad_norm": norm, "n_steps": self.n_steps, **diagnostics},
        )
