r"""`Table`: a dataset $y(x)$ on a strictly ascending grid, with units and uncertainty."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from observables import Quantity, UnitError, ureg

from ._baseline import AbstractBaseline
from ._csv import write_columns
from ._dataset import Dataset, as_array, concrete, require_quantities, y_fields
from ._errors import DatasetError
from ._jcamp import write_jcamp
from ._units import (
    affine,
    check_spectral_range,
    is_spectral,
    parse_unit,
    spectral_axis,
    spectral_name,
    unit_str,
    x_magnitude,
)

__all__ = ["Table"]


class Table(Dataset):
    r"""Experimental $y(x)$ with units: a spectrum, a property against temperature, a
    radial distribution function.

    **Fields:** those of `Dataset`, plus

    - `x`: `[point]` magnitudes in `x_unit`, strictly ascending and finite (NumPy float64
      when read from files; JAX arrays and tracers passed in are kept as they are).
    - `x_name`, `x_unit`: the axis's name and unit string (static).

    `labels` is `None` (it names the entries of `LabelledValues`).

    **Arguments:** `x` (`Quantity [point]`), `y` (`Quantity [point]`), `uncertainty`
    (`Quantity [point]`, 1σ, any unit convertible to y's), `name`, `quantity`, `x_name`,
    `y_name`, `temperature` / `pressure` (scalar `Quantity`), `metadata` (a dict of
    provenance). Raises `UnitError` for missing units and `DatasetError` for bad values.
    """

    x: Float[Array, " point"]
    x_name: str | None = eqx.field(static=True)
    x_unit: str = eqx.field(static=True)

    is_labelled: ClassVar[bool] = False
    #: A table has no labels (`LabelledValues` has).
    labels: ClassVar[None] = None

    def __init__(
        self,
        x: Quantity,
        y: Quantity,
        *,
        uncertainty: Quantity | None = None,
        name: str = "dataset",
        quantity: str = "spectrum",
        x_name: str | None = None,
        y_name: str | None = None,
        temperature: Quantity | str | None = None,
        pressure: Quantity | str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        require_quantities(x=x, y=y, uncertainty=uncertainty)
        self._fill(
            x=as_array(x.magnitude),
            x_name=x_name,
            x_unit=unit_str(x.units),
            name=str(name),
            quantity=str(quantity),
            y_name=str(y_name or quantity),
            metadata=metadata,
            **y_fields(y, uncertainty, temperature, pressure),
        )

    def _check(self) -> None:
        name, x, y = self.name, self.x, self.y
        if jnp.ndim(x) != 1 or jnp.shape(x) != jnp.shape(y):
            raise DatasetError(
                f"dataset {name!r}: x and y must be 1-D of equal length, got shapes "
                f"{jnp.shape(x)} and {jnp.shape(y)}"
            )
        if jnp.shape(x)[0] < 1:
            raise DatasetError(f"dataset {name!r} has no points")
        xc = concrete(x)
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
            check_spectral_range(np.asarray(xc), self.x_unit, name, self.quantity)
        super()._check()

    @property
    def x_quantity(self) -> Quantity:
        """`x` as a `Quantity`."""
        return ureg.Quantity(np.asarray(self.x), self.x_unit)

    # ---------------------------------------------------------------------- conversions
    def to(self, *, x_unit: Any = None, y_unit: Any = None) -> Table:
        r"""The same data with x and/or y expressed in other units.

        Conversions are exact affine maps $v' = a v + b$ (so °C works; the uncertainty is
        scaled by $|a|$). A spectral x axis may also change kind through pint's spectroscopy
        context — wavelength ↔ wavenumber ↔ frequency ↔ photon energy, e.g. µm → 1/cm via
        $\tilde\nu = 1/\lambda$ — in which case the points are re-sorted to ascending x and the
        y values travel with their points unchanged (y is treated as a function of the
        frequency, not a density per unit x).

        Raises `UnitError` naming both units when they are incompatible.
        """
        out = self if y_unit is None else self._y_to(y_unit)
        if x_unit is None:
            return out
        u_old, u_new = parse_unit(self.x_unit, "x"), parse_unit(x_unit, "x_unit")
        if u_old.dimensionality != u_new.dimensionality and (
            is_spectral(u_old) and is_spectral(u_new)
        ):
            return out._spectral_x(x_unit)
        a, b, new = affine(self.x_unit, x_unit, "x")
        x = out.x * a + b
        if a < 0:  # a reversed axis (not expected for physical units) stays ascending
            return out._replace(
                x=x[::-1],
                x_unit=new,
                y=out.y[::-1],
                uncertainty=None if out.uncertainty is None else out.uncertainty[::-1],
            )
        return out._replace(x=x, x_unit=new)

    def _spectral_x(self, x_unit: Any) -> Table:
        new_str = x_unit if isinstance(x_unit, str) else format(x_unit, "~C")
        x_old = np.asarray(self.x)
        if np.any(x_old <= 0):
            raise DatasetError(
                f"dataset {self.name!r}: cannot convert x from {self.x_unit!r} to {new_str!r} "
                "reciprocally: x has values <= 0"
            )
        x_new = spectral_axis(x_old, self.x_unit, x_unit)
        order = np.argsort(x_new, kind="stable")
        unc = None if self.uncertainty is None else self.uncertainty[order]
        return self._replace(
            x=as_array(x_new[order]),
            x_unit=new_str,
            x_name=spectral_name(parse_unit(x_unit, "x_unit")) or self.x_name,
            y=self.y[order],
            uncertainty=unc,
        )

    # ------------------------------------------------------------------------ look-ups
    def _x_magnitude(self, value: Any, what: str) -> np.ndarray:
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

    def select(self, x_min: Quantity | None = None, x_max: Quantity | None = None) -> Table:
        """The points with `x_min <= x <= x_max` (quantities; either may be `None`)."""
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
        """Only `LabelledValues` have named values; a table raises `DatasetError`."""
        raise DatasetError(
            f"dataset {self.name!r} is a table y({self.x_name}); value(label) is for "
            "labelled scalars — use at(x)"
        )

    # ------------------------------------------------------------------------ spectra
    def with_baseline(self, baseline: AbstractBaseline) -> Table:
        """`y` minus the baseline that `baseline` (e.g. `LinearBaseline`) fits to this data.

        The uncertainty is kept as is (the baseline is treated as exact). The baseline used
        is recorded in the metadata under ``"baseline"``.
        """
        if not isinstance(baseline, AbstractBaseline):
            raise TypeError(
                f"with_baseline takes a baseline object (NoBaseline(), LinearBaseline(x1, x2), "
                f"PolynomialBaseline(anchors, degree)), got {type(baseline).__name__}"
            )
        b = np.asarray(baseline.evaluate(self), dtype=np.float64)
        if isinstance(self.y, jax.Array):
            b = jnp.asarray(b, dtype=self.y.dtype)
        meta = self.metadata
        meta["baseline"] = repr(baseline)
        return self._replace(y=self.y - b, metadata=meta)

    # -------------------------------------------------------------------------- files
    def to_jcamp(self, path: str | Path, *, title: str | None = None) -> Path:
        """Write this dataset as a JCAMP-DX 5.01 file (``##XYPOINTS=(XY..XY)``, full
        precision), readable by `from_jcamp`. Returns the path."""
        return write_jcamp(
            path,
            x=np.asarray(self.x),
            y=np.asarray(self.y),
            x_unit=self.x_unit,
            y_unit=self.y_unit,
            x_name=self.x_name or "x",
            y_name=self.y_name,
            quantity=self.quantity,
            temperature=self.temperature,
            title=title or self.name,
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write x, y (and uncertainty) with a header; units go in a leading comment line.

        Read it back with `from_csv(path, x=x_name, y=y_name, x_unit=..., y_unit=...)`.
        """
        xn, yn = self.x_name or "x", self.y_name or "y"
        header, columns = [xn, yn], [np.asarray(self.x), np.asarray(self.y)]
        if self.uncertainty is not None:
            header.append(f"{yn}_uncertainty")
            columns.append(np.asarray(self.uncertainty))
        comment = f"{self.name}: {xn} [{self.x_unit}], {yn} [{self.y_unit}]"
        return write_columns(path, header, columns, comment=comment)
