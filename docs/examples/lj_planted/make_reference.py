"""Planted-truth reference data for `fit.py`: g(r) and pressure of Lennard-Jones argon.

System: 108 LJ atoms, σ = 0.3405 nm, ε/k_B = 119.8 K (the truth the fit must recover),
force-shifted cutoff 0.8 nm, mass 39.948 Da, density 1409.5 kg/m³ (ρσ³ = 0.839), T = 110 K
(k_B T/ε = 0.918: a liquid), Langevin NVT (Δt = 5 fs, friction 5/ps), float64.

Start: an fcc lattice **melted** at 400 K for 10 ps, then 20 ps at 110 K (discarded). Then
`PROD_PS` of production, one frame every 0.1 ps. g(r): Gaussian kernel (0.005 nm), 80 bins
to 0.8 nm, the estimator the fit uses; pressure: `observables.Pressure` from the recorded
pressure tensor. Error bars from 20 contiguous blocks.

Two independent references (seeds 1 and 2) are generated; the fit uses seed 1
(`g_ref.csv`, `pressure_ref.csv`) and their difference is reported in
`results/reference_check.json` (max |Δg|/σ_Δ, ΔP/σ_ΔP).

Run from the repository root: `python docs/examples/lj_planted/make_reference.py [PROD_PS]`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from observables import RDF, GaussianKernel, Pressure, Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Stress, Velocities  # noqa: E402
from spectrinv.potentials import ForceShifted, LennardJones, fcc_lattice  # noqa: E402

HERE = Path(__file__).resolve().parent
CELLS = 3  # 4 * 3**3 = 108 atoms
DENSITY = Quantity(1409.5, "kg/m**3")
MASS = Quantity(39.948, "Da")
SIGMA = Quantity(0.3405, "nm")
EPSILON = Quantity(119.8, "K * boltzmann_constant")
CUTOFF = Quantity(0.8, "nm")
TEMPERATURE = Quantity(110.0, "K")
DT = Quantity(5, "fs")
FRICTION = Quantity(5, "1/ps")
MELT_STEPS, EQUIL_STEPS = 2000, 4000  # 10 ps at 400 K, 20 ps at 110 K
STRIDE = 20  # 0.1 ps between frames
BLOCKS = 20
PROD_PS = float(sys.argv[1]) if len(sys.argv) > 1 else 400.0


def rdf_observable() -> RDF:
    return RDF(
        Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")), n_blocks=BLOCKS
    )


def potential(sigma=SIGMA, epsilon=EPSILON) -> LennardJones:
    return LennardJones(sigma, epsilon, CUTOFF, truncation=ForceShifted())


def melted_state(lj, key):
    """`(backend, system, state)`: fcc lattice melted at 400 K, equilibrated at 110 K."""
    positions, system = fcc_lattice(CELLS, DENSITY, MASS)
    hot = JaxMDBackend(Langevin(DT, Quantity(400.0, "K"), FRICTION))
    backend = JaxMDBackend(Langevin(DT, TEMPERATURE, FRICTION))
    k0, k1, k2 = jax.random.split(key, 3)
    state = hot.init(lj, system, positions, temperature=Quantity(400.0, "K"), key=k0)
    _, state = hot.sample(lj, system, state, k1, MELT_STEPS, stride=MELT_STEPS)
    _, state = backend.sample(lj, system, state, k2, EQUIL_STEPS, stride=EQUIL_STEPS)
    return backend, system, state


def reference(seed: int, prod_ps: float = PROD_PS):
    """`(r, g, g_err, p, p_err, final positions)` of one independent reference."""
    lj = potential()
    key = jax.random.key(seed)
    backend, system, state = melted_state(lj, jax.random.fold_in(key, 0))
    n_frames = int(round(prod_ps / 0.1))
    n_frames -= n_frames % BLOCKS
    record = (Positions(), Velocities(), Stress())
    traj, state = backend.sample(
        lj,
        system,
        state,
        jax.random.fold_in(key, 1),
        n_frames * STRIDE,
        stride=STRIDE,
        record=record,
    )
    rdf = rdf_observable()(traj)
    p = Pressure(n_blocks=BLOCKS)(traj)
    r = np.asarray(rdf.bin_centers.m_as("nm"))
    return (
        r,
        np.asarray(rdf.g),
        np.asarray(rdf.g_error),
        float(p.y_magnitude),
        float(p.error_magnitude),
        np.asarray(state.positions),
    )


def write(seed: int, out) -> None:
    r, g, ge, p, pe, _ = out
    head = (
        f"# LJ planted truth: 108 atoms, 110 K, 1409.5 kg/m^3, sigma 0.3405 nm, eps/kB 119.8 K, "
        f"force-shifted cutoff 0.8 nm, melted start, {PROD_PS} ps, seed {seed}; "
        "docs/examples/lj_planted/make_reference.py\n"
    )
    suffix = "" if seed == 1 else f"_seed{seed}"
    with open(HERE / f"g_ref{suffix}.csv", "w") as f:
        f.write(head + "r,g,g_err\n")
        f.writelines(f"{a:.6f},{b:.6f},{c:.6f}\n" for a, b, c in zip(r, g, ge, strict=True))
    with open(HERE / f"pressure_ref{suffix}.csv", "w") as f:
        f.write(head + "T,P,P_err\n")
        f.write(f"110.0,{p:.4f},{pe:.4f}\n")


def main() -> None:
    outs = {}
    for seed in (1, 2):
        t0 = time.perf_counter()
        outs[seed] = reference(seed)
        write(seed, outs[seed])
        r, g, ge, p, pe, _ = outs[seed]
        print(
            f"seed {seed}: {time.perf_counter() - t0:.0f} s, P = {p:.1f} ± {pe:.1f} bar, "
            f"mean g_err {ge.mean():.4f}",
            flush=True,
        )
    (_, g1, e1, p1, q1, _), (_, g2, e2, p2, q2, _) = outs[1], outs[2]
    mask = (e1 > 0) & (e2 > 0)
    z_g = np.abs(g1 - g2)[mask] / np.hypot(e1, e2)[mask]
    check = {
        "prod_ps": PROD_PS,
        "max_abs_dg_over_sigma": float(z_g.max()),
        "rms_dg_over_sigma": float(np.sqrt(np.mean(z_g**2))),
        "max_abs_dg": float(np.abs(g1 - g2).max()),
        "dP_bar": p1 - p2,
        "dP_over_sigma": (p1 - p2) / float(np.hypot(q1, q2)),
        "P_bar": [p1, p2],
        "P_err_bar": [q1, q2],
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "reference_check.json").write_text(json.dumps(check, indent=1) + "\n")
    print(json.dumps(check, indent=1))


if __name__ == "__main__":
    main()
