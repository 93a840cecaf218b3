"""Which parameters a fit optimises, their names, and their bounds.

A potential's parameters are its inexact array leaves (internal units: nm, ps, g/mol,
kJ/mol, e, K, rad). A fit selects some of them by *name* — the attribute path from the
potential, e.g. `"bond.k"` or `"sigma"` for `spc_fw(...)` — and keeps the rest frozen. Names
are what `jax.tree_util.keystr` prints without the leading dot.

Bounds are objects: `Interval(lower, upper)` projects a parameter back into `[lower, upper]`
after every optimiser update (projected gradient descent). Bounds are given as quantities
and converted to the internal unit of the parameter's dimension.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, PyTree

from observables import UnitError, ureg

__all__ = [
    "parameter_names",
    "select",
    "flat_parameters",
    "with_parameters",
    "internal_magnitude",
    "Interval",
    "apply_bounds",
    "check_bound_units",
    "molar_dimensionality",
]

#: internal unit of each pint base dimension (coherent: (g/mol)·nm²/ps² = kJ/mol).
_INTERNAL_BASE = {
    "[length]": "nm",
    "[time]": "ps",
    "[mass]": "g",
    "[substance]": "mol",
    "[temperature]": "K",
    "[current]": "elementary_charge / ps",
}


def _name(path) -> str:
    return jax.tree_util.keystr(path).lstrip(".")


def parameter_names(potential: PyTree) -> list[str]:
    """Names of every inexact array leaf of `potential` (the fittable parameters)."""
    leaves = jax.tree_util.tree_leaves_with_path(eqx.filter(potential, eqx.is_inexact_array))
    return [_name(p) for p, _ in leaves]


def select(potential: PyTree, trainable: Sequence[str] | None = None) -> PyTree[bool]:
    """Filter spec (a pytree of bools) selecting the parameters named in `trainable`
    (`None`: all inexact array leaves). Unknown names raise a `KeyError` listing the
    available ones (with a close match when there is one)."""
    if trainable is None:
        return jax.tree.map(eqx.is_inexact_array, potential)
    names = parameter_names(potential)
    wanted = list(trainable)
    if not wanted:
        raise ValueError("trainable is empty: name at least one parameter")
    for w in wanted:
        if w not in names:
            close = difflib.get_close_matches(str(w), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(
                f"no parameter named {w!r}{hint}; the potential's parameters are: "
                f"{', '.join(names)}"
            )
    return jax.tree_util.tree_map_with_path(
        lambda p, x: eqx.is_inexact_array(x) and _name(p) in wanted, potential
    )


def flat_parameters(params: PyTree) -> dict[str, Array]:
    """`{name: array}` for the non-`None` array leaves of a (partitioned) pytree."""
    return {_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(params) if eqx.is_array(x)}


def with_parameters(potential: PyTree, values: dict[str, Any]) -> PyTree:
    """`potential` with the named parameters set to `values` in internal units (e.g. the
    `final_parameters` of a fit's `fit.json`), each keeping its dtype and shape. Unknown
    names raise the `KeyError` of `select`; a value of another shape a `ValueError`."""
    if not values:
        return potential
    select(potential, list(values))

    def set_one(path, x):
        name = _name(path)
        if not (eqx.is_inexact_array(x) and name in values):
            return x
        value = jnp.asarray(values[name], x.dtype)
        if value.shape != x.shape:
            raise ValueError(f"parameter {name!r} has shape {x.shape}, got {value.shape}")
        return value

    return jax.tree_util.tree_map_with_path(set_one, potential)


def internal_magnitude(q: Any, name: str = "value") -> float:
    """Magnitude of a quantity in the internal unit of its dimension (e.g. kJ/mol/nm² →
    g/(mol·ps²), which is numerically the same; per-particle energies and masses made molar
    through N_A; angles in rad). A string is parsed first; a bare number is refused."""
    if isinstance(q, str):
        try:
            q = ureg.Quantity(q)
        except Exception as err:
            raise UnitError(f"{name}: cannot parse quantity {q!r}: {err}") from err
    if not isinstance(q, pint.Quantity):
        raise UnitError(
            f"{name} must be a quantity with units (e.g. '3.4 angstrom'), got {q!r}; bare "
            "numbers have no unit"
        )
    # Internal masses are molar (g/mol) and energies kJ/mol: a per-particle quantity (eV,
    # Da, ε/k_B given as 'K * boltzmann_constant', eV/Å²) becomes molar through N_A raised
    # to its mass power; a molar one (kJ/mol, kcal/mol/Å²) has mass + substance powers 0.
    dims = q.dimensionality
    per_particle = dims.get("[mass]", 0) + dims.get("[substance]", 0)
    if per_particle:
        q = q * ureg.avogadro_constant**per_particle
    unit = ureg.Unit("")
    for dim, power in q.dimensionality.items():
        if dim not in _INTERNAL_BASE:
            raise UnitError(f"{name}: unsupported dimension {dim} in {q.units}")
        unit = unit * ureg.Unit(_INTERNAL_BASE[dim]) ** power
    mag = q.to(unit).magnitude if not q.dimensionless else q.to("radian").magnitude
    return float(np.asarray(mag))


class Interval(eqx.Module):
    """Projection of a parameter onto `[lower, upper]` after each update.

    **Arguments:** `lower`, `upper`: quantities (or `None` for an open side) of the
    parameter's dimension, converted to internal units; `lower < upper` is checked.
    """

    lower: float | None = eqx.field(static=True)
    upper: float | None = eqx.field(static=True)
    #: The units the bounds were given in (`None` for an open side), for dimension checks.
    units: tuple[str | None, str | None] = eqx.field(static=True)

    def __init__(self, lower: Any = None, upper: Any = None, *, name: str = "bound"):
        self.lower = None if lower is None else internal_magnitude(lower, f"{name} lower")
        self.upper = None if upper is None else internal_magnitude(upper, f"{name} upper")
        self.units = (_unit_of(lower), _unit_of(upper))
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"{name}: lower bound {lower} is not below upper bound {upper}")

    def project(self, x: Array) -> Array:
        """`x` clipped to `[lower, upper]` (an open side is unbounded), in `x`'s dtype."""
        lo = -jnp.inf if self.lower is None else self.lower
        hi = jnp.inf if self.upper is None else self.upper
        return jnp.clip(x, jnp.asarray(lo, x.dtype), jnp.asarray(hi, x.dtype))


def _unit_of(value: Any) -> str | None:
    """The unit of a bound as text (`None` for an open side)."""
    if value is None:
        return None
    q = ureg.Quantity(value) if isinstance(value, str) else value
    return str(q.units) if isinstance(q, pint.Quantity) else None


def molar_dimensionality(unit: str) -> Any:
    """The dimensionality of `unit` after per-particle quantities are made molar (as
    `internal_magnitude` does): eV and kJ/mol, Da and g/mol compare equal."""
    q = ureg.Quantity(1.0, unit)
    dims = q.dimensionality
    per_particle = dims.get("[mass]", 0) + dims.get("[substance]", 0)
    return (q * ureg.avogadro_constant**per_particle).dimensionality if per_particle else dims


def check_bound_units(bounds: dict[str, Interval], units: dict[str, str]) -> dict:
    """`bounds`, after checking that each side was given in the dimension of its
    parameter (`units`: the parameter's internal unit, `""` when not known); a `UnitError`
    names the parameter and both units (a length bound given in K)."""
    for name, interval in bounds.items():
        expected = units.get(name, "")
        for given in getattr(interval, "units", ()):
            if given is None or not expected:
                continue
            if molar_dimensionality(given) != molar_dimensionality(expected):
                raise UnitError(
                    f"bounds {name!r}: given in {given} ({ureg.Unit(given).dimensionality}), "
                    f"but {name} is in {expected} ({ureg.Unit(expected).dimensionality}); give "
                    "the bound in a unit of that dimension (an energy as ε/k_B: 'K * "
                    "boltzmann_constant')"
                )
    return bounds


def apply_bounds(params: PyTree, bounds: dict[str, Interval] | None) -> PyTree:
    """Project the named leaves of `params` onto their `Interval`s."""
    if not bounds:
        return params
    names = set(flat_parameters(params))
    unknown = sorted(set(bounds) - names)
    if unknown:
        raise KeyError(
            f"bounds given for {unknown}, which are not fitted parameters ({sorted(names)})"
        )
    return jax.tree_util.tree_map_with_path(
        lambda p, x: bounds[_name(p)].project(x) if _name(p) in bounds else x, params
    )
