"""Planted truth for the charge-flux dipole surface: recover known fluxes from an IR spectrum.

    python docs/examples/water_ir/planted_dipole.py [--steps 25] [--ref-segments 160]

1. The truth: SPC/Fw (as in `water_ir.toml`) with a `ChargeFluxDipole` of bond flux
   0.30 e/Å, angle flux 0.10 e/rad and charge scale 0.90.
2. Two independent reference spectra from the truth (different seeds), each by the fit's
   own estimator with 20 times its segments (`--ref-segments`, 160 × 0.25 ps of NVE
   started from Langevin states); their band intensities must agree far inside the fit's
   tolerance. The first is written as a CSV dataset.
3. A fit of the three dipole parameters from a wrong start (0.2 e/Å, 0, 1.0) against that
   dataset: integrated band intensities plus the line shape (MSE), `Truncated` gradients
   as in `water_ir.toml`; then the fitted values with their standard errors.
Output in `planted-dipole/` (the dataset, the config, the fit) and the printed table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from refine_dipole import intensities  # noqa: E402  (next to this script)
from validate import equilibrated  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.fit import load_config  # noqa: E402
from spectrinv.gradients import Truncated  # noqa: E402
from spectrinv.potentials import ChargeFluxDipole  # noqa: E402

TRUTH = {"dipole.bond_flux": 3.0, "dipole.angle_flux": 0.10, "dipole.charge_scale": 0.90}
CONFIG = """
[fit]
steps = {steps}
seed = 11
learning_rate = 0.08
momentum = 0.3
schedule = "cosine"
final_fraction = 0.2
precision = "float64"
trainable = ["dipole.bond_flux", "dipole.angle_flux", "dipole.charge_scale"]
output = "fit"

[model]
kind = "spc_fw"
cutoff = "0.55 nm"
alpha = "2.0 1/nm"

[model.dipole]
kind = "charge_flux"
bond_flux = "0.2 e/angstrom"
angle_flux = "0 e"
charge_scale = 1.0

[[targets]]
name = "ir"
observable = "ir"
temperature = "298.15 K"
timestep = "0.5 fs"
equilibration = "2 ps"

[targets.dataset]
file = "reference.csv"
x = "wavenumber"
y = "n_alpha"
x_unit = "1/cm"
y_unit = "1/cm"

[[targets.losses]]
loss = "band_intensity"
windows = [["417 1/cm", "1200 1/cm"], ["1200 1/cm", "1900 1/cm"], ["2800 1/cm", "3999 1/cm"]]
weight = 400
[[targets.losses]]
loss = "mse"
x_range = [["417 1/cm", "3999 1/cm"]]
weight = 4.1e-7

[targets.system]
molecules = 48
density = "0.997 g/cm**3"

[targets.observable_options]
max_lag = "0.2 ps"
source = "dipole"    # as the references: their bias is shared (reading this config warns)

[targets.gradient]
kind = "truncated"
segments = 8
segment_length = "0.25 ps"
decorrelation = "0.25 ps"
stride = 2
"""


def reference(model, target, n_segments: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n·α of the truth by the fit's own estimator with `n_segments` segments: 5 ps of
    Langevin, then NVE segments (0.25 ps, 0.2 ps window) started from Langevin states
    0.25 ps apart, their spectra averaged. Each segment keeps the energy of its start
    state, so their mean samples the canonical temperature (one long NVE run would sit
    at the energy of a single state, a few per cent off in temperature and intensity)."""
    key = jax.random.key(seed)
    state = equilibrated(model, target, key, 5.0)
    g = target.gradient
    many = Truncated(
        n_segments, g.segment_steps, stride=g.stride, decorrelation_steps=g.decorrelation_steps
    )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    spectrum = many.observe(
        target.objective,
        params,
        static,
        backend=target.backend,
        system=target.system,
        state=state,
        key=jax.random.fold_in(key, 2),
    )
    return np.asarray(spectrum.x_magnitude), np.asarray(spectrum.y_magnitude)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--ref-segments", type=int, default=160, help="segments per reference")
    p.add_argument("--out", default="planted-dipole")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "planted.toml"
    config_path.write_text(CONFIG.format(steps=args.steps))
    t0 = time.time()
    if not (out / "reference.csv").exists():
        # the reference file does not exist yet: build the model from a placeholder first
        np.savetxt(
            out / "reference.csv",
            np.column_stack([np.linspace(100, 4500, 50), np.ones(50)]),
            delimiter=",",
            header="wavenumber,n_alpha",
            comments="",
        )
        config = load_config(config_path)
        target = config.targets[0]
        truth = config.potential.with_dipole(
            ChargeFluxDipole(
                Quantity(TRUTH["dipole.bond_flux"], "e/nm"),
                Quantity(float(config.potential.bond.length), "nm"),
                Quantity(TRUTH["dipole.angle_flux"], "e"),
                Quantity(float(config.potential.angle.theta0), "rad"),
                charge_scale=TRUTH["dipole.charge_scale"],
            )
        )
        x, y1 = reference(truth, target, args.ref_segments, seed=101)
        _, y2 = reference(truth, target, args.ref_segments, seed=202)
        i1, i2 = intensities(x, y1), intensities(x, y2)
        agree = {
            "band_intensities_1": i1.tolist(),
            "band_intensities_2": i2.tolist(),
            "relative_difference": (i2 / i1 - 1).tolist(),
            "rms_line_shape_difference_over_max": float(
                np.sqrt(np.mean((y2 - y1) ** 2)) / np.max(y1)
            ),
            "reference_wall_s": time.time() - t0,
        }
        print("two references:", json.dumps(agree), flush=True)
        (out / "references.json").write_text(json.dumps(agree, indent=1) + "\n")
        keep = (x >= 100) & (x <= 4500)
        np.savetxt(
            out / "reference.csv",
            np.column_stack([x[keep], y1[keep]]),
            delimiter=",",
            header="wavenumber,n_alpha",
            comments="",
            fmt="%.6f",
        )
    config = load_config(config_path)
    result = config.run(out / "fit", progress=True)
    summary = json.loads((out / "fit" / "fit.json").read_text())
    unc = summary.get("uncertainty", {})
    print(f"{'parameter':22s}{'truth':>10s}{'start':>10s}{'fitted':>10s}{'± 1σ':>10s}{'z':>7s}")
    for name, truth in TRUTH.items():
        fitted = summary["final_parameters"][name]
        start = summary["initial_parameters"][name]
        err = _stderr(unc, name)
        z = (fitted - truth) / err if err else float("nan")
        print(f"{name:22s}{truth:10.4f}{start:10.4f}{fitted:10.4f}{err:10.4f}{z:7.2f}")
    print(f"loss {result.initial_loss:.4g} -> {result.final_loss:.4g}; {time.time() - t0:.0f} s")


def _stderr(unc: dict, name: str) -> float:
    """The 1σ standard error of `name` in `fit.json`'s uncertainty (NaN when absent)."""
    entry = (unc.get("standard_errors") or {}).get(name)
    return float(entry["value"]) if entry else float("nan")


if __name__ == "__main__":
    main()
