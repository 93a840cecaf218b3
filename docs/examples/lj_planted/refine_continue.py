"""One more `refine` pass from the answer of `refine.py`, with more references.

Reads `results/refine.json`, melts a liquid at its answer, and runs one final pass with
`REFERENCES` independent references (no exploring passes). Writes
`results/refine_continued.json`. With `seed2` as second argument it fits the second,
independent reference data (`*_seed2.csv`) instead, with the same simulations (same start,
same random keys: the answers differ only through the data), and writes
`results/refine_continued_seed2.json`.

Run from the repository root:
`python docs/examples/lj_planted/refine_continue.py [REFERENCES] [seed2]`.
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
from spectrinv.fit import refine  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fit as planted  # noqa: E402
import make_reference  # noqa: E402

REFERENCES = int(sys.argv[1]) if len(sys.argv) > 1 else 16
SUFFIX = "_seed2" if sys.argv[2:] == ["seed2"] else ""


def main() -> None:
    out = HERE / "results"
    previous = json.loads((out / "refine.json").read_text())["refined"]
    sigma, eps = previous["values"]
    start = planted.start_potential(sigma / planted.SIGMA_TRUE, eps / planted.EPS_TRUE)
    t0 = time.perf_counter()
    _, _, state = make_reference.melted_state(start, jax.random.key(19))
    liquid = Quantity(np.asarray(state.positions), "nm")
    _, refined = refine(
        start,
        planted.targets(start=liquid, suffix=SUFFIX),
        trainable=["sigma", "epsilon"],
        references=REFERENCES,
        passes=1,
        max_explore=0,
        seed=2,
    )
    truth = np.array([planted.SIGMA_TRUE, planted.EPS_TRUE])
    summary = {
        "truth": truth.tolist(),
        "start": [sigma, eps],
        "refined": refined.to_dict(),
        "relative_deviation": (refined.values / truth - 1).tolist(),
        "z_score": ((refined.values - truth) / refined.standard_errors).tolist(),
        "wall_time_s": time.perf_counter() - t0,
    }
    (out / f"refine_continued{SUFFIX}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(refined)
    print(json.dumps({k: v for k, v in summary.items() if k != "refined"}, indent=1))


if __name__ == "__main__":
    main()
