"""Truncation of a pair function at the cutoff: options passed to pair potentials.

- `Shifted()` (default for LJ, Morse, Buckingham): u(r) = φ(r) − φ(r_c) — continuous energy,
  force jumps by φ'(r_c) at r_c;
- `ForceShifted()`: u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c) — energy and force continuous;
- `Switched(width)`: a C² switch over the last `width` before r_c;
- `Truncated()`: u(r) = φ(r) (energy jumps; the tabulated and neural potentials already
  vanish smoothly at r_c and use this).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import switch_c2
from ._param_units import as_length

__all__ = ["AbstractTruncation", "ForceShifted", "Shifted", "Switched", "Truncated"]

#: A vectorised pair function φ: distances (nm) → energies (kJ/mol), same shape.
PairFunction = Callable[[Array], Array]


class AbstractTruncation(eqx.Module):
    """How a pair function φ(r) is cut off at r_c."""

    @abc.abstractmethod
    def __call__(
        self, phi: PairFunction, r: Float[Array, "*pair"], r_cut: float
    ) -> Float[Array, "*pair"]:
        """u(r) from the vectorised pair function `phi` (same shape as `r`)."""


class Shifted(AbstractTruncation):
    """u(r) = φ(r) − φ(r_c): energy continuous at the cutoff."""

    def __call__(self, phi, r, r_cut):
        return phi(r) - phi(jnp.full_like(r, r_cut))


class ForceShifted(AbstractTruncation):
    """u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c): energy and force continuous."""

    def __call__(self, phi, r, r_cut):
        rc = jnp.full_like(r, r_cut)
        phi_c, dphi_c = jax.jvp(phi, (rc,), (jnp.ones_like(r),))
        return phi(r) - phi_c - (r - rc) * dphi_c


class Switched(AbstractTruncation):
    """u(r) = S(r) [φ(r) − φ(r_c)] with the quintic switch S of `switch_c2` acting over the
    last `width` before r_c: energy, force *and* force derivative continuous (C²), which
    is what long NVE runs need to conserve energy to ≲ 10⁻⁵ per ns (with `ForceShifted` the
    jump of u'' at r_c makes every crossing of the cutoff a small random energy error; see
    docs/water-validation.md). Forces are modified only for r_c − width < r < r_c.

    **Arguments:** `width`: length Quantity, 0 < width < r_c (checked when used).
    """

    width: float = eqx.field(static=True)

    def __init__(self, width: Any):
        self.width = float(as_length(width, "width"))
        if not self.width > 0:
            raise ValueError(f"Switched width must be positive, got {self.width} nm")

    def __call__(self, phi, r, r_cut):
        if not self.width < r_cut:
            raise ValueError(
                f"Switched width {self.width} nm must be smaller than the cutoff {r_cut} nm"
            )
        shifted = phi(r) - phi(jnp.full_like(r, r_cut))
        return switch_c2(r, r_cut - self.width, r_cut) * shifted


class Truncated(AbstractTruncation):
    """u(r) = φ(r): plain truncation (for forms that already vanish at r_c)."""

    def __call__(self, phi, r, r_cut):
        return phi(r)
