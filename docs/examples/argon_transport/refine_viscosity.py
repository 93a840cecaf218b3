"""Demonstration 2: refine argon's Lennard-Jones ε against the experimental shear viscosity.

Runs `fit_viscosity.toml` (see its header) through the Python API and measures the
Green–Kubo viscosity before and after the fit with an error bar.

Why a script and not only `spectrinv fit fit_viscosity.toml`: it also measures η before
and after the fit, with the same per-segment estimator that the fit's gradient averages.

Error bar: at the initial and at the fitted ε, `N_EVAL` start states are drawn from the same
Langevin chain (`decorrelation` apart), an NVE segment of `segment_length` is run from each,
and η_i = Green–Kubo(segment i) (the same per-segment estimate the `Truncated` gradient
averages); reported: mean ± standard error over segments.

Run from the repository root:
`python docs/examples/argon_transport/refine_viscosity.py OUT [STEPS] [N_EVAL]`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Positions, Stress, VelocityVerlet  # noqa: E402
from spectrinv.fit import load_config  # noqa: E402

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "fit_viscosity.toml"


def load() -> tuple:
    """The config and its viscosity observable."""
    config = load_config(CONFIG)
    return config, config.targets[0].objective.observe


def start_state(potential, target, key):
    """The target's Langevin state after its melt (if any: the lattice melted at fixed
    volume) and its equilibration, from the lattice positions."""
    nvt, positions = target.backend, Quantity(np.asarray(target.positions), "nm")
    temperature = Quantity(target.temperature, "K")
    k0 = jax.random.fold_in(key, 0)
    if target.melt_steps:
        hot, n = target.melt_backend, target.melt_steps
        state = hot.init(potential, target.system, positions, temperature=temperature, key=k0)
        _, state = hot.sample(potential, target.system, state, k0, n, stride=n)
        state = nvt.init(
            potential,
            target.system,
            Quantity(np.asarray(state.positions), "nm"),
            velocities=Quantity(np.asarray(state.velocities), "nm/ps"),
        )
    else:
        state = nvt.init(potential, target.system, positions, temperature=temperature, key=k0)
    n_eq = max(target.equilibration_steps, 1)
    _, state = nvt.sample(
        potential, target.system, state, jax.random.fold_in(key, 1), n_eq, stride=n_eq
    )
    return state


def viscosity_samples(potential, target, observable, n_segments: int, seed: int) -> np.ndarray:
    """Per-segment Green–Kubo η (mPa s) from `n_segments` NVE segments started from the
    target's Langevin chain, as in `Truncated` (no gradient)."""
    g = target.gradient
    nvt = target.backend
    nve = JaxMDBackend(VelocityVerlet(Quantity(nvt.integrator.timestep, "ps")))
    key = jax.random.key(seed)
    state = start_state(potential, target, key)
    out = []
    for i in range(n_segments):
        n_dec = g.decorrelation_steps
        _, state = nvt.sample(
            potential,
            target.system,
            state,
            jax.random.fold_in(key, 2 + 2 * i),
            n_dec,
            stride=n_dec,
        )
        traj, _ = nve.sample(
            potential,
            target.system,
            state,
            jax.random.fold_in(key, 3 + 2 * i),
            g.segment_steps,
            stride=g.stride,
            record=(Positions(), Stress()),
        )
        out.append(float(_segment_value(observable, traj)))
    return np.asarray(out)


@eqx.filter_jit
def _segment_value(observable, traj):
    """η of one segment, as inside the fit: traced, so without the block error bar that a
    segment shorter than `n_blocks` correlation windows cannot give."""
    return observable(traj).y_magnitude


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("argon-viscosity")
    config, observable = load()
    if len(sys.argv) > 2:
        config = dataclasses.replace(config, steps=int(sys.argv[2]))
    n_eval = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    target = config.targets[0]
    t0 = time.perf_counter()
    result = config.run(out)
    fit_s = time.perf_counter() - t0
    summary = {"fit_seconds": fit_s, "steps": config.steps}
    for label, pot in (("before", config.potential), ("after", result.potential)):
        t1 = time.perf_counter()
        eta = viscosity_samples(pot, target, observable, n_eval, seed=99)
        summary[label] = {
            "epsilon_over_kB_K": float(pot.epsilon) / 0.00831446261815324,
            "sigma_nm": float(pot.sigma),
            "eta_mPas_mean": float(eta.mean()),
            "eta_mPas_sem": float(eta.std(ddof=1) / np.sqrt(len(eta))),
            "eta_segments": eta.tolist(),
            "seconds": time.perf_counter() - t1,
        }
        print(label, json.dumps(summary[label]))
    summary["loss"] = [row["loss"] for row in result.history]
    (out / "viscosity_summary.json").write_text(json.dumps(summary, indent=1))
    print("loss per step:", summary["loss"])


if __name__ == "__main__":
    main()
