"""Vibrational DOS of Stillinger–Weber silicon at 300 K from MD against the harmonic prediction.

    python docs/examples/silicon_vdos.py [--out silicon_vdos.json]
        [--figure docs/images/silicon_vdos.png]

What it does (numbers and discussion: docs/silicon-phonons.md):

1. MD: the 64-atom cubic cell (2×2×2 conventional cells) at a₀ = 5.431 Å, Langevin at 300 K
   (1 fs, friction 5/ps) for 4 ps, then velocity Verlet (NVE) for 16 ps recording
   velocities every 2 fs; the VDOS (`observables.VDOS`, normalised to 3N modes) of the NVE
   part with a Hann window over a 2 ps correlation lag.
2. Harmonic prediction for the same cell: the MD cell only holds the wavevectors
   commensurate with it (32 of the fcc zone), so the harmonic frequencies are evaluated
   exactly there (`spectrinv.mechanics`, force constants of the primitive cell on a 3×3×3
   supercell) and each of the 192 modes is broadened with the Hann window's line shape
   (same resolution as the MD spectrum).
3. Reports the highest peak (the optical band) and the mean frequency of both, and plots them
   with the converged harmonic DOS (16³ mesh).

Runs in a few minutes on a 2-core CPU (float64).
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

import observables as ob  # noqa: E402
from observables import Quantity  # noqa: E402
from spectrinv.backends import (  # noqa: E402
    JaxMDBackend,
    Langevin,
    Positions,
    Velocities,
    VelocityVerlet,
)
from spectrinv.mechanics import force_constants, phonon_dos, phonon_frequencies  # noqa: E402
from spectrinv.potentials import StillingerWeber, System, diamond_lattice  # noqa: E402

A0 = 0.5431  # nm
CELLS = 2
LAG_PS = 2.0


def commensurate_q(cells: int) -> np.ndarray:
    """Reduced (primitive-cell) wavevectors commensurate with `cells`³ cubic cells."""
    prim = 0.5 * A0 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    m = np.array(list(np.ndindex(2 * cells, 2 * cells, 2 * cells)), dtype=float)
    q = (m / (cells * A0)) @ prim.T  # q_i = a_i · k, k = m / (cells a0) (2π omitted on both)
    q = np.mod(np.round(q, 12), 1.0)
    return np.unique(np.round(q, 10), axis=0)


def hann_line(nu, centre, lag_ps):
    """Line shape (THz⁻¹, unit area) of a mode at `centre` (THz) seen through a Hann window
    of half-length T = `lag_ps` on the correlation function, the window's Fourier transform
    T[sinc(2fT) + sinc(2fT − 1)/2 + sinc(2fT + 1)/2], f = ν − centre (numpy's sinc)."""
    x = 2.0 * (nu - centre) * lag_ps
    return lag_ps * (np.sinc(x) + 0.5 * np.sinc(x - 1.0) + 0.5 * np.sinc(x + 1.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="silicon_vdos.json")
    ap.add_argument("--figure", default="docs/images/silicon_vdos.png")
    args = ap.parse_args()
    start = time.perf_counter()
    sw = StillingerWeber()
    pos, system = diamond_lattice(CELLS)
    key1, key2, key3 = jax.random.split(jax.random.PRNGKey(2026), 3)
    hot = JaxMDBackend(Langevin(Quantity(1, "fs"), Quantity(300, "K"), Quantity(5, "1/ps")))
    nve = JaxMDBackend(VelocityVerlet(Quantity(1, "fs")))
    state = hot.init(
        sw, system, Quantity(np.asarray(pos), "nm"), temperature=Quantity(300, "K"), key=key1
    )
    _, state = hot.sample(sw, system, state, key2, 4000, stride=1000)
    traj, state = nve.sample(
        sw, system, state, key3, 16000, stride=2, record=(Positions(), Velocities())
    )
    md_seconds = time.perf_counter() - start
    kinetic = 0.5 * np.mean(
        np.sum(np.asarray(system.masses)[None, :, None] * np.asarray(traj.velocities) ** 2, (1, 2))
    )
    temperature = 2 * kinetic / ((3 * system.n_atoms - 3) * 0.0083144626)
    vdos = ob.VDOS(max_lag=Quantity(LAG_PS, "ps"), x_unit="THz", n_blocks=4)(traj)
    nu = np.asarray(vdos.x_magnitude)
    g_md = np.asarray(vdos.y_magnitude) / system.n_atoms  # modes per THz per atom
    # harmonic modes of the same 64-atom cell
    cell = 0.5 * A0 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    prim = System(
        box=jnp.asarray(cell), species=jnp.zeros(2, dtype=jnp.int32), masses=jnp.full(2, 28.0855)
    )
    ppos = np.array([[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]) @ cell
    fc = force_constants(sw, ppos, prim, (3, 3, 3))
    qs = commensurate_q(CELLS)
    modes = phonon_frequencies(fc, qs).m_as("THz").ravel()
    g_harm = hann_line(nu[None, :], modes[:, None], LAG_PS).sum(0) / system.n_atoms
    dense = phonon_dos(fc, Quantity(nu, "THz"), width=Quantity(0.2, "THz")).m_as("1/THz") / 2
    band = nu > 12.0
    peak_md, peak_h = nu[band][np.argmax(g_md[band])], nu[band][np.argmax(g_harm[band])]
    mean_md = np.trapezoid(nu * g_md, nu) / np.trapezoid(g_md, nu)
    mean_h = np.trapezoid(nu * g_harm, nu) / np.trapezoid(g_harm, nu)
    out = {
        "n_q": len(qs),
        "temperature_K": float(temperature),
        "optical_peak_THz": {"md_300K": float(peak_md), "harmonic": float(peak_h)},
        "mean_frequency_THz": {"md_300K": float(mean_md), "harmonic": float(mean_h)},
        "integral_md_per_atom": float(np.trapezoid(g_md, nu)),
        "md_seconds": md_seconds,
        "seconds": time.perf_counter() - start,
    }
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(nu, g_md, label=f"MD, NVE at {temperature:.0f} K (64 atoms)")
    ax.plot(nu, g_harm, "--", label="harmonic, same 64-atom cell, same resolution")
    ax.plot(nu, dense, ":", color="0.4", label="harmonic, 16³ q-mesh, σ = 0.2 THz")
    ax.set_xlim(0, 20)
    ax.set_ylim(0, None)
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("VDOS (modes per THz per atom)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.figure, dpi=120)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
