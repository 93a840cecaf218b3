"""Replica throughput: batched on one device vs `JaxMDBackend(parallel=Sharded())` over
several devices vs `jax.vmap` on one device (Lennard-Jones fcc argon, NVE).

For each size (atoms = 4 n³, fcc start at ρ* = 0.8442, σ = 0.3405 nm, ε = 0.99774 kJ/mol,
r_c = 2.5σ, skin 0.1 nm, 120 K Maxwell–Boltzmann velocities, Δt = 4 fs, velocity Verlet)
and `--replicas` replicas, times the pure `run` (jitted, positions recorded every
`n_steps // 4` steps) of:

- `1 replica, 1 device`: `JaxMDBackend.run` on a batch of one (the per-replica ideal);
- `batched, 1 device`: `JaxMDBackend.run` on the `[replica, atom, 3]` batch on device 0;
- `Sharded(), D devices`: `JaxMDBackend(parallel=Sharded()).run`, the batch split over D
  devices;
- `shard_map, D devices`: for comparison only (not in the API) — `jax.shard_map` of the
  same batched chunk, so each device decides its neighbour rebuilds alone;
- `vmap, 1 device`: `jax.vmap` of the unbatched run over replicas (its neighbour-rebuild
  `lax.cond` becomes a `select`, i.e. the list is rebuilt every step).

Reports replica-steps/s (replicas × steps / wall time) and the ratio to the batched run.
The variants are timed in turn, `--repeats` rounds, best of each: ratios within one run are
what counts on a shared machine. Compilation is excluded (one warm-up call each).

On CPU, `--devices D` fakes D host devices (`XLA_FLAGS=--xla_force_host_platform_device_count`);
it must be set before JAX starts, which this script does. On GPU all GPUs are used.

Usage: `python -m benchmarks.performance.sharding --sizes 256 500 --replicas 4 --devices 4`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--sizes", type=int, nargs="+", default=[256, 500])
parser.add_argument("--steps", type=int, nargs="+", default=None)
parser.add_argument("--replicas", type=int, default=4)
parser.add_argument("--devices", type=int, default=4, help="fake CPU devices")
parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--json", default=None)
args = parser.parse_args()
if "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

if args.dtype == "float64":
    jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Positions, Sharded, VelocityVerlet  # noqa: E402
from spectrinv.backends._chunk import run_chunk as _run_chunk  # noqa: E402
from spectrinv.potentials import LennardJones, System  # noqa: E402

from .._harness import alternate, load as machine_load  # noqa: E402

SIGMA, EPS, ARGON = 0.3405, 0.99774, 39.948


def lj_fcc(n_atoms: int, dtype):
    n = round((n_atoms / 4) ** (1 / 3))
    if 4 * n**3 != n_atoms:
        raise SystemExit(f"--sizes must be 4 n^3 (32, 108, 256, 500, 864, ...), got {n_atoms}")
    a = SIGMA * (4 / 0.8442) ** (1 / 3)
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = ((g[:, None, :] + basis[None]) * a).reshape(-1, 3).astype(dtype)
    system = System(
        box=jnp.full(3, n * a, dtype),
        species=jnp.zeros(n_atoms, jnp.int32),
        masses=jnp.full(n_atoms, ARGON, dtype),
    )
    lj = LennardJones(Quantity(SIGMA, "nm"), Quantity(EPS, "kJ/mol"), Quantity(2.5 * SIGMA, "nm"))
    return pos, system, lj


def variants(n_atoms, n_steps, n_rep, dtype):
    pos, system, lj = lj_fcc(n_atoms, dtype)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), chunk_steps=n_steps)
    sharded = JaxMDBackend(
        VelocityVerlet(Quantity(4, "fs")), chunk_steps=n_steps, parallel=Sharded()
    )
    key = jax.random.key(1)
    stride = n_steps // 4
    rec = (Positions(),)
    batch = backend.init(
        lj,
        system,
        Quantity(np.stack([pos] * n_rep), "nm"),
        temperature=Quantity(120, "K"),
        key=jax.random.key(0),
    )
    one = jax.tree.map(lambda x: x[:1] if x.ndim else x, batch)

    def run_with(b):
        @jax.jit
        def f(state):
            traj, _final, overflowed = b.run(lj, system, state, key, n_steps, stride=stride)
            return traj.positions, overflowed

        return f

    # shard_map of the batched chunk (comparison only): per-device rebuild decisions
    placed = sharded.parallel.shard(batch, n_rep)
    specs = jax.tree.map(lambda x: P("replica") if x.ndim else P(), batch)
    dyn, static = eqx.partition((lj, system), eqx.is_array)

    def local(dyn, state):
        pot, sysm = eqx.combine(dyn, static)
        new, frames = _run_chunk(
            backend.integrator, pot, sysm, state, key, rec, 4, stride, backend.skin
        )
        return frames["positions"], jax.lax.pmax(
            jnp.any(new.neighbors.did_buffer_overflow != 0).astype(jnp.int32), "replica"
        )

    smap = jax.jit(
        jax.shard_map(
            local,
            mesh=sharded.parallel.mesh,
            in_specs=(P(), specs),
            out_specs=(P(None, "replica"), P()),
        )
    )
    per_replica = eqx.tree_at(lambda s: s.step, batch, jnp.zeros(n_rep, batch.step.dtype))

    @jax.jit
    def vmapped(states):
        def single(st):
            traj, _, overflowed = backend.run(lj, system, st, key, n_steps, stride=stride)
            return traj.positions, overflowed

        return jax.vmap(single)(states)

    d = sharded.parallel.n_devices
    return [
        ("1 replica, 1 device", 1, run_with(backend), (one,)),
        ("batched, 1 device", n_rep, run_with(backend), (batch,)),
        (f"Sharded(), {d} devices", n_rep, run_with(sharded), (placed,)),
        (f"shard_map, {d} devices", n_rep, smap, (dyn, placed)),
        ("vmap, 1 device", n_rep, vmapped, (per_replica,)),
    ]


def main():
    dtype = np.dtype(args.dtype)
    steps = args.steps or [max(20, int(200 * 256 / n)) // 4 * 4 for n in args.sizes]
    rows = []
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__}, devices {jax.devices()}, {args.dtype}"
    )
    for n_atoms, n_steps in zip(args.sizes, steps, strict=True):
        todo = variants(n_atoms, n_steps, args.replicas, dtype)
        for name, _, f, fargs in todo:  # warm-up (compile) and overflow check
            _positions, overflowed = jax.block_until_ready(f(*fargs))
            if bool(np.any(np.asarray(overflowed))):
                raise SystemExit(f"{name}: neighbour list overflowed; rerun with fewer steps")
        load = machine_load()
        calls = {name: (lambda f=f, fargs=fargs: f(*fargs)) for name, _, f, fargs in todo}
        best = alternate(calls, args.repeats, warmup=0)
        base = args.replicas * n_steps / best["batched, 1 device"]
        print(f"\n{n_atoms} atoms × {args.replicas} replicas, {n_steps} steps, load {load:.1f}")
        print("| variant | replica-steps/s | vs batched |\n|---|---:|---:|")
        for name, n_rep, _, _ in todo:
            rate = n_rep * n_steps / best[name]
            print(f"| {name} | {rate:.0f} | {rate / base:.2f} |")
            rows.append(
                {
                    "atoms": n_atoms,
                    "replicas": n_rep,
                    "steps": n_steps,
                    "variant": name,
                    "seconds": best[name],
                    "replica_steps_per_s": rate,
                    "ratio_to_batched": rate / base,
                    "load": load,
                }
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "machine": {
                        "processor": platform.processor(),
                        "cores": os.cpu_count(),
                        "jax": jax.__version__,
                        "devices": [str(d) for d in jax.devices()],
                        "dtype": args.dtype,
                    },
                    "rows": rows,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
