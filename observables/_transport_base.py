"""Shared machinery of the transport observables: windows, the Green–Kubo base class, fits.

See `observables._transport` for the overview and references.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._correlation import block_average
from ._green_kubo import AbstractCutoff, TransportResult, read_at, running_integral
from ._trajectory import Trajectory, TrajectoryError
from ._units import Quantity, to_internal

__all__ = ["AbstractGreenKubo"]


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _temperature(q: Any) -> float:
    value = float(to_internal(q, "temperature", "temperature"))
    if not value > 0:
        raise ValueError(f"temperature must be positive (absolute), got {q}")
    return value


def _optional_time(q: Any, name: str) -> float | None:
    if q is None:
        return None
    value = float(to_internal(q, "time", name))
    if not value > 0:
        raise ValueError(f"{name} must be a positive time, got {q}")
    return value


def _check_blocks(n_blocks: int) -> int:
    if not isinstance(n_blocks, int | np.integer) or n_blocks < 2:
        raise ValueError(f"n_blocks must be an int >= 2 (for an error bar), got {n_blocks!r}")
    return int(n_blocks)


def _window(max_lag: float | None, n_blocks: int, trajectory: Trajectory) -> tuple[int, Any]:
    """(number of lags to correlate [static], last admissible lag index [maybe traced])."""
    n = trajectory.n_frames
    if n < 3:
        raise TrajectoryError(f"a transport coefficient needs at least 3 frames, got {n}")
    if max_lag is None:
        last = max(1, min(n - 1, n // (2 * n_blocks)))
        return last + 1, last
    dt = trajectory.timestep
    if _is_tracer(dt):  # correlate all lags, restrict the cutoff to the window
        last = jnp.clip(jnp.floor(max_lag / dt + 1e-9).astype(jnp.int32), 1, n - 1)
        return n, last
    last = int(math.floor(max_lag / float(dt) + 1e-9))
    if last < 1:
        raise ValueError(
            f"max_lag {max_lag} ps is shorter than one frame ({float(dt)} ps); give a longer window"
        )
    if last > n - 1:
        raise ValueError(
            f"max_lag {max_lag} ps exceeds the trajectory length ({(n - 1) * float(dt)} ps); "
            "give a shorter window (a fraction of the run: long lags have few time origins)."
        )
    return last + 1, last


def _require_box(trajectory: Trajectory, name: str) -> None:
    if trajectory.box is None:
        raise TrajectoryError(
            f"{name} needs the volume but the trajectory has no periodic box; give box=..."
        )


def _mean_volume(trajectory: Trajectory, name: str) -> Array:
    _require_box(trajectory, name)
    return jnp.mean(trajectory.volume)


# ------------------------------------------------------------------------------ base class
class AbstractGreenKubo(AbstractObservable):
    r"""A Green–Kubo coefficient $L = A \int_0^{t_c} C(t)\,dt$ of a current's autocorrelation.

    Subclasses supply the current (`_signal`), its component-averaged autocorrelation
    $C(t)$ (`_correlation`, by FFT through `correlate`, unbiased: each lag divided by its
    number of time origins) and the prefactor $A$ (including the conversion to
    `output_unit`). The running integral $I(t)$ uses the trapezoid rule; the cutoff $t_c$
    is chosen by the `cutoff` object within the window `max_lag`.

    Shared fields: `max_lag` (correlation window, ps; default half a block, i.e.
    `n_frames // (2 n_blocks)` frames), `cutoff` (`AbstractCutoff`, default
    `FullWindow()`), `n_blocks` (blocks for the error bar in `compute`, default 5),
    `subtract_mean` (correlate fluctuations about the run average; default False, since
    equilibrium currents have zero mean and subtracting the sample mean biases the integral
    by $O(t_c/T_{run})$).
    """

    max_lag: eqx.AbstractVar[float | None]
    cutoff: eqx.AbstractVar[AbstractCutoff]
    n_blocks: eqx.AbstractVar[int]
    subtract_mean: eqx.AbstractVar[bool]

    #: Unit of the correlation function `_correlation` returns (internal units).
    correlation_unit: ClassVar[str] = "dimensionless"
    #: Short description used in `TransportResult.method`.
    method: ClassVar[str] = "Green–Kubo"

    @abc.abstractmethod
    def _signal(self, trajectory: Trajectory) -> Float[Array, "frame ..."]:
        """The current, `[frame, ...]`, internal units; raises if the trajectory lacks it."""

    @abc.abstractmethod
    def _correlation(
        self, trajectory: Trajectory, signal: Float[Array, "frame ..."], n_lags: int
    ) -> Float[Array, "lag column"]:
        """Component-averaged autocorrelation `[lag, column]` of `signal`."""

    @abc.abstractmethod
    def _prefactor(self, trajectory: Trajectory) -> Any:
        """Scalar turning ∫C dt (internal units) into `output_unit`."""

    @abc.abstractmethod
    def _reduce(self, trajectory: Trajectory, x: Float[Array, "lag ..."]) -> Array:
        """Reduce a per-component lag function `[lag, *signal.shape[1:]]` to `[lag, column]`
        exactly as `_correlation` reduces the component autocorrelations."""

    def _scalar(self) -> bool:
        return True

    @abc.abstractmethod
    def _validate(self, trajectory: Trajectory) -> None:
        """Raise a clear error if the trajectory lacks what this coefficient needs."""

    def _prepare(self, trajectory: Trajectory, blocks: bool) -> tuple[int, Any]:
        self._validate(trajectory)
        n_lags, last = _window(self.max_lag, self.n_blocks, trajectory)
        if not _is_tracer(trajectory.timestep) and not _is_tracer(last):
            self.cutoff.check(float(trajectory.timestep), int(last))
        if blocks:
            _check_block_length(trajectory, self.n_blocks, n_lags)
        return n_lags, last

    def __call__(self, trajectory: Trajectory) -> Float[Array, "..."]:
        """The coefficient in `output_unit` (scalar, or `[species]`); plain array."""
        n_lags, last = self._prepare(trajectory, blocks=False)
        value = _green_kubo_core(self, trajectory, n_lags, last, False)[0]
        return value[0] if self._scalar() else value

    def compute(self, trajectory: Trajectory) -> TransportResult:
        """Value, block-averaged standard error, running integral and ACF (outside `jit`).

        The error comes from `n_blocks` contiguous blocks, each correlated with the same
        window and read at the same cutoff index as the full run (`block_average`). Blocks
        must be at least as long as the window.
        """
        n_lags, last = self._prepare(trajectory, blocks=True)
        value, error, running, corr, idx = _green_kubo_core(self, trajectory, n_lags, last, True)
        return _result(
            self._scalar(),
            value=value,
            error=error,
            running=running,
            correlation=corr,
            idx=idx,
            dt=trajectory.timestep,
            unit=self.output_unit,
            corr_unit=self.correlation_unit,
            n_blocks=self.n_blocks,
            method=f"{self.method}, cutoff {type(self.cutoff).__name__}",
        )


def _check_block_length(trajectory: Trajectory, n_blocks: int, n_lags: int) -> None:
    block_len = trajectory.n_frames // n_blocks
    if block_len < n_lags:
        raise ValueError(
            f"{n_blocks} blocks of {block_len} frames are shorter than the correlation window "
            f"({n_lags} lags); use fewer blocks (n_blocks) or a shorter max_lag."
        )


@eqx.filter_jit
def _green_kubo_core(obs: AbstractGreenKubo, trajectory: Trajectory, n_lags, last, blocks):
    dt = trajectory.timestep
    signal = obs._signal(trajectory)
    corr = obs._correlation(trajectory, signal, n_lags)
    dt = dt.astype(corr.dtype)
    run = running_integral(corr, dt)
    idx = obs.cutoff.index(corr, run, dt, last)
    pref = jnp.asarray(obs._prefactor(trajectory)).astype(corr.dtype)
    value = read_at(run, idx) * pref
    if not blocks:
        return value, None, None, None, None

    def estimate(block):
        c = obs._correlation(trajectory, block, n_lags)
        return read_at(running_integral(c, dt), idx)

    error = block_average(signal, obs.n_blocks, estimate).sem * pref
    return value, error, run * pref, corr, idx


def _result(scalar, *, value, error, running, correlation, idx, dt, unit, corr_unit, **kw):
    time = np.arange(running.shape[0]) * float(dt)
    cutoff = np.asarray(idx) * float(dt)
    value, error, running, correlation = (
        np.asarray(a) for a in (value, error, running, correlation)
    )
    if scalar:
        value, error, cutoff = value[0], error[0], cutoff[0]
        running, correlation = running[:, 0], correlation[:, 0]
    return TransportResult(
        value=Quantity(value, unit),
        error=Quantity(error, unit),
        time=Quantity(time, "ps"),
        running=Quantity(running, unit),
        correlation=Quantity(correlation, corr_unit),
        cutoff=Quantity(cutoff, "ps"),
        **kw,
    )


def _fit_start_index(fit_start: float | None, dt: Array, last: Any) -> Array:
    if fit_start is None:
        return jnp.maximum(jnp.asarray(last, dtype=jnp.int32) // 5, 1)
    return jnp.round(fit_start / dt).astype(jnp.int32)


def _check_fit_start(fit_start: float | None, dt: Any, last: Any) -> None:
    if fit_start is None or _is_tracer(dt) or _is_tracer(last):
        return
    if round(fit_start / float(dt)) >= int(last):
        raise ValueError(
            f"fit_start {fit_start} ps leaves fewer than 2 lags before the end of the fit "
            f"window ({int(last) * float(dt)} ps); lower it or raise max_lag."
        )


def _fit_slope(y: Float[Array, "lag column"], dt: Array, start: Any, last: Any) -> Array:
    """Least-squares slope of `y` against lag time over lags `start..last` (inclusive)."""
    lags = jnp.arange(y.shape[0], dtype=jnp.int32)[:, None]
    t = lags.astype(y.dtype) * dt.astype(y.dtype)
    start = jnp.asarray(start, dtype=jnp.int32)
    last = jnp.asarray(last, dtype=jnp.int32)
    w = ((lags >= start) & (lags <= last)).astype(y.dtype)
    tm = jnp.sum(w * t, axis=0) / jnp.sum(w, axis=0)
    ym = jnp.sum(w * y, axis=0) / jnp.sum(w, axis=0)
    return jnp.sum(w * (t - tm) * (y - ym), axis=0) / jnp.sum(w * (t - tm) ** 2, axis=0)
