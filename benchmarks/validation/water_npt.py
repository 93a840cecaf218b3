"""SPC/Fw density at 298 K and 1 bar from NPT (`MonteCarloBarostat`), float32 or float64.

Protocol (the settings of `water_validation.py`, so the two density estimates
can be compared): `--molecules` SPC/Fw molecules at 0.997 g/cm³, DSF electrostatics
(α = 2 nm⁻¹, R_c = `--cutoff`), LJ shifted at R_c with the mean-field tail correction in
the energy (`spc_fw(tail_correction=True)`: the barostat then feels the tail pressure, as
GROMACS `DispCorr = EnerPres` does), FIRE minimisation, `--equil` ps Langevin NVT, then
Langevin NPT at `--pressure` with molecular Monte Carlo volume moves every `--frequency`
steps for `--npt` ps. The first `--discard` ps of NPT are dropped; the density is the mean
over the rest with a 5-block standard error. Results and discussion: docs/water-validation.md.

    python -m benchmarks.validation.water_npt --npt 100 --discard 20
"""

from __future__ import annotations

import argparse
import sys
import time


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--molecules", type=int, default=125)
    p.add_argument("--temperature", type=float, default=298.15, help="K")
    p.add_argument("--pressure", type=float, default=1.0, help="bar")
    p.add_argument("--cutoff", type=float, default=0.75, help="R_c (nm)")
    p.add_argument("--alpha", type=float, default=2.0, help="DSF damping (1/nm)")
    p.add_argument("--dt", type=float, default=0.5, help="fs")
    p.add_argument("--equil", type=float, default=5.0, help="NVT equilibration (ps)")
    p.add_argument("--npt", type=float, default=100.0, help="NPT length (ps)")
    p.add_argument("--discard", type=float, default=20.0, help="NPT ps not averaged")
    p.add_argument("--frequency", type=int, default=25, help="steps between volume moves")
    p.add_argument("--no-tail", action="store_true", help="no LJ tail correction")
    p.add_argument("--precision", choices=("float32", "float64"), default="float32")
    p.add_argument("--seed", type=int, default=2026)
    return p.parse_args(argv)


ARGS = _parse(sys.argv[1:] if __name__ == "__main__" else [])

import jax  # noqa: E402

if ARGS.precision == "float64":
    jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import (  # noqa: E402
    JaxMDBackend,
    Langevin,
    MonteCarloBarostat,
    fire_minimize,
)
from spectrinv.potentials import DampedShiftedForce, spc_fw, water_box  # noqa: E402

from ._water import G_CM3_TO_DA_NM3, MASS_WATER, cast as _cast  # noqa: E402

PS_PER_FRAME = 0.1


def main(args=ARGS):
    dtype = jnp.float64 if args.precision == "float64" else jnp.float32
    n, dt = args.molecules, Quantity(args.dt, "fs")
    temperature = Quantity(args.temperature, "K")
    elec = DampedShiftedForce(Quantity(args.alpha, "1/nm"), Quantity(args.cutoff, "nm"))
    model = _cast(spc_fw(elec, tail_correction=not args.no_tail), dtype)
    k_box, k_init, k_nvt, k_npt = jax.random.split(jax.random.key(args.seed), 4)
    positions, system = water_box(
        n, Quantity(0.997, "g/cm**3"), jax.random.key_data(k_box), model=model
    )
    system = _cast(system, dtype)
    positions = fire_minimize(model, system, positions.astype(dtype), steps=1500)
    stride = int(round(PS_PER_FRAME / (args.dt * 1e-3)))
    chunk = 40 * stride
    thermostat = Langevin(dt, temperature, Quantity(5, "1/ps"))
    nvt = JaxMDBackend(thermostat, chunk_steps=chunk)
    barostat = MonteCarloBarostat(
        Quantity(args.pressure, "bar"), frequency=args.frequency, scaling="molecular"
    )
    npt = JaxMDBackend(thermostat, barostat=barostat, chunk_steps=chunk)
    state = nvt.init(
        model, system, Quantity(np.asarray(positions), "nm"), temperature=temperature, key=k_init
    )
    n_equil = chunk * max(1, round(args.equil / (chunk * args.dt * 1e-3)))
    _, state = nvt.sample(model, system, state, k_nvt, n_equil, stride=stride)
    n_npt = chunk * max(1, round(args.npt / (chunk * args.dt * 1e-3)))
    t0 = time.time()
    traj, state = npt.sample(model, system, state, k_npt, n_npt, stride=stride)
    wall = time.time() - t0
    volume = np.asarray(traj.volume, float)
    density = n * MASS_WATER / (volume * G_CM3_TO_DA_NM3)
    start = int(round(args.discard / PS_PER_FRAME))
    keep, v = density[start:], volume[start:]
    kt_joule = 1.380649e-23 * args.temperature
    kappa = v.var() * 1e-27 / (kt_joule * v.mean()) * 1e5  # 1/bar
    blocks = np.array_split(keep, 5)
    sem = np.std([b.mean() for b in blocks], ddof=1) / np.sqrt(5)
    print(
        f"SPC/Fw NPT: {n} molecules, DSF a={args.alpha}/nm R_c={args.cutoff} nm, LJ tail "
        f"{'off' if args.no_tail else 'on'}, {args.precision}, dt {args.dt} fs, "
        f"P {args.pressure} bar, T {args.temperature} K; NVT {n_equil} steps, NPT {n_npt} "
        f"steps ({n_npt * args.dt * 1e-3:.0f} ps) in {wall:.0f} s"
    )
    print(
        f"volume moves: {int(state.barostat.attempted)} tried, acceptance "
        f"{float(state.barostat.acceptance):.2f}, final max |dlnV| "
        f"{float(state.barostat.log_step):.4f}"
    )
    print(
        f"density over the last {len(keep) * PS_PER_FRAME:.0f} ps: {keep.mean():.4f} +- "
        f"{sem:.4f} g/cm3 (5 blocks: {', '.join(f'{b.mean():.4f}' for b in blocks)}); "
        f"std of instantaneous {keep.std():.4f}; kappa_T = <dV^2>/(kT<V>) = "
        f"{kappa * 1e6:.1f}e-6 /bar"
    )
    print("density every 10 ps:", " ".join(f"{x:.4f}" for x in density[:: int(10 / PS_PER_FRAME)]))


if __name__ == "__main__":
    main()
