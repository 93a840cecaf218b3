"""Constants and analysis helpers of the SPC/Fw water validations (`water_validation`,
`water_npt`): unit conversions, box sizes, the model, block errors, pressures from the
`Stress` recorder, IR band positions. Internal units: nm, ps, Da, kJ/mol, K."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from observables import (
    EinsteinDiffusion,
    Hann,
    IRSpectrum,
    Quantity,
    SelfDiffusion,
    yeh_hummer_correction,
)
from spectrinv.backends import Frame, Stress
from spectrinv.potentials import DampedShiftedForce, Ewald, spc_fw

KJ_MOL_NM3_TO_BAR = 16.605390671738466  # 1 kJ mol^-1 nm^-3 in bar
MASS_WATER = 15.9994 + 2 * 1.008  # Da (the masses used by water_system)
G_CM3_TO_DA_NM3 = 602.214076  # 1 g/cm^3 in Da/nm^3
CHUNK = 1200  # steps per jitted chunk: a multiple of every stride used here
BANDS = (("libration", 300, 1200), ("bend", 1200, 2200), ("stretch", 2800, 4200))


def cast(tree, dtype):
    return jax.tree.map(
        lambda x: (
            x.astype(dtype) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) else x
        ),
        tree,
    )


def box_edge(n, density):
    return (n * MASS_WATER / (density * G_CM3_TO_DA_NM3)) ** (1.0 / 3.0)


def n_steps(ps, dt_fs, multiple=CHUNK):
    n = int(round(ps / (dt_fs * 1e-3)))
    return max(multiple, multiple * round(n / multiple))


def water_model(args, box_edge, cutoff, dtype):
    if args.electrostatics == "dsf":
        elec = DampedShiftedForce(Quantity(args.alpha, "1/nm"), Quantity(cutoff, "nm"))
    else:
        elec = Ewald.from_accuracy(
            Quantity(cutoff, "nm"), Quantity([box_edge] * 3, "nm"), args.ewald_accuracy
        )
    return cast(spc_fw(elec), dtype)


def block_mean(x, n_blocks=5):
    """Mean and block standard error of a 1-d series (contiguous blocks)."""
    x = np.asarray(x, float)
    m = len(x) // n_blocks
    blocks = x[: m * n_blocks].reshape(n_blocks, m).mean(axis=1)
    return float(x.mean()), float(blocks.std(ddof=1) / math.sqrt(n_blocks))


def pressures(model, system, positions, velocities, every):
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


def tail_pressure_bar(model, n_molecules, box_edge):
    """LJ pressure tail beyond r_c (Allen & Tildesley §2.8), bar; what tail_correction adds."""
    rho = n_molecules / box_edge**3
    s, e, rc = float(model.sigma), float(model.epsilon), float(model.lj_cutoff)
    x3 = (s / rc) ** 3
    p = (16.0 / 3.0) * math.pi * rho**2 * e * s**3 * ((2.0 / 3.0) * x3**3 - x3)
    return p * KJ_MOL_NM3_TO_BAR


def kinetic(v, masses):
    return 0.5 * jnp.sum(masses[:, None] * v * v, axis=(-2, -1))


def ir_peaks(traj, temperature):
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


def scale_molecules(positions, n_molecules, factor, masses):
    """Scale molecular centres of mass by `factor`, molecules rigid."""
    x = positions.reshape(n_molecules, 3, 3)
    m = masses.reshape(n_molecules, 3, 1)
    com = jnp.sum(m * x, axis=1, keepdims=True) / jnp.sum(m, axis=1, keepdims=True)
    return (x + (factor - 1.0) * com).reshape(-1, 3)


def density_at_1bar(points, p_tail, rho0, shift):
    """Density (g/cm³) at P = 1 bar from a weighted straight line P = a + b (ρ − ρ0) through
    `points` [(ρ g/cm³, P bar, error bar, ensemble)], the LJ tail pressure `p_tail[ρ]` added
    `shift` times (0 or 1); with its error from the fit covariance, the slope b, a and the
    isothermal compressibility 1/(ρ b) (1/bar)."""
    rho_arr = np.array([q[0] for q in points])
    err_arr = np.array([max(q[2], 1e-6) for q in points])
    p_arr = np.array([q[1] + shift * p_tail[q[0]] for q in points])
    design = np.stack([np.ones_like(rho_arr), rho_arr - rho0], 1)
    w = 1.0 / err_arr**2
    cov = np.linalg.inv(design.T @ (w[:, None] * design))
    a, b = cov @ design.T @ (w * p_arr)
    rho_1bar = rho0 + (1.0 - a) / b
    # error propagation of rho* = rho0 + (1 - a)/b
    grad = np.array([-1.0 / b, -(1.0 - a) / b**2])
    err = math.sqrt(float(grad @ cov @ grad))
    kappa = 1.0 / (rho_1bar * b)  # isothermal compressibility from the slope, 1/bar
    return {
        "value_g_cm3": float(rho_1bar),
        "error_g_cm3": err,
        "slope_bar_per_g_cm3": float(b),
        "P_at_main_density_fit_bar": float(a),
        "compressibility_per_bar": float(kappa),
    }


def oxygen_diffusion(traj, args, prod_ps, edge):
    """Oxygen self-diffusion (m²/s), Green–Kubo and Einstein with 5-block errors, and the
    Yeh–Hummer correction for the box edge `edge` (nm) with the viscosity `args.viscosity`
    (mPa·s); windows from `args.gk_window` / `args.msd_window` (ps)."""
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
            temperature=Quantity(args.temperature, "K"),
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
    for name in ("green_kubo", "einstein"):
        r_ = diff[name]
        print(
            f"D_O {name}: {r_['D_pbc_m2_s'] * 1e9:.3f} +- {r_['D_pbc_err_m2_s'] * 1e9:.3f} "
            f"e-9 m2/s (PBC); Yeh-Hummer -> {r_['D_inf_m2_s'] * 1e9:.3f}e-9",
            flush=True,
        )
    return diff


def ir_bands(traj, temperature):
    """IR band maxima and centroids (cm⁻¹) with 3-block errors, and the spectrum (x, y);
    `temperature` in K."""
    peaks, x_ir, y_ir = ir_peaks(traj, temperature)
    n_b = 3
    m = traj.n_frames // n_b
    block_peaks = [ir_peaks(traj[b * m : (b + 1) * m], temperature)[0] for b in range(n_b)]
    ir = {}
    for key_ in peaks:
        vals = np.array([bp[key_] for bp in block_peaks])
        ir[key_] = {"value": peaks[key_], "block_sem": float(vals.std(ddof=1) / math.sqrt(n_b))}
    print(
        "IR peaks (cm^-1, max / centroid): "
        + "; ".join(
            f"{b}: {ir[b + '_max']['value']:.0f}+-{ir[b + '_max']['block_sem']:.0f} / "
            f"{ir[b + '_centroid']['value']:.0f}+-{ir[b + '_centroid']['block_sem']:.0f}"
            for b, _, _ in BANDS
        ),
        flush=True,
    )
    return ir, x_ir, y_ir
