"""Unit helpers of the datasets: parsing, exact affine conversions, spectral axes.

Every unit string in `spectrinv.datasets` goes through `parse_unit` (so an unknown unit fails
with one `UnitError` that names it) and every conversion through `affine` (exact for offset
units such as °C) or, for spectral axes that convert reciprocally (wavelength ↔ wavenumber
↔ frequency ↔ photon energy), through pint's "sp" context.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pint

from observables import UnitError, ureg

__all__ = [
    "affine",
    "check_spectral_range",
    "is_spectral",
    "parse_unit",
    "quantity_to_float",
    "spectral_axis",
    "spectral_name",
    "unit_str",
    "x_magnitude",
]


def parse_unit(unit: Any, what: str) -> pint.Unit:
    """`unit` (a string such as ``"1/cm"`` or a `pint.Unit`) parsed by `observables.ureg`.

    Raises `UnitError` naming `what` and the unit if pint does not know it.
    """
    if isinstance(unit, pint.Unit):
        return unit
    if isinstance(unit, pint.Quantity):
        raise UnitError(f"{what} must be a unit such as '1/cm', not a quantity ({unit})")
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError(f"{what} must be a unit string such as '1/cm' or 'K', got {unit!r}")
    try:
        return ureg.Unit(unit)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as err:
        raise UnitError(
            f"{what}: unknown unit {unit!r} ({err}); e.g. '1/cm', 'K', 'mPa*s'"
        ) from None
    except (AttributeError, TypeError, ValueError, AssertionError) as err:
        raise UnitError(f"{what}: cannot parse unit {unit!r}: {err}") from None


def unit_str(u: pint.Unit) -> str:
    """The compact string of a unit (``"1/cm"``, ``"mPa*s"``; ``"dimensionless"``)."""
    s = format(u, "~C")
    return "dimensionless" if s == "" else s


def affine(old: str, new: Any, what: str) -> tuple[float, float, str]:
    """(scale, offset, new unit string) with value_new = scale * value_old + offset.

    Exact for multiplicative and offset (°C, °F) units alike. `UnitError` names both units.
    """
    new_str = new if isinstance(new, str) else format(new, "~C")
    u_new = parse_unit(new, what)
    try:
        # The slope from a wide interval, so that an offset (degC, degF) does not cancel
        # digits: (f(L) - f(0)) / L has a relative error ~1e-16 for L = 1e6.
        v0 = float(ureg.Quantity(0.0, old).m_as(u_new))
        v1 = v0 + (float(ureg.Quantity(1e6, old).m_as(u_new)) - v0) / 1e6
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"cannot convert {what} from {old!r} to {new_str!r}: the units have different "
            f"dimensions ({ureg.Unit(old).dimensionality} vs {u_new.dimensionality})"
        ) from None
    return v1 - v0, v0, new_str


#: Dimensions of spectral axes that convert reciprocally into each other (pint's "sp" context).
_SPECTRAL_DIMS = (
    ureg.Unit("m").dimensionality,
    ureg.Unit("1/m").dimensionality,
    ureg.Unit("Hz").dimensionality,
    ureg.Unit("J").dimensionality,
)


def is_spectral(unit: pint.Unit) -> bool:
    """True for a wavelength, wavenumber, frequency or photon-energy unit (not rad/s)."""
    return unit.dimensionality in _SPECTRAL_DIMS and "radian" not in dict(unit._units)


def spectral_name(unit: pint.Unit) -> str | None:
    """``"wavelength"``, ``"wavenumber"``, ``"frequency"``, ``"photon_energy"`` or None."""
    dim = unit.dimensionality
    for name, ref in (("wavelength", "m"), ("wavenumber", "1/m"), ("frequency", "Hz")):
        if dim == ureg.Unit(ref).dimensionality:
            return name
    if dim == ureg.Unit("J").dimensionality:
        return "photon_energy"
    return None


def spectral_axis(x: np.ndarray, old: str, new: Any) -> np.ndarray:
    """Magnitudes `x` `[point]` of a spectral axis in unit `old`, converted to `new` through
    pint's spectroscopy context (e.g. µm → 1/cm is $\\tilde\\nu = 1/\\lambda$)."""
    with ureg.context("sp"):
        return ureg.Quantity(x, old).m_as(parse_unit(new, "x_unit"))


def x_magnitude(value: pint.Quantity, unit: str) -> np.ndarray:
    """Magnitude of `value` in `unit`; spectral axes (wavelength, wavenumber, frequency,
    photon energy) convert into each other through pint's "sp" context. Raises
    `pint.errors.DimensionalityError` when they cannot."""
    try:
        return np.asarray(value.m_as(unit), dtype=float)
    except pint.errors.DimensionalityError:
        if not (is_spectral(value.units) and is_spectral(parse_unit(unit, "x unit"))):
            raise
        with ureg.context("sp"):
            return np.asarray(value.m_as(unit), dtype=float)


def quantity_to_float(value: Any, unit: str, what: str) -> float | None:
    """A scalar `Quantity` (or a string such as ``"298.15 K"``) as a float in `unit`.

    `None` stays `None`. A bare number is rejected with a `UnitError` that shows the fix.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = ureg.Quantity(value)
        except Exception as err:
            raise UnitError(f"{what}: cannot parse {value!r} as a quantity: {err}") from None
    if not isinstance(value, pint.Quantity):
        raise UnitError(
            f"{what}={value!r} has no unit; pass a Quantity, e.g. Quantity({value!r}, {unit!r})"
        )
    try:
        out = float(value.m_as(unit))
    except pint.errors.DimensionalityError:
        raise UnitError(f"{what} must be in units of {unit!r}, got {value.units:~P}") from None
    except TypeError:
        raise UnitError(f"{what} must be a scalar, got {value}") from None
    return out


#: Quantities whose x axis is a spectroscopic one (wavenumber, wavelength, frequency, energy).
SPECTRAL_QUANTITIES = frozenset(
    {"spectrum", "n_alpha", "absorbance", "absorption", "ir", "raman", "vdos", "transmittance"}
)
#: Wavenumbers (1/cm) a measured spectrum can lie at: microwave (0.3 mm) to hard X-ray.
_SPECTRAL_WINDOW = (1e-4, 1e9)


def check_spectral_range(x: np.ndarray, unit: str, name: str, quantity: str) -> None:
    """Refuse a spectrum whose x unit is not spectroscopic (e.g. kelvin), or whose x values,
    in `unit`, lie outside any spectrum (e.g. a wavenumber axis given the unit '1 parsec',
    read as wavelengths of parsecs): a `UnitError` naming the dataset, the unit and the
    dimension or where its points would lie."""
    if quantity not in SPECTRAL_QUANTITIES or x.size == 0:
        return
    u = parse_unit(unit, "x_unit")
    if not is_spectral(u):
        if quantity == "spectrum":  # the generic default of a table: any x axis may be meant
            return
        raise UnitError(
            f"dataset {name!r}: a {quantity!r} spectrum needs a spectroscopic x axis (wavenumber, "
            f"wavelength, frequency or photon energy), but x_unit {unit!r} is "
            f"{ureg.Quantity(1, u).dimensionality}; give the unit the file's x column is in, "
            "e.g. '1/cm', 'um' or 'THz'"
        )
    values = np.abs(x[x != 0])
    if values.size == 0:
        return
    with ureg.context("sp"):
        cm = ureg.Quantity(values, u).m_as("1/cm")
    lo, hi = float(np.min(cm)), float(np.max(cm))
    if hi < _SPECTRAL_WINDOW[0] or lo > _SPECTRAL_WINDOW[1]:
        raise UnitError(
            f"dataset {name!r}: x_unit {unit!r} puts its {quantity} at {lo:.3g} .. {hi:.3g} "
            f"1/cm, outside any spectrum ({_SPECTRAL_WINDOW[0]:g} .. {_SPECTRAL_WINDOW[1]:g} "
            "1/cm); give the unit the file's x column is in, e.g. '1/cm' (wavenumber), 'um' "
            "(wavelength) or 'THz'"
        )
