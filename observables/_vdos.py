r"""Vibrational density of states from the mass-weighted velocity autocorrelation.

**Definition.** With the mass-weighted velocity autocorrelation summed over atoms and
Cartesian components,

$$ C(t) = \sum_{i=1}^{N} m_i \langle \mathbf v_i(0)\cdot\mathbf v_i(t) \rangle, \qquad
   \tilde C(\omega) = \frac{1}{2\pi}\int dt\, e^{-i\omega t} C(t), $$

the VDOS on $\omega \ge 0$ is

$$ g(\omega) = 3N\,\frac{2\tilde C(\omega)}{C(0)}, \qquad
   \int_0^{\omega_\mathrm{Nyquist}} g(\omega)\, d\omega = 3N . $$

**Normalisation.** Self-normalised by the measured $C(0) = \sum_i m_i\langle v_i^2\rangle$,
so the integral over the full grid (0 to the Nyquist frequency π/Δt, trapezoidal rule) is
exactly 3N for any window with w(0) = 1. In equipartition $C(0) = 3Nk_BT$, and then
$g = 2\tilde C/(k_BT)$, the classical formula. The returned `Spectrum` is a density **per unit
of its x axis**: with the default axis in cm⁻¹, $\int g(\tilde\nu)\, d\tilde\nu = 3N$ with
$\tilde\nu = \omega / 2\pi c$ in cm⁻¹ and g in cm; converting the axis (`Spectrum.to("THz")`)
rescales g so that $\int g(\nu)\, d\nu = 3N$ in THz. Truncating with `max_frequency` drops
the modes above it. Constraints (rigid bonds) are not subtracted: N counts all atoms.

The spectrum is classical (no quantum correction; it is a distribution of modes, not of
intensity). Its sign properties follow `SpectralTransform` (non-negative with a Gaussian
window on the default biased estimator).

References: J. M. Dickey & A. Paskin, *Phys. Rev.* **188**, 1407 (1969); S.-T. Lin, M. Blanco
& W. A. Goddard III, *J. Chem. Phys.* **119**, 11792 (2003).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractObservable
from ._blocks import check_n_blocks, mapped_block_error
from ._fourier import SpectralTransform
from ._spectrum import Spectrum, axis_scale, canonical_axis_unit
from ._trajectory import Trajectory
from ._units import ureg
from ._windows import AbstractWindow

__all__ = ["VDOS"]


class VDOS(AbstractObservable):
    """Vibrational density of states g, normalised to 3N modes (see the module docstring).

    **Arguments:** `window`, `max_lag`, `frequency_step`, `max_frequency`, `unbiased`: see
    `SpectralTransform`; `x_unit`: output axis unit (default `"1/cm"`); `n_blocks`:
    contiguous time blocks for the standard error (default 5, `None` for none; each block's
    g is normalised by its own C(0); rules as for `IRSpectrum` and in `observables._blocks`).

    **Returns** (`__call__`): a `Spectrum` (density) in 1/x_unit (cm for cm⁻¹), with `error`
    its block standard error in the same unit (or `None`, with an `ErrorBarWarning`, when
    fewer than 2 blocks hold the window). Needs `velocities` and `masses` on the trajectory.
    """

    transform: SpectralTransform
    x_unit: str = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    def __init__(
        self,
        *,
        window: AbstractWindow | None = None,
        max_lag: Any = None,
        frequency_step: Any = None,
        max_frequency: Any = None,
        unbiased: bool = False,
        x_unit: Any = "1/cm",
        n_blocks: int | None = 5,
    ):
        self.transform = SpectralTransform(window, max_lag, frequency_step, max_frequency, unbiased)
        self.x_unit = canonical_axis_unit(x_unit)
        self.n_blocks = check_n_blocks(n_blocks)

    @property
    def y_unit(self) -> str:
        """Modes per unit of the axis: 1/`x_unit` (cm for a cm⁻¹ axis)."""
        return format(ureg.dimensionless / ureg.Unit(self.x_unit), "~C")

    def __call__(self, trajectory: Trajectory) -> Spectrum:
        trajectory.require("velocities", "masses")
        v = trajectory.velocities
        weights = jnp.sqrt(trajectory.masses.astype(v.dtype))
        signal = v * weights[None, :, None]
        omega, spec, c0, blocks = self.transform.spectrum_with_blocks(
            signal, trajectory.timestep, self.n_blocks, sum_axes=(1, 2), what="VDOS"
        )
        return self._from_spectrum(
            omega, spec, c0, blocks, trajectory.n_atoms, v.shape[0], trajectory.timestep
        )

    def _from_spectrum(self, omega, spec, c0, blocks, n_atoms, n_frames, timestep) -> Spectrum:
        """The `Spectrum` from the mass-weighted correlation spectrum: ω (rad/ps), $\tilde C$,
        C(0) and the block spectra as `SpectralTransform.spectrum_with_blocks` returns them
        (also used by `observables.streaming`)."""
        g_omega = _vdos(spec, c0, n_atoms)
        n_modes = 3 * n_atoms
        scale = axis_scale(self.x_unit)
        metadata = {
            "kind": "vdos",
            "quantity": "VDOS g",
            "n_modes": n_modes,
            **self.transform.describe(n_frames, timestep),
        }
        error = None
        if blocks is not None:
            spectra, c0_b, factor = blocks
            error = mapped_block_error(_vdos, (spectra, c0_b, n_atoms), factor) / scale
            metadata["error_blocks"] = int(spectra.shape[0])
        return Spectrum.from_arrays(
            omega * scale,
            g_omega / scale,
            x_unit=self.x_unit,
            y_unit=self.y_unit,
            density=True,
            metadata=metadata,
            error=error,
        )


def _vdos(spectrum, c0, n_atoms):
    """g(ω) per rad/ps from the mass-weighted spectrum `[..., omega]` and C(0) `[...]`."""
    c0 = jnp.asarray(c0)[..., None]
    return (6.0 * n_atoms) * spectrum / jnp.where(c0 > 0, c0, 1.0)
