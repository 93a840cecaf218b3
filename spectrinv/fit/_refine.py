r"""`refine`: the end of a reweighting fit, from independent references, with error bars.

A stochastic-gradient fit (`fit`) ends by jittering around the minimum, and the error of a
single reweighted reference is both large and badly known (the compared values of one
reference are correlated: neighbouring g(r) bins move together). `refine` replaces the last
stage of such a fit by a procedure whose answer and error are both estimated from
independent samples.

**One pass.** At the current parameters $\theta_0$, sample $K$ independent references (each
target equilibrated from its starting configuration with its own random key, then its
`Reweighting` reference). For each reference $k$ minimise the **reweighted** total loss
$L_k(\theta) = \sum_t \mathrm{loss}_t(\langle O_t\rangle_{\theta,k})$, a deterministic
function of $\theta$ on a fixed reference, inside a trust region where the
effective-sample fraction (ESS) of every target stays at least `ess_min` and no parameter
changes by more than `max_step` (relative). The region is the ellipsoid
$u^\mathsf{T}Mu \le -\ln$ `ess_min` in relative parameters $\theta = \theta_0(1+u)$, with
$M$ measured from the ESS itself (Gaussian energy differences give ESS $= e^{-u^\mathsf{T}Gu}$);
the loss is minimised by L-BFGS-B in coordinates where that region is a ball (inside the
box around it, so that no evaluation strays far outside), and a minimiser whose exact ESS
falls short is pulled back towards $\theta_0$ by bisection. A pass whose
minimiser lies on the region's boundary is *trust-region limited*. The answer is the mean
of the $K$ minimisers $\hat\theta_k$.

**Passes.** While a pass is trust-region limited (far from the minimum), passes use one
reference each ("exploring"); then `passes` passes with `references` references each, every
pass sampled at the previous pass's answer (a pass in which most minimisers were held back
by the trust region does not count; at most `max_explore` + 2 `passes` passes in all). The
last pass is reported; if any of its minimisers was held back (`RefinedFit.limited`), the
scatter of one reference exceeds the trust region: use more frames per reference.

**Errors.** The spread of the $\hat\theta_k$ is the simulation noise of the answer, with
every correlation between compared values included:
$C_\text{sampling} = \mathrm{cov}_k(\hat\theta_k)/K$ (Student-t with $K-1$ degrees of
freedom for small $K$). The data's own errors $\Sigma_d$ (the datasets' uncertainties,
independent) are propagated through the linearised minimiser:
$C_\text{data} = A\Sigma_dA^\mathsf{T}$, $A = (J^\mathsf{T}WJ)^{-1}J^\mathsf{T}W$, with $J$
the sensitivity of the compared values (central differences on the fixed references,
averaged over them) and $W$ the loss's weights ($\chi^2$: $1/(\sigma_d^2 + \sigma_\text{sim}^2)$).
The reported covariance is their sum. The last pass's move from where its references were
sampled, in standard errors (`RefinedFit.shift_in_se`), says whether it converged.

**Requirements.** Every target uses `Reweighting`; the targets' `positions` should be an
equilibrated configuration of the phase being fitted (each reference re-equilibrates from it
for the target's `equilibration_steps`).

??? cite
    Reweighting (DiffTRe): S. Thaler, J. Zavadlav, Nat. Commun. 12, 6884 (2021).
    Sandwich covariance of a misweighted least-squares estimator: H. White,
    Econometrica 48, 817 (1980).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree

from ..gradients import GradientWarning, Reweighting
from ..potentials import AbstractPotential
from ._md import equilibrate, init_state
from ._params import select
from ._refine_result import RefinedFit
from ._sensitivity import _flat_names, compared_values, parameter_units
from ._target import Target
from ._uncertainty import parameter_uncertainty

__all__ = ["refine"]


class _Problem(eqx.Module):
    """The fixed parts of a refinement: targets, the static potential and the flattening."""

    targets: tuple[Target, ...]
    static: Any
    unravel: Callable = eqx.field(static=True)

    def estimates(self, theta: np.ndarray, caches: dict) -> list:
        params = self.unravel(jnp.asarray(theta))
        with warnings.catch_warnings():  # far from a reference the gradient may be huge
            warnings.simplefilter("ignore", GradientWarning)
            return self._estimates(params, caches)

    def _estimates(self, params, caches: dict) -> list:
        return [
            t.gradient.estimate(
                t.objective, params, self.static, system=t.system, cache=caches[t.name]
            )
            for t in self.targets
        ]

    def loss_and_grad(self, theta: np.ndarray, caches: dict) -> tuple[float, np.ndarray]:
        loss, grad = 0.0, 0.0
        for r in self.estimates(theta, caches):
            loss += float(r.loss)
            grad = grad + np.asarray(ravel_pytree(r.grad)[0], dtype=float)
        return loss, np.asarray(grad)

    def min_ess(self, theta: np.ndarray, caches: dict) -> float:
        return min(float(r.diagnostics["ess"]) for r in self.estimates(theta, caches))

    def compared(self, theta: np.ndarray, caches: dict) -> list:
        out = []
        for t, r in zip(self.targets, self.estimates(theta, caches), strict=True):
            out += compared_values(t.objective.loss, r.observed, t.objective.observe, t.name)
        return out


def _check(targets: Sequence[Target], references: int, passes: int, ess_min: float, step: float):
    if not targets:
        raise ValueError("refine needs at least one Target")
    for t in targets:
        if not isinstance(t, Target):
            raise TypeError(f"targets must be Target objects, got {type(t).__name__}")
        if not isinstance(t.gradient, Reweighting):
            raise ValueError(
                f"refine minimises reweighted losses; target {t.name!r} uses "
                f"{type(t.gradient).__name__}, not Reweighting"
            )
    if isinstance(references, bool) or not isinstance(references, int) or references < 2:
        raise ValueError(f"references must be an int >= 2 (for a spread), got {references!r}")
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be an int >= 1, got {passes!r}")
    if not 0.0 < float(ess_min) < 1.0:
        raise ValueError(f"ess_min must be in (0, 1), got {ess_min}")
    if not 0.0 < float(step) < 1.0:
        raise ValueError(f"max_step must be in (0, 1) (a relative change), got {step}")


def _sample(problem: _Problem, theta: np.ndarray, key) -> dict:
    """One independent reference per target at `theta` (equilibrated with its own key)."""
    params = problem.unravel(jnp.asarray(theta))
    potential = eqx.combine(params, problem.static)
    caches = {}
    for i, t in enumerate(problem.targets):
        k_eq, k_ref = jax.random.split(jax.random.fold_in(key, i))
        state = init_state(t, potential, equilibrate(t, potential, k_eq))
        result = t.gradient(
            t.objective,
            params,
            problem.static,
            backend=t.backend,
            system=t.system,
            state=state,
            key=k_ref,
            cache=None,
        )
        caches[t.name] = result.cache
    return caches


def _ess_metric(problem, caches, theta0, scale, ess_min, max_step) -> np.ndarray:
    r"""The trust region's metric $M$ in relative parameters $u$: the effective-sample
    fraction of reweighting falls as $e^{-u^\mathsf{T}Gu}$ for Gaussian energy differences,
    with $G$ from a few exact evaluations ($-\ln$ ESS along each axis and each pair), plus
    $(-\ln$ `ess_min`$)/$`max_step`$^2$ on the diagonal, so that $u^\mathsf{T}Mu \le
    -\ln$ `ess_min` keeps both the ESS and the relative step in bounds."""
    p = theta0.size
    r2 = -np.log(ess_min)

    def q(u):
        return -np.log(max(problem.min_ess(theta0 + scale * u, caches), 1e-300))

    h, g = np.full(p, 1e-3), np.zeros((p, p))
    for j in range(p):
        e = np.eye(p)[j]
        val = q(h[j] * e)
        while val < 0.02 and h[j] < max_step:  # too small a change to read: step up
            h[j] *= 4.0
            val = q(h[j] * e)
        while val > 2.0 and h[j] > 1e-8:  # past the quadratic range: step down
            h[j] /= 4.0
            val = q(h[j] * e)
        g[j, j] = val / h[j] ** 2
    for j in range(p):
        for k in range(j + 1, p):
            u = np.zeros(p)
            u[j], u[k] = h[j], h[k]
            g[j, k] = g[k, j] = (q(u) - g[j, j] * h[j] ** 2 - g[k, k] * h[k] ** 2) / (
                2 * h[j] * h[k]
            )
    floor = r2 / max_step**2
    lam, vec = np.linalg.eigh(g)
    return (vec * np.clip(lam, 0.0, None)) @ vec.T + floor * np.eye(p)


def _minimise(problem, caches, theta0, ess_min, max_step) -> tuple[np.ndarray, float, bool]:
    """The minimiser of the reweighted loss on one set of references inside the trust
    region (ESS >= `ess_min`, relative steps <= `max_step`); returns `(theta, ess,
    limited)`. Minimised by L-BFGS-B in coordinates whitened by the ESS metric, inside the
    box around the trust region's ball (no evaluation leaves that box)."""
    scale = np.where(theta0 != 0, np.abs(theta0), 1.0)
    metric = _ess_metric(problem, caches, theta0, scale, ess_min, max_step)
    lam, vec = np.linalg.eigh(metric)
    white = vec / np.sqrt(lam)[None, :]  # u = white @ v, u^T M u = v^T v
    r2 = -np.log(ess_min)

    def f(v):
        loss, grad = problem.loss_and_grad(theta0 + scale * (white @ v), caches)
        return loss, white.T @ (grad * scale)

    radius = float(np.sqrt(r2))
    res = scipy.optimize.minimize(  # L-BFGS-B stays inside its box at every evaluation
        f,
        np.zeros(theta0.size),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-radius, radius)] * theta0.size,
        options={"maxiter": 40},
    )
    v = np.asarray(res.x, dtype=float)
    on_boundary = bool(np.any(np.abs(v) > 0.95 * radius))
    theta = theta0 + scale * (white @ v)
    ess = problem.min_ess(theta, caches)
    if ess >= ess_min:
        return theta, ess, bool(on_boundary)
    lo, hi = 0.0, 1.0  # the quadratic model was optimistic: bisect towards theta0
    for _ in range(8):
        mid = 0.5 * (lo + hi)
        if problem.min_ess(theta0 + scale * (white @ (mid * v)), caches) >= ess_min:
            lo = mid
        else:
            hi = mid
    theta = theta0 + scale * (white @ (lo * v))
    return theta, problem.min_ess(theta, caches), True


def _sensitivity(problem, caches_list, theta, rel_step=1e-3):
    """Mean sensitivity `J` `[n, p]`, weights' sigma `[n]` and data sigma `[n]` (0 where
    the data carry no error) at `theta`, over the fixed references."""
    h = rel_step * np.where(theta != 0, np.abs(theta), 1.0)
    jacs, sig, dat = [], [], []
    for caches in caches_list:
        base = problem.compared(theta, caches)
        cols = []
        for j in range(theta.size):
            e = np.zeros_like(theta)
            e[j] = h[j]
            plus = problem.compared(theta + e, caches)
            minus = problem.compared(theta - e, caches)
            cols.append(
                np.concatenate([(a.values - b.values) for a, b in zip(plus, minus, strict=True)])
                / (2 * h[j])
            )
        jacs.append(np.stack(cols, axis=1))
        d2 = np.concatenate(
            [
                c.data_sigma**2 if c.data_sigma is not None else np.zeros(c.values.shape)
                for c in base
            ]
        )
        s2 = np.concatenate(
            [
                (c.data_sigma**2 if c.data_sigma is not None else 1.0 / c.weights)
                + (c.sim_sigma**2 if c.sim_sigma is not None else 0.0)
                for c in base
            ]
        )
        sig.append(s2)
        dat.append(d2)
    return np.mean(jacs, axis=0), np.sqrt(np.mean(sig, axis=0)), np.sqrt(np.mean(dat, axis=0))


def _data_covariance(jac: np.ndarray, sigma: np.ndarray, data_sigma: np.ndarray) -> np.ndarray:
    keep = np.isfinite(sigma) & (sigma > 0)
    j, w, d2 = jac[keep], 1.0 / sigma[keep] ** 2, data_sigma[keep] ** 2
    a = np.linalg.pinv(j.T @ (w[:, None] * j)) @ (j.T * w[None, :])
    return (a * d2[None, :]) @ a.T


def refine(
    potential: AbstractPotential,
    targets: Sequence[Target],
    *,
    trainable: Sequence[str] | None = None,
    references: int = 8,
    passes: int = 2,
    max_explore: int = 20,
    ess_min: float = 0.5,
    max_step: float = 0.2,
    seed: int = 0,
    progress: bool | Callable[[dict], None] = True,
) -> tuple[AbstractPotential, RefinedFit]:
    """Refine a reweighting fit from independent references (module docstring).

    **Arguments:** `potential` (the start, e.g. a `fit`'s answer), `targets` (all with
    `Reweighting`), `trainable` (parameter names, default all); `references`: independent
    references per final pass ($K \\ge 2$); `passes`: final passes; `max_explore`: at most
    this many one-reference passes while far from the minimum; `ess_min`: the trust region
    (smallest effective-sample fraction of a reweighted minimiser); `max_step`: largest
    relative change of a parameter in one pass; `seed`; `progress`: print a line per pass
    with units (or a callable receiving a dict per pass).

    **Returns:** `(potential, RefinedFit)`: the potential at the answer and the answer with
    its errors. Cost per final pass: `references` × (each target's equilibration and
    reference sampling) plus reweighted evaluations (no MD).
    """
    targets = tuple(targets)
    _check(targets, references, passes, ess_min, max_step)
    params, static = eqx.partition(potential, select(potential, trainable))
    flat, unravel = ravel_pytree(params)
    problem = _Problem(targets, static, unravel)
    names = tuple(_flat_names(params))
    units = tuple(parameter_units(potential, names))
    theta = np.asarray(flat, dtype=float)
    path, counts, explored = [theta], [], 0
    base_key = jax.random.key(seed)
    final_done, last_limited = 0, True
    cap = max_explore + 2 * passes  # passes in all; the last one always has K references
    while final_done < passes and len(counts) < cap:
        exploring = explored < max_explore and last_limited and len(counts) < cap - 1
        k_refs = 1 if exploring else references
        key = jax.random.fold_in(base_key, len(counts))
        runs, caches_list = [], []
        for k in range(k_refs):
            caches = _sample(problem, theta, jax.random.fold_in(key, k))
            runs.append(_minimise(problem, caches, theta, ess_min, max_step))
            caches_list.append(caches)
        estimates = np.stack([r[0] for r in runs])
        last_limited = any(r[2] for r in runs)
        sampled_at, theta = theta, estimates.mean(axis=0)
        path.append(theta)
        counts.append(k_refs)
        explored += int(exploring)
        # a pass in which most minimisers were held back was still far away: it does not count
        final_done += int(not exploring and 2 * sum(r[2] for r in runs) <= len(runs))
        _report(progress, len(counts), k_refs, names, units, theta, runs, last_limited)
    return _result(problem, potential, static, unravel, names, units, theta, sampled_at, estimates,
                   runs, caches_list, path, counts)  # fmt: skip


def _result(problem, potential, static, unravel, names, units, theta, sampled_at, estimates,
            runs, caches_list, path, counts):  # fmt: skip
    k = estimates.shape[0]
    sampling = np.atleast_2d(np.cov(estimates, rowvar=False, ddof=1)) / k
    jac, sigma, data_sigma = _sensitivity(problem, caches_list, theta)
    data = _data_covariance(jac, sigma, data_sigma)
    cov = sampling + data
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    try:
        fisher = parameter_uncertainty(jac, sigma, names, theta, units, error_source="refine")
    except ValueError:
        fisher = None
    shift = np.divide(theta - sampled_at, se, out=np.zeros_like(se), where=se > 0)
    refined = RefinedFit(
        names=names,
        units=units,
        values=theta,
        standard_errors=se,
        covariance=cov,
        sampling_covariance=sampling,
        data_covariance=data,
        per_reference=estimates,
        ess=np.array([r[1] for r in runs]),
        sampled_at=sampled_at,
        shift_in_se=shift,
        path=np.stack(path),
        references_per_pass=tuple(counts),
        fisher=fisher,
        limited=any(r[2] for r in runs),
    )
    return eqx.combine(unravel(jnp.asarray(theta)), static), refined


def _report(progress, n, k_refs, names, units, theta, runs, limited) -> None:
    if not progress:
        return
    row = {
        "pass": n,
        "references": k_refs,
        "params": dict(zip(names, theta.tolist(), strict=True)),
        "ess_min": min(r[1] for r in runs),
        "trust_region_limited": limited,
    }
    if callable(progress):
        progress(row)
        return
    values = ", ".join(
        f"{nm} = {v:.6g}{' ' + u if u else ''}"
        for nm, v, u in zip(names, theta, units, strict=True)
    )
    note = " (trust-region limited)" if limited else ""
    print(f"refine pass {n}: {k_refs} reference(s), {values}, ESS ≥ {row['ess_min']:.2f}{note}")
