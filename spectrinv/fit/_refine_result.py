"""`RefinedFit`: the answer of `refine` with its sampling and data errors."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._uncertainty import ParameterUncertainty

__all__ = ["RefinedFit"]


@dataclasses.dataclass(frozen=True)
class RefinedFit:
    """Parameters from independent reweighting references, with calibrated errors.

    **Fields** (`p` parameters, `K` references of the last pass):

    - `names` `[p]`, `units` `[p]`: the fitted parameters and their (internal) units;
    - `values` `[p]`: the answer, the mean of the `K` per-reference minimisers;
    - `standard_errors` `[p]`: $\\sqrt{\\mathrm{diag}}$ of `covariance`;
    - `covariance` `[p, p]` = `sampling_covariance` + `data_covariance`;
    - `sampling_covariance` `[p, p]`: the spread of the per-reference minimisers over
      $K$ (sample covariance / $K$): the simulation noise of the answer, with every
      correlation between compared values (neighbouring g(r) bins) included;
    - `data_covariance` `[p, p]`: the data's own errors propagated through the
      linearised minimiser, $A\\Sigma_dA^\\mathsf{T}$ with
      $A = (J^\\mathsf{T}WJ)^{-1}J^\\mathsf{T}W$ (zero where the data carry no error);
    - `per_reference` `[K, p]`: each reference's minimiser; `ess` `[K]`: the smallest
      effective-sample fraction over the targets at that minimiser;
    - `sampled_at` `[p]`: the parameters the last pass's references were sampled at, and
      `shift_in_se` `[p]` = (`values` − `sampled_at`) / `standard_errors`: a last pass
      that still moves by more than about 2 standard errors has not converged;
    - `path` `[passes + 1, p]`: start and the answer of every pass; `references_per_pass`;
    - `limited`: whether a minimiser of the last pass sat on the trust region's edge (the
      minimum may lie beyond it: run another pass);
    - `fisher`: the `ParameterUncertainty` (Gauss–Newton covariance with diagonal errors,
      identifiability: eigenvalues, condition number, sloppy combinations) from the mean
      sensitivity matrix at the answer.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray
    standard_errors: np.ndarray
    covariance: np.ndarray
    sampling_covariance: np.ndarray
    data_covariance: np.ndarray
    per_reference: np.ndarray
    ess: np.ndarray
    sampled_at: np.ndarray
    shift_in_se: np.ndarray
    path: np.ndarray
    references_per_pass: tuple[int, ...]
    fisher: ParameterUncertainty | None
    limited: bool = False

    @property
    def correlation(self) -> np.ndarray:
        """`[p, p]` correlation matrix of `covariance` (dimensionless)."""
        d = np.sqrt(np.clip(np.diag(self.covariance), 1e-300, None))
        return self.covariance / d[:, None] / d[None, :]

    @property
    def converged(self) -> bool:
        """Whether the last pass moved by at most 2 standard errors in every parameter and
        none of its minimisers was held back by the trust region."""
        return bool(np.all(np.abs(self.shift_in_se) <= 2.0)) and not self.limited

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (units in `units`)."""
        out: dict[str, Any] = {
            "names": list(self.names),
            "units": list(self.units),
            "values": self.values.tolist(),
            "standard_errors": self.standard_errors.tolist(),
            "covariance": self.covariance.tolist(),
            "sampling_covariance": self.sampling_covariance.tolist(),
            "data_covariance": self.data_covariance.tolist(),
            "correlation": self.correlation.tolist(),
            "per_reference": self.per_reference.tolist(),
            "ess": self.ess.tolist(),
            "sampled_at": self.sampled_at.tolist(),
            "shift_in_se": self.shift_in_se.tolist(),
            "converged": self.converged,
            "trust_region_limited": self.limited,
            "path": self.path.tolist(),
            "references_per_pass": list(self.references_per_pass),
        }
        if self.fisher is not None:
            out["fisher"] = self.fisher.to_dict()
        return out

    def __str__(self) -> str:
        k = self.per_reference.shape[0]
        lines = [f"refined over {k} independent references (last pass):"]
        for j, name in enumerate(self.names):
            unit = f" {self.units[j]}" if self.units[j] else ""
            samp = np.sqrt(self.sampling_covariance[j, j])
            data = np.sqrt(max(self.data_covariance[j, j], 0.0))
            lines.append(
                f"  {name} = {self.values[j]:.6g} ± {self.standard_errors[j]:.2g}{unit} "
                f"(sampling {samp:.2g}, data {data:.2g}; last pass moved "
                f"{self.shift_in_se[j]:+.2f} se)"
            )
        if self.limited:
            lines.append(
                "  not converged: a minimiser sat on the trust region's edge (still far from "
                "the minimum, or one reference scatters more than the region: more frames)"
            )
        elif not self.converged:
            lines.append("  not converged: the last pass moved by more than 2 standard errors")
        return "\n".join(lines)
