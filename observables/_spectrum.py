r"""`Spectrum`: a spectrum with units on both axes, and the spectral-axis unit conversions.

Spectral axes are proportional to the angular frequency $\omega$ (rad/ps internally):
frequency $\nu = \omega/2\pi$ (THz, 1/ps, Hz), wavenumber $\tilde\nu = \nu / c$ (cm⁻¹),
photon energy $E = \hbar\omega$ (meV, eV), or angular frequency itself (a unit containing
`rad`, e.g. `rad/ps`). Conversions go through pint's spectroscopy context (`"sp"`). Wavelength
axes are rejected (they are not proportional to ω and run backwards).

Note that pint treats `rad` as dimensionless: `Quantity(1, "rad/ps").to("THz")` is 1 THz,
not 1/2π THz. Here an axis unit containing `rad` is always an *angular* frequency and the 2π
is applied explicitly.

A spectrum is either a **density** (y is "per unit of x", e.g. a density of states or a
correlation spectrum: $\int y\,dx$ is meaningful and conversion of the x unit multiplies y by
the Jacobian $|dx_\mathrm{old}/dx_\mathrm{new}|$ and changes its unit), or a plain function of
frequency (e.g. an absorption coefficient n·α in cm⁻¹, whose value does not depend on the
axis unit).
"""

from __future__ import annotations

import functools
import json
import math
import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from ._result import AbstractResult, view
from ._units import Quantity, UnitError, to_magnitude, ureg

__all__ = ["Spectrum", "SpectrumError", "axis_scale", "axis_label"]

_CSV_MAGIC = "# spectrinv spectrum v1"
_SP_DIMENSIONS = {
    "frequency": ureg.Unit("THz").dimensionality,
    "wavenumber": ureg.Unit("1/cm").dimensionality,
    "energy": ureg.Unit("meV").dimensionality,
}


class SpectrumError(ValueError):
    """Raised for invalid spectrum operations (resampling outside the range, bad files)."""


def _parse_unit(unit: Any, name: str) -> pint.Unit:
    if isinstance(unit, pint.Unit):
        return unit
    if isinstance(unit, pint.Quantity):
        raise UnitError(f"{name} must be a unit (e.g. '1/cm'), not a quantity {unit}")
    try:
        return ureg.Unit(unit)
    except (pint.errors.UndefinedUnitError, AttributeError, TypeError, ValueError) as err:
        raise UnitError(f"{name}: cannot parse unit {unit!r}: {err}") from None


def _is_angular(unit: pint.Unit) -> bool:
    return dict(unit._units).get("radian", 0) == 1


def axis_scale(unit: Any, name: str = "x_unit") -> float:
    r"""Factor `s` with $x[\text{unit}] = s \cdot \omega[\text{rad/ps}]$ for a spectral axis unit.

    Accepted: frequencies (THz, 1/ps, Hz), wavenumbers (1/cm), photon energies (meV, eV) and
    angular frequencies (units containing `rad`). Raises `UnitError` otherwise, naming the unit.
    """
    if isinstance(unit, pint.Quantity):
        raise UnitError(f"{name} must be a unit (e.g. '1/cm'), not a quantity {unit}")
    return _axis_scale(unit, name)


@functools.lru_cache(maxsize=256)
def _axis_scale(unit: Any, name: str) -> float:
    u = _parse_unit(unit, name)
    if _is_angular(u):
        if u.dimensionality != ureg.Unit("1/ps").dimensionality:
            raise UnitError(
                f"{name} {u:~P} contains rad but is not an angular frequency (rad/time)"
            )
        return float(ureg.Quantity(1.0, "rad/ps").m_as(u))
    kind = next((k for k, d in _SP_DIMENSIONS.items() if u.dimensionality == d), None)
    if kind is None:
        raise UnitError(
            f"{name} {u:~P} ({u.dimensionality}) is not a spectral axis unit; use a frequency "
            "(THz, 1/ps), a wavenumber (1/cm), a photon energy (meV, eV) or an angular "
            "frequency (rad/ps). Wavelength axes are not supported."
        )
    return float(ureg.Quantity(1.0 / (2.0 * math.pi), "1/ps").to(u, "sp").magnitude)


def canonical_axis_unit(unit: Any, name: str = "x_unit") -> str:
    """Validate a spectral axis unit (see `axis_scale`) and return it as a parseable string."""
    axis_scale(unit, name)
    return _unit_str(_parse_unit(unit, name))


def axis_label(unit: Any) -> str:
    """'Wavenumber', 'Frequency', 'Energy' or 'Angular frequency' for a spectral axis unit."""
    u = _parse_unit(unit, "x_unit")
    if _is_angular(u):
        return "Angular frequency"
    for kind, dim in _SP_DIMENSIONS.items():
        if u.dimensionality == dim:
            return kind.capitalize()
    return "x"


def _unit_str(u: pint.Unit) -> str:
    s = format(u, "~C")
    return "dimensionless" if s == "" else s


def _freeze(metadata: dict[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    if metadata is None:
        return ()
    items = []
    for k, v in metadata.items():
        if isinstance(v, list | tuple):
            v = tuple(v)
        if isinstance(v, np.generic):
            v = v.item()
        try:
            hash(v)
        except TypeError:
            raise TypeError(
                f"metadata value for {k!r} must be hashable, got {type(v).__name__}"
            ) from None
        items.append((str(k), v))
    return tuple(sorted(items, key=lambda kv: kv[0]))


class Spectrum(AbstractResult):
    """A spectrum $y(x)$ on a spectral axis, with units on both axes and metadata.

    The result type of `IRSpectrum` and `VDOS` (an `AbstractResult`).

    **Fields:** `x_magnitude` `[point]` (ascending) in `x_unit`; `y_magnitude` `[point]` in
    `y_unit`; `error_magnitude` `[point]` in `y_unit` or `None`: the standard error of y
    (block averaging, see the observable that made it); `density` (True if y is per unit of
    x); metadata (read as the `metadata` dict). `x`, `y` and `error` give them as
    `pint.Quantity`.

    It is a pytree (arrays as leaves, units and metadata static), so spectra can be returned
    from `jit` and differentiated through (`resample` uses linear interpolation, which is
    differentiable with respect to y).

    Build one from quantities: `Spectrum(x=Quantity(nu, "1/cm"), y=Quantity(s, "cm"),
    density=True, metadata={"kind": "vdos"})` (optionally `error=Quantity(...)` in a unit
    convertible to y's).
    """

    x_magnitude: Float[Array, " point"]
    y_magnitude: Float[Array, " point"]
    error_magnitude: Float[Array, " point"] | None
    x_unit: str = eqx.field(static=True)
    y_unit: str = eqx.field(static=True)
    density: bool = eqx.field(static=True, default=False)
    _metadata: tuple[tuple[str, Any], ...] = eqx.field(static=True, default=())

    def __init__(
        self,
        x: Any,
        y: Any,
        *,
        error: Any = None,
        density: bool = False,
        metadata: dict | None = None,
    ):
        if not isinstance(x, pint.Quantity) or not isinstance(y, pint.Quantity):
            raise UnitError(
                "Spectrum(x, y) takes pint quantities for both axes (observables.Quantity); got "
                f"{type(x).__name__} and {type(y).__name__}"
            )
        axis_scale(x.units, "x")
        xm = jnp.asarray(x.magnitude)
        ym = jnp.asarray(y.magnitude)
        _check_shapes(xm, ym)
        self.x_magnitude = xm
        self.y_magnitude = ym
        self.error_magnitude = None if error is None else _error_in(error, y.units, ym.shape)
        self.x_unit = _unit_str(x.units)
        self.y_unit = _unit_str(y.units)
        self.density = bool(density)
        self._metadata = _freeze(metadata)

    @classmethod
    def from_arrays(
        cls,
        x: Float[Array, " point"],
        y: Float[Array, " point"],
        *,
        x_unit: str,
        y_unit: str,
        density: bool = False,
        metadata: dict | None = None,
        error: Float[Array, " point"] | None = None,
    ) -> Spectrum:
        """Build from plain arrays (magnitudes) and unit strings; works under `jit`.

        `error`: standard error of y in `y_unit`, same shape as y, or None.
        """
        axis_scale(x_unit, "x_unit")
        obj = object.__new__(cls)
        x, y = jnp.asarray(x), jnp.asarray(y)
        _check_shapes(x, y)
        if error is not None:
            error = jnp.asarray(error)
            if error.shape != y.shape:
                raise SpectrumError(
                    f"error must have y's shape {tuple(y.shape)}, got {tuple(error.shape)}"
                )
        object.__setattr__(obj, "x_magnitude", x)
        object.__setattr__(obj, "y_magnitude", y)
        object.__setattr__(obj, "error_magnitude", error)
        object.__setattr__(obj, "x_unit", _unit_str(_parse_unit(x_unit, "x_unit")))
        object.__setattr__(obj, "y_unit", _unit_str(_parse_unit(y_unit, "y_unit")))
        object.__setattr__(obj, "density", bool(density))
        object.__setattr__(obj, "_metadata", _freeze(metadata))
        return obj

    # ------------------------------------------------------------------------ views
    @property
    def x(self) -> Quantity:
        """The spectral axis as a `Quantity`."""
        return view(self.x_magnitude, self.x_unit)

    @property
    def y(self) -> Quantity:
        """The spectrum values as a `Quantity`."""
        return view(self.y_magnitude, self.y_unit)

    @property
    def metadata(self) -> dict[str, Any]:
        """Provenance and settings (kind, temperature, window, lags, ...) as a dict (a copy)."""
        return dict(self._metadata)

    def __len__(self) -> int:
        return int(self.x_magnitude.shape[0])

    # ------------------------------------------------------------------ conversions
    def _with_axis(self, x_new, unit_new: pint.Unit, ratio, y=None, error=None) -> Spectrum:
        """New spectrum on axis `x_new` (in `unit_new`) with values `y` and errors `error`
        (default: this spectrum's) given per unit of the old axis; `ratio` = dx_old/dx_new."""
        y = self.y_magnitude if y is None else y
        error = self.error_magnitude if error is None else error
        y_unit = self.y_unit
        if self.density:
            y = y * ratio
            error = None if error is None else error * ratio
            y_unit = _unit_str(ureg.Unit(self.y_unit) * ureg.Unit(self.x_unit) / unit_new)
        return Spectrum.from_arrays(
            x_new,
            y,
            x_unit=_unit_str(unit_new),
            y_unit=y_unit,
            density=self.density,
            metadata=dict(self._metadata),
            error=error,
        )

    def to(self, x_unit: Any) -> Spectrum:
        """The same spectrum on an axis in `x_unit` (cm⁻¹ ↔ THz ↔ meV ↔ rad/ps).

        A density's values are multiplied by $|dx_\\mathrm{old}/dx_\\mathrm{new}|$ so that
        integrals over x are unchanged; its y unit changes accordingly.
        """
        unit_new = _parse_unit(x_unit, "x_unit")
        s_old = axis_scale(self.x_unit)
        s_new = axis_scale(unit_new, "x_unit")
        return self._with_axis(self.x_magnitude * (s_new / s_old), unit_new, s_old / s_new)

    def resample(self, new_x: Any) -> Spectrum:
        """Linear interpolation onto the grid `new_x` (a `Quantity`, any spectral axis unit).

        The result is expressed on `new_x` in its unit (y converted as in `to`); a standard
        error is interpolated the same way (a rough rule between grid points). Raises
        `SpectrumError` if `new_x` reaches outside this spectrum's range, `UnitError` if
        `new_x` has no units or units that are not a spectral axis.
        """
        if not isinstance(new_x, pint.Quantity):
            raise UnitError(
                f"resample needs the new grid as a Quantity (e.g. Quantity(grid, '1/cm')); got "
                f"{type(new_x).__name__}"
            )
        try:
            s_new = axis_scale(new_x.units, "new_x")
        except UnitError as err:
            raise UnitError(
                f"cannot resample a spectrum with x in {self.x_unit} onto a grid in "
                f"{new_x.units:~P}: {err}"
            ) from None
        s_old = axis_scale(self.x_unit)
        grid = jnp.asarray(new_x.magnitude)
        if grid.ndim != 1:
            raise SpectrumError(f"new_x must be 1-D, got shape {tuple(grid.shape)}")
        in_self = grid * (s_old / s_new)
        if not isinstance(in_self, jax.core.Tracer) and not isinstance(
            self.x_magnitude, jax.core.Tracer
        ):
            lo, hi = float(jnp.min(self.x_magnitude)), float(jnp.max(self.x_magnitude))
            tol = 1e-9 * max(abs(hi - lo), 1e-300)
            glo, ghi = float(jnp.min(in_self)), float(jnp.max(in_self))
            if glo < lo - tol or ghi > hi + tol:
                raise SpectrumError(
                    f"cannot resample onto [{glo:g}, {ghi:g}] {self.x_unit}: the spectrum covers "
                    f"only [{lo:g}, {hi:g}] {self.x_unit} (no extrapolation)"
                )
        in_self = in_self.astype(self.x_magnitude.dtype)
        y = jnp.interp(in_self, self.x_magnitude, self.y_magnitude)
        error = self.error_magnitude
        if error is not None:
            error = jnp.interp(in_self, self.x_magnitude, error)
        return self._with_axis(grid, new_x.units, s_old / s_new, y=y, error=error)

    def integral(self) -> Quantity:
        """Trapezoidal integral $\\int y\\,dx$ over the whole axis, as a `Quantity`."""
        xm, ym = self.x_magnitude, self.y_magnitude
        val = jnp.sum(0.5 * (ym[1:] + ym[:-1]) * (xm[1:] - xm[:-1]))
        return ureg.Quantity(val, ureg.Unit(self.y_unit) * ureg.Unit(self.x_unit))

    # --------------------------------------------------------------------- output
    @property
    def x_label(self) -> str:
        return f"{axis_label(self.x_unit)} ({ureg.Unit(self.x_unit):~P})"

    @property
    def y_label(self) -> str:
        name = self.metadata.get("quantity", "Spectrum")
        unit = ureg.Unit(self.y_unit)
        return f"{name} ({unit:~P})" if unit != ureg.dimensionless else f"{name}"

    def labels(self) -> tuple[str, str]:
        """(x label, y label): the axis kind and the quantity, with their units."""
        return self.x_label, self.y_label

    def plot(self, ax: Any = None, *, x_range: Any = None, **kwargs: Any) -> Any:
        """Line plot on a matplotlib `Axes` (a new figure if `ax` is None); returns the Axes.

        Axis labels name the quantity and its unit; `kwargs` go to `Axes.plot`. The x axis
        ends where the spectrum does, not at the Nyquist frequency of the frames: at 1.2 ×
        the last point where |y| exceeds 1 % of its maximum (never beyond the data).
        `x_range=(low, high)` (quantities in any spectral unit: 1/cm, THz, meV, …) shows
        another window,
        `x_range="all"` everything. A standard error, when present, is drawn as a ±1σ band.
        """
        x, y = np.asarray(self.x_magnitude, float), np.asarray(self.y_magnitude, float)
        low, high = self._plot_window(x, y, x_range)
        shown = (x >= low) & (x <= high)
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        kwargs.setdefault("label", self.metadata.get("label", self.metadata.get("quantity")))
        (line,) = ax.plot(x[shown], y[shown], **kwargs)
        if self.error_magnitude is not None:
            err = np.asarray(self.error_magnitude, float)[shown]
            band = (y[shown] - err, y[shown] + err)
            ax.fill_between(x[shown], *band, color=line.get_color(), alpha=0.25, lw=0)
        ax.set_xlabel(self.x_label)
        ax.set_ylabel(self.y_label)
        return ax

    def _plot_window(self, x: np.ndarray, y: np.ndarray, x_range: Any) -> tuple[float, float]:
        """(low, high) x magnitudes to plot (see `plot`)."""
        if isinstance(x_range, str):
            if x_range != "all":
                raise ValueError(f"x_range must be (low, high) or 'all', got {x_range!r}")
            return -np.inf, np.inf
        if x_range is not None:
            if len(x_range) != 2:
                raise ValueError(f"x_range must be (low, high) quantities, got {x_range!r}")
            scale = axis_scale(self.x_unit)
            low, high = sorted(
                float(scale / axis_scale(q.units, "x_range") * q.magnitude)
                if isinstance(q, pint.Quantity)
                else to_magnitude(q, self.x_unit, "x_range")  # raises: no units
                for q in x_range
            )
            return low, high
        size = np.abs(np.nan_to_num(y))
        if x.size < 2 or size.max() <= 0 or np.any(np.diff(x) <= 0):
            return -np.inf, np.inf
        end = x[np.nonzero(size > 0.01 * size.max())[0][-1]]
        return -np.inf, min(x[-1], x[0] + 1.2 * (end - x[0]))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write a CSV file: `#` header lines (units, density flag, metadata as JSON), a column
        header naming each column's unit (`x [1/cm],y [cm]`, then `standard error [cm]` when
        the spectrum has one), then one row per point.

        Read it back with `Spectrum.from_csv`.
        """
        columns = [np.asarray(self.x_magnitude, dtype=float).tolist()]
        columns.append(np.asarray(self.y_magnitude, dtype=float).tolist())
        meta = json.dumps(self.metadata, default=str, ensure_ascii=False)
        header = (
            f"{axis_label(self.x_unit).lower()} [{self.x_unit}],"
            f"{self.metadata.get('kind', 'y')} [{self.y_unit}]"
        )
        if self.error_magnitude is not None:
            columns.append(np.asarray(self.error_magnitude, dtype=float).tolist())
            header += f",standard error [{self.y_unit}]"
        lines = [
            _CSV_MAGIC,
            f"# x_unit: {self.x_unit}",
            f"# y_unit: {self.y_unit}",
            f"# density: {str(self.density).lower()}",
            f"# metadata: {meta}",
            header,
        ]
        lines += [",".join(map(repr, row)) for row in zip(*columns, strict=True)]
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> Spectrum:
        """Read a file written by `to_csv`."""
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        if not lines or lines[0].strip() != _CSV_MAGIC:
            raise SpectrumError(
                f"{path} is not a spectrinv spectrum CSV (first line {_CSV_MAGIC!r})"
            )
        header: dict[str, str] = {}
        i = 1
        while i < len(lines) and lines[i].startswith("#"):
            key, _, value = lines[i][1:].partition(":")
            header[key.strip()] = value.strip()
            i += 1
        try:
            x_unit, y_unit = header["x_unit"], header["y_unit"]
            density = header["density"] == "true"
            metadata = json.loads(header.get("metadata", "{}"))
        except (KeyError, ValueError) as err:
            raise SpectrumError(f"{path}: malformed header: {err}") from err
        data = np.loadtxt(lines[i + 1 :], delimiter=",", ndmin=2)
        return cls.from_arrays(
            data[:, 0],
            data[:, 1],
            x_unit=x_unit,
            y_unit=y_unit,
            density=density,
            metadata=metadata,
            error=data[:, 2] if data.shape[1] > 2 else None,
        )


def _error_in(error: Any, y_unit: Any, shape: tuple[int, ...]) -> Array:
    """A standard-error `Quantity` as magnitudes in `y_unit`, checked against y's shape."""
    if not isinstance(error, pint.Quantity):
        raise UnitError(f"error must be a Quantity in the unit of y, got {type(error).__name__}")
    try:
        em = jnp.asarray(error.m_as(y_unit))
    except pint.errors.DimensionalityError as err:
        raise UnitError(f"error: {err}") from None
    if em.shape != shape:
        raise SpectrumError(f"error must have y's shape {shape}, got {tuple(em.shape)}")
    return em


def _check_shapes(x, y):
    if x.ndim != 1 or y.shape != x.shape:
        raise SpectrumError(
            f"x must be 1-D and y the same shape; got x {tuple(x.shape)}, y {tuple(y.shape)}"
        )
