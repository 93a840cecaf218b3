"""Make the Raman tutorial's example: the cell polarizability of a short water run.

Input: the bundled SPC/Fw trajectory `data/examples/water_spcfw.npz` (48 molecules, 298 K,
5 ps NVE, positions every 2 fs; how it was made is in `data/examples/water_spcfw.toml`).
Each frame's polarizability comes from `spectrinv.potentials.BondPolarizability` on the
O–H bonds, with ILLUSTRATIVE parameters (not fitted to water's measured Raman intensities):
α∥⁰ = 1.2 Å³ and α⊥⁰ = 0.5 Å³ per bond, so that the two bonds of a molecule give the
gas-phase mean polarizability of water, 1.47 Å³; dα∥/dr = 1.8 Å², dα⊥/dr = 0.3 Å²;
r₀ = 1.012 Å (the SPC/Fw bond length).

Output: `water_polarizability.npz` next to this script, in the package's npz format
(`Trajectory.to_npz`): polarizability `[2500, 3, 3]` (nm³), box, time step; float32,
about 0.2 MB. Runs in a few seconds on a CPU:

    python docs/examples/raman/make_water_polarizability.py
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from observables import Quantity, Trajectory
from observables.io import read_npz
from spectrinv.potentials import BondPolarizability, water_system

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "data" / "examples" / "water_spcfw.npz"
OUTPUT = HERE / "water_polarizability.npz"

MODEL = BondPolarizability(
    alpha_parallel=Quantity(1.2, "angstrom**3"),
    alpha_perpendicular=Quantity(0.5, "angstrom**3"),
    d_alpha_parallel=Quantity(1.8, "angstrom**2"),
    d_alpha_perpendicular=Quantity(0.3, "angstrom**2"),
    r0=Quantity(1.012, "angstrom"),
)


def main() -> None:
    water = read_npz(SOURCE)
    n_molecules = water.n_atoms // 3
    system = water_system(n_molecules, water.quantity("box"))
    alpha = jax.jit(jax.vmap(lambda x: MODEL(x, system)))(water.positions)
    out = Trajectory(
        box=water.quantity("box"),
        timestep=water.quantity("timestep"),
        polarizability=Quantity(np.asarray(alpha, dtype=np.float32), "nm**3"),
    )
    out.to_npz(OUTPUT)
    mean_iso = float(np.trace(np.asarray(alpha), axis1=1, axis2=2).mean() / 3 / n_molecules)
    print(
        f"{OUTPUT.name}: {out.n_frames} frames every {out.quantity('timestep').to('fs'):~P}, "
        f"mean polarizability per molecule {mean_iso * 1e3:.3f} Å³, "
        f"{OUTPUT.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
