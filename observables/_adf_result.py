"""`ADFResult`: what `ADF` returns (angle bins, P(θ), triples per central atom)."""

from __future__ import annotations

from typing import ClassVar

from jaxtyping import Array, Float

from ._result import AbstractResult
from ._units import Quantity, ureg

__all__ = ["ADFResult"]


class ADFResult(AbstractResult):
    r"""A computed angular distribution: bins, $P(\theta)$ and the mean number of triples.

    A pytree (usable inside `jit`). As an `AbstractResult`: `x_magnitude` the bin centres
    (`x_unit` rad), `y_magnitude` = `p` (1/rad, a density in θ), `error_magnitude` =
    `p_error`.

    **Fields:**
    - `edges`: `[bin + 1]` bin edges, rad (uniform on [0, π]).
    - `p`: `[bin]` $P(\theta)$, rad⁻¹, with $\sum_k P_k\,\Delta\theta = 1$ for the
      histogram (module `observables._adf`).
    - `triples_per_center`: mean number of (ordered) neighbour pairs per central atom,
      $\langle T\rangle / N_a$.
    - `p_error`: `[bin]` standard error from contiguous blocks of frames, or `None`.
    """

    edges: Float[Array, " edge"]
    p: Float[Array, " bin"]
    triples_per_center: Float[Array, ""]
    p_error: Float[Array, " bin"] | None = None

    x_unit: ClassVar[str] = "radian"
    y_unit: ClassVar[str] = "1/radian"
    density: ClassVar[bool] = True
    x_name: ClassVar[str] = "θ"

    @property
    def x_magnitude(self) -> Float[Array, " bin"]:
        """Bin centres, rad."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def y_magnitude(self) -> Float[Array, " bin"]:
        """$P(\\theta)$ per bin, rad⁻¹ (same as `p`)."""
        return self.p

    @property
    def error_magnitude(self) -> Float[Array, " bin"] | None:
        """Standard error of `p`, or `None`."""
        return self.p_error

    @property
    def bin_centers(self) -> Quantity:
        """Bin centres as a `Quantity` in degrees."""
        return ureg.Quantity(self.x_magnitude, "radian").to("degree")
