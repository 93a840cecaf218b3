"""`TransportResult`: what every transport observable returns."""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._result import AbstractResult, view
from ._units import Quantity, ureg

__all__ = ["TransportResult", "make_transport_result"]


class TransportResult(AbstractResult):
    """A transport coefficient with its error bar and the curves it was read from.

    A pytree of plain arrays (units static), returned by every transport observable's
    `__call__`, inside or outside `jit`. As an `AbstractResult` it is a **value**:
    `x_magnitude` and `x_unit` are `None`, `y_magnitude` is the coefficient in `y_unit`,
    `error_magnitude` its standard error (or `None`, see below).

    **Fields** (plain arrays):

    - `y_magnitude`: the coefficient (scalar, or `[species]` for several species).
    - `error_magnitude`: standard error of the coefficient from block averaging (`n_blocks`
      contiguous blocks of the trajectory, each analysed with the same window and cutoff
      index); same shape. `None` when the window is only known at run time (a time
      `max_lag` with a time step traced by `jit`: give `max_lag` in frames instead).
    - `running_magnitude`: the running estimate `[lag, ...]` in `y_unit`: prefactor ×
      running integral (Green–Kubo), or MSD(t)/(2 d t) (Einstein).
    - `correlation_magnitude`: what was integrated or fitted, `[lag, ...]` in
      `correlation_unit`: the (component-averaged) autocorrelation (Green–Kubo) or the mean
      squared displacement (Einstein).
    - `cutoff_magnitude`: lag time (ps) at which the value was read (Green–Kubo; the end of
      the fit for Einstein), same shape as the value.
    - `timestep`: lag spacing, ps (scalar).

    Views as `pint.Quantity` (outside `jit`): `value` (= `y`), `error`, `time` (lag times),
    `running`, `correlation`, `cutoff`.
    """

    y_magnitude: Float[Array, "..."]
    error_magnitude: Float[Array, "..."] | None
    running_magnitude: Float[Array, "lag ..."]
    correlation_magnitude: Float[Array, "lag ..."]
    cutoff_magnitude: Float[Array, "..."]
    timestep: Float[Array, ""]
    y_unit: str = eqx.field(static=True)
    correlation_unit: str = eqx.field(static=True)
    n_blocks: int = eqx.field(static=True)
    method: str = eqx.field(static=True)

    x_magnitude: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    density: ClassVar[bool] = False

    @property
    def value(self) -> Quantity:
        """The coefficient as a `Quantity` (same as `y`)."""
        return self.y

    @property
    def time(self) -> Quantity:
        """Lag times `[lag]` as a `Quantity` (ps)."""
        n = self.running_magnitude.shape[0]
        return view(jnp.arange(n, dtype=self.timestep.dtype) * self.timestep, "ps")

    @property
    def running(self) -> Quantity:
        """The running estimate `[lag, ...]` as a `Quantity` in `y_unit`."""
        return view(self.running_magnitude, self.y_unit)

    @property
    def correlation(self) -> Quantity:
        """The integrated / fitted curve `[lag, ...]` as a `Quantity` in `correlation_unit`."""
        return view(self.correlation_magnitude, self.correlation_unit)

    @property
    def cutoff(self) -> Quantity:
        """The lag time at which the value was read, as a `Quantity` (ps)."""
        return view(self.cutoff_magnitude, "ps")

    def __str__(self) -> str:
        value = np.asarray(self.y_magnitude)
        unit = f"{ureg.Unit(self.y_unit):~P}"
        if self.error_magnitude is None:
            return f"{value} {unit} (no error bar; {self.method})"
        return f"{value} {unit} ± {np.asarray(self.error_magnitude)} ({self.method})"

    def plot(self, ax: Any = None, *, unit: str | None = None) -> Any:
        """Plot the running estimate against lag time, marking the value, error and cutoff.

        `unit`: unit for the y axis (default `y_unit`). Returns the matplotlib axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        unit = unit or self.y_unit
        t = np.asarray(self.time.m_as("ps"))
        y = np.asarray(self.running.m_as(unit))
        ax.plot(t, y.reshape(len(t), -1))
        value = np.asarray(self.value.m_as(unit)).reshape(-1)
        error = (
            np.zeros_like(value)
            if self.error is None
            else np.asarray(self.error.m_as(unit)).reshape(-1)
        )
        cutoff = np.asarray(self.cutoff_magnitude).reshape(-1)
        for v, e, c in zip(value, error, cutoff, strict=True):
            ax.axhspan(v - e, v + e, alpha=0.2)
            ax.axvline(c, linestyle=":")
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel(f"{self.method} ({unit})")
        return ax


def make_transport_result(
    scalar: bool,
    *,
    value: Float[Array, " column"],
    error: Float[Array, " column"] | None,
    running: Float[Array, "lag column"],
    correlation: Float[Array, "lag column"],
    index: Int[Array, " column"],
    timestep: Float[Array, ""],
    unit: str,
    correlation_unit: str,
    n_blocks: int,
    method: str,
) -> TransportResult:
    """Assemble a `TransportResult` from per-column arrays; `scalar` drops the column axis."""
    dt = jnp.asarray(timestep).astype(running.dtype)
    cutoff = jnp.broadcast_to(jnp.asarray(index), value.shape).astype(running.dtype) * dt
    if scalar:
        value, cutoff = value[0], cutoff[0]
        error = None if error is None else error[0]
        running, correlation = running[:, 0], correlation[:, 0]
    return TransportResult(
        y_magnitude=value,
        error_magnitude=error,
        running_magnitude=running,
        correlation_magnitude=correlation,
        cutoff_magnitude=cutoff,
        timestep=dt,
        y_unit=unit,
        correlation_unit=correlation_unit,
        n_blocks=n_blocks,
        method=method,
    )
