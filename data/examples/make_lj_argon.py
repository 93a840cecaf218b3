"""Generate `lj_argon.npz`: liquid argon (Lennard-Jones) with the JaxMDBackend.

256 argon atoms (fcc 4×4×4 start) at 1.40 g/cm³, Langevin NVT equilibration at 90 K, then
NVE production; positions (unwrapped) and velocities stored in float32 every `STRIDE`
steps. Writes `lj_argon.npz` (via `Trajectory.to_npz`) and the sidecar `lj_argon.toml`
(what, how, units, parameters, versions).

Run from the repository root: `python data/examples/make_lj_argon.py`.
"""

from __future__ import annotations

import datetime
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from observables import BOLTZMANN, Quantity
from spectrinv.backends import JaxMDBackend, Langevin, VelocityVerlet
from spectrinv.potentials import LennardJones, System

HERE = Path(__file__).resolve().parent
SEED = 2026
N_CELLS = 4  # fcc cells per edge -> 4 * 4**3 = 256 atoms
DENSITY = 1.40  # g/cm^3
TEMPERATURE = 90.0  # K
MASS = 39.948  # Da
SIGMA_A, EPSILON_KJMOL = 3.405, 0.99774  # Rahman (1964): sigma = 3.4 A, eps/k_B = 120 K
CUTOFF_NM = 1.0
TIMESTEP_FS = 4.0
FRICTION_PER_PS = 2.0
EQUIL_STEPS = 5000  # 20 ps NVT
PROD_STEPS = 3500  # 14 ps NVE
STRIDE = 5  # 20 fs between stored frames
WHAT = (
    "Simulated (not experimental) MD trajectory: unwrapped positions and velocities of 256 "
    "Lennard-Jones argon atoms in a cubic periodic box, NVE production after NVT "
    "equilibration. For examples and tests of the observables (RDF, VACF, VDOS, diffusion)."
)
POTENTIAL = "Lennard-Jones, energy-shifted at the cutoff (spectrinv LennardJones, Shifted())"


def main() -> None:
    n_atoms = 4 * N_CELLS**3
    number_density = DENSITY / (MASS / 6.02214076e23) / 1e21  # atoms / nm^3
    length = (n_atoms / number_density) ** (1 / 3)
    a = length / N_CELLS
    grid = np.stack(np.meshgrid(*[np.arange(N_CELLS)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    positions = ((grid[:, None, :] + basis[None]) * a).reshape(-1, 3).astype(np.float32)

    system = System(
        box=jnp.full(3, length, jnp.float32),
        species=jnp.zeros(n_atoms, jnp.int32),
        masses=jnp.full(n_atoms, MASS, jnp.float32),
        species_names=("Ar",),
    )
    lj = LennardJones(
        Quantity(SIGMA_A, "angstrom"), Quantity(EPSILON_KJMOL, "kJ/mol"), Quantity(CUTOFF_NM, "nm")
    )
    key = jax.random.key(SEED)
    k_init, k_nvt, k_nve = jax.random.split(key, 3)
    dt = Quantity(TIMESTEP_FS, "fs")
    nvt = JaxMDBackend(Langevin(dt, Quantity(TEMPERATURE, "K"), Quantity(FRICTION_PER_PS, "1/ps")))
    nve = JaxMDBackend(VelocityVerlet(dt))

    t0 = time.perf_counter()
    state = nvt.init(
        lj, system, Quantity(positions, "nm"), temperature=Quantity(TEMPERATURE, "K"), key=k_init
    )
    _, state = nvt.sample(lj, system, state, k_nvt, EQUIL_STEPS, stride=EQUIL_STEPS)
    traj, state = nve.sample(lj, system, state, k_nve, PROD_STEPS, stride=STRIDE)
    elapsed = time.perf_counter() - t0

    kinetic = 0.5 * jnp.sum(system.masses[:, None] * traj.velocities**2, axis=(1, 2))
    temps = np.asarray(2 * kinetic / ((3 * n_atoms - 3) * BOLTZMANN))
    out = HERE / "lj_argon.npz"
    traj.to_npz(out)
    size_mb = out.stat().st_size / 1e6

    how = (
        f"spectrinv JaxMDBackend: Langevin (BAOAB) NVT {EQUIL_STEPS} steps, then velocity "
        f"Verlet NVE {PROD_STEPS} steps; dt = {TIMESTEP_FS} fs; float32."
    )
    toml = f'''# Sidecar of lj_argon.npz, written by make_lj_argon.py. Do not edit by hand.
name = "lj_argon"
title = "Liquid argon, Lennard-Jones, 256 atoms, {TEMPERATURE:g} K, {DENSITY} g/cm^3 (simulated)"
what = "{WHAT}"
how = "{how}"
script = "data/examples/make_lj_argon.py"
file = "lj_argon.npz"
format = "observables Trajectory.to_npz (arrays in internal units + JSON units header)"
generated = "{datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"
seed = {SEED}
n_atoms = {n_atoms}
n_frames = {traj.n_frames}
frame_interval_fs = {TIMESTEP_FS * STRIDE:g}
dtype = "float32"
file_size_mb = {size_mb:.2f}
runtime_s = {elapsed:.1f}
mean_temperature_K = {temps.mean():.2f}
temperature_std_K = {temps.std():.2f}

[units]
positions = "nm"
velocities = "nm/ps"
box = "nm"
timestep = "ps"
masses = "Da"

[parameters]
potential = "{POTENTIAL}"
sigma_angstrom = {SIGMA_A}
epsilon_kJ_per_mol = {EPSILON_KJMOL}
epsilon_over_kB_K = {EPSILON_KJMOL / BOLTZMANN:.3f}
cutoff_nm = {CUTOFF_NM}
mass_Da = {MASS}
density_g_per_cm3 = {DENSITY}
box_edge_nm = {length:.6f}
temperature_K = {TEMPERATURE}
langevin_friction_per_ps = {FRICTION_PER_PS}
timestep_fs = {TIMESTEP_FS}
equilibration_steps = {EQUIL_STEPS}
production_steps = {PROD_STEPS}
stride = {STRIDE}
neighbor_skin_nm = {nve.skin}
parameter_source = "A. Rahman, Phys. Rev. 136, A405 (1964): sigma = 3.4 A, epsilon/k_B = 120 K"

[versions]
python = "{platform.python_version()}"
jax = "{jax.__version__}"
machine = "{platform.machine()}, {platform.processor() or "cpu"}"
'''
    (HERE / "lj_argon.toml").write_text(toml)
    print(
        f"wrote {out} ({size_mb:.2f} MB, {traj.n_frames} frames) in {elapsed:.1f} s; "
        f"T = {temps.mean():.1f} +- {temps.std():.1f} K"
    )


if __name__ == "__main__":
    main()
