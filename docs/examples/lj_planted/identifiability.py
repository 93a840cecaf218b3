"""How well g(r) alone, and g(r) with the pressure, pin LJ σ and ε at the planted truth.

`spectrinv.fit.identifiability` at σ = 0.3405 nm, ε/k_B = 119.8 K with the targets of
`fit.py` (same data, estimator, 20-ps references), started from a liquid melted by
`make_reference.melted_state`: standard errors, correlation and condition number of the
Gauss–Newton information, for the g(r) target alone and for g(r) + pressure. Writes
`results/identifiability.json`.

Run from the repository root: `python docs/examples/lj_planted/identifiability.py`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.fit import identifiability  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fit as example  # noqa: E402
import make_reference  # noqa: E402


def main() -> None:
    truth = example.start_potential(1.0, 1.0)
    _, _, state = make_reference.melted_state(truth, jax.random.key(5))
    liquid = Quantity(np.asarray(state.positions), "nm")
    targets = example.targets(start=liquid)
    out = {}
    for label, chosen in (("rdf", targets[:1]), ("rdf+pressure", targets)):
        t0 = time.perf_counter()
        unc = identifiability(truth, chosen, trainable=["sigma", "epsilon"], seed=3)
        se = np.asarray(unc.standard_errors)
        out[label] = {
            "relative_standard_error": (se / np.abs(np.asarray(unc.values))).tolist(),
            "correlation": float(np.asarray(unc.correlation)[0, 1]),
            "condition_number": float(unc.condition_number),
            "eigenvalues_relative": np.asarray(unc.eigenvalues).tolist(),
            "error_source": unc.error_source,
            "wall_time_s": time.perf_counter() - t0,
        }
        print(label, json.dumps(out[label]), flush=True)
    (HERE / "results" / "identifiability.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
