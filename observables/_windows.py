r"""Lag windows applied to a correlation function before it is Fourier transformed.

A window $w(t)$ multiplies $C(t)$; the spectrum becomes $\tilde C * \tilde w$ (convolution),
so the window sets the spectral resolution and suppresses the noise of long lags. Windows
are even in $t$ (they act on $|t|$), so they keep a symmetric correlation symmetric and a
real spectrum real. Each satisfies $w(0) = 1$, which preserves the sum rule
$\int \tilde C(\omega)\, d\omega = 2\pi\, C(0)$.

Time constants are pint quantities, stored internally in ps.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._units import to_internal

__all__ = ["AbstractWindow", "NoWindow", "Hann", "Gaussian", "Exponential"]


def _positive_time(q: Any, name: str) -> float:
    value = float(to_internal(q, "time", name))
    if not value > 0:
        raise ValueError(f"{name} must be a positive time, got {q}")
    return value


class AbstractWindow(eqx.Module):
    """A lag window `w(t)`: called on lag times (plain array, ps) it returns weights."""

    @abc.abstractmethod
    def __call__(self, lag_times: Float[Array, " lag"]) -> Float[Array, " lag"]:
        """Weights for lag times `lag_times` (ps, internal units; any sign)."""


class NoWindow(AbstractWindow):
    """No window: `w(t) = 1` (a sharp cut at the last lag; sinc ripples in the spectrum)."""

    def __call__(self, lag_times):
        return jnp.ones_like(lag_times)


class Hann(AbstractWindow):
    r"""Hann window $w(t) = \tfrac12\left[1 + \cos(\pi t / T)\right]$ for $|t| \le T$, else 0.

    `width` is $T$ (a time quantity); `None` uses the largest lag given. Its main lobe in
    the spectrum has a full width at half maximum of about $2\pi \cdot 1.44/(2T)$ rad/time.

    Reference: F. J. Harris, *Proc. IEEE* **66**, 51 (1978).
    """

    width: float | None

    def __init__(self, width: Any = None):
        self.width = None if width is None else _positive_time(width, "Hann width")

    def __call__(self, lag_times):
        t = jnp.abs(lag_times)
        width = jnp.max(t) if self.width is None else self.width
        width = jnp.where(width > 0, width, 1.0)
        return jnp.where(t <= width, 0.5 * (1.0 + jnp.cos(jnp.pi * t / width)), 0.0)


class Gaussian(AbstractWindow):
    r"""Gaussian window $w(t) = \exp(-t^2 / 2\sigma^2)$.

    Its Fourier transform is a Gaussian of standard deviation $1/\sigma$ in angular
    frequency: each line is broadened to a Gaussian of FWHM $2\sqrt{2\ln 2}/\sigma$ rad/time.
    """

    sigma: float

    def __init__(self, sigma: Any):
        self.sigma = _positive_time(sigma, "Gaussian sigma")

    def __call__(self, lag_times):
        return jnp.exp(-0.5 * (lag_times / self.sigma) ** 2)


class Exponential(AbstractWindow):
    r"""Exponential window $w(t) = \exp(-|t| / \tau)$.

    Convolves each line with a Lorentzian of half width at half maximum $1/\tau$ in angular
    frequency (the lineshape of a damped oscillator with lifetime $\tau$).
    """

    tau: float

    def __init__(self, tau: Any):
        self.tau = _positive_time(tau, "Exponential tau")

    def __call__(self, lag_times):
        return jnp.exp(-jnp.abs(lag_times) / self.tau)
