r"""Parameter uncertainty and identifiability from a sensitivity matrix (Gauss–Newton).

Given the sensitivity matrix $J_{ij} = \partial q_i/\partial\theta_j$ of the $n$ compared
predictions $q$ (every target's values on its reference grid, the vector its loss compares
with the data) to the $p$ fitted parameters $\theta$, and the 1σ errors $s_i$ of the data
(experimental and simulation errors combined in quadrature, uncorrelated), the
Gauss–Newton (Fisher) information of a weighted least-squares fit is

$$ F = J^\mathsf{T}\Sigma^{-1}J, \qquad \Sigma = \operatorname{diag}(s_i^2), $$

and the asymptotic covariance of the fitted parameters is $C = F^{-1}$ (linearised model,
Gaussian errors): standard errors $\sqrt{C_{jj}}$ in the parameter's unit, correlations
$C_{jk}/\sqrt{C_{jj}C_{kk}}$.

**Identifiability** is judged in relative parameters $u_j = \delta\theta_j/\theta_j$
($\approx\delta\ln\theta_j$), so that units do not matter: $\tilde F = DFD$ with
$D = \operatorname{diag}(\theta)$. Its eigenvectors are parameter combinations; an
eigenvalue $\lambda$ means that moving $\theta$ by a relative amount $1/\sqrt\lambda$ along
that combination changes $\chi^2$ by 1. The stiffest combination (largest $\lambda$) is
pinned best, the sloppiest (smallest) worst; the condition number is
$\lambda_\max/\lambda_\min$. A combination with $\lambda \le$ `rcond` $\cdot\lambda_\max$
does not change the predictions at all: it is **unconstrained**. Every parameter that enters
an unconstrained combination gets an infinite standard error (`inf`, never NaN), and the
covariance is the pseudo-inverse on the constrained combinations (so the correlations are
those of the constrained part). A combination whose relative 1σ exceeds 1 (100 %) is
reported as **poorly constrained**.

??? cite
    Gauss–Newton covariance of least squares: W. H. Press, S. A. Teukolsky,
    W. T. Vetterling, B. P. Flannery, *Numerical Recipes*, 3rd ed., Cambridge University
    Press (2007), §15.5–15.6. Stiff and sloppy parameter combinations of models fitted to
    data: R. N. Gutenkunst, J. J. Waterfall, F. P. Casey, K. S. Brown, C. R. Myers,
    J. P. Sethna, "Universally sloppy parameter sensitivities in systems biology models",
    PLoS Comput. Biol. 3, e189 (2007).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ParameterUncertainty", "parameter_uncertainty", "combination_label"]


@dataclasses.dataclass(frozen=True)
class ParameterUncertainty:
    """Standard errors, correlations and identifiability of fitted parameters.

    **Fields** (`p` parameters, `n` compared predictions):

    - `names` `[p]`, `values` `[p]` (the parameters, in `units` `[p]`);
    - `standard_errors` `[p]` (1σ, in `units`; `inf` for a parameter that enters an
      unconstrained combination);
    - `covariance` `[p, p]` (units `units[j]·units[k]`; pseudo-inverse of `information`
      on the constrained combinations), `correlation` `[p, p]` (dimensionless);
    - `information` `[p, p]`: $F = J^\\mathsf{T}\\Sigma^{-1}J$ (units
      `1/(units[j]·units[k])`);
    - `eigenvalues` `[p]` (ascending) and `eigenvectors` `[p, p]` (columns) of the
      dimensionless information $DFD$, $D = \\mathrm{diag}(\\theta)$ (relative parameters
      $\\delta\\theta/\\theta$);
    - `condition_number`: largest over smallest eigenvalue (`inf` when singular);
    - `unconstrained` `[p]` (bool) per eigen-direction: the predictions do not depend on it;
    - `n_data`: the number of compared predictions; `error_source`: where the errors came
      from (free text, printed with the table).
    """

    names: tuple[str, ...]
    values: np.ndarray
    units: tuple[str, ...]
    standard_errors: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    information: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    condition_number: float
    unconstrained: np.ndarray
    n_data: int
    error_source: str = ""

    # ----------------------------------------------------------------- directions
    def direction(self, k: int) -> str:
        """Eigen-direction `k` (ascending order) named as a combination of relative
        parameters, e.g. `"0.71 ln epsilon - 0.70 ln sigma"`."""
        return combination_label(self.eigenvectors[:, k], self.names)

    def relative_sigma(self, k: int) -> float:
        """The relative 1σ along eigen-direction `k`: $1/\\sqrt{\\lambda_k}$ (`inf` when
        unconstrained)."""
        lam = float(self.eigenvalues[k])
        return math.inf if self.unconstrained[k] or lam <= 0 else 1.0 / math.sqrt(lam)

    @property
    def is_identifiable(self) -> bool:
        """True when every parameter combination changes the predictions."""
        return not bool(np.any(self.unconstrained))

    def status(self, k: int) -> str:
        """`"unconstrained"`, `"poorly constrained"` (relative 1σ > 100 %) or
        `"constrained"` for eigen-direction `k`."""
        if self.unconstrained[k]:
            return "unconstrained"
        return "poorly constrained" if self.relative_sigma(k) > 1.0 else "constrained"

    # ------------------------------------------------------------------ reporting
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (infinite values written as the string `"inf"`):
        `standard_errors` (`{name: {"value", "unit", "relative"}}`), `correlation`
        (`{"names", "matrix"}`), `eigenvalues` (ascending, of the relative information),
        `condition_number`, `directions` (`[{"combination", "eigenvalue",
        "relative_sigma", "status", "coefficients"}]`, sloppiest first), `unconstrained`
        (the combinations the data cannot pin), `n_data`, `error_source`."""
        se = {}
        for j, name in enumerate(self.names):
            s = float(self.standard_errors[j])
            v = float(self.values[j])
            se[name] = {
                "value": _json_float(s),
                "unit": self.units[j],
                "relative": _json_float(abs(s / v) if v != 0 else math.inf),
            }
        directions = [
            {
                "combination": self.direction(k),
                "eigenvalue": float(self.eigenvalues[k]),
                "relative_sigma": _json_float(self.relative_sigma(k)),
                "status": self.status(k),
                "coefficients": dict(
                    zip(self.names, [float(c) for c in self.eigenvectors[:, k]], strict=True)
                ),
            }
            for k in range(len(self.names))
        ]
        return {
            "parameters": {
                n: {"value": float(v), "unit": u}
                for n, v, u in zip(self.names, self.values, self.units, strict=True)
            },
            "standard_errors": se,
            "correlation": {"names": list(self.names), "matrix": self.correlation.tolist()},
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "condition_number": _json_float(self.condition_number),
            "directions": directions,
            "unconstrained": [
                d["combination"] for d in directions if d["status"] == "unconstrained"
            ],
            "identifiable": self.is_identifiable,
            "n_data": int(self.n_data),
            "error_source": self.error_source,
        }

    def __str__(self) -> str:
        lines = ["parameter uncertainty (1σ, linearised; Gauss–Newton information JᵀΣ⁻¹J)"]
        if self.error_source:
            lines.append(f"  errors: {self.error_source}")
        width = max(len(n) for n in self.names)
        for j, name in enumerate(self.names):
            s, v, unit = float(self.standard_errors[j]), float(self.values[j]), self.units[j]
            rel = f"({abs(s / v):.1%})" if v != 0 and math.isfinite(s) else ""
            err = "inf (unconstrained)" if not math.isfinite(s) else f"{s:.3g} {rel}"
            lines.append(f"  {name:<{width}} = {v:.6g} ± {err} {unit}".rstrip())
        if len(self.names) > 1:
            lines.append("  correlation:")
            for j, name in enumerate(self.names):
                row = " ".join(f"{c:+.2f}" for c in self.correlation[j])
                lines.append(f"    {name:<{width}}  {row}")
        lines.append(
            f"  relative information eigenvalues: "
            f"{', '.join(f'{x:.3g}' for x in self.eigenvalues)}; condition number "
            f"{self.condition_number:.3g}"
        )
        for k in range(len(self.names) - 1, -1, -1):
            rs = self.relative_sigma(k)
            sig = "inf" if not math.isfinite(rs) else f"{rs:.3g}"
            lines.append(f"  {self.status(k):>18}: {self.direction(k)}  (relative 1σ {sig})")
        return "\n".join(lines)


def _json_float(x: float) -> float | str:
    x = float(x)
    if math.isnan(x):
        raise ValueError("internal error: a NaN in the uncertainty summary")
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def combination_label(vector: Sequence[float], names: Sequence[str], tol: float = 0.01) -> str:
    """A parameter combination of relative changes as text: `"0.71 ln a - 0.70 ln b"`.

    Components below `tol` (absolute) are left out; the sign is chosen so that the first
    component that is not left out is positive (an eigen-direction has no sign)."""
    v = _signed(np.asarray(vector, dtype=float), tol)
    parts = []
    for c, name in zip(v, names, strict=True):
        if abs(c) < tol:
            continue
        sign = "-" if c < 0 else "+"
        parts.append((sign, f"{abs(c):.2f} ln {name}"))
    if not parts:
        return "0"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    return text + "".join(f" {s} {t}" for s, t in parts[1:])


def _signed(v: np.ndarray, tol: float = 0.01) -> np.ndarray:
    """`v` or `-v`, whichever has its first component of magnitude >= `tol` positive."""
    big = np.flatnonzero(np.abs(v) >= tol)
    return -v if big.size and v[big[0]] < 0 else v


def _as_matrix(jacobian: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    jac = np.asarray(jacobian, dtype=float)
    if jac.ndim == 1:
        jac = jac[:, None]
    if jac.ndim != 2 or jac.shape[1] == 0:
        raise ValueError(f"jacobian must be [data, parameter], got shape {jac.shape}")
    s = np.asarray(sigma, dtype=float)
    if s.ndim == 0:
        s = np.full(jac.shape[0], float(s))
    if s.shape != (jac.shape[0],):
        raise ValueError(
            f"sigma must be one 1σ error per compared value ({jac.shape[0]}), got shape {s.shape}"
        )
    if not np.all(np.isfinite(jac)):
        raise ValueError("the sensitivity matrix contains NaN/inf; check the predictions")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError(f"every data error must be finite and > 0, got min {np.min(s):g}")
    return jac, s


def parameter_uncertainty(
    jacobian: Any,
    sigma: Any,
    names: Sequence[str],
    values: Sequence[float],
    units: Sequence[str] | None = None,
    *,
    rcond: float = 1e-10,
    error_source: str = "",
) -> ParameterUncertainty:
    """Standard errors, correlations and identifiability from $J$ and the data errors.

    **Arguments:**

    - `jacobian` `[n, p]`: $\\partial q_i/\\partial\\theta_j$ in (unit of $q_i$) per (unit
      of $\\theta_j$);
    - `sigma` `[n]` (or a scalar): the 1σ error of each compared value, in its unit
      ($\\Sigma = \\mathrm{diag}(\\sigma^2)$);
    - `names`, `values` `[p]`: the parameters and their values (the relative
      parametrisation $\\delta\\theta/\\theta$ uses `values`; a zero value is taken as 1);
    - `units` `[p]`: unit strings of the parameters (printed with the standard errors;
      default `""`);
    - `rcond`: eigenvalues of the relative information below `rcond` × the largest count
      as zero (unconstrained combinations);
    - `error_source`: a note on where `sigma` came from, kept in the result.

    **Returns:** a `ParameterUncertainty`. Bad shapes or non-finite input raise
    `ValueError`; a singular information matrix is reported, not raised.
    """
    jac, s = _as_matrix(jacobian, sigma)
    p = jac.shape[1]
    names = tuple(str(n) for n in names)
    vals = np.asarray(values, dtype=float).reshape(-1)
    units = tuple("" if u is None else str(u) for u in (units if units is not None else [""] * p))
    if len(names) != p or vals.shape != (p,) or len(units) != p:
        raise ValueError(
            f"names, values and units need one entry per parameter ({p} columns of the "
            f"jacobian), got {len(names)}, {vals.size}, {len(units)}"
        )
    if len(set(names)) != p:
        raise ValueError(f"parameter names must be unique, got {names}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"parameter values must be finite, got {vals}")
    scale = np.where(vals != 0, np.abs(vals), 1.0)
    white = jac / s[:, None]
    info = white.T @ white
    rel = white * scale[None, :]
    lam, vec = np.linalg.eigh(rel.T @ rel)
    lam = np.clip(lam, 0.0, None)
    vec = np.stack([_signed(vec[:, k]) for k in range(p)], axis=1)
    lam_max = float(lam[-1])
    null = lam <= rcond * lam_max if lam_max > 0 else np.ones(p, bool)
    inv_lam = np.where(null, 0.0, 1.0 / np.where(null, 1.0, lam))
    cov_rel = (vec * inv_lam[None, :]) @ vec.T
    cov = cov_rel * scale[:, None] * scale[None, :]
    touches_null = (
        np.any(np.abs(vec[:, null]) > 1e-6, axis=1) if np.any(null) else np.zeros(p, bool)
    )
    se = np.where(touches_null, np.inf, np.sqrt(np.clip(np.diag(cov), 0.0, None)))
    d = np.sqrt(np.clip(np.diag(cov_rel), 0.0, None))
    safe = np.where(d > 0, d, 1.0)
    corr = cov_rel / safe[:, None] / safe[None, :]
    corr = np.where((d[:, None] > 0) & (d[None, :] > 0), corr, 0.0)
    np.fill_diagonal(corr, 1.0)
    corr = np.clip(corr, -1.0, 1.0)
    cond = math.inf if np.any(null) or lam[0] <= 0 else lam_max / float(lam[0])
    return ParameterUncertainty(
        names=names,
        values=vals,
        units=units,
        standard_errors=se,
        covariance=cov,
        correlation=corr,
        information=info,
        eigenvalues=lam,
        eigenvectors=vec,
        condition_number=cond,
        unconstrained=null,
        n_data=jac.shape[0],
        error_source=error_source,
    )
