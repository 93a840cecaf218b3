"""How far from the minimum a stochastic fit ends: the last iterate of a fixed learning rate,
its Polyak average, a cosine-decayed learning rate, and a growing sample count.

The target is a noisy quadratic bowl with a known minimum m (no MD, so the statistics over
many seeds take seconds): L(θ) = ½ Σ_i ((θ_i − m_i)/m_i)², and every gradient is the mean
over `n_segments` units of ∇L plus independent noise of standard deviation σ/m_i per unit,
as with the segments of `Truncated`. It reports its gradient's standard error and
signal-to-noise per parameter like the real strategies. The fit starts 20 % away from m
(two parameters, a and b), with the fit's default optimiser (clipped Adam, η = 0.02).

For each variant, over `SEEDS` seeds: the root-mean-square relative deviation of the
answer from m, √⟨((θ_i − m_i)/m_i)²⟩ (over seeds and both parameters).

    python docs/examples/noise_floor.py [SEEDS=10] [STEPS=120]
"""

from __future__ import annotations

import sys
import tempfile
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from observables import Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin  # noqa: E402
from spectrinv.fit import (  # noqa: E402
    IterateAverage,
    Target,
    default_optimizer,
    fit,
    learning_rate_schedule,
)
from spectrinv.gradients import AbstractGradient, GradientResult, Objective  # noqa: E402
from spectrinv.potentials import AbstractPotential, System  # noqa: E402

MINIMUM = (100.0, 50.0)
START = (120.0, 40.0)
SEEDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 120


class Trap(AbstractPotential):
    """U = ½ (a + b) Σ |r|²: a potential whose two parameters are fitted."""

    a: jax.Array
    b: jax.Array

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        return 0.5 * (self.a + self.b) * jnp.sum(positions**2)


@eqx.filter_jit
def _units(params, static, n, sigma, key):
    def theta(p):
        pot = eqx.combine(p, static)
        return jnp.stack([pot.a, pot.b])

    m = jnp.asarray(MINIMUM)

    def unit(p, xi):
        return 0.5 * jnp.sum(((theta(p) - m) / m) ** 2) + sigma * jnp.sum(xi * theta(p) / m)

    xi = jax.random.normal(key, (n, 2))
    return jax.vmap(jax.grad(unit), in_axes=(None, 0))(params, xi), theta(params)


class NoisyQuadratic(AbstractGradient):
    n_segments: int = eqx.field(static=True)
    sigma: float = eqx.field(static=True, default=0.2)

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        units, theta = _units(params, static, self.n_segments, self.sigma, key)
        n = self.n_segments
        grad = jax.tree.map(lambda u: jnp.mean(u, 0), units)
        err = jax.tree.map(lambda u: jnp.std(u, 0, ddof=1) / np.sqrt(n), units)
        snr = jax.tree.map(lambda g, e: jnp.abs(g) / e, grad, err)
        m = jnp.asarray(MINIMUM)
        loss = 0.5 * jnp.sum(((theta - m) / m) ** 2)
        diag = {"grad_norm": jnp.linalg.norm(theta), "grad_stderr": err, "grad_snr": snr}
        return GradientResult(loss, grad, theta, state, diag)


def _identity(x):
    return x


def _zero(x):
    return jnp.zeros(())


def target(n_segments: int) -> Target:
    system = System(box=None, species=jnp.zeros(2, jnp.int32), masses=jnp.full(2, 40.0))
    positions = Quantity(np.array([[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]]), "nm")
    backend = JaxMDBackend(Langevin(Quantity(2, "fs"), Quantity(100, "K"), Quantity(5, "1/ps")))
    objective = Objective(_identity, _zero)
    return Target(
        "bowl",
        objective,
        system,
        positions,
        backend,
        NoisyQuadratic(n_segments),
        Quantity(100, "K"),
    )


def run(seed: int, **kw) -> tuple[dict, int]:
    """The final history row of one fit, and the gradient units (segments) it simulated."""
    potential = Trap(jnp.asarray(START[0]), jnp.asarray(START[1]))
    kw = {"progress": False, "plots": False, "uncertainty": False, **kw}
    n = kw.pop("n_segments", 4)
    res = fit(potential, [target(n)], steps=STEPS, output_dir=tempfile.mkdtemp(), seed=seed, **kw)
    sizes = [r.get("sample_sizes", {}).get("bowl", {}).get("n_segments", n) for r in res.history]
    return res.history[-1], sum(sizes)


def deviation(params: dict) -> np.ndarray:
    return np.array([params["a"], params["b"]]) / np.asarray(MINIMUM) - 1


def rms(rows) -> float:
    return float(np.sqrt(np.mean(np.square(rows))))


def main() -> None:
    warnings.simplefilter("ignore")  # the noise-dominated steps warn (SNR < 1) by design
    cosine = default_optimizer(learning_rate_schedule("cosine", 0.02, steps=STEPS))
    results = {k: [] for k in ("last", "polyak", "cosine", "snr")}
    cost = {k: [] for k in results}
    for seed in range(SEEDS):
        final, units = run(seed, averaging=IterateAverage("polyak"))  # second half averaged
        results["last"].append(deviation(final["params_last"]))
        results["polyak"].append(deviation(final["params"]))
        cost["last"].append(units)
        cost["polyak"].append(units)
        final, units = run(seed, optimizer=cosine, optimizer_id="cosine")
        results["cosine"].append(deviation(final["params"]))
        cost["cosine"].append(units)
        final, units = run(seed, target_snr=3.0, max_growth=16)
        results["snr"].append(deviation(final["params"]))
        cost["snr"].append(units)
    labels = {
        "last": "last iterate, η = 0.02",
        "polyak": f"Polyak average of steps {STEPS // 2}-{STEPS}",
        "cosine": "cosine decay of η to 0, last iterate",
        "snr": "target_snr = 3 (4 → ≤ 64 segments), last iterate",
    }
    print(f"{SEEDS} seeds, {STEPS} steps: rms relative deviation of the answer from the")
    print("minimum; segments simulated per fit relative to the constant-count fit")
    base = np.mean(cost["last"])
    for key, label in labels.items():
        print(f"  {label:52s} {rms(results[key]):.4f}   x{np.mean(cost[key]) / base:.1f}")


if __name__ == "__main__":
    main()
