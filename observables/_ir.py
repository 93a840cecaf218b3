r"""Infrared absorption spectrum $n(\omega)\alpha(\omega)$ from the cell dipole.

**Definition.** Linear response of the total dipole $\mathbf M$ of a cell of volume $V$ to the
Maxwell field (conducting / tin-foil boundary conditions, as with Ewald sums) gives
$\varepsilon(\omega) - 1 = \chi_M(\omega) / (\varepsilon_0 V)$ and the intensity absorption
coefficient times the refractive index $n(\omega)\alpha(\omega) = \omega\,\varepsilon''(\omega)/c$.
With the classical fluctuation–dissipation theorem,
$\chi''_M(\omega) = \frac{\beta\omega}{2}\cdot\frac{2\pi}{3}\tilde C_{MM}(\omega)$ (isotropic
average of the three Cartesian components), so

$$ n(\omega)\alpha(\omega) = \frac{\pi\beta\omega^2}{3 c V \varepsilon_0}\,
   \tilde C_{MM}(\omega)\, F(\beta\hbar\omega), \qquad
   \tilde C_{MM}(\omega) = \frac{1}{2\pi}\int dt\, e^{-i\omega t}
   \langle \delta\mathbf M(0)\cdot\delta\mathbf M(t) \rangle , $$

with $F$ = `quantum_correction.absorption_factor`: the quantum absorption is
$\frac{\pi\omega(1 - e^{-\beta\hbar\omega})}{3\hbar c V\varepsilon_0}\,Q\tilde C_{MM}$, and
$F = Q(x)(1 - e^{-x})/x$ is its ratio to the classical formula. $F = 1$ for `Harmonic` (the
default, which therefore reproduces the classical formula above) and for `Classical`;
`Standard` and `Schofield` raise the high-frequency intensities (see `observables._quantum`).

Equivalently, from the dipole-derivative correlation ($\tilde C_{\dot M\dot M} =
\omega^2\tilde C_{MM}$ for a stationary process):
$n\alpha = \pi\beta\,\tilde C_{\dot M\dot M}(\omega) F / (3cV\varepsilon_0)$. For fixed point
charges $\dot{\mathbf M} = \sum_i q_i \mathbf v_i$, which needs no unwrapped positions.

**Which source on finite segments.** The two forms agree only in the limit of long
trajectories. The total dipole of a liquid relaxes slowly (picoseconds), so within a
segment of length $T$ it drifts; the lag window turns that drift into spectral power near
$\omega = 0$ with tails, and the factor $\omega^2$ of the dipole form lifts those tails into
every band. The derivative form has no such factor and no drift. Measured for flexible
SPC/Fw water (48 molecules, 0.4 ps Hann window, the same trajectories for both forms), the
dipole form overestimates the libration, bend and stretch intensities by 3 %, 7 % and 5 %
at $T$ = 8 ps, 6 %, 16 % and 7 % at 1 ps, and 14 %, 30 % and 10 % at 0.25 ps, while the
derivative form changes by less than 1 % between 1 and 8 ps. For band intensities from
segments shorter than tens of picoseconds, use `FromDipoleDerivative` with an exact
$\dot{\mathbf M}$ (`charge_current`; for charges that depend on the geometry,
$(\partial\mathbf M/\partial\mathbf r)\cdot\mathbf v$, not $\sum_i q_i\mathbf v_i$).
Finite differences of a sampled dipole are no substitute: central differences attenuate
a band at $\omega$ by $\sin^2(\omega\Delta t)/(\omega\Delta t)^2$ (0.56 for the O–H stretch
with 2 fs frames).

**Units.** SI throughout the formula; internally e·nm for M, nm³ for V, ps, K; the output is
$n\alpha$ in cm⁻¹ on an axis in `x_unit` (cm⁻¹ by default; THz, meV, rad/ps also accepted).
It is a plain function of frequency, not a density: changing the axis unit leaves the values.

Local-field (cavity) corrections are not applied; the dielectric background of electronic
polarisation (the refractive index n) is what the experimental product n·α absorbs.

References: D. A. McQuarrie, *Statistical Mechanics*, ch. 21 (1976); R. Ramírez,
T. López-Ciudad, P. Kumar & D. Marx, *J. Chem. Phys.* **121**, 3973 (2004); M.-P. Gaigeot &
M. Sprik, *J. Phys. Chem. B* **107**, 10344 (2003).
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._blocks import check_n_blocks, mapped_block_error
from ._fourier import SpectralTransform, check_temperature
from ._quantum import AbstractQuantumCorrection, Harmonic, beta_hbar_omega
from ._spectrum import Spectrum, axis_scale, canonical_axis_unit
from ._trajectory import Trajectory, TrajectoryError
from ._units import BOLTZMANN, EPSILON0, SPEED_OF_LIGHT, to_internal, ureg
from ._windows import AbstractWindow

__all__ = ["IRSpectrum", "AbstractDipoleSource", "FromDipole", "FromDipoleDerivative"]

_PER_NM_TO_PER_CM = float(ureg.Quantity(1.0, "1/nm").m_as("1/cm"))


def check_correction(q: Any) -> AbstractQuantumCorrection:
    if not isinstance(q, AbstractQuantumCorrection):
        raise TypeError(
            "quantum_correction must be an AbstractQuantumCorrection (Classical(), Harmonic(), "
            f"Standard(), Schofield()), got {q!r}"
        )
    return q


class AbstractDipoleSource(eqx.Module):
    """Which time series the IR spectrum correlates: the dipole or its time derivative."""

    @abc.abstractmethod
    def signal(self, trajectory: Trajectory) -> Float[Array, "frame 3"]:
        """The series to correlate (internal units)."""

    @abc.abstractmethod
    def derivative_spectrum(
        self, omega: Float[Array, " omega"], spectrum: Float[Array, " omega"]
    ) -> Float[Array, " omega"]:
        r"""$\tilde C_{\dot M\dot M}(\omega)$ from the spectrum of `signal`."""


class FromDipole(AbstractDipoleSource):
    r"""Correlate the cell dipole `trajectory.dipole` (e·nm); $\tilde C_{\dot M\dot M} =
    \omega^2 \tilde C_{MM}$."""

    def signal(self, trajectory):
        trajectory.require("dipole")
        return trajectory.dipole

    def derivative_spectrum(self, omega, spectrum):
        return omega**2 * spectrum


class FromDipoleDerivative(AbstractDipoleSource):
    r"""Correlate $\dot{\mathbf M}$ directly (e·nm/ps): `trajectory.charge_current` if present,
    else $\sum_i q_i \mathbf v_i$ from `charges` and `velocities` (exact for fixed charges)."""

    def signal(self, trajectory):
        if trajectory.charge_current is not None:
            return trajectory.charge_current
        if trajectory.charges is None or trajectory.velocities is None:
            raise TrajectoryError(
                "FromDipoleDerivative needs charge_current, or charges and velocities, but the "
                "trajectory has "
                + ("no charges" if trajectory.charges is None else "no velocities")
                + "; attach them, or use FromDipole() with a dipole series."
            )
        q = trajectory.charges.astype(trajectory.velocities.dtype)
        return jnp.einsum("i,fid->fd", q, trajectory.velocities)

    def derivative_spectrum(self, omega, spectrum):
        return spectrum


class IRSpectrum(AbstractObservable):
    r"""IR absorption $n(\omega)\alpha(\omega)$ (cm⁻¹) from the dipole correlation (module docs).

    **Arguments:**

    - `temperature`: `Quantity` (K, °C, ...); sets β. Checked here (`UnitError`).
    - `quantum_correction`: an `AbstractQuantumCorrection` (default `Harmonic()`).
    - `source`: `FromDipole()` (default) or `FromDipoleDerivative()`.
    - `window`, `max_lag`, `frequency_step`, `max_frequency`, `unbiased`: see
      `SpectralTransform`.
    - `volume`: cell volume `Quantity`; required for a non-periodic trajectory, otherwise the
      mean box volume is used.
    - `x_unit`: unit of the output axis (`"1/cm"`, `"THz"`, `"meV"`, `"rad/ps"`).
    - `subtract_mean`: correlate fluctuations $\delta\mathbf M = \mathbf M - \langle\mathbf
      M\rangle$ (default True).
    - `n_blocks`: contiguous time blocks for the standard error (default 5; `None` for
      none). Each block is transformed with the full run's window and grid; the error is
      the block spread $s/\sqrt B$ times the lag-window factor of
      `SpectralTransform.spectrum_with_blocks`. Blocks must be longer than the dipole's correlation
      time, and hold at least `max_lag` + 1 frames: fewer blocks are used if needed, and
      with fewer than 2 the error is `None` (`ErrorBarWarning`). The rules and the
      calibration are in `observables._blocks` and the user guide's error-bar page.

    **Returns** (`__call__`): a `Spectrum` of $n\alpha$ in cm⁻¹ (not a density), with
    `error` its standard error in cm⁻¹ (not differentiated). The estimate itself is the
    full-trajectory one, whatever `n_blocks`.
    """

    temperature: float = eqx.field(static=True)
    quantum_correction: AbstractQuantumCorrection
    source: AbstractDipoleSource
    transform: SpectralTransform
    volume: float | None = eqx.field(static=True)
    x_unit: str = eqx.field(static=True)
    subtract_mean: bool = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    #: n·α is in cm⁻¹ whatever the axis unit (it is not a density).
    y_unit = "1/cm"

    def __init__(
        self,
        temperature: Any,
        *,
        quantum_correction: AbstractQuantumCorrection | None = None,
        source: AbstractDipoleSource | None = None,
        window: AbstractWindow | None = None,
        max_lag: Any = None,
        frequency_step: Any = None,
        max_frequency: Any = None,
        unbiased: bool = False,
        volume: Any = None,
        x_unit: Any = "1/cm",
        subtract_mean: bool = True,
        n_blocks: int | None = 5,
    ):
        self.temperature = check_temperature(temperature)
        self.quantum_correction = check_correction(
            Harmonic() if quantum_correction is None else quantum_correction
        )
        source = FromDipole() if source is None else source
        if not isinstance(source, AbstractDipoleSource):
            raise TypeError(
                f"source must be FromDipole() or FromDipoleDerivative(), got {source!r}"
            )
        self.source = source
        self.transform = SpectralTransform(window, max_lag, frequency_step, max_frequency, unbiased)
        self.volume = None if volume is None else float(to_internal(volume, "volume", "volume"))
        if self.volume is not None and not self.volume > 0:
            raise ValueError(f"volume must be positive, got {volume}")
        self.x_unit = canonical_axis_unit(x_unit)
        self.subtract_mean = bool(subtract_mean)
        self.n_blocks = check_n_blocks(n_blocks)

    def _volume(self, trajectory: Trajectory, dtype) -> Array:
        if self.volume is not None:
            return jnp.asarray(self.volume, dtype=dtype)
        if trajectory.box is None:
            raise TrajectoryError(
                "IRSpectrum needs the cell volume, but the trajectory has no box; pass "
                "volume=Quantity(..., 'nm**3') to IRSpectrum."
            )
        return jnp.mean(trajectory.volume).astype(dtype)

    def _n_alpha(self, omega, spec, volume):
        """n·α (cm⁻¹) from the dipole-signal spectrum `[..., omega]` (leading axes kept)."""
        dtype = spec.dtype
        spec_dot = self.source.derivative_spectrum(omega, spec)
        beta = 1.0 / (BOLTZMANN * self.temperature)
        x = beta_hbar_omega(omega, self.temperature)
        factor = self.quantum_correction.absorption_factor(x).astype(dtype)
        prefactor = jnp.pi * beta / (3.0 * SPEED_OF_LIGHT * EPSILON0) * _PER_NM_TO_PER_CM
        return prefactor * spec_dot * factor / volume

    def __call__(self, trajectory: Trajectory) -> Spectrum:
        signal = self.source.signal(trajectory)
        omega, spec, _, blocks = self.transform.spectrum_with_blocks(
            signal,
            trajectory.timestep,
            self.n_blocks,
            sum_axes=(1,),
            subtract_mean=self.subtract_mean,
            what="IRSpectrum",
        )
        volume = self._volume(trajectory, spec.dtype)
        n_alpha = self._n_alpha(omega, spec, volume)
        error = None
        if blocks is not None:
            spectra, _, factor = blocks
            error = mapped_block_error(self._n_alpha, (omega, spectra, volume), factor)
        metadata = {
            "kind": "ir",
            "quantity": "n(ω)α(ω)",
            "temperature_K": self.temperature,
            "quantum_correction": type(self.quantum_correction).__name__,
            "source": type(self.source).__name__,
            **self.transform.describe(signal.shape[0], trajectory.timestep),
        }
        if self.volume is not None:
            metadata["volume_nm3"] = self.volume
        if error is not None:
            metadata["error_blocks"] = int(blocks[0].shape[0])
        return Spectrum.from_arrays(
            omega * axis_scale(self.x_unit),
            n_alpha,
            x_unit=self.x_unit,
            y_unit=self.y_unit,
            density=False,
            metadata=metadata,
            error=error,
        )
