"""Read a fit's per-step history (`results/fit/history.jsonl` of `learn_pair.py`) and print,
per step, what decides where the optimiser goes:

- the reduced χ² of each target (its loss divided by its weight, `--weights`);
- |∇P| / |∇g|: the norm of the two pressures' gradient (summed) over that of the two g(r)
  gradients, and cos(∇, ∇g): the cosine between the total gradient and the g(r) one;
- cos(−∇g, δu* − δu) over the knots from 0.34 nm: whether the g(r) gradient points from
  the iterate δu towards δu* = (planted truth on the knots) − u₀;
- the median over the 26 knots of each target's |g| / stderr (`grad_snr` of `Reweighting`);
- the largest knot move of the step, max |δu|, and the RMS of δu* − δu from 0.34 nm;
- at the end: how often each target drew a new reference, and its lowest N_eff/F.

Run from the repository root:
`python docs/examples/pair_potential/diagnose_history.py HISTORY {soft,pmf} [--weights reduced|sum]`
(`soft`: u₀ = ε(σ/r)¹², the start of the first set-up; `pmf`: the PMF start of
`learn_pair.py`). The history of the first set-up is not bundled (260 kB); its diagnosis
is `results/diagnosis_soft_start.txt`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("history")
    ap.add_argument("start", choices=["soft", "pmf"])
    ap.add_argument("--weights", choices=["reduced", "sum"], default="reduced")
    args = ap.parse_args()
    rows = [json.loads(x) for x in Path(args.history).read_text().splitlines()]
    k = common.knots()
    u0 = common.soft_start() if args.start == "soft" else common.pmf_start("low")
    need = np.asarray(common.truth().pair_energy(jnp.asarray(k))) - np.asarray(u0.values)
    first = int(np.argmin(np.abs(k - 0.34)))
    n_g = {s: int(np.sum(np.asarray(common.g_data(s).x) >= 0.3)) for s in common.STATES}
    weight = {f"rdf_{s}": (n_g[s] if args.weights == "sum" else 1) for s in common.STATES}
    weight |= {f"pressure_{s}": 1 for s in common.STATES}
    print(
        "step | reduced χ² g_low g_high P_low P_high | |∇P|/|∇g| | cos(∇,∇g) | "
        "cos(−∇g,δu*−δu) | median SNR g_low g_high P_low P_high | max step | max|δu| | "
        "rms(δu*−δu)"
    )
    previous = None
    for row in rows:
        t = row["targets"]
        grad = {n: np.asarray(v["grad"]["delta"]) for n, v in t.items()}
        g_g = grad["rdf_low"] + grad["rdf_high"]
        g_p = grad["pressure_low"] + grad["pressure_high"]
        total = g_g + g_p
        delta = np.asarray(row["params"]["delta"])
        step = 0.0 if previous is None else float(np.abs(delta - previous).max())
        previous = delta
        chi2 = [t[n]["loss"] / weight[n] for n in ("rdf_low", "rdf_high")]
        chi2 += [t[n]["loss"] / weight[n] for n in ("pressure_low", "pressure_high")]
        snr = [
            float(np.median(np.abs(t[n]["diagnostics"]["grad_snr"]["delta"])))
            for n in ("rdf_low", "rdf_high", "pressure_low", "pressure_high")
        ]
        print(
            f"{row['step']:3d} | "
            + " ".join(f"{c:7.1f}" for c in chi2)
            + f" | {np.linalg.norm(g_p) / np.linalg.norm(g_g):5.1f} | {cos(total, g_g):+.2f} | "
            f"{cos(-g_g[first:], (need - delta)[first:]):+.2f} | "
            + " ".join(f"{s:.2f}" for s in snr)
            + f" | {step:.3f} | {np.abs(delta).max():.2f} | "
            f"{np.sqrt(np.mean((need - delta)[first:] ** 2)):.2f}"
        )
    for n in rows[0]["targets"]:
        d = [r["targets"][n]["diagnostics"] for r in rows]
        print(
            f"{n}: new reference in {sum(bool(x['resampled']) for x in d)} of {len(d)} "
            f"evaluations, lowest N_eff/F {min(x['ess'] for x in d):.2f}"
        )


if __name__ == "__main__":
    main()
