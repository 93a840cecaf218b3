"""Refine a fitted water model's dipole surface on fixed trajectories, without noise.

    python docs/examples/water_ir/refine_dipole.py water-ir-fit [--blocks 4] [--seed 8]

The charge-flux dipole surface (bond flux b, angle flux a, charge scale s) does not enter
the forces, so the trajectories of the fitted force field do not depend on it, and the
total dipole and its time derivative are linear in it: dM/dt = s·Ṁ₀ + b·Ṁ_b + a·Ṁ_a, with
the three basis series computed once from the recorded positions and velocities (the
`PotentialDipoleCurrent` recorder). On fixed trajectories the IR spectrum,
and with it every band intensity, is then a deterministic function of (b, a, s); a
stochastic-gradient fit of these three parameters only adds noise.

1. Sample the fitted model (`fit.json`'s `final_parameters` in the output folder) as
   `validate.py` does, with another seed: Langevin equilibration, then `--blocks` blocks
   of 10 NVE segments of 1 ps started from Langevin states, frames every 2 fs.
2. Solve the three dipole parameters by least squares so that the integrated intensities
   of the libration, bend and stretch bands (the fit's windows; n·α from dM/dt with a
   0.4 ps Hann window, as `validate.py` measures them) match experiment (relative
   residuals).
3. Standard errors from the delete-one-block jackknife (the same solve without each
   block in turn).

Writes `refined_dipole.json` in the output folder (`final_parameters`: the fit's with the
three dipole parameters replaced; `standard_errors`; the residuals). Validate it on
independent trajectories with `validate.py <output> --models before,after,refined`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares

jax.config.update("jax_enable_x64", True)

from validate import (  # noqa: E402  (next to this script)
    DT_FS,
    EXPERIMENT,
    HERE,
    STRIDE,
    band_intensities,
    equilibrated,
)

from observables import FromDipoleDerivative, Hann, IRSpectrum, Quantity, Trajectory  # noqa: E402
from spectrinv.backends import Frame, Positions, PotentialDipoleCurrent, Velocities  # noqa: E402
from spectrinv.fit import load_config, with_parameters  # noqa: E402
from spectrinv.gradients import Truncated  # noqa: E402

BAND_NAMES = ("libration", "bend", "stretch")
NAMES = ("dipole.charge_scale", "dipole.bond_flux", "dipole.angle_flux")  # basis order
SEGMENT_STEPS, SEGMENTS_PER_BLOCK = 2000, 10  # 1 ps NVE segments, 10 per block


def intensities(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∫ n·α dν over the libration, bend and stretch windows (cm⁻²), as `validate.py`."""
    per_band = band_intensities(x, y)
    return np.array([per_band[f"{name}_intensity"] for name in BAND_NAMES])


def sample_frames(model, target, n_blocks: int, key, steps: int = SEGMENT_STEPS):
    """`(positions, velocities)` `[segment, frame, atom, 3]` (nm, nm/ps) of `n_blocks` × 10
    NVE segments of `steps` (default 1 ps; frames every 2 fs), started from a Langevin chain
    0.5 ps apart after 5 ps."""
    nvt, system = target.backend, target.system
    state = equilibrated(model, target, key, 5.0)
    strategy = Truncated(SEGMENTS_PER_BLOCK, steps, stride=STRIDE, decorrelation_steps=1000)
    nve = strategy.segment_backend(nvt)
    blocks = []
    for b in range(n_blocks):
        starts, state = strategy.start_states(
            model, backend=nvt, system=system, state=state, key=jax.random.fold_in(key, 10 + b)
        )
        traj, _ = nve.sample(
            model,
            system,
            starts,
            jax.random.fold_in(key, 100 + b),
            steps,
            stride=STRIDE,
            record=(Positions(), Velocities()),
        )
        blocks.append((np.asarray(traj.positions), np.asarray(traj.velocities)))
    return tuple(np.concatenate(parts, axis=0) for parts in zip(*blocks, strict=True))


def dipole_currents(model, system, positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """dM/dt `[segment, frame, 3]` (e·nm/ps) of `model`'s dipole surface on stored frames:
    the `PotentialDipoleCurrent` recorder that `source = "dipole_derivative"` uses."""
    recorder = PotentialDipoleCurrent()

    def one(r, v):
        return recorder(Frame(r, v, jnp.zeros_like(r), jnp.zeros(()), None, system), model)

    current = jax.jit(jax.vmap(one))
    pairs = zip(positions, velocities, strict=True)
    return np.stack([np.asarray(current(jnp.asarray(r), jnp.asarray(v))) for r, v in pairs])


def basis_currents(model, system, positions: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """`[3, segment, frame, 3]`: dM/dt for (s, b, a) = (1, 0, 0), (0, 1, 0) and (0, 0, 1);
    checked to be linear on the first segment."""

    def series(values):
        m = with_parameters(model, dict(zip(NAMES, values, strict=True)))
        return dipole_currents(m, system, positions, velocities)

    basis = np.stack([series(v) for v in np.eye(3)])
    probe = np.array([0.9, 3.0, 0.1])
    direct = series(probe)[0]
    combined = np.tensordot(probe, basis[:, 0], axes=1)
    if not np.allclose(direct, combined, rtol=1e-10, atol=1e-12):
        raise ValueError("dM/dt is not linear in (charge scale, bond flux, angle flux)")
    return basis


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="the fit's output folder (with fit.json)")
    p.add_argument("--blocks", type=int, default=4, help="blocks of 10 NVE segments of 1 ps")
    p.add_argument("--seed", type=int, default=8, help="not validate.py's (7)")
    args = p.parse_args(argv)
    t0 = time.time()
    fit_json = Path(args.output) / "fit.json"
    if not fit_json.is_file():
        raise SystemExit(f"no {fit_json}: run `spectrinv fit water_ir.toml` first")
    fit = json.loads(fit_json.read_text())
    config = load_config(HERE / "water_ir.toml")
    model = with_parameters(config.potential, fit["final_parameters"])
    target = config.targets[0]
    positions, velocities = sample_frames(model, target, args.blocks, jax.random.key(args.seed))
    basis = basis_currents(model, target.system, positions, velocities)
    box = jnp.asarray(target.system.box)
    dt = DT_FS * STRIDE / 1000.0
    ir = IRSpectrum(
        Quantity(target.temperature, "K"),
        window=Hann(),
        max_lag=int(400 / 2),
        source=FromDipoleDerivative(),
    )

    @jax.jit
    def spectra(currents):  # [segment, frame, 3] -> x, n·α per segment
        def one(j):
            traj = Trajectory.from_internal(box=box, timestep=dt, charge_current=j)
            s = ir(traj)
            return s.x_magnitude, s.y_magnitude

        return jax.vmap(one)(currents)

    exp = np.genfromtxt(EXPERIMENT, delimiter=",", names=True)
    target_i = intensities(exp["wavenumber"], exp["n_alpha"])

    def band_intensities(theta, segments):
        x, y = spectra(jnp.tensordot(jnp.asarray(theta), jnp.asarray(basis[:, segments]), axes=1))
        return intensities(np.asarray(x[0]), np.asarray(y).mean(axis=0))

    def solve(segments):
        start = np.array([fit["final_parameters"][n] for n in NAMES])
        res = least_squares(
            lambda th: band_intensities(th, segments) / target_i - 1.0,
            start,
            x_scale=np.abs(start) + 0.05,
            bounds=([0.3, 0.0, -1.0], [2.0, 20.0, 1.0]),
        )
        return res.x, res.fun

    n_seg = positions.shape[0]
    theta, residuals = solve(np.arange(n_seg))
    per_block = np.arange(n_seg).reshape(args.blocks, SEGMENTS_PER_BLOCK)
    jack = np.array([solve(np.delete(per_block, b, axis=0).ravel())[0] for b in range(args.blocks)])
    k = args.blocks
    stderr = np.sqrt((k - 1) / k * np.sum((jack - jack.mean(axis=0)) ** 2, axis=0))
    before = band_intensities(
        np.array([fit["final_parameters"][n] for n in NAMES]), np.arange(n_seg)
    )
    out = {
        "final_parameters": {
            **fit["final_parameters"],
            **dict(zip(NAMES, theta.tolist(), strict=True)),
        },
        "standard_errors": dict(zip(NAMES, stderr.tolist(), strict=True)),
        "jackknife": jack.tolist(),
        "relative_residuals": residuals.tolist(),
        "fit_dipole_relative_errors": (before / target_i - 1.0).tolist(),
        "nve_ps": float(n_seg),
        "seed": args.seed,
        "wall_s": time.time() - t0,
    }
    (Path(args.output) / "refined_dipole.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{'parameter':22s}{'fit':>10s}{'refined':>10s}{'± 1σ':>10s}")
    for name, value, err in zip(NAMES, theta, stderr, strict=True):
        print(f"{name:22s}{fit['final_parameters'][name]:10.4f}{value:10.4f}{err:10.4f}")
    print("band intensities / experiment - 1 (libration, bend, stretch):")
    print(f"  the fit's dipole surface: {np.round(before / target_i - 1.0, 4).tolist()}")
    print(f"  refined:                  {np.round(residuals, 4).tolist()}")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
