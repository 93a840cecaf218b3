"""How the Green–Kubo viscosity of `fit_viscosity.toml`'s argon depends on the correlation
window and on ε, measured on long runs.

    python docs/examples/argon_transport/viscosity_window.py [--epsilons 95.84,119.8]
        [--chunks 8] [--chunk-ps 50] [--lags 0.5,1,2,3]

For each ε/k_B (K), the target's system (108 atoms at 85 K and 1409.5 kg/m³, force-shifted
LJ, σ = 3.405 Å) is melted and equilibrated as the fit does (`melt`, `equilibration`); then
`--chunks` NVE runs of `--chunk-ps` each (velocity Verlet, the target's time step, the
stress every 2 steps), each started after 100 Langevin steps from where the last ended.
Each chunk gives η = V/(k_B T) ∫₀^τ ⟨P̊(0)P̊(t)⟩ dt (`ShearViscosity`, the five traceless
components) for every window τ in `--lags` (ps); printed: the mean over chunks ± its
standard error, in mPa·s. With `--segments N`, also the fit's own estimator: N NVE
segments of the config's length and window from the Langevin chain (`refine_viscosity.py`'s
`viscosity_samples`, as `Truncated` samples them), mean ± standard error. The experiment
(the fit's target) is 0.2795 mPa·s ± 2 %.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from refine_viscosity import start_state, viscosity_samples  # noqa: E402  (next to it)

from observables import Quantity, ShearViscosity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Positions, Stress, VelocityVerlet  # noqa: E402
from spectrinv.fit import load_config, with_parameters  # noqa: E402

HERE = Path(__file__).resolve().parent
KB = 0.00831446261815324  # kJ/mol per K


def chunk_viscosities(potential, target, lags, n_chunks: int, chunk_ps: float, seed: int):
    """`{lag: [η of each chunk]}` (mPa·s) for one model."""
    nvt = target.backend
    dt = nvt.integrator.timestep
    nve = JaxMDBackend(VelocityVerlet(Quantity(dt, "ps")))
    key = jax.random.key(seed)
    state = start_state(potential, target, key)
    temperature = Quantity(target.temperature, "K")
    observables = {lag: ShearViscosity(temperature, max_lag=Quantity(lag, "ps")) for lag in lags}
    etas = {lag: [] for lag in lags}
    for i in range(n_chunks):
        _, state = nvt.sample(
            potential, target.system, state, jax.random.fold_in(key, 10 + i), 100, stride=100
        )
        traj, state = nve.sample(
            potential,
            target.system,
            state,
            jax.random.fold_in(key, 1000 + i),
            int(round(chunk_ps / dt)),
            stride=2,
            record=(Positions(), Stress()),
        )
        for lag, obs in observables.items():
            etas[lag].append(float(obs(traj).y_magnitude))
    return etas


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epsilons", default="95.84,119.8", help="ε/k_B values, K")
    p.add_argument("--chunks", type=int, default=8)
    p.add_argument("--chunk-ps", type=float, default=50.0)
    p.add_argument("--lags", default="0.5,1,2,3", help="correlation windows, ps")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--segments", type=int, default=0, help="also the fit's estimator, N segments")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    if args.chunks < 2:
        p.error(f"--chunks must be at least 2 (for an error bar), got {args.chunks}")
    lags = [float(x) for x in args.lags.split(",")]
    if max(lags) * 2 > args.chunk_ps:
        p.error(f"--chunk-ps {args.chunk_ps} must be at least twice the longest lag {max(lags)}")
    config = load_config(HERE / "fit_viscosity.toml")
    target = config.targets[0]
    report = {"chunks": args.chunks, "chunk_ps": args.chunk_ps, "seed": args.seed, "eta": {}}
    for eps in (float(x) for x in args.epsilons.split(",")):
        t0 = time.time()
        model = with_parameters(config.potential, {"epsilon": eps * KB})
        etas = chunk_viscosities(model, target, lags, args.chunks, args.chunk_ps, args.seed)
        rows = {
            lag: (float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v))))
            for lag, v in etas.items()
        }
        report["eta"][eps] = {str(lag): {"mean": m, "sem": s} for lag, (m, s) in rows.items()}
        print(
            f"ε/k_B = {eps:g} K ({time.time() - t0:.0f} s), η (mPa·s) by window: "
            + ", ".join(f"{lag:g} ps {m:.4f} ± {s:.4f}" for lag, (m, s) in rows.items()),
            flush=True,
        )
        if args.segments:
            obs = target.objective.observe
            eta = viscosity_samples(model, target, obs, args.segments, seed=99)
            sem = float(eta.std(ddof=1) / np.sqrt(len(eta)))
            report["segments"] = {**report.get("segments", {}), eps: [float(eta.mean()), sem]}
            print(f"  the fit's estimator, {args.segments} segments: {eta.mean():.4f} ± {sem:.4f}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
