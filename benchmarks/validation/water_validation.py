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
import json
import math
import os
import platform
import sys
import time

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
    EinsteinDiffusion,
    Hann,
    IRSpectrum,
    Quantity,
    SelfDiffusion,
    yeh_hummer_correction,
)
from spectrinv.backends import (  # noqa: E402
    Dipole,
    Frame,
    JaxMDBackend,
    Langevin,
    Positions,
    Stress,
    Velocities,
    VelocityVerlet,
    fire_minimize,
)
from spectrinv.potentials import (  # noqa: E402
    DampedShiftedForce,
    Ewald,
    PointChargeDipole,
    spc_fw,
    water_box,
)
from spectrinv.potentials._water import bond_angles, bond_lengths  # noqa: E402

KJ_MOL_NM3_TO_BAR = 16.605390671738466  # 1 kJ mol^-1 nm^-3 in bar
MASS_WATER = 15.9994 + 2 * 1.008  # Da (the masses used by water_system)
G_CM3_TO_DA_NM3 = 602.214076  # 1 g/cm^3 in Da/nm^3
CHUNK = 1200  # steps per jitted chunk: a multiple of every stride used here
BANDS = (("libration", 300, 1200), ("bend", 1200, 2200), ("stretch", 2800, 4200))


def _cast(tree, dtype):
    return jax.tree.map(
        lambda x: (
            x.astype(dtype) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) else x
        ),
        tree,
    )


def _edge(n, density):
    return (n * MASS_WATER / (density * G_CM3_TO_DA_NM3)) ** (1.0 / 3.0)


def _steps(ps, dt_fs, multiple=CHUNK):
    n = int(round(ps / (dt_fs * 1e-3)))
    return max(multiple, multiple * round(n / multiple))


def _model(args, box_edge, cutoff, dtype):
    if args.electrostatics == "dsf":
        elec = DampedShiftedForce(Quantity(args.alpha, "1/nm"), Quantity(cutoff, "nm"))
    else:
        elec = Ewald.from_accuracy(
            Quantity(cutoff, "nm"), Quantity([box_edge] * 3, "nm"), args.ewald_accuracy
        )
    return _cast(spc_fw(elec), dtype)


def _block_mean(x, n_blocks=5):
    """Mean and block standard error of a 1-d series (contiguous blocks)."""
    x = np.asarray(x, float)
    m = len(x) // n_blocks
    blocks = x[: m * n_blocks].reshape(n_blocks, m).mean(axis=1)
    return float(x.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def _pressures(model, system, positions, velocities, every):
    """Scalar pressure (bar) from the `Stress` recorder on every `every`-th frame."""
    recorder = Stress()

    @jax.jit
    def one(xv):
        x, v = xv
        frame = Frame(
            positions=x,
            velocities=v,
            forces=jnp.zeros_like(x),
            potential_energy=jnp.zeros((), x.dtype),
            neighbors=None,
            system=system,
        )
        return jnp.trace(recorder(frame, model)) / 3.0

    p = jax.lax.map(one, (positions[::every], velocities[::every]), batch_size=8)
    return np.asarray(p, float) * KJ_MOL_NM3_TO_BAR


def _tail_pressure_bar(model, n_molecules, box_edge):
    """LJ pressure tail beyond r_c (Allen & Tildesley §2.8), bar; what tail_correction adds."""
    rho = n_molecules / box_edge**3
    s, e, rc = float(model.sigma), float(model.epsilon), float(model.lj_cutoff)
    x3 = (s / rc) ** 3
    p = (16.0 / 3.0) * math.pi * rho**2 * e * s**3 * ((2.0 / 3.0) * x3**3 - x3)
    return p * KJ_MOL_NM3_TO_BAR


def _kinetic(v, masses):
    return 0.5 * jnp.sum(masses[:, None] * v * v, axis=(-2, -1))


def _ir_peaks(traj, temperature):
    """Band maxima and centroids (cm⁻¹) of n·α from `IRSpectrum` (1 ps Hann window, or
    0.4 of the run if shorter)."""
    lag = min(1.0, 0.4 * float(traj.timestep) * traj.n_frames)
    spec = IRSpectrum(Quantity(temperature, "K"), max_lag=Quantity(lag, "ps"), window=Hann())(traj)
    x = np.asarray(getattr(spec.x, "magnitude", spec.x), float)
    y = np.asarray(getattr(spec.y, "magnitude", spec.y), float)
    out = {}
    for name, lo, hi in BANDS:
        sel = (x > lo) & (x < hi)
        out[f"{name}_max"] = float(x[sel][np.argmax(y[sel])])
        out[f"{name}_centroid"] = float(np.sum(x[sel] * y[sel]) / np.sum(y[sel]))
    return out, x, y


def _scale_molecules(positions, n_molecules, factor, masses):
    """Scale molecular centres of mass by `factor`, molecules rigid."""
    x = positions.reshape(n_molecules, 3, 3)
    m = masses.reshape(n_molecules, 3, 1)
    com = jnp.sum(m * x, axis=1, keepdims=True) / jnp.sum(m, axis=1, keepdims=True)
    return (x + (factor - 1.0) * com).reshape(-1, 3)


def main(args=ARGS):
    t_start = time.time()
    dtype = jnp.float64 if args.precision == "float64" else jnp.float32
    n = args.molecules
    temperature = Quantity(args.temperature, "K")
    dt = Quantity(args.dt, "fs")
    side = [float(s) for s in args.side_densities.split(",") if s.strip()]
    densities = [args.density, *side]
    edges = {rho: _edge(n, rho) for rho in densities}
    cutoff = args.cutoff
    if cutoff is None:
        cutoff = min(0.9, math.floor(100 * (0.5 * min(edges.values()) - 0.01)) / 100)
    key = jax.random.key(args.seed)
    k_box, k_init, k_nvt, k_nve, k_side = jax.random.split(key, 5)
    out = {
        "settings": {
            k: getattr(args, k)
            for k in (
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
        }
    }
    out["settings"]["cutoff_nm"] = cutoff
    out["settings"]["lj"] = "shifted at the cutoff (spc_fw default); tail reported separately"

    # ------------------------------------------------------------- main run, 0.997
    edge = edges[args.density]
    model = _model(args, edge, cutoff, dtype)
    positions, system = water_box(
        n, Quantity(args.density, "g/cm**3"), jax.random.key_data(k_box), model=model
    )
    system = _cast(system, dtype)
    masses = system.masses
    n_dof = 3 * system.n_atoms - 3
    print(
        f"SPC/Fw: {n} molecules, box {edge:.4f} nm, {args.electrostatics} r_c = {cutoff} nm, "
        f"{args.precision}, dt = {args.dt} fs",
        flush=True,
    )
    positions = fire_minimize(model, system, positions.astype(dtype), steps=1500)
    energy = jax.jit(lambda x: model.energy(x, system))
    print(f"minimised: U = {float(energy(positions)):.1f} kJ/mol", flush=True)

    nvt = JaxMDBackend(
        Langevin(dt, temperature, Quantity(args.friction, "1/ps")), chunk_steps=CHUNK
    )
    nve = JaxMDBackend(VelocityVerlet(dt), chunk_steps=CHUNK)
    state = nvt.init(
        model, system, Quantity(np.asarray(positions), "nm"), temperature=temperature, key=k_init
    )
    t0 = time.time()
    n_equil = _steps(args.equil, args.dt, 2 * CHUNK)
    half = n_equil // 2
    _, state = nvt.sample(model, system, state, k_nvt, half, stride=100)
    eq, state = nvt.sample(model, system, state, jax.random.fold_in(k_nvt, 1), half, stride=100)
    e_tot = jax.lax.map(energy, eq.positions) + _kinetic(eq.velocities, masses)
    t_eq = np.asarray(2 * _kinetic(eq.velocities, masses) / (n_dof * BOLTZMANN))
    wall_equil = time.time() - t0
    print(
        f"equilibration: {n_equil} steps in {wall_equil:.0f} s; 2nd half <T> = {t_eq.mean():.1f} K",
        flush=True,
    )
    equilibrated = state

    v = state.velocities - jnp.sum(masses[:, None] * state.velocities, 0) / jnp.sum(masses)
    wanted = float(jnp.mean(e_tot)) - float(state.potential_energy)
    v = v * math.sqrt(max(wanted, 1e-3) / float(_kinetic(v, masses)))
    state = eqx.tree_at(lambda s: s.velocities, state, v.astype(dtype))

    n_prod = _steps(args.prod, args.dt)
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
    prod_ps = n_prod * args.dt * 1e-3
    out["run"] = {
        "equil_steps": n_equil,
        "equil_ps": n_equil * args.dt * 1e-3,
        "prod_steps": n_prod,
        "prod_ps": prod_ps,
        "frame_interval_fs": args.stride * args.dt,
        "n_frames": traj.n_frames,
        "box_nm": edge,
        "wall_equil_s": wall_equil,
        "wall_prod_s": wall_prod,
        "equil_mean_T_K": float(t_eq.mean()),
    }

    if args.save_trajectory:
        traj.to_npz(args.save_trajectory)
    xs, vs = traj.positions, traj.velocities
    temps = np.asarray(2 * _kinetic(vs, masses) / (n_dof * BOLTZMANN), float)
    out["temperature_K"] = dict(zip(("mean", "error"), _block_mean(temps), strict=True))
    out["temperature_K"]["std"] = float(temps.std())
    r = 10 * np.asarray(jax.vmap(lambda x: bond_lengths(x, system))(xs[::50]))
    th = np.degrees(np.asarray(jax.vmap(lambda x: bond_angles(x, system))(xs[::50])))
    out["geometry"] = {"r_OH_angstrom": float(r.mean()), "HOH_deg": float(th.mean())}
    print(
        f"<T> = {temps.mean():.1f} K; <r_OH> = {r.mean():.4f} A; <HOH> = {th.mean():.2f} deg",
        flush=True,
    )

    # ------------------------------------------------------------------ NVE drift
    idx = np.arange(0, traj.n_frames, args.energy_every)
    u = np.asarray(jax.lax.map(energy, xs[idx], batch_size=8), float)
    k = np.asarray(_kinetic(vs[idx], masses), float)
    e = u + k
    t_ps = (idx + 1) * args.stride * args.dt * 1e-3
    slope, icpt = np.polyfit(t_ps, e, 1)
    out["nve_drift"] = {
        "slope_kJ_mol_ps": float(slope),
        "slope_kJ_mol_ps_per_molecule": float(slope / n),
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

    # ------------------------------------------------------------------- pressure
    t0 = time.time()
    p_main = _pressures(model, system, xs, vs, args.stress_every)
    p_tail = {rho: _tail_pressure_bar(model, n, edges[rho]) for rho in densities}
    pm, pe = _block_mean(p_main)
    points = [(args.density, pm, pe, "NVE production")]
    print(
        f"P({args.density}) = {pm:.0f} +- {pe:.0f} bar (no tail); tail {p_tail[args.density]:.0f} "
        f"bar; {len(p_main)} frames in {time.time() - t0:.0f} s",
        flush=True,
    )

    # --------------------------------------------------- side runs for P(rho)
    side_out = []
    for i, rho in enumerate(side):
        t0 = time.time()
        e_side = edges[rho]
        m_side = _model(args, e_side, cutoff, dtype)
        sys_side = eqx.tree_at(lambda s: s.box, system, jnp.asarray([e_side] * 3, dtype))
        x0 = _scale_molecules(equilibrated.positions, n, e_side / edge, masses)
        st = nvt.init(
            m_side,
            sys_side,
            Quantity(np.asarray(x0), "nm"),
            velocities=Quantity(np.asarray(equilibrated.velocities), "nm/ps"),
        )
        ks = jax.random.fold_in(k_side, i)
        _, st = nvt.sample(m_side, sys_side, st, ks, _steps(args.side_equil, args.dt), stride=CHUNK)
        n_s = _steps(args.side_sample, args.dt)
        tr, st = nvt.sample(m_side, sys_side, st, jax.random.fold_in(ks, 1), n_s, stride=20)
        p = _pressures(m_side, sys_side, tr.positions, tr.velocities, 1)
        mean, err = _block_mean(p)
        points.append((rho, mean, err, "Langevin"))
        wall = time.time() - t0
        side_out.append(
            {"density": rho, "P_bar": mean, "P_err_bar": err, "steps": n_s, "wall_s": wall}
        )
        print(f"P({rho}) = {mean:.0f} +- {err:.0f} bar (no tail); {wall:.0f} s", flush=True)

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
    if len(points) >= 2:
        rho_arr = np.array([q[0] for q in points])
        err_arr = np.array([max(q[2], 1e-6) for q in points])
        for label, shift in (("no_tail", 0.0), ("with_tail", 1.0)):
            p_arr = np.array([q[1] + shift * p_tail[q[0]] for q in points])
            # weighted linear fit P = a + b (rho - rho0)
            rho0 = args.density
            design = np.stack([np.ones_like(rho_arr), rho_arr - rho0], 1)
            w = 1.0 / err_arr**2
            cov = np.linalg.inv(design.T @ (w[:, None] * design))
            a, b = cov @ design.T @ (w * p_arr)
            rho_1bar = rho0 + (1.0 - a) / b
            # error propagation of rho* = rho0 + (1 - a)/b
            grad = np.array([-1.0 / b, -(1.0 - a) / b**2])
            err = math.sqrt(float(grad @ cov @ grad))
            kappa = 1.0 / (rho_1bar * b)  # isothermal compressibility from the slope, 1/bar
            out["pressure"][f"density_at_1bar_{label}"] = {
                "value_g_cm3": float(rho_1bar),
                "error_g_cm3": err,
                "slope_bar_per_g_cm3": float(b),
                "P_at_main_density_fit_bar": float(a),
                "compressibility_per_bar": float(kappa),
            }
            print(
                f"density at 1 bar ({label}): {rho_1bar:.4f} +- {err:.4f} g/cm3 "
                f"(dP/drho = {b:.0f} bar cm3/g, kappa_T = {kappa * 1e6:.0f}e-6 /bar)",
                flush=True,
            )

    # -------------------------------------------------------------- diffusion
    # windows no longer than 90 % of one of the 5 blocks (the block error needs that)
    block_ps = 0.9 * prod_ps / 5
    gk_window, msd_window = min(args.gk_window, block_ps), min(args.msd_window, block_ps)
    gk = SelfDiffusion("O", max_lag=Quantity(gk_window, "ps"), n_blocks=5)(traj)
    ein = EinsteinDiffusion(
        "O",
        max_lag=Quantity(msd_window, "ps"),
        fit_start=Quantity(msd_window / 5, "ps"),
        n_blocks=5,
    )(traj)
    eta = Quantity(args.viscosity, "mPa*s")
    diff = {}
    for name, res in (("green_kubo", gk), ("einstein", ein)):
        d = float(res.value.to("m**2/s").magnitude)
        de = float(res.error.to("m**2/s").magnitude)
        dinf = yeh_hummer_correction(
            Quantity(d, "m**2/s"),
            temperature=temperature,
            viscosity=eta,
            box_length=Quantity(edge, "nm"),
        )
        diff[name] = {
            "D_pbc_m2_s": d,
            "D_pbc_err_m2_s": de,
            "D_inf_m2_s": float(dinf.to("m**2/s").magnitude),
        }
    diff["yeh_hummer_shift_m2_s"] = diff["einstein"]["D_inf_m2_s"] - diff["einstein"]["D_pbc_m2_s"]
    diff["viscosity_mPa_s"] = args.viscosity
    diff["gk_window_ps"], diff["msd_fit_ps"] = gk_window, [msd_window / 5, msd_window]
    out["diffusion_O"] = diff
    for name in ("green_kubo", "einstein"):
        r_ = diff[name]
        print(
            f"D_O {name}: {r_['D_pbc_m2_s'] * 1e9:.3f} +- {r_['D_pbc_err_m2_s'] * 1e9:.3f} "
            f"e-9 m2/s (PBC); Yeh-Hummer -> {r_['D_inf_m2_s'] * 1e9:.3f}e-9",
            flush=True,
        )

    # --------------------------------------------------------------------- IR
    peaks, x_ir, y_ir = _ir_peaks(traj, args.temperature)
    n_b = 3
    m = traj.n_frames // n_b
    block_peaks = [_ir_peaks(traj[b * m : (b + 1) * m], args.temperature)[0] for b in range(n_b)]
    ir = {}
    for key_ in peaks:
        vals = np.array([bp[key_] for bp in block_peaks])
        ir[key_] = {"value": peaks[key_], "block_sem": float(vals.std(ddof=1) / math.sqrt(n_b))}
    out["ir_peaks_cm-1"] = ir
    print(
        "IR peaks (cm^-1, max / centroid): "
        + "; ".join(
            f"{b}: {ir[b + '_max']['value']:.0f}+-{ir[b + '_max']['block_sem']:.0f} / "
            f"{ir[b + '_centroid']['value']:.0f}+-{ir[b + '_centroid']['block_sem']:.0f}"
            for b, _, _ in BANDS
        ),
        flush=True,
    )

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
