"""`ParticleMeshEwald` vs `Ewald`: energy and forces of SPC/Fw-charged water boxes.

For each size (`water_box(n)`: n randomly oriented molecules on a cubic lattice at
0.997 g/cm³, q_O = −0.82 e, intramolecular pairs excluded), both methods are built with
`from_accuracy(cutoff, box, accuracy)` — the same α = sqrt(−ln ε)/r_c, so the same
real-space, self, exclusion and background terms, computed from the same neighbour list;
`Ewald` sums (2·kmax + 1)³/2 k-vectors, `ParticleMeshEwald` spreads the charges on its
grid with order-6 B-splines. What is timed is one jitted `jax.value_and_grad` of the
electrostatic energy with respect to the positions (energy and forces: one MD step's
electrostatics), float64, compilation excluded, the two timed in turns (best of
`--repeats`). Before timing, the script checks that the two agree (energy and largest
force error relative to the largest force, printed).

The ratio is Ewald time ÷ PME time (above 1: PME faster). The 1-minute load average is
printed (the machine may be shared).

Usage: `python -m benchmarks.performance.pme --molecules 216 512 1000 --json out.json`.
"""

from __future__ import annotations

import argparse
import json

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import frame_neighbors  # noqa: E402
from spectrinv.potentials import Ewald, ParticleMeshEwald, water_box  # noqa: E402

from .._harness import alternate, load, machine, ratio_table  # noqa: E402


def one_size(n_molecules: int, cutoff: float, accuracy: float, repeats: int) -> dict:
    pos, system = water_box(n_molecules, key=jax.random.PRNGKey(0))
    box = np.asarray(system.box)
    rc = min(cutoff, 0.49 * float(box.min()))
    ewald = Ewald.from_accuracy(Quantity(rc, "nm"), Quantity(box, "nm"), accuracy)
    pme = ParticleMeshEwald.from_accuracy(Quantity(rc, "nm"), Quantity(box, "nm"), accuracy)
    assert abs(ewald.alpha - pme.alpha) < 1e-12 * pme.alpha
    nbrs = jax.tree.map(lambda x: x[0], frame_neighbors(pme, system, pos[None]))

    def make(pot):
        f = jax.jit(jax.value_and_grad(lambda r, nb: pot.energy(r, system, nb)))
        return lambda: f(pos, nbrs)

    fns = {"Ewald": make(ewald), "PME": make(pme)}
    (e_ew, g_ew), (e_pme, g_pme) = fns["Ewald"](), fns["PME"]()
    d_energy = abs(float(e_pme) - float(e_ew)) / abs(float(e_ew))
    d_force = float(jnp.max(jnp.abs(g_pme - g_ew)) / jnp.max(jnp.abs(g_ew)))
    seconds = alternate(fns, repeats)
    kx, ky, kz = ewald.kmax
    row = {
        "molecules": n_molecules,
        "atoms": 3 * n_molecules,
        "box_nm": float(box[0]),
        "cutoff_nm": rc,
        "alpha_per_nm": pme.alpha,
        "ewald_kmax": [kx, ky, kz],
        "ewald_k_vectors": ((2 * kx + 1) * (2 * ky + 1) * (2 * kz + 1) - 1) // 2,
        "pme_grid": list(pme.grid),
        "pme_order": pme.order,
        "energy_kj_mol": float(e_ew),
        "relative_energy_difference": d_energy,
        "relative_force_difference": d_force,
        "ewald_s": seconds["Ewald"],
        "pme_s": seconds["PME"],
        "ewald_over_pme": seconds["Ewald"] / seconds["PME"],
    }
    print(
        f"{n_molecules} molecules ({3 * n_molecules} atoms, box {box[0]:.3f} nm, r_c {rc:.3f} "
        f"nm, α {pme.alpha:.3f}/nm): Ewald kmax {ewald.kmax} ({row['ewald_k_vectors']} "
        f"k-vectors), PME grid {pme.grid} order {pme.order}; |ΔE|/|E| {d_energy:.1e}, "
        f"max|ΔF|/max|F| {d_force:.1e}",
        flush=True,
    )
    print(ratio_table(seconds, "PME"), flush=True)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, nargs="+", default=[216, 512, 1000])
    ap.add_argument("--cutoff", type=float, default=0.9, help="real-space cutoff, nm")
    ap.add_argument("--accuracy", type=float, default=1e-5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    print(f"load (1 min) at start: {load():.2f}; {machine()}", flush=True)
    rows = [one_size(n, args.cutoff, args.accuracy, args.repeats) for n in args.molecules]
    print(f"load (1 min) at end: {load():.2f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": machine(), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
