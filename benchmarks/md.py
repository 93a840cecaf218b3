"""MD throughput: JaxMDBackend vs a bare jax-md loop vs OpenMM, Lennard-Jones fcc argon.

For each size (atoms = 4 n³ for an fcc n×n×n start at ρ* = 0.8442, σ = 0.3405 nm,
ε = 0.99774 kJ/mol, r_c = 2.5σ, skin 0.1 nm, Δt = 4 fs, float32 for the JAX engines):

- `bare jax-md`: `energy.lennard_jones_neighbor_list` + `simulate.nve` in a `lax.fori_loop`
  with `nbrs.update` each step and one overflow check at the end (the jax-md README loop);
- `JaxMDBackend`: `sample(n_steps, stride=100)` recording positions every 100 steps;
- `OpenMM CPU`: `OpenMMBackend` (CustomNonbondedForce, velocity Verlet), all CPU threads.

Reports steps/s, atom-steps/s and the overhead ratio (JaxMDBackend steps/s ÷ bare jax-md
steps/s; 1.0 means no overhead). Compilation is excluded (one warm-up run first); each
number is the best of `REPEATS` timed runs.

Usage: `python benchmarks/md.py --quick --json out.json` (sizes 500, 864) or
`--sizes 4000 32000 --steps 500`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import _setup  # noqa: F401  (import path: see benchmarks/_setup.py)
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity
from spectrinv.backends import JaxMDBackend, OpenMMBackend, Positions, VelocityVerlet
from spectrinv.potentials import LennardJones, System

with jax.numpy_dtype_promotion("standard"):
    from jax_md import energy as jmd_energy, partition, simulate, space

SIGMA, EPS, MASS = 0.3405, 0.99774, 39.948
DT_PS, SKIN = 0.004, 0.1
REPEATS = 3  # best of 3 timed runs (the machine may be shared)


def fcc(n_atoms: int):
    n = round((n_atoms / 4) ** (1 / 3))
    if 4 * n**3 != n_atoms:
        raise SystemExit(f"size {n_atoms} is not 4 n^3 (fcc); try 500, 864, 4000, 32000")
    a = (4 / 0.8442) ** (1 / 3) * SIGMA
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return ((g[:, None, :] + basis[None]) * a).reshape(-1, 3).astype(np.float32), n * a


def velocities(n_atoms: int, kelvin: float = 90.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n_atoms, 3)) * np.sqrt(0.0083144626 * kelvin / MASS)
    return (v - v.mean(0)).astype(np.float32)


def bench_bare(pos, length, vel, n_steps):
    with jax.numpy_dtype_promotion("standard"):
        disp, shift = space.periodic(jnp.float32(length))
        nfn, efn = jmd_energy.lennard_jones_neighbor_list(
            disp,
            jnp.float32(length),
            sigma=SIGMA,
            epsilon=EPS,
            r_onset=2.0,
            r_cutoff=2.5,
            dr_threshold=SKIN,
            format=partition.Dense,
        )
        init, apply = simulate.nve(efn, shift, DT_PS)
        nbrs = nfn.allocate(jnp.asarray(pos))
        state = init(jax.random.key(0), jnp.asarray(pos), 0.0, mass=MASS, neighbor=nbrs)
        state = state.set(momentum=jnp.asarray(vel) * MASS)

        @jax.jit
        def run(state, nbrs):
            def body(i, carry):
                st, nb = carry
                st = apply(st, neighbor=nb)
                return st, nb.update(st.position)

            return jax.lax.fori_loop(0, n_steps, body, (state, nbrs))

        jax.block_until_ready(run(state, nbrs))
        elapsed = np.inf
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            out, nb = jax.block_until_ready(run(state, nbrs))
            elapsed = min(elapsed, time.perf_counter() - t0)
    assert not bool(nb.did_buffer_overflow), "bare jax-md neighbour list overflowed"
    return n_steps / elapsed


def _ours(pos, length, vel):
    n = len(pos)
    system = System(
        box=jnp.full(3, length, jnp.float32),
        species=jnp.zeros(n, jnp.int32),
        masses=jnp.full(n, MASS, jnp.float32),
    )
    lj = LennardJones(Quantity(SIGMA, "nm"), Quantity(EPS, "kJ/mol"), Quantity(2.5 * SIGMA, "nm"))
    return system, lj


def bench_ours(pos, length, vel, n_steps):
    system, lj = _ours(pos, length, vel)
    backend = JaxMDBackend(
        VelocityVerlet(Quantity(DT_PS, "ps")), skin=Quantity(SKIN, "nm"), chunk_steps=n_steps
    )
    state = backend.init(lj, system, Quantity(pos, "nm"), velocities=Quantity(vel, "nm/ps"))
    stride = min(100, n_steps)
    key = jax.random.key(0)
    jax.block_until_ready(
        backend.sample(lj, system, state, key, n_steps, stride=stride, record=(Positions(),))
    )
    elapsed = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        traj, _ = backend.sample(
            lj, system, state, key, n_steps, stride=stride, record=(Positions(),)
        )
        jax.block_until_ready(traj.positions)
        elapsed = min(elapsed, time.perf_counter() - t0)
    return n_steps / elapsed


def bench_openmm(pos, length, vel, n_steps):
    system, lj = _ours(pos, length, vel)
    backend = OpenMMBackend(VelocityVerlet(Quantity(DT_PS, "ps")), platform="CPU")
    state = backend.init(
        lj,
        system,
        Quantity(pos.astype(float), "nm"),
        velocities=Quantity(vel.astype(float), "nm/ps"),
    )
    key = jax.random.key(0)
    backend.sample(lj, system, state, key, min(50, n_steps), stride=min(50, n_steps))
    elapsed = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        backend.sample(lj, system, state, key, n_steps, stride=n_steps)
        elapsed = min(elapsed, time.perf_counter() - t0)
    return n_steps / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000])
    parser.add_argument("--steps", type=int, default=500, help="timed steps per engine")
    parser.add_argument("--quick", action="store_true", help="sizes 500 and 864, 300 steps")
    parser.add_argument("--no-openmm", action="store_true")
    parser.add_argument("--json", type=str, default=None, help="write results to this file")
    args = parser.parse_args(argv)
    sizes, steps = ([500, 864], 300) if args.quick else (args.sizes, args.steps)

    rows = []
    for n_atoms in sizes:
        pos, length = fcc(n_atoms)
        vel = velocities(n_atoms)
        row = {"atoms": n_atoms, "steps": steps}
        row["bare_jaxmd_steps_per_s"] = bench_bare(pos, length, vel, steps)
        row["jaxmdbackend_steps_per_s"] = bench_ours(pos, length, vel, steps)
        if not args.no_openmm:
            try:
                row["openmm_cpu_steps_per_s"] = bench_openmm(pos, length, vel, steps)
            except ImportError:
                row["openmm_cpu_steps_per_s"] = None
        row["overhead_ratio"] = row["jaxmdbackend_steps_per_s"] / row["bare_jaxmd_steps_per_s"]
        rows.append(row)

    header = f"{'atoms':>7} {'engine':<14} {'steps/s':>10} {'atom-steps/s':>14}\n" + "-" * 48
    print(header)
    for row in rows:
        for name, key in [
            ("bare jax-md", "bare_jaxmd_steps_per_s"),
            ("JaxMDBackend", "jaxmdbackend_steps_per_s"),
            ("OpenMM CPU", "openmm_cpu_steps_per_s"),
        ]:
            value = row.get(key)
            if value is None:
                continue
            print(f"{row['atoms']:>7} {name:<14} {value:>10.1f} {value * row['atoms']:>14.3e}")
        print(
            f"{row['atoms']:>7} overhead ratio (JaxMDBackend / bare) = {row['overhead_ratio']:.3f}"
        )
    meta = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "dtype": "float32",
        "timestep_ps": DT_PS,
        "cutoff_sigma": 2.5,
        "skin_nm": SKIN,
    }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
