"""Fit SW or EDIP silicon to elastic constants and phonon frequencies at Γ, X, L together.

    python docs/examples/silicon_phonon_fit.py [--potential sw|edip] [--free-equilibrium]
        [--equilibrium-weight 100] [--rank-rtol 1e-3] [--out FILE.json]

What it does (measured outcome: docs/silicon-phonons.md):

1. Targets: the bundled C11, C12, C44 (`solids/silicon_elastic_mcskimin1953`) and the eight
   phonon frequencies at Γ, X, L (`solids/silicon_phonons_nilsson1972`).
2. Model: 0 K relaxed elastic constants of the 8-atom cell and harmonic frequencies of the
   2-atom primitive cell (3×3×3 supercell) at a₀ = 5.431 Å, both by automatic
   differentiation; each measured phonon label is the mean of its degenerate sorted
   branches, so the residuals are differentiable through the degeneracies.
3. Residuals r_i = (model_i − expt_i)/expt_i (11 of them, equal weights: the datasets give
   no uncertainties); parameters are logarithms of the potential's parameters (log|p| with
   the sign kept for a negative one); Gauss–Newton / trust-region
   (`scipy.optimize.least_squares`) with the exact Jacobian from `jax.jacfwd`.
4. Identifiability: singular values of the Jacobian with respect to the logs of the
   candidate parameters at the published parameters.
   - `sw`: log(ε, λ, A, γ); ε and λ are fitted (the two independent harmonic force
     constants of SW at fixed a₀, see docs/examples/silicon_elastic.py).
   - `edip`: every continuous parameter of `EDIP` (17); the numerical rank k is the number
     of singular values above `--rank-rtol` × the largest, and the k parameters fitted are
     the first k column pivots of a pivoted QR factorisation of that Jacobian (greedily the
     best-determined, least-redundant parameters). Unlike SW's ε and λ, EDIP's parameters
     move the equilibrium: by default two residuals are added, w × the pressure at a₀ over
     the measured bulk modulus (C11 + 2 C12)/3 and w × the relative deviation of the energy
     per atom from published EDIP's (−4.650 eV), w = `--equilibrium-weight` (100: a
     stiff penalty); `--free-equilibrium` fits the 11 data alone.
5. Uncertainty: the data carry no uncertainties, so the residual variance is estimated from
   the fit, s² = Σr²/(n − p), and cov(log p) = s² (JᵀJ)⁻¹ at the fit (the usual nonlinear
   least-squares standard errors; this treats the model's inadequacy as if it were random
   noise). Reported: standard errors, correlation matrix, condition number of J.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
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
from spectrinv.potentials import EDIP, StillingerWeber, System, diamond_lattice  # noqa: E402

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
LABELS = ["C11", "C12", "C44", *BRANCHES]
#: reporting units of the parameters: (unit, factor from the internal kJ/mol or nm)
EDIP_UNITS = {
    **{k: ("eV", EV_PER_KJ_MOL) for k in ("A", "lam")},
    **{k: ("angstrom", 10.0) for k in ("B", "sigma", "a", "c", "gamma")},
}
SW_UNITS = {"epsilon": ("eV", EV_PER_KJ_MOL)}


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


def energy_and_pressure(model, cubic):
    """Energy per atom (eV) and static pressure −dU/dV (GPa) of the cubic cell at a₀ (jax
    scalars, differentiable with respect to the model's parameters)."""
    positions, system = cubic

    def energy(scale):
        scaled = eqx.tree_at(lambda s: s.box, system, system.box_matrix * scale)
        return model.energy(positions * scale, scaled)

    volume = jnp.abs(jnp.linalg.det(system.box_matrix))
    pressure = -jax.grad(energy)(1.0) / (3.0 * volume) * GPA_PER_INTERNAL
    return energy(1.0) * EV_PER_KJ_MOL / positions.shape[0], pressure


def targets():
    """The 11 measured values: C11, C12, C44 in GPa, then the phonons in THz."""
    elastic = load_dataset("solids/silicon_elastic_mcskimin1953")
    phonon = load_dataset("solids/silicon_phonons_nilsson1972")
    return np.array(
        [elastic.value(k)[0].m_as("GPa") for k in LABELS[:3]]
        + [phonon.value(k)[0].m_as("THz") for k in LABELS[3:]]
    )


def parameter_names(model):
    """Names of the model's scalar array leaves (its continuous parameters), in field order."""
    return tuple(
        f.name
        for f in dataclasses.fields(model)
        if eqx.is_array(getattr(model, f.name)) and jnp.ndim(getattr(model, f.name)) == 0
    )


class LogModel:
    """`base` with the parameters `names` replaced by sign·exp(x) (x = log|p|)."""

    def __init__(self, base, names):
        self.base, self.names = base, tuple(names)
        values = np.array([float(getattr(base, n)) for n in self.names])
        if np.any(values == 0):
            zero = [n for n, v in zip(self.names, values, strict=True) if v == 0]
            raise ValueError(f"cannot take the log of zero-valued parameters {zero}")
        self.signs = np.sign(values)
        self.x0 = np.log(np.abs(values))

    def __call__(self, x):
        model = self.base
        for name, xi, s in zip(self.names, x, self.signs, strict=True):
            model = eqx.tree_at(lambda m, name=name: getattr(m, name), model, s * jnp.exp(xi))
        return model


def residual_function(log_model, target, cubic, prim, equilibrium=None):
    """x ↦ model/experiment − 1 for the 11 targets; with `equilibrium` = (bulk modulus in
    GPa, energy per atom in eV, weight w) two more: w × the pressure at a₀ over the bulk
    modulus (the relative volume misfit of the equilibrium) and w × the relative deviation
    of the energy per atom from the given one."""

    def residuals(x):
        model = log_model(x)
        r = predictions(model, cubic, prim) / target - 1.0
        if equilibrium is None:
            return r
        energy, pressure = energy_and_pressure(model, cubic)
        bulk, energy0, weight = equilibrium
        extra = weight * jnp.stack([pressure / bulk, energy / energy0 - 1.0])
        return jnp.concatenate([r, extra])

    return residuals


def standard_errors(jac, residuals):
    """Nonlinear least-squares standard errors at a fit, from the Jacobian `[n, p]` and the
    residuals `[n]` there.

    s² = Σr²/(n − p) (the residual variance estimated from the fit), cov = s² (JᵀJ)⁻¹
    (computed from the SVD of J), standard errors √diag(cov), correlation cov_ij/(se_i se_j),
    condition number σ_max/σ_min of J. Returns a dict with those (plain floats / lists).
    """
    jac, residuals = np.asarray(jac, dtype=float), np.asarray(residuals, dtype=float)
    n, p = jac.shape
    if residuals.shape != (n,) or n <= p:
        raise ValueError(
            f"need residuals [n] with n > p for Jacobian [n, p] = {jac.shape}, "
            f"got residuals of shape {residuals.shape}"
        )
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    s2 = float(residuals @ residuals) / (n - p)
    cov = s2 * (vt.T / sv**2) @ vt
    se = np.sqrt(np.diag(cov))
    return {
        "residual_variance": s2,
        "degrees_of_freedom": n - p,
        "covariance": cov.tolist(),
        "standard_errors": se.tolist(),
        "correlation": (cov / np.outer(se, se)).tolist(),
        "condition_number": float(sv[0] / sv[-1]),
    }


def select_parameters(jac, names, rtol):
    """Numerical rank k of `jac` (singular values > rtol·σ_max) and the first k column
    pivots of its pivoted QR factorisation (names, in pivot order)."""
    sv = np.linalg.svd(jac, compute_uv=False)
    rank = int(np.sum(sv > rtol * sv[0]))
    _, r, piv = scipy.linalg.qr(jac, mode="economic", pivoting=True)
    return rank, [names[i] for i in piv[:rank]], np.abs(np.diag(r)).tolist()


def fit(log_model, target, cubic, prim, equilibrium=None):
    """least_squares over log_model's parameters from their published values."""
    residuals = residual_function(log_model, target, cubic, prim, equilibrium)
    jac = jax.jit(jax.jacfwd(residuals))
    fun = jax.jit(residuals)
    return scipy.optimize.least_squares(
        lambda x: np.asarray(fun(jnp.asarray(x))),
        log_model.x0,
        jac=lambda x: np.asarray(jac(jnp.asarray(x))),
        x_scale="jac",
    )


def physical(name, value, units):
    """A parameter value (internal units) in its reporting unit."""
    return float(value) * units.get(name, ("", 1.0))[1]


def parameter_report(log_model, result, errors, units):
    """{name: {unit, before, after, standard_error, relative_standard_error}} (linearised:
    se(p) = |p|·se(log|p|))."""
    out = {}
    for i, name in enumerate(log_model.names):
        after = log_model.signs[i] * np.exp(result.x[i])
        rel = errors["standard_errors"][i]
        out[name] = {
            "unit": units.get(name, ("1", 1.0))[0],
            "before": physical(name, getattr(log_model.base, name), units),
            "after": physical(name, after, units),
            "standard_error": abs(physical(name, after, units)) * rel,
            "relative_standard_error": rel,
        }
    return out


def print_table(target, before, after, name):
    print(f"{'':10s} {'expt':>8s} {name:>8s} {'dev':>7s} {'fitted':>8s} {'dev':>7s}")
    for k, e, b, a in zip(LABELS, target, before, after, strict=True):
        db, da = 100 * (b / e - 1), 100 * (a / e - 1)
        print(f"{k:10s} {e:8.2f} {b:8.2f} {db:+6.1f}% {a:8.2f} {da:+6.1f}%")


def state_report(base, fitted, cubic):
    """Energy per atom and pressure at a₀ before and after the fit, and a printed line."""
    (e0, p0), (e1, p1) = ([float(v) for v in energy_and_pressure(m, cubic)] for m in (base, fitted))
    print(
        f"at a0 = 5.431 A: energy {e0:.4f} -> {e1:.4f} eV/atom, pressure {p0:.3f} -> {p1:.3f} GPa"
    )
    return {"energy_eV_per_atom": [e0, e1], "pressure_GPa": [p0, p1]}


def print_uncertainty(params, errors):
    print(
        f"standard errors (s^2 = sum r^2/(n-p) = {errors['residual_variance']:.4g}, "
        f"n - p = {errors['degrees_of_freedom']}; model inadequacy treated as noise):"
    )
    for name, p in params.items():
        print(
            f"  {name:8s} {p['after']:.6g} +- {p['standard_error']:.3g} {p['unit']} "
            f"({100 * p['relative_standard_error']:.1f} %)"
        )
    corr = np.asarray(errors["correlation"])
    print("correlation matrix (fitted order):")
    for row in corr:
        print("  " + " ".join(f"{v:+.3f}" for v in row))
    print(f"condition number of J at the fit: {errors['condition_number']:.3g}")


def comparison_report(target, before, after, result, params, errors, start):
    """The JSON entries both fits write: data, predictions before and after, rms relative
    errors, the fitted Jacobian's singular values, parameters, uncertainty, cost."""
    return {
        "labels": LABELS,
        "experiment": target.tolist(),
        "units": ["GPa"] * 3 + ["THz"] * 8,
        "before": before.tolist(),
        "after": after.tolist(),
        "rms_relative_error_before": float(np.sqrt(np.mean((before / target - 1) ** 2))),
        "rms_relative_error_after": float(np.sqrt(np.mean((after / target - 1) ** 2))),
        "jacobian_singular_values_fitted": np.linalg.svd(result.jac, compute_uv=False).tolist(),
        "parameters": params,
        "uncertainty": errors,
        "function_evaluations": int(result.nfev),
        "seconds": time.perf_counter() - start,
    }


def run_sw(target, cubic, prim, start):
    base = StillingerWeber(cutoff_margin=0.0)
    names = ("epsilon", "lam", "A", "gamma")
    jac_all = np.asarray(
        jax.jacfwd(residual_function(LogModel(base, names), target, cubic, prim))(
            LogModel(base, names).x0
        )
    )
    log_model = LogModel(base, names[:2])
    result = fit(log_model, target, cubic, prim)
    before = np.asarray(predictions(base, cubic, prim))
    after = np.asarray(predictions(log_model(jnp.asarray(result.x)), cubic, prim))
    errors = standard_errors(result.jac, result.fun)
    params = parameter_report(log_model, result, errors, SW_UNITS)
    out = {
        "potential": "sw",
        **comparison_report(target, before, after, result, params, errors, start),
        "epsilon_eV": {"before": params["epsilon"]["before"], "after": params["epsilon"]["after"]},
        "lam": {"before": params["lam"]["before"], "after": params["lam"]["after"]},
        "jacobian_singular_values_log_eps_lam_A_gamma": np.linalg.svd(
            jac_all, compute_uv=False
        ).tolist(),
        "fitted": list(log_model.names),
    }
    print_table(target, before, after, "SW")
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
    out["before_after_state"] = state_report(base, log_model(jnp.asarray(result.x)), cubic)
    out["seconds"] = time.perf_counter() - start
    print_uncertainty(params, errors)
    print(f"{result.nfev} evaluations, {out['seconds']:.0f} s")
    return out


def run_edip(target, cubic, prim, start, rtol, free_equilibrium, weight):
    # neighbour-list cutoff 1.2 a = 3.75 A: the fit may lengthen EDIP's cutoff a, and no
    # pair of diamond lies between a and the second neighbours (3.84 A)
    base = EDIP(cutoff_margin=0.2)
    if free_equilibrium:
        equilibrium = None
    else:  # zero pressure at a0 (relative to the measured bulk modulus), EDIP's own energy
        bulk = (target[0] + 2 * target[1]) / 3
        equilibrium = (bulk, float(energy_and_pressure(base, cubic)[0]), weight)
    names = parameter_names(base)
    everything = LogModel(base, names)
    jac_all = np.asarray(
        jax.jacfwd(residual_function(everything, target, cubic, prim, equilibrium))(everything.x0)
    )
    _, sv_all, vt_all = np.linalg.svd(jac_all, full_matrices=False)
    rank, chosen, r_diag = select_parameters(jac_all, names, rtol)
    leading = [{names[j]: float(v[j]) for j in np.argsort(-np.abs(v))[:4]} for v in vt_all[:rank]]
    log_model = LogModel(base, chosen)
    result = fit(log_model, target, cubic, prim, equilibrium)
    before = np.asarray(predictions(base, cubic, prim))
    after = np.asarray(predictions(log_model(jnp.asarray(result.x)), cubic, prim))
    errors = standard_errors(result.jac, result.fun)
    params = parameter_report(log_model, result, errors, EDIP_UNITS)
    out = {
        "potential": "edip",
        "equilibrium_residuals": None
        if equilibrium is None
        else {
            "bulk_modulus_GPa": equilibrium[0],
            "energy_eV_per_atom": equilibrium[1],
            "weight": equilibrium[2],
            "final": result.fun[-2:].tolist(),
        },
        **comparison_report(target, before, after, result, params, errors, start),
        "candidate_parameters": list(names),
        "jacobian_singular_values_all": sv_all.tolist(),
        "jacobian_column_norms_all": dict(
            zip(names, np.linalg.norm(jac_all, axis=0).tolist(), strict=True)
        ),
        "rank_rtol": rtol,
        "numerical_rank": rank,
        "leading_right_singular_vectors_top4": leading,
        "pivoted_qr_abs_r_diagonal": r_diag,
        "fitted": chosen,
        "jacobian_singular_values_fitted_at_start": np.linalg.svd(
            jac_all[:, [names.index(n) for n in chosen]], compute_uv=False
        ).tolist(),
    }
    print_table(target, before, after, "EDIP")
    print(
        f"rms relative error {out['rms_relative_error_before']:.3f} -> "
        f"{out['rms_relative_error_after']:.3f}"
    )
    if equilibrium is not None:
        print(
            f"equilibrium residuals {equilibrium[2]:g} x (P/B (B = {equilibrium[0]:.2f} GPa), "
            "E/E0 - 1) "
            f"(E0 = {equilibrium[1]:.4f} eV/atom) at the fit: {result.fun[-2]:+.2e}, "
            f"{result.fun[-1]:+.2e}"
        )
    print(f"singular values, d r / d log|p| over all {len(names)} parameters:")
    print("  " + " ".join(f"{s:.3g}" for s in sv_all))
    print(
        "column norms:",
        ", ".join(f"{k} {v:.3g}" for k, v in out["jacobian_column_norms_all"].items()),
    )
    for i, v in enumerate(leading):
        print(f"  v{i + 1}: " + ", ".join(f"{k} {c:+.2f}" for k, c in v.items()))
    print(
        f"numerical rank (sigma > {rtol:g} sigma_max): {rank}; pivoted QR order: "
        + ", ".join(f"{n} ({d:.3g})" for n, d in zip(chosen, r_diag, strict=False))
    )
    print(
        "singular values of the fitted columns, start -> fit:",
        out["jacobian_singular_values_fitted_at_start"],
        "->",
        out["jacobian_singular_values_fitted"],
    )
    out["before_after_state"] = state_report(base, log_model(jnp.asarray(result.x)), cubic)
    out["seconds"] = time.perf_counter() - start
    a_fit = float(log_model(jnp.asarray(result.x)).a)
    if a_fit >= base.max_cutoff:
        raise RuntimeError(f"fitted cutoff a = {a_fit} nm reaches the neighbour-list cutoff")
    print_uncertainty(params, errors)
    print(f"{result.nfev} evaluations, {out['seconds']:.0f} s")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--potential", choices=("sw", "edip"), default="sw")
    ap.add_argument("--out", default=None, help="JSON output (default silicon_phonon_fit.json)")
    ap.add_argument(
        "--rank-rtol",
        type=float,
        default=1e-3,
        help="EDIP: singular values above rtol × the largest count towards the rank",
    )
    ap.add_argument(
        "--free-equilibrium",
        action="store_true",
        help="EDIP: fit the 11 data alone (default: also zero pressure at a0 and EDIP's "
        "energy per atom)",
    )
    ap.add_argument(
        "--equilibrium-weight",
        type=float,
        default=100.0,
        help="EDIP: weight w of the two equilibrium residuals (w·P/B, w·(E/E0 − 1))",
    )
    args = ap.parse_args()
    start = time.perf_counter()
    target = targets()
    cubic, prim = diamond_lattice(1), primitive()
    if args.potential == "sw":
        out = run_sw(target, cubic, prim, start)
        path = args.out or "silicon_phonon_fit.json"
    else:
        out = run_edip(
            target,
            cubic,
            prim,
            start,
            args.rank_rtol,
            args.free_equilibrium,
            args.equilibrium_weight,
        )
        path = args.out or "silicon_phonon_fit_edip.json"
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
