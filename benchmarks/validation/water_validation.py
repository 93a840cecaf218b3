"""SPC/Fw water at 298 K: density (from P(ρ)), self-diffusion, IR peaks and NVE drift.

A validation of the flexible water model against its published properties
(Wu, Tepper & Voth, J. Chem. Phys. 124, 024503 (2006)); results and discussion in
docs/water-validation.md.

Protocol (all through `spectrinv.backends.JaxMDBackend`):

1. `--molecules` SPC/Fw molecules on a simple-cubic lattice (use a perfect cube: `water_box`
   fills the lattice in order, so other counts start with a gap) at 0.997 g/cm³, FIRE
   minimisation, Langevin (BAOAB, γ = 5 ps⁻¹) at `--temperature` for `--equil` ps;
   velocities rescaled so that the total energy equals the canonical mean of the second half
   of the equilibration (so NVE sits at the target temperature, not at one draw's).
2. NVE (velocity Verlet) production for `--prod` ps, recording positions, velocities and the
   point-charge dipole (`PointChargeDipole`) every `--stride` steps.
3. Pressure: the `Stress` recorder (atomic virial by strain autodiff + atomic kinetic term)
   evaluated on production frames (every `--stress-every`-th stored frame, post hoc, so that
   the expensive virial is not paid at every stored frame), block-averaged error. The LJ
   tail correction P_tail = (16/3)πρ_O²εσ³[(2/3)(σ/r_c)⁹ − (σ/r_c)³] (exactly what
   `FlexibleWater(tail_correction=True)` adds; it exerts no force, so the dynamics are the
   same with or without it) is reported separately and added in the "with tail" numbers.
4. Density at P = 1 bar (no barostat in the backend): short Langevin runs at the densities
   `--side-densities` started from the equilibrated configuration with molecule centres
   scaled (molecules rigid), `--side-equil` ps discarded, `--side-sample` ps sampled for the
   pressure; a weighted straight line through P(ρ) (main + side runs) is solved for 1 bar;
   the error comes from the fit covariance (block errors of each mean pressure).
5. Oxygen self-diffusion: Green–Kubo (`SelfDiffusion`, VACF, window `--gk-window` ps) and
   Einstein (`EinsteinDiffusion`, MSD fit from 1 ps to `--msd-window` ps), 5 blocks each;
   Yeh–Hummer correction with the shear viscosity `--viscosity` (mPa·s).
6. IR: `IRSpectrum` (harmonic quantum correction, 1 ps Hann window) of the total dipole;
   band maxima and centroids in 300–1200 (libration), 1200–2200 (bend) and 2800–4200 cm⁻¹
   (stretch), errors from 3 blocks.
7. NVE drift: total energy U + K on every `--energy-every`-th stored frame, least-squares
   slope, reported per ns relative to |⟨E⟩| and in kJ/mol/ps per molecule.

Usage (the run recorded in docs/water-validation.md):

    python -m benchmarks.validation.water_validation --json water_validation.json

`--quick` runs a tiny version (a smoke test, not physics).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--molecules", type=int, default=125, help="number of molecules (a cube)")
    p.add_argument("--temperature", type=float, default=298.15, help="K")
    p.add_argument("--density", type=float, default=0.997, help="g/cm^3 of the main run")
    p.add_argument("--equil", type=float, default=6.0, help="Langevin equilibration, ps")
    p.add_argument("--prod", type=float, default=30.0, help="NVE production, ps")
    p.add_argument("--dt", type=float, default=0.5, help="time step, fs")
    p.add_argument("--stride", type=int, default=6, help="steps between stored NVE frames")
    p.add_argument(
        "--electrostatics", choices=("dsf", "ewald"), default="dsf", help="long-range method"
    )
    p.add_argument(
        "--cutoff",
        type=float,
        default=None,
        help="real-space / LJ cutoff, nm (default: min(0.9, half the smallest box edge - 0.01))",
    )
    p.add_argument("--alpha", type=float, default=2.0, help="DSF damping, 1/nm")
    p.add_argument("--ewald-accuracy", type=float, default=1e-5)
    p.add_argument("--precision", choices=("float32", "float64"), default="float32")
    p.add_argument(
        "--side-densities",
        type=str,
        default="0.967,1.027",
        help="comma-separated densities (g/cm^3) of the P(rho) side runs ('' for none)",
    )
    p.add_argument("--side-equil", type=float, default=1.2, help="ps discarded per side run")
    p.add_argument("--side-sample", type=float, default=4.8, help="ps sampled per side run")
    p.add_argument("--stress-every", type=int, default=5, help="stored frames per stress eval")
    p.add_argument("--energy-every", type=int, default=10, help="stored frames per energy eval")
    p.add_argument("--gk-window", type=float, default=3.0, help="VACF window, ps")
    p.add_argument("--msd-window", type=float, default=5.0, help="MSD fit end, ps")
    p.add_argument(
        "--viscosity",
        type=float,
        default=0.89,
        help="shear viscosity for Yeh-Hummer, mPa s (default: experiment at 298 K)",
    )
    p.add_argument("--friction", type=float, default=5.0, help="Langevin gamma, 1/ps")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--save-trajectory", default=None, help="write the NVE trajectory (.npz)")
    p.add_argument("--quick", action="store_true", help="tiny smoke-test run (not physics)")
    args = p.parse_args(argv)
    if args.quick:
        args.molecules, args.equil, args.prod = 27, 0.6, 1.2
        args.side_equil, args.side_sample = 0.6, 0.6
        args.gk_window, args.msd_window = 0.1, 0.2
    return args


ARGS = _parse(sys.argv[1:] if __name__ == "__main__" else [])

import jax  # noqa: E402

if ARGS.precision == "float64":
    jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import (  # noqa: E402
    BOLTZMANN,  # noqa: E402
    Quantity,
)
from spectrinv.backends import (  # noqa: E402
    Dipole,
    JaxMDBackend,
    Langevin,
    Positions,
    Velocities,
    VelocityVerlet,
    fire_minimize,
)
from spectrinv.potentials import (  # noqa: E402
    PointChargeDipole,
    bond_angles,
    bond_lengths,
    water_box,
)

from ._water import (  # noqa: E402
    CHUNK,
    block_mean,
    box_edge,
    cast,
    density_at_1bar,
    ir_bands,
    kinetic,
    n_steps,
    oxygen_diffusion,
    pressures,
    scale_molecules,
    tail_pressure_bar,
    water_model,
)

SETTINGS = (
    "molecules",
    "temperature",
    "density",
    "equil",
    "prod",
    "dt",
    "stride",
    "electrostatics",
    "alpha",
    "precision",
    "side_densities",
    "side_equil",
    "side_sample",
    "viscosity",
    "friction",
    "seed",
    "quick",
)


@dataclasses.dataclass
class _Run:
    """What every phase of the validation needs: the options and the main-density set-up."""

    args: argparse.Namespace
    dtype: Any
    side: list  # side-run densities, g/cm³
    edges: dict  # density (g/cm³) -> box edge (nm)
    cutoff: float  # nm
    keys: tuple  # box, init, NVT, NVE, side runs
    model: Any = None
    system: Any = None
    energy: Any = None  # jitted positions -> potential energy (kJ/mol)
    nvt: Any = None
    nve: Any = None

    @property
    def n(self):
        return self.args.molecules

    @property
    def temperature(self):
        return Quantity(self.args.temperature, "K")

    @property
    def edge(self):
        return self.edges[self.args.density]


def _setup(args) -> _Run:
    dtype = jnp.float64 if args.precision == "float64" else jnp.float32
    side = [float(s) for s in args.side_densities.split(",") if s.strip()]
    edges = {rho: box_edge(args.molecules, rho) for rho in [args.density, *side]}
    cutoff = args.cutoff
    if cutoff is None:
        cutoff = min(0.9, math.floor(100 * (0.5 * min(edges.values()) - 0.01)) / 100)
    keys = tuple(jax.random.split(jax.random.key(args.seed), 5))
    return _Run(args, dtype, side, edges, cutoff, keys)


def _main_run(run: _Run, out: dict):
    """Minimise, equilibrate (Langevin), rescale to the canonical mean energy, NVE
    production; returns the production trajectory and the equilibrated state."""
    args, dtype, n = run.args, run.dtype, run.n
    k_box, k_init, k_nvt, k_nve, _ = run.keys
    dt = Quantity(args.dt, "fs")
    run.model = model = water_model(args, run.edge, run.cutoff, dtype)
    positions, system = water_box(
        n, Quantity(args.density, "g/cm**3"), jax.random.key_data(k_box), model=model
    )
    run.system = system = cast(system, dtype)
    masses = system.masses
    n_dof = 3 * system.n_atoms - 3
    print(
        f"SPC/Fw: {n} molecules, box {run.edge:.4f} nm, {args.electrostatics} "
        f"r_c = {run.cutoff} nm, {args.precision}, dt = {args.dt} fs",
        flush=True,
    )
    positions = fire_minimize(model, system, positions.astype(dtype), steps=1500)
    run.energy = energy = jax.jit(lambda x: model.energy(x, system))
    print(f"minimised: U = {float(energy(positions)):.1f} kJ/mol", flush=True)

    friction = Quantity(args.friction, "1/ps")
    run.nvt = nvt = JaxMDBackend(Langevin(dt, run.temperature, friction), chunk_steps=CHUNK)
    run.nve = nve = JaxMDBackend(VelocityVerlet(dt), chunk_steps=CHUNK)
    state = nvt.init(
        model,
        system,
        Quantity(np.asarray(positions), "nm"),
        temperature=run.temperature,
        key=k_init,
    )
    t0 = time.time()
    n_equil = n_steps(args.equil, args.dt, 2 * CHUNK)
    half = n_equil // 2
    _, state = nvt.sample(model, system, state, k_nvt, half, stride=100)
    eq, state = nvt.sample(model, system, state, jax.random.fold_in(k_nvt, 1), half, stride=100)
    e_tot = jax.lax.map(energy, eq.positions) + kinetic(eq.velocities, masses)
    t_eq = np.asarray(2 * kinetic(eq.velocities, masses) / (n_dof * BOLTZMANN))
    wall_equil = time.time() - t0
    print(
        f"equilibration: {n_equil} steps in {wall_equil:.0f} s; 2nd half <T> = {t_eq.mean():.1f} K",
        flush=True,
    )
    equilibrated = state

    v = state.velocities - jnp.sum(masses[:, None] * state.velocities, 0) / jnp.sum(masses)
    wanted = float(jnp.mean(e_tot)) - float(state.potential_energy)
    v = v * math.sqrt(max(wanted, 1e-3) / float(kinetic(v, masses)))
    state = eqx.tree_at(lambda s: s.velocities, state, v.astype(dtype))

    n_prod = n_steps(args.prod, args.dt)
    dipole_model = PointChargeDipole.from_model(model, system)
    t0 = time.time()
    traj, state = nve.sample(
        model,
        system,
        state,
        k_nve,
        n_prod,
        stride=args.stride,
        record=(Positions(), Velocities(), Dipole(dipole_model)),
    )
    jax.block_until_ready(traj.positions)
    wall_prod = time.time() - t0
    print(
        f"production: {n_prod} NVE steps in {wall_prod:.0f} s ({n_prod / wall_prod:.1f} "
        "steps/s incl. compilation)",
        flush=True,
    )
    out["run"] = {
        "equil_steps": n_equil,
        "equil_ps": n_equil * args.dt * 1e-3,
        "prod_steps": n_prod,
        "prod_ps": n_prod * args.dt * 1e-3,
        "frame_interval_fs": args.stride * args.dt,
        "n_frames": traj.n_frames,
        "box_nm": run.edge,
        "wall_equil_s": wall_equil,
        "wall_prod_s": wall_prod,
        "equil_mean_T_K": float(t_eq.mean()),
    }
    return traj, equilibrated


def _production_summary(run: _Run, traj, out: dict) -> None:
    """Temperature, geometry and the NVE energy drift of the production run."""
    args, system, masses = run.args, run.system, run.system.masses
    n_dof = 3 * system.n_atoms - 3
    if args.save_trajectory:
        traj.to_npz(args.save_trajectory)
    xs, vs = traj.positions, traj.velocities
    temps = np.asarray(2 * kinetic(vs, masses) / (n_dof * BOLTZMANN), float)
    out["temperature_K"] = dict(zip(("mean", "error"), block_mean(temps), strict=True))
    out["temperature_K"]["std"] = float(temps.std())
    r = 10 * np.asarray(jax.vmap(lambda x: bond_lengths(x, system))(xs[::50]))
    th = np.degrees(np.asarray(jax.vmap(lambda x: bond_angles(x, system))(xs[::50])))
    out["geometry"] = {"r_OH_angstrom": float(r.mean()), "HOH_deg": float(th.mean())}
    print(
        f"<T> = {temps.mean():.1f} K; <r_OH> = {r.mean():.4f} A; <HOH> = {th.mean():.2f} deg",
        flush=True,
    )

    idx = np.arange(0, traj.n_frames, args.energy_every)
    u = np.asarray(jax.lax.map(run.energy, xs[idx], batch_size=8), float)
    k = np.asarray(kinetic(vs[idx], masses), float)
    e = u + k
    t_ps = (idx + 1) * args.stride * args.dt * 1e-3
    slope, icpt = np.polyfit(t_ps, e, 1)
    out["nve_drift"] = {
        "slope_kJ_mol_ps": float(slope),
        "slope_kJ_mol_ps_per_molecule": float(slope / run.n),
        "relative_per_ns": float(slope * 1000 / abs(e.mean())),
        "mean_total_energy_kJ_mol": float(e.mean()),
        "total_energy_std_kJ_mol": float(e.std()),
        "total_energy_residual_std_kJ_mol": float(np.std(e - (slope * t_ps + icpt))),
        "kinetic_energy_std_kJ_mol": float(k.std()),
        "precision": args.precision,
    }
    print(
        f"NVE drift: {slope:+.4f} kJ/mol/ps = {slope * 1000 / abs(e.mean()):+.2e} relative/ns "
        f"(E_tot std {e.std():.3f} kJ/mol, K std {k.std():.1f})",
        flush=True,
    )


def _side_run(run: _Run, equilibrated, i: int, rho: float):
    """Langevin run at density `rho` from the scaled equilibrated configuration: the mean
    pressure (bar, no tail), its block error and a summary row."""
    args, dtype, nvt = run.args, run.dtype, run.nvt
    t0 = time.time()
    e_side = run.edges[rho]
    m_side = water_model(args, e_side, run.cutoff, dtype)
    sys_side = eqx.tree_at(lambda s: s.box, run.system, jnp.asarray([e_side] * 3, dtype))
    x0 = scale_molecules(equilibrated.positions, run.n, e_side / run.edge, run.system.masses)
    st = nvt.init(
        m_side,
        sys_side,
        Quantity(np.asarray(x0), "nm"),
        velocities=Quantity(np.asarray(equilibrated.velocities), "nm/ps"),
    )
    ks = jax.random.fold_in(run.keys[4], i)
    _, st = nvt.sample(m_side, sys_side, st, ks, n_steps(args.side_equil, args.dt), stride=CHUNK)
    n_s = n_steps(args.side_sample, args.dt)
    tr, st = nvt.sample(m_side, sys_side, st, jax.random.fold_in(ks, 1), n_s, stride=20)
    p = pressures(m_side, sys_side, tr.positions, tr.velocities, 1)
    mean, err = block_mean(p)
    wall = time.time() - t0
    print(f"P({rho}) = {mean:.0f} +- {err:.0f} bar (no tail); {wall:.0f} s", flush=True)
    return (
        mean,
        err,
        {"density": rho, "P_bar": mean, "P_err_bar": err, "steps": n_s, "wall_s": wall},
    )


def _pressure(run: _Run, traj, equilibrated, out: dict) -> None:
    """P at the main density (production frames) and the side densities; the density at
    1 bar from a weighted straight line through P(ρ), with and without the LJ tail."""
    args = run.args
    t0 = time.time()
    p_main = pressures(run.model, run.system, traj.positions, traj.velocities, args.stress_every)
    p_tail = {rho: tail_pressure_bar(run.model, run.n, run.edges[rho]) for rho in run.edges}
    pm, pe = block_mean(p_main)
    points = [(args.density, pm, pe, "NVE production")]
    print(
        f"P({args.density}) = {pm:.0f} +- {pe:.0f} bar (no tail); tail {p_tail[args.density]:.0f} "
        f"bar; {len(p_main)} frames in {time.time() - t0:.0f} s",
        flush=True,
    )
    side_out = []
    for i, rho in enumerate(run.side):
        mean, err, row = _side_run(run, equilibrated, i, rho)
        points.append((rho, mean, err, "Langevin"))
        side_out.append(row)
    out["pressure"] = {
        "points": [
            {
                "density_g_cm3": rho,
                "P_bar": mean,
                "P_err_bar": err,
                "P_tail_bar": p_tail[rho],
                "P_with_tail_bar": mean + p_tail[rho],
                "ensemble": how,
            }
            for rho, mean, err, how in points
        ],
        "side_runs": side_out,
        "n_stress_frames_main": len(p_main),
    }
    if len(points) < 2:
        return
    for label, shift in (("no_tail", 0.0), ("with_tail", 1.0)):
        fit = density_at_1bar(points, p_tail, args.density, shift)
        out["pressure"][f"density_at_1bar_{label}"] = fit
        print(
            f"density at 1 bar ({label}): {fit['value_g_cm3']:.4f} +- {fit['error_g_cm3']:.4f} "
            f"g/cm3 (dP/drho = {fit['slope_bar_per_g_cm3']:.0f} bar cm3/g, "
            f"kappa_T = {fit['compressibility_per_bar'] * 1e6:.0f}e-6 /bar)",
            flush=True,
        )


def main(args=ARGS):
    t_start = time.time()
    run = _setup(args)
    out = {"settings": {k: getattr(args, k) for k in SETTINGS}}
    out["settings"]["cutoff_nm"] = run.cutoff
    out["settings"]["lj"] = "shifted at the cutoff (spc_fw default); tail reported separately"
    traj, equilibrated = _main_run(run, out)
    _production_summary(run, traj, out)
    _pressure(run, traj, equilibrated, out)
    out["diffusion_O"] = oxygen_diffusion(traj, args, out["run"]["prod_ps"], run.edge)
    out["ir_peaks_cm-1"], x_ir, y_ir = ir_bands(traj, args.temperature)

    out["wall_s"] = time.time() - t_start
    out["versions"] = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "machine": platform.machine(),
        "devices": [str(d) for d in jax.devices()],
    }
    print(f"total wall time {out['wall_s']:.0f} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
        np.savetxt(
            os.path.splitext(args.json)[0] + "_ir.txt",
            np.stack([x_ir, y_ir], 1),
            header="wavenumber_cm-1 n_alpha_cm-1",
        )
    return out


if __name__ == "__main__":
    main()
