"""Unit and axis conversions shared by the experimental side (`Reference`) and the model side
(predictions, plots) of a loss.

The x axis is converted with the spectroscopic relations when both units are spectral axis
units (cm⁻¹ ↔ THz ↔ meV ↔ rad/ps, via `observables.axis_scale`; the order of points is
preserved because all these units are proportional to ω), otherwise by plain pint conversion
(nm ↔ Å, K ↔ °C). y values are converted by pint, with the molar variants of
`observables.to_magnitude`. A dimension mismatch raises `UnitError` naming both units.
NumPy in, NumPy out: these run when a loss is built or a plot is drawn, never inside `jit`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pint

from observables import Quantity, UnitError, axis_scale, to_magnitude, ureg

__all__ = [
    "unit_str",
    "same_unit",
    "is_spectral",
    "convert_x",
    "convert_y",
    "convert_bound",
    "convert_pair",
]


def unit_str(unit: Any) -> str:
    """Canonical string of a unit (parseable by `observables.ureg`)."""
    try:
        u = unit if isinstance(unit, pint.Unit) else ureg.Unit(unit)
    except (pint.errors.UndefinedUnitError, AttributeError, TypeError, ValueError) as err:
        raise UnitError(f"cannot parse unit {unit!r}: {err}") from None
    s = format(u, "~C")
    return "dimensionless" if s == "" else s


def same_unit(a: str, b: str) -> bool:
    """True when `a` and `b` name the same unit."""
    return ureg.Unit(a) == ureg.Unit(b)


def is_spectral(unit: str) -> bool:
    """True for a spectral axis unit (frequency, wavenumber, photon energy, angular frequency)."""
    try:
        axis_scale(unit)
    except UnitError:
        return False
    return True


def convert_x(values: Any, src: str, dst: str, what: str) -> np.ndarray:
    """x magnitudes converted from `src` to `dst` (spectral relations where both are
    spectral); `UnitError` naming both units and their dimensions otherwise."""
    values = np.asarray(values, dtype=float)
    if is_spectral(src) and is_spectral(dst):
        return values * (axis_scale(dst) / axis_scale(src))
    try:
        return np.asarray(ureg.Quantity(values, src).m_as(dst), dtype=float)
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"{what}: x in {unit_str(src)} ({ureg.Unit(src).dimensionality}) cannot be "
            f"converted to {unit_str(dst)} ({ureg.Unit(dst).dimensionality})"
        ) from None


def convert_y(values: Any, src: str, dst: str, what: str) -> np.ndarray:
    """y magnitudes converted from `src` to `dst` (pint, molar variants as in
    `observables.to_magnitude`); `UnitError` naming both units otherwise."""
    try:
        return np.asarray(
            to_magnitude(ureg.Quantity(np.asarray(values, dtype=float), src), dst, "y"),
            dtype=float,
        )
    except UnitError:
        raise UnitError(
            f"{what}: y in {unit_str(src)} ({ureg.Unit(src).dimensionality}) cannot be "
            f"converted to {unit_str(dst)} ({ureg.Unit(dst).dimensionality})"
        ) from None


def convert_bound(q: Any, dst: str, name: str) -> float:
    """A bound (`x_range` end, window edge) given as a Quantity, as a float in `dst`."""
    if not isinstance(q, pint.Quantity):
        raise UnitError(
            f"{name} must be a Quantity (e.g. Quantity(1500, '1/cm')), got {q!r} "
            f"({type(q).__name__}); the loss compares in {dst}"
        )
    m = np.asarray(q.magnitude, dtype=float)
    if m.ndim != 0:
        raise ValueError(f"{name} must be a single value, got shape {m.shape}")
    return float(convert_x(m, unit_str(q.units), dst, name))


def convert_pair(pair: Any, dst: str, name: str) -> tuple[float, float]:
    """`(lo, hi)` from a pair of Quantities or a Quantity of shape [2], in `dst`; lo < hi."""
    if isinstance(pair, pint.Quantity):
        m = np.asarray(pair.magnitude, dtype=float)
        if m.shape != (2,):
            raise ValueError(f"{name} must hold two values (lo, hi), got shape {m.shape}")
        lo, hi = (convert_bound(Quantity(v, pair.units), dst, name) for v in m)
    elif isinstance(pair, tuple | list) and len(pair) == 2:
        lo, hi = (convert_bound(v, dst, name) for v in pair)
    else:
        raise ValueError(
            f"{name} must be (lo, hi) as two Quantities or a Quantity of two values, got {pair!r}"
        )
    if not lo < hi:
        raise ValueError(f"{name} must have lo < hi, got {pair} ({lo:g} >= {hi:g} {dst})")
    return lo, hi
