"""Bonded terms of molecular models: bond stretches (harmonic, Morse) and harmonic angle
bends, with the geometry helpers that measure bond lengths and angles under periodic
boundaries. Energies in kJ/mol, lengths in nm, angles in rad; every constructor takes
pint quantities (or magnitudes in those units).
"""

from __future__ import annotations

import abc
import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ._base import System, minimum_image
from ._electrostatics import _safe_norm

__all__ = [
    "AbstractBond",
    "HarmonicBond",
    "MorseBond",
    "HarmonicAngle",
    "angle_between",
    "bond_angles",
    "bond_lengths",
]


def _param(q: Any, unit: str, name: str) -> Array:
    return jnp.asarray(to_magnitude(q, unit, name), dtype=float)


# ------------------------------------------------------------------------ bonded terms
class AbstractBond(eqx.Module):
    """A bond-stretch energy U(r) in kJ/mol for r in nm."""

    @abc.abstractmethod
    def __call__(self, r: Float[Array, " bond"]) -> Float[Array, " bond"]: ...

    @property
    @abc.abstractmethod
    def r0(self) -> Array:
        """Equilibrium length (nm)."""


class HarmonicBond(AbstractBond):
    """U(r) = (k/2)(r - r₀)². `k`: energy/length² Quantity; `r0`: length Quantity."""

    k: Float[Array, ""]
    length: Float[Array, ""]

    def __init__(self, k: Any, r0: Any):
        self.k = _param(k, "kJ/mol/nm**2", "k")
        self.length = _param(r0, "nm", "r0")

    @property
    def r0(self):
        return self.length

    def __call__(self, r):
        return 0.5 * self.k * (r - self.length) ** 2


class MorseBond(AbstractBond):
    """U(r) = D (1 - exp(-a (r - r₀)))². `depth` energy, `width` a (1/length), `r0` length.

    `MorseBond.from_harmonic(k, r0, depth)` sets a = sqrt(k / 2D) so that the curvature at
    r₀ equals a harmonic bond of force constant k (same harmonic frequency, anharmonic
    red shift of the stretch).
    """

    depth: Float[Array, ""]
    width: Float[Array, ""]
    length: Float[Array, ""]

    def __init__(self, depth: Any, width: Any, r0: Any):
        self.depth = _param(depth, "kJ/mol", "depth")
        self.width = _param(width, "1/nm", "width")
        self.length = _param(r0, "nm", "r0")

    @classmethod
    def from_harmonic(cls, k: Any, r0: Any, depth: Any) -> MorseBond:
        kk = to_magnitude(k, "kJ/mol/nm**2", "k")
        d = to_magnitude(depth, "kJ/mol", "depth")
        return cls(depth, Quantity(math.sqrt(kk / (2 * d)), "1/nm"), r0)

    @property
    def r0(self):
        return self.length

    def __call__(self, r):
        return self.depth * (1.0 - jnp.exp(-self.width * (r - self.length))) ** 2


class HarmonicAngle(eqx.Module):
    """U(θ) = (k/2)(θ - θ₀)². `k`: energy/rad² Quantity (e.g. "kcal/mol/rad**2"); `theta0`:
    angle Quantity (degrees or radians)."""

    k: Float[Array, ""]
    theta0: Float[Array, ""]

    def __init__(self, k: Any, theta0: Any):
        self.k = _param(k, "kJ/mol/rad**2", "k")
        self.theta0 = _param(theta0, "rad", "theta0")

    def __call__(self, theta):
        return 0.5 * self.k * (theta - self.theta0) ** 2


def bond_lengths(positions: Array, system: System) -> Array:
    """O–H (bond) lengths, nm, `[bond]`, minimum image across the box."""
    b = system.topology.bonds
    dr = minimum_image(positions[b[:, 1]] - positions[b[:, 0]], system.box)
    r, _ = _safe_norm(dr, jnp.ones(b.shape[0], bool))
    return r


def bond_angles(positions: Array, system: System) -> Array:
    """Angles (rad) `[angle]` at the middle atom, minimum image across the box."""
    a = system.topology.angles
    u = minimum_image(positions[a[:, 0]] - positions[a[:, 1]], system.box)
    v = minimum_image(positions[a[:, 2]] - positions[a[:, 1]], system.box)
    return angle_between(u, v)


def angle_between(u: Float[Array, "... 3"], v: Float[Array, "... 3"]) -> Float[Array, "..."]:
    """Angle (rad) between the vectors `u` and `v` (non-zero, not both collinear-zero)."""
    # atan2(|u x v|, u.v): accurate near 0 and π, finite gradients
    cross = jnp.cross(u, v)
    sin_n, _ = _safe_norm(cross, jnp.ones(cross.shape[:-1], bool))
    return jnp.arctan2(sin_n, jnp.sum(u * v, axis=-1))
