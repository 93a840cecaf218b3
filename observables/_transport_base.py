"""Shared machinery of the transport observables: windows, the Green–Kubo base class, fits.

See `observables._transport` for the overview and references.
"""

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._blocks import split_blocks
from ._green_kubo import AbstractCutoff, read_at, running_integral
from ._lags import lag_frames, traced_lag_frames
from ._trajectory import Trajectory, TrajectoryError
from ._transport_result import TransportResult, make_transport_result
from ._units import to_internal

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


def _window(
    frames: int | None, time: float | None, n_blocks: int, trajectory: Trajectory
) -> tuple[int, Any]:
    """(number of lags to correlate [static], last admissible lag index [maybe traced]).

    The window is `max_lag` (`frames` or `time`, see `observables._lags`), by default
    `n_frames // (2 n_blocks)` frames. A time with a traced time step correlates all lags
    and restricts the cutoff to the window at run time.
    """
    n = trajectory.n_frames
    if n < 3:
        raise TrajectoryError(f"a transport coefficient needs at least 3 frames, got {n}")
    if frames is None and time is None:
        last = max(1, min(n - 1, n // (2 * n_blocks)))
        return last + 1, last
    dt = trajectory.timestep
    if frames is None and _is_tracer(dt):
        return n, traced_lag_frames(time, dt, n)
    given = f"{frames} frames" if frames is not None else f"{time:g} ps"
    last = lag_frames(frames, time, float(dt) if frames is None else 1.0)
    if last < 1:
        raise ValueError(
            f"max_lag {given} is shorter than one frame ({float(dt):g} ps); give a longer window"
        )
    if last > n - 1:
        raise ValueError(
            f"max_lag {given} exceeds the trajectory length ({n - 1} frames = "
            f"{(n - 1) * float(dt):g} ps); give a shorter window (a fraction of the run: long "
            "lags have few time origins)."
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
    number of time origins) and the prefactor $A$ (including the conversion to `y_unit`).
    The running integral $I(t)$ uses the trapezoid rule; the cutoff $t_c$ is chosen by the
    `cutoff` object within the window `max_lag`.

    Shared arguments: `max_lag` (correlation window: an `int` number of frames or a time
    `Quantity` rounded to the nearest frame, see `LagWarning`; default half a block,
    `n_frames // (2 n_blocks)` frames), `cutoff` (`AbstractCutoff`, default `FullWindow()`),
    `n_blocks` (blocks for the error bar, default 5; each block must be at least as long as
    the window),
    `subtract_mean` (correlate fluctuations about the run average; default False, since
    equilibrium currents have zero mean and subtracting the sample mean biases the integral
    by $O(t_c/T_{run})$).

    `__call__` returns a `TransportResult` (value, block-averaged standard error, running
    integral, correlation) in `y_unit`; it is a value (`x_unit` is `None`).
    """

    max_lag_frames: AbstractVar[int | None]
    max_lag_time: AbstractVar[float | None]
    cutoff: AbstractVar[AbstractCutoff]
    n_blocks: AbstractVar[int]
    subtract_mean: AbstractVar[bool]

    x_unit: ClassVar[None] = None
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
        """Scalar turning ∫C dt (internal units) into `y_unit`."""

    @abc.abstractmethod
    def _reduce(self, trajectory: Trajectory, x: Float[Array, "lag ..."]) -> Array:
        """Reduce a per-component lag function `[lag, *signal.shape[1:]]` to `[lag, column]`
        exactly as `_correlation` reduces the component autocorrelations."""

    def _scalar(self) -> bool:
        return True

    @abc.abstractmethod
    def _validate(self, trajectory: Trajectory) -> None:
        """Raise a clear error if the trajectory lacks what this coefficient needs."""

    def _window(self, trajectory: Trajectory) -> tuple[int, Any, bool]:
        """(lags, last admissible lag, whether the block error bar can be computed)."""
        n_lags, last = _window(self.max_lag_frames, self.max_lag_time, self.n_blocks, trajectory)
        return n_lags, last, _blocks_fit(trajectory, self.n_blocks, n_lags, last)

    def _prepare(self, trajectory: Trajectory) -> tuple[int, Any, bool]:
        self._validate(trajectory)
        n_lags, last, blocks = self._window(trajectory)
        if not _is_tracer(trajectory.timestep) and not _is_tracer(last):
            self.cutoff.check(float(trajectory.timestep), int(last))
        return n_lags, last, blocks

    def __call__(self, trajectory: Trajectory) -> TransportResult:
        """Value, block-averaged standard error, running integral and ACF (`TransportResult`).

        The error comes from `n_blocks` contiguous blocks, each correlated with the same
        window and read at the same cutoff index as the full run (`block_average`).
        """
        n_lags, last, blocks = self._prepare(trajectory)
        parts = _green_kubo_core(self, trajectory, n_lags, last, blocks)
        return self._result(*parts, timestep=trajectory.timestep)

    def _result(self, value, error, running, corr, idx, *, timestep) -> TransportResult:
        """The `TransportResult` of this coefficient from its Green–Kubo pieces (the
        in-memory and the streamed computations assemble it here)."""
        return make_transport_result(
            self._scalar(),
            value=value,
            error=error,
            running=running,
            correlation=corr,
            index=idx,
            timestep=timestep,
            unit=self.y_unit,
            correlation_unit=self.correlation_unit,
            n_blocks=self.n_blocks,
            method=f"{self.method}, cutoff {type(self.cutoff).__name__}",
        )


def _blocks_fit(trajectory: Trajectory, n_blocks: int, n_lags: int, last: Any) -> bool:
    """True if `n_blocks` blocks each hold the window; raises if they do not.

    False (no error bar) only when the window is known at run time alone (traced `last`).
    """
    if _is_tracer(last):
        return False
    block_len = trajectory.n_frames // n_blocks
    if block_len < n_lags:
        raise ValueError(
            f"{n_blocks} blocks of {block_len} frames are shorter than the correlation window "
            f"({n_lags} lags); use fewer blocks (n_blocks) or a shorter max_lag."
        )
    return True


@eqx.filter_jit
def _green_kubo_core(obs: AbstractGreenKubo, trajectory: Trajectory, n_lags, last, blocks):
    signal = obs._signal(trajectory)
    corr = obs._correlation(trajectory, signal, n_lags)
    block_corr = None
    if blocks:
        block_corr = jax.vmap(lambda blk: obs._correlation(trajectory, blk, n_lags))(
            split_blocks(signal, obs.n_blocks)
        )
    return green_kubo_from_correlation(obs, trajectory, corr, block_corr, last)


def green_kubo_from_correlation(
    obs: AbstractGreenKubo, trajectory: Trajectory, corr, block_corr, last
):
    """(value, error, running integral, correlation, cutoff index) from the correlation
    `[lag, column]` of the whole run and `[block, lag, column]` of its blocks (or None).

    The error is the standard error of the mean over blocks of the running integral read
    at the full run's cutoff index (`block_average`'s formula). Also used by
    `observables.streaming`, which accumulates the correlations chunk by chunk.
    """
    dt = trajectory.timestep.astype(corr.dtype)
    run = running_integral(corr, dt)
    idx = obs.cutoff.index(corr, run, dt, last)
    pref = jnp.asarray(obs._prefactor(trajectory)).astype(corr.dtype)
    value = read_at(run, idx) * pref
    if block_corr is None:
        return value, None, run * pref, corr, idx
    values = jax.vmap(lambda c: read_at(running_integral(c, dt), idx))(block_corr)
    b = values.shape[0]
    mean = values.mean(axis=0)
    sem = jnp.sqrt(((values - mean) ** 2).sum(axis=0) / (b * (b - 1)))
    return value, sem * pref, run * pref, corr, idx


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
