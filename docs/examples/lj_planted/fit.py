"""Planted-truth fit: recover LJ σ and ε from g(r) + pressure (see `make_reference.py`).

The references were generated at σ = 0.3405 nm, ε/k_B = 119.8 K. The fit starts 20 % off
(σ −20 %, ε +20 %) and fits both with `Reweighting` and a χ² per target: g(r) from 0.3 nm
(where the reference first has pairs) with its per-bin error, the pressure with its error;
the simulation's own standard error is added in quadrature. Two targets at the reference's
state point (108 atoms, 110 K, 1409.5 kg/m³), each from an fcc lattice melted by 20 ps at
the starting parameters.

Optimiser, two stages. Stage one: Adam (b1 = 0.8, b2 = 0.9) on relative parameters with a
learning rate of 0.03 for `FAST` steps, 0.005 for `MEDIUM` steps, then 0.0005 (`STEPS` in
all). It ends on the pressure's valley, short of the truth (Adam's per-parameter steps
zigzag across that narrow, curved valley; the small late rates then crawl along it).
Stage two (`STAGE_TWO` steps) restarts Adam from stage one's last iterate, in a liquid
melted at those parameters: 0.02 for 12 steps, 0.004 for 6, then 0.0005. The answer is the
**mean of the last `AVERAGE` iterates** (computed here from the history), with their
spread; the standard errors are `fit(..., uncertainty=True)`'s, at the final iterate.

Outputs in `results/`: `history_stage1.jsonl`, `history.jsonl` and `fit.json` (stage two,
the fit's own summary), `summary.json`
(averaged answer, errors, deviation from the truth), `sigma_epsilon.png` (the fit's path in
the σ–ε plane with the truth and the 1σ ellipse).

Run from the repository root: `python docs/examples/lj_planted/fit.py [STEPS]`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import optax  # noqa: E402

from observables import RDF, GaussianKernel, Pressure, Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Stress, Velocities  # noqa: E402
from spectrinv.datasets import Dataset  # noqa: E402
from spectrinv.fit import Target, fit  # noqa: E402
from spectrinv.gradients import Objective, Reweighting  # noqa: E402
from spectrinv.losses import ChiSquared, Reference  # noqa: E402
from spectrinv.potentials import ForceShifted, LennardJones, fcc_lattice  # noqa: E402

HERE = Path(__file__).resolve().parent
SIGMA_TRUE = 0.3405  # nm
EPS_TRUE = float(Quantity(119.8, "K * molar_gas_constant").m_as("kJ/mol"))
TEMPERATURE = Quantity(110.0, "K")
DENSITY = Quantity(1409.5, "kg/m**3")
MASS = Quantity(39.948, "Da")
DT = Quantity(5, "fs")
STEPS = 47  # `fit.py [STEPS]` changes it
FAST = 25  # steps at learning rate 0.03
MEDIUM = 10  # then steps at 0.005, then 0.0005 to the end
AVERAGE = 6  # late iterates (last stage, learning rate 0.0005) averaged into the answer
FRAMES, STRIDE = 200, 20  # 20 ps per reference, a frame every 0.1 ps
#: compared range of g(r): from where the reference has pairs (g > 0 with an error) to r_max
R_RANGE = (Quantity(0.3, "nm"), Quantity(0.8, "nm"))


def datasets(suffix: str = ""):
    """The planted g(r) and pressure (`suffix="_seed2"`: the independent second reference)."""
    g = Dataset.from_csv(
        HERE / f"g_ref{suffix}.csv",
        x="r",
        y="g",
        uncertainty="g_err",
        x_unit="nm",
        y_unit="dimensionless",
        quantity="rdf",
        name="planted g(r)",
    )
    p = Dataset.from_csv(
        HERE / f"pressure_ref{suffix}.csv",
        x="T",
        y="P",
        uncertainty="P_err",
        x_unit="K",
        y_unit="bar",
        quantity="pressure",
        name="planted pressure",
    )
    return g, p


def targets(frames: int = FRAMES, equilibration_ps: float = 20.0, start=None, suffix: str = ""):
    """The g(r) and pressure targets (`start`: positions, default the fcc lattice)."""
    g_data, p_data = datasets(suffix)
    rdf = RDF(Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")))
    pressure = Pressure()
    positions, system = fcc_lattice(3, DENSITY, MASS)
    positions = positions if start is None else start
    backend = JaxMDBackend(Langevin(DT, TEMPERATURE, Quantity(5, "1/ps")))
    gradient = Reweighting(
        n_frames=frames,
        stride=STRIDE,
        equilibration_steps=400,
        ess_threshold=0.9,
        batch_size=50,
    )
    equil = int(round(equilibration_ps / 0.005))
    objectives = {
        "rdf": Objective(rdf, ChiSquared(Reference(g_data, rdf, x_range=R_RANGE)), (Positions(),)),
        "pressure": Objective(
            pressure,
            ChiSquared(Reference(p_data, pressure, at=TEMPERATURE)),
            (Positions(), Velocities(), Stress()),
        ),
    }
    return [
        Target(
            name,
            obj,
            system,
            positions,
            backend,
            gradient,
            TEMPERATURE,
            equilibration_steps=equil,
            dataset=g_data if name == "rdf" else p_data,
        )
        for name, obj in objectives.items()
    ]


def start_potential(rel_sigma: float = 0.8, rel_eps: float = 1.2) -> LennardJones:
    return LennardJones(
        Quantity(rel_sigma * SIGMA_TRUE, "nm"),
        Quantity(rel_eps * EPS_TRUE, "kJ/mol"),
        Quantity(0.8, "nm"),
        truncation=ForceShifted(),
    )


def optimizer(steps: int, fast: int, medium: int = MEDIUM):
    """Adam with a learning rate of 0.03 for `fast` steps, 0.005 for `medium`, then 0.0005.

    Adam's steps are ~ the learning rate whatever the gradient, so near the minimum the
    iterates jitter by about the learning rate: the last stage's 0.05 % per step is below
    the statistical errors of σ and ε (≈ 0.04 % and 0.2 %)."""
    schedule = optax.join_schedules(
        [optax.constant_schedule(r) for r in (0.03, 0.005, 0.0005)], [fast, fast + medium]
    )
    # b2 = 0.9: the gradient's scale is forgotten within ~10 steps (χ² gradients fall by
    # orders of magnitude on the way in; with the default 0.999 the first, largest ones
    # keep the later steps tiny)
    return optax.adam(schedule, b1=0.8, b2=0.9)


def summarise(result, average: int, earlier: list = ()) -> dict:
    """Averaged answer, errors and path (`earlier`: history of a previous stage)."""
    rows = [r for r in [*earlier, *result.history] if not r.get("final")]
    path = np.array([[r["params"]["sigma"], r["params"]["epsilon"]] for r in rows])
    late = path[-average:]
    mean = late.mean(0)
    unc = result.uncertainty
    se = np.asarray(unc.standard_errors)
    truth = np.array([SIGMA_TRUE, EPS_TRUE])
    return {
        "truth": {"sigma_nm": SIGMA_TRUE, "epsilon_kJ_mol": EPS_TRUE},
        "start": {"sigma_nm": float(path[0, 0]), "epsilon_kJ_mol": float(path[0, 1])},
        "averaged_iterates": average,
        "fitted": {"sigma_nm": float(mean[0]), "epsilon_kJ_mol": float(mean[1])},
        "relative_deviation": (mean / truth - 1).tolist(),
        "standard_error": se.tolist(),
        "z_score": ((mean - truth) / se).tolist(),
        "late_iterate_spread": late.std(0, ddof=1).tolist(),
        "correlation": float(np.asarray(unc.correlation)[0, 1]),
        "condition_number": float(unc.condition_number),
        "error_source": unc.error_source,
        "path": path.tolist(),
        "covariance": np.asarray(unc.covariance).tolist(),
    }


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.array(summary["path"])
    eps_k = 1.0 / float(Quantity(1, "K * molar_gas_constant").m_as("kJ/mol"))  # K per kJ/mol
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.plot(p[:, 0], p[:, 1] * eps_k, "o-", ms=3, lw=0.8, color="0.5", label="iterates")
    f = summary["fitted"]
    c = np.array(summary["covariance"]) * np.array([[1, eps_k], [eps_k, eps_k**2]])
    vals, vecs = np.linalg.eigh(c)
    t = np.linspace(0, 2 * np.pi, 200)
    ell = vecs @ (np.sqrt(vals)[:, None] * np.stack([np.cos(t), np.sin(t)]))
    centre = np.array([f["sigma_nm"], f["epsilon_kJ_mol"] * eps_k])
    ax.plot(centre[0] + ell[0], centre[1] + ell[1], "C0-", label="1σ (reported)")
    ax.plot(*centre, "C0s", label=f"mean of last {summary['averaged_iterates']} iterates")
    ax.plot(SIGMA_TRUE, EPS_TRUE * eps_k, "r*", ms=12, label="truth")
    ax.set_xlabel("σ (nm)")
    ax.set_ylabel("ε / k_B (K)")
    ax.legend(fontsize=8, loc="lower left")
    inset = fig.add_axes([0.5, 0.58, 0.3, 0.3])
    inset.plot(
        p[-summary["averaged_iterates"] :, 0],
        p[-summary["averaged_iterates"] :, 1] * eps_k,
        ".",
        color="0.5",
        ms=3,
    )
    inset.plot(centre[0] + ell[0], centre[1] + ell[1], "C0-")
    inset.plot(*centre, "C0s", ms=4)
    inset.plot(SIGMA_TRUE, EPS_TRUE * eps_k, "r*", ms=8)
    inset.tick_params(labelsize=6)
    fig.subplots_adjust(left=0.13, bottom=0.12, right=0.97, top=0.97)
    fig.savefig(path, dpi=120)


def adam_stages(rates, lengths):
    """Adam (b1 = 0.8, b2 = 0.9) with piecewise-constant learning rates."""
    bounds = list(np.cumsum(lengths))
    schedule = optax.join_schedules([optax.constant_schedule(r) for r in rates], bounds)
    return optax.adam(schedule, b1=0.8, b2=0.9)


#: later stages: (name, steps, learning rates, steps per rate but the last)
LATER = (("run2", 24, (0.02, 0.004, 0.0005), (12, 6)), ("run3", 18, (0.005, 0.0005), (10,)))


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else STEPS
    out = HERE / "results"
    t0 = time.perf_counter()
    result = fit(
        start_potential(),
        targets(),
        steps=steps,
        output_dir=out / "run",
        trainable=["sigma", "epsilon"],
        optimizer=optimizer(steps, FAST, MEDIUM),
        optimizer_id=f"adam-b2-0.9-0.03x{FAST}-0.005x{MEDIUM}-0.0005",
        seed=0,
        plots=False,
        uncertainty=False,
    )
    history = list(result.history)
    sys.path.insert(0, str(HERE))
    import make_reference

    for k, (name, n, rates, lengths) in enumerate(LATER):
        # from the previous stage's last iterate, in a liquid melted at those parameters
        _, _, state = make_reference.melted_state(result.potential, jax.random.key(9 + k))
        liquid = Quantity(np.asarray(state.positions), "nm")
        parts = [f"{r}x{m}" for r, m in zip(rates, lengths, strict=False)] + [str(rates[-1])]
        ident = "adam-b2-0.9-" + "-".join(parts)
        result = fit(
            result.potential,
            targets(start=liquid),
            steps=n,
            output_dir=out / name,
            trainable=["sigma", "epsilon"],
            optimizer=adam_stages(rates, lengths),
            optimizer_id=ident,
            seed=1 + k,
            plots=False,
            uncertainty=k == len(LATER) - 1,
        )
        if k < len(LATER) - 1:
            history += result.history
    wall = time.perf_counter() - t0
    summary = summarise(result, AVERAGE, history)
    summary["wall_time_s"] = wall
    for name in ("history.jsonl", "fit.json"):
        shutil.copy(out / LATER[-1][0] / name, out / name)
    for i, name in enumerate(["run"] + [st[0] for st in LATER[:-1]]):
        shutil.copy(out / name / "history.jsonl", out / f"history_stage{i + 1}.jsonl")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, out / "sigma_epsilon.png")
    print(
        json.dumps({k: v for k, v in summary.items() if k not in ("path", "covariance")}, indent=1)
    )


if __name__ == "__main__":
    main()
