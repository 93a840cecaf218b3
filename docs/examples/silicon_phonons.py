"""Phonons of Stillinger–Weber and EDIP silicon against neutron scattering at Γ, X and L.

    python docs/examples/silicon_phonons.py [--out silicon_phonons.json]
        [--figure docs/images/silicon_phonon_bands.png]

What it does (numbers and discussion: docs/silicon-phonons.md):

1. Builds the 2-atom primitive cell of diamond silicon at a₀ = 5.431 Å and the harmonic
   force constants of SW and EDIP on a 3×3×3 supercell (54 atoms) with
   `spectrinv.mechanics.force_constants` (autodiff Hessian, no finite displacements).
2. Checks convergence in the supercell: frequencies at Γ, X, L and on the band path from the
   3×3×3 and 4×4×4 (128 atoms) supercells (X and L are commensurate only with the even one).
3. Compares the frequencies at Γ, X, L with the bundled `solids/silicon_phonons_nilsson1972`
   (branches assigned by their order at each point: TA < LA ≤ LO < TO, degenerate branches
   averaged) and prints the relative deviations.
4. Plots the band structure along the seekpath path and the phonon DOS (16³ mesh, σ = 0.1
   THz) with the experimental points.

Runs in about half a minute on a 2-core CPU (float64; mostly XLA compilation).
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.datasets import load_dataset  # noqa: E402
from spectrinv.mechanics import (  # noqa: E402
    CM1_PER_THZ,
    band_path,
    force_constants,
    phonon_bands,
    phonon_dos,
    phonon_frequencies,
)
from spectrinv.potentials import EDIP, StillingerWeber, System  # noqa: E402

A0 = 0.5431  # nm
POINTS = {"Gamma": [0.0, 0.0, 0.0], "X": [0.5, 0.0, 0.5], "L": [0.5, 0.5, 0.5]}
#: sorted-branch indices averaged for each experimental label (6 branches per point)
BRANCHES = {
    "Gamma_LTO": ("Gamma", [3, 4, 5]),
    "X_TA": ("X", [0, 1]),
    "X_LA": ("X", [2, 3]),
    "X_TO": ("X", [4, 5]),
    "L_TA": ("L", [0, 1]),
    "L_LA": ("L", [2]),
    "L_LO": ("L", [3]),
    "L_TO": ("L", [4, 5]),
}


def primitive_cell():
    cell = 0.5 * A0 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    pos = np.array([[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]) @ cell
    system = System(
        box=jnp.asarray(cell),
        species=jnp.zeros(2, dtype=jnp.int32),
        masses=jnp.full(2, 28.0855),
        species_names=("Si",),
    )
    return Quantity(pos, "nm"), system


def at_points(fc):
    q = np.array(list(POINTS.values()))
    nu = phonon_frequencies(fc, q).m_as("THz")
    by_point = dict(zip(POINTS, nu, strict=True))
    return {k: float(np.mean(by_point[p][idx])) for k, (p, idx) in BRANCHES.items()}


def plot(path, bands, dos_grid, dos, experiment, figure):
    x = path.distance.m_as("1/nm")
    fig, (ax, ax_dos) = plt.subplots(
        1, 2, figsize=(9, 4.5), sharey=True, gridspec_kw={"width_ratios": [3, 1]}
    )
    styles = {"SW": ("C0", "-"), "EDIP": ("C1", "--")}
    for name, nu in bands.items():
        color, ls = styles[name]
        ax.plot(x, nu, color=color, ls=ls, lw=1.2)
        ax.plot([], [], color=color, ls=ls, label=f"{name} (harmonic, 0 K)")
        ax_dos.plot(dos[name], dos_grid, color=color, ls=ls, lw=1.2)
    ticks, names = [], []
    for i, name in path.labels:
        if ticks and abs(x[i] - ticks[-1]) < 1e-9:
            names[-1] = f"{names[-1]}|{name}"
            continue
        ticks.append(x[i])
        names.append(name)
    for label, value in experiment.items():
        point = {"Gamma": "Γ"}.get(label.split("_")[0], label.split("_")[0])
        xs = [x[i] for i, name in path.labels if name == point]
        ax.plot(xs, [value] * len(xs), "ko", ms=4, ls="none")
    ax.plot([], [], "ko", ms=4, ls="none", label="neutron scattering (Nilsson & Nelin 1972)")
    ax.set_xticks(ticks, names)
    for t in ticks:
        ax.axvline(t, color="0.8", lw=0.6)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 21.5)
    ax.set_ylabel("frequency (THz)")
    ax.legend(loc="upper center", ncol=3, fontsize=7, frameon=False)
    ax_dos.set_xlabel("DOS (1/THz per cell)")
    ax_dos.set_xlim(0, None)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="silicon_phonons.json")
    ap.add_argument("--figure", default="docs/images/silicon_phonon_bands.png")
    args = ap.parse_args()
    start = time.perf_counter()
    pos, system = primitive_cell()
    data = load_dataset("solids/silicon_phonons_nilsson1972")
    experiment = {k: float(data.value(k)[0].m_as("THz")) for k in data.labels}
    path = band_path(pos, system)
    grid = np.linspace(0.0, 20.0, 801)
    results, bands, dos = {}, {}, {}
    for name, model in (("SW", StillingerWeber()), ("EDIP", EDIP())):
        fc = force_constants(model, pos, system, (3, 3, 3))
        fc4 = force_constants(model, pos, system, (4, 4, 4))
        nu = at_points(fc)
        nu4 = at_points(fc4)
        path3 = phonon_bands(fc, path).m_as("THz")
        path4 = phonon_bands(fc4, path).m_as("THz")
        bands[name] = path3
        dos[name] = phonon_dos(fc, Quantity(grid, "THz")).m_as("1/THz")
        results[name] = {
            "THz": nu,
            "cm-1": {k: v * CM1_PER_THZ for k, v in nu.items()},
            "relative_deviation": {k: nu[k] / experiment[k] - 1.0 for k in nu},
            "max_change_3x3x3_to_4x4x4_points_THz": max(abs(nu[k] - nu4[k]) for k in nu),
            "max_change_3x3x3_to_4x4x4_path_THz": float(np.abs(path3 - path4).max()),
        }
    plot(path, bands, grid, dos, experiment, args.figure)
    out = {"experiment_THz": experiment, "models": results}
    out["seconds"] = time.perf_counter() - start
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{'':10s} {'expt':>7s}" + "".join(f" {m:>7s} {'dev':>7s}" for m in results))
    for k, v in experiment.items():
        row = f"{k:10s} {v:7.2f}"
        for m in results:
            row += (
                f" {results[m]['THz'][k]:7.2f} {100 * results[m]['relative_deviation'][k]:+6.1f}%"
            )
        print(row)
    for m in results:
        print(
            f"{m}: 3x3x3 vs 4x4x4 supercell, max change "
            f"{results[m]['max_change_3x3x3_to_4x4x4_points_THz']:.2e} THz at Γ/X/L, "
            f"{results[m]['max_change_3x3x3_to_4x4x4_path_THz']:.2e} THz on the path"
        )
    print(f"{out['seconds']:.1f} s; figure {args.figure}; numbers {args.out}")


if __name__ == "__main__":
    main()
