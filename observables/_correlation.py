r"""Time-correlation functions by zero-padded FFT (Wiener–Khinchin), and block averaging.

Definition (for frames $t = 0 \dots N-1$ and lag $\tau \ge 0$, in frames):

$$ C_{ab}(\tau) = \frac{1}{N - \tau} \sum_{t=0}^{N-1-\tau} a(t)\, b(t + \tau) $$

(*unbiased*: each lag is divided by its number of time origins; the *biased* estimator
divides by $N$ instead). Negative lags follow from $C_{ab}(-\tau) = C_{ba}(\tau)$.

It is computed in $O(N \log N)$ by zero-padding both series to a length
$L \ge N + \tau_{\max}$ (so the circular correlation equals the linear one for every
returned lag), multiplying the spectra $\overline{\hat a}\,\hat b$ and transforming back.

Reference: M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.,
Oxford University Press (2017), §8.1 and appendix D.3.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.fft
from jaxtyping import Array, Float

__all__ = ["correlate", "correlate_direct", "block_average", "BlockEstimate"]

# Columns per FFT batch are chosen so that one batch's complex spectrum stays ~256 MB.
_BATCH_BYTES = 2**28


def _normalize_axes(axes: Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    out = []
    for ax in axes:
        a = ax + ndim if ax < 0 else ax
        if not 1 <= a < ndim:
            raise ValueError(
                f"{name} entry {ax} is not a trailing axis of an array with {ndim} dims "
                "(axis 0 is time and cannot be reduced)"
            )
        out.append(a)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated axes: {tuple(axes)}")
    return tuple(out)


def correlate(
    a: Float[Array, "frame ..."],
    b: Float[Array, "frame ..."] | None = None,
    *,
    max_lag: int | None = None,
    subtract_mean: bool = False,
    unbiased: bool = True,
    two_sided: bool = False,
    sum_axes: Sequence[int] = (),
    mean_axes: Sequence[int] = (),
    batch_size: int | None = None,
) -> Float[Array, "lag ..."]:
    r"""Auto- or cross-correlation $C_{ab}(\tau) = \langle a(t)\, b(t+\tau) \rangle_t$ by FFT.

    **Arguments:**

    - `a`, `b`: real arrays `[frame, ...]` with the same shape; time is axis 0. `b=None`
      gives the autocorrelation of `a`. Plain arrays (any consistent unit): the result is in
      unit(a)·unit(b).
    - `max_lag`: largest lag in frames (default `N - 1`). Must be a Python int (static).
    - `subtract_mean`: remove each component's time average first (fluctuation correlation).
    - `unbiased`: divide lag τ by its number of time origins `N - τ` (default), else by `N`.
    - `two_sided`: also return negative lags; the lag axis then runs `-max_lag..max_lag`
      and uses $C_{ab}(-\tau) = C_{ba}(\tau)$.
    - `sum_axes`: trailing axes summed over after correlating (e.g. the Cartesian axis, to
      get ⟨a·b⟩). `mean_axes`: trailing axes averaged (e.g. particles). Reducing inside the
      engine keeps memory at O(lags) for large systems.
    - `batch_size`: number of 1-D series transformed at once (default: sized to ~256 MB).

    **Returns:** `[lag, ...kept axes]`, lag 0 first (or centred at index `max_lag` if
    `two_sided`).

    jit/vmap/grad safe (the static arguments above must be Python values).
    """
    sum_axes = tuple(sum_axes)
    mean_axes = tuple(mean_axes)
    a = jnp.asarray(a)
    if b is not None:
        b = jnp.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"correlate: a and b need the same shape, got {a.shape} and {b.shape}")
    if a.ndim == 0:
        raise ValueError("correlate: input needs a time axis (axis 0)")
    n = a.shape[0]
    if n < 1:
        raise ValueError("correlate: empty time axis")
    if max_lag is None:
        max_lag = n - 1
    if not isinstance(max_lag, int | np.integer) or not 0 <= max_lag < n:
        raise ValueError(f"max_lag must be an int in [0, {n - 1}] for {n} frames, got {max_lag!r}")
    s_axes = _normalize_axes(sum_axes, a.ndim, "sum_axes")
    m_axes = _normalize_axes(mean_axes, a.ndim, "mean_axes")
    if set(s_axes) & set(m_axes):
        raise ValueError("an axis cannot be in both sum_axes and mean_axes")
    return _correlate(
        a, b, int(max_lag), subtract_mean, unbiased, two_sided, s_axes, m_axes, batch_size
    )


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _correlate(a, b, max_lag, subtract_mean, unbiased, two_sided, s_axes, m_axes, batch_size):
    n = a.shape[0]
    reduced = s_axes + m_axes
    kept = tuple(i for i in range(1, a.ndim) if i not in reduced)
    kept_shape = tuple(a.shape[i] for i in kept)
    k = math.prod(kept_shape)
    r = math.prod(a.shape[i] for i in reduced)
    scale = 1.0 / math.prod(a.shape[i] for i in m_axes)

    def to_columns(x):  # [N, ...] -> [K, R, N]
        x = jnp.transpose(x, kept + reduced + (0,))
        return x.reshape(k, r, n)

    xa = to_columns(a)
    xb = None if b is None else to_columns(b)
    if subtract_mean:
        xa = xa - xa.mean(axis=-1, keepdims=True)
        xb = None if xb is None else xb - xb.mean(axis=-1, keepdims=True)

    # Zero padding to L >= N + max_lag makes the circular correlation equal the linear one for
    # |lag| <= max_lag (a wrapped term would need a(t) with t >= L - max_lag >= N, which is 0).
    length = scipy.fft.next_fast_len(n + max_lag, real=True)
    n_out = 2 * max_lag + 1 if two_sided else max_lag + 1
    if batch_size is None:
        batch_size = max(1, _BATCH_BYTES // (16 * (length // 2 + 1)))

    def corr_sum(ca, cb):
        """[k, r, N] blocks -> summed over r -> [k, n_out] raw (un-normalised) sums."""
        fa = jnp.fft.rfft(ca, n=length, axis=-1)
        spec = jnp.conj(fa) * (fa if cb is None else jnp.fft.rfft(cb, n=length, axis=-1))
        full = jnp.fft.irfft(spec.sum(axis=1), n=length, axis=-1)
        pos = full[:, : max_lag + 1]
        if not two_sided:
            return pos
        neg = full[:, length - max_lag :] if max_lag > 0 else full[:, :0]
        return jnp.concatenate([neg, pos], axis=-1)

    if k * r <= batch_size:
        raw = corr_sum(xa, xb)
    elif r > 1:
        # Accumulate over chunks of the reduced axis: memory O(k * lags).
        rc = max(1, batch_size // k)
        n_chunks = -(-r // rc)
        pad = n_chunks * rc - r
        pa = jnp.pad(xa, ((0, 0), (0, pad), (0, 0))).reshape(k, n_chunks, rc, n)
        pb = (
            None
            if xb is None
            else jnp.pad(xb, ((0, 0), (0, pad), (0, 0))).reshape(k, n_chunks, rc, n)
        )

        def step(acc, i):
            cb = None if pb is None else pb[:, i]
            return acc + corr_sum(pa[:, i], cb), None

        raw, _ = jax.lax.scan(step, jnp.zeros((k, n_out), dtype=xa.dtype), jnp.arange(n_chunks))
    else:
        # Nothing reduced: map over chunks of the kept columns.
        kc = batch_size
        n_chunks = -(-k // kc)
        pad = n_chunks * kc - k
        pa = jnp.pad(xa, ((0, pad), (0, 0), (0, 0))).reshape(n_chunks, kc, 1, n)
        if xb is None:
            raw = jax.lax.map(lambda ca: corr_sum(ca, None), pa)
        else:
            pb = jnp.pad(xb, ((0, pad), (0, 0), (0, 0))).reshape(n_chunks, kc, 1, n)
            raw = jax.lax.map(lambda cs: corr_sum(*cs), (pa, pb))
        raw = raw.reshape(n_chunks * kc, n_out)[:k]

    lags = jnp.arange(-max_lag, max_lag + 1) if two_sided else jnp.arange(max_lag + 1)
    counts = ((n - jnp.abs(lags)) if unbiased else jnp.full(lags.shape, n)).astype(raw.dtype)
    out = raw * (scale / counts)
    return jnp.moveaxis(out.reshape(kept_shape + (n_out,)), -1, 0)


def correlate_direct(
    a: Any, b: Any = None, *, max_lag: int | None = None, unbiased: bool = True
) -> np.ndarray:
    r"""Reference $O(N^2)$ correlation in NumPy (elementwise over trailing axes, lags ≥ 0).

    Same definition and normalisation as `correlate` (without reductions). Meant for tests
    and benchmarks, not for production use.
    """
    a = np.asarray(a)
    b = a if b is None else np.asarray(b)
    n = a.shape[0]
    max_lag = n - 1 if max_lag is None else max_lag
    out = np.empty((max_lag + 1,) + a.shape[1:], dtype=np.result_type(a, b))
    for tau in range(max_lag + 1):
        s = np.sum(a[: n - tau] * b[tau:], axis=0)
        out[tau] = s / ((n - tau) if unbiased else n)
    return out


class BlockEstimate(NamedTuple):
    """Mean over blocks, its standard error, and the per-block values."""

    mean: Array
    sem: Array
    blocks: Array


def block_average(
    x: Float[Array, "frame ..."],
    n_blocks: int,
    estimator: Callable[[Array], Array] | None = None,
) -> BlockEstimate:
    r"""Block-averaged estimate and standard error of a time-series statistic.

    The series is cut into `n_blocks` contiguous blocks of `N // n_blocks` frames (a
    remainder at the end is dropped); `estimator` (default: the time mean) is applied to
    each block — for example `lambda blk: correlate(blk, max_lag=100)` — and

    $$ \bar E = \frac{1}{B}\sum_b E_b, \qquad
       \sigma_{\bar E} = \sqrt{\frac{1}{B(B-1)} \sum_b (E_b - \bar E)^2 }. $$

    The error is trustworthy only when blocks are longer than the correlation time
    (Flyvbjerg & Petersen, *J. Chem. Phys.* **91**, 461 (1989)).

    `estimator` is vmapped over blocks, so it must be jax-traceable; the whole call is
    jit/grad safe with `n_blocks` static.
    """
    x = jnp.asarray(x)
    if not isinstance(n_blocks, int | np.integer) or n_blocks < 2:
        raise ValueError(f"n_blocks must be an int >= 2 to estimate an error, got {n_blocks!r}")
    block_len = x.shape[0] // n_blocks
    if block_len < 1:
        raise ValueError(f"cannot cut {x.shape[0]} frames into {n_blocks} blocks")
    blocks = x[: block_len * n_blocks].reshape((n_blocks, block_len) + x.shape[1:])
    fn = (lambda blk: blk.mean(axis=0)) if estimator is None else estimator
    values = jax.vmap(fn)(blocks)
    mean = values.mean(axis=0)
    sem = jnp.sqrt(((values - mean) ** 2).sum(axis=0) / (n_blocks * (n_blocks - 1)))
    return BlockEstimate(mean, sem, values)
