"""Score and plot the learned (`learn_pair.py`) and the IBI (`ibi_two_densities.py`) pair
potentials against the planted Lennard-Jones truth.

Well depth and position: minimum of u(r) on a 0.0001 nm grid in 0.33-0.79 nm, for the
truth (force-shifted LJ), the fit and IBI. Structure and pressure: a fresh simulation of each
potential at both densities (fcc lattice melted 10 ps at 400 K, 20 ps at 120 K, then
`PROD_PS` ps, a frame every 0.1 ps; the references' estimator, errors from 10 blocks),
compared with the references: RMS of g − g_ref over 0.3-0.8 nm, and P − P_ref.
`PROD_PS = 0`: the potentials only (no simulations, the figure without g(r)).

Writes `results/comparison.json` and `pair_potential.png`.

Run from the repository root: `python docs/examples/pair_potential/compare.py [PROD_PS]`
(`compare.py PROD_PS fit` or `... ibi`: only that method's simulations, cached for the
full run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import Pressure, Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Stress, Velocities  # noqa: E402
from spectrinv.potentials import TabulatedPair, fcc_lattice  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROD_PS = float(sys.argv[1]) if len(sys.argv) > 1 else 50.0
R_MIN_TRUE = 2 ** (1 / 6) * common.SIGMA  # 0.3822 nm


def table(values) -> TabulatedPair:
    return TabulatedPair(
        Quantity(values, "kJ/mol"), Quantity(common.R_MIN, "nm"), Quantity(common.CUTOFF, "nm")
    )


def simulate(pair, rho: float, seed: int):
    positions, system = fcc_lattice(3, common.mass_density(rho), common.MASS)
    hot, md = (
        JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(t, "K"), Quantity(5, "1/ps")))
        for t in (400.0, 120.0)
    )
    k = jax.random.split(jax.random.key(seed), 4)
    st = hot.init(pair, system, positions, temperature=Quantity(400.0, "K"), key=k[0])
    _, st = hot.sample(pair, system, st, k[1], 2000, stride=2000)
    _, st = md.sample(pair, system, st, k[2], 4000, stride=4000)
    n = int(round(PROD_PS / 0.1)) // 10 * 10
    traj, _ = md.sample(
        pair, system, st, k[3], n * 20, stride=20, record=(Positions(), Velocities(), Stress())
    )
    g = common.rdf()(traj)
    p = Pressure(n_blocks=10)(traj)
    return np.asarray(g.g), float(p.y_magnitude), float(p.error_magnitude)


def fresh(name: str, pair, state: str, rho: float, seed: int):
    """`simulate`, cached in `results/fresh_<name>_<state>.csv` (g; P and its error in the
    header) so that one method's check can run as soon as that method has finished."""
    path = common.HERE / "results" / f"fresh_{name}_{state}.csv"
    if path.exists():
        head = path.read_text().splitlines()[0]
        p, pe = (float(v) for v in head.split("P_bar=")[1].split(","))
        return np.loadtxt(path, delimiter=",", skiprows=2), p, pe
    g, p, pe = simulate(pair, rho, seed)
    with open(path, "w") as f:
        f.write(
            f"# compare.py fresh MD of {name} at {state} density, {PROD_PS} ps; P_bar={p},{pe}\n"
        )
        f.write("g\n")
        f.writelines(f"{v:.6f}\n" for v in g)
    print(f"{name} {state}: P = {p:.1f} ± {pe:.1f} bar", flush=True)
    return g, p, pe


def main() -> None:
    res = common.HERE / "results"
    if len(sys.argv) > 2:  # `compare.py PROD_PS ibi`: only that method's fresh simulations
        name = sys.argv[2]
        knots = "learned_knots.csv" if name == "fit" else "ibi_knots.csv"
        pair = table(np.loadtxt(res / knots, delimiter=",", skiprows=1)[:, -1])
        for i, (state, rho) in enumerate(common.STATES.items()):
            fresh(name, pair, state, rho, 100 + i)
        return
    ibi_all = np.loadtxt(res / "ibi_knots.csv", delimiter=",", skiprows=1)
    pairs = {"truth": common.truth(), "ibi": table(ibi_all[:, -1])}
    out: dict = {"prod_ps": PROD_PS, "r_min_true_nm": R_MIN_TRUE, "epsilon_kJ_mol": common.EPS}
    out["ibi_iterations"] = ibi_all.shape[1] - 2
    knots = res / "learned_knots.csv"
    if knots.exists():  # the fit's answer (or latest iterate, `learn_pair.py latest`)
        pairs["fit"] = table(np.loadtxt(knots, delimiter=",", skiprows=1)[:, 1])
        out["fit_knots"] = knots.read_text().splitlines()[0].split("# ")[-1]
    for name, pair in pairs.items():
        depth, pos = common.well(pair)
        out[name] = {"well_depth_kJ_mol": depth, "well_position_nm": pos}
    d_true = out["truth"]["well_depth_kJ_mol"]
    methods = [m for m in ("fit", "ibi") if m in pairs]
    for name in methods:
        o = out[name]
        o["depth_rel_to_truth_curve"] = o["well_depth_kJ_mol"] / d_true - 1
        o["depth_rel_to_epsilon"] = -o["well_depth_kJ_mol"] / common.EPS - 1
        o["position_minus_2^(1/6)sigma_nm"] = o["well_position_nm"] - R_MIN_TRUE
    sims = {}
    for name in methods if PROD_PS > 0 else ():
        for i, (state, rho) in enumerate(common.STATES.items()):
            g, p, pe = fresh(name, pairs[name], state, rho, 100 + i)
            gd, pd = common.g_data(state), common.p_data(state)
            mask = np.asarray(gd.x) >= 0.3
            rms = float(np.sqrt(np.mean((g - np.asarray(gd.y))[mask] ** 2)))
            p_ref = float(np.asarray(pd.y)[0])
            sims[(name, state)] = g
            out[name][state] = {"rms_dg": rms, "P_bar": p, "P_err_bar": pe, "P_ref_bar": p_ref}
    (res / "comparison.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    plot(pairs, sims, out)


def plot(pairs, sims, out) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.linspace(0.31, common.CUTOFF - 1e-6, 400)
    fig, axes = plt.subplots(1, 3 if sims else 1, figsize=(14, 4) if sims else (5.5, 4))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    style = {"truth": "k-", "fit": "r-", "ibi": "b--"}
    label = {"truth": "truth (LJ, force-shifted)", "fit": "fit (χ² + prior + P)", "ibi": "IBI"}
    start = common.pmf_start("low")
    ax.plot(
        r,
        np.asarray(start.pair_energy(jnp.asarray(r))),
        ":",
        color="0.5",
        label="fit start (PMF, ρσ³ = 0.72)",
    )
    for name, pair in pairs.items():
        ax.plot(r, np.asarray(pair.pair_energy(jnp.asarray(r))), style[name], label=label[name])
    ax.set_ylim(-1.5, 2.5)
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(R_MIN_TRUE, color="0.8", lw=0.5)
    ax.set_xlabel("r (nm)")
    ax.set_ylabel("u(r) (kJ/mol)")
    ax.legend(fontsize=8)
    for ax, (state, rho) in zip(axes[1:], common.STATES.items(), strict=False):
        gd = common.g_data(state)
        x = np.asarray(gd.x)
        ax.plot(x, np.asarray(gd.y), "k-", lw=2, alpha=0.4, label="reference (truth)")
        for name in ("fit", "ibi"):
            if (name, state) in sims:
                ax.plot(x, sims[(name, state)], style[name], lw=1, label=f"{label[name]}, fresh MD")
        ax.set_xlim(0.28, 0.8)
        ax.set_title(f"g(r), ρσ³ = {rho}, 120 K")
        ax.set_xlabel("r (nm)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(common.HERE / "pair_potential.png", dpi=110)


if __name__ == "__main__":
    main()
