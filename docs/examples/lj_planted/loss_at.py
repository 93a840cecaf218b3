"""χ² of g(r) and of the pressure at given (σ, ε), relative to the planted truth.

Each point: the targets of `fit.py` started from a liquid melted by
`make_reference.melted_state`, 20 ps of equilibration at the point, one 20-ps reweighting
reference (`fit(..., steps=0)`: the final evaluation only). Prints and appends to
`results/loss_at.jsonl` the reduced χ² of each target and the model pressure.

Run from the repository root:
`python docs/examples/lj_planted/loss_at.py SIGMA_REL EPS_REL [SIGMA_REL EPS_REL ...]`,
e.g. `1 1 1.0183 0.7571` (the truth, and a point of the fit's path).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.fit import fit  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fit as example  # noqa: E402
import make_reference  # noqa: E402


def main() -> None:
    values = [float(v) for v in sys.argv[1:]]
    _, _, state = make_reference.melted_state(example.start_potential(1, 1), jax.random.key(5))
    liquid = Quantity(np.asarray(state.positions), "nm")
    for rel_sigma, rel_eps in zip(values[::2], values[1::2], strict=True):
        with tempfile.TemporaryDirectory() as tmp:
            res = fit(
                example.start_potential(rel_sigma, rel_eps),
                example.targets(start=liquid),
                steps=0,
                output_dir=tmp,
                progress=False,
                plots=False,
                uncertainty=False,
                seed=7,
            )
        row = res.history[-1]["targets"]
        out = {
            "sigma_rel": rel_sigma,
            "epsilon_rel": rel_eps,
            "chi2_rdf": row["rdf"]["loss"],
            "chi2_pressure": row["pressure"]["loss"],
            "pressure_model_bar": row["pressure"]["terms"]["chi2/model"],
        }
        print(json.dumps(out), flush=True)
        with open(HERE / "results" / "loss_at.jsonl", "a") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
