"""Check a water IR fit with fresh, longer simulations than the fit's own estimates.

    python docs/examples/water_ir/validate.py water-ir-fit [--blocks 8] [--npt-ps 400]

For the published SPC/Fw (`water_ir.toml`'s starting model with the published oxygen
charge), the fitted model (`fit.json`'s `final_parameters` in the output folder) and, when
`refine_dipole.py` has run, the fitted one with its refined dipole surface
(`refined_dipole.json`): `--blocks` blocks of 10 NVE segments (1 ps each,
started from Langevin states) whose IR spectrum n·α (correlating dM/dt of the model's
dipole surface, which, unlike the dipole itself, carries no leakage of its slow drift;
0.4 ps Hann lag window, harmonic quantum correction) gives the integrated band
intensities, with standard errors over the blocks, and (from the block-averaged spectrum)
the bands' centroids and maxima above the line through their window's edges; and an NPT
run (Monte Carlo barostat at 1 atm) whose density has a 10-block standard error. The
density of 48 molecules fluctuates by 29 kg/m³ from frame to frame with a 2 ps integrated
correlation time, so 400 ps give about ±3 kg/m³.
Every run is cached in the output folder (`validation_<model>_<part>.json`, with all the
model's parameter values and the settings it was run with; the density, which the dipole
surface does not change, is shared by models with the same force field). Writes
`validation.json` next to this script and the plot `docs/images/water_ir_fit.png`.
"""

from __future__ import annotations

import argparse
import json
import time
from operator import attrgetter
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from observables import Density, FromDipoleDerivative, Hann, IRSpectrum, Quantity  # noqa: E402
from spectrinv.backends import Positions, PotentialDipoleCurrent  # noqa: E402
from spectrinv.fit import load_config, parameter_names, with_parameters  # noqa: E402
from spectrinv.gradients import Objective, Truncated  # noqa: E402
from spectrinv.potentials import spc_fw  # noqa: E402

HERE = Path(__file__).resolve().parent
IMAGE = HERE.parents[1] / "images" / "water_ir_fit.png"
EXPERIMENT = HERE.parents[2] / "data" / "ir" / "water_segelstein_298K.csv"
#: (name, window for the band's position, window for its integrated intensity: the fit's), cm⁻¹
BANDS = (
    ("libration", (417.0, 1200.0), (417.0, 1200.0)),
    ("bend", (1150.0, 1900.0), (1200.0, 1900.0)),
    ("stretch", (2800.0, 3999.0), (2800.0, 3999.0)),
)
DT_FS, STRIDE = 0.5, 4  # NVE time step and recording stride (2 fs frames)


def band_intensities(x: np.ndarray, y: np.ndarray) -> dict:
    """Integrated intensity ∫ n·α dν of each band window (cm⁻²)."""
    out = {}
    for name, _, (lo, hi) in BANDS:
        u = np.linspace(lo, hi, 2048)
        out[f"{name}_intensity"] = float(np.trapezoid(np.interp(u, x, y), u))
    return out


def above_baseline(x: np.ndarray, y: np.ndarray, lo: float, hi: float, n: int = 2048):
    """`(u, w)`: `y` on `n` points of [lo, hi] minus the straight line through its values at
    the window's edges."""
    u = np.linspace(lo, hi, n)
    yu = np.interp(u, x, y)
    return u, yu - (yu[0] + (yu[-1] - yu[0]) * (u - lo) / (hi - lo))


def band_positions(x: np.ndarray, y: np.ndarray) -> dict:
    """Centroid and maximum (cm⁻¹) of each band above the straight line through its
    window's edges (the same for model and experiment)."""
    out = {}
    for name, (lo, hi), _ in BANDS:
        u, w = above_baseline(x, y, lo, hi)
        w = np.maximum(w, 0.0)
        out[f"{name}_centroid"] = float(np.trapezoid(u * w, u) / np.trapezoid(w, u))
        out[f"{name}_max"] = float(u[np.argmax(w)])
    return out


def stretch_fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """Full width at half maximum (cm⁻¹) of the O–H stretch above its window's baseline."""
    v, w = above_baseline(x, y, *BANDS[2][1], n=4096)
    above = v[w >= 0.5 * w.max()]
    return float(above.max() - above.min())


def line_shape_rms(x: np.ndarray, y: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> float:
    """rms(model − experiment) / max(experiment) over 417–3999 cm⁻¹."""
    u = np.linspace(417.0, 3999.0, 4096)
    ye = np.interp(u, ex, ey)
    return float(np.sqrt(np.mean((np.interp(u, x, y) - ye) ** 2)) / ye.max())


def equilibrated(model, target, key, equil_ps: float):
    """The state after `equil_ps` of the target's backend (Langevin, or NPT for the
    density target) from the target's starting positions."""
    backend, system = target.backend, target.system
    state = backend.init(
        model,
        system,
        Quantity(np.asarray(target.positions), "nm"),
        temperature=Quantity(target.temperature, "K"),
        key=key,
    )
    n_eq = int(round(equil_ps * 1000 / DT_FS)) // 1000 * 1000
    _, state = backend.sample(model, system, state, jax.random.fold_in(key, 1), n_eq, stride=1000)
    return state


def ir_run(model, target, n_blocks: int, key, equil_ps: float, segments: int = 10) -> dict:
    """Langevin equilibration (the target's backend), then `n_blocks` blocks of `segments`
    NVE segments of 1 ps started from Langevin states 0.5 ps apart (each keeps its start
    state's energy, so together they sample the canonical temperature); IR per block."""
    system, nvt = target.system, target.backend
    state = equilibrated(model, target, key, equil_ps)
    lag_frames = int(round(400 / (DT_FS * STRIDE)))  # 0.4 ps
    ir = IRSpectrum(
        Quantity(target.temperature, "K"),
        window=Hann(),
        max_lag=lag_frames,
        source=FromDipoleDerivative(),
    )
    record = (Positions(), PotentialDipoleCurrent())
    objective = Objective(ir, lambda _: jnp.zeros(()), record)
    strategy = Truncated(segments, 2000, stride=STRIDE, decorrelation_steps=1000)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    blocks = []
    for b in range(n_blocks):
        spectrum = strategy.observe(
            objective,
            params,
            static,
            backend=nvt,
            system=system,
            state=state,
            key=jax.random.fold_in(key, 10 + b),
        )
        blocks.append((np.asarray(spectrum.x_magnitude), np.asarray(spectrum.y_magnitude)))
    x = blocks[0][0]
    y = np.mean([yb for _, yb in blocks], axis=0)
    per_block = [band_intensities(x, yb) for _, yb in blocks]
    result = {"spectrum_x": x.tolist(), "spectrum_y": y.tolist(), "nve_ps": n_blocks * segments}
    for k in per_block[0]:
        v = np.array([blk[k] for blk in per_block])
        result[k] = float(v.mean())
        result[f"{k}_err"] = float(v.std(ddof=1) / np.sqrt(len(v)))
    return result


def density_run(model, target, ps: float, key, equil_ps: float) -> dict:
    """NPT at the target's pressure: 2 × `equil_ps` discarded, then `ps` recorded every
    50 fs; 10-block standard error."""
    backend, system = target.backend, target.system
    state = equilibrated(model, target, key, 2 * equil_ps)
    n = int(round(ps * 1000 / DT_FS)) // 1000 * 1000
    traj, _ = backend.sample(model, system, state, jax.random.fold_in(key, 2), n, stride=100)
    rho = Density(n_blocks=10)(traj)
    return {
        "density": float(rho.y_magnitude),
        "density_err": float(rho.error_magnitude),
        "npt_ps": n * DT_FS / 1000,
    }


#: the models compared: label -> (JSON in the output folder whose `final_parameters` it
#: takes, legend); "before" is the configuration's starting model
MODELS = {
    "before": (None, "SPC/Fw (published)"),
    "after": ("fit.json", "after the fit"),
    "refined": ("refined_dipole.json", "after the fit and the refined dipole surface"),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="the fit's output folder (with fit.json)")
    p.add_argument("--blocks", type=int, default=8, help="IR blocks of 10 NVE segments of 1 ps")
    p.add_argument("--npt-ps", type=float, default=400.0, help="NPT length for the density, ps")
    p.add_argument("--equil-ps", type=float, default=5.0, help="equilibration, ps (NPT: 2x)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--models", default="before,after,refined", help="which to simulate")
    p.add_argument("--parts", default="ir,density", help="which runs (apart: two cores)")
    args = p.parse_args(argv)
    config = load_config(HERE / "water_ir.toml")
    output = Path(args.output)
    ir_target, rho_target = config.targets
    exp = np.genfromtxt(EXPERIMENT, delimiter=",", names=True)
    ex, ey = exp["wavenumber"], exp["n_alpha"]
    out = {"experiment": {**band_positions(ex, ey), **band_intensities(ex, ey)}}
    out["experiment"]["stretch_fwhm"] = stretch_fwhm(ex, ey)
    density_loss = rho_target.objective.loss
    density_loss = getattr(density_loss, "losses", [density_loss])[0]  # a weighted sum
    out["experiment"]["density"] = float(density_loss.reference.y)
    key = jax.random.key(args.seed)
    runs = {
        "ir": lambda m: ir_run(m, ir_target, args.blocks, key, args.equil_ps),
        "density": lambda m: density_run(
            m, rho_target, args.npt_ps, jax.random.fold_in(key, 9), args.equil_ps
        ),
    }
    for label in args.models.split(","):
        source, _ = MODELS[label]
        if source is not None and not (output / source).exists():
            print(f"{label}: no {output / source}, skipped")
            continue
        fitted = {} if source is None else json.loads((output / source).read_text())
        fitted = fitted.get("final_parameters", {})
        if source is None:  # the published oxygen charge (the fit may start from another)
            fitted = {"charge_oxygen": float(spc_fw().charge_oxygen)}
        model = with_parameters(config.potential, fitted)
        out[label] = {"parameters": fitted}
        for part in args.parts.split(","):
            settings = {
                "model": model_values(model, with_dipole=part == "ir"),
                **(
                    {"nve_ps": 10.0 * args.blocks, "ir_signal": "dM/dt"}
                    if part == "ir"
                    else {"npt_ps": args.npt_ps}
                ),
            }
            path = output / f"validation_{label}_{part}.json"
            out[label].update(_cached(path, settings, runs[part], model))
    labels = [label for label in MODELS if label in out]
    if "before" not in labels or len(labels) < 2 or args.parts != "ir,density":
        return
    for label in labels:  # positions and shape from the block-averaged spectrum
        r = out[label]
        x, y = np.asarray(r["spectrum_x"]), np.asarray(r["spectrum_y"])
        positions = band_positions(x, y)
        r.update(positions)
        r.update(line_shape_rms=line_shape_rms(x, y, ex, ey), stretch_fwhm=stretch_fwhm(x, y))
        for name in positions:  # no block errors for these
            r.pop(f"{name}_err", None)
    _report(out, labels)
    short = {
        k: {kk: vv for kk, vv in v.items() if not kk.startswith("spectrum")} for k, v in out.items()
    }
    (HERE / "validation.json").write_text(json.dumps(short, indent=1) + "\n")
    _plot(out, labels, exp)


def model_values(model, with_dipole: bool) -> dict:
    """Every parameter of `model` by name (internal units): what a cached run is keyed by.
    Without the dipole surface's, which the density does not depend on, so that a density
    run of the same force field under another label is reused."""
    names = [n for n in parameter_names(model) if with_dipole or not n.startswith("dipole.")]
    return {n: np.asarray(attrgetter(n)(model)).tolist() for n in names}


def _cached(path: Path, settings: dict, compute, model) -> dict:
    """The stored result of a run with `settings`: at `path`, or in another label's file of
    the same part; else `compute(model)` (timed, stored at `path`, printed)."""
    part = path.stem.rsplit("_", 1)[-1]
    for candidate in [path, *sorted(path.parent.glob(f"validation_*_{part}.json"))]:
        if candidate.exists():
            stored = json.loads(candidate.read_text())
            if all(stored.get(k) == v for k, v in settings.items()):
                return stored
    t0 = time.time()
    res = {**compute(model), **settings, "wall_s": time.time() - t0}
    path.write_text(json.dumps(res) + "\n")
    summary = {k: round(v, 1) for k, v in res.items() if isinstance(v, float)}
    print(path.stem, json.dumps(summary), flush=True)
    return res


def _report(out: dict, labels: list[str]) -> None:
    e = out["experiment"]
    last = labels[-1]
    print(f"{'':22s}{'experiment':>12s}" + "".join(f"{lb:>18s}" for lb in labels), end="")
    print(f"{last + '/exp-1':>14s}")
    for key in [k for k in e if k != "density"] + ["density", "line_shape_rms"]:
        row = f"{key:22s}" + (f"{e[key]:12.5g}" if key in e else f"{'':12s}")
        for label in labels:
            r = out[label]
            err = f"{r[key + '_err']:<5.2g}" if key + "_err" in r else "     "
            row += f"{r[key]:11.5g} ± {err}"
        print(row + (f"{out[last][key] / e[key] - 1:+14.3%}" if key in e else ""))


def _plot(out: dict, labels: list[str], exp) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(exp["wavenumber"], exp["n_alpha"], "k-", lw=1.5, label="experiment (Segelstein 1981)")
    styles = {"before": "C1--", "after": "C2:", "refined": "C0-"}
    for label in labels:
        r = out[label]
        ax.plot(r["spectrum_x"], r["spectrum_y"], styles[label], lw=1.2, label=MODELS[label][1])
    ax.set_xlim(400, 4000)
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_ylabel("n·α (cm⁻¹)")
    ax.legend(frameon=False)
    fig.tight_layout()
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMAGE, dpi=110)
    print(f"wrote {IMAGE}")


if __name__ == "__main__":
    main()
