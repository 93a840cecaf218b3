"""Where a batch of replicas runs: one device (`SingleDevice`, the default) or split over
several devices and hosts (`Sharded`), an option of `JaxMDBackend(parallel=...)`.

**How `Sharded` works.** The replica axis (the leading axis of every array of a batched
`MDState` except `step`, and of every field of a batched `Trajectory`) is laid out over a
one-dimensional `jax.sharding.Mesh` with axis name `"replica"`
(`NamedSharding(mesh, P("replica"))`); parameters, the box and the PRNG key are
replicated. The backend's batched kernels are then compiled for these shardings (XLA's
SPMD partitioner): every device integrates only its own replicas, with the same
per-replica arithmetic as on one device. The neighbour-rebuild decision ("did any atom of
any replica move more than skin/2?") stays a single `lax.cond` on a scalar — one
all-reduce per step — and is the *same* decision as on one device. Random numbers
(Langevin) come from the same key with the same shape and JAX's partitionable Threefry,
so they are the same numbers too. A sharded run therefore reproduces the one-device
batched run, and so do the gradients of every strategy.

Neighbour lists are allocated on the host from the whole batch, gathered from all devices
and hosts (every process computes the same capacity), then placed on the mesh.

**Several hosts.** With `jax.distributed.initialize(...)` called first, `jax.devices()`
lists the devices of every process and the mesh spans them all; every process runs the
same program with the same arguments. Returned arrays are then global arrays of which
each process holds its own replicas (`multihost_utils.process_allgather` collects them).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

__all__ = ["AbstractParallelism", "SingleDevice", "Sharded", "replica_mesh"]

#: Name of the mesh axis the replicas are split over.
REPLICA_AXIS = "replica"


def replica_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
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


class AbstractParallelism(eqx.Module):
    """Where the replicas of a batched state run (`JaxMDBackend(parallel=...)`)."""

    @property
    @abc.abstractmethod
    def n_devices(self) -> int:
        """Number of devices the replicas are split over."""

    @abc.abstractmethod
    def shard(self, tree: Any, n_replicas: int) -> Any:
        """`tree` with every array whose leading axis has length `n_replicas` placed
        (split) over the devices, the other arrays replicated; concrete arrays are moved,
        traced ones constrained."""

    def check_replicas(self, n_replicas: int) -> None:
        """Raise a `ValueError` unless `n_replicas` can be split evenly over the devices."""

    def gather(self, x: Any) -> np.ndarray:
        """The full value of a (possibly multi-host) array on this host, as numpy."""
        return np.asarray(x)


class SingleDevice(AbstractParallelism):
    """All replicas on JAX's default device (the default): a batch advances together in
    one program."""

    @property
    def n_devices(self) -> int:
        return 1

    def shard(self, tree: Any, n_replicas: int) -> Any:
        return tree


class Sharded(AbstractParallelism):
    """Replicas split evenly over several devices (and hosts): see the module docstring.

    **Arguments:** `devices`: the devices to use (default `jax.devices()`: all local
    devices, or all devices of all processes after `jax.distributed.initialize`).

    **Fields:** `mesh`, the one-dimensional `("replica",)` mesh (`replica_mesh`).

    A batched state must hold a multiple of `n_devices` replicas (a `ValueError` suggests
    counts otherwise); an unbatched state (one system) runs on one device.

    ```python
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), parallel=Sharded())
    state = backend.init(lj, system, Quantity(positions, "nm"),  # [replica, atom, 3]
                         temperature=Quantity(90, "K"), key=jax.random.key(0))
    traj, state = backend.sample(lj, system, state, jax.random.key(1), 1000, stride=10)
    ```
    """

    mesh: Mesh = eqx.field(static=True)

    def __init__(self, devices: Sequence[jax.Device] | None = None):
        self.mesh = replica_mesh(devices)

    @property
    def n_devices(self) -> int:
        return self.mesh.devices.size

    def check_replicas(self, n_replicas: int) -> None:
        n_devices = self.n_devices
        if n_replicas >= 1 and n_replicas % n_devices == 0:
            return
        lower = (n_replicas // n_devices) * n_devices
        upper = lower + n_devices
        k = max(k for k in range(1, n_devices + 1) if n_replicas % k == 0)
        counts = f"{lower} or {upper}" if lower > 0 else f"{upper}"
        raise ValueError(
            f"{n_replicas} replicas cannot be split evenly over {n_devices} devices: use a "
            f"multiple of {n_devices} replicas (e.g. {counts}), or fewer devices "
            f"(Sharded(devices=jax.devices()[:{k}]) runs {n_replicas // k} replicas per "
            "device)."
        )

    def shard(self, tree: Any, n_replicas: int) -> Any:
        self.check_replicas(n_replicas)
        split = NamedSharding(self.mesh, P(REPLICA_AXIS))
        whole = NamedSharding(self.mesh, P())

        def place(x):
            if not isinstance(x, jax.Array | np.ndarray):
                return x
            target = split if (x.ndim >= 1 and x.shape[0] == n_replicas) else whole
            if isinstance(x, jax.core.Tracer):
                return jax.lax.with_sharding_constraint(x, target)
            if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(target, x.ndim):
                return x
            return jax.device_put(x, target)

        return jax.tree.map(place, tree)

    def gather(self, x: Any) -> np.ndarray:
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
