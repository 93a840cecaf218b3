"""Fit Stillinger–Weber silicon to elastic constants and phonon frequencies at Γ, X, L together.

    python docs/examples/silicon_phonon_fit.py [--out silicon_phonon_fit.json]

What it does (measured outcome: docs/silicon-phonons.md):

1. Targets: the bundled C11, C12, C44 (`solids/silicon_elastic_mcskimin1953`) and the eight
   phonon frequencies at Γ, X, L (`solids/silicon_phonons_nilsson1972`).
2. Model: 0 K relaxed elastic constants of the 8-atom cell and harmonic frequencies of the
   2-atom primitive cell (3×3×3 supercell) at a₀ = 5.431 Å, both by automatic
   differentiation; each measured phonon label is the mean of its degenerate sorted
   branches, so the residuals are differentiable through the degeneracies.
3. Residuals r_i = (model_i − expt_i)/expt_i (11 of them, equal weights: the datasets give
   no uncertainties); parameters log ε and log λ (the two independent harmonic force
   constants of SW at fixed a₀, see docs/examples/silicon_elastic.py); Gauss–Newton /
   trust-region (`scipy.optimize.least_squares`) with the exact Jacobian from `jax.jacfwd`.
4. Reports before/after values, the singular values of the Jacobian with respect to
   log(ε, λ, A, γ) at the start (identifiability) and of the fitted pair.
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.datasets import load_dataset  # noqa: E402
from spectrinv.mechanics import (  # noqa: E402
    GPA_PER_INTERNAL,
    cubic_constants,
    elastic_constants_internal,
    force_constants,
    frequencies_from_squared,
)
from spectrinv.potentials import StillingerWeber, System, diamond_lattice  # noqa: E402

A0 = 0.5431  # nm
EV_PER_KJ_MOL = float((Quantity(1.0, "kJ/mol") / Quantity(1.0, "N_A")).m_as("eV"))
QS = jnp.asarray([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.5, 0.5, 0.5]])  # Γ, X, L
#: (point index, sorted branches averaged) per phonon label
BRANCHES = {
    "Gamma_LTO": (0, [3, 4, 5]),
    "X_TA": (1, [0, 1]),
    "X_LA": (1, [2, 3]),
    "X_TO": (1, [4, 5]),
    "L_TA": (2, [0, 1]),
    "L_LA": (2, [2]),
    "L_LO": (2, [3]),
    "L_TO": (2, [4, 5]),
}


def primitive():
    cell = 0.5 * A0 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    pos = jnp.asarray(np.array([[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]]) @ cell)
    system = System(
        box=jnp.asarray(cell), species=jnp.zeros(2, dtype=jnp.int32), masses=jnp.full(2, 28.0855)
    )
    return pos, system


def predictions(model, cubic, prim):
    """(C11, C12, C44) in GPa and the eight phonon frequencies in THz, one array [11]."""
    c = elastic_constants_internal(model, *cubic) * GPA_PER_INTERNAL
    c11, c12, c44 = cubic_constants(c)
    nu = frequencies_from_squared(force_constants(model, *prim, (3, 3, 3)).squared_frequencies(QS))
    phonons = [jnp.mean(nu[p, jnp.asarray(idx)]) for p, idx in BRANCHES.values()]
    return jnp.stack([c11, c12, c44, *phonons])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="silicon_phonon_fit.json")
    args = ap.parse_args()
    start = time.perf_counter()
    elastic = load_dataset("solids/silicon_elastic_mcskimin1953")
    phonon = load_dataset("solids/silicon_phonons_nilsson1972")
    labels = ["C11", "C12", "C44", *BRANCHES]
    target = np.array(
        [elastic.value(k)[0].m_as("GPa") for k in labels[:3]]
        + [phonon.value(k)[0].m_as("THz") for k in labels[3:]]
    )
    base = StillingerWeber(cutoff_margin=0.0)
    cubic, prim = diamond_lattice(1), primitive()
    names = ("epsilon", "lam", "A", "gamma")

    def with_logs(logs, fitted):
        model = base
        for name, x in zip(fitted, logs, strict=True):
            model = eqx.tree_at(lambda m, name=name: getattr(m, name), model, jnp.exp(x))
        return model

    def residuals(logs, fitted=("epsilon", "lam")):
        return predictions(with_logs(logs, fitted), cubic, prim) / target - 1.0

    x_all = jnp.log(jnp.asarray([getattr(base, n) for n in names]))
    jac_all = np.asarray(jax.jacfwd(lambda x: residuals(x, names))(x_all))
    x0 = np.asarray(x_all[:2])
    jac = jax.jit(jax.jacfwd(residuals))
    fun = jax.jit(residuals)
    fit = scipy.optimize.least_squares(
        lambda x: np.asarray(fun(jnp.asarray(x))),
        x0,
        jac=lambda x: np.asarray(jac(jnp.asarray(x))),
        x_scale="jac",
    )
    before = np.asarray(predictions(base, cubic, prim))
    after = np.asarray(predictions(with_logs(jnp.asarray(fit.x), names[:2]), cubic, prim))
    out = {
        "labels": labels,
        "experiment": target.tolist(),
        "units": ["GPa"] * 3 + ["THz"] * 8,
        "before": before.tolist(),
        "after": after.tolist(),
        "rms_relative_error_before": float(np.sqrt(np.mean((before / target - 1) ** 2))),
        "rms_relative_error_after": float(np.sqrt(np.mean((after / target - 1) ** 2))),
        "epsilon_eV": {
            "before": float(base.epsilon) * EV_PER_KJ_MOL,
            "after": float(np.exp(fit.x[0])) * EV_PER_KJ_MOL,
        },
        "lam": {"before": float(base.lam), "after": float(np.exp(fit.x[1]))},
        "jacobian_singular_values_log_eps_lam_A_gamma": np.linalg.svd(
            jac_all, compute_uv=False
        ).tolist(),
        "jacobian_singular_values_fitted": np.linalg.svd(fit.jac, compute_uv=False).tolist(),
        "function_evaluations": int(fit.nfev),
        "seconds": time.perf_counter() - start,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{'':10s} {'expt':>8s} {'SW':>8s} {'dev':>7s} {'fitted':>8s} {'dev':>7s}")
    for k, e, b, a in zip(labels, target, before, after, strict=True):
        db, da = 100 * (b / e - 1), 100 * (a / e - 1)
        print(f"{k:10s} {e:8.2f} {b:8.2f} {db:+6.1f}% {a:8.2f} {da:+6.1f}%")
    print(
        f"rms relative error {out['rms_relative_error_before']:.3f} -> "
        f"{out['rms_relative_error_after']:.3f}; epsilon {out['epsilon_eV']['before']:.4f} -> "
        f"{out['epsilon_eV']['after']:.4f} eV, lambda {out['lam']['before']:.3f} -> "
        f"{out['lam']['after']:.3f}"
    )
    print(
        "singular values, d r / d log(eps, lam, A, gamma):",
        out["jacobian_singular_values_log_eps_lam_A_gamma"],
    )
    print(
        "singular values at the fit, d r / d log(eps, lam):", out["jacobian_singular_values_fitted"]
    )
    print(f"{fit.nfev} evaluations, {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
