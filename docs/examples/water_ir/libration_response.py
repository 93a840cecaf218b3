"""Which force-field parameter moves the libration band, measured at fixed density.

    python docs/examples/water_ir/libration_response.py water-ir-fit [--blocks 4] [--rel 0.05]

From the fitted model (`fit.json` in the output folder; the starting model without it),
each parameter in `--names` is scaled by 1 ± `--rel` and the IR spectrum recomputed with
`validate.py`'s estimator (`--blocks` × 10 NVE segments of 1 ps at the IR target's fixed
box, the same seed for every model: common random numbers). Prints, per parameter, the
libration, bend and stretch centroids and the libration intensity at both ends, and the
relative response d ln(value) / d ln(parameter) (a central difference), and the parameter
value that places the libration centroid at experiment (ln-ln interpolation between the two
ends). The fit trains neither the oxygen charge nor ε (their gradients through the dynamics
are too noisy at this size), so this measures where to set them: `water_ir.toml`'s oxygen
charge is the value it gave for `charge_oxygen` around SPC/Fw's published -0.82 e.
"""

from __future__ import annotations

import argparse
import json
from operator import attrgetter
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from validate import EXPERIMENT, HERE, band_positions, ir_run  # noqa: E402  (next to it)

from spectrinv.fit import load_config, parameter_names, with_parameters  # noqa: E402

KEYS = ("libration_centroid", "bend_centroid", "stretch_centroid", "libration_intensity")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="the fit's output folder (with fit.json), or a missing one")
    p.add_argument("--names", default="charge_oxygen,epsilon", help="parameters to scale")
    p.add_argument("--rel", type=float, default=0.05, help="relative change at each end")
    p.add_argument("--blocks", type=int, default=4, help="IR blocks of 10 NVE segments of 1 ps")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    if not 0 < args.rel < 0.5:
        p.error(f"--rel must be in (0, 0.5), got {args.rel}")
    config = load_config(HERE / "water_ir.toml")
    fit_json = Path(args.output) / "fit.json"
    fitted = json.loads(fit_json.read_text())["final_parameters"] if fit_json.exists() else {}
    base = with_parameters(config.potential, fitted)
    known = parameter_names(base)
    names = args.names.split(",")
    unknown = [n for n in names if n not in known]
    if unknown:
        p.error(f"unknown parameter(s) {unknown}; the model has {sorted(known)}")
    ir_target = config.targets[0]
    exp = np.genfromtxt(EXPERIMENT, delimiter=",", names=True)
    measured = band_positions(exp["wavenumber"], exp["n_alpha"])["libration_centroid"]
    key = jax.random.key(args.seed)
    report = {"fitted": fitted, "rel": args.rel, "blocks": args.blocks, "response": {}}
    for name in names:
        value = float(np.asarray(attrgetter(name)(base)))  # e.g. "bond.k": base.bond.k
        ends = {}
        for sign in (-1, 1):
            model = with_parameters(base, {name: value * (1 + sign * args.rel)})
            res = ir_run(model, ir_target, args.blocks, key, equil_ps=5.0)
            x, y = np.asarray(res["spectrum_x"]), np.asarray(res["spectrum_y"])
            ends[sign] = {**band_positions(x, y), "libration_intensity": res["libration_intensity"]}
        response = {}
        for k in KEYS:
            lo, hi = ends[-1][k], ends[1][k]
            response[k] = {"minus": lo, "plus": hi, "dln_dln": (hi / lo - 1) / (2 * args.rel)}
        places = value * placing_scale(response["libration_centroid"], args.rel, measured)
        report["response"][name] = {**response, "places_libration_at": places}
        print(
            f"{name} = {value:.6g} × (1 ± {args.rel}): "
            + ", ".join(
                f"{k} {r['minus']:.5g} → {r['plus']:.5g} (d ln/d ln {r['dln_dln']:+.3f})"
                for k, r in response.items()
            ),
            flush=True,
        )
        print(
            f"  the libration centroid at experiment ({measured:.1f} cm⁻¹): {name} = {places:.4g}"
        )
    out = Path(args.output) / "libration_response.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


def placing_scale(ends: dict, rel: float, target: float) -> float:
    """The factor s on the parameter that puts the band at `target`, with ln(band) linear in
    ln(s) through the two ends (`ends["minus"]` at s = 1 - rel, `ends["plus"]` at 1 + rel)."""
    lo, hi = ends["minus"], ends["plus"]
    if not (lo > 0 and hi > 0 and hi != lo):
        raise ValueError(f"the band does not respond to the parameter: {lo} and {hi}")
    slope = np.log(hi / lo) / np.log((1 + rel) / (1 - rel))
    return float((1 - rel) * np.exp(np.log(target / lo) / slope))


if __name__ == "__main__":
    main()
