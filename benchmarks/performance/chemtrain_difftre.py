"""chemtrain's DiffTRe gradient side by side with our `Reweighting`: LJ argon, RDF loss.

The problem is the one of `benchmarks/performance/reweighting.py`: 256 atoms (fcc start at
ρ* = 0.8442), σ = 0.3405 nm, ε = 0.99774 kJ/mol, r_c = 2.5σ force-shifted, skin 0.1 nm,
Langevin (BAOAB) 120 K, γ = 5/ps, Δt = 4 fs, 2000 equilibration steps, then a reference of
`frames` frames every `stride` steps; Gaussian-kernel RDF (100 bins to 1 nm, width 0.01 nm)
and loss Σ (g − g_target)²; float32. Timed, best of `--repeats` after one warm-up call
(compilation excluded), for each code:

- `MD forward`: the reference trajectory (ours: `JaxMDBackend.sample`; chemtrain:
  `init_first_traj` of `init_pot_reweight_propagation_fns`, which also evaluates the
  per-frame energies its reweighting needs);
- `DiffTRe grad`: loss and gradient w.r.t. (σ, ε) on a fixed reference (ours:
  `Reweighting.estimate` on the cache of `Reweighting.reference`; chemtrain:
  `jax.value_and_grad` of the DiffTRe loss from
  `init_difftre_gradient_and_propagation(..., wrapped=False)`, jitted);
- `update step`: what a fit calls once per update on a reusable reference — ESS check (which
  would resample below the threshold), loss and gradient (ours: `Reweighting.__call__`
  with the cache; chemtrain: the wrapped function of `init_difftre_gradient_and_propagation`
  that its `Difftre` trainer calls, with the `[Propagate]` ESS print it makes every call).

Ratios are chemtrain ÷ ours. **Check:** chemtrain's gradient is also evaluated on *our*
reference frames (the same positions), so it must match ours up to the RDF conventions
(chemtrain's kernel is the Gaussian density at the bin centre × bin width and its
normalisation N²/V, ours the Gaussian integrated over the bin and N(N−1)/V); the script
prints both gradients, the per-frame energy difference and max |Δg| on those frames. On
its own trajectory chemtrain's gradient differs further by sampling noise (different
random streams).

**Why two venvs.** chemtrain 0.2.0 (latest on PyPI) requires `jax<=0.4.37`,
`jaxlib<=0.4.37`, `scipy<1.13`, `protobuf<=3.20`, `blackjax==0.3.0`; this project needs
`jax>=0.10.2`, `jaxlib>=0.10.2`, `scipy>=1.17`, so pip reports `ResolutionImpossible`
(`chemtrain 0.2.0 depends on jax<=0.4.37`). chemtrain therefore lives in its own venv and
runs in `benchmarks/performance/chemtrain_worker.py`, started here with that venv's python;
parameters go to it as JSON (plus an `.npz` with our reference frames), timings come back as JSON.
Create the venv once (the pins are what plain `pip install chemtrain==0.2.0` resolved to
on 2026-11-21, with scipy 1.12.0 and numpy 1.26.4):

    python3.11 -m venv .venv-chemtrain
    .venv-chemtrain/bin/pip install chemtrain==0.2.0 jax==0.4.37 jaxlib==0.4.36 jax-md==0.2.8

Usage (from the repository root; prints one table, the check and the 1-minute load):

    python -m benchmarks.performance.chemtrain_difftre --frames 50 --stride 10 \\
        --repeats 3 --json out.json [--chemtrain-python .venv-chemtrain/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from observables import BOLTZMANN, Quantity
from spectrinv.backends import Positions
from spectrinv.gradients import Reweighting

from .._harness import best_time, load
from . import reweighting as RW  # the problem's constants and lattice

HERE = Path(__file__).resolve().parent
DEFAULT_PYTHON = ".venv-chemtrain/bin/python"  # relative to the working directory
VENV_HELP = (
    "create it with:\n"
    "    python3.11 -m venv .venv-chemtrain\n"
    "    .venv-chemtrain/bin/pip install chemtrain==0.2.0 jax==0.4.37 jaxlib==0.4.36 "
    "jax-md==0.2.8\n"
    "(chemtrain 0.2.0 requires jax<=0.4.37 and cannot share this project's venv), or pass "
    "--chemtrain-python PATH to a python that has chemtrain installed."
)


EQUILIBRATION_STEPS = 2000  # as in benchmarks/performance/reweighting.py
SKIN = 0.1  # nm, JaxMDBackend's default, used by both codes


def check_chemtrain(python: str) -> None:
    """Raise SystemExit with the venv recipe unless `python` can import chemtrain."""
    if not Path(python).exists():
        raise SystemExit(f"chemtrain python {python!r} not found; {VENV_HELP}")
    probe = subprocess.run(
        [python, "-c", "import chemtrain, jax_md, jax_md_mod"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise SystemExit(
            f"{python} cannot import chemtrain:\n{probe.stderr.strip()[-800:]}\n{VENV_HELP}"
        )


def ours(frames: int, stride: int, repeats: int, seed: int = 0) -> dict:
    """Our side: reference trajectory, `Reweighting` cache and the timed gradient."""
    dtype = jnp.float32
    prob = RW.problem(4, dtype, seed)
    system, lj, backend, state, key, objective, params, static, lattice, target = prob
    n_steps = frames * stride

    def sample():
        return backend.sample(
            lj, system, state, key, n_steps, stride=stride, record=(Positions(),)
        )[0].positions

    t_md = best_time(sample, repeats)
    traj, _ = backend.sample(lj, system, state, key, n_steps, stride=stride, record=(Positions(),))
    rw = Reweighting(n_frames=frames, stride=stride)
    cache = rw.reference(
        objective, params, static, system=system, trajectory=traj, temperature=Quantity(RW.T_K, "K")
    )
    t_rw = best_time(
        lambda: rw.estimate(objective, params, static, system=system, cache=cache).grad, repeats
    )
    res = rw.estimate(objective, params, static, system=system, cache=cache)

    def step():  # what a fit calls per update: ESS check, reuse the cache, loss + gradient
        return rw(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=key,
            cache=cache,
        )

    if step().diagnostics.get("resampled", False):
        raise RuntimeError("Reweighting resampled at the reference parameters")
    t_step = best_time(lambda: step().grad, repeats)
    return dict(
        md_forward_s=t_md,
        grad_s=t_rw,
        step_s=t_step,
        loss=float(res.loss),
        dsigma=float(np.ravel(res.grad.sigma)[0]),
        depsilon=float(np.ravel(res.grad.epsilon)[0]),
        ess=float(res.diagnostics["ess"]),
        g=np.asarray(res.observed, float),
        energies=np.asarray(cache.energies, float),
        positions=np.asarray(traj.positions, np.float32),
        lattice=np.asarray(lattice, np.float32),
        box=float(np.asarray(system.box)[0]),
        target=np.asarray(target, float),
        atoms=int(lattice.shape[0]),
        load=load(),
    )


def chemtrain_side(
    python: str, mine: dict, frames: int, stride: int, repeats: int, seed: int = 0
) -> dict:
    """Run `chemtrain_worker.py` in the chemtrain venv on the same problem."""
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "reference.npz")
        np.savez(npz, positions=mine["positions"], lattice=mine["lattice"], box=mine["box"])
        params = dict(
            trajectory=npz,
            frames=frames,
            stride=stride,
            repeats=repeats,
            sigma=RW.SIGMA,
            epsilon=RW.EPS,
            mass=RW.MASS,
            cutoff=2.5 * RW.SIGMA,
            skin=SKIN,
            kT=BOLTZMANN * RW.T_K,
            dt=RW.DT_FS * 1e-3,
            friction=RW.FRICTION,
            equilibration_steps=EQUILIBRATION_STEPS,
            r_max=1.0,
            bins=100,
            target=mine["target"].tolist(),
            reweight_ratio=0.9,
            energy_batch=10 if frames % 10 == 0 else 1,
            seed=seed,
        )
        path_in, path_out = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
        with open(path_in, "w") as fh:
            json.dump(params, fh)
        env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
        t0 = time.perf_counter()
        run = subprocess.run(
            [python, str(HERE / "chemtrain_worker.py"), path_in, path_out],
            capture_output=True,
            text=True,
            env=env,
        )
        if run.returncode != 0 or not os.path.exists(path_out):
            raise SystemExit(
                f"chemtrain worker failed (exit {run.returncode}):\n"
                f"{(run.stdout + run.stderr).strip()[-3000:]}"
            )
        with open(path_out) as fh:
            out = json.load(fh)
        out["worker_wall_s"] = time.perf_counter() - t0
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="random key of both codes' MD")
    ap.add_argument("--chemtrain-python", default=DEFAULT_PYTHON)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    if args.frames < 2 or args.stride < 1 or args.repeats < 1:
        raise SystemExit("--frames must be >= 2, --stride and --repeats >= 1")
    check_chemtrain(args.chemtrain_python)

    mine = ours(args.frames, args.stride, args.repeats, args.seed)
    ct = chemtrain_side(
        args.chemtrain_python, mine, args.frames, args.stride, args.repeats, args.seed
    )
    same = ct["on_our_frames"]
    d_energy = np.abs(np.asarray(same["energies"]) - mine["energies"])
    d_g = np.abs(np.asarray(same["g"]) - mine["g"])

    print(
        f"LJ argon, {mine['atoms']} atoms, {args.frames} frames x stride {args.stride} "
        f"({args.frames * args.stride} steps), float32, best of {args.repeats}"
    )
    print(f"{'':24} {'ours s':>9} {'chemtrain s':>12} {'ct/ours':>8}")
    rows = [
        ("MD forward (reference)", mine["md_forward_s"], ct["md_forward_s"]),
        ("DiffTRe grad (fixed ref)", mine["grad_s"], ct["grad_s"]),
        ("update step (ESS+grad)", mine["step_s"], ct["step_s"]),
    ]
    for name, a, b in rows:
        print(f"{name:24} {a:>9.4f} {b:>12.4f} {b / a:>8.1f}")
    print("gradient of Σ(g − g_target)² [dL/dσ in 1/nm, dL/dε in mol/kJ]:")
    print(f"{'':30} {'loss':>9} {'dL/dσ':>11} {'dL/dε':>11}")
    for name, d in (
        ("ours (our frames)", mine),
        ("chemtrain (our frames)", same),
        ("chemtrain (its own frames)", ct["own"]),
    ):
        print(f"{name:30} {d['loss']:>9.4f} {d['dsigma']:>11.3f} {d['depsilon']:>11.4f}")
    print(
        f"same frames: max |ΔU| per frame {d_energy.max():.2e} kJ/mol, max |Δg| {d_g.max():.4f}, "
        f"ESS/F ours {mine['ess']:.3f}, chemtrain n_eff/F {same['n_eff'] / args.frames:.3f}"
    )
    print(
        f"load (1 min): ours {mine['load']:.2f}, chemtrain {ct['load']:.2f}; "
        f"jax {jax.__version__} / chemtrain {ct['versions']['chemtrain']} with "
        f"jax {ct['versions']['jax']}, jax-md {ct['versions']['jax_md']}"
    )
    if args.json:
        keep = (
            "md_forward_s",
            "grad_s",
            "step_s",
            "loss",
            "dsigma",
            "depsilon",
            "ess",
            "load",
            "atoms",
        )
        meta = RW.machine_meta(args)
        result = dict(
            meta=meta,
            ours={k: mine[k] for k in keep},
            chemtrain=ct,
            check=dict(max_abs_energy_diff=float(d_energy.max()), max_abs_g_diff=float(d_g.max())),
            ratios=dict(
                md_forward=ct["md_forward_s"] / mine["md_forward_s"],
                grad=ct["grad_s"] / mine["grad_s"],
                step=ct["step_s"] / mine["step_s"],
            ),
        )
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    sys.exit(main())
