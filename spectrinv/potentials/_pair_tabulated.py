"""`TabulatedPair`: a cubic-spline pair potential whose knot values are fit parameters."""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from observables import ureg

from ._pair import AbstractPairPotential
from ._param_units import as_cutoff, as_energy, as_length
from ._truncation import Truncated

__all__ = ["TabulatedPair"]


@functools.lru_cache(maxsize=64)
def _spline_operator(n_knots: int, h: float) -> np.ndarray:
    """Matrix K with M = K y for the second derivatives of the cubic spline through
    (x_k, y_k), k = 0..n (y_n = 0 at the cutoff), natural at x_0 (M_0 = 0) and clamped
    (S'(x_n) = 0) at the cutoff. Shape `[n + 1, n + 1]`."""
    n = n_knots
    a = np.zeros((n + 1, n + 1))
    b = np.zeros((n + 1, n + 1))
    a[0, 0] = 1.0
    for i in range(1, n):
        a[i, i - 1 : i + 2] = (1.0, 4.0, 1.0)
        b[i, i - 1 : i + 2] = np.array([1.0, -2.0, 1.0]) * 6.0 / h**2
    a[n, n - 1 : n + 1] = (1.0, 2.0)
    b[n, n - 1 : n + 1] = np.array([1.0, -1.0]) * 6.0 / h**2
    return np.linalg.solve(a, b)


class TabulatedPair(AbstractPairPotential):
    """Cubic-spline pair potential whose knot values are the fit parameters.

    Knots r_k = r_min + k h, k = 0..n, h = (r_c − r_min)/n. The parameters are the values
    u(r_0..r_{n−1}) (`values`, kJ/mol, `[n]` or `[species, species, n]`); u(r_n = r_c) = 0.
    The interpolating cubic spline is natural at r_min (u'' = 0) and clamped at r_c
    (u'(r_c) = 0), so energy and force go smoothly to zero at the cutoff. Below r_min it is
    continued linearly with the slope at r_min (keep r_min below the closest approach).

    Build one from any pair potential with `TabulatedPair.from_pair(other, r_min, n_knots)`.
    """

    values: Array
    r_min: float = eqx.field(static=True)

    def __init__(self, values, r_min, cutoff):
        vals = as_energy(values, "values")
        if vals.ndim not in (1, 3) or vals.shape[-1] < 3:
            raise ValueError(
                f"values must have shape [n_knots] or [species, species, n_knots] with "
                f"n_knots >= 3, got {vals.shape}"
            )
        if vals.ndim == 3 and not np.allclose(vals, np.swapaxes(vals, 0, 1)):
            raise ValueError("values[si, sj] must equal values[sj, si]")
        self.values = jnp.asarray(vals)
        self.r_min = float(as_length(r_min, "r_min"))
        self.r_cut = as_cutoff(cutoff)
        if not 0 <= self.r_min < self.r_cut:
            raise ValueError(f"need 0 <= r_min < cutoff, got {self.r_min} and {self.r_cut} nm")
        self.truncation = Truncated()

    @classmethod
    def from_pair(cls, pair: AbstractPairPotential, r_min: Any, n_knots: int) -> TabulatedPair:
        """Tabulate another (single-species or multi-species matrix) pair potential."""
        rmin = float(as_length(r_min, "r_min"))
        r = np.linspace(rmin, pair.r_cut, n_knots + 1)[:-1]
        n_species = 1
        for leaf in jax.tree.leaves(pair):
            if hasattr(leaf, "ndim") and leaf.ndim >= 1:
                n_species = max(n_species, leaf.shape[0])
        if n_species == 1:
            vals = np.asarray(pair.pair_energy(jnp.asarray(r)))
        else:
            s = np.arange(n_species)
            vals = np.asarray(
                pair.pair_energy(jnp.asarray(r)[None, None, :], s[:, None, None], s[None, :, None])
            )
        return cls(
            ureg.Quantity(vals, "kJ/mol"),
            ureg.Quantity(rmin, "nm"),
            ureg.Quantity(pair.r_cut, "nm"),
        )

    def _phi(self, r, si, sj, dtype):
        n = self.values.shape[-1]
        h = (self.r_cut - self.r_min) / n
        op = jnp.asarray(_spline_operator(n, h), dtype)
        y = self.values.astype(dtype)
        y = jnp.concatenate([y, jnp.zeros(y.shape[:-1] + (1,), dtype)], axis=-1)
        m = y @ op.T  # second derivatives at the knots
        t = (r - self.r_min) / h
        k = jnp.clip(jnp.floor(t).astype(jnp.int32), 0, n - 1)
        if y.ndim == 1:
            y0, y1, m0, m1 = y[k], y[k + 1], m[k], m[k + 1]
            slope0 = (y[1] - y[0]) / h - h * (2 * m[0] + m[1]) / 6.0
            ymin = y[0]
        else:
            y0, y1, m0, m1 = y[si, sj, k], y[si, sj, k + 1], m[si, sj, k], m[si, sj, k + 1]
            slope0 = (y[si, sj, 1] - y[si, sj, 0]) / h - h * (2 * m[si, sj, 0] + m[si, sj, 1]) / 6
            ymin = y[si, sj, 0]
        x0 = self.r_min + k.astype(dtype) * h
        a = (x0 + h - r) / h
        b = (r - x0) / h
        spline = a * y0 + b * y1 + ((a**3 - a) * m0 + (b**3 - b) * m1) * (h * h / 6.0)
        linear = ymin + slope0 * (r - self.r_min)
        return jnp.where(r < self.r_min, linear, spline)
