r"""From a time series to its correlation spectrum on an angular-frequency grid.

`SpectralTransform` holds the choices that set the resolution and noise of a spectrum — the
lag window, the largest correlation lag, the output grid spacing and its upper end — and
applies them. With $C_k = C(k\Delta t)$, $k = 0 \dots K$, the autocorrelation estimate
(`observables.correlate`) and $w$ the lag window (`w(0) = 1`), the spectrum is the discrete-time
Fourier transform of the windowed, even extended sequence $w_{|k|} C_{|k|}$, $|k| \le K$:

$$ \tilde C(\omega) = \frac{\Delta t}{2\pi} \sum_{k=-K}^{K} w_{|k|}\, C_{|k|}\,
   e^{-i\omega k \Delta t}
   = \frac{\Delta t}{\pi}\Big[\tfrac12 C_0 + \sum_{k=1}^{K} w_k C_k \cos(\omega k\Delta t)\Big], $$

the discrete form of $\tilde C(\omega) = \frac{1}{2\pi}\int dt\, e^{-i\omega t} C(t)$. Units:
unit(C)·time per radian of angular frequency (it is a density in ω:
$\int \tilde C\, d\omega = C(0)$).

It is evaluated by a real FFT zero-padded to an **even** length $L > K$, on the grid
$\omega_j = 2\pi j / (L\Delta t)$, $j = 0 \dots L/2$ (up to the Nyquist frequency
$\pi/\Delta t$). On that full grid the trapezoidal rule gives the sum rule exactly:
$\int_0^{\pi/\Delta t} \tilde C\, d\omega = C(0)/2$, for any window with $w(0) = 1$.

**Resolution.** Zero padding (`frequency_step`) only interpolates. The real resolution is
set by the largest lag $T = K\Delta t$ and the window: a Hann window of width $T$ broadens a
line to a FWHM of about $2\pi \cdot 1.44 / (2T)$ rad/time; a Gaussian window of width σ to
$2\sqrt{2\ln 2}/\sigma$. The statistical error of each point grows like $\sqrt{K/N}$ for $N$
frames (Priestley, §6.2), hence the default $K = N/4$.

**Estimator and sign.** By default the *biased* correlation estimate (divided by $N$ at every
lag) is used: it is a positive semi-definite sequence, so with a window whose Fourier
transform is non-negative (Gaussian with $K = N-1$, exponential, Bartlett) the spectrum is
non-negative. A Hann window's transform has small negative side lobes (≈2.7 % of the main
lobe), so a Hann-windowed spectrum of a sharp line can dip slightly below zero next to it.
`unbiased=True` divides lag k by $N-k$ instead (no positivity guarantee).

References: M. B. Priestley, *Spectral Analysis and Time Series*, Academic Press (1981),
ch. 6; M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017), §8.1.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pint
import scipy.fft
from jaxtyping import Array, Float

from ._blocks import split_blocks, usable_blocks
from ._correlation import correlate
from ._lags import lag_frames, parse_max_lag
from ._spectrum import axis_scale
from ._units import UnitError, to_internal
from ._windows import AbstractWindow, Hann

__all__ = ["SpectralTransform", "check_temperature"]


def _even_fast_len(n: int) -> int:
    n = max(int(n), 2)
    while True:
        m = scipy.fft.next_fast_len(n, real=True)
        if m % 2 == 0:
            return m
        n = m + 1


def _positive_frequency(q: Any, name: str) -> float:
    """A spectral quantity (cm⁻¹, THz, meV, rad/ps) as an angular frequency in rad/ps."""
    if not isinstance(q, pint.Quantity):
        raise UnitError(
            f"{name} was given without units ({q!r}); give a Quantity in 1/cm, THz, meV or rad/ps"
        )
    scale = axis_scale(q.units, name)
    value = float(q.magnitude) / scale
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {q}")
    return value


def check_temperature(q: Any, name: str = "temperature") -> float:
    """A temperature `Quantity` in kelvin (positive); `UnitError` naming both units if not."""
    value = float(to_internal(q, "temperature", name))
    if not value > 0:
        raise ValueError(f"{name} must be a positive absolute temperature, got {q}")
    return value


def concrete_timestep(timestep: Any) -> float | None:
    """The timestep as a Python float, or None if it is traced (inside `jit`)."""
    if isinstance(timestep, jax.core.Tracer):
        return None
    return float(timestep)


class SpectralTransform(eqx.Module):
    """Window, largest lag and frequency grid of a correlation spectrum (see module docs).

    **Arguments:**

    - `window`: an `AbstractWindow` applied to the correlation before transforming (default
      `Hann()`, whose width is the largest lag).
    - `max_lag`: largest correlation lag $T$: a time `Quantity` (e.g. `Quantity(2, "ps")`,
      rounded to the nearest frame with a `LagWarning` when off the frame grid) or an `int`
      number of frames. Default: a quarter of the trajectory.
    - `frequency_step`: grid spacing, a spectral `Quantity` (`Quantity(1, "1/cm")`); the FFT
      is zero-padded until the spacing is at most this. Default: $\\pi / T$.
    - `max_frequency`: upper end of the output grid (spectral `Quantity`); must not exceed the
      Nyquist frequency $\\pi/\\Delta t$. Default: Nyquist.
    - `unbiased`: use the unbiased correlation estimator (default False, see module docs).

    A time `max_lag`, `frequency_step` and `max_frequency` need a concrete time step; inside
    `jit` with a traced trajectory use an `int` `max_lag` and leave the other two unset.
    """

    window: AbstractWindow
    max_lag_time: float | None = eqx.field(static=True)
    max_lag_frames: int | None = eqx.field(static=True)
    frequency_step: float | None = eqx.field(static=True)
    max_frequency: float | None = eqx.field(static=True)
    unbiased: bool = eqx.field(static=True)

    def __init__(
        self,
        window: AbstractWindow | None = None,
        max_lag: Any = None,
        frequency_step: Any = None,
        max_frequency: Any = None,
        unbiased: bool = False,
    ):
        if window is None:
            window = Hann()
        if not isinstance(window, AbstractWindow):
            raise TypeError(
                f"window must be an AbstractWindow (e.g. Hann(), Gaussian(Quantity(0.2, 'ps'))), "
                f"got {window!r}"
            )
        self.window = window
        self.max_lag_frames, self.max_lag_time = parse_max_lag(max_lag)
        self.frequency_step = (
            None
            if frequency_step is None
            else _positive_frequency(frequency_step, "frequency_step")
        )
        self.max_frequency = (
            None if max_frequency is None else _positive_frequency(max_frequency, "max_frequency")
        )
        self.unbiased = bool(unbiased)

    # ---------------------------------------------------------------- static sizes
    def _needs_concrete(self) -> list[str]:
        names = []
        if self.max_lag_time is not None:
            names.append("max_lag (as a time)")
        if self.frequency_step is not None:
            names.append("frequency_step")
        if self.max_frequency is not None:
            names.append("max_frequency")
        return names

    def sizes(self, n_frames: int, dt: float | None) -> tuple[int, int, int]:
        """(K lags, FFT length L, output points) for `n_frames` frames of step `dt` (ps)."""
        if dt is None and self._needs_concrete():
            raise ValueError(
                f"{', '.join(self._needs_concrete())} need a concrete time step, but the "
                "trajectory's timestep is traced (the Trajectory was passed through jax.jit). "
                "Give max_lag as an int number of frames and leave frequency_step / "
                "max_frequency unset, or close over the trajectory instead."
            )
        if n_frames < 2:
            raise ValueError(f"a spectrum needs at least 2 frames, got {n_frames}")
        if self.max_lag_frames is not None:
            k = self.max_lag_frames
        elif self.max_lag_time is not None:
            k = lag_frames(None, self.max_lag_time, dt)
        else:
            k = max(1, n_frames // 4)
        if not 1 <= k <= n_frames - 1:
            given = (
                f"{self.max_lag_time} ps = {k} frames"
                if self.max_lag_time is not None
                else f"{k} frames"
            )
            raise ValueError(
                f"max_lag {given} must be between 1 and n_frames - 1 = {n_frames - 1} frames "
                f"(time step {dt} ps)"
            )
        length = 2 * k
        if self.frequency_step is not None:
            length = max(length, math.ceil(2 * math.pi / (dt * self.frequency_step) - 1e-9))
        length = _even_fast_len(length)
        n_out = length // 2 + 1
        if self.max_frequency is not None:
            nyquist = math.pi / dt
            if self.max_frequency > nyquist * (1 + 1e-12):
                raise ValueError(
                    f"max_frequency {self.max_frequency:g} rad/ps is above the Nyquist frequency "
                    f"pi/dt = {nyquist:g} rad/ps of this trajectory (dt = {dt:g} ps)"
                )
            n_out = min(
                n_out, int(math.floor(self.max_frequency * length * dt / (2 * math.pi))) + 1
            )
        return k, length, n_out

    # ------------------------------------------------------------------- compute
    def plan(self, n_frames: int, timestep: Any) -> tuple[int, int, int]:
        """Static sizes (K, L, points) for a series of `n_frames` frames; see `sizes`."""
        return self.sizes(n_frames, concrete_timestep(timestep))

    def apply(
        self,
        signal: Float[Array, "frame ..."],
        timestep: Any,
        plan: tuple[int, int, int],
        *,
        sum_axes: tuple[int, ...] = (),
        subtract_mean: bool = False,
    ) -> tuple[Float[Array, " omega"], Float[Array, "omega ..."], Float[Array, "..."]]:
        r"""(ω, $\tilde C(\omega)$, $C(0)$) for a precomputed `plan`; traceable (no checks)."""
        k, length, n_out = plan
        corr = correlate(
            signal,
            max_lag=k,
            subtract_mean=subtract_mean,
            unbiased=self.unbiased,
            sum_axes=sum_axes,
        )
        omega, spec = self._transform(corr, timestep, plan)
        return omega, spec, corr[0]

    def _transform(self, corr, timestep, plan):
        k, length, n_out = plan
        dtype = corr.dtype
        dt = jnp.asarray(timestep).astype(dtype)
        lags = jnp.arange(k + 1, dtype=dtype) * dt
        w = self.window(lags).astype(dtype)
        c = corr * w.reshape((k + 1,) + (1,) * (corr.ndim - 1))
        c = c.at[0].multiply(0.5)
        spec = jnp.fft.rfft(c, n=length, axis=0).real[:n_out] * (dt / jnp.pi)
        omega = jnp.arange(n_out, dtype=dtype) * (2 * jnp.pi / (length * dt))
        return omega, spec

    def transform(
        self, corr: Float[Array, "lag ..."], timestep: Any, n_frames: int
    ) -> tuple[Float[Array, " omega"], Float[Array, "omega ..."]]:
        r"""(ω grid in rad/ps, $\tilde C(\omega)$) from correlation lags $0..K$ (module docs).

        `n_frames` is the length of the series the correlation came from (it fixes the
        default K); `corr` must hold exactly K + 1 lags.
        """
        plan = self.plan(n_frames, timestep)
        if corr.shape[0] != plan[0] + 1:
            raise ValueError(f"expected {plan[0] + 1} correlation lags, got {corr.shape[0]}")
        return _jit_transform(dynamic(self), jnp.asarray(corr), jnp.asarray(timestep), plan)

    def spectrum(
        self,
        signal: Float[Array, "frame ..."],
        timestep: Any,
        *,
        sum_axes: tuple[int, ...] = (),
        subtract_mean: bool = False,
    ) -> tuple[Float[Array, " omega"], Float[Array, "omega ..."]]:
        r"""Correlation then transform: (ω in rad/ps, $\tilde C(\omega)$) of `signal`."""
        omega, spec, _ = self.spectrum_and_variance(
            signal, timestep, sum_axes=sum_axes, subtract_mean=subtract_mean
        )
        return omega, spec

    def spectrum_and_variance(
        self,
        signal: Float[Array, "frame ..."],
        timestep: Any,
        *,
        sum_axes: tuple[int, ...] = (),
        subtract_mean: bool = False,
    ) -> tuple[Float[Array, " omega"], Float[Array, "omega ..."], Float[Array, "..."]]:
        """As `spectrum`, plus the lag-0 correlation $C(0)$ (compiled once per shape/plan)."""
        omega, spec, c0, _ = self.spectrum_with_blocks(
            signal, timestep, None, sum_axes=sum_axes, subtract_mean=subtract_mean
        )
        return omega, spec, c0

    def spectrum_with_blocks(
        self,
        signal: Float[Array, "frame ..."],
        timestep: Any,
        n_blocks: int | None,
        *,
        sum_axes: tuple[int, ...] = (),
        subtract_mean: bool = False,
        what: str = "spectrum",
    ) -> tuple[Array, Array, Array, tuple[Array, Array, Array] | None]:
        r"""As `spectrum_and_variance`, plus the spectra of contiguous blocks for an error.

        Returns (ω, $\tilde C(\omega)$, $C(0)$, blocks), computed in one compiled program;
        blocks is None, or (block spectra `[block, omega, ...]`, block $C(0)$ `[block,
        ...]`, factor).

        Each of $B$ blocks of $N_b$ frames is transformed with the full trajectory's plan
        (same largest lag K, FFT length and grid), so block spectra share its axis. $B$ =
        `n_blocks`, or fewer so that $N_b \ge K + 1$ (`observables._blocks`); None (with an
        `ErrorBarWarning`) when fewer than 2 fit, or when `n_blocks` is None.

        `factor` = $\sqrt{B\,V(N)/V(N_b)}$ turns the block spread $s/\sqrt B$ into the
        standard error of the full-trajectory estimate. With $V(n) = \sum_{|k|\le K} w_k^2
        \operatorname{var}_n(\hat C_k)/\sigma^4$ the lag-window variance sum of a
        length-$n$ estimate ($\operatorname{var}_n \propto (n-|k|)/n^2$ for the biased
        estimator, $1/(n-|k|)$ for the unbiased one; Priestley 1981, §6.2), it is 1 when
        $K \ll N_b$ and corrects the blocks' extra taper (or noise) when $K$ is a sizeable
        part of a block: for a damped dipole line (Hann window, K = 190 frames, 10 blocks of
        200 frames, 48 seeds) the rms error over the seed-to-seed spread was 1.00 with the
        factor (1.12) and 0.90 without it (`pytest tests/test_error_bars.py -m slow -s -k
        lag_window`). Outputs carry no gradient.
        """
        signal = jnp.asarray(signal)
        plan = self.plan(signal.shape[0], timestep)
        b = usable_blocks(signal.shape[0], n_blocks, plan[0] + 1, what)
        return _jit_apply(
            dynamic(self),
            signal,
            jnp.asarray(timestep),
            plan,
            tuple(sum_axes),
            bool(subtract_mean),
            b,
        )

    def from_correlation(
        self,
        corr: Float[Array, "lag ..."],
        block_corr: Float[Array, "block lag ..."] | None,
        timestep: Any,
        n_frames: int,
    ) -> tuple[Array, Array, Array, tuple[Array, Array, Array] | None]:
        r"""What `spectrum_with_blocks` returns, from correlations computed elsewhere.

                `corr` holds lags $0..K$ of the correlation of the whole `n_frames`-frame series
                (with this transform's estimator), `block_corr` (or None) the same for each of $B$
                contiguous blocks of $\lfloor N/B
        floor$ frames. Used by `observables.streaming`,
                which accumulates the correlations chunk by chunk.
        """
        plan = self.plan(n_frames, timestep)
        if corr.shape[0] != plan[0] + 1:
            raise ValueError(f"expected {plan[0] + 1} correlation lags, got {corr.shape[0]}")
        n_b = None if block_corr is None else n_frames // block_corr.shape[0]
        return _jit_from_correlation(
            dynamic(self), jnp.asarray(corr), block_corr, jnp.asarray(timestep), plan, n_frames, n_b
        )

    def _variance_sum(self, weights: Array, n: int) -> Array:
        k = np.arange(weights.shape[0])
        per_lag = 1.0 / (n - k) if self.unbiased else (n - k) / float(n) ** 2
        mult = np.where(k == 0, 1.0, 2.0)
        return jnp.sum(weights**2 * jnp.asarray(mult * per_lag, dtype=weights.dtype))

    def describe(self, n_frames: int, timestep: Any) -> dict[str, Any]:
        """Settings as metadata (static values only)."""
        dt = concrete_timestep(timestep)
        k, length, n_out = self.sizes(n_frames, dt)
        meta: dict[str, Any] = {
            "window": repr(self.window),
            "max_lag_frames": k,
            "fft_length": length,
            "estimator": "unbiased" if self.unbiased else "biased",
        }
        if dt is not None:
            meta["timestep_ps"] = dt
            meta["max_lag_ps"] = k * dt
        return meta


def dynamic(module: Any) -> Any:
    """`module` with Python float leaves turned into (weakly typed) arrays, so that `filter_jit`
    traces them instead of recompiling for every value (e.g. a window width)."""
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x) if isinstance(x, float) and not isinstance(x, bool) else x, module
    )


@eqx.filter_jit
def _jit_transform(transform, corr, timestep, plan):
    return transform._transform(corr, timestep, plan)


def _blocks(transform, signal, timestep, plan, n_blocks, sum_axes, subtract_mean):
    """(block spectra [block, omega, ...], block C(0), factor) of contiguous blocks."""
    blocks = jax.lax.stop_gradient(split_blocks(signal, n_blocks))
    # blocks become a kept column axis of one correlation: [N_b, block, ...]
    columns = jnp.moveaxis(blocks, 0, 1)
    shifted = tuple(a + 1 for a in sum_axes)
    _, spectra, c0 = transform.apply(
        columns, timestep, plan, sum_axes=shifted, subtract_mean=subtract_mean
    )
    spectra = jnp.moveaxis(spectra, 1, 0)
    n, n_b = signal.shape[0], blocks.shape[1]
    factor = _block_factor(transform, timestep, plan, n, n_b, n_blocks, spectra.dtype)
    return jax.lax.stop_gradient((spectra, c0, factor))


def _block_factor(transform, timestep, plan, n, n_b, n_blocks, dtype):
    """sqrt(B V(N) / V(N_b)): block spread -> error of the full estimate (see
    `SpectralTransform.spectrum_with_blocks`)."""
    dt = jnp.asarray(timestep).astype(dtype)
    weights = transform.window(jnp.arange(plan[0] + 1, dtype=dtype) * dt).astype(dtype)
    ratio = transform._variance_sum(weights, n) / transform._variance_sum(weights, n_b)
    return jnp.sqrt(n_blocks * ratio)


@eqx.filter_jit
def _jit_from_correlation(transform, corr, block_corr, timestep, plan, n, n_b):
    omega, spec = transform._transform(corr, timestep, plan)
    if block_corr is None:
        return omega, spec, corr[0], None
    _, spectra = transform._transform(jnp.moveaxis(block_corr, 0, 1), timestep, plan)
    spectra = jnp.moveaxis(spectra, 1, 0)
    factor = _block_factor(transform, timestep, plan, n, n_b, block_corr.shape[0], spectra.dtype)
    blocks = (spectra, block_corr[:, 0], factor)
    return omega, spec, corr[0], jax.lax.stop_gradient(blocks)


@eqx.filter_jit
def _jit_apply(transform, signal, timestep, plan, sum_axes, subtract_mean, n_blocks):
    omega, spec, c0 = transform.apply(
        signal, timestep, plan, sum_axes=sum_axes, subtract_mean=subtract_mean
    )
    if n_blocks is None:
        return omega, spec, c0, None
    blocks = _blocks(transform, signal, timestep, plan, n_blocks, sum_axes, subtract_mean)
    return omega, spec, c0, blocks
