"""Fit Stillinger–Weber silicon to the experimental elastic constants C11, C12, C44.

    python docs/examples/silicon_elastic.py [--steps 300] [--lr 0.03] [--out silicon_elastic.json]

What it does (measured outcome and discussion: docs/reproductions/silicon.md):

1. Loads the bundled experimental constants (`solids/silicon_elastic_mcskimin1953`, GPa) and
   builds a `spectrinv.losses.RelativeError` on (C11, C12, C44): L = mean of squared
   relative errors.
2. Computes the static (0 K) relaxed Voigt stiffness of the 8-atom diamond cell at
   a₀ = 5.431 Å with `spectrinv.mechanics` (autodiff Hessian under Lagrangian strain,
   internal relaxation by C = C⁰ − ΛᵀH⁻¹Λ/V₀), starting from the original SW parameters.
3. Optimises log ε and log λ with optax Adam through `jax.value_and_grad` of the loss
   (gradients of the elastic constants with respect to the potential's parameters).

Why ε and λ. With the cutoff between the first and second neighbour shells, the harmonic
response of SW diamond at fixed a₀ has exactly two independent force constants: the radial
two-body stiffness ∝ ε·A·f₂''(r₀) and the bond-bending three-body one ∝ ε·λ·g(r₀)² (the
three-body term vanishes at the tetrahedral angle, with its first derivative under uniform
scaling, so it does not enter the stress or the bulk modulus). A and γ only duplicate these
two directions, while σ, B and a move the equilibrium lattice constant (the reference would
be stressed). The script measures this: the Jacobian of (C11, C12, C44) with respect to
log(ε, λ, A, γ) has rank 2. ε and λ span the two directions, keep a₀ = 5.431 Å exact, and
keep the parameter meaning simple (overall energy scale, three-body strength); the price is
that the cohesive energy −2ε per atom moves with ε.

Runs in about a minute on a 2-core CPU (float64; most of it XLA compilation).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import spectrinv  # noqa: E402
from observables import Quantity  # noqa: E402
from spectrinv.datasets import load_dataset  # noqa: E402
from spectrinv.losses import Reference, RelativeError  # noqa: E402
from spectrinv.mechanics import (  # noqa: E402
    GPA_PER_INTERNAL,
    cubic_constants,
    elastic_constants,
    strain_hessian,
)
from spectrinv.potentials import StillingerWeber, diamond_lattice  # noqa: E402

EV = float(Quantity(1.0, "eV").m_as("J")) * 6.02214076e23 / 1e3  # kJ/mol per eV
LABELS = ("C11", "C12", "C44")
FITTED = ("epsilon", "lam")


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.03, help="Adam step on log(parameter)")
    ap.add_argument("--out", default="silicon_elastic.json")
    ap.add_argument("--no-check-64", action="store_true", help="skip the 64-atom cross-check")
    return ap.parse_args()


def with_log(params, static, logs, names=FITTED):
    """The potential with the parameters `names` set to exp(logs[name])."""
    p = params
    for name in names:
        p = eqx.tree_at(lambda q, name=name: getattr(q, name), p, jnp.exp(logs[name]))
    return eqx.combine(p, static)


def constants_gpa(pot, pos, system):
    """(C11, C12, C44 relaxed, C44 unrelaxed) in GPa, shape [4]."""
    h = strain_hessian(pot, pos, system)
    c11, c12, c44 = cubic_constants(h.relaxed())
    c44_0 = cubic_constants(h.unrelaxed())[2]
    return jnp.stack([c11, c12, c44, c44_0]) * GPA_PER_INTERNAL


def identifiability(params, static, pos, system):
    """Singular values (GPa) of the Jacobian of (C11, C12, C44) w.r.t. the logs of the
    stress-free parameters ε, λ, A, γ."""
    names4 = ("epsilon", "lam", "A", "gamma")

    def c3_of(logs4):
        return constants_gpa(with_log(params, static, logs4, names4), pos, system)[:3]

    jac = jax.jacfwd(c3_of)({n: jnp.log(getattr(params, n)) for n in names4})
    jmat = np.stack([np.asarray(jac[n]) for n in names4], axis=1)  # [3, 4] GPa per log-unit
    return np.linalg.svd(jmat, compute_uv=False)


def fit(step_fn, logs, steps, lr):
    """Adam on the log-parameters; returns the final logs, the history (every 10th step) and
    (loss, prediction) before and after."""
    opt = optax.adam(lr)
    state = opt.init(logs)
    history = []
    before, _ = step_fn(logs)
    for k in range(steps):
        (val, pred), grad = step_fn(logs)
        if k % 10 == 0 or k == steps - 1:
            history.append(
                {
                    "step": k,
                    "loss": float(val),
                    **{n: float(jnp.exp(logs[n])) for n in FITTED},
                    **{lab: float(pred[i]) for i, lab in enumerate(LABELS)},
                }
            )
        updates, state = opt.update(grad, state)
        logs = optax.apply_updates(logs, updates)
    after, _ = step_fn(logs)
    return logs, history, before, after


def kleinman_zeta(h, system):
    """Kleinman's ζ: under the shear η4 = 2η_yz the B sublattice shifts relative to A by
    u_x = −ζ (a0/4) η4; ζ = 0 follows the homogeneous strain, ζ = 1 keeps all four bond
    lengths unchanged to first order (Kleinman, Phys. Rev. 128, 2614 (1962))."""
    u = np.asarray(h.internal_strain())[:, :, 3]  # nm per unit Voigt η4
    a0 = float(system.box[0])
    rel = u[4:, 0].mean() - u[:4, 0].mean()  # relative x-shift of sublattice B
    return -rel / (a0 / 4)


def diagnostics(pot, pos, system):
    """Stress (the lattice constant stays at equilibrium), the Γ optical phonon, ζ and the
    cohesive energy of `pot` in the 8-atom cell."""
    h = strain_hessian(pot, pos, system)
    # Γ optical mode: the two fcc sublattices (atoms 0-3, 4-7) moving against each other
    e = np.zeros((8, 3))
    e[:4, 0], e[4:, 0] = 1.0, -1.0
    e = e.ravel()
    hmat = np.asarray(h.internal_internal)
    m = np.repeat(np.asarray(system.masses), 3)
    w2 = e @ hmat @ e / (e @ (m * e))  # 1/ps²
    resid = np.linalg.norm(hmat @ e - w2 * m * e) / np.linalg.norm(hmat @ e)
    nu = np.sqrt(w2) / (2 * np.pi)  # THz
    return {
        "max_abs_stress_GPa": float(np.abs(np.asarray(h.stress)).max() * GPA_PER_INTERNAL),
        "gamma_optical_THz": float(nu),
        "gamma_optical_cm-1": float(Quantity(nu, "THz").to("1/cm", "spectroscopy").m),
        "gamma_mode_eigen_residual": float(resid),
        "kleinman_zeta": float(kleinman_zeta(h, system)),
        "cohesive_energy_eV": float(2 * pot.epsilon / EV),
    }


def check_64(sw1):
    """(C11, C12, C44) in GPa of the fitted potential in the 64-atom cell with a list."""
    # jax-md's list builder mixes int32/int64 internally: run it under standard promotion
    with jax.numpy_dtype_promotion("standard"):
        from jax_md import partition, space

        pos2, system2 = diamond_lattice(2)
        disp, _ = space.periodic(system2.box)
        nbr = partition.neighbor_list(
            disp, system2.box, sw1.cutoff, capacity_multiplier=1.25, format=partition.Dense
        ).allocate(pos2)
    return [
        float(x.m_as("GPa"))
        for x in cubic_constants(elastic_constants(sw1, pos2, system2, neighbors=nbr))
    ]


def _row(name, values):
    return f"{name:8s} " + "  ".join(f"{float(x):8.2f}" for x in values)


def report(r) -> None:
    """Print the outcome held in the dict `r`."""
    rank = int(np.sum(r["sv"] > 1e-8 * r["sv"][0]))
    print("data:", r["data"].citation())
    print(
        "public API, original SW: C11, C12, C44 =", ", ".join(f"{x:.2f}" for x in r["check"]), "GPa"
    )
    print(
        "Jacobian d(C11, C12, C44)/d log(eps, lam, A, gamma): singular values (GPa)",
        np.array2string(r["sv"], precision=4),
        f"-> rank {rank}",
    )
    print(f"{'':8s} {'C11':>8s}  {'C12':>8s}  {'C44':>8s}  {'C44^0':>8s}   (GPa; C44^0 unrelaxed)")
    print(f"{'exp':8s} " + "  ".join(f"{r['exp'][lab]:8.2f}" for lab in LABELS))
    (l0, pred0), (l1, pred1) = r["before"], r["after"]
    print(_row("before", pred0) + f"   loss {float(l0):.6f}")
    print(_row("after", pred1) + f"   loss {float(l1):.6f}")
    params, sw1 = r["params"], r["sw1"]
    for n in FITTED:
        print(f"{n:8s} {float(getattr(params, n)):.6g} -> {float(getattr(sw1, n)):.6g}")
    print(f"epsilon in eV: {float(params.epsilon) / EV:.5f} -> {float(sw1.epsilon) / EV:.5f}")
    for key in r["d0"]:
        print(f"{key:28s} {r['d0'][key]:.6g} -> {r['d1'][key]:.6g}")
    if r["c64"] is not None:
        print(
            "64-atom cell (2x2x2, neighbour list), fitted parameters: C11, C12, C44 =",
            ", ".join(f"{x:.4f}" for x in r["c64"]),
        )


def result_json(args, r, wall) -> dict:
    """The record written to `--out`."""
    (l0, pred0), (l1, pred1) = r["before"], r["after"]
    params, sw1 = r["params"], r["sw1"]
    return {
        "command": "python docs/examples/silicon_elastic.py "
        + f"--steps {args.steps} --lr {args.lr} --out {args.out}",
        "dataset": "solids/silicon_elastic_mcskimin1953",
        "experimental_GPa": r["exp"],
        "cell": "8-atom conventional diamond cell, a0 = 5.431 Angstrom, 0 K, relaxed constants",
        "fitted_parameters": list(FITTED),
        "optimizer": {
            "name": "adam",
            "learning_rate": args.lr,
            "steps": args.steps,
            "on": "log(parameter)",
        },
        "jacobian_singular_values_GPa": r["sv"].tolist(),
        "before": {
            "loss": float(l0),
            **{n: float(getattr(params, n)) for n in FITTED},
            **{lab: float(pred0[i]) for i, lab in enumerate(LABELS)},
            "C44_unrelaxed": float(pred0[3]),
            **r["d0"],
        },
        "after": {
            "loss": float(l1),
            **{n: float(getattr(sw1, n)) for n in FITTED},
            **{lab: float(pred1[i]) for i, lab in enumerate(LABELS)},
            "C44_unrelaxed": float(pred1[3]),
            **r["d1"],
        },
        "check_64_atoms_after_GPa": r["c64"],
        "history": r["history"],
        "units": {"epsilon": "kJ/mol", "lam": "dimensionless", "C": "GPa"},
        "versions": {
            "spectrinv": spectrinv.__version__,
            "jax": jax.__version__,
            "optax": optax.__version__,
            "python": platform.python_version(),
        },
        "wall_seconds": wall,
    }


def main() -> None:
    args = _parse()
    t_start = time.time()

    data = load_dataset("solids/silicon_elastic_mcskimin1953")
    loss = RelativeError(Reference(data, y_unit="GPa", label=LABELS), name="elastic")
    exp = {lab: float(data.value(lab)[0].m_as("GPa")) for lab in LABELS}

    pos, system = diamond_lattice(1)  # 8 atoms, a0 = 5.431 Å
    sw0 = StillingerWeber(cutoff_margin=0.0)  # true range a·σ: exact in the 8-atom cell
    c_check = elastic_constants(sw0, pos, system)  # public API: checks images and forces
    params, static = eqx.partition(sw0, eqx.is_inexact_array)

    def objective(logs):
        pred = constants_gpa(with_log(params, static, logs), pos, system)
        return loss(pred[:3]), pred

    logs0 = {name: jnp.log(getattr(params, name)) for name in FITTED}
    step_fn = jax.jit(jax.value_and_grad(objective, has_aux=True))
    sv = identifiability(params, static, pos, system)

    t_fit = time.time()
    logs, history, before, after = fit(step_fn, logs0, args.steps, args.lr)
    t_fit = time.time() - t_fit
    sw1 = with_log(params, static, logs)

    r = dict(data=data, exp=exp, sv=sv, before=before, after=after, params=params, sw1=sw1)
    r.update(history=history, check=[float(x.m_as("GPa")) for x in cubic_constants(c_check)])
    r.update(d0=diagnostics(sw0, pos, system), d1=diagnostics(sw1, pos, system))
    r["c64"] = None if args.no_check_64 else check_64(sw1)
    report(r)
    wall = time.time() - t_start
    print(f"fit: {args.steps} Adam steps in {t_fit:.1f} s; total {wall:.1f} s")
    with open(args.out, "w") as fh:
        json.dump(result_json(args, r, wall), fh, indent=2)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
