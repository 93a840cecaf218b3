"""Polarizability models for Raman: total cell polarizability α (nm³, polarizability volume).

A model is an equinox module `model(positions, system) -> α [3, 3]` in internal units
(positions nm; α is the polarizability *volume* α/(4πε₀) in nm³, the convention of
`Trajectory.polarizability`), jit/vmap/grad safe, so a backend can record it per frame.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from observables._units import to_magnitude

from ._base import System, minimum_image
from ._electrostatics import _safe_norm

__all__ = ["AbstractPolarizabilityModel", "BondPolarizability"]


def _leaf(q: Any, unit: str, name: str) -> Array:
    return jnp.asarray(to_magnitude(q, unit, name), dtype=float)


class AbstractPolarizabilityModel(eqx.Module):
    """`(positions [atom, 3] nm, system) -> α [3, 3] nm³` (symmetric)."""

    @abc.abstractmethod
    def __call__(
        self, positions: Float[Array, "atom 3"], system: System
    ) -> Float[Array, "3 3"]: ...


class BondPolarizability(AbstractPolarizabilityModel):
    r"""Bond-polarizability model (Wolkenstein; Long, *The Raman Effect*, 2002, §5.9):

    $$\boldsymbol\alpha = \sum_{b\in\text{bonds}} \Big[\alpha_\perp(r_b)\,\mathbf 1
    + \big(\alpha_\parallel(r_b) - \alpha_\perp(r_b)\big)\,
    \hat{\mathbf u}_b\hat{\mathbf u}_b^T\Big],$$

    $$\alpha_\parallel(r) = \alpha_\parallel^0 + \alpha_\parallel'(r - r_0),\qquad
    \alpha_\perp(r) = \alpha_\perp^0 + \alpha_\perp'(r - r_0),$$

    with û_b the unit vector along bond b (`topology.bonds`, minimum image) and r_b its
    length. The isotropic invariant is ᾱ = Σ_b (α∥ + 2α⊥)/3 and the anisotropy of one bond
    is α∥ - α⊥. The bond-length derivatives α∥', α⊥' carry the Raman intensity of the
    stretching modes; the angular dependence carries the bend and librations.

    All bonds share one parameter set (e.g. the O–H bonds of water). There are no
    defaults: parameters depend on the molecule and must be chosen (or fitted) by the
    user. For orientation, the gas-phase mean polarizability of water is 1.47 Å³, i.e.
    α∥⁰ + 2α⊥⁰ ≈ 2.2 Å³ per O–H bond if the molecule is described by its two bonds only.

    **Arguments** (pint Quantities): `alpha_parallel`, `alpha_perpendicular` (volume,
    e.g. Å³; SI C·m²/V is converted), `d_alpha_parallel`, `d_alpha_perpendicular`
    (volume/length, e.g. Å²), `r0` (length). All are fittable leaves.
    """

    alpha_parallel: Float[Array, ""]
    alpha_perpendicular: Float[Array, ""]
    d_alpha_parallel: Float[Array, ""]
    d_alpha_perpendicular: Float[Array, ""]
    r0: Float[Array, ""]

    def __init__(
        self,
        alpha_parallel: Any,
        alpha_perpendicular: Any,
        d_alpha_parallel: Any,
        d_alpha_perpendicular: Any,
        r0: Any,
    ):
        self.alpha_parallel = _leaf(alpha_parallel, "polarizability", "alpha_parallel")
        self.alpha_perpendicular = _leaf(
            alpha_perpendicular, "polarizability", "alpha_perpendicular"
        )
        self.d_alpha_parallel = _leaf(d_alpha_parallel, "nm**2", "d_alpha_parallel")
        self.d_alpha_perpendicular = _leaf(d_alpha_perpendicular, "nm**2", "d_alpha_perpendicular")
        self.r0 = _leaf(r0, "nm", "r0")

    def bond_tensors(self, positions, system) -> Float[Array, "bond 3 3"]:
        """Per-bond polarizability tensors (nm³)."""
        if system.topology is None:
            raise ValueError("BondPolarizability needs a System with a Topology (bonds)")
        b = system.topology.bonds
        dr = minimum_image(positions[b[:, 1]] - positions[b[:, 0]], system.box)
        r, _ = _safe_norm(dr, jnp.ones(b.shape[0], bool))
        u = dr / r[:, None]
        a_par = self.alpha_parallel + self.d_alpha_parallel * (r - self.r0)
        a_perp = self.alpha_perpendicular + self.d_alpha_perpendicular * (r - self.r0)
        eye = jnp.eye(3, dtype=positions.dtype)
        return (
            a_perp[:, None, None] * eye
            + (a_par - a_perp)[:, None, None] * u[:, :, None] * u[:, None, :]
        )

    def __call__(self, positions, system):
        return jnp.sum(self.bond_tensors(positions, system), axis=0)
