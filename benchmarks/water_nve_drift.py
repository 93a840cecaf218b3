"""float64 NVE energy conservation of flexible water (SPC/Fw) on `JaxMDBackend`.

Protocol: `n` SPC/Fw molecules (`water_box`, 0.997 g/cm³) with damped-shifted-force
electrostatics (α = 2 nm⁻¹, R_c = `--cutoff`, default 0.6 nm) and the O–O Lennard-Jones
force-shifted at the same cutoff (energy *and* force continuous, as energy conservation
needs), float64; 2 ps Langevin (BAOAB, 298.15 K, γ = 5 ps⁻¹, Δt = 0.5 fs) from the lattice,
then `--ps` of velocity-Verlet NVE at `--dt` fs, total energy (all-pairs potential + kinetic)
on frames every 10 fs. Drift: the estimator of `tests/test_backend.py::_drift_per_ns`
(difference of the mean energies of the first and last quarter of 20 blocks per time
between them, relative to |⟨E⟩|, with a standard error from the block scatter).

Usage: `python benchmarks/water_nve_drift.py --molecules 64 --ps 400`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _setup  # noqa: F401  (import path: see benchmarks/_setup.py)
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Velocities, VelocityVerlet
from spectrinv.potentials import DampedShiftedForce, ForceShifted, spc_fw, water_box

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_backend import _drift_per_ns  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--molecules", type=int, default=64)
    parser.add_argument("--ps", type=float, default=400.0, help="NVE length (ps)")
    parser.add_argument("--dt", type=float, default=0.5, help="NVE time step (fs)")
    parser.add_argument("--cutoff", type=float, default=0.6, help="R_c (nm)")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    rc = Quantity(args.cutoff, "nm")
    model = spc_fw(
        DampedShiftedForce(Quantity(2.0, "1/nm"), rc), lj_cutoff=rc, lj_truncation=ForceShifted()
    )
    pos, system = water_box(args.molecules, key=jax.random.PRNGKey(1), model=model)
    langevin = JaxMDBackend(
        Langevin(Quantity(0.5, "fs"), Quantity(298.15, "K"), Quantity(5, "1/ps"))
    )
    state = langevin.init(
        model,
        system,
        Quantity(np.asarray(pos), "nm"),
        temperature=Quantity(298.15, "K"),
        key=jax.random.key(0),
    )
    _, state = langevin.sample(
        model, system, state, jax.random.key(1), 4000, stride=1000, record=(Positions(),)
    )
    nve = JaxMDBackend(VelocityVerlet(Quantity(args.dt, "fs")), chunk_steps=10000)
    state = nve.init(
        model,
        system,
        Quantity(np.asarray(state.positions), "nm"),
        velocities=Quantity(np.asarray(state.velocities), "nm/ps"),
    )
    n_steps = int(round(args.ps * 1000 / args.dt))
    stride = int(round(10 / args.dt))
    t0 = time.perf_counter()
    traj, _ = nve.sample(
        model,
        system,
        state,
        jax.random.key(2),
        n_steps,
        stride=stride,
        record=(Positions(), Velocities()),
    )
    elapsed = time.perf_counter() - t0

    @eqx.filter_jit
    def total(traj):  # all-pairs energies, 100 frames at a time (memory)
        u = jax.lax.map(lambda p: model.energy(p, system, None), traj.positions, batch_size=100)
        k = 0.5 * jnp.sum(system.masses[:, None] * traj.velocities**2, axis=(1, 2))
        return u + k, k

    energy, kinetic = (np.asarray(x) for x in total(traj))
    temperature = kinetic.mean() * 2 / (3 * system.n_atoms - 3) / 0.0083144626
    drift, stderr = _drift_per_ns(energy, float(traj.timestep))
    print(
        f"SPC/Fw + DSF, {args.molecules} molecules, R_c {args.cutoff} nm, float64, "
        f"dt {args.dt} fs: {args.ps} ps NVE ({n_steps} steps) in {elapsed:.0f} s; "
        f"<T> = {temperature:.1f} K; <E> = {energy.mean():.3f} kJ/mol; relative std of E "
        f"{energy.std() / abs(energy.mean()):.2e}; relative drift {drift:.2e} ± {stderr:.1e} per ns"
    )


if __name__ == "__main__":
    main()
