r"""`Dataset`: experimental values with units, uncertainty, state point and provenance.

A dataset is either a **table** $y(x)$ on a strictly ascending grid $x$ (a spectrum, a
property against temperature, a radial distribution function), or a set of **labelled
scalars** (elastic constants $C_{11}, C_{12}, C_{44}$; peak positions), for which `x` is
`None` and `labels` names the entries of `y`.

It is an `equinox.Module`, so a pytree: `x`, `y` and `uncertainty` are array leaves (plain
magnitudes in `x_unit` / `y_unit`), everything else is static. Losses resample a model onto
`x` and compare with `y` inside `jit`; units are handled outside, with `to()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from observables import Quantity, UnitError, ureg

if TYPE_CHECKING:
    from ._baseline import AbstractBaseline

__all__ = ["Dataset", "DatasetError"]


class DatasetError(ValueError):
    """Raised for an invalid dataset or data file (missing column, NaN, unsorted x, ...)."""


# ------------------------------------------------------------------------------ units
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


def _affine(old: str, new: Any, what: str) -> tuple[float, float, str]:
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


def _is_spectral(unit: pint.Unit) -> bool:
    return unit.dimensionality in _SPECTRAL_DIMS and "radian" not in dict(unit._units)


def x_magnitude(value: pint.Quantity, unit: str) -> np.ndarray:
    """Magnitude of `value` in `unit`; spectral axes (wavelength, wavenumber, frequency,
    photon energy) convert into each other through pint's "sp" context. Raises
    `pint.errors.DimensionalityError` when they cannot."""
    try:
        return np.asarray(value.m_as(unit), dtype=float)
    except pint.errors.DimensionalityError:
        if not (_is_spectral(value.units) and _is_spectral(parse_unit(unit, "x unit"))):
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


# --------------------------------------------------------------------------- metadata
def _freeze(value: Any) -> Any:
    """A hashable, immutable copy of nested dicts/lists (dicts become sorted item tuples)."""
    if isinstance(value, Mapping):
        return ("__dict__", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # TOML dates and times
        return value.isoformat()
    hash(value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__dict__":
        return {k: _thaw(v) for k, v in value[1]}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _concrete(a: Any) -> np.ndarray | None:
    """`a` as a NumPy array if it is concrete (not a JAX tracer), else None."""
    if isinstance(a, jax.core.Tracer):
        return None
    return np.asarray(a)


def _check_arrays(x, y, uncertainty, labels, name: str) -> None:
    """Shape and value checks; skipped for traced arrays (inside jit)."""
    if x is None:
        if labels is None:
            raise DatasetError(f"dataset {name!r}: x is None, so labels must name the y entries")
        if jnp.ndim(y) != 1 or jnp.shape(y)[0] != len(labels):
            raise DatasetError(
                f"dataset {name!r}: {len(labels)} labels {list(labels)} but y has shape "
                f"{jnp.shape(y)}"
            )
        if len(set(labels)) != len(labels):
            raise DatasetError(f"dataset {name!r}: duplicate labels in {list(labels)}")
    else:
        if labels is not None:
            raise DatasetError(f"dataset {name!r}: labels are only for x=None (labelled scalars)")
        if jnp.ndim(x) != 1 or jnp.shape(x) != jnp.shape(y):
            raise DatasetError(
                f"dataset {name!r}: x and y must be 1-D of equal length, got shapes "
                f"{jnp.shape(x)} and {jnp.shape(y)}"
            )
        if jnp.shape(x)[0] < 1:
            raise DatasetError(f"dataset {name!r} has no points")
        xc = _concrete(x)
        if xc is not None:
            if not np.all(np.isfinite(xc)):
                i = int(np.flatnonzero(~np.isfinite(xc))[0])
                raise DatasetError(f"dataset {name!r}: x[{i}] = {xc[i]} is not finite")
            d = np.diff(xc)
            if np.any(d <= 0):
                i = int(np.flatnonzero(d <= 0)[0])
                what = "duplicate" if d[i] == 0 else "decreasing"
                raise DatasetError(
                    f"dataset {name!r}: x must be strictly ascending; {what} at index {i + 1} "
                    f"(x[{i}] = {xc[i]}, x[{i + 1}] = {xc[i + 1]})"
                )
    yc = _concrete(y)
    if yc is not None and not np.all(np.isfinite(yc)):
        i = int(np.flatnonzero(~np.isfinite(yc))[0])
        raise DatasetError(f"dataset {name!r}: y[{i}] = {yc[i]} is not finite")
    if uncertainty is not None:
        if jnp.shape(uncertainty) != jnp.shape(y):
            raise DatasetError(
                f"dataset {name!r}: uncertainty shape {jnp.shape(uncertainty)} differs from y "
                f"shape {jnp.shape(y)}"
            )
        uc = _concrete(uncertainty)
        if uc is not None and not (np.all(np.isfinite(uc)) and np.all(uc >= 0)):
            i = int(np.flatnonzero(~(np.isfinite(uc) & (uc >= 0)))[0])
            raise DatasetError(
                f"dataset {name!r}: uncertainty[{i}] = {uc[i]} must be finite and >= 0"
            )


def _as_array(a: Any) -> Array:
    """Traced or JAX arrays as they are (jit, grad); concrete data as NumPy float64, so that
    loaded values keep full precision whether or not JAX runs with x64."""
    if isinstance(a, jax.Array):
        return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(jnp.result_type(float))
    return np.asarray(a, dtype=np.float64)


class Dataset(eqx.Module):
    r"""Experimental data with units: a table $y(x)$ or a set of labelled scalars.

    **Fields:**

    - `x`: `[point]` magnitudes in `x_unit`, strictly ascending and finite; `None` for a set
      of labelled scalars. Data read from files are NumPy float64 arrays (full precision with
      or without JAX x64); JAX arrays and tracers passed in are kept as they are.
    - `y`: `[point]` magnitudes in `y_unit` (finite); for labelled scalars `[label]`.
    - `uncertainty`: `[point]` one standard deviation in `y_unit`, or `None` when the source
      gives none.
    - `name`, `quantity` (e.g. ``"n_alpha"``, ``"shear_viscosity"``, ``"elastic_constants"``),
      `x_name` / `x_unit`, `y_name` / `y_unit` (unit strings parsed by `observables.ureg`),
      `labels` (names of the `y` entries when `x` is `None`), `temperature` (K) and
      `pressure` (Pa) when the whole dataset is at one state point: all static.
    - `metadata` (property): the provenance (the TOML contents for bundled data) as a dict.

    Build one from quantities, `Dataset(x=Quantity(T, "K"), y=Quantity(eta, "mPa*s"),
    quantity="shear_viscosity")`, from labelled scalars, `Dataset(y=Quantity([165.7, 63.9,
    79.6], "GPa"), labels=("C11", "C12", "C44"))`, from files with `from_csv` / `from_jcamp`,
    or load a bundled one with `spectrinv.datasets.load_dataset`.
    """

    x: Float[Array, " point"] | None
    y: Float[Array, " point"]
    uncertainty: Float[Array, " point"] | None
    name: str = eqx.field(static=True)
    quantity: str = eqx.field(static=True)
    x_name: str | None = eqx.field(static=True)
    x_unit: str | None = eqx.field(static=True)
    y_name: str = eqx.field(static=True)
    y_unit: str = eqx.field(static=True)
    labels: tuple[str, ...] | None = eqx.field(static=True)
    temperature: float | None = eqx.field(static=True)
    pressure: float | None = eqx.field(static=True)
    _metadata: Any = eqx.field(static=True)

    def __init__(
        self,
        x: Quantity | None = None,
        y: Quantity | None = None,
        *,
        uncertainty: Quantity | None = None,
        labels: tuple[str, ...] | list[str] | None = None,
        name: str = "dataset",
        quantity: str = "spectrum",
        x_name: str | None = None,
        y_name: str | None = None,
        temperature: Quantity | str | None = None,
        pressure: Quantity | str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        """**Arguments:** `x` (`Quantity [point]`, or `None` with `labels`), `y` (`Quantity`),
        `uncertainty` (`Quantity`, 1σ, same shape as `y`), `labels`, `name`, `quantity`,
        `x_name`, `y_name`, `temperature` / `pressure` (scalar `Quantity`), `metadata`.
        Raises `UnitError` for missing units and `DatasetError` for bad values.
        """
        for arg, what in ((x, "x"), (y, "y"), (uncertainty, "uncertainty")):
            if arg is not None and not isinstance(arg, pint.Quantity):
                raise UnitError(
                    f"Dataset {what} must be a pint Quantity (observables.Quantity(values, "
                    f"unit)), got {type(arg).__name__}; use Dataset.from_arrays for magnitudes"
                )
        if y is None:
            raise DatasetError("Dataset needs y values")
        y_unit = _unit_str(y.units)
        unc = None
        if uncertainty is not None:
            scale, _, _ = _affine(_unit_str(uncertainty.units), y_unit, "uncertainty")
            unc = _as_array(uncertainty.magnitude) * scale
        _init(
            self,
            x=None if x is None else _as_array(x.magnitude),
            y=_as_array(y.magnitude),
            uncertainty=unc,
            name=name,
            quantity=quantity,
            x_name=x_name if x is not None else None,
            x_unit=None if x is None else _unit_str(x.units),
            y_name=y_name or quantity,
            y_unit=y_unit,
            labels=None if labels is None else tuple(str(s) for s in labels),
            temperature=quantity_to_float(temperature, "K", "temperature"),
            pressure=quantity_to_float(pressure, "Pa", "pressure"),
            metadata=metadata,
        )

    @classmethod
    def from_arrays(
        cls,
        x: Any,
        y: Any,
        *,
        x_unit: str | None,
        y_unit: str,
        uncertainty: Any = None,
        labels: tuple[str, ...] | list[str] | None = None,
        name: str = "dataset",
        quantity: str = "spectrum",
        x_name: str | None = None,
        y_name: str | None = None,
        temperature: float | None = None,
        pressure: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Dataset:
        """Build from plain magnitudes and unit strings (works under `jit`).

        `temperature` in K and `pressure` in Pa are plain floats here (the field values).
        """
        if x is not None:
            parse_unit(x_unit, "x_unit")
        parse_unit(y_unit, "y_unit")
        obj = object.__new__(cls)
        _init(
            obj,
            x=None if x is None else _as_array(x),
            y=_as_array(y),
            uncertainty=None if uncertainty is None else _as_array(uncertainty),
            name=name,
            quantity=quantity,
            x_name=x_name if x is not None else None,
            x_unit=x_unit if x is not None else None,
            y_name=y_name or quantity,
            y_unit=y_unit,
            labels=None if labels is None else tuple(str(s) for s in labels),
            temperature=None if temperature is None else float(temperature),
            pressure=None if pressure is None else float(pressure),
            metadata=metadata,
        )
        return obj

    def _replace(self, **changes: Any) -> Dataset:
        fields = {
            "x": self.x,
            "y": self.y,
            "uncertainty": self.uncertainty,
            "name": self.name,
            "quantity": self.quantity,
            "x_name": self.x_name,
            "x_unit": self.x_unit,
            "y_name": self.y_name,
            "y_unit": self.y_unit,
            "labels": self.labels,
            "temperature": self.temperature,
            "pressure": self.pressure,
            "metadata": self.metadata,
        }
        fields.update(changes)
        obj = object.__new__(type(self))
        _init(obj, **fields)
        return obj

    # ---------------------------------------------------------------------------- views
    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance (citation, license, generation, conditions) as a dict (a fresh copy)."""
        return _thaw(self._metadata)

    @property
    def is_labelled(self) -> bool:
        """True for a set of labelled scalars (`x` is `None`)."""
        return self.x is None

    @property
    def x_quantity(self) -> Quantity | None:
        """`x` as a `Quantity` (`None` for labelled scalars)."""
        return None if self.x is None else ureg.Quantity(np.asarray(self.x), self.x_unit)

    @property
    def y_quantity(self) -> Quantity:
        """`y` as a `Quantity`."""
        return ureg.Quantity(np.asarray(self.y), self.y_unit)

    @property
    def uncertainty_quantity(self) -> Quantity | None:
        """`uncertainty` (1σ) as a `Quantity`, or `None`."""
        if self.uncertainty is None:
            return None
        return ureg.Quantity(np.asarray(self.uncertainty), self.y_unit)

    def __len__(self) -> int:
        return int(jnp.shape(self.y)[0])

    def citation(self) -> str:
        """The source's citation (with DOI or URL), from the metadata; '' if none recorded."""
        src = self.metadata.get("source", {})
        if not isinstance(src, dict):
            return str(src)
        text = src.get("citation", "")
        if src.get("doi"):
            text += f" doi:{src['doi']}"
        elif src.get("url"):
            text += f" {src['url']}"
        return text.strip()

    # ---------------------------------------------------------------------- conversions
    def to(self, *, x_unit: Any = None, y_unit: Any = None) -> Dataset:
        r"""The same data with x and/or y expressed in other units.

        Conversions are exact affine maps $v' = a v + b$ (so °C works; the uncertainty is
        scaled by $|a|$). A spectral x axis may also change kind through pint's spectroscopy
        context — wavelength ↔ wavenumber ↔ frequency ↔ photon energy, e.g. µm → 1/cm via
        $\tilde\nu = 1/\lambda$ — in which case the points are re-sorted to ascending x and the
        y values travel with their points unchanged (y is treated as a function of the
        frequency, not a density per unit x).

        Raises `UnitError` naming both units when they are incompatible.
        """
        out = self
        if y_unit is not None:
            a, b, new = _affine(self.y_unit, y_unit, "y")
            unc = None if self.uncertainty is None else self.uncertainty * abs(a)
            out = out._replace(y=self.y * a + b, y_unit=new, uncertainty=unc)
        if x_unit is not None:
            if self.x is None:
                raise DatasetError(
                    f"dataset {self.name!r} is a set of labelled scalars {list(self.labels)}; "
                    "it has no x axis to convert"
                )
            u_old, u_new = parse_unit(self.x_unit, "x"), parse_unit(x_unit, "x_unit")
            if u_old.dimensionality != u_new.dimensionality and (
                _is_spectral(u_old) and _is_spectral(u_new)
            ):
                out = out._spectral_x(x_unit)
            else:
                a, b, new = _affine(self.x_unit, x_unit, "x")
                x = out.x * a + b
                if a < 0:  # a reversed axis (not expected for physical units) stays ascending
                    return out._replace(
                        x=x[::-1],
                        x_unit=new,
                        y=out.y[::-1],
                        uncertainty=None if out.uncertainty is None else out.uncertainty[::-1],
                    )
                out = out._replace(x=x, x_unit=new)
        return out

    def _spectral_x(self, x_unit: Any) -> Dataset:
        new_str = x_unit if isinstance(x_unit, str) else format(x_unit, "~C")
        x_old = np.asarray(self.x)
        if np.any(x_old <= 0):
            raise DatasetError(
                f"dataset {self.name!r}: cannot convert x from {self.x_unit!r} to {new_str!r} "
                "reciprocally: x has values <= 0"
            )
        with ureg.context("sp"):
            x_new = ureg.Quantity(x_old, self.x_unit).m_as(parse_unit(x_unit, "x_unit"))
        order = np.argsort(x_new, kind="stable")
        unc = None if self.uncertainty is None else self.uncertainty[order]
        return self._replace(
            x=_as_array(x_new[order]),
            x_unit=new_str,
            x_name=_spectral_name(parse_unit(x_unit, "x_unit")) or self.x_name,
            y=self.y[order],
            uncertainty=unc,
        )

    # ------------------------------------------------------------------------ look-ups
    def _x_magnitude(self, value: Any, what: str) -> np.ndarray:
        if self.x is None:
            raise DatasetError(
                f"dataset {self.name!r} is a set of labelled scalars {list(self.labels)}; "
                f"use value(label) instead of {what}"
            )
        if not isinstance(value, pint.Quantity):
            raise UnitError(
                f"{what} needs x as a Quantity in units compatible with {self.x_unit!r}, e.g. "
                f"Quantity({value!r}, {self.x_unit!r}); got {type(value).__name__}"
            )
        try:
            return x_magnitude(value, self.x_unit)
        except pint.errors.DimensionalityError:
            raise UnitError(
                f"{what}: x is in {value.units:~P}, which cannot be converted to the dataset's "
                f"x unit {self.x_unit!r}"
            ) from None

    def at(self, x: Quantity) -> tuple[Quantity, Quantity | None]:
        """Linear interpolation of `y` (and of the uncertainty) at `x` (a `Quantity`).

        **Returns:** `(y, uncertainty)` as quantities in `y_unit` (the uncertainty `None`
        when the dataset has none). Raises `DatasetError` if `x` lies outside the data range.
        """
        xs = self._x_magnitude(x, "at()")
        grid = np.asarray(self.x)
        lo, hi = grid[0], grid[-1]
        if np.any(xs < lo) or np.any(xs > hi):
            bad = xs[(xs < lo) | (xs > hi)].ravel()[0]
            raise DatasetError(
                f"dataset {self.name!r}: x = {bad:g} {self.x_unit} is outside the data range "
                f"[{lo:g}, {hi:g}] {self.x_unit}; no extrapolation"
            )
        y = np.interp(xs, grid, np.asarray(self.y))
        u = None
        if self.uncertainty is not None:
            u = ureg.Quantity(np.interp(xs, grid, np.asarray(self.uncertainty)), self.y_unit)
        return ureg.Quantity(y, self.y_unit), u

    def select(self, x_min: Quantity | None = None, x_max: Quantity | None = None) -> Dataset:
        """The points with `x_min <= x <= x_max` (quantities; either may be `None`)."""
        if self.x is None:
            raise DatasetError(
                f"dataset {self.name!r} is a set of labelled scalars {list(self.labels)}; "
                "select() needs an x axis"
            )
        grid = np.asarray(self.x)
        keep = np.ones(grid.shape, dtype=bool)
        if x_min is not None:
            keep &= grid >= float(self._x_magnitude(x_min, "select()"))
        if x_max is not None:
            keep &= grid <= float(self._x_magnitude(x_max, "select()"))
        if not keep.any():
            raise DatasetError(
                f"dataset {self.name!r}: no points between {x_min} and {x_max} (data range "
                f"{grid[0]:g}..{grid[-1]:g} {self.x_unit})"
            )
        idx = np.flatnonzero(keep)
        return self._replace(
            x=self.x[idx],
            y=self.y[idx],
            uncertainty=None if self.uncertainty is None else self.uncertainty[idx],
        )

    def value(self, label: str) -> tuple[Quantity, Quantity | None]:
        """(value, uncertainty) of one labelled scalar, as quantities in `y_unit`."""
        if self.labels is None:
            raise DatasetError(
                f"dataset {self.name!r} is a table y({self.x_name}); value(label) is for "
                "labelled scalars — use at(x)"
            )
        if label not in self.labels:
            raise DatasetError(
                f"dataset {self.name!r} has no entry {label!r}; labels: {', '.join(self.labels)}"
            )
        i = self.labels.index(label)
        u = None
        if self.uncertainty is not None:
            u = ureg.Quantity(float(self.uncertainty[i]), self.y_unit)
        return ureg.Quantity(float(self.y[i]), self.y_unit), u

    # ------------------------------------------------------------------------ spectra
    def with_baseline(self, baseline: AbstractBaseline) -> Dataset:
        """`y` minus the baseline that `baseline` (e.g. `LinearBaseline`) fits to this data.

        The uncertainty is kept as is (the baseline is treated as exact). The baseline used
        is recorded in the metadata under ``"baseline"``.
        """
        from ._baseline import AbstractBaseline

        if not isinstance(baseline, AbstractBaseline):
            raise TypeError(
                f"with_baseline takes a baseline object (NoBaseline(), LinearBaseline(x1, x2), "
                f"PolynomialBaseline(anchors, degree)), got {type(baseline).__name__}"
            )
        if self.x is None:
            raise DatasetError(f"dataset {self.name!r} has no x axis; a baseline needs one")
        b = np.asarray(baseline.evaluate(self), dtype=np.float64)
        if isinstance(self.y, jax.Array):
            b = jnp.asarray(b, dtype=self.y.dtype)
        meta = self.metadata
        meta["baseline"] = repr(baseline)
        return self._replace(y=self.y - b, metadata=meta)

    # -------------------------------------------------------------------------- files
    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        *,
        x: str,
        y: str,
        x_unit: str,
        y_unit: str,
        uncertainty: str | None = None,
        quantity: str = "spectrum",
        name: str | None = None,
        temperature: Quantity | str | None = None,
        pressure: Quantity | str | None = None,
        delimiter: str | None = ",",
        comment: str = "#",
    ) -> Dataset:
        """Read a user's table: columns `x`, `y` (and optionally `uncertainty`, a 1σ column in
        `y_unit`) by header name, with their units declared.

        The file needs a header line naming the columns; lines starting with `comment` and
        blank lines are skipped; `delimiter=None` splits on whitespace. Rows with x strictly
        *descending* (common for FTIR exports) are reversed; anything else that is not
        strictly ascending is an error.

        Raises (before anything else is done) `UnitError` for an unknown unit and
        `DatasetError` naming the problem and where it is for: an empty file, a wrong
        delimiter, a missing column (listing the available ones), a missing or non-numeric
        or NaN value (line number), non-monotonic or duplicate x (line number).
        """
        from ._csv import read_columns

        parse_unit(x_unit, "x_unit")
        parse_unit(y_unit, "y_unit")
        temperature = quantity_to_float(temperature, "K", "temperature")
        pressure = quantity_to_float(pressure, "Pa", "pressure")
        cols = [x, y] + ([uncertainty] if uncertainty else [])
        data = read_columns(path, cols, x_column=x, delimiter=delimiter, comment=comment)
        meta = {"source": {"file": str(Path(path).resolve())}, "columns": {x: x_unit, y: y_unit}}
        if uncertainty:
            meta["columns"][uncertainty] = y_unit
        return cls.from_arrays(
            data[x],
            data[y],
            x_unit=x_unit,
            y_unit=y_unit,
            uncertainty=data[uncertainty] if uncertainty else None,
            name=name or Path(path).stem,
            quantity=quantity,
            x_name=x,
            y_name=y,
            temperature=temperature,
            pressure=pressure,
            metadata=meta,
        )

    @classmethod
    def from_jcamp(
        cls,
        path: str | Path,
        *,
        x_unit: str | None = None,
        y_unit: str | None = None,
        quantity: str = "spectrum",
        name: str | None = None,
        temperature: Quantity | str | None = None,
    ) -> Dataset:
        """Read a JCAMP-DX spectrum (via the `jcamp` package); see `spectrinv.datasets._jcamp`.

        The file's `##XUNITS` / `##YUNITS` are mapped to pint units where they are physical
        (``1/CM`` → 1/cm, ``MICROMETERS`` → µm, ``NANOMETERS`` → nm, ``ABSORBANCE`` /
        ``TRANSMITTANCE`` → dimensionless). A declared `x_unit` / `y_unit` converts the file's
        values when the file's unit is known (a wavelength axis asked for as ``"1/cm"`` is
        converted reciprocally and re-sorted ascending) and labels them when the file's unit
        is missing or not physical (e.g. ``ARBITRARY UNITS``). Incompatible declared and file
        units raise `UnitError` naming both; a file that is not JCAMP-DX raises
        `DatasetError`.

        **Returns:** a `Dataset` with `x` ascending (descending files are reversed).

        ??? cite
            R. S. McDonald, P. A. Wilks, "JCAMP-DX: a standard form for exchange of infrared
            spectra in computer readable form", Appl. Spectrosc. 42, 151-162 (1988).
        """
        from ._jcamp import read_jcamp

        return read_jcamp(
            cls,
            path,
            x_unit=x_unit,
            y_unit=y_unit,
            quantity=quantity,
            name=name,
            temperature=quantity_to_float(temperature, "K", "temperature"),
        )

    def to_jcamp(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write this dataset as a JCAMP-DX 5.01 file (``##XYPOINTS=(XY..XY)``, full
        precision), readable by `from_jcamp`. Returns the path."""
        from ._jcamp import write_jcamp

        return write_jcamp(self, path, title=title)

    def to_csv(self, path: str | Path) -> Path:
        """Write x, y (and uncertainty) with a header; units go in a leading comment line.

        Read it back with `from_csv(path, x=x_name, y=y_name, x_unit=..., y_unit=...)`.
        """
        if self.x is None:
            raise DatasetError(f"dataset {self.name!r} has no x axis; cannot write x,y CSV")
        path = Path(path)
        xn, yn = self.x_name or "x", self.y_name or "y"
        cols = [np.asarray(self.x), np.asarray(self.y)]
        header = [xn, yn]
        if self.uncertainty is not None:
            cols.append(np.asarray(self.uncertainty))
            header.append(f"{yn}_uncertainty")
        lines = [f"# {self.name}: {xn} [{self.x_unit}], {yn} [{self.y_unit}]", ",".join(header)]
        lines += [",".join(repr(float(v)) for v in row) for row in zip(*cols, strict=True)]
        path.write_text("\n".join(lines) + "\n")
        return path


def _spectral_name(unit: pint.Unit) -> str | None:
    dim = unit.dimensionality
    for name, ref in (("wavelength", "m"), ("wavenumber", "1/m"), ("frequency", "Hz")):
        if dim == ureg.Unit(ref).dimensionality:
            return name
    if dim == ureg.Unit("J").dimensionality:
        return "photon_energy"
    return None


def _unit_str(u: pint.Unit) -> str:
    s = format(u, "~C")
    return "dimensionless" if s == "" else s


def _init(
    obj: Dataset,
    *,
    x,
    y,
    uncertainty,
    name,
    quantity,
    x_name,
    x_unit,
    y_name,
    y_unit,
    labels,
    temperature,
    pressure,
    metadata,
) -> None:
    _check_arrays(x, y, uncertainty, labels, name)
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise DatasetError(f"dataset {name!r}: temperature {temperature} K must be > 0")
    for field, value in (
        ("x", x),
        ("y", y),
        ("uncertainty", uncertainty),
        ("name", str(name)),
        ("quantity", str(quantity)),
        ("x_name", x_name),
        ("x_unit", x_unit),
        ("y_name", str(y_name)),
        ("y_unit", y_unit),
        ("labels", labels),
        ("temperature", temperature),
        ("pressure", pressure),
        ("_metadata", _freeze(dict(metadata or {}))),
    ):
        object.__setattr__(obj, field, value)
