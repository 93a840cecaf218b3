"""How one pair distance is spread over the RDF bins: `Histogram` or `GaussianKernel`.

See `observables._rdf` for the definition of g(r) these counts enter.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import erf
from jaxtyping import Array, Float

from ._units import to_internal

__all__ = ["AbstractRDFKernel", "Histogram", "GaussianKernel"]

#: Gaussian kernel truncation in standard deviations (Φ(-8) ≈ 6e-16).
_GAUSS_CUTOFF = 8.0


class AbstractRDFKernel(eqx.Module):
    """How one pair distance is spread over the bins: `Histogram()` or `GaussianKernel(width)`."""

    @abc.abstractmethod
    def support(self, bin_width: float) -> int:
        """Static number of consecutive bins one pair can touch (sets shapes and memory)."""

    @abc.abstractmethod
    def accumulate(
        self,
        distance: Float[Array, "row col"],
        weight: Float[Array, "row col"],
        r_min: Float[Array, ""],
        bin_width: Float[Array, ""],
        bins: int,
        support: int,
    ) -> Float[Array, " bin"]:
        """Weighted pair counts per bin for distances (nm); a zero weight drops a pair.

        `r_min`, `bin_width` (nm) may be traced; `bins` and `support` (from `self.support`)
        are static.
        """


class Histogram(AbstractRDFKernel):
    """Exact counts: a pair at distance $r$ adds its weight to the bin with $r_k \\le r < r_{k+1}$.

    Not differentiable with respect to positions (the gradient is zero almost everywhere);
    use `GaussianKernel` inside a loss.
    """

    def support(self, bin_width):
        return 1

    def accumulate(self, distance, weight, r_min, bin_width, bins, support):
        r_max = r_min + bins * bin_width
        index = jnp.floor((distance - r_min) / bin_width).astype(jnp.int32)
        index = jnp.minimum(index, bins - 1)
        inside = (distance >= r_min) & (distance < r_max) & (index >= 0)
        index = jnp.where(inside, index, bins)  # overflow slot, dropped below
        counts = jax.ops.segment_sum(weight.ravel(), index.ravel(), num_segments=bins + 1)
        return counts[:bins]


class GaussianKernel(AbstractRDFKernel):
    r"""Smooth counts: each pair is a Gaussian of standard deviation `width` integrated over bins.

    A pair at distance $r$ adds $w\,[\Phi((r_{k+1}-r)/\sigma) - \Phi((r_k - r)/\sigma)]$ to
    bin $k$ ($\Phi$ the standard normal CDF). Differentiable in the positions; non-negative;
    tends to `Histogram()` as $\sigma \to 0$. Truncated at $8\sigma$ (the neglected mass,
    $2\Phi(-8) \approx 10^{-15}$, is below float64 rounding).

    **Arguments:** `width`: $\sigma$, a positive length `Quantity` (e.g. `Quantity(0.01, "nm")`).
    Stored in nm.
    """

    width: float

    def __init__(self, width: Any):
        value = float(to_internal(width, "length", "GaussianKernel width"))
        if not value > 0:
            raise ValueError(f"GaussianKernel width must be a positive length, got {width}")
        self.width = value

    def support(self, bin_width):
        return 2 * (int(math.ceil(_GAUSS_CUTOFF * float(self.width) / bin_width)) + 1) + 1

    def accumulate(self, distance, weight, r_min, bin_width, bins, support):
        h = (support - 1) // 2
        width = jnp.asarray(self.width).astype(distance.dtype)
        centre = jnp.floor((distance - r_min) / bin_width)
        # bins centre-h .. centre+h, bounded by edges centre-h .. centre+h+1
        offsets = jnp.arange(-h, h + 2).astype(distance.dtype)
        edge_index = centre[..., None] + offsets
        edges = r_min + edge_index * bin_width
        cdf = 0.5 * erf((edges - distance[..., None]) / (width * math.sqrt(2.0)))
        mass = (cdf[..., 1:] - cdf[..., :-1]) * weight[..., None]
        index = edge_index[..., :-1].astype(jnp.int32)
        index = jnp.where((index >= 0) & (index < bins), index, bins)
        counts = jax.ops.segment_sum(mass.ravel(), index.ravel(), num_segments=bins + 1)
        return counts[:bins]
