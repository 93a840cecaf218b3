"""Planted truth: recover the Lennard-Jones σ from an NPT density by reweighting.

32 argon atoms (ε = 0.99774 kJ/mol, force-shifted at 0.5 nm) at 100 K and 800 bar. The
target ⟨ρ⟩ is measured in a 160 ps NPT run at the true σ = 0.3405 nm (block error, 5
blocks); the fit starts at σ = 1.03 × 0.3405 nm and takes 8 Newton steps on
⟨ρ⟩(σ) = target, each from a fresh 40 ps NPT reference at the current σ after 4 ps of
re-equilibration (`Reweighting` with a `MonteCarloBarostat`): σ ← σ − (⟨ρ⟩ − target)/g with
g = d⟨ρ⟩/dσ from the reweighting, the step capped at 1 % of σ.

The result averages the Newton predictions σ_k − (⟨ρ⟩_k − target)/ḡ of the last 5 steps
with the mean slope ḡ of all steps (one noisy slope per step would scatter the
predictions); its error combines the standard error of those predictions (their scatter,
not block errors) with the target's error δρ_target/|ḡ|.

Run: `python docs/examples/npt_density/fit_sigma.py` (about 10 minutes on a 2-core CPU);
prints one line per step and the result, and writes them to `results.txt` next to it.
"""

from __future__ import annotations

import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Density, Quantity
from spectrinv.backends import JaxMDBackend, Langevin, MonteCarloBarostat, Positions
from spectrinv.gradients import Objective, Reweighting
from spectrinv.potentials import ForceShifted, LennardJones, System

jax.config.update("jax_enable_x64", True)

HERE = Path(__file__).resolve().parent
SIGMA_TRUE, START = 0.3405, 1.03  # nm; the fit starts at 1.03 σ_true
ARGON = 39.948  # Da
T, P = Quantity(100, "K"), Quantity(800, "bar")


def backend(adapt: bool) -> JaxMDBackend:
    integrator = Langevin(Quantity(4, "fs"), T, Quantity(5, "1/ps"))
    return JaxMDBackend(
        integrator, barostat=MonteCarloBarostat(P, frequency=5, scaling="atomic", adapt=adapt)
    )


def fcc(n: int, a: float) -> tuple[np.ndarray, float]:
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return ((g[:, None, :] + basis[None]) * a).reshape(-1, 3), n * a


def main() -> None:
    lattice, edge = fcc(2, 0.5718)
    system = System(
        box=jnp.full(3, edge),
        species=jnp.zeros(len(lattice), jnp.int32),
        masses=jnp.full(len(lattice), ARGON),
    )

    def model(sigma: float) -> LennardJones:
        return LennardJones(
            Quantity(sigma, "nm"),
            Quantity(0.99774, "kJ/mol"),
            Quantity(0.5, "nm"),
            truncation=ForceShifted(),
        )

    def equilibrated(sigma: float, key: int):
        lj = model(sigma)
        state = backend(True).init(
            lj, system, Quantity(lattice, "nm"), temperature=T, key=jax.random.key(key)
        )
        _, state = backend(True).sample(
            lj, system, state, jax.random.key(key + 1), 4000, stride=100
        )
        return state

    objective = Objective(Density(n_blocks=None), lambda r: r.y_magnitude, record=(Positions(),))
    lines = []

    def report(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    t0 = time.time()
    # the target: a 40 ps NPT run at the true σ (plain mean, no reweighting)
    true = model(SIGMA_TRUE)
    params, static = eqx.partition(true, eqx.is_inexact_array)
    target_rw = Reweighting(n_frames=4000, stride=10, n_blocks=5)
    res = target_rw(
        objective,
        params,
        static,
        backend=backend(False),
        system=system,
        state=equilibrated(SIGMA_TRUE, 0),
        key=jax.random.key(10),
    )
    target, target_err = float(res.observed.y_magnitude), float(res.observed.error_magnitude)
    report(f"target <rho> at sigma = {SIGMA_TRUE} nm: {target:.1f} +- {target_err:.1f} kg/m3")

    sigma = START * SIGMA_TRUE
    state = equilibrated(sigma, 20)
    rw = Reweighting(n_frames=1000, stride=10, equilibration_steps=1000, n_blocks=5)
    visited = []
    for step in range(8):
        params, static = eqx.partition(model(sigma), eqx.is_inexact_array)
        res = rw(
            objective,
            params,
            static,
            backend=backend(False),
            system=system,
            state=state,
            key=jax.random.key(100 + step),
        )
        state = res.state
        rho, err = float(res.observed.y_magnitude), float(res.observed.error_magnitude)
        slope = float(res.grad.sigma)
        move = -(rho - target) / slope
        move = float(np.clip(move, -0.01 * sigma, 0.01 * sigma))
        report(
            f"step {step}: sigma {sigma:.5f} nm, <rho> {rho:.1f} +- {err:.1f} kg/m3, "
            f"d<rho>/dsigma {slope:.0f} +- {float(res.diagnostics['grad_stderr'].sigma):.0f} "
            f"kg/m3/nm, next {sigma + move:.5f} nm"
        )
        visited.append((sigma, rho, slope))
        sigma += move
    s, r, g = np.array(visited).T
    mean_slope = g.mean()
    predictions = (s - (r - target) / mean_slope)[-5:]
    estimate = predictions.mean()
    error = np.hypot(predictions.std(ddof=1) / np.sqrt(5), target_err / abs(mean_slope))
    report(
        f"mean slope {mean_slope:.0f} kg/m3/nm; predictions of the last 5 steps "
        + ", ".join(f"{x:.5f}" for x in predictions)
        + " nm"
    )
    report(
        f"result: sigma = {estimate:.5f} +- {error:.5f} nm (truth {SIGMA_TRUE}; "
        f"{(estimate - SIGMA_TRUE) / error:+.2f} errors), {time.time() - t0:.0f} s"
    )
    (HERE / "results.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
