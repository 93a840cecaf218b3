r"""How a model curve and an experimental curve are scaled before they are compared.

Each option is applied to **both** curves, on the experimental grid, over the compared range
(the points with mask 1):

- `Absolute()`: as is. Compares absolute intensities (e.g. n·α in cm⁻¹); needs a model whose
  absolute scale is meaningful (IR intensities depend on the dipole model's charges).
- `AreaNormalised()`: $y / \int y\,dx$ (trapezoid over the compared range). Compares band
  shapes and relative intensities, insensitive to an overall scale; the result has the unit
  1/`x_unit`. The area must be positive.
- `PeakNormalised()`: $y / \max y$ over the compared range; dimensionless, the largest
  band is 1. The maximum must be positive. Its gradient flows through the maximal point only.

??? cite
    Computed IR spectra are usually compared with experiment after normalisation, because
    absolute intensities depend on the dipole model: M. Thomas, M. Brehm, R. Fligg,
    P. Vöhringer, B. Kirchner, "Computing vibrational spectra from ab initio molecular
    dynamics", Phys. Chem. Chem. Phys. 15, 6608 (2013).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import ureg

from ._base import LossError
from ._grid import trapezoid
from ._prediction import is_concrete
from ._units import unit_str

__all__ = ["AbstractNormalisation", "Absolute", "AreaNormalised", "PeakNormalised"]


class AbstractNormalisation(eqx.Module):
    """Scales a curve before comparison (see module docs)."""

    @abc.abstractmethod
    def __call__(
        self, x: Float[Array, " point"], y: Float[Array, " point"], mask: Float[Array, " point"]
    ) -> Float[Array, " point"]:
        """`y` scaled; `x`, `mask` as in `spectrinv.losses._grid`."""

    @abc.abstractmethod
    def unit(self, x_unit: str, y_unit: str) -> str:
        """Unit of the scaled y."""

    def check(self, x: np.ndarray, y: np.ndarray) -> None:
        """Raise `LossError` if the (experimental) curve `y(x)` cannot be normalised."""


class Absolute(AbstractNormalisation):
    """Compare the curves as they are (unit: the y unit)."""

    def __call__(self, x, y, mask):
        return y

    def unit(self, x_unit, y_unit):
        return y_unit


def _positive(scale: Array, what: str) -> Array:
    if is_concrete(scale):
        if not float(scale) > 0:
            raise LossError(f"{what} is {float(scale):g}; it must be positive to normalise")
        return scale
    return eqx.error_if(scale, ~(scale > 0), f"{what} is not positive; cannot normalise")


class AreaNormalised(AbstractNormalisation):
    r"""Divide by $\int y\,dx$ over the compared range (unit: 1/x unit)."""

    def __call__(self, x, y, mask):
        area = _positive(trapezoid(y, x, mask), "the area under the curve")
        return y / area

    def unit(self, x_unit, y_unit):
        return unit_str(1 / ureg.Unit(x_unit))

    def check(self, x, y):
        area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))
        if not area > 0:
            raise LossError(f"the area under the experimental curve is {area:g}; cannot normalise")


class PeakNormalised(AbstractNormalisation):
    """Divide by the maximum over the compared range (dimensionless)."""

    def __call__(self, x, y, mask):
        peak = _positive(jnp.max(jnp.where(mask > 0, y, -jnp.inf)), "the curve's maximum")
        return y / peak

    def unit(self, x_unit, y_unit):
        return "dimensionless"

    def check(self, x, y):
        if not float(np.max(y)) > 0:
            raise LossError(
                f"the maximum of the experimental curve is {float(np.max(y)):g}; cannot normalise"
            )


def check_normalisation(n) -> AbstractNormalisation:
    if not isinstance(n, AbstractNormalisation):
        raise TypeError(
            f"normalisation must be Absolute(), AreaNormalised() or PeakNormalised(), got {n!r}"
        )
    return n
