"""How one bond angle is spread over the ADF bins: `Histogram()` or `AngularGaussianKernel`.

The ADF (`observables._adf`) reuses the `AbstractRDFKernel` interface, which bins any scalar
on a uniform grid; `Histogram()` is unit-free and serves both. The Gaussian kernel of the RDF
has a width in nm, so angles get their own, with a width in radians.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from ._rdf_kernels import AbstractRDFKernel
from ._units import Quantity

__all__ = ["AngularGaussianKernel"]

#: Truncation in standard deviations (Φ(-8) ≈ 6e-16, below float64 rounding).
_GAUSS_CUTOFF = 8.0


class AngularGaussianKernel(AbstractRDFKernel):
    r"""Smooth angle counts: each angle is a Gaussian of standard deviation `width`,
    integrated over each bin.

    An angle $\theta$ adds $w\,[\Phi((\theta_{k+1}-\theta)/\sigma) -
    \Phi((\theta_k - \theta)/\sigma)]$ to bin $k$ ($\Phi$ the standard normal CDF), so the
    ADF is differentiable in the positions and tends to the histogram as $\sigma \to 0$.
    Mass falling outside $[0, \pi]$ (angles within a few σ of 0° or 180°) is not folded
    back: there the ADF integrates to slightly less than 1.

    **Arguments:** `width`: σ, an angle `Quantity` (e.g. `Quantity(2.0, "degree")`); stored
    in radians.
    """

    width: float

    def __init__(self, width: Any):
        if not isinstance(width, Quantity):
            raise TypeError(
                f"AngularGaussianKernel width must be an angle Quantity, e.g. "
                f"Quantity(2.0, 'degree'), got {width!r}"
            )
        value = float(width.m_as("radian"))
        if not value > 0:
            raise ValueError(f"AngularGaussianKernel width must be positive, got {width}")
        self.width = value

    def support(self, bin_width):
        return 2 * (int(math.ceil(_GAUSS_CUTOFF * float(self.width) / bin_width)) + 1) + 1

    def accumulate(self, distance, weight, r_min, bin_width, bins, support):
        """Weighted counts per bin of the angles `distance` (rad; the name follows the
        `AbstractRDFKernel` interface)."""
        h = (support - 1) // 2
        width = jnp.asarray(self.width).astype(distance.dtype)
        centre = jnp.floor((distance - r_min) / bin_width)
        edge_index = centre[..., None] + jnp.arange(-h, h + 2).astype(distance.dtype)
        edges = r_min + edge_index * bin_width
        cdf = 0.5 * erf((edges - distance[..., None]) / (width * math.sqrt(2.0)))
        mass = (cdf[..., 1:] - cdf[..., :-1]) * weight[..., None]
        index = edge_index[..., :-1].astype(jnp.int32)
        index = jnp.where((index >= 0) & (index < bins), index, bins)
        counts = jax.ops.segment_sum(mass.ravel(), index.ravel(), num_segments=bins + 1)
        return counts[:bins]
