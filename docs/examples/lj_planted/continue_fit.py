"""Continue the planted-truth fit from its final iterate: 16 more Adam steps at 0.0005.

Starts from `results/fit.json`'s final parameters in a liquid freshly melted at them (new
reweighting references), runs `fit` with the targets of `fit.py`, and writes the mean of
the last 8 iterates, the reported standard errors and the path to `results/continued.json`.
It tests whether the fit had converged: a converged answer stays put within its errors.

Run from the repository root: `python docs/examples/lj_planted/continue_fit.py`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
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
    final = json.loads((HERE / "results" / "fit.json").read_text())["final_parameters"]
    potential = example.start_potential(
        final["sigma"] / example.SIGMA_TRUE, final["epsilon"] / example.EPS_TRUE
    )
    _, _, state = make_reference.melted_state(potential, jax.random.key(12))
    liquid = Quantity(np.asarray(state.positions), "nm")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(
            potential,
            example.targets(start=liquid),
            steps=16,
            output_dir=tmp,
            trainable=["sigma", "epsilon"],
            optimizer=example.adam_stages((0.0005,), ()),
            seed=4,
            resume=False,
            plots=False,
            uncertainty=True,
            progress=False,
        )
    summary = example.summarise(result, 8)
    summary["wall_time_s"] = time.perf_counter() - t0
    (HERE / "results" / "continued.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("path", "covariance")}))


if __name__ == "__main__":
    main()
