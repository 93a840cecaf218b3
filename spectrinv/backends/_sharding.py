"""`ShardedBackend`: a batch of replicas split over devices (and hosts) with `jax.sharding`.

**How it works.** The replica axis (the leading axis of every array of a batched `MDState`
except `step`) is laid out over a one-dimensional `jax.sharding.Mesh` with axis name
`"replica"` (`NamedSharding(mesh, P("replica"))`); parameters, the box and the PRNG key are
replicated. The wrapped `JaxMDBackend`'s own batched kernels are then compiled for these
shardings (XLA's SPMD partitioner, GSPMD): every device integrates only its own replicas,
with the same per-replica arithmetic as on one device. The neighbour-rebuild decision
("did any atom of any replica move more than skin/2?") stays a single `lax.cond` on a
scalar — it costs one all-reduce of that scalar per step and is never turned into a
rebuild-every-step `select` — and it is the *same* decision as on one device. Random
numbers (Langevin) come from the same key with the same shape and JAX's partitionable
Threefry, so they are the same numbers too. A sharded run therefore reproduces the
one-device batched run (in the tests: bit for bit on 4 CPU devices), and its gradients
are those of the one-device run.

**Neighbour-list overflow** is handled as in `JaxMDBackend.sample`: after each chunk the
overflow flags of *all* replicas (all devices) are reduced to one replicated flag; if any
is set, the list is reallocated from the post-overflow positions (gathered from all
devices and hosts, which all compute the same new capacity) and the chunk is redone from
its start state. `run` (pure, traceable) returns the flag for the caller to act on.

**Several hosts.** With `jax.distributed.initialize(...)` called first, `jax.devices()`
lists the devices of every process and the mesh spans them all; every process runs the
same program with the same arguments (single program, multiple data). Arrays in the
returned `Trajectory` and state are then global arrays of which each process holds its
own replicas; `jax.experimental.multihost_utils.process_allgather` collects them, and
jitted reductions over them return replicated values readable on every host. See the user
guide `docs/scaling.md`.

**Requirements.** The number of replicas must be a multiple of the number of devices
(each device gets the same number); a clear error suggests counts otherwise.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array

from observables import Trajectory, to_internal

from ..potentials._base import AbstractPotential, System
from ._base import AbstractBackend, AbstractRecorder, MDState
from ._jaxmd import (
    JaxMDBackend,
    _sample_arguments,
)

__all__ = ["ShardedBackend", "replica_mesh"]

#: Name of the mesh axis the replicas are split over.
REPLICA_AXIS = "replica"


def replica_mesh(devices: Any = None) -> Mesh:
    """One-dimensional mesh `("replica",)` over `devices` (default: `jax.devices()`, i.e.
    every device of every process after `jax.distributed.initialize`).

    The axis type is `AxisType.Auto` (jax ≥ 0.7 defaults `jax.make_mesh` to explicit
    axes, under which implicit resharding raises).
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices is empty: pass at least one jax device (e.g. jax.devices())")
    if len({d.id for d in devices}) != len(devices):
        raise ValueError(f"devices contains duplicates: {devices}")
    return Mesh(np.asarray(devices, dtype=object), (REPLICA_AXIS,), axis_types=(AxisType.Auto,))


def _divisibility_error(n_replicas: int, n_devices: int) -> ValueError:
    lower = (n_replicas // n_devices) * n_devices
    upper = lower + n_devices
    k = max(k for k in range(1, n_devices + 1) if n_replicas % k == 0)
    counts = f"{lower} or {upper}" if lower > 0 else f"{upper}"
    return ValueError(
        f"{n_replicas} replicas cannot be split evenly over {n_devices} devices: use a "
        f"multiple of {n_devices} replicas (e.g. {counts}), or fewer devices "
        f"(ShardedBackend(backend, devices=jax.devices()[:{k}]) runs "
        f"{n_replicas // k} replicas per device)."
    )


def _gather(x: Array) -> np.ndarray:
    """The full value of a (possibly multi-host) array on this host, as numpy."""
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


class ShardedBackend(AbstractBackend):
    """Replicas of a `JaxMDBackend` run sharded over several devices (and hosts).

    Same interface as `JaxMDBackend` — `init`, `sample` (host loop with neighbour-list
    overflow handling), `run` (pure, for `jit`/`grad`) — for *batched* states
    (`[replica, atom, 3]`); the replicas are split evenly over the devices of `mesh`.
    Results equal those of the wrapped backend on one device (see the module docstring).

    **Arguments:**
    - `backend`: the `JaxMDBackend` (integrator, skin, chunking) to run;
    - `devices`: the devices to use (default `jax.devices()`: all local devices, or all
      devices of all processes after `jax.distributed.initialize`).

    **Fields:** `backend`; `mesh`, the one-dimensional `("replica",)` mesh.

    ```python
    backend = ShardedBackend(JaxMDBackend(VelocityVerlet(Quantity(4, "fs"))))
    state = backend.init(lj, system, Quantity(positions, "nm"),  # [replica, atom, 3]
                         temperature=Quantity(90, "K"), key=jax.random.key(0))
    traj, state = backend.sample(lj, system, state, jax.random.key(1), 1000, stride=10)
    ```
    """

    backend: JaxMDBackend
    mesh: Mesh = eqx.field(static=True)

    def __init__(self, backend: JaxMDBackend, devices: Any = None):
        if not isinstance(backend, JaxMDBackend):
            raise TypeError(
                "ShardedBackend wraps a JaxMDBackend (e.g. ShardedBackend(JaxMDBackend("
                f"VelocityVerlet(Quantity(2, 'fs'))))), got {type(backend).__name__}"
            )
        if backend.barostat is not None:
            raise NotImplementedError(
                "ShardedBackend does not run a barostat (NPT) yet: its list reallocation "
                "assumes one fixed box. Run NPT replicas with JaxMDBackend (batched state)."
            )
        self.backend = backend
        self.mesh = replica_mesh(devices)

    @property
    def n_devices(self) -> int:
        """Number of devices the replicas are split over."""
        return self.mesh.devices.size

    # ------------------------------------------------------------------- placement
    def check_replicas(self, n_replicas: int) -> None:
        """Raise a `ValueError` (suggesting counts) unless `n_replicas` is a positive
        multiple of the number of devices."""
        if n_replicas < 1 or n_replicas % self.n_devices:
            raise _divisibility_error(int(n_replicas), self.n_devices)

    def shard(self, tree: Any, n_replicas: int | None = None) -> Any:
        """Place a pytree on the mesh: arrays whose leading axis has length `n_replicas`
        (default: that of `tree.positions`) are split over the devices along it, all other
        arrays are replicated. Works on concrete arrays (`jax.device_put`) and inside
        `jit`/`grad` (`jax.lax.with_sharding_constraint`); arrays already placed so are
        returned as they are.

        Every array of a batched `MDState` except `step`, and every array of a batched
        `Trajectory`, has the replica axis first.
        """
        if n_replicas is None:
            n_replicas = tree.positions.shape[0]
        self.check_replicas(n_replicas)
        split = NamedSharding(self.mesh, P(REPLICA_AXIS))
        whole = NamedSharding(self.mesh, P())

        def place(x):
            if not isinstance(x, (jax.Array, np.ndarray)):
                return x
            target = split if (x.ndim >= 1 and x.shape[0] == n_replicas) else whole
            if isinstance(x, jax.core.Tracer):
                return jax.lax.with_sharding_constraint(x, target)
            if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(target, x.ndim):
                return x
            return jax.device_put(x, target)

        return jax.tree.map(place, tree)

    def _check_state(self, state: MDState) -> None:
        if not isinstance(state, MDState):
            raise TypeError(f"state must be an MDState, got {type(state).__name__}")
        if not state.batched:
            raise ValueError(
                f"ShardedBackend runs a batch of replicas; got an unbatched state (positions "
                f"{tuple(state.positions.shape)}). Build it with init(positions=[replica, "
                f"atom, 3]), e.g. {self.n_devices} copies: np.stack([positions] * "
                f"{self.n_devices})."
            )
        self.check_replicas(state.positions.shape[0])

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
        """Batched starting state (as `JaxMDBackend.init`), placed on the mesh.

        **Arguments:** `positions`: length quantity `[replica, atom, 3]` with a number of
        replicas divisible by the number of devices; `velocities` / `temperature` + `key`,
        `neighbor_capacity` as in `JaxMDBackend.init`. On several hosts every process passes
        the same values.

        **Returns:** the `MDState`, its replica axis split over the devices.
        """
        shape = np.shape(to_internal(positions, "length", "positions"))
        if len(shape) != 3:
            raise ValueError(
                f"ShardedBackend needs positions [replica, atom, 3], got shape {shape}; for "
                f"copies of one configuration use np.stack([positions] * {self.n_devices})."
            )
        self.check_replicas(shape[0])
        extra = {} if neighbor_capacity is None else {"neighbor_capacity": neighbor_capacity}
        state = self.backend.init(
            potential,
            system,
            positions,
            velocities=velocities,
            temperature=temperature,
            key=key,
            **extra,
        )
        return self.shard(state)

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
        """Run `n_steps` steps on all devices, recording every `stride` steps.

        Same arguments and chunked overflow handling as `JaxMDBackend.sample`; the overflow
        flags of all replicas on all devices are checked after every chunk.

        **Returns:** `(trajectory, final_state)`, both with the replica axis first and split
        over the devices.
        """
        inner = self.backend
        record, fields, n_steps, stride = _sample_arguments(record, n_steps, stride)
        self._check_state(state)
        inner._check_cutoff(potential, system)
        st, signals = inner._sample_chunks(
            potential,
            system,
            self.shard(state),
            key,
            record,
            n_steps,
            stride,
            allocate=self._allocate,
            gather=_gather,
        )
        n_replicas = st.positions.shape[0]
        traj = inner._trajectory(signals, system, stride, True)
        return self.shard(traj, n_replicas), st

    def _allocate(self, potential, positions, system, at_least=None):
        """`JaxMDBackend._allocate` on the full batch (gathered from all hosts, so every
        process computes the same capacity), placed on the mesh."""
        nbrs = self.backend._allocate(
            potential, jnp.asarray(_gather(positions)), system, at_least=at_least
        )
        return self.shard(nbrs, positions.shape[0])

    # --------------------------------------------------------------------------- run
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
        """Pure, traceable counterpart of `sample` (`JaxMDBackend.run` on the mesh;
        `checkpoint_blocks` as there).

        The state's replica axis is constrained to the mesh (placed if concrete), so this
        can be called inside `jit`/`grad` with a state from `init`. No reallocation:
        `overflowed` (replicated bool scalar) says whether any replica's list overflowed;
        the results are then invalid (reallocate with `sample` and rerun).

        **Returns:** `(trajectory, final_state, overflowed)`.
        """
        self._check_state(state)
        n_replicas = state.positions.shape[0]
        st = self.shard(state)
        extra = {"checkpoint_blocks": tuple(checkpoint_blocks)} if checkpoint_blocks else {}
        traj, new, overflowed = self.backend.run(
            potential, system, st, key, n_steps, stride=stride, record=record, **extra
        )
        return self.shard(traj, n_replicas), self.shard(new, n_replicas), overflowed
