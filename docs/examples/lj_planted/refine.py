"""Planted truth with `refine`: LJ σ and ε from g(r) + pressure, 20 % off at the start.

Stage one: `fit` with Adam (learning rate 0.03, relative parameters) for `ADAM_STEPS`
steps from σ −20 %, ε +20 % — it reaches the pressure's narrow valley, still far from
the truth along it. Stage two: `spectrinv.fit.refine` from there, in a liquid melted at
stage one's answer: reweighted minimisation inside the trust region (ESS ≥ 0.5) with one
reference per pass while far away, then `PASSES` passes with `REFERENCES` independent
references each; the answer is the mean of the last pass's per-reference minimisers, its
error the spread of those plus the data's own errors (`RefinedFit`).

Targets, references and state point as `fit.py` (`make_reference.py` made the data at
σ = 0.3405 nm, ε/k_B = 119.8 K). Writes `results/refine.json` and prints the answer, its
standard errors and the truth's distance in standard errors.

Run from the repository root: `python docs/examples/lj_planted/refine.py [ADAM_STEPS]`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import optax  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.fit import fit, refine  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fit as planted  # noqa: E402
import make_reference  # noqa: E402

ADAM_STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
REFERENCES, PASSES = 8, 2


def main() -> None:
    out = HERE / "results"
    t0 = time.perf_counter()
    stage1 = fit(
        planted.start_potential(),
        planted.targets(),
        steps=ADAM_STEPS,
        output_dir=out / "refine_stage1",
        trainable=["sigma", "epsilon"],
        optimizer=optax.adam(0.03, b1=0.8, b2=0.9),
        optimizer_id="adam-b2-0.9-0.03",
        seed=0,
        plots=False,
        uncertainty=False,
    )
    t1 = time.perf_counter()
    _, _, state = make_reference.melted_state(stage1.potential, jax.random.key(9))
    liquid = Quantity(np.asarray(state.positions), "nm")
    _, refined = refine(
        stage1.potential,
        planted.targets(start=liquid),
        trainable=["sigma", "epsilon"],
        references=REFERENCES,
        passes=PASSES,
        seed=1,
    )
    t2 = time.perf_counter()
    truth = np.array([planted.SIGMA_TRUE, planted.EPS_TRUE])
    summary = {
        "truth": truth.tolist(),
        "adam_steps": ADAM_STEPS,
        "after_adam": [float(stage1.potential.sigma), float(stage1.potential.epsilon)],
        "refined": refined.to_dict(),
        "relative_deviation": (refined.values / truth - 1).tolist(),
        "z_score": ((refined.values - truth) / refined.standard_errors).tolist(),
        "wall_time_s": {"adam": t1 - t0, "refine": t2 - t1, "total": t2 - t0},
    }
    (out / "refine.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(refined)
    print(json.dumps({k: v for k, v in summary.items() if k != "refined"}, indent=1))


if __name__ == "__main__":
    main()
