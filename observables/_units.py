"""One pint registry for the whole package, the internal unit system, and conversions.

Quantities cross public boundaries as `pint.Quantity`; inside `jit`/`grad` everything is a
plain array expressed in the **internal unit system**:

| dimension    | internal unit | note                                                     |
|--------------|---------------|----------------------------------------------------------|
| length       | nm            |                                                          |
| time         | ps            |                                                          |
| mass         | g/mol (= Da)  | molar mass; numerically the mass in daltons              |
| energy       | kJ/mol        | = (g/mol) nm² ps⁻², so the system is coherent            |
| charge       | e             | elementary charge                                        |
| temperature  | K             |                                                          |

This is the GROMACS / OpenMM convention. Because 1 (g/mol)·nm²/ps² = 1 kJ/mol exactly,
forces (kJ mol⁻¹ nm⁻¹) divided by masses (g/mol) are accelerations in nm ps⁻² with no
conversion factor, which keeps integrators free of magic numbers.

Molar and per-particle quantities are converted into each other with the Avogadro
constant: a mass in Da (per particle) becomes g/mol, an energy in eV or kcal/mol becomes
kJ/mol, a pressure in bar becomes kJ mol⁻¹ nm⁻³. An energy may also be given as a
temperature (ε/k_B in K, common for Lennard-Jones), converted with the molar gas constant.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pint

__all__ = [
    "ureg",
    "Quantity",
    "UnitError",
    "INTERNAL_UNITS",
    "internal_unit",
    "to_internal",
    "to_magnitude",
    "from_internal",
    "check_dimensionality",
    "BOLTZMANN",
    "EPSILON0",
    "SPEED_OF_LIGHT",
    "HBAR",
]

#: The package-wide registry. Always use this one (quantities from different registries
#: cannot be combined).
ureg = pint.UnitRegistry()
ureg.formatter.default_format = "~P"
Quantity = ureg.Quantity
pint.set_application_registry(ureg)


class UnitError(ValueError):
    """Raised when a quantity has the wrong unit, or is missing its unit."""


#: Internal unit of each named kind of quantity. Values are unit strings for `ureg`.
INTERNAL_UNITS: dict[str, str] = {
    "length": "nm",
    "time": "ps",
    "mass": "g/mol",
    "energy": "kJ/mol",
    "charge": "elementary_charge",
    "temperature": "kelvin",
    "velocity": "nm/ps",
    "force": "kJ/mol/nm",
    "pressure": "kJ/mol/nm**3",
    "volume": "nm**3",
    "dipole": "elementary_charge * nm",
    # Polarizability is stored as a polarizability *volume* α' = α / (4π ε0) (nm³), the form
    # quoted by most models and tables. SI polarizabilities (C m² V⁻¹) are converted on input.
    "polarizability": "nm**3",
    "heat_flux": "kJ/mol * nm/ps",
    "charge_current": "elementary_charge * nm/ps",
    "frequency": "1/ps",
    "angular_frequency": "rad/ps",
    "wavenumber": "1/cm",
    "diffusion": "nm**2/ps",
    "dimensionless": "dimensionless",
}

#: Physical constants in internal units (plain floats, usable inside jit).
BOLTZMANN: float = float(
    ureg.Quantity(1, "boltzmann_constant * avogadro_constant").m_as("kJ/mol/K")
)
HBAR: float = float(ureg.Quantity(1, "hbar * avogadro_constant").m_as("kJ/mol * ps"))
SPEED_OF_LIGHT: float = float(ureg.Quantity(1, "speed_of_light").m_as("nm/ps"))
#: Vacuum permittivity in e² mol kJ⁻¹ nm⁻¹.
EPSILON0: float = float(
    ureg.Quantity(1, "vacuum_permittivity / avogadro_constant").m_as(
        "elementary_charge**2 / (kJ/mol) / nm"
    )
)


def internal_unit(kind: str) -> pint.Unit:
    """The internal `pint.Unit` of a kind of quantity (a key of `INTERNAL_UNITS`)."""
    try:
        return ureg.Unit(INTERNAL_UNITS[kind])
    except KeyError:
        raise KeyError(
            f"unknown quantity kind {kind!r}; known kinds: {sorted(INTERNAL_UNITS)}"
        ) from None


def _unit_of(kind_or_unit: str | pint.Unit) -> pint.Unit:
    if isinstance(kind_or_unit, pint.Unit):
        return kind_or_unit
    if kind_or_unit in INTERNAL_UNITS:
        return internal_unit(kind_or_unit)
    return ureg.Unit(kind_or_unit)


def _is_quantity(x: Any) -> bool:
    return isinstance(x, pint.Quantity)


def check_dimensionality(q: Any, unit: str | pint.Unit, name: str) -> None:
    """Raise `UnitError` unless `q` is a pint quantity convertible to `unit`.

    The message names the argument, the unit given and the unit expected.
    """
    target = _unit_of(unit)
    if not _is_quantity(q):
        raise UnitError(
            f"{name} was given without units ({type(q).__name__}); expected a quantity in "
            f"{target:~P} (dimension {target.dimensionality}). Attach units, e.g. "
            f"observables.Quantity(value, '{target:~}')."
        )
    if q._REGISTRY is not ureg:
        raise UnitError(
            f"{name} was built with a different pint UnitRegistry; use observables.ureg "
            "(or pint.get_application_registry())."
        )
    if q.dimensionality != target.dimensionality and _molar_variant(q, target) is None:
        raise UnitError(
            f"{name} has unit {q.units:~P} ({q.dimensionality}), which cannot be converted "
            f"to {target:~P} ({target.dimensionality})."
        )


def to_magnitude(q: Any, unit: str | pint.Unit, name: str = "value") -> Any:
    """Magnitude of quantity `q` expressed in `unit` (a unit string or an INTERNAL_UNITS kind).

    Raises `UnitError` naming both units if the dimensions differ, or if `q` has no units.
    The magnitude keeps its array type (numpy stays numpy, jax stays jax).
    """
    target = _unit_of(unit)
    if _is_quantity(q) and target == internal_unit("polarizability"):
        q = _polarizability_as_volume(q, name)
    check_dimensionality(q, target, name)
    if q.dimensionality != target.dimensionality:
        q = _molar_variant(q, target)
    return q.m_as(target)


def to_internal(q: Any, kind: str, name: str = "value") -> Any:
    """Magnitude of `q` in the internal unit of `kind` (see `INTERNAL_UNITS`)."""
    return to_magnitude(q, internal_unit(kind), name)


def from_internal(x: Any, kind: str) -> pint.Quantity:
    """Wrap a plain array holding internal units of `kind` as a `Quantity`."""
    return ureg.Quantity(x, internal_unit(kind))


def _molar_variant(q: pint.Quantity, target: pint.Unit) -> pint.Quantity | None:
    """`q` times N_A, divided by N_A, or (energy given as a temperature) times R, if that
    matches the dimension of `target`; otherwise None."""
    na = ureg.Quantity(1, "avogadro_constant")
    candidates = [q * na, q / na]
    if q.dimensionality == ureg.kelvin.dimensionality:
        candidates.append(q * ureg.Quantity(1, "molar_gas_constant"))
    for c in candidates:
        if c.dimensionality == target.dimensionality:
            return c
    return None


def _polarizability_as_volume(q: pint.Quantity, name: str) -> pint.Quantity:
    """Accept SI polarizabilities (C m²/V, dimension of charge²·time²/mass) as volumes."""
    si = ureg.Unit("coulomb * meter**2 / volt")
    if q.dimensionality == si.dimensionality:
        return (q / (4 * np.pi * ureg.vacuum_permittivity)).to("nm**3")
    return q


def is_number_like(x: Any) -> bool:
    """True for Python/numpy scalars (used to reject bare floats with a helpful message)."""
    return isinstance(x, numbers.Number | np.generic)
