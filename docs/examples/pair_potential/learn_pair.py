"""Learn a tabulated pair potential from g(r) and the pressure at two densities.

Data: the planted-truth references of `make_reference.py` (LJ, σ = 0.3405 nm,
ε/k_B = 120 K, force-shifted at 0.8 nm; 108 atoms, 120 K, ρσ³ = 0.72 and 0.84).

Model: a cubic-spline `TabulatedPair` (knots every 0.02 nm from 0.28 nm to the 0.8 nm
cutoff) written as u = u₀ + δu: u₀ is a fixed start and the 26 knot corrections δu (kJ/mol,
start 0) are trained. u₀ is the potential of mean force −k_BT ln g(r) of the ρσ³ = 0.72
reference (`common.pmf_start`, the usual start of structure-based inversion; the lower
density is the one closer to the dilute limit where the PMF becomes u). (`fit` scales
each parameter by its starting magnitude; a zero start gets 1 kJ/mol, so Adam moves each
knot by about its learning rate in kJ/mol per step.)

Loss: four targets, each a χ² with the reference's error and the reweighted average's
standard error in quadrature: g(r) from 0.3 nm at each density and the pressure at each
density. Each target is the *sum* of χ² over its points (the reduced χ² times the number
of compared points, 50 for a g(r), 1 for a pressure), so that every data point weighs the
same, as in a joint Gaussian likelihood; a reduced χ² per target would give the one
pressure value the weight of 50 g(r) points. Plus `SmoothnessPrior("delta", 0.2 kJ/mol,
first=4)` on the second differences of δu from the knot at 0.36 nm outwards, also as a sum
(weight = its number of second differences); 0.2 kJ/mol is the curvature per knot spacing
of the LJ well itself, h²u''(r_min) = 0.02² × 57.1 ε/σ² ≈ 0.2 kJ/mol. Gradients by
`Reweighting` (100 frames × 0.1 ps per reference, a new reference when N_eff/F < 0.6).
Adam (b1 0.8, b2 0.9), learning rate 0.08 kJ/mol for `FAST` = 15 steps then 0.02. The
answer is the Polyak average of the second half of the iterates (steps STEPS/2 to STEPS:
the iterates were still drifting after step 15); `fit`'s own Polyak average from step
`FAST` on is the one in `results/fit/fit.json` and is reported in `learn_summary.json`.

`targets(WEIGHTS_NONE)` gives the same targets as plain reduced χ² (weight 1 each), the
weighting of the first set-up (docs/reproductions.md §1b).

Outputs in `results/fit/` (history, fit.json) and `results/learned_knots.csv` (r, u).

Run from the repository root: `python docs/examples/pair_potential/learn_pair.py [STEPS]`
(default 60; a larger STEPS continues a finished fit from its checkpoint).
`learn_pair.py latest [FIRST]` writes `results/learned_knots.csv` and `learn_summary.json`
from `results/fit/history.jsonl` instead: the latest iterate, or with FIRST the Polyak
average of the iterates from step FIRST on (for a fit stopped before its last step).
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

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 60
FAST = 15
LR_FAST, LR_SLOW = 0.08, 0.02  # kJ/mol per step (per knot, Adam)
START = "low"  # u₀: the PMF of the ρσ³ = 0.72 reference
PRIOR_FIRST = 4  # knot 4 = 0.36 nm
PRIOR = SmoothnessPrior(
    "delta", Quantity(0.2, "kJ/mol"), first=PRIOR_FIRST, weight=common.N_KNOTS - 1 - PRIOR_FIRST
)
R_RANGE = (0.3, 0.8)  # nm, the compared part of g(r)


def n_g_points(state: str) -> int:
    x = np.asarray(common.g_data(state).x)
    return int(np.sum((x >= R_RANGE[0]) & (x <= R_RANGE[1])))


WEIGHTS_SUM = "sum"  # χ² summed over each target's points (the fit)
WEIGHTS_NONE = "reduced"  # reduced χ² per target, weight 1 (the earlier fit; diagnostics)


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


def targets(weighting: str = WEIGHTS_SUM) -> list[Target]:
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), common.TEMPERATURE, Quantity(5, "1/ps")))
    gradient = Reweighting(
        n_frames=100, stride=20, equilibration_steps=400, ess_threshold=0.6, batch_size=50
    )
    out = []
    for state, rho in common.STATES.items():
        positions, system = fcc_lattice(3, common.mass_density(rho), common.MASS)
        g, p = common.g_data(state), common.p_data(state)
        rdf, pressure = common.rdf(), Pressure()
        r_range = tuple(Quantity(x, "nm") for x in R_RANGE)
        w = n_g_points(state) if weighting == WEIGHTS_SUM else 1
        objectives = {
            f"rdf_{state}": (
                Objective(rdf, w * ChiSquared(Reference(g, rdf, x_range=r_range)), (Positions(),)),
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


def weights() -> dict[str, int]:
    """Each target's weight: the number of its compared points (see `targets`)."""
    w = {f"rdf_{s}": n_g_points(s) for s in common.STATES}
    return w | {f"pressure_{s}": 1 for s in common.STATES}


def iterates(rows: list[dict]) -> list[tuple[int, np.ndarray]]:
    """(step, δu) of every iterate in the history rows (the final row of a finished fit
    holds the averaged answer as `params` and its last iterate as `params_last`)."""
    out = [(r["step"], np.asarray(r["params"]["delta"])) for r in rows if not r.get("final")]
    if rows[-1].get("final"):
        out.append((rows[-1]["step"], np.asarray(rows[-1]["params_last"]["delta"])))
    return out


def latest(first: int | None = None) -> dict:
    """`results/learned_knots.csv` and `results/learn_summary.json` from the fit's history:
    the last iterate, or with `first` the Polyak average of the iterates from step `first`
    to the last recorded one. Prints the well and the reduced χ² of every evaluated row."""
    out = common.HERE / "results"
    rows = [json.loads(x) for x in (out / "fit" / "history.jsonl").read_text().splitlines()]
    start = common.pmf_start(START)
    for row in rows:
        d, r = common.well(CorrectedTable(start, np.asarray(row["params"]["delta"])).learned())
        chi2 = {k: round(v["loss"] / weights()[k], 2) for k, v in row["targets"].items()}
        tag = " (fit's own average)" if row.get("final") else ""
        print(f"step {row['step']:2d}{tag}: well {d:.4f} kJ/mol at {r:.4f} nm; reduced χ² {chi2}")
    its = iterates(rows)
    last = its[-1][0]
    if first is None:
        delta = its[-1][1]
        note = f"iterate of step {last}"
    else:
        delta = np.mean([d for step, d in its if step >= first], axis=0)
        note = f"Polyak average of the iterates of steps {first}-{last}"
    learned = CorrectedTable(start, delta).learned()
    write_knots(learned.values, out / "learned_knots.csv", note)
    depth, r_min = common.well(learned)
    print(f"{note}: well {depth:.4f} kJ/mol at {r_min:.4f} nm")
    summary = {
        "start": f"PMF of the {START}-density reference",
        "start_well_kJ_mol_nm": list(common.well(start)),
        "target_weights": weights(),
        "answer": note,
        "steps_run": last,
        "wall_time_s": sum(row.get("wall_time_s", 0.0) for row in rows),
        "well_depth_kJ_mol": depth,
        "well_position_nm": r_min,
        "reduced_chi2_first": {k: v["loss"] / weights()[k] for k, v in rows[0]["targets"].items()},
        "delta_kJ_mol": delta.tolist(),
    }
    if rows[-1].get("final"):
        avg = CorrectedTable(start, np.asarray(rows[-1]["params"]["delta"])).learned()
        summary[f"fit_average_from_step_{FAST}"] = {
            "well_kJ_mol_nm": list(common.well(avg)),
            "reduced_chi2": {k: v["loss"] / weights()[k] for k, v in rows[-1]["targets"].items()},
        }
    (out / "learn_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "latest":
        latest(int(sys.argv[2]) if len(sys.argv) > 2 else None)
        return
    out = common.HERE / "results"
    model = CorrectedTable(common.pmf_start(START), jnp.zeros(common.N_KNOTS))
    schedule = optax.join_schedules(
        [optax.constant_schedule(LR_FAST), optax.constant_schedule(LR_SLOW)], [FAST]
    )
    t0 = time.perf_counter()
    result = fit(
        model,
        targets(),
        steps=STEPS,
        output_dir=out / "fit",
        trainable=["delta"],
        optimizer=optax.adam(schedule, b1=0.8, b2=0.9),
        optimizer_id=f"adam-b2-0.9-{LR_FAST}x{FAST}-{LR_SLOW}-pmf-{START}-sum",
        seed=5,
        plots=False,
        uncertainty=False,
        averaging=IterateAverage("polyak", start=FAST),
        prior=PRIOR,
    )
    wall = time.perf_counter() - t0
    latest(STEPS // 2)  # the answer: the average of the second half of the iterates
    print(f"{STEPS} steps in {wall:.0f} s (this call); {result.history[-1]['step']} in all")


if __name__ == "__main__":
    main()
