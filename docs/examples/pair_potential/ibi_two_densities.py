"""Iterative Boltzmann inversion (the structure-based baseline) on the data of `learn_pair.py`.

Same references (g(r) and pressure at ρσ³ = 0.72 and 0.84, 120 K, 108 atoms), same spline
grid (26 knots, 0.28-0.8 nm). Start: the potential of mean force of the high-density
reference, −k_BT ln g(r) on the knots (the usual IBI start), with a steep wall
u_edge + 10 k_BT ((r_edge/r)¹² − 1) where that g(r) < 0.01. `ITERATIONS` updates with
mixing α = 0.7, averaged over the two densities, plus the linear pressure ramp
(`PressureRamp(0.1, 300 bar)`) from the sampled and target pressures. Each iteration and
state point: 5 ps of equilibration from the last configuration (20 ps in the first, which
melts the fcc lattice), then 100 frames × 0.1 ps.

Outputs in `results/`: `ibi_history.jsonl` (one row per iteration as it finishes, with the
knot values after its update), `ibi_knots.csv` (the knot values, start and after every
iteration), `ibi_summary.json`.

Run from the repository root:
`python docs/examples/pair_potential/ibi_two_densities.py [ITERATIONS]`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin  # noqa: E402
from spectrinv.fit import IBIStatePoint, PressureRamp, iterative_boltzmann_inversion  # noqa: E402
from spectrinv.potentials import TabulatedPair, fcc_lattice  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 6
MIXING = 0.7
FRAMES = 100
KT = float(Quantity(120.0, "K * molar_gas_constant").m_as("kJ/mol"))


def pmf_start(g: np.ndarray, r: np.ndarray) -> TabulatedPair:
    k = common.knots()
    gk = np.interp(k, r, g)
    edge = int(np.argmax(gk > 0.01))
    u = -KT * np.log(np.maximum(gk, 1e-3))
    u[:edge] = u[edge] + 10 * KT * ((k[edge] / k[:edge]) ** 12 - 1)
    return TabulatedPair(
        Quantity(u, "kJ/mol"), Quantity(common.R_MIN, "nm"), Quantity(common.CUTOFF, "nm")
    )


def log(row: dict) -> None:
    """Print one line and append the row (with the knot values) to `results/ibi_history.jsonl`."""
    parts = ", ".join(
        f"{k}: rms Δg {row['rms_dg'][k]:.4f}, P {row['pressure_bar'][k]:.0f} bar"
        for k in row["rms_dg"]
    )
    print(f"IBI {row['iteration']}: {parts}; {row['wall_time_s']:.0f} s", flush=True)
    with open(common.HERE / "results" / "ibi_history.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def main() -> None:
    out = common.HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "ibi_history.jsonl").write_text("")
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), common.TEMPERATURE, Quantity(5, "1/ps")))
    states = []
    for state, rho in common.STATES.items():
        positions, system = fcc_lattice(3, common.mass_density(rho), common.MASS)
        g, p = common.g_data(state), common.p_data(state)
        rdf = common.rdf()
        states.append(
            IBIStatePoint(
                state,
                Quantity(np.asarray(g.x), "nm"),
                np.asarray(g.y),
                rdf,
                system,
                positions,
                backend,
                common.TEMPERATURE,
                Quantity(float(np.asarray(p.y)[0]), "bar"),
            )
        )
    high = states[1]
    start = pmf_start(np.asarray(high.g), np.asarray(high.r.m_as("nm")))
    t0 = time.perf_counter()
    res = iterative_boltzmann_inversion(
        start,
        states,
        iterations=ITERATIONS,
        equilibration_steps=1000,
        first_equilibration_steps=4000,  # the fcc lattice melts in the first 20 ps
        n_frames=FRAMES,
        stride=20,
        mixing=MIXING,
        pressure_correction=PressureRamp(0.1, Quantity(300.0, "bar")),
        seed=0,
        progress=log,
    )
    history = res.history
    wall = time.perf_counter() - t0
    table = np.asarray(res.values.m_as("kJ/mol"))
    k = common.knots()
    np.savetxt(
        out / "ibi_knots.csv",
        np.column_stack([k, table.T]),
        delimiter=",",
        header="r_nm," + ",".join(f"u_iter{i}_kJ_mol" for i in range(len(table))),
        comments="",
    )
    depth, r_min = common.well(res.potential)
    summary = {
        "iterations": ITERATIONS,
        "wall_time_s": wall,
        "well_depth_kJ_mol": depth,
        "well_position_nm": r_min,
        "rms_dg_first": history[0]["rms_dg"],
        "rms_dg_last": history[-1]["rms_dg"],
        "pressure_last_bar": history[-1]["pressure_bar"],
    }
    (out / "ibi_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
