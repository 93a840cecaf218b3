r"""`Dataset`: experimental values with units, uncertainty, state point and provenance.

`Dataset` is abstract; a dataset is one of two kinds:

- `Table`: $y(x)$ on a strictly ascending grid $x$ (a spectrum, a property against
  temperature, a radial distribution function);
- `LabelledValues`: named scalars (elastic constants $C_{11}, C_{12}, C_{44}$; transport
  coefficients; peak positions), `labels` naming the entries of `y`.

`Dataset(...)`, `Dataset.from_arrays(...)` and the file readers return the right kind
(`x=None` with `labels` gives `LabelledValues`). The two kinds are defined in their own
modules as the subclasses of `Dataset`; `Dataset` finds them among its direct subclasses by
their `is_labelled` class attribute, so this module does not import them.

Both are `equinox.Module`s, so pytrees: `y`, `uncertainty` (and a table's `x`) are array
leaves (plain magnitudes in `y_unit` / `x_unit`), everything else is static. Losses resample
a model onto `x` and compare with `y` inside `jit`; units are handled outside, with `to()`.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import math
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

from ._csv import read_columns
from ._errors import DatasetError
from ._jcamp import read_jcamp
from ._metadata import freeze, thaw
from ._units import affine, parse_unit, quantity_to_float, unit_str

__all__ = ["Dataset", "as_array", "concrete", "require_quantities", "y_fields"]


def concrete(a: Any) -> np.ndarray | None:
    """`a` as a NumPy array if it is concrete (not a JAX tracer), else None."""
    if isinstance(a, jax.core.Tracer):
        return None
    return np.asarray(a)


def as_array(a: Any) -> Array:
    """Traced or JAX arrays as they are (jit, grad); concrete data as NumPy float64, so that
    loaded values keep full precision whether or not JAX runs with x64."""
    if isinstance(a, jax.Array):
        return a if jnp.issubdtype(a.dtype, jnp.floating) else a.astype(jnp.result_type(float))
    return np.asarray(a, dtype=np.float64)


def require_quantities(**arrays: Any) -> None:
    """`UnitError` naming the first argument that is neither `None` nor a pint Quantity."""
    for what, arg in arrays.items():
        if arg is not None and not isinstance(arg, pint.Quantity):
            raise UnitError(
                f"Dataset {what} must be a pint Quantity (observables.Quantity(values, "
                f"unit)), got {type(arg).__name__}; use Dataset.from_arrays for magnitudes"
            )


class _DatasetMeta(type(eqx.Module)):
    """Lets the abstract `Dataset(...)` build the concrete kind its arguments describe."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Dataset:
            return _new_dataset(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    @property
    def __signature__(cls) -> inspect.Signature:
        if cls is Dataset:
            return inspect.signature(_new_dataset)
        return super().__signature__


class Dataset(eqx.Module, metaclass=_DatasetMeta):
    r"""Experimental data with units: a `Table` $y(x)$ or `LabelledValues`.

    **Fields** (both kinds):

    - `y`: `[point]` magnitudes in `y_unit` (finite); for labelled values `[label]`. Data
      read from files are NumPy float64 arrays (full precision with or without JAX x64);
      JAX arrays and tracers passed in are kept as they are.
    - `uncertainty`: same shape as `y`, one standard deviation in `y_unit`, or `None` when
      the source gives none.
    - `name`, `quantity` (e.g. ``"n_alpha"``, ``"shear_viscosity"``,
      ``"elastic_constants"``), `y_name`, `y_unit` (a unit string parsed by
      `observables.ureg`), `temperature` (K) and `pressure` (Pa) when the whole dataset is at
      one state point: all static.
    - `metadata` (property): the provenance (the TOML contents for bundled data) as a dict.
    - `x`, `x_name`, `x_unit` (a `Table`'s axis; `None` for labelled values) and `labels`
      (`LabelledValues`' names; `None` for a table).

    `Dataset(x=Quantity(T, "K"), y=Quantity(eta, "mPa*s"), quantity="shear_viscosity")`
    builds a `Table`; `Dataset(y=Quantity([165.7, 63.9, 79.6], "GPa"), labels=("C11",
    "C12", "C44"))` builds `LabelledValues`. Files: `from_csv` / `from_jcamp`; bundled data:
    `spectrinv.datasets.load_dataset`.
    """

    y: Float[Array, " point"]
    uncertainty: Float[Array, " point"] | None
    name: str = eqx.field(static=True)
    quantity: str = eqx.field(static=True)
    y_name: str = eqx.field(static=True)
    y_unit: str = eqx.field(static=True)
    temperature: float | None = eqx.field(static=True)
    pressure: float | None = eqx.field(static=True)
    _metadata: Any = eqx.field(static=True)

    #: True for `LabelledValues`, False for a `Table`.
    is_labelled: ClassVar[bool]

    # ---------------------------------------------------------------- construction
    def _fill(self, **fields: Any) -> None:
        """Set every field from `fields` (`metadata` is frozen into `_metadata`), then check."""
        fields["_metadata"] = freeze(dict(fields.pop("metadata", None) or {}))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, fields.pop(f.name))
        if fields:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(fields)}")
        self._check()

    @classmethod
    def _build(cls, **fields: Any) -> Any:
        """An instance with `fields` set as given (no unit conversion), checked."""
        obj = object.__new__(cls)
        obj._fill(**fields)
        return obj

    def _replace(self, **changes: Any) -> Any:
        """A copy with some fields changed (checked again; works under `jit`/`grad`)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["metadata"] = thaw(fields.pop("_metadata"))
        fields.update(changes)
        return type(self)._build(**fields)

    def _check(self) -> None:
        """Shape and value checks of `y` and `uncertainty` (skipped for traced arrays)."""
        name = self.name
        yc = concrete(self.y)
        if yc is not None and not np.all(np.isfinite(yc)):
            i = int(np.flatnonzero(~np.isfinite(yc))[0])
            raise DatasetError(f"dataset {name!r}: y[{i}] = {yc[i]} is not finite")
        if self.uncertainty is not None:
            if jnp.shape(self.uncertainty) != jnp.shape(self.y):
                raise DatasetError(
                    f"dataset {name!r}: uncertainty shape {jnp.shape(self.uncertainty)} "
                    f"differs from y shape {jnp.shape(self.y)}"
                )
            uc = concrete(self.uncertainty)
            if uc is not None and not (np.all(np.isfinite(uc)) and np.all(uc >= 0)):
                i = int(np.flatnonzero(~(np.isfinite(uc) & (uc >= 0)))[0])
                raise DatasetError(
                    f"dataset {name!r}: uncertainty[{i}] = {uc[i]} must be finite and >= 0"
                )
        t = self.temperature
        if t is not None and not (math.isfinite(t) and t > 0):
            raise DatasetError(f"dataset {name!r}: temperature {t} K must be > 0")

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

        `x` `[point]` in `x_unit` gives a `Table`; `x=None` with `labels` gives
        `LabelledValues`. `temperature` in K and `pressure` in Pa are plain floats here (the
        field values).
        """
        kind = _kind(x, labels, name)
        if not issubclass(kind, cls):
            raise DatasetError(f"{cls.__name__}.from_arrays got arguments of a {kind.__name__}")
        if x is not None:
            parse_unit(x_unit, "x_unit")
        parse_unit(y_unit, "y_unit")
        fields = dict(
            y=as_array(y),
            uncertainty=None if uncertainty is None else as_array(uncertainty),
            name=str(name),
            quantity=str(quantity),
            y_name=str(y_name or quantity),
            y_unit=y_unit,
            temperature=None if temperature is None else float(temperature),
            pressure=None if pressure is None else float(pressure),
            metadata=metadata,
        )
        if x is None:
            return kind._build(labels=tuple(str(s) for s in labels), **fields)
        return kind._build(x=as_array(x), x_name=x_name, x_unit=x_unit, **fields)

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
        `y_unit`) by header name, with their units declared. Returns a `Table`.

        The file needs a header line naming the columns; lines starting with `comment` and
        blank lines are skipped; `delimiter=None` splits on whitespace. Rows with x strictly
        *descending* (common for FTIR exports) are reversed; anything else that is not
        strictly ascending is an error.

        Raises (before anything else is done) `UnitError` for an unknown unit and
        `DatasetError` naming the problem and where it is for: an empty file, a wrong
        delimiter, a missing column (listing the available ones), a missing or non-numeric
        or NaN value (line number), non-monotonic or duplicate x (line number).
        """
        table = _table_for(cls, "from_csv")
        parse_unit(x_unit, "x_unit")
        parse_unit(y_unit, "y_unit")
        temperature = quantity_to_float(temperature, "K", "temperature")
        pressure = quantity_to_float(pressure, "Pa", "pressure")
        cols = [x, y] + ([uncertainty] if uncertainty else [])
        data = read_columns(path, cols, x_column=x, delimiter=delimiter, comment=comment)
        meta = {"source": {"file": str(Path(path).resolve())}, "columns": {x: x_unit, y: y_unit}}
        if uncertainty:
            meta["columns"][uncertainty] = y_unit
        return table.from_arrays(
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
        """Read a JCAMP-DX spectrum (via the `jcamp` package) as a `Table`.

        The file's `##XUNITS` / `##YUNITS` are mapped to pint units where they are physical
        (``1/CM`` → 1/cm, ``MICROMETERS`` → µm, ``NANOMETERS`` → nm, ``ABSORBANCE`` /
        ``TRANSMITTANCE`` → dimensionless; see `JCAMP_UNITS`). A declared `x_unit` / `y_unit`
        converts the file's values when the file's unit is known (a wavelength axis asked for
        as ``"1/cm"`` is converted reciprocally and re-sorted ascending) and labels them when
        the file's unit is missing or not physical (e.g. ``ARBITRARY UNITS``). Incompatible
        declared and file units raise `UnitError` naming both; a file that is not JCAMP-DX
        raises `DatasetError`.

        **Returns:** a `Table` with `x` ascending (descending files are reversed).

        ??? cite
            R. S. McDonald, P. A. Wilks, "JCAMP-DX: a standard form for exchange of infrared
            spectra in computer readable form", Appl. Spectrosc. 42, 151-162 (1988).
        """
        table = _table_for(cls, "from_jcamp")
        s = read_jcamp(
            path,
            x_unit=x_unit,
            y_unit=y_unit,
            quantity=quantity,
            name=name,
            temperature=quantity_to_float(temperature, "K", "temperature"),
        )
        try:
            ds = table.from_arrays(
                s.x,
                s.y,
                x_unit=s.x_unit,
                y_unit=s.y_unit,
                name=s.name,
                quantity=s.quantity,
                x_name=s.x_name,
                y_name=s.y_name,
                temperature=s.temperature,
                metadata=s.metadata,
            )
        except (UnitError, DatasetError) as err:
            raise type(err)(f"{path}: {err}") from None
        try:
            return ds.to(x_unit=s.convert_x, y_unit=s.convert_y)
        except UnitError as err:
            raise UnitError(
                f"{path}: the file's units ({s.units}) do not match the declared ones: {err}"
            ) from None

    # ------------------------------------------------------------------------ views
    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance (citation, license, generation, conditions) as a dict (a fresh copy)."""
        return thaw(self._metadata)

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

    def _y_to(self, y_unit: Any) -> Any:
        """The same data with `y` (and the uncertainty, scaled by |a|) in `y_unit`."""
        a, b, new = affine(self.y_unit, y_unit, "y")
        unc = None if self.uncertainty is None else self.uncertainty * abs(a)
        return self._replace(y=self.y * a + b, y_unit=new, uncertainty=unc)

    @abc.abstractmethod
    def to(self, *, x_unit: Any = None, y_unit: Any = None) -> Dataset:
        """The same data in other units (see `Table.to`, `LabelledValues.to`)."""


def _kind(x: Any, labels: Any, name: str) -> type[Dataset]:
    """The concrete subclass for these arguments: the table kind for an x axis, the labelled
    kind for `x=None` with labels; a `DatasetError` for anything else."""
    if x is None and labels is None:
        raise DatasetError(f"dataset {name!r}: x is None, so labels must name the y entries")
    if x is not None and labels is not None:
        raise DatasetError(f"dataset {name!r}: labels are only for x=None (labelled scalars)")
    return _subclass(labelled=x is None)


def _subclass(*, labelled: bool) -> type[Dataset]:
    """`LabelledValues` or `Table`: the direct subclass of `Dataset` defined in this package
    with that `is_labelled` (users' own subclasses are not picked)."""
    package = __name__.rpartition(".")[0] + "."
    (kind,) = (
        k
        for k in Dataset.__subclasses__()
        if k.__module__.startswith(package) and k.is_labelled == labelled
    )
    return kind


def _table_for(cls: type[Dataset], reader: str) -> type[Dataset]:
    """The table kind, which file readers build; an error when called on another kind."""
    table = _subclass(labelled=False)
    if not issubclass(table, cls):
        raise DatasetError(f"{cls.__name__}.{reader}: files are read as a {table.__name__}")
    return table


def _new_dataset(
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
) -> Dataset:
    """`Dataset(...)`: a `Table` when `x` is given, else `LabelledValues` named by `labels`."""
    require_quantities(x=x, y=y, uncertainty=uncertainty)
    if y is None:
        raise DatasetError("Dataset needs y values")
    kind = _kind(x, labels, name)
    fields = dict(
        name=str(name),
        quantity=str(quantity),
        y_name=str(y_name or quantity),
        metadata=metadata,
        **y_fields(y, uncertainty, temperature, pressure),
    )
    if x is None:
        return kind._build(labels=tuple(str(s) for s in labels), **fields)
    return kind._build(x=as_array(x.magnitude), x_name=x_name, x_unit=unit_str(x.units), **fields)


def y_fields(
    y: Quantity, uncertainty: Quantity | None, temperature: Any, pressure: Any
) -> dict[str, Any]:
    """`y`, `uncertainty` (converted to y's unit), `y_unit`, `temperature`, `pressure`."""
    y_unit = unit_str(y.units)
    unc = None
    if uncertainty is not None:
        scale, _, _ = affine(unit_str(uncertainty.units), y_unit, "uncertainty")
        unc = as_array(uncertainty.magnitude) * scale
    return dict(
        y=as_array(y.magnitude),
        uncertainty=unc,
        y_unit=y_unit,
        temperature=quantity_to_float(temperature, "K", "temperature"),
        pressure=quantity_to_float(pressure, "Pa", "pressure"),
    )
