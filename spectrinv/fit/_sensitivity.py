r"""The sensitivity of a fit's compared predictions to its parameters, and their errors.

**Compared predictions.** Each target's loss compares a vector of predicted values with
data; these are stacked over all targets into $q(\theta)$:

- `PeakPosition`: the model's band centroids (x unit of the reference);
- `BandIntensity`: the model's integrated band intensities (y unit × x unit);
- `RelativeError`, and `ChiSquared` of a value (a pressure, a viscosity): the predicted
  value(s) (y unit of the reference);
- curve losses (`MeanSquaredError`, `ChiSquared`, `Wasserstein1`, ...): the model curve
  linearly interpolated onto the experimental points in the compared range (y unit; with
  `MeanSquaredError`'s normalisation applied, as the loss compares them). For losses that
  are not least squares (`Wasserstein1`) the curve values are a mean-square stand-in.

A `LossSum` contributes every term's vector.

**Sensitivity** $J = \partial q/\partial\theta$ by central finite differences with common
random numbers: every evaluation of a target runs its gradient strategy from the same
starting state with the same random key (and the same `Reweighting` reference), at
$\theta \pm h_j e_j$ with $h_j$ = `rel_step` $\cdot|\theta_j|$. The MD noise then largely
cancels in the difference, and $J$ is the slope of the same estimate the fit follows
($2p$ evaluations per target for $p$ parameters). An evaluation needs only the
observation, not the gradient: `AbstractGradient.observe` (forward-only for `Truncated`,
about a third of a gradient step's cost).

**Errors** (1σ per compared value, combined in quadrature):

- experimental: the dataset's uncertainty where it has one (`ChiSquared`'s σ, including an
  assumed `relative_uncertainty`); **without one, the loss's implied error** — the loss is
  (locally) $\sum_i w_i (q_i - d_i)^2$, and $s_i = 1/\sqrt{w_i}$ makes a change of the
  loss by 1 a change of $\chi^2$ by 1 (so such standard errors are "the change that raises
  the loss by 1", in the loss's own scale);
- simulation: the standard error the prediction carries where it has one (its
  `error_magnitude`: block errors of an RDF or a pressure, the weighted block error of a
  `Reweighting` average), per compared value; otherwise, with `noise=True`, from one more
  evaluation at $\theta$ with an independent random key: $s_\text{sim}^2$ = mean over
  each loss term's values of $(q^{(1)}_i - q^{(2)}_i)^2/2$ (one pooled variance per term:
  a rough, single-pair estimate). The carried error comes first because a `Reweighting`
  evaluation with a usable cached reference returns the same frames for any key, so the
  pair difference would be zero.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..losses import LossSum, Reference, as_curve
from ._md import equilibrate, init_state
from ._params import flat_parameters, select
from ._target import Target
from ._uncertainty import ParameterUncertainty, parameter_uncertainty

__all__ = [
    "fit_uncertainty",
    "identifiability",
    "final_uncertainty",
    "parameter_units",
    "compared_values",
    "Compared",
]

#: Internal units of the parameters of the bundled potentials, by (class, field), then by
#: field alone.
_UNITS_BY_CLASS = {
    ("HarmonicBond", "k"): "kJ/mol/nm**2",
    ("HarmonicAngle", "k"): "kJ/mol/rad**2",
    ("MorseBond", "width"): "1/nm",
    ("Morse", "stiffness"): "1/nm",
    ("Buckingham", "a"): "kJ/mol",
    ("Buckingham", "c"): "kJ/mol*nm**6",
    ("ChargeFluxDipole", "bond_flux"): "e/nm",
    ("ChargeFluxDipole", "angle_flux"): "e/rad",
    ("ChargeFluxDipole", "charge_scale"): "",
    ("BondChargeFluxDipole", "flux"): "e/nm",
}
_UNITS_BY_FIELD = {
    "sigma": "nm",
    "length": "nm",
    "r0": "nm",
    "rho": "nm",
    "epsilon": "kJ/mol",
    "depth": "kJ/mol",
    "well_depth": "kJ/mol",
    "theta0": "rad",
    "charge_oxygen": "e",
}


def parameter_units(potential: Any, names: Sequence[str]) -> list[str]:
    """The internal unit of each named parameter of `potential` (e.g. `"bond.k"` of
    `spc_fw()` → `"kJ/mol/nm**2"`), `""` where it is not known. Element names
    (`"epsilon[1]"`) take their array's unit."""
    owners: dict[str, tuple[str, str]] = {}
    for path, _ in jax.tree_util.tree_leaves_with_path(eqx.filter(potential, eqx.is_inexact_array)):
        name = jax.tree_util.keystr(path).lstrip(".")
        owner: Any = potential
        for key in path[:-1]:
            owner = getattr(owner, key.name) if hasattr(key, "name") else owner[key.idx]
        field = getattr(path[-1], "name", "")
        owners[name] = (type(owner).__name__, field)
    units = []
    for n in names:
        cls, field = owners.get(n.split("[")[0], ("", n.split(".")[-1]))
        units.append(_UNITS_BY_CLASS.get((cls, field), _UNITS_BY_FIELD.get(field, "")))
    return units


@dataclasses.dataclass(frozen=True)
class Compared:
    """One loss term's compared values: `label`, `values` `[k]` (`unit`), the data's 1σ
    `data_sigma` `[k]` or None, the loss's implied weights `weights` `[k]`, the
    prediction's own standard error `sim_sigma` `[k]` (same unit) or None."""

    label: str
    values: np.ndarray
    unit: str
    data_sigma: np.ndarray | None
    weights: np.ndarray
    sim_sigma: np.ndarray | None = None


def compared_values(loss: Any, observed: Any, observable: Any, label: str) -> list[Compared]:
    """The vectors a target's loss compares with its data (module docstring)."""
    if isinstance(loss, LossSum):
        out = []
        for name, w, term in zip(loss.names, loss.weights, loss.losses, strict=True):
            for c in compared_values(term, observed, observable, f"{label}/{name}"):
                out.append(dataclasses.replace(c, weights=w * c.weights))
        return out
    ref = getattr(loss, "reference", None)
    if not isinstance(ref, Reference):
        return [_generic_values(loss, observed, label)]
    if hasattr(loss, "positions") and hasattr(loss, "exp_positions"):  # PeakPosition
        q = np.asarray(loss.positions(observed), dtype=float)
        e = np.asarray(loss.exp_positions, dtype=float)
        w = np.full(q.shape, 1.0 / q.size)
        if getattr(loss, "relative", False):
            w = w / e**2
        return [Compared(label, q, ref.x_unit, None, w)]
    if hasattr(loss, "intensities") and hasattr(loss, "exp_intensities"):  # BandIntensity
        q = np.asarray(loss.intensities(observed), dtype=float)
        e = np.asarray(loss.exp_intensities, dtype=float)
        unit = f"{ref.y_unit}*{ref.x_unit}"
        return [Compared(label, q, unit, None, 1.0 / (q.size * e**2))]
    if not ref.is_curve:  # RelativeError, or ChiSquared of a value
        y = getattr(observed, "y_magnitude", observed)
        q = np.ravel(np.asarray(y, dtype=float))
        e = np.ravel(np.asarray(ref.y, dtype=float))
        err = getattr(observed, "error_magnitude", None)
        sim = None if err is None else np.broadcast_to(np.ravel(np.asarray(err, float)), q.shape)
        sigma = getattr(loss, "sigma", None)  # ChiSquared: the σ it divides by
        if sigma is not None:
            s = np.broadcast_to(np.ravel(np.asarray(sigma, dtype=float)), q.shape)
            return [Compared(label, q, ref.y_unit, s, 1.0 / (q.size * s**2), sim)]
        return [Compared(label, q, ref.y_unit, None, 1.0 / (q.size * e**2), sim)]
    return [_curve_values(loss, ref, observed, observable, label)]


def _curve_values(loss: Any, ref: Reference, observed: Any, observable: Any, label: str):
    if isinstance(observed, tuple) and len(observed) == 2:  # (x, y) in the loss's units
        curve = observed
    elif ref.model_x is not None and not hasattr(observed, "x_magnitude"):  # y on the grid
        curve = (ref.model_x, observed)
    else:
        curve = as_curve(observed, None, observable=observable)
    if curve is None:
        raise TypeError(f"{label}: the prediction has no curve to compare")
    xm, ym = np.asarray(curve[0], dtype=float), np.asarray(curve[1], dtype=float)
    x = np.asarray(ref.x, dtype=float)
    tol = 1e-9 * max(abs(xm[-1] - xm[0]), 1e-300)  # rounding of the model grid's ends
    keep = (x >= xm[0] - tol) & (x <= xm[-1] + tol)
    x = x[keep]
    q = np.interp(x, xm, ym)
    err = getattr(observed, "error_magnitude", None)
    sim = None if err is None else np.interp(x, xm, np.asarray(err, dtype=float))
    sigma = getattr(loss, "sigma", None)  # ChiSquared: the σ it divides by
    if sigma is None and ref.uncertainty is not None:
        sigma = ref.uncertainty
    sigma = None if sigma is None else np.asarray(sigma, dtype=float)[keep]
    norm = getattr(loss, "normalisation", None)
    if norm is not None:
        mask = jnp.ones(x.shape)
        e = np.asarray(ref.y, dtype=float)[keep]
        ne = np.asarray(norm(jnp.asarray(x), jnp.asarray(e), mask), dtype=float)
        q = np.asarray(norm(jnp.asarray(x), jnp.asarray(q), mask), dtype=float)
        if sigma is not None:  # a normalisation rescales the data: σ scales with it
            ratio = np.divide(ne, e, out=np.ones_like(e), where=e != 0)
            sigma = sigma * np.abs(ratio)
        sim = None  # the carried error is not normalised: the pair estimate is used
    unit = ref.y_unit if norm is None or type(norm).__name__ == "Absolute" else "normalised"
    return Compared(label, q, unit, sigma, np.full(q.shape, 1.0 / q.size), sim)


def _generic_values(loss: Any, observed: Any, label: str) -> Compared:
    """Any other loss of the observed arrays: the compared values are the observed float
    leaves, flattened, and the implied weights the diagonal of half the loss's Hessian with
    respect to them (the weights of a sum of squares; values with weight <= 0 carry no
    information and get weight 0)."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(observed)]
    leaves = [x for x in leaves if x.dtype.kind == "f"]
    if not leaves:
        raise TypeError(f"{label}: the prediction has no floating-point values to compare")
    flat, unravel = ravel_pytree(jax.tree.map(jnp.asarray, observed))
    if flat.size > 4096:
        raise ValueError(
            f"{label}: {flat.size} predicted values are too many for the Hessian of a custom "
            "loss; use a spectrinv.losses loss (its compared values are read directly)"
        )
    hess = jax.hessian(lambda v: loss(unravel(v)))(flat)
    w = np.clip(np.diag(np.asarray(hess, dtype=float)) / 2, 0.0, None)
    return Compared(label, np.asarray(flat, dtype=float), "", None, w)


# ------------------------------------------------------------------------------ evaluation
def _flat_names(params: Any) -> list[str]:
    names = []
    for name, x in flat_parameters(params).items():
        size = int(np.size(x))
        names += [name] if size == 1 and np.ndim(x) == 0 else [f"{name}[{i}]" for i in range(size)]
    return names


@dataclasses.dataclass
class _Evaluator:
    """The compared values of one target as a function of the flat parameter vector, every
    evaluation starting from the same saved configuration (common random numbers)."""

    target: Target
    static: Any
    unravel: Any
    dtype: Any
    cfg: dict
    cache: Any

    def __call__(self, theta: np.ndarray, key: Any) -> list[Compared]:
        t = self.target
        params = self.unravel(jnp.asarray(theta, self.dtype))
        potential = eqx.combine(params, self.static)
        state = init_state(t, potential, self.cfg)
        observed = t.gradient.observe(
            t.objective,
            params,
            self.static,
            backend=t.backend,
            system=t.system,
            state=state,
            key=key,
            cache=self.cache,
        )
        return _stack(t, observed)


def _stack(target: Target, observed) -> list[Compared]:
    return compared_values(target.objective.loss, observed, target.objective.observe, target.name)


def _sigmas(base: list[Compared], other: list[Compared] | None, sources: set) -> list:
    """1σ of every compared value: data (or loss-implied) error, plus the simulation
    noise: the prediction's own standard error, else that from the independent evaluation
    `other` (module docstring)."""
    out = []
    for m, c in enumerate(base):
        if c.data_sigma is not None:
            s2, src = c.data_sigma**2, "dataset uncertainty"
        else:
            with np.errstate(divide="ignore"):
                s2, src = 1.0 / c.weights, "loss weights (no dataset uncertainty)"
        sources.add(f"{c.label}: {src}")
        if c.sim_sigma is not None:
            s2 = s2 + c.sim_sigma**2
            sources.add(f"{c.label}: + the prediction's standard error")
        elif other is not None:
            s2 = s2 + np.mean((c.values - other[m].values) ** 2) / 2
        out.append(np.sqrt(s2))
    return out


def fit_uncertainty(
    targets: Sequence[Target],
    params: Any,
    static: Any,
    configs: dict,
    caches: dict,
    key: Any,
    *,
    rel_step: float = 1e-2,
    noise: bool = True,
    observed: dict | None = None,
) -> ParameterUncertainty:
    """`parameter_uncertainty` of a fit at `params` (module docstring for the method).

    **Arguments:** the fit's `targets`, the trainable `params` and `static` parts of the
    potential, each target's saved configuration (`configs`) and strategy cache (`caches`)
    by name, the random `key` of the evaluation (target i uses `fold_in(key, i)`);
    `rel_step`: relative finite-difference step; `noise`: estimate the simulation error
    with one more evaluation per target; `observed`: the predictions at `params` with that
    key, when already computed (saves one evaluation per target).

    **Cost:** 2p + 1 observations (`AbstractGradient.observe`) per target for p
    parameters (2p + 2 without `observed`, 2p without `noise`).
    """
    if not 0 < rel_step < 1:
        raise ValueError(f"rel_step must be in (0, 1), got {rel_step}")
    flat, unravel = ravel_pytree(params)
    theta = np.asarray(flat, dtype=float)
    names = _flat_names(params)
    steps = rel_step * np.where(theta != 0, np.abs(theta), 1.0)
    columns, sigmas, sources = [], [], set()
    noise_key = jax.random.fold_in(key, 2**31 - 2)
    for i, t in enumerate(targets):
        k_i = jax.random.fold_in(key, i)
        values = _Evaluator(t, static, unravel, flat.dtype, configs[t.name], caches.get(t.name))
        if observed and t.name in observed:  # the fit's own final evaluation, same key
            base = _stack(t, observed[t.name])
        else:
            base = values(theta, k_i)
        cols = []
        for j in range(theta.size):
            e = np.zeros_like(theta)
            e[j] = steps[j]
            plus, minus = values(theta + e, k_i), values(theta - e, k_i)
            diff = [(a.values - b.values) for a, b in zip(plus, minus, strict=True)]
            cols.append(np.concatenate(diff) / (2 * steps[j]))
        columns.append(np.stack(cols, axis=1))
        other = values(theta, jax.random.fold_in(noise_key, i)) if noise else None
        sigmas += _sigmas(base, other, sources)
    jac = np.concatenate(columns, axis=0)
    sigma = np.concatenate(sigmas)
    informative = np.isfinite(sigma) & (sigma > 0)  # weight 0: the value carries no information
    if not np.any(informative):
        raise ValueError("no compared value carries a finite error or weight")
    jac, sigma = jac[informative], sigma[informative]
    note = "; ".join(sorted(sources)) + ("; + simulation noise" if noise else "")
    potential = eqx.combine(params, static)
    return parameter_uncertainty(
        jac, sigma, names, theta, parameter_units(potential, names), error_source=note
    )


def identifiability(
    potential: Any,
    targets: Sequence[Target],
    *,
    trainable: Sequence[str] | None = None,
    seed: int = 0,
    rel_step: float = 1e-2,
    noise: bool = True,
) -> ParameterUncertainty:
    """Which parameters the targets can pin, before fitting: `fit_uncertainty` at the
    starting parameters (each target equilibrated as `fit` does, then one evaluation of
    the sensitivity matrix; no optimisation). Same arguments as `fit` (`trainable`,
    `seed`) plus `rel_step` and `noise` (see `fit_uncertainty`)."""
    targets = list(targets)
    if not targets:
        raise ValueError("identifiability needs at least one Target")
    params, static = eqx.partition(potential, select(potential, trainable))
    base = jax.random.key(seed)
    key0 = jax.random.fold_in(base, 2**31 - 1)
    configs = {
        t.name: equilibrate(t, potential, jax.random.fold_in(key0, i))
        for i, t in enumerate(targets)
    }
    caches = {t.name: None for t in targets}
    return fit_uncertainty(
        targets,
        params,
        static,
        configs,
        caches,
        jax.random.fold_in(base, 0),
        rel_step=rel_step,
        noise=noise,
    )


def final_uncertainty(
    targets: Sequence[Target], st: dict, static: Any, key: Any
) -> tuple[ParameterUncertainty | None, dict]:
    """`fit_uncertainty` at the end of a fit (`st`: the fit's state after its final
    evaluation, made with `key`), and its `fit.json` entry. A failure is reported (a
    warning and `{"error": ...}`), never raised: the fit's results are already saved."""
    try:
        unc = fit_uncertainty(
            targets,
            st["params"],
            static,
            st["configs"],
            st["caches"],
            key,
            observed=st["final"],
        )
    except Exception as err:  # noqa: BLE001 — an analysis failure must not lose the fit
        message = f"{type(err).__name__}: {err}"
        warnings.warn(f"parameter uncertainty not computed: {message}", stacklevel=3)
        return None, {"error": message}
    return unc, unc.to_dict()
