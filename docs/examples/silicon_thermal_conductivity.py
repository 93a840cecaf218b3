"""Green–Kubo thermal conductivity of Stillinger–Weber silicon from the many-body heat flux.

    python docs/examples/silicon_thermal_conductivity.py [--temperature 1000] [--ps 100]
        [--cells 2] [--out silicon_kappa_1000K.json] [--figure PATH]

What it does (numbers and discussion: docs/silicon-phonons.md):

1. MD: `cells`³ conventional cells of diamond silicon (8·cells³ atoms) at a₀ = 5.431 Å (no
   thermal expansion), Langevin at `temperature` (1 fs, friction 5/ps) for `--equil` ps;
   the centre-of-mass velocity is then removed (the convective term Σ e_i v_i of a system
   with net momentum carries the mean energy along) and velocity Verlet (NVE) runs for
   `--ps` ps, recording the heat flux (`spectrinv.backends.HeatFlux`, the many-body form of
   Fan et al. 2015) every 4 fs, in chunks of 20 ps.
2. κ = V/(3 k_B T²) ∫⟨J(0)·J(t)⟩dt/V² (`observables.ThermalConductivity`, block error bars)
   for several correlation windows, with T the mean kinetic temperature of the NVE run.
3. Writes a JSON summary (κ and its standard error per window, temperature, energy drift,
   timings) and, with `--figure`, the running integral.

A 64-atom cell (cells = 2, 1.09 nm) holds only phonons with wavelengths up to 1.09 nm; long
wavelength phonons, which carry much of the heat in silicon, are missing, and the slowest
decay of the heat-current correlation of SW silicon lasts tens of ps (Howell 2012), so a
100 ps run gives an order of magnitude, not a converged κ. On a GPU, use `--cells 4`
(512 atoms) or more and several ns.
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import observables as ob  # noqa: E402
from observables import Quantity  # noqa: E402
from spectrinv.backends import (  # noqa: E402
    HeatFlux,
    JaxMDBackend,
    Langevin,
    Positions,
    Velocities,
    VelocityVerlet,
)
from spectrinv.potentials import StillingerWeber, diamond_lattice  # noqa: E402

KB = 0.00831446261815324  # kJ/mol/K
STRIDE = 4  # steps (fs) between recorded fluxes
CHUNK_PS = 20


def run(temperature: float, cells: int, equil_ps: float, prod_ps: float, seed: int):
    """The NVE heat-flux series `[frame, 3]` (kJ/mol·nm/ps), the kinetic temperature of each
    frame (K), the total energy per chunk (kJ/mol), the box (nm) and timings (s)."""
    sw = StillingerWeber()
    pos, system = diamond_lattice(cells)
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    hot = JaxMDBackend(Langevin(Quantity(1, "fs"), Quantity(temperature, "K"), Quantity(5, "1/ps")))
    nve = JaxMDBackend(VelocityVerlet(Quantity(1, "fs")))
    state = hot.init(
        sw,
        system,
        Quantity(np.asarray(pos), "nm"),
        temperature=Quantity(temperature, "K"),
        key=keys[0],
    )
    start = time.perf_counter()
    _, state = hot.sample(sw, system, state, keys[1], int(equil_ps * 1000), stride=1000)
    v = state.velocities
    state = eqx.tree_at(lambda s: s.velocities, state, v - jnp.mean(v, axis=0))  # one species
    equil_s = time.perf_counter() - start
    m = np.asarray(system.masses)
    flux, temps, energies = [], [], []
    record = (Positions(), Velocities(), HeatFlux())
    n_chunks = int(np.ceil(prod_ps / CHUNK_PS))
    steps = int(round(prod_ps * 1000 / n_chunks / STRIDE)) * STRIDE
    for c in range(n_chunks):
        traj, state = nve.sample(
            sw, system, state, jax.random.fold_in(keys[2], c), steps, stride=STRIDE, record=record
        )
        vel = np.asarray(traj.velocities)
        kin = 0.5 * np.sum(m[None, :, None] * vel**2, axis=(1, 2))
        temps.append(2 * kin / ((3 * system.n_atoms - 3) * KB))
        flux.append(np.asarray(traj.heat_flux))
        energies.append(float(state.potential_energy + state.kinetic_energy(system.masses)))
    prod_s = time.perf_counter() - start - equil_s
    box = np.asarray(system.box)
    return (
        np.concatenate(flux),
        np.concatenate(temps),
        np.asarray(energies),
        box,
        {"equilibration_s": equil_s, "production_s": prod_s, "steps_per_chunk": steps},
    )


def conductivity(flux, box, temperature, lag_ps, n_blocks):
    """κ (W/m/K) and its block standard error for a correlation window of `lag_ps`."""
    traj = ob.Trajectory(
        box=Quantity(box, "nm"),
        timestep=Quantity(STRIDE, "fs"),
        heat_flux=Quantity(flux, "kJ/mol*nm/ps"),
    )
    gk = ob.ThermalConductivity(
        Quantity(temperature, "K"), max_lag=Quantity(lag_ps, "ps"), n_blocks=n_blocks
    )
    return gk(traj)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--temperature", type=float, default=1000.0, help="K")
    ap.add_argument("--cells", type=int, default=2)
    ap.add_argument("--equil", type=float, default=10.0, help="ps of Langevin equilibration")
    ap.add_argument("--ps", type=float, default=100.0, help="ps of NVE production")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--lags", default="1,2,5,10", help="correlation windows, ps")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--out", default=None)
    ap.add_argument("--figure", default=None)
    ap.add_argument("--save", default=None, help="write the flux series to this .npz")
    ap.add_argument("--load", default=None, help="analyse a series written by --save")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.load:
        with np.load(args.load) as data:
            flux, temps, energies, box = (data[k] for k in ("flux", "temps", "energies", "box"))
        timing = {}
    else:
        flux, temps, energies, box, timing = run(
            args.temperature, args.cells, args.equil, args.ps, args.seed
        )
    if args.save:
        np.savez(args.save, flux=flux, temps=temps, energies=energies, box=box)
    t_mean = float(np.mean(temps))
    prod_ps = flux.shape[0] * STRIDE / 1000.0
    kappa = {}
    running = {}
    for lag in (float(x) for x in args.lags.split(",")):
        if lag * args.blocks > prod_ps:
            continue  # each block must hold the window
        result = conductivity(flux, box, t_mean, lag, args.blocks)
        kappa[f"{lag:g} ps"] = {
            "kappa_W_per_mK": float(result.value.m_as("W/(m*K)")),
            "stderr_W_per_mK": float(np.asarray(result.error_magnitude)),
        }
        running[lag] = result
    out = {
        "n_atoms": int(8 * args.cells**3),
        "box_nm": float(box[0]),
        "target_temperature_K": args.temperature,
        "nve_temperature_K": t_mean,
        "production_ps": prod_ps,
        "frames": int(flux.shape[0]),
        "n_blocks": args.blocks,
        "kappa": kappa,
        "total_energy_drift_kJ_per_mol": float(energies[-1] - energies[0]),
        **timing,
        "seconds": time.perf_counter() - t0,
    }
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    if args.figure and running:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        longest = running[max(running)]
        t = np.asarray(longest.time.m_as("ps"))
        y = np.asarray(longest.running_magnitude)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(t, y)
        ax.set_xlabel("correlation time (ps)")
        ax.set_ylabel("running κ (W m⁻¹ K⁻¹)")
        ax.set_title(f"SW silicon, {out['n_atoms']} atoms, {t_mean:.0f} K, {prod_ps:g} ps NVE")
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
