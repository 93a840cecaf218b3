"""Earlier attempt at 1b: a tabulated pair potential from the RDFs at two temperatures and one
density (no prior, no pressure); kept so that its reported numbers can be reproduced.

Targets: the g(r) of Lennard-Jones argon (σ = 3.405 Å, ε/k_B = 119.8 K, force-shifted at
0.8 nm; 108 atoms, 1409.5 kg/m³) at 90 K and at 120 K, made by
`../lj_rdf/make_reference.py` (`g_ref.csv`, `g_ref_120K.csv`). Both state points are fitted
at once: two `Target`s in one `fit`, loss = MSE(90 K) + MSE(120 K).

Model: a cubic-spline `TabulatedPair` (knots every 0.02 nm from 0.28 nm to the 0.8 nm
cutoff) written as u(r) = u₀(r) + δu(r): the fixed starting guess u₀ is purely repulsive and
soft, u₀ = ε (σ/r)¹² (no attraction, a quarter of the LJ repulsion), and the trainable
parameters are the knot corrections δu (kJ/mol, starting at 0). `fit` scales each parameter by
its starting magnitude, and a zero start gets scale 1 kJ/mol, so every knot moves by about
`learning_rate` kJ/mol per Adam step. Gradients by `Reweighting` (DiffTRe).

Writes into OUT (default `pair-potential-out`): the fit's history/plots/checkpoint and
`pair_potential.png` (learned vs true u(r), and g(r) before/after vs the references),
`pair_potential.csv` (r, u_true, u_start, u_learned in kJ/mol).

Run from the repository root:
`python docs/examples/pair_potential/learn_pair_one_density.py [OUT] [STEPS]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import dataclasses  # noqa: E402

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import RDF, GaussianKernel, Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Positions  # noqa: E402
from spectrinv.datasets import Dataset  # noqa: E402
from spectrinv.fit import Target, default_optimizer, fit  # noqa: E402
from spectrinv.gradients import (  # noqa: E402
    AbstractGradient,
    Objective,
    Reweighting,
)
from spectrinv.losses import MeanSquaredError, Reference  # noqa: E402
from spectrinv.potentials import (  # noqa: E402
    AbstractPairPotential,
    ForceShifted,
    LennardJones,
    TabulatedPair,
    fcc_lattice,
)

HERE = Path(__file__).resolve().parent
REFS = HERE.parent / "lj_rdf"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pair-potential-out")
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 15
R_MIN, CUTOFF, N_KNOTS = 0.28, 0.8, 26  # nm; knots every 0.02 nm
LEARNING_RATE = 0.08  # Adam: each knot moves ~0.08 kJ/mol per step
SIGMA, EPS = 0.3405, 119.8 * 0.00831446261815324  # nm, kJ/mol


class CorrectedTable(AbstractPairPotential):
    """u(r) = spline through knots (u₀ + δu): `table` holds the fixed guess u₀ (frozen by
    `trainable=["delta"]`), `delta` [n_knots] the trainable corrections (kJ/mol)."""

    table: TabulatedPair
    delta: jax.Array

    def __init__(self, table: TabulatedPair, delta):
        self.table = table
        self.delta = jnp.asarray(delta)
        self.r_cut = table.r_cut
        self.truncation = table.truncation

    def learned(self) -> TabulatedPair:
        return eqx.tree_at(lambda t: t.values, self.table, self.table.values + self.delta)

    def _phi(self, r, si, sj, dtype):
        return self.learned()._phi(r, si, sj, dtype)


class PicklableReweighting(AbstractGradient):
    """`Reweighting` whose cache keeps only the neighbour lists' arrays (`fit` checkpoints
    `ReweightingCache.portable()`, without lists, in any case)."""

    inner: Reweighting

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        res = self.inner(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=key,
            cache=cache,
        )
        c = res.cache
        if c is not None and c.neighbors is not None:
            nb = dataclasses.replace(c.neighbors, update_fn=None, cell_list_fn=None)
            res = dataclasses.replace(res, cache=eqx.tree_at(lambda x: x.neighbors, c, nb))
        return res


def target(temperature_k: float, csv: str, positions, system) -> Target:
    data = Dataset.from_csv(
        REFS / csv,
        x="r",
        y="g",
        uncertainty="g_err",
        x_unit="nm",
        y_unit="dimensionless",
        quantity="rdf",
        name=f"lj_argon_{temperature_k:.0f}K",
    )
    rdf = RDF(Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")))
    temperature = Quantity(temperature_k, "K")
    return Target(
        f"rdf_{temperature_k:.0f}K",
        Objective(rdf, MeanSquaredError(Reference(data, rdf)), (Positions(),)),
        system,
        positions,
        JaxMDBackend(Langevin(Quantity(5, "fs"), temperature, Quantity(5, "1/ps"))),
        PicklableReweighting(Reweighting(n_frames=50, stride=20)),
        temperature,
        equilibration_steps=1000,
        dataset=data,
    )


def main() -> None:
    positions, system = fcc_lattice(3, Quantity(1409.5, "kg/m**3"), Quantity(39.948, "Da"))
    system = jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, system
    )
    knots = R_MIN + (CUTOFF - R_MIN) / N_KNOTS * np.arange(N_KNOTS)
    start = EPS * (SIGMA / knots) ** 12  # soft, purely repulsive
    table = TabulatedPair(Quantity(start, "kJ/mol"), Quantity(R_MIN, "nm"), Quantity(CUTOFF, "nm"))
    model = CorrectedTable(table, jnp.zeros(N_KNOTS))
    targets = [
        target(90.0, "g_ref.csv", positions, system),
        target(120.0, "g_ref_120K.csv", positions, system),
    ]
    result = fit(
        model,
        targets,
        steps=STEPS,
        output_dir=OUT,
        trainable=["delta"],
        optimizer=default_optimizer(LEARNING_RATE, 1.0),
        optimizer_id=f"adam(lr={LEARNING_RATE}, clip=1.0)",
        seed=3,
    )

    report(result, model, targets)


def report(result, model, targets) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = LennardJones(
        Quantity(SIGMA, "nm"),
        Quantity(EPS, "kJ/mol"),
        Quantity(CUTOFF, "nm"),
        truncation=ForceShifted(),
    )
    r = np.linspace(0.30, CUTOFF - 1e-6, 300)
    u_true = np.asarray(truth.pair_energy(jnp.asarray(r)))
    u_start = np.asarray(model.pair_energy(jnp.asarray(r)))
    u_learned = np.asarray(result.potential.pair_energy(jnp.asarray(r)))
    np.savetxt(
        OUT / "pair_potential.csv",
        np.column_stack([r, u_true, u_start, u_learned]),
        delimiter=",",
        header="r_nm,u_true_kJmol,u_start_kJmol,u_learned_kJmol",
        comments="",
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    ax.plot(r, u_true, "k-", label="true (LJ, force-shifted)")
    ax.plot(r, u_start, "b:", label="start (soft repulsive)")
    ax.plot(r, u_learned, "r-", label=f"learned ({len(result.history) - 1} steps)")
    ax.set_ylim(-1.5, 3)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("r (nm)")
    ax.set_ylabel("u(r) (kJ/mol)")
    ax.legend()
    for ax, t in zip(axes[1:], targets, strict=True):
        x = np.asarray(t.dataset.x)
        ax.plot(x, np.asarray(t.dataset.y), "k-", label="reference")
        centers = np.asarray(t.objective.observe.bin_centers.m_as("nm"))
        ax.plot(centers, np.asarray(result.initial[t.name]), "b:", label="start")
        ax.plot(centers, np.asarray(result.final[t.name]), "r-", label="learned")
        ax.set_title(f"g(r), {t.temperature:.0f} K")
        ax.set_xlabel("r (nm)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "pair_potential.png", dpi=110)
    first, last = result.history[0], result.history[-1]
    for t in targets:
        print(
            f"{t.name}: MSE {first['targets'][t.name]['loss']:.4g} -> "
            f"{last['targets'][t.name]['loss']:.4g}"
        )
    inside = r > 0.33
    rms = np.sqrt(np.mean((u_learned[inside] - u_true[inside]) ** 2))
    rms0 = np.sqrt(np.mean((u_start[inside] - u_true[inside]) ** 2))
    print(f"RMS u(r) error for r > 0.33 nm: start {rms0:.3f} -> learned {rms:.3f} kJ/mol")
    i_min = np.argmin(u_learned)
    print(
        f"learned well: {u_learned[i_min]:.3f} kJ/mol at {r[i_min]:.4f} nm "
        f"(true {u_true.min():.3f} at {r[np.argmin(u_true)]:.4f})"
    )


if __name__ == "__main__":
    main()
