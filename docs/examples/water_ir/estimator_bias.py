"""How the band intensities depend on the IR estimator, on common trajectories.

    python docs/examples/water_ir/estimator_bias.py [--blocks 4] [--seed 21] [--output DIR]
    python docs/examples/water_ir/estimator_bias.py --blocks 1 --segment-ps 8 --output DIR
    python docs/examples/water_ir/estimator_bias.py --fit-estimator 80 --seed 303

Default: the starting model of `water_ir.toml` (with `--output`, the fitted one in that
fit's output folder) sampled once as `refine_dipole.py` does (`--blocks` × 10 NVE segments
of `--segment-ps`, default 1 ps, frames every 2 fs); on those same trajectories the
libration, bend and stretch intensities (the fit's windows) with (a) 1 ps segments and a
0.4 ps Hann window (`validate.py`'s estimator), (b) 1 ps segments and 0.2 ps, (c) each
segment cut into four of 0.25 ps with 0.2 ps (the fit's segments and window), and with
longer segments also (d) the whole segments with 0.4 ps. Each from three series: the
dipole M, its exact time derivative dM/dt (the `PotentialDipoleCurrent` recorder, which
`source = "dipole_derivative"` uses), and central differences of M (which attenuate high
frequencies by sin²(ωΔt)/(ωΔt)²: compare those rows with each other only).

`--fit-estimator N`: the fit's own estimator (its target, N segments of 0.25 ps from a
Langevin chain) at the starting model, as `planted_dipole.py` makes its references.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from planted_dipole import reference  # noqa: E402  (next to this script)
from refine_dipole import dipole_currents, intensities, sample_frames  # noqa: E402
from validate import DT_FS, HERE, STRIDE  # noqa: E402

from observables import FromDipoleDerivative, Hann, IRSpectrum, Quantity, Trajectory  # noqa: E402
from spectrinv.fit import load_config, with_parameters  # noqa: E402

VARIANTS = {
    "1 ps, 0.4 ps window": (500, 200),
    "1 ps, 0.2 ps": (500, 100),
    "0.25 ps, 0.2 ps": (125, 100),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--segment-ps", type=float, default=1.0, help="NVE segment length (ps)")
    p.add_argument("--output", type=Path, help="a fit's output folder: its fitted model")
    p.add_argument("--fit-estimator", type=int, default=0, help="segments (0: the comparison)")
    args = p.parse_args(argv)
    config = load_config(HERE / "water_ir.toml")
    target = config.targets[0]
    fitted = json.loads((args.output / "fit.json").read_text()) if args.output else {}
    model = with_parameters(config.potential, fitted.get("final_parameters", {}))
    if args.fit_estimator:
        x, y = reference(model, target, args.fit_estimator, seed=args.seed)
        print(
            json.dumps({"segments": args.fit_estimator, "intensities": intensities(x, y).tolist()})
        )
        return
    steps = int(round(args.segment_ps * 1000 / DT_FS))
    if steps % (500 * STRIDE):
        p.error(f"--segment-ps must be a multiple of 1 ps, got {args.segment_ps}")
    variants = dict(VARIANTS)
    if args.segment_ps != 1.0:  # the whole segments too
        variants = {f"{args.segment_ps:g} ps, 0.4 ps": (steps // STRIDE, 200), **variants}
    positions, velocities = sample_frames(
        model, target, args.blocks, jax.random.key(args.seed), steps=steps
    )
    dipole = jax.jit(jax.vmap(lambda r: model.dipole_moment(r, target.system)))
    m = np.stack([np.asarray(dipole(jnp.asarray(seg))) for seg in positions])
    exact = dipole_currents(model, target.system, positions, velocities)
    dt = DT_FS * STRIDE / 1000.0  # ps
    series = {
        "dipole": m,
        "dM/dt exact": exact,
        "dM/dt central": np.gradient(m, dt, axis=1),
    }
    box = jnp.asarray(target.system.box)
    for label, data in series.items():
        source = {} if label == "dipole" else {"source": FromDipoleDerivative()}
        field = "dipole" if label == "dipole" else "charge_current"
        for name, (length, lag) in variants.items():
            ir = IRSpectrum(Quantity(target.temperature, "K"), window=Hann(), max_lag=lag, **source)

            def one(s, ir=ir, field=field):
                out = ir(Trajectory.from_internal(box=box, timestep=dt, **{field: s}))
                return out.x_magnitude, out.y_magnitude

            segments = data.reshape(-1, length, 3)
            x, y = jax.jit(jax.vmap(one))(jnp.asarray(segments))
            i = intensities(np.asarray(x[0]), np.asarray(y).mean(axis=0))
            print(f"{label:15s} {name:20s} " + " ".join(f"{v / 1e6:8.4f}" for v in i), flush=True)


if __name__ == "__main__":
    main()
