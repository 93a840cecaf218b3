"""`max_lag`, the correlation window, means one thing for every time-correlation observable.

`IRSpectrum`, `VDOS`, `RamanSpectrum`, `SelfDiffusion`, `EinsteinDiffusion`,
`ShearViscosity`, `ThermalConductivity`, `IonicConductivity` and `EinsteinHelfand` (through the
coefficient it wraps) all take `max_lag` as either

- an `int`: a number of frames (works inside `jit` with a traced time step), or
- a time `Quantity` (e.g. `Quantity(2, "ps")`): converted with the trajectory's time step to
  the **nearest** whole number of frames. A time that is not on the frame grid (off by more
  than 0.1 % of a frame) raises a `LagWarning` naming the lag actually used and the two
  nearest lags on the grid. Inside `jit` with a traced time step the frame time is unknown
  while tracing: the time is rounded to the nearest frame at run time without a warning
  (transport observables then correlate all lags and give no error bar), so give an `int`
  there.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._units import to_internal

__all__ = ["LagWarning", "parse_max_lag", "lag_frames", "traced_lag_frames"]

#: A time lag closer than this fraction of a frame to the grid counts as on the grid.
_GRID_TOLERANCE = 1e-3


class LagWarning(UserWarning):
    """A time `max_lag` is not a whole number of frames; the nearest one is used."""


def parse_max_lag(max_lag: Any, name: str = "max_lag") -> tuple[int | None, float | None]:
    """`(frames, time in ps)` of a `max_lag` argument (one of them set; both `None` if unset).

    Raises `TypeError` for a bool or a unitless float, `ValueError` for a lag below one frame
    or a non-positive time, `UnitError` for a quantity that is not a time.
    """
    if max_lag is None:
        return None, None
    if isinstance(max_lag, bool):
        raise TypeError(f"{name} must be a time Quantity or an int number of frames, got {max_lag}")
    if isinstance(max_lag, int | np.integer):
        if max_lag < 1:
            raise ValueError(f"{name} must be at least 1 frame, got {max_lag}")
        return int(max_lag), None
    value = float(to_internal(max_lag, "time", name))
    if not value > 0:
        raise ValueError(f"{name} must be a positive time, got {max_lag}")
    return None, value


def lag_frames(frames: int | None, time: float | None, dt: float, name: str = "max_lag") -> int:
    """The window in frames: `frames`, or `time / dt` rounded to the nearest frame.

    Warns (`LagWarning`) when `time` is off the frame grid, naming the lag used.
    """
    if frames is not None:
        return frames
    exact = time / dt
    k = int(round(exact))
    if abs(exact - k) > _GRID_TOLERANCE:
        lo, hi = math.floor(exact), math.ceil(exact)
        warnings.warn(
            f"{name} {time:g} ps is not a whole number of frames of {dt:g} ps; using the "
            f"nearest, {k} frames = {k * dt:g} ps (the grid has {lo} frames = {lo * dt:g} ps "
            f"and {hi} frames = {hi * dt:g} ps; give one of them, or an int number of frames)",
            LagWarning,
            stacklevel=_caller_level(),
        )
    return k


def _caller_level() -> int:
    """`stacklevel` pointing at the first frame outside this package (and equinox's method
    wrappers), i.e. at the user's call."""
    inside = (os.path.dirname(os.path.abspath(__file__)), os.path.dirname(eqx.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def traced_lag_frames(time: float, dt: jax.Array, n_frames: int) -> jax.Array:
    """`round(time / dt)` clipped to `[1, n_frames - 1]`, for a traced time step (no checks)."""
    return jnp.clip(jnp.round(time / dt).astype(jnp.int32), 1, n_frames - 1)
