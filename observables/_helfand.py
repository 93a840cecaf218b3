r"""The Einstein–Helfand route to any Green–Kubo coefficient (MSD of the integrated current).

See `observables._transport` for the overview.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._correlation import block_average
from ._green_kubo import TransportResult, running_integral
from ._msd import mean_squared_displacement
from ._trajectory import Trajectory
from ._transport_base import (
    AbstractGreenKubo,
    _check_block_length,
    _check_fit_start,
    _fit_slope,
    _fit_start_index,
    _optional_time,
    _result,
    _window,
)

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

    **Output:** the wrapped coefficient's `output_unit`. `compute(...).running` is
    prefactor × MSD_G(t)/(2t); `.correlation` the reduced MSD of $G$.

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
        if self.fit_start is not None and coefficient.max_lag is not None:
            if self.fit_start >= coefficient.max_lag:
                raise ValueError(
                    f"fit_start ({self.fit_start} ps) must be before max_lag "
                    f"({coefficient.max_lag} ps)"
                )

    @property
    def output_unit(self) -> str:  # type: ignore[override]
        return self.coefficient.output_unit

    def _prepare(self, trajectory, blocks):
        coef = self.coefficient
        coef._validate(trajectory)
        n_lags, last = _window(coef.max_lag, coef.n_blocks, trajectory)
        _check_fit_start(self.fit_start, trajectory.timestep, last)
        if blocks:
            _check_block_length(trajectory, coef.n_blocks, n_lags)
        return n_lags, last

    def __call__(self, trajectory: Trajectory) -> Float[Array, "..."]:
        """The coefficient in `output_unit` (as the wrapped observable); plain array."""
        n_lags, last = self._prepare(trajectory, blocks=False)
        value = _helfand_core(self, trajectory, n_lags, last, False)[0]
        return value[0] if self.coefficient._scalar() else value

    def compute(self, trajectory: Trajectory) -> TransportResult:
        """Value, block-averaged error, reduced MSD of G and its running slope (outside `jit`)."""
        n_lags, last = self._prepare(trajectory, blocks=True)
        value, error, running, msd = _helfand_core(self, trajectory, n_lags, last, True)
        corr_unit = f"({self.coefficient.correlation_unit}) * ps**2"
        return _result(
            self.coefficient._scalar(),
            value=value,
            error=error,
            running=running,
            correlation=msd,
            idx=np.full(value.shape, int(last)),
            dt=trajectory.timestep,
            unit=self.output_unit,
            corr_unit=corr_unit,
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
    if not blocks:
        return value, None, None, None

    def estimate(block):
        return 0.5 * _fit_slope(_helfand_msd(coef, trajectory, block, n_lags), dt, start, last)

    error = block_average(signal, coef.n_blocks, estimate).sem * pref
    t = jnp.arange(n_lags, dtype=msd.dtype)[:, None] * dt
    running = jnp.where(t > 0, msd / (2.0 * jnp.where(t > 0, t, 1.0)), jnp.nan) * pref
    return value, error, running, msd
