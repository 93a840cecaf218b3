r"""The Einstein–Helfand route to any Green–Kubo coefficient (MSD of the integrated current).

See `observables._transport` for the overview.
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._correlation import block_average
from ._green_kubo import running_integral
from ._msd import mean_squared_displacement
from ._trajectory import Trajectory
from ._transport_base import (
    AbstractGreenKubo,
    _check_fit_start,
    _fit_slope,
    _fit_start_index,
    _optional_time,
)
from ._transport_result import TransportResult, make_transport_result

__all__ = ["EinsteinHelfand", "helfand_moment"]


def helfand_moment(
    signal: Float[Array, "frame ..."], timestep: Float[Array, ""] | float
) -> Float[Array, "frame ..."]:
    r"""Helfand moment $G(t) = \int_0^t J(s)\,ds$ of a current (trapezoid rule, $G(0) = 0$).

    **Arguments:** `signal` `[frame, ...]` in unit $u$; `timestep` in $\tau$.
    **Returns:** `[frame, ...]` in $u\,\tau$ (e.g. unwrapped displacements from velocities).
    """
    return running_integral(jnp.asarray(signal), timestep)


class EinsteinHelfand(AbstractObservable):
    r"""The Einstein (Helfand-moment) route to any Green–Kubo coefficient.

    For a current $J$ with Helfand moment $G(t) = \int_0^t J\,ds$,

    $$ \int_0^\infty \langle J(0) J(t)\rangle\,dt
       = \lim_{t\to\infty} \frac{\langle [G(t_0+t) - G(t_0)]^2 \rangle}{2t} ,$$

    so the coefficient is the wrapped Green–Kubo observable's prefactor times half the
    slope of the mean squared displacement of $G$ (FFT, $O(N\log N)$, per component, then
    reduced over components exactly as the Green–Kubo form reduces its autocorrelations),
    fitted by least squares on lags $[t_\mathrm{start}, t_\max]$. This avoids choosing a
    cutoff for a noisy integrand; the fit range plays that role. With `SelfDiffusion` it
    is the MSD route computed from velocities ($G$ = displacement, no unwrapping needed).

    **Fields:** `coefficient` (an `AbstractGreenKubo`: `SelfDiffusion`, `ShearViscosity`,
    `ThermalConductivity`, `IonicConductivity`; its `max_lag` is the end of the fit and its
    `n_blocks` sets the error bar; its `cutoff` is unused), `fit_start` (time `Quantity`;
    default a fifth of the window).

    **Output:** a `TransportResult` in the wrapped coefficient's `y_unit` (`y_unit` here
    is the same string); its `running` is prefactor × MSD_G(t)/(2t), its `correlation` the
    reduced MSD of $G$.

    References: E. Helfand, *Phys. Rev.* **119**, 1 (1960); Allen & Tildesley (2017) §2.7;
    for the viscosity, caveats with periodic boundaries: S. Viscardy & P. Gaspard, *Phys. Rev.
    E* **68**, 041204 (2003) — computing $G$ by integrating the supplied stress, as here,
    avoids them.
    """

    coefficient: AbstractGreenKubo
    fit_start: float | None = eqx.field(static=True)

    def __init__(self, coefficient: AbstractGreenKubo, *, fit_start: Any = None):
        if not isinstance(coefficient, AbstractGreenKubo):
            raise TypeError(
                "EinsteinHelfand wraps a Green–Kubo observable (SelfDiffusion, ShearViscosity, "
                f"ThermalConductivity, IonicConductivity), got {type(coefficient).__name__}"
            )
        self.coefficient = coefficient
        self.fit_start = _optional_time(fit_start, "fit_start")
        end = coefficient.max_lag_time
        if self.fit_start is not None and end is not None and self.fit_start >= end:
            raise ValueError(f"fit_start ({self.fit_start} ps) must be before max_lag ({end} ps)")

    x_unit: ClassVar[None] = None

    @property
    def y_unit(self) -> str:
        """The wrapped coefficient's `y_unit`."""
        return self.coefficient.y_unit

    def _prepare(self, trajectory):
        coef = self.coefficient
        coef._validate(trajectory)
        n_lags, last, blocks = coef._window(trajectory)
        _check_fit_start(self.fit_start, trajectory.timestep, last)
        return n_lags, last, blocks

    def __call__(self, trajectory: Trajectory) -> TransportResult:
        """Value, block-averaged error, reduced MSD of G and its running slope."""
        n_lags, last, blocks = self._prepare(trajectory)
        value, error, running, msd = _helfand_core(self, trajectory, n_lags, last, blocks)
        return make_transport_result(
            self.coefficient._scalar(),
            value=value,
            error=error,
            running=running,
            correlation=msd,
            index=jnp.asarray(last),
            timestep=trajectory.timestep,
            unit=self.y_unit,
            correlation_unit=f"({self.coefficient.correlation_unit}) * ps**2",
            n_blocks=self.coefficient.n_blocks,
            method=f"Einstein–Helfand fit ({type(self.coefficient).__name__})",
        )


def _helfand_msd(coef: AbstractGreenKubo, trajectory, signal, n_lags):
    if coef.subtract_mean:
        signal = signal - signal.mean(axis=0, keepdims=True)
    g = helfand_moment(signal, trajectory.timestep.astype(signal.dtype))
    flat = g.reshape(g.shape[0], -1, 1)
    msd = mean_squared_displacement(flat, max_lag=n_lags - 1, per_atom=True)
    return coef._reduce(trajectory, msd.reshape((n_lags,) + signal.shape[1:]))


@eqx.filter_jit
def _helfand_core(obs: EinsteinHelfand, trajectory: Trajectory, n_lags, last, blocks):
    coef = obs.coefficient
    signal = coef._signal(trajectory)
    msd = _helfand_msd(coef, trajectory, signal, n_lags)
    dt = trajectory.timestep.astype(msd.dtype)
    start = _fit_start_index(obs.fit_start, dt, last)
    pref = jnp.asarray(coef._prefactor(trajectory)).astype(msd.dtype)
    value = 0.5 * _fit_slope(msd, dt, start, last) * pref
    t = jnp.arange(n_lags, dtype=msd.dtype)[:, None] * dt
    running = jnp.where(t > 0, msd / (2.0 * jnp.where(t > 0, t, 1.0)), jnp.nan) * pref
    if not blocks:
        return value, None, running, msd

    def estimate(block):
        return 0.5 * _fit_slope(_helfand_msd(coef, trajectory, block, n_lags), dt, start, last)

    error = block_average(signal, coef.n_blocks, estimate).sem * pref
    return value, error, running, msd
