"""Cost of `DipoleInducedDipole` per frame: `"molecule"` (216 waters) and `"all"` (64
waters), float32 and float64, value and `jax.grad` (α per species, Thole a, positions).

Thole-damped, α = (0.9, 0.4) Å³ for (O, H) and a = 0.5 (illustrative values, not published
parameters); `water_box(n, key=PRNGKey(0))` geometry; `jax.jit`, best of 20 calls. Run with
`OPENBLAS_NUM_THREADS=1` on a shared CPU (docstring of `DipoleInducedDipole`):

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.performance.polarizability_did
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.potentials import DipoleInducedDipole, water_box  # noqa: E402

from .._harness import best_time  # noqa: E402


def best(f, *args, n=20):
    """Best of `n` calls of `f(*args)` after one warm-up (compilation)."""
    return best_time(lambda: f(*args), n)


def main():
    alpha = Quantity([0.9, 0.4], "angstrom**3")
    for mode, n_mol in (("molecule", 216), ("all", 64)):
        pos, system = water_box(n_mol, key=jax.random.PRNGKey(0))
        size = 3 if mode == "molecule" else None
        model = DipoleInducedDipole(alpha, 0.5, interactions=mode, molecule_size=size)
        value = jax.jit(lambda m, p, s: m(p, s))
        grad = jax.jit(jax.grad(lambda m, p, s: jnp.sum(m(p, s) ** 2), argnums=(0, 1)))
        for dtype in (jnp.float32, jnp.float64):
            p = pos.astype(dtype)
            t, tg = best(value, model, p, system), best(grad, model, p, system)
            print(
                f"{mode:8s} {n_mol:3d} waters ({3 * n_mol} atoms) {np.dtype(dtype).name}: "
                f"{t * 1e3:.3f} ms/frame, grad {tg * 1e3:.3f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
