r"""Raman spectra (isotropic, anisotropic, VV, VH, depolarisation ratio) from the cell
polarizability.

**Definitions.** Split the (symmetrised) polarizability of the cell into its isotropic part
$\bar\alpha = \tfrac13\operatorname{Tr}\boldsymbol\alpha$ and traceless part
$\boldsymbol\beta = \boldsymbol\alpha - \bar\alpha\,\mathbf 1$. The classical spectra are

$$ I_\mathrm{iso}(\omega) = \frac{1}{2\pi}\int dt\, e^{-i\omega t}
   \langle \delta\bar\alpha(0)\,\delta\bar\alpha(t)\rangle, \qquad
   I_\mathrm{aniso}(\omega) = \frac{1}{2\pi}\int dt\, e^{-i\omega t}\,
   \tfrac32\langle \operatorname{Tr}[\delta\boldsymbol\beta(0)\,
   \delta\boldsymbol\beta(t)]\rangle, $$

$$ I_\mathrm{VV} = I_\mathrm{iso} + \tfrac{4}{45} I_\mathrm{aniso}, \qquad
   I_\mathrm{VH} = \tfrac{1}{15} I_\mathrm{aniso}, \qquad
   \rho(\omega) = I_\mathrm{VH} / I_\mathrm{VV} \in [0, 3/4]. $$

The factor 3/2 makes $I_\mathrm{aniso}$ the spectrum of the usual anisotropy invariant
$\gamma^2 = \tfrac32\operatorname{Tr}\boldsymbol\beta^2$ (for principal values
$\gamma^2 = \tfrac12[(\alpha_1-\alpha_2)^2 + (\alpha_2-\alpha_3)^2 + (\alpha_3-\alpha_1)^2]$),
which is the normalisation in which VV = iso + (4/45) aniso and VH = aniso/15 are the
rotational averages of the lab-frame $\langle\alpha_{zz}\alpha_{zz}\rangle$ and
$\langle\alpha_{zx}\alpha_{zx}\rangle$ correlations (written with
$\langle\operatorname{Tr}\boldsymbol\beta\boldsymbol\beta\rangle$ instead, the coefficients
would be 2/15 and 1/10). Means are subtracted by default (`subtract_mean`), which removes the
elastic Rayleigh line at ω = 0.

**Forms.** With $x = \beta\hbar\omega$ and $Q$ = `quantum_correction`:

- Bose-corrected (default, `reduced=False`): $I(\omega) = Q(x)\, I_\mathrm{cl}(\omega)$, the
  Stokes-side quantum spectrum obeying detailed balance (classical and symmetric for
  `Classical()`).
- Reduced (`reduced=True`): $R(\omega) = I(\omega) / (n(\omega) + 1) = (1 - e^{-x}) I(\omega)$,
  proportional to the Raman susceptibility χ''(ω); computed as $x\,F(x)\,I_\mathrm{cl}$ with
  $F$ = `absorption_factor`, so that it equals $(\hbar\omega/k_BT)\, I_\mathrm{cl}$ for
  `Harmonic` and `Classical`. (For the Shuker–Gammon form $\omega I/(n+1)$ multiply by ω.)

**Units and absolute scale.** Polarizabilities are volumes α/(4πε₀) (nm³), so each spectrum
is in nm⁶ per unit of the x axis (a density: $\int I_\mathrm{iso}\,d\omega = \langle
\delta\bar\alpha^2\rangle$ over ω ∈ ℝ). The absolute differential cross-section per unit
frequency of the cell for scattered light of angular frequency $\omega_s$ is
$d^2\sigma/d\Omega\,d\omega = (\omega_s/c)^4 I_\mathrm{VV/VH}(\omega)$ (with $I$ per unit
angular frequency); the $(\omega_L - \omega)^4$ factor and the instrument response are left
to the user, as experiments usually report relative intensities.

References: D. A. Long, *The Raman Effect*, Wiley (2002), ch. 5; D. A. McQuarrie,
*Statistical Mechanics*, ch. 21 (1976); M. Thomas, M. Brehm, R. Fligg, P. Vöhringer &
B. Kirchner, *Phys. Chem. Chem. Phys.* **15**, 6608 (2013).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._blocks import check_n_blocks, mapped_block_error
from ._fourier import SpectralTransform, check_temperature
from ._ir import check_correction
from ._quantum import AbstractQuantumCorrection, Harmonic, beta_hbar_omega
from ._result import AbstractResult
from ._spectrum import Spectrum, axis_scale, canonical_axis_unit
from ._trajectory import Trajectory
from ._units import ureg
from ._windows import AbstractWindow

__all__ = ["RamanSpectrum", "RamanSpectra", "isotropic_anisotropic", "check_component"]


def isotropic_anisotropic(
    polarizability: Float[Array, "frame 3 3"],
) -> tuple[Float[Array, " frame"], Float[Array, "frame 3 3"]]:
    r"""$(\bar\alpha, \boldsymbol\beta)$: trace/3 and traceless part of the symmetrised tensor."""
    sym = 0.5 * (polarizability + jnp.swapaxes(polarizability, -1, -2))
    iso = jnp.trace(sym, axis1=-2, axis2=-1) / 3.0
    eye = jnp.eye(3, dtype=sym.dtype)
    return iso, sym - iso[..., None, None] * eye


#: Raman components by name (with the short aliases of `RamanSpectra.as_dict`).
_COMPONENTS = {
    "isotropic": "isotropic",
    "iso": "isotropic",
    "anisotropic": "anisotropic",
    "aniso": "anisotropic",
    "vv": "vv",
    "vh": "vh",
}


def check_component(component: Any) -> str:
    """The canonical component name (`isotropic`, `anisotropic`, `vv`, `vh`)."""
    key = component.lower() if isinstance(component, str) else component
    if key not in _COMPONENTS:
        raise ValueError(
            f"Raman component {component!r} is unknown; choose one of 'vv', 'vh', "
            "'isotropic' ('iso') or 'anisotropic' ('aniso')"
        )
    return _COMPONENTS[key]


class RamanSpectra(AbstractResult):
    """The four Raman spectra of one trajectory (each a `Spectrum`, same axis and units).

    As an `AbstractResult` it presents the `selected` component (`"vv"` unless the
    observable was built with `component=...`): `x_magnitude`, `y_magnitude`, `x_unit`,
    `y_unit` are that spectrum's, so a loss built with `RamanSpectrum(..., component="vh")`
    compares the VH spectrum. `component(name)` returns any one of them as a `Spectrum`,
    each with its own block standard error (`error`). The depolarisation ratio carries none.
    """

    isotropic: Spectrum
    anisotropic: Spectrum
    vv: Spectrum
    vh: Spectrum
    selected: str = eqx.field(static=True, default="vv")

    def component(self, name: str) -> Spectrum:
        """One component as a `Spectrum`: `"vv"`, `"vh"`, `"isotropic"` or `"anisotropic"`."""
        return getattr(self, check_component(name))

    @property
    def _selected(self) -> Spectrum:
        return self.component(self.selected)

    @property
    def x_magnitude(self) -> Float[Array, " omega"]:
        return self._selected.x_magnitude

    @property
    def y_magnitude(self) -> Float[Array, " omega"]:
        return self._selected.y_magnitude

    @property
    def x_unit(self) -> str:
        return self._selected.x_unit

    @property
    def y_unit(self) -> str:
        return self._selected.y_unit

    @property
    def error_magnitude(self) -> Float[Array, " omega"] | None:
        """Standard error of the selected component (`None` without block errors)."""
        return self._selected.error_magnitude

    @property
    def density(self) -> bool:
        return self._selected.density

    def labels(self) -> tuple[str, str]:
        return self._selected.labels()

    def depolarization_ratio(self) -> Spectrum:
        r"""$\rho(\omega) = I_\mathrm{VH}/I_\mathrm{VV}$ (dimensionless; 0 where VV is 0)."""
        vv, vh = self.vv.y_magnitude, self.vh.y_magnitude
        safe = jnp.where(vv != 0, vv, 1.0)
        rho = jnp.where(vv != 0, vh / safe, 0.0)
        meta = {**self.vv.metadata, "quantity": "depolarisation ratio", "component": "VH/VV"}
        return Spectrum.from_arrays(
            self.vv.x_magnitude,
            rho,
            x_unit=self.vv.x_unit,
            y_unit="dimensionless",
            density=False,
            metadata=meta,
        )

    def as_dict(self) -> dict[str, Spectrum]:
        """`{"iso": ..., "aniso": ..., "vv": ..., "vh": ...}`."""
        return {"iso": self.isotropic, "aniso": self.anisotropic, "vv": self.vv, "vh": self.vh}


class RamanSpectrum(AbstractObservable):
    """Raman spectra from `trajectory.polarizability` (see the module docstring).

    **Arguments:**

    - `temperature`: `Quantity` (K); used by the quantum correction and the reduced form.
    - `quantum_correction`: `AbstractQuantumCorrection` (default `Harmonic()`).
    - `reduced`: return the reduced (susceptibility) form instead of the Bose-corrected one.
    - `window`, `max_lag`, `frequency_step`, `max_frequency`, `unbiased`: see
      `SpectralTransform`.
    - `x_unit`: output axis unit (default `"1/cm"`).
    - `subtract_mean`: correlate fluctuations (default True; removes the Rayleigh line).
    - `component`: the spectrum a loss compares (`RamanSpectra.selected`): `"vv"` (default),
      `"vh"`, `"isotropic"` or `"anisotropic"`. All four are always computed.
    - `n_blocks`: contiguous time blocks for the standard errors (default 5; `None` for
      none). Every component is computed on each block with the full run's window and grid
      and gets the block spread s/√B times the lag-window factor of
      `SpectralTransform.spectrum_with_blocks`; rules as for `IRSpectrum` (fewer blocks if the run
      is short, `None` with an `ErrorBarWarning` below 2) and in `observables._blocks`.

    **Returns** (`__call__`): `RamanSpectra` (isotropic, anisotropic, vv, vh), each a density
    in nm⁶ per x unit (`y_unit`) with its standard error (`error`, not differentiated);
    `RamanSpectra.depolarization_ratio()` gives ρ(ω).
    """

    temperature: float = eqx.field(static=True)
    quantum_correction: AbstractQuantumCorrection
    reduced: bool = eqx.field(static=True)
    transform: SpectralTransform
    x_unit: str = eqx.field(static=True)
    subtract_mean: bool = eqx.field(static=True)
    component: str = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    def __init__(
        self,
        temperature: Any,
        *,
        quantum_correction: AbstractQuantumCorrection | None = None,
        reduced: bool = False,
        window: AbstractWindow | None = None,
        max_lag: Any = None,
        frequency_step: Any = None,
        max_frequency: Any = None,
        unbiased: bool = False,
        x_unit: Any = "1/cm",
        subtract_mean: bool = True,
        component: str = "vv",
        n_blocks: int | None = 5,
    ):
        self.temperature = check_temperature(temperature)
        self.quantum_correction = check_correction(
            Harmonic() if quantum_correction is None else quantum_correction
        )
        self.reduced = bool(reduced)
        self.transform = SpectralTransform(window, max_lag, frequency_step, max_frequency, unbiased)
        self.x_unit = canonical_axis_unit(x_unit)
        self.subtract_mean = bool(subtract_mean)
        self.component = check_component(component)
        self.n_blocks = check_n_blocks(n_blocks)

    @property
    def y_unit(self) -> str:
        """nm⁶ per unit of the axis (each component is a density in x)."""
        return format(ureg.Unit("nm**6") / ureg.Unit(self.x_unit), "~C")

    def classical(
        self, trajectory: Trajectory
    ) -> tuple[Float[Array, " omega"], Float[Array, " omega"], Float[Array, " omega"]]:
        """(ω in rad/ps, classical iso spectrum, classical aniso spectrum), nm⁶·ps, no factors."""
        omega, s_iso, s_aniso, _ = self._classical(trajectory, None)
        return omega, s_iso, s_aniso

    def _classical(self, trajectory: Trajectory, n_blocks: int | None):
        """As `classical`, plus per-block (iso, aniso) spectra `[block, omega]` and the error
        factor, or None."""
        trajectory.require("polarizability")
        iso, aniso = isotropic_anisotropic(trajectory.polarizability)
        t, dt, kw = self.transform, trajectory.timestep, dict(subtract_mean=self.subtract_mean)
        omega, s_iso, _, b_iso = t.spectrum_with_blocks(
            iso, dt, n_blocks, what="RamanSpectrum", **kw
        )
        if b_iso is None:
            n_blocks = None
        _, s_aniso, _, b_aniso = t.spectrum_with_blocks(aniso, dt, n_blocks, sum_axes=(1, 2), **kw)
        blocks = None if b_iso is None else (b_iso[0], 1.5 * b_aniso[0], b_iso[2])
        return omega, s_iso, 1.5 * s_aniso, blocks

    def __call__(self, trajectory: Trajectory) -> RamanSpectra:
        omega, s_iso, s_aniso, blocks = self._classical(trajectory, self.n_blocks)
        x = beta_hbar_omega(omega, self.temperature)
        if self.reduced:
            factor = x * self.quantum_correction.absorption_factor(x)
        else:
            factor = self.quantum_correction(x)
        factor = factor.astype(s_iso.dtype)
        scale = axis_scale(self.x_unit)
        # per rad/ps -> per x unit: y_x = y_omega * d(omega)/dx = y_omega / scale
        density_factor = 1.0 / scale
        y_unit = self.y_unit
        base = {
            "kind": "raman",
            "temperature_K": self.temperature,
            "quantum_correction": type(self.quantum_correction).__name__,
            "form": "reduced" if self.reduced else "bose-corrected",
            **self.transform.describe(trajectory.n_frames, trajectory.timestep),
        }
        xs = omega * scale
        values = _components(s_iso, s_aniso, 1.0)
        errors = [None] * 4
        if blocks is not None:
            base["error_blocks"] = int(blocks[0].shape[0])
            args = (blocks[0], blocks[1], factor * density_factor)
            errors = mapped_block_error(_components, args, blocks[2])

        def make(index, component):
            meta = {**base, "component": component, "quantity": f"Raman {component}"}
            return Spectrum.from_arrays(
                xs,
                values[index] * factor * density_factor,
                x_unit=self.x_unit,
                y_unit=y_unit,
                density=True,
                metadata=meta,
                error=errors[index],
            )

        return RamanSpectra(
            isotropic=make(0, "isotropic"),
            anisotropic=make(1, "anisotropic"),
            vv=make(2, "VV"),
            vh=make(3, "VH"),
            selected=self.component,
        )


def _components(iso, aniso, scale):
    """(iso, aniso, VV, VH) spectra from the isotropic and anisotropic ones, times `scale`."""
    return (
        iso * scale,
        aniso * scale,
        (iso + (4.0 / 45.0) * aniso) * scale,
        (aniso / 15.0) * scale,
    )
