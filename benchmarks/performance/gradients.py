"""Gradient strategies through MD: time and peak memory of forward, BPTT, checkpointed BPTT
and the discrete adjoint, as a function of the trajectory length.

System: Lennard-Jones fcc argon (atoms = 4 n³, ρ* ≈ 0.84, σ = 0.3405 nm, ε = 0.99774 kJ/mol,
force-shifted at 0.85 nm, skin 0.1 nm), 90 K Maxwell–Boltzmann start, velocity Verlet
Δt = 4 fs, float64. Objective: Σ_t VACF(t)² with VACF(t) = ⟨v(t)·v(0)⟩ over atoms, frames
every `--stride` steps (records positions and velocities), differentiated w.r.t. σ and ε.

Methods (each configuration in its own subprocess, so peak RSS is per method):
- `forward`: the jitted pure forward `JaxMDBackend.run` (same stride and recorders);
- `bptt`: plain BPTT, `jax.value_and_grad` through `JaxMDBackend.run` (no checkpointing);
- `bptt_sqrt`: checkpointed BPTT with √T blocks — `spectrinv.gradients._bptt.BPTT` with
  `SqrtCheckpoint()` when that module exists, otherwise a `jax.checkpoint`-per-block scan
  written here;
- `adjoint`: `spectrinv.gradients._adjoint.Adjoint` (`--anchor-every` steps per anchor;
  default: the Adjoint's own default, 1000 steps in float64).

Each worker runs its computation once to compile (warm-up), then `--repeats` timed runs
(best kept); the wall time excludes compilation. Peak memory is the worker's
`ru_maxrss` (whole process: Python + JAX + compilation + the computation). The parent kills a
worker whose resident memory exceeds `--mem-limit` GB (or that dies) and reports it as
`OOM`; this keeps a run of plain BPTT from exhausting a shared machine.

Reported: per method and length the time, the time relative to the forward run of the same
length, the peak RSS, the loss and gradient norm, the adjoint's peak-memory ratio between
the longest and shortest run (target ≤ 1.1) and its time / forward time (target ≤ 3).
On a shared machine absolute times drift with the load; ratios between runs taken close
together are what to trust (the 1-minute load average is printed per run).

Usage: `python -m benchmarks.performance.gradients --quick` (108 atoms; 200 and 1000 steps) or
`python -m benchmarks.performance.gradients --atoms 500 --steps 1000 10000 --json out.json`;
`--report out.json` prints the table of a saved run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from .._harness import best_time, load

SIGMA_NM, EPS_KJ, MASS, CUTOFF_NM = 0.3405, 0.99774, 39.948, 0.85
DT_FS, T_K = 4.0, 90.0
METHODS = ("forward", "bptt", "bptt_sqrt", "adjoint")
REPO_ROOT = Path(__file__).resolve().parents[2]  # workers run as `python -m` from here


# ------------------------------------------------------------------------------ worker
def _setup_system(n_atoms: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from observables import Quantity
    from spectrinv.backends import JaxMDBackend, VelocityVerlet
    from spectrinv.potentials import ForceShifted, LennardJones, System

    n = round((n_atoms / 4) ** (1 / 3))
    if 4 * n**3 != n_atoms:
        raise SystemExit(f"--atoms {n_atoms} is not 4 n^3 (fcc); try 108, 256, 500, 864")
    a = (4 / 0.8442) ** (1 / 3) * SIGMA_NM
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = ((g[:, None, :] + basis[None]) * a).reshape(-1, 3)
    system = System(
        box=jnp.full(3, n * a),
        species=jnp.zeros(n_atoms, jnp.int32),
        masses=jnp.full(n_atoms, MASS),
    )
    lj = LennardJones(
        Quantity(SIGMA_NM, "nm"),
        Quantity(EPS_KJ, "kJ/mol"),
        Quantity(CUTOFF_NM, "nm"),
        truncation=ForceShifted(),
    )
    backend = JaxMDBackend(VelocityVerlet(Quantity(DT_FS, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(T_K, "K"), key=jax.random.key(0)
    )
    return system, lj, backend, state


def _vacf(traj):
    import jax.numpy as jnp

    v = traj.velocities
    return jnp.mean(jnp.sum(v * v[:1], axis=-1), axis=-1)


def _sum_squares(x):
    import jax.numpy as jnp

    return jnp.sum(x**2)


def _checkpointed_fallback(backend, system, state, key, static, n_steps, stride, record):
    """√T-block BPTT written here (used only if `spectrinv.gradients._bptt` is missing)."""
    import math

    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from spectrinv.backends._chunk import run_chunk as _run_chunk

    n_frames = n_steps // stride
    per_block = max(1, round(math.sqrt(n_steps) / stride))
    while n_frames % per_block:
        per_block -= 1
    n_blocks = n_frames // per_block
    st0 = backend.batch(state)

    def loss(p):
        pot = eqx.combine(p, static)

        @jax.checkpoint
        def block(st, _):
            return _run_chunk(
                backend.integrator, pot, system, st, key, record, per_block, stride, backend.skin
            )

        final, frames = jax.lax.scan(block, st0, None, length=n_blocks)
        frames = {k: v.reshape((n_frames,) + v.shape[2:]) for k, v in frames.items()}
        traj = backend.build_trajectory(frames, system, stride, batched=False)
        overflow = jnp.any(final.neighbors.did_buffer_overflow != 0)
        return _sum_squares(_vacf(traj)), overflow

    return eqx.filter_jit(jax.value_and_grad(loss, has_aux=True))


def _make_compute(method, lj, system, backend, state, key, n_steps, stride, anchor_every):
    """The function timed for `method` (returns loss and gradient) and a note on it."""
    import equinox as eqx
    import jax

    from spectrinv.backends import Positions, Velocities
    from spectrinv.gradients._base import Objective

    params, static = eqx.partition(lj, eqx.is_inexact_array)
    objective = Objective(_vacf, _sum_squares)
    record = (Positions(), Velocities())

    if method == "bptt":

        def loss(p):
            traj, _, overflowed = backend.run(
                eqx.combine(p, static), system, state, key, n_steps, stride=stride, record=record
            )
            return _sum_squares(_vacf(traj)), overflowed

        grad_fn = eqx.filter_jit(jax.value_and_grad(loss, has_aux=True))

        def compute():
            (value, overflowed), grad = jax.block_until_ready(grad_fn(params))
            assert not bool(overflowed)
            return value, grad

        return compute, ""

    if method == "bptt_sqrt":
        try:
            from spectrinv.gradients._bptt import BPTT, SqrtCheckpoint
        except ImportError:
            grad_fn = _checkpointed_fallback(
                backend, system, state, key, static, n_steps, stride, record
            )

            def compute():
                (value, overflowed), grad = jax.block_until_ready(grad_fn(params))
                assert not bool(overflowed)
                return value, grad

            return compute, "in-script jax.checkpoint blocks"
        strategy = BPTT(n_steps, stride=stride, checkpoint=SqrtCheckpoint())

        def compute():
            res = strategy(
                objective, params, static, backend=backend, system=system, state=state, key=key
            )
            return jax.block_until_ready(res.loss), jax.block_until_ready(res.grad)

        return compute, "spectrinv BPTT(SqrtCheckpoint())"

    if method == "adjoint":
        from spectrinv.gradients._adjoint import Adjoint

        strategy = Adjoint(n_steps, stride=stride, anchor_every=anchor_every or None)

        def compute():
            res = strategy(
                objective, params, static, backend=backend, system=system, state=state, key=key
            )
            compute.diag = res.diagnostics
            return jax.block_until_ready(res.loss), jax.block_until_ready(res.grad)

        return compute, ""

    raise SystemExit(f"unknown method {method!r}; choose from {METHODS}")


def worker(method: str, n_atoms: int, n_steps: int, stride: int, anchor_every: int, repeats):
    import equinox as eqx
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from spectrinv.backends import Positions, Velocities
    from spectrinv.gradients._base import tree_norm

    system, lj, backend, state = _setup_system(n_atoms)
    key = jax.random.key(1)
    record = (Positions(), Velocities())
    run = eqx.filter_jit(
        lambda pot: backend.run(pot, system, state, key, n_steps, stride=stride, record=record)
    )

    def forward():
        traj, _, overflowed = jax.block_until_ready(run(lj))
        assert not bool(overflowed)
        return _sum_squares(_vacf(traj)), None

    if method == "forward":
        compute, note = forward, ""
    else:
        compute, note = _make_compute(
            method, lj, system, backend, state, key, n_steps, stride, anchor_every
        )

    t0 = time.perf_counter()
    value, grad = compute()  # warm-up: compilation (the timed runs give the same numbers)
    warm = time.perf_counter() - t0
    load_1min = load()
    best = best_time(compute, repeats, warmup=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fwd_seconds = None
    if method != "forward":  # the same-process forward time: ratios immune to load drift
        fwd_seconds = best_time(forward, repeats)
    out = dict(
        method=method,
        atoms=n_atoms,
        steps=n_steps,
        seconds=best,
        warmup_seconds=warm,
        forward_seconds_same_process=fwd_seconds,
        peak_rss_mb=peak,
        loss=float(value),
        grad=None if grad is None else [float(x) for x in (grad.sigma, grad.epsilon)],
        grad_norm=None if grad is None else float(tree_norm(grad)),
        load=load_1min,
        note=note,
        dtype=str(jnp.result_type(float)),
    )
    if method == "adjoint":
        out["reconstruction_error_nm"] = float(compute.diag["reconstruction_error"])
        out["n_anchors"] = int(compute.diag["n_anchors"])
    print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------------------ parent
def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_one(args, method: str, n_steps: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.performance.gradients",
        "--worker",
        method,
        "--atoms",
        str(args.atoms),
        "--steps",
        str(n_steps),
        "--stride",
        str(args.stride),
        "--anchor-every",
        str(args.anchor_every or 0),
        "--repeats",
        str(args.repeats),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    limit_mb = args.mem_limit * 1024
    peak_seen, status = 0.0, None
    t0 = time.perf_counter()
    while proc.poll() is None:
        rss = _rss_mb(proc.pid)
        peak_seen = max(peak_seen, rss)
        if rss > limit_mb:
            proc.kill()
            status = f"OOM (> {args.mem_limit:g} GB limit)"
            break
        if time.perf_counter() - t0 > args.timeout:
            proc.kill()
            status = f"timeout (> {args.timeout:g} s)"
            break
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    if status is None:
        tail = stderr.strip().splitlines()[-1:] or ["?"]
        oom = "MemoryError" in stderr or "RESOURCE_EXHAUSTED" in stderr or proc.returncode < 0
        status = ("OOM: " if oom else "failed: ") + tail[0][:120]
    return dict(
        method=method, atoms=args.atoms, steps=n_steps, status=status, peak_rss_mb=peak_seen
    )


def report(rows) -> dict:
    """Print the table and the adjoint's targets; return the summary numbers."""
    fwd = {r["steps"]: r.get("seconds") for r in rows if r["method"] == "forward"}
    print()
    print(
        f"{'method':<10} {'steps':>7} {'time s':>9} {'/forward':>9} {'/fwd same':>9} "
        f"{'peak MB':>9} {'grad norm':>11} {'load':>5}  note"
    )
    for r in rows:
        if "status" in r:
            print(f"{r['method']:<10} {r['steps']:>7} {r['status']}")
            continue
        ratio = r["seconds"] / fwd[r["steps"]] if fwd.get(r["steps"]) else float("nan")
        same = r.get("forward_seconds_same_process")
        same = r["seconds"] / same if same else float("nan")
        gn = "-" if r["grad_norm"] is None else f"{r['grad_norm']:.4g}"
        extra = r.get("note", "")
        if r["method"] == "adjoint":
            extra = f"recon {r['reconstruction_error_nm']:.1e} nm, {r['n_anchors']} anchors"
        print(
            f"{r['method']:<10} {r['steps']:>7} {r['seconds']:>9.3f} {ratio:>9.2f} {same:>9.2f} "
            f"{r['peak_rss_mb']:>9.0f} {gn:>11} {r['load']:>5.1f}  {extra}"
        )
    adj = sorted(
        (r for r in rows if r["method"] == "adjoint" and "status" not in r),
        key=lambda r: r["steps"],
    )
    summary = {}
    if len(adj) >= 2:
        summary["adjoint_peak_ratio"] = adj[-1]["peak_rss_mb"] / adj[0]["peak_rss_mb"]
        print(
            f"\nadjoint peak memory {adj[-1]['steps']} / {adj[0]['steps']} steps: "
            f"{summary['adjoint_peak_ratio']:.3f} (target <= 1.1)"
        )
    for r in adj:
        same = r["seconds"] / r["forward_seconds_same_process"]
        summary[f"adjoint_over_forward_{r['steps']}"] = same
        print(
            f"adjoint / forward time at {r['steps']} steps (forward timed in the same "
            f"process): {same:.2f} (target <= 3)"
        )
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=500, help="LJ atoms (4 n^3)")
    parser.add_argument("--steps", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--stride", type=int, default=100, help="steps between frames")
    parser.add_argument(
        "--anchor-every",
        type=int,
        default=None,
        help="Adjoint anchor interval (default: Adjoint's own, 1000 steps in float64)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed runs (best is kept)")
    parser.add_argument("--mem-limit", type=float, default=6.0, help="GB per worker (RSS)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per worker")
    parser.add_argument("--quick", action="store_true", help="108 atoms; 200 and 1000 steps")
    parser.add_argument(
        "--json",
        "--out",
        type=str,
        default=None,
        help="write results here (default: gradients.json next to this script)",
    )
    parser.add_argument("--report", type=str, default=None, help="print the table of a JSON")
    parser.add_argument("--worker", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.report:
        report(json.loads(Path(args.report).read_text())["rows"])
        return
    if args.worker:
        worker(args.worker, args.atoms, args.steps[0], args.stride, args.anchor_every, args.repeats)
        return
    if args.quick:
        args.atoms, args.steps = 108, [200, 1000]
    for n in args.steps:
        if n % args.stride:
            raise SystemExit(f"--steps {n} must be a multiple of --stride {args.stride}")

    print(
        f"# LJ argon, {args.atoms} atoms, float64, dt = {DT_FS} fs, stride {args.stride}, "
        f"adjoint anchors every {args.anchor_every or 'default (1000)'} steps; "
        f"{platform.processor() or '?'} "
        f"x{os.cpu_count()} CPUs, jax on CPU",
        flush=True,
    )
    rows = []
    for n in args.steps:
        for method in args.methods:
            row = run_one(args, method, n)
            rows.append(row)
            print(json.dumps(row), flush=True)

    summary = report(rows)
    out = dict(
        rows=rows,
        summary=summary,
        config=dict(vars(args)),
        machine=dict(
            platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version()
        ),
    )
    path = args.json or str(Path(__file__).with_name("gradients.json"))
    Path(path).write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
