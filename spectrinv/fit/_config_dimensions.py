"""The dimension of every fittable parameter of a configuration's models, checked when the
config is read: a starting value (`[model.parameters]`) or a bound (`[fit.bounds]`) of the
wrong dimension — a length given in K — is a `ConfigError` naming the key and both units,
not a fit that starts from a meaningless number."""

from __future__ import annotations

from typing import Any

import numpy as np

from observables import Quantity, ureg

from ._config_schema import ConfigError

__all__ = ["parameter_quantity"]

_LENGTH = (("[length]",), "a length", "'0.316 nm' or '3.16 angstrom'")
_ENERGY = (
    ("[energy]/[substance]", "[energy]"),
    "an energy (or ε/k_B as a temperature)",
    "'0.65 kJ/mol', '0.0067 eV' or '78 K'",
)
#: name -> (accepted pint dimensions, what it is, example values) for the parameters of the
#: config's models (spc_fw, q_spc_fw, lennard_jones); an empty dimension is dimensionless.
PARAMETER_DIMENSIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "sigma": _LENGTH,
    "epsilon": _ENERGY,
    "bond.length": _LENGTH,
    "bond.k": (
        ("[energy]/[substance]/[length]**2", "[energy]/[length]**2"),
        "a bond force constant (energy per length²)",
        "'443000 kJ/mol/nm**2'",
    ),
    "angle.k": (
        ("[energy]/[substance]", "[energy]"),
        "an angle force constant (energy per rad²)",
        "'317 kJ/mol/rad**2'",
    ),
    "angle.theta0": (("",), "an angle", "'108 degree' or '1.885 rad'"),
    "charge_oxygen": (("[charge]",), "a charge", "'-0.82 e'"),
    "dipole.bond_flux": (("[charge]/[length]",), "a charge flux per length", "'0.5 e/angstrom'"),
    "dipole.r0": _LENGTH,
    "dipole.angle_flux": (("[charge]",), "a charge flux per radian", "'0.05 e' (per rad)"),
    "dipole.theta0": (("",), "an angle", "'113.24 degree'"),
    "dipole.charge_scale": (("",), "a number", "'0.9' or '0.9 dimensionless'"),
}


def _parse(value: Any, where: str) -> Quantity:
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: expected a quantity string with units like '0.3 nm', got {value!r}"
        )
    try:
        q = ureg.Quantity(value)
    except Exception as err:
        detail = " ".join(str(err).split())
        raise ConfigError(f"{where}: cannot parse {value!r}: {detail}") from None
    if not isinstance(q, Quantity):
        raise ConfigError(f"{where}: {value!r} has no unit; write it like '0.3 nm'")
    if not np.all(np.isfinite(q.magnitude)):
        raise ConfigError(f"{where}: {value!r} is not a finite number")
    return q


def _has(q: Quantity, dimension: str) -> bool:
    return bool(q.dimensionless) if dimension == "" else bool(q.check(dimension))


def parameter_quantity(value: Any, name: str, where: str) -> Quantity:
    """`value` (a string like `"0.3 nm"`) as a quantity of parameter `name`'s dimension; an
    energy may be given as ε/k_B in K. A parameter not in `PARAMETER_DIMENSIONS` only needs
    a unit. Raises `ConfigError` naming `where`, the value's unit and the expected one."""
    q = _parse(value, where)
    spec = PARAMETER_DIMENSIONS.get(name)
    if spec is None:
        return q
    dimensions, what, example = spec
    if any(_has(q, dim) for dim in dimensions):
        return q
    if dimensions is _ENERGY[0] and q.check("[temperature]"):
        return (q * ureg.boltzmann_constant).to("eV")
    unit = f"{q.units:~P}" or "dimensionless"
    raise ConfigError(
        f"{where}: {value!r} is in {unit} ({q.dimensionality}), but {name} is {what}; "
        f"give it in a unit of that kind, e.g. {example}"
    )
