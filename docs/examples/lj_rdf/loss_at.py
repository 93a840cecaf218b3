"""Loss of the g(r) target at given (σ, ε): how well g(r) at 90 K determines σ and ε.

For each (σ in Å, ε/k_B in K) pair on the command line, runs the state point of
`fit_reweighting.toml` (108 atoms, 90 K, 5 ps equilibration from the fcc lattice, then 100
frames 0.1 ps apart — one reference of the fit) and prints the MSE against `g_ref.csv`.
At the true parameters this is the noise floor of the fit's loss.

Run from the repository root:
`python docs/examples/lj_rdf/loss_at.py 3.405,119.8 3.405,90 3.55,70 ...`
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.fit import load_config  # noqa: E402

KB = 0.00831446261815324  # kJ/mol/K


def main() -> None:
    config = load_config(Path(__file__).resolve().parent / "fit_reweighting.toml")
    t = config.targets[0]
    for i, arg in enumerate(sys.argv[1:]):
        sigma_a, eps_k = (float(v) for v in arg.split(","))
        pot = eqx.tree_at(
            lambda p: (p.sigma, p.epsilon),
            config.potential,
            (jnp.asarray(sigma_a / 10), jnp.asarray(eps_k * KB)),
        )
        key = jax.random.key(100 + i)
        state = t.backend.init(
            pot,
            t.system,
            Quantity(np.asarray(t.positions), "nm"),
            temperature=Quantity(t.temperature, "K"),
            key=jax.random.fold_in(key, 0),
        )
        n = t.equilibration_steps
        _, state = t.backend.sample(pot, t.system, state, jax.random.fold_in(key, 1), n, stride=n)
        g = t.gradient
        traj, _ = t.backend.sample(
            pot,
            t.system,
            state,
            jax.random.fold_in(key, 2),
            g.n_frames * g.stride,
            stride=g.stride,
            record=t.objective.record,
        )
        loss = float(t.objective.loss(t.objective.observe(traj)))
        print(f"sigma {sigma_a:.4f} A  eps/kB {eps_k:.2f} K  MSE {loss:.5f}", flush=True)


if __name__ == "__main__":
    main()
