"""Per-frame observables of a trajectory, and the check that an observable is a frame
average (`observe(traj) == mean_i observe(traj[i])`), which reweighting needs."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from observables import PER_FRAME_FIELDS, Trajectory

from ..backends import pad_frames, unpad_frames
from ._base import error_bar_warnings_off

__all__ = ["per_frame_observables", "TRACE_ERRORS"]


# ---------------------------------------------------------------- per-frame observables
#: errors raised when a function needs concrete arrays but is traced
TRACE_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def per_frame_observables(
    observe: Callable[[Trajectory], PyTree], trajectory: Trajectory, batch_size: int
) -> PyTree:
    """`observe(trajectory[i])` for every frame, stacked on a leading axis, after checking
    that `observe` works on one frame and is a frame average. A one-frame result has no
    error bar, which is expected here: `ErrorBarWarning`s are not shown."""
    with error_bar_warnings_off():
        return _per_frame_observables(observe, trajectory, batch_size)


def _per_frame_observables(observe, trajectory, batch_size):
    n = trajectory.n_frames
    first = _observe_one_frame(observe, trajectory)
    if n >= 2:
        _check_frame_average(observe, trajectory, first)
    names = [f for f in PER_FRAME_FIELDS if getattr(trajectory, f) is not None]
    if trajectory.box_per_frame:
        names.append("box")
    try:
        return _map_frames(observe, trajectory, tuple(names), min(batch_size, n))
    except TRACE_ERRORS:  # observe needs concrete arrays: one frame at a time
        outs = [observe(trajectory[i]) for i in range(n)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


@eqx.filter_jit
def _map_frames(observe, trajectory, names, batch_size):
    """`observe` of every single frame, vmapped over `batch_size` frames under `lax.map`
    (jitted: compiled once per observable and trajectory shape)."""
    n = trajectory.n_frames

    def one(fields):
        frame = eqx.tree_at(
            lambda t: [getattr(t, f) for f in names],
            trajectory,
            [fields[f][None] for f in names],
        )
        return observe(frame)

    per_frame = {f: getattr(trajectory, f) for f in names}
    out = jax.lax.map(jax.vmap(one), pad_frames(per_frame, n, batch_size))
    return unpad_frames(out, n)


def _not_static_message(what: str) -> str:
    return (
        f"Reweighting needs a time-independent observable that is a frame average "
        f"(observe(traj) == mean_i observe(traj[i]), e.g. an RDF or a density), but {what}. "
        "Dynamical observables (correlation functions, spectra, transport coefficients) "
        "cannot be reweighted frame by frame: use BPTT, Adjoint or Truncated for them. For a "
        "nonlinear function of averages (e.g. a variance), observe the averages and put the "
        "nonlinearity into the loss."
    )


def _observe_one_frame(observe, trajectory):
    try:
        out = observe(trajectory[0])
    except Exception as err:
        raise ValueError(
            _not_static_message(
                f"observe failed on a one-frame trajectory with {type(err).__name__}: {err}"
            )
        ) from err
    leaves = jax.tree.leaves(out)
    if not leaves or not all(eqx.is_array_like(x) for x in leaves):
        raise TypeError(
            f"observe must return a pytree of arrays, got {type(out).__name__} with leaves "
            f"{[type(x).__name__ for x in leaves]}"
        )
    return out


def _check_frame_average(observe, trajectory, first):
    """observe of the first and last frames together must equal the mean of observe of each
    (frames far apart differ most, so a nonlinear observable shows up best)."""
    last = trajectory.n_frames - 1
    try:
        pair = observe(trajectory[0::last])
        second = observe(trajectory[last])
    except Exception as err:  # noqa: BLE001 - re-raised with the reason
        raise ValueError(
            _not_static_message(f"observe failed on a short trajectory: {err}")
        ) from err
    pair = _drop_multi_frame_extras(first, pair)
    if jax.tree.structure(pair) != jax.tree.structure(first) or any(
        np.shape(a) != np.shape(b)
        for a, b in zip(jax.tree.leaves(pair), jax.tree.leaves(first), strict=True)
    ):
        shapes = [np.shape(x) for x in jax.tree.leaves(first)]
        shapes2 = [np.shape(x) for x in jax.tree.leaves(pair)]
        raise ValueError(
            _not_static_message(
                f"its output changes shape with the number of frames ({shapes} for one frame, "
                f"{shapes2} for two)"
            )
        )
    for a, b, c in zip(
        jax.tree.leaves(pair), jax.tree.leaves(first), jax.tree.leaves(second), strict=True
    ):
        a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
        mean = 0.5 * (b + c)
        scale = max(np.max(np.abs(b), initial=0.0), np.max(np.abs(c), initial=0.0), 1e-300)
        if not np.allclose(a, mean, rtol=1e-5, atol=1e-5 * scale):
            err = float(np.max(np.abs(a - mean))) / scale
            raise ValueError(
                _not_static_message(
                    f"observe of the first and last frames together differs from the mean of "
                    f"observe of each (relative difference {err:.3g})"
                )
            )


def _drop_multi_frame_extras(first, pair):
    """`pair` without the entries that are `None` in the one-frame output `first`: results
    may add statistics that need several frames (e.g. a block standard error); those are
    not frame averages and are not reweighted (the reweighted result has `None` there)."""
    try:
        return jax.tree.map(
            lambda a, b: None if a is None else b, first, pair, is_leaf=lambda x: x is None
        )
    except (ValueError, TypeError):  # other structural differences: reported by the caller
        return pair
