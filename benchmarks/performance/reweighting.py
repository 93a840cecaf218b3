"""Reweighting (DiffTRe) vs BPTT: time of one RDF-loss gradient, Lennard-Jones argon.

For each size (atoms = 4 n³, fcc start at ρ* = 0.8442, σ = 0.3405 nm, ε = 0.99774 kJ/mol,
r_c = 2.5σ force-shifted, Langevin 120 K, γ = 5/ps, Δt = 4 fs, skin 0.1 nm; float32 unless
`--float64`), with a trajectory of `frames × stride` steps:

- `MD forward`: `JaxMDBackend.sample` of the reference trajectory (what a new reference
  costs; a reweighting fit pays it only when the effective sample size drops);
- `reweighting`: `Reweighting.estimate` — loss and gradient reusing that reference
  (per-frame energies forward + reverse, reweighted RDF; the per-frame RDFs are cached);
- `BPTT`: `jax.value_and_grad` of the same loss through `JaxMDBackend.run` over the same
  number of steps (no checkpointing: the plain reverse pass, so memory grows with the
  steps — keep `frames × stride` modest), the RDF taken on the frames of that run.

The RDF uses a Gaussian kernel (σ_k = 0.01 nm, 100 bins to r_max = 1 nm) so that BPTT can
differentiate it; the loss is Σ (g − g_target)² against a fixed target. Compilation is
excluded (one warm-up call each); each time is the best of `--repeats`. The ratio is
BPTT time ÷ reweighting time (DiffTRe, Thaler & Zavadlav 2021, report ~100×; the ratio
grows with `stride`, since BPTT pays every step and reweighting every frame). The 1-minute
load average is printed (the machine may be shared).

Usage: `python -m benchmarks.performance.reweighting --sizes 256 500 --frames 50 --stride 10
--json out.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import RDF, GaussianKernel, Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions
from spectrinv.gradients import Objective, Reweighting
from spectrinv.potentials import ForceShifted, LennardJones, System

from .._harness import best_time, load

SIGMA, EPS, MASS = 0.3405, 0.99774, 39.948
T_K, DT_FS, FRICTION = 120.0, 4.0, 5.0


def lattice(n: int, dtype):
    a = SIGMA * (4.0 / 0.8442) ** (1.0 / 3.0)
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = ((g[:, None, :] + basis[None]) * a).reshape(-1, 3).astype(dtype)
    system = System(
        box=jnp.full(3, n * a, dtype),
        species=jnp.zeros(len(pos), jnp.int32),
        masses=jnp.full(len(pos), MASS, dtype),
    )
    return pos, system


class Problem(NamedTuple):
    system: Any
    lj: Any
    backend: Any
    state: Any
    key: Any
    objective: Any
    params: Any
    static: Any
    start: Any  # the fcc lattice positions (nm) the run started from
    target: Any  # the target g(r)


def problem(n_cells: int, dtype, seed: int = 0) -> Problem:
    """The benchmark problem (shared with `chemtrain_difftre.py`): fcc LJ argon,
    2000 Langevin steps of equilibration, Gaussian-kernel RDF objective against a fixed
    target, parameters (σ, ε)."""
    pos, system = lattice(n_cells, dtype)
    lj = LennardJones(
        Quantity(SIGMA, "nm"),
        Quantity(EPS, "kJ/mol"),
        Quantity(2.5 * SIGMA, "nm"),
        truncation=ForceShifted(),
    )
    lj = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, lj)
    backend = JaxMDBackend(
        Langevin(Quantity(DT_FS, "fs"), Quantity(T_K, "K"), Quantity(FRICTION, "1/ps"))
    )
    key = jax.random.key(seed)
    state = backend.init(lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=key)
    _, state = backend.sample(lj, system, state, key, 2000, stride=2000, record=(Positions(),))
    rdf = RDF(Quantity(1.0, "nm"), bins=100, kernel=GaussianKernel(Quantity(0.01, "nm")))
    r = np.asarray(rdf.bin_centers.m_as("nm"))
    target = jnp.asarray(1.0 + np.exp(-(((r - 0.38) / 0.05) ** 2)), dtype)

    def loss(res):
        return jnp.sum((res.g - target) ** 2)

    objective = Objective(rdf, loss, record=(Positions(),))
    params, static = eqx.partition(lj, eqx.is_inexact_array)
    return Problem(system, lj, backend, state, key, objective, params, static, pos, target)


def measure(n_cells: int, frames: int, stride: int, repeats: int, dtype) -> dict:
    system, lj, backend, state, key, objective, params, static, pos, _ = problem(n_cells, dtype)
    rdf, loss = objective.observe, objective.loss
    n_steps = frames * stride

    # reference trajectory (forward MD) and its cache
    t_md = best_time(
        lambda: (
            backend.sample(lj, system, state, key, n_steps, stride=stride, record=(Positions(),))[
                0
            ].positions
        ),
        repeats,
    )
    rw = Reweighting(n_frames=frames, stride=stride)
    traj, _ = backend.sample(lj, system, state, key, n_steps, stride=stride, record=(Positions(),))
    t0 = time.perf_counter()
    cache = rw.reference(
        objective, params, static, system=system, trajectory=traj, temperature=Quantity(T_K, "K")
    )
    t_ref = time.perf_counter() - t0  # includes compilation: reported for information
    t_rw = best_time(
        lambda: rw.estimate(objective, params, static, system=system, cache=cache).grad, repeats
    )

    @eqx.filter_jit
    def bptt(p):
        def f(p):
            tr, _, overflow = backend.run(
                eqx.combine(p, static),
                system,
                state,
                key,
                n_steps,
                stride=stride,
                record=(Positions(),),
            )
            return loss(rdf(tr)), overflow

        return eqx.filter_value_and_grad(f, has_aux=True)(p)

    (_, overflow), _ = bptt(params)
    if bool(overflow):
        raise RuntimeError("neighbour list overflowed in the BPTT run; use a larger skin")
    t_bptt = best_time(lambda: bptt(params)[1], repeats)
    return dict(
        atoms=int(pos.shape[0]),
        frames=frames,
        stride=stride,
        steps=n_steps,
        dtype=jnp.dtype(dtype).name,
        md_forward_s=t_md,
        reference_build_s=t_ref,
        reweighting_s=t_rw,
        bptt_s=t_bptt,
        ratio=t_bptt / t_rw,
        load=load(),
    )


def machine_meta(args) -> dict:
    """Python, jax, machine, CPU count, devices and the command-line arguments (for JSON)."""
    return dict(
        python=platform.python_version(),
        jax=jax.__version__,
        machine=platform.machine(),
        cpus=os.cpu_count(),
        devices=[str(d) for d in jax.devices()],
        args=vars(args),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[256, 500],
        help="atom counts, 4 n³ (256 = n 4, 500 = n 5)",
    )
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if args.float64 else jnp.float32
    rows = []
    for atoms in args.sizes:
        n = round((atoms / 4) ** (1 / 3))
        if 4 * n**3 != atoms:
            raise SystemExit(f"--sizes must be 4 n³ (32, 108, 256, 500, 864, ...), got {atoms}")
        rows.append(measure(n, args.frames, args.stride, args.repeats, dtype))
    head = (
        f"{'atoms':>6} {'frames':>6} {'stride':>6} {'MD fwd s':>9} {'RW grad s':>10} "
        f"{'BPTT s':>9} {'BPTT/RW':>8} {'load':>5}"
    )
    print(head)
    for r in rows:
        print(
            f"{r['atoms']:>6} {r['frames']:>6} {r['stride']:>6} {r['md_forward_s']:>9.3f} "
            f"{r['reweighting_s']:>10.4f} {r['bptt_s']:>9.3f} {r['ratio']:>8.1f} "
            f"{r['load']:>5.1f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(meta=machine_meta(args), rows=rows), fh, indent=2)


if __name__ == "__main__":
    main()
