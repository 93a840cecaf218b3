"""The `[model]` table of a fit configuration: the potential to fit, in the fit's precision."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity, UnitError, ureg

from ..potentials import (
    ChargeFluxDipole,
    DampedShiftedForce,
    ForceShifted,
    LennardJones,
    Shifted,
    q_spc_fw,
    spc_fw,
)
from ._config_dimensions import parameter_quantity
from ._config_schema import MODEL_KEYS, ConfigError, check_keys, choice, quantity, require
from ._params import internal_magnitude, parameter_names, with_parameters

__all__ = ["cast", "build_model"]


def cast(tree: Any, dtype: Any) -> Any:
    """`tree` with every floating-point array leaf cast to `dtype`."""
    return jax.tree.map(
        lambda x: (
            x.astype(dtype) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) else x
        ),
        tree,
    )


def build_model(t: dict, where: str, dtype: Any) -> tuple[Any, str]:
    """`(potential, model kind)`; the kind is `"water"` or `"lennard_jones"` (it decides the
    system builder and the default time step of the targets)."""
    kind = choice(require(t, "kind", where), set(MODEL_KEYS), f"{where} kind")
    check_keys(t, MODEL_KEYS[kind], where)
    if kind in ("spc_fw", "q_spc_fw"):
        cutoff = quantity(t.get("cutoff", "0.55 nm"), "[length]", f"{where} cutoff")
        alpha = quantity(t.get("alpha", "2.0 1/nm"), "1/[length]", f"{where} alpha")
        make = spc_fw if kind == "spc_fw" else q_spc_fw
        tail = t.get("tail_correction", False)
        if not isinstance(tail, bool):
            raise ConfigError(f"{where} tail_correction must be true or false, got {tail!r}")
        potential = make(DampedShiftedForce(alpha, cutoff), tail_correction=tail)
        if "dipole" in t:
            potential = potential.with_dipole(_dipole(t["dipole"], potential, f"{where}.dipole"))
    else:
        truncation = choice(
            t.get("truncation", "force_shifted"),
            {"force_shifted", "shifted"},
            f"{where} truncation",
        )
        potential = LennardJones(
            quantity(require(t, "sigma", where), "[length]", f"{where} sigma"),
            _energy(require(t, "epsilon", where), f"{where} epsilon"),
            quantity(require(t, "cutoff", where), "[length]", f"{where} cutoff"),
            truncation=ForceShifted() if truncation == "force_shifted" else Shifted(),
        )
    potential = _override(potential, dict(t.get("parameters", {})), f"{where} [parameters]")
    return cast(potential, dtype), ("water" if kind != "lennard_jones" else "lennard_jones")


DIPOLE_KEYS = {"kind", "bond_flux", "r0", "angle_flux", "theta0", "charge_scale"}


def _dipole(t: Any, potential: Any, where: str) -> ChargeFluxDipole:
    """The `[model.dipole]` table: `kind = "charge_flux"` with `bond_flux` (charge/length),
    `angle_flux` (charge per radian, default 0) and their reference geometry `r0`, `theta0`
    (default: the model's equilibrium bond length and angle), `charge_scale` (a number,
    default 1: the base charges' scale in the dipole)."""
    if not isinstance(t, dict):
        raise ConfigError(f'[{where}] must be a table like {{kind = "charge_flux", ...}}')
    check_keys(t, DIPOLE_KEYS, f"[{where}]")
    choice(require(t, "kind", f"[{where}]"), {"charge_flux"}, f"[{where}] kind")
    r0 = (
        quantity(t["r0"], "[length]", f"[{where}] r0")
        if "r0" in t
        else Quantity(float(potential.bond.length), "nm")
    )
    theta0 = (
        quantity(t["theta0"], "", f"[{where}] theta0")
        if "theta0" in t
        else Quantity(float(potential.angle.theta0), "radian")
    )
    return ChargeFluxDipole(
        bond_flux=quantity(
            t.get("bond_flux", "0 e/nm"), "[charge]/[length]", f"[{where}] bond_flux"
        ),
        r0=r0,
        angle_flux=quantity(t.get("angle_flux", "0 e"), "[charge]", f"[{where}] angle_flux"),
        theta0=theta0,
        charge_scale=_number(t.get("charge_scale", 1.0), f"[{where}] charge_scale"),
    )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _energy(text: Any, where: str) -> Quantity:
    """An energy per particle or per mole, or ε/k_B as a temperature."""
    for dim in ("[energy]", "[energy]/[substance]"):
        try:
            return quantity(text, dim, where)
        except ConfigError:
            continue
    try:
        return quantity(text, "[temperature]", where) * ureg.boltzmann_constant
    except ConfigError:
        pass
    raise ConfigError(f"{where}: {text!r} is not an energy (kJ/mol, eV, ...) or ε/k_B (K)")


def _override(potential: Any, values: dict, where: str) -> Any:
    """Set named parameters (`"bond.k" = "400000 kJ/mol/nm**2"`) in internal units."""
    names = parameter_names(potential)
    internal = {}
    for name, text in values.items():
        choice(name, set(names), where)
        try:
            internal[name] = internal_magnitude(
                parameter_quantity(text, name, f"{where} {name!r}"), name
            )
        except UnitError as err:
            raise ConfigError(f"{where}: {err}") from None
    return with_parameters(potential, internal)
