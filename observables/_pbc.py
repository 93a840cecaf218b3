r"""Periodic-cell geometry: perpendicular widths, minimum image, wrapping.

Cells follow the `Trajectory` convention: a `[3, 3]` matrix $H$ whose **rows** are the cell
vectors $\mathbf a, \mathbf b, \mathbf c$ (nm), so a Cartesian position is
$\mathbf r = \mathbf s H$ for fractional coordinates $\mathbf s \in [0, 1)^3$.

**Minimum image by rounding fractional coordinates.** For a separation $\mathbf d$ the
image $\mathbf d' = (\mathbf s - \operatorname{round}(\mathbf s)) H$, $\mathbf s = \mathbf d
H^{-1}$, is the shortest image in an orthorhombic cell, but *not always* in a skewed
(triclinic) one. It is guaranteed to be the shortest image whenever that image is shorter than
half the smallest perpendicular width $w_{\min}/2$: the $i$-th fractional component of any
vector $\mathbf v$ is $\mathbf v \cdot \mathbf b^*_i$ with $|\mathbf b^*_i| = 1/w_i$, so the
shortest image $\mathbf d^*$ with $|\mathbf d^*| < w_{\min}/2$ has all fractional components
in $(-\tfrac12, \tfrac12)$, and it differs from $\mathbf d'$ (also in $[-\tfrac12, \tfrac12]^3$)
by an integer vector, which must be zero. Conversely at most one image of a pair can be shorter
than $w_{\min}/2$ (two such images differ by a non-zero lattice vector, of length
$\ge w_{\min}$). Hence every pair within $r \le w_{\min}/2$ is found exactly once with its
correct distance — which is why pair observables such as the RDF limit
$r_{\max} \le w_{\min}/2$.

Reference: M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.
(Oxford, 2017), §1.6.2 and §8.2.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["perpendicular_widths", "minimum_image", "wrap_positions"]


def perpendicular_widths(box_matrix: Float[Array, "*frame 3 3"]) -> Float[Array, "*frame 3"]:
    r"""Distances between opposite faces of the cell, $w_a = V/|\mathbf b\times\mathbf c|$ etc.

    **Arguments:** `box_matrix`: `[..., 3, 3]`, rows are the cell vectors (nm).

    **Returns:** `[..., 3]` widths (nm) across the faces spanned by (b, c), (c, a), (a, b).
    For an orthorhombic box these are the edge lengths. A numpy input gives a numpy output
    (no JAX dispatch, used for argument checks outside `jit`).
    """
    xp = np if isinstance(box_matrix, np.ndarray) else jnp  # numpy in, numpy out
    a, b, c = box_matrix[..., 0, :], box_matrix[..., 1, :], box_matrix[..., 2, :]
    volume = xp.abs(xp.sum(a * xp.cross(b, c), axis=-1))
    areas = xp.stack(
        [
            xp.linalg.norm(xp.cross(b, c), axis=-1),
            xp.linalg.norm(xp.cross(c, a), axis=-1),
            xp.linalg.norm(xp.cross(a, b), axis=-1),
        ],
        axis=-1,
    )
    return volume[..., None] / areas


def minimum_image(
    separation: Float[Array, "*pair 3"], box_matrix: Float[Array, "3 3"]
) -> Float[Array, "*pair 3"]:
    """Image of `separation` (nm) with fractional components in [-1/2, 1/2].

    Exact (the shortest image) whenever the shortest image is shorter than half the smallest
    perpendicular width of the cell; see the module docstring for the proof and why longer
    separations in skewed cells may not be minimal.
    """
    frac = separation @ jnp.linalg.inv(box_matrix)
    frac = frac - jnp.round(frac)
    return frac @ box_matrix


def wrap_positions(
    positions: Float[Array, "*atom 3"], box_matrix: Float[Array, "3 3"]
) -> Float[Array, "*atom 3"]:
    """Positions (nm) mapped into the cell: fractional coordinates in [0, 1)."""
    frac = positions @ jnp.linalg.inv(box_matrix)
    frac = frac - jnp.floor(frac)
    return frac @ box_matrix
