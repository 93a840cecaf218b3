"""Planted-truth references for `fit_two_densities.py` and `ibi_two_densities.py`.

Truth: Lennard-Jones argon, σ = 0.3405 nm, ε/k_B = 120 K, force-shifted at 0.8 nm, mass
39.948 Da; 108 atoms, Langevin NVT (Δt = 5 fs, friction 5/ps), float64, T = 120 K
(k_B T/ε = 1.0) at two densities: ρσ³ = 0.72 ("low") and 0.84 ("high").

Each reference: an fcc lattice melted for 10 ps at 400 K, 20 ps at 120 K discarded, then
`PROD_PS` of production, a frame every 0.1 ps. g(r): Gaussian kernel 0.005 nm, 80 bins to
0.8 nm (the estimator the fit uses); pressure: `observables.Pressure`. Error bars from 20
contiguous blocks. Two independent references per density (seeds 1 and 2): the fit and IBI
use seed 1 (`ref_<state>.csv`, `ref_<state>_pressure.csv`); their difference is written to
`results/reference_check.json`.

Run from the repository root: `python docs/examples/pair_potential/make_reference.py [PROD_PS]`.
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
MASS = Quantity(39.948, "Da")
SIGMA = Quantity(0.3405, "nm")
EPSILON = Quantity(120.0, "K * boltzmann_constant")
CUTOFF = Quantity(0.8, "nm")
TEMPERATURE = Quantity(120.0, "K")
#: reduced densities ρσ³ of the two state points
STATES = {"low": 0.72, "high": 0.84}
DT = Quantity(5, "fs")
FRICTION = Quantity(5, "1/ps")
MELT_STEPS, EQUIL_STEPS = 2000, 4000  # 10 ps at 400 K, 20 ps at 120 K
STRIDE = 20  # 0.1 ps between frames
BLOCKS = 20
PROD_PS = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0


def mass_density(rho_star: float) -> Quantity:
    """ρσ³ → mass density (kg/m³)."""
    return (rho_star * MASS / SIGMA**3).to("kg/m**3")


def rdf_observable(blocks: int | None = BLOCKS) -> RDF:
    return RDF(
        Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")), n_blocks=blocks
    )


def truth() -> LennardJones:
    return LennardJones(SIGMA, EPSILON, CUTOFF, truncation=ForceShifted())


def melted(potential, rho_star: float, key):
    """`(backend, system, state)`: an fcc lattice at ρσ³ melted at 400 K, 20 ps at 120 K."""
    positions, system = fcc_lattice(CELLS, mass_density(rho_star), MASS)
    hot = JaxMDBackend(Langevin(DT, Quantity(400.0, "K"), FRICTION))
    backend = JaxMDBackend(Langevin(DT, TEMPERATURE, FRICTION))
    k0, k1, k2 = jax.random.split(key, 3)
    state = hot.init(potential, system, positions, temperature=Quantity(400.0, "K"), key=k0)
    _, state = hot.sample(potential, system, state, k1, MELT_STEPS, stride=MELT_STEPS)
    _, state = backend.sample(potential, system, state, k2, EQUIL_STEPS, stride=EQUIL_STEPS)
    return backend, system, state


def reference(rho_star: float, seed: int):
    """`(r, g, g_err, P, P_err)` (nm, -, -, bar, bar) of one independent reference."""
    lj = truth()
    key = jax.random.key(seed)
    backend, system, state = melted(lj, rho_star, jax.random.fold_in(key, 0))
    n_frames = int(round(PROD_PS / 0.1))
    n_frames -= n_frames % BLOCKS
    traj, _ = backend.sample(
        lj,
        system,
        state,
        jax.random.fold_in(key, 1),
        n_frames * STRIDE,
        stride=STRIDE,
        record=(Positions(), Velocities(), Stress()),
    )
    rdf = rdf_observable()(traj)
    p = Pressure(n_blocks=BLOCKS)(traj)
    return (
        np.asarray(rdf.bin_centers.m_as("nm")),
        np.asarray(rdf.g),
        np.asarray(rdf.g_error),
        float(p.y_magnitude),
        float(p.error_magnitude),
    )


def write(state: str, rho_star: float, seed: int, out) -> None:
    r, g, ge, p, pe = out
    head = (
        f"# LJ planted truth: 108 atoms, 120 K, rho*sigma^3 {rho_star}, sigma 0.3405 nm, "
        f"eps/kB 120 K, force-shifted cutoff 0.8 nm, melted start, {PROD_PS} ps, seed {seed}; "
        "docs/examples/pair_potential/make_reference.py\n"
    )
    suffix = "" if seed == 1 else f"_seed{seed}"
    with open(HERE / f"ref_{state}{suffix}.csv", "w") as f:
        f.write(head + "r,g,g_err\n")
        f.writelines(f"{a:.6f},{b:.6f},{c:.6f}\n" for a, b, c in zip(r, g, ge, strict=True))
    with open(HERE / f"ref_{state}_pressure{suffix}.csv", "w") as f:
        f.write(head + "T,P,P_err\n")
        f.write(f"120.0,{p:.4f},{pe:.4f}\n")


def main() -> None:
    check = {"prod_ps": PROD_PS}
    for state, rho in STATES.items():
        outs = {}
        for seed in (1, 2):
            t0 = time.perf_counter()
            outs[seed] = reference(rho, seed)
            write(state, rho, seed, outs[seed])
            print(
                f"{state} (rho* {rho}) seed {seed}: {time.perf_counter() - t0:.0f} s, "
                f"P = {outs[seed][3]:.1f} ± {outs[seed][4]:.1f} bar",
                flush=True,
            )
        (_, g1, e1, p1, q1), (_, g2, e2, p2, q2) = outs[1], outs[2]
        mask = (e1 > 0) & (e2 > 0)
        z = np.abs(g1 - g2)[mask] / np.hypot(e1, e2)[mask]
        check[state] = {
            "rho_star": rho,
            "max_abs_dg_over_sigma": float(z.max()),
            "rms_dg_over_sigma": float(np.sqrt(np.mean(z**2))),
            "max_abs_dg": float(np.abs(g1 - g2).max()),
            "mean_g_err": float(e1[mask].mean()),
            "P_bar": [p1, p2],
            "P_err_bar": [q1, q2],
            "dP_over_sigma": (p1 - p2) / float(np.hypot(q1, q2)),
        }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "reference_check.json").write_text(json.dumps(check, indent=1) + "\n")
    print(json.dumps(check, indent=1))


if __name__ == "__main__":
    main()
