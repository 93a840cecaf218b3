"""Learn a tabulated pair potential from g(r) and the pressure at two densities.

Data: the planted-truth references of `make_reference.py` (LJ, σ = 0.3405 nm,
ε/k_B = 120 K, force-shifted at 0.8 nm; 108 atoms, 120 K, ρσ³ = 0.72 and 0.84).

Model: a cubic-spline `TabulatedPair` (knots every 0.02 nm from 0.28 nm to the 0.8 nm
cutoff) written as u = u₀ + δu: u₀ = ε(σ/r)¹² is a fixed, soft, purely repulsive start and
the 26 knot corrections δu (kJ/mol, start 0) are trained. (`fit` scales each parameter by its
starting magnitude; a zero start gets 1 kJ/mol, so Adam moves each knot by about its
learning rate in kJ/mol per step.)

Loss: four targets, each a reduced χ² with the reference's error and the reweighted
average's standard error in quadrature: g(r) from 0.3 nm at each density and the pressure
at each density; plus `SmoothnessPrior("delta", 0.2 kJ/mol, first=3)` on the second
differences of δu from the knot at 0.34 nm outwards (0.2 kJ/mol is the curvature per knot
spacing of the LJ well itself, h²u''(r_min) = 0.02² × 57.1 ε/σ² ≈ 0.2 kJ/mol). Gradients by
`Reweighting` (100 frames × 0.1 ps per reference, a new reference when N_eff/F < 0.6).
Adam (b1 0.8, b2 0.9), learning rate 0.06 kJ/mol for `FAST` steps then 0.015; the answer is
the Polyak average of the iterates from step `FAST` on.

Outputs in `results/fit/` (history, fit.json) and `results/learned_knots.csv` (r, u).

Run from the repository root: `python docs/examples/pair_potential/learn_pair.py [STEPS]`.
`learn_pair.py latest` writes `results/learned_knots.csv` from the latest iterate in
`results/fit/history.jsonl` instead (the state of a fit that has not finished; not the
averaged answer).
"""

from __future__ import annotations

import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from observables import Pressure, Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Stress, Velocities  # noqa: E402
from spectrinv.fit import IterateAverage, SmoothnessPrior, Target, fit  # noqa: E402
from spectrinv.gradients import Objective, Reweighting  # noqa: E402
from spectrinv.losses import ChiSquared, Reference  # noqa: E402
from spectrinv.potentials import AbstractPairPotential, TabulatedPair, fcc_lattice  # noqa: E402

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import common  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 30
FAST = 20
PRIOR = SmoothnessPrior("delta", Quantity(0.2, "kJ/mol"), first=3)


class CorrectedTable(AbstractPairPotential):
    """u(r) = spline through the knots u₀ + δu: `table` holds the fixed u₀ (frozen by
    `trainable=["delta"]`), `delta` `[n_knots]` the trainable corrections (kJ/mol)."""

    table: TabulatedPair
    delta: jax.Array

    def __init__(self, table: TabulatedPair, delta):
        self.table = table
        self.delta = jnp.asarray(delta)
        self.r_cut = table.r_cut
        self.truncation = table.truncation

    def learned(self) -> TabulatedPair:
        return eqx.tree_at(lambda t: t.values, self.table, self.table.values + self.delta)

    def _phi(self, r, si, sj, dtype):
        return self.learned()._phi(r, si, sj, dtype)


def targets() -> list[Target]:
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), common.TEMPERATURE, Quantity(5, "1/ps")))
    gradient = Reweighting(
        n_frames=100, stride=20, equilibration_steps=400, ess_threshold=0.6, batch_size=50
    )
    out = []
    for state, rho in common.STATES.items():
        positions, system = fcc_lattice(3, common.mass_density(rho), common.MASS)
        g, p = common.g_data(state), common.p_data(state)
        rdf, pressure = common.rdf(), Pressure()
        r_range = (Quantity(0.3, "nm"), Quantity(0.8, "nm"))
        objectives = {
            f"rdf_{state}": (
                Objective(rdf, ChiSquared(Reference(g, rdf, x_range=r_range)), (Positions(),)),
                g,
            ),
            f"pressure_{state}": (
                Objective(
                    pressure,
                    ChiSquared(Reference(p, pressure, at=common.TEMPERATURE)),
                    (Positions(), Velocities(), Stress()),
                ),
                p,
            ),
        }
        for name, (obj, data) in objectives.items():
            out.append(
                Target(
                    name,
                    obj,
                    system,
                    positions,
                    backend,
                    gradient,
                    common.TEMPERATURE,
                    equilibration_steps=4000,  # 20 ps from the lattice at the start potential
                    dataset=data,
                )
            )
    return out


def write_knots(values, path, note: str) -> None:
    np.savetxt(
        path,
        np.column_stack([common.knots(), np.asarray(values)]),
        delimiter=",",
        header=f"r_nm,u_kJ_mol  # learn_pair.py: knot values of the learned TabulatedPair, {note}",
        comments="",
    )


def latest() -> None:
    """`results/learned_knots.csv` from the last row of the fit's history."""
    out = common.HERE / "results"
    rows = (out / "fit" / "history.jsonl").read_text().splitlines()
    row = json.loads(rows[-1])
    delta = np.asarray(row["params"]["delta"])
    values = np.asarray(common.soft_start().values) + delta
    write_knots(values, out / "learned_knots.csv", f"iterate of step {row['step']}")
    depth, r_min = common.well(CorrectedTable(common.soft_start(), delta).learned())
    print(f"step {row['step']}: well {depth:.4f} kJ/mol at {r_min:.4f} nm")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "latest":
        latest()
        return
    out = common.HERE / "results"
    model = CorrectedTable(common.soft_start(), jnp.zeros(common.N_KNOTS))
    schedule = optax.join_schedules(
        [optax.constant_schedule(0.06), optax.constant_schedule(0.015)], [FAST]
    )
    t0 = time.perf_counter()
    result = fit(
        model,
        targets(),
        steps=STEPS,
        output_dir=out / "fit",
        trainable=["delta"],
        optimizer=optax.adam(schedule, b1=0.8, b2=0.9),
        optimizer_id=f"adam-b2-0.9-0.06x{FAST}-0.015",
        seed=5,
        plots=False,
        uncertainty=False,
        averaging=IterateAverage("polyak", start=FAST),
        prior=PRIOR,
    )
    wall = time.perf_counter() - t0
    learned = result.potential.learned()
    write_knots(learned.values, out / "learned_knots.csv", f"Polyak average from step {FAST}")
    depth, r_min = common.well(learned)
    summary = {
        "steps": STEPS,
        "wall_time_s": wall,
        "well_depth_kJ_mol": depth,
        "well_position_nm": r_min,
        "first": {k: v["loss"] for k, v in result.history[0]["targets"].items()},
        "final": {k: v["loss"] for k, v in result.history[-1]["targets"].items()},
        "prior_first_final": [result.history[0].get("prior"), result.history[-1].get("prior")],
    }
    (out / "learn_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
