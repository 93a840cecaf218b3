r"""Collective Green–Kubo coefficients: shear viscosity, thermal and ionic conductivity.

See `observables._transport` for the overview.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._correlation import correlate
from ._green_kubo import AbstractCutoff, FullWindow
from ._lags import parse_max_lag
from ._trajectory import TrajectoryError
from ._transport_base import (
    AbstractGreenKubo,
    _check_blocks,
    _mean_volume,
    _require_box,
    _temperature,
)
from ._units import BOLTZMANN, ureg

__all__ = [
    "ShearViscosity",
    "ThermalConductivity",
    "IonicConductivity",
    "traceless_shear_components",
]

_NA = ureg.Quantity(1, "avogadro_constant")
# Internal (molar) results -> physical output units.
_VISCOSITY_FACTOR = float((ureg.Quantity(1, "kJ/mol/nm**3 * ps") / _NA).m_as("mPa*s"))
_THERMAL_FACTOR = float((ureg.Quantity(1, "kJ/mol / (nm * ps * K)") / _NA).m_as("W/(m*K)"))
_IONIC_FACTOR = float(
    (ureg.Quantity(1, "elementary_charge**2 / (nm * ps) / (kJ/mol)") * _NA).m_as("S/m")
)


class _CollectiveGreenKubo(AbstractGreenKubo):
    """Shared fields and constructor of the collective (system-wide current) coefficients.

    **Fields:** `temperature` (a `Quantity`, stored in K; a non-temperature unit raises
    `UnitError`); `max_lag`, `cutoff`, `n_blocks`, `subtract_mean` as in
    `AbstractGreenKubo`.
    """

    temperature: float = eqx.field(static=True)
    max_lag_frames: int | None = eqx.field(static=True)
    max_lag_time: float | None = eqx.field(static=True)
    cutoff: AbstractCutoff
    n_blocks: int = eqx.field(static=True)
    subtract_mean: bool = eqx.field(static=True)

    def __init__(
        self,
        temperature: Any,
        *,
        max_lag: Any = None,
        cutoff: AbstractCutoff | None = None,
        n_blocks: int = 5,
        subtract_mean: bool = False,
    ):
        self.temperature = _temperature(temperature)
        self.max_lag_frames, self.max_lag_time = parse_max_lag(max_lag)
        self.cutoff = FullWindow() if cutoff is None else cutoff
        self.n_blocks = _check_blocks(n_blocks)
        self.subtract_mean = bool(subtract_mean)

    def _correlation(self, trajectory, signal, n_lags):
        """⟨J(0)·J(t)⟩ summed over Cartesian components (one column)."""
        return correlate(
            signal, max_lag=n_lags - 1, subtract_mean=self.subtract_mean, sum_axes=(1,)
        )[:, None]

    def _reduce(self, trajectory, x):
        return x.sum(axis=1, keepdims=True)


class ShearViscosity(_CollectiveGreenKubo):
    r"""Shear viscosity from the pressure-tensor autocorrelation (Green–Kubo).

    $$ \eta = \frac{V}{k_B T}\int_0^\infty
       \langle P_{\alpha\beta}(0)\,P_{\alpha\beta}(t)\rangle\,dt ,$$

    averaged over the five independent components of the symmetric traceless pressure
    tensor $\mathring P = \tfrac12(P + P^T) - \tfrac13 \mathrm{Tr}(P)\,\mathbb 1$, taken in an
    orthonormal basis so that each has the same ACF in an isotropic fluid:

    $$ \tfrac12(P_{xy}+P_{yx}),\ \tfrac12(P_{xz}+P_{zx}),\ \tfrac12(P_{yz}+P_{zy}),\
       \tfrac12(P_{xx}-P_{yy}),\ \tfrac{1}{2\sqrt3}(P_{xx}+P_{yy}-2P_{zz}). $$

    Their mean ACF equals $\tfrac1{10}\langle \mathring P(0):\mathring P(t)\rangle$, the
    rotationally invariant form of P. J. Daivis & D. J. Evans, *J. Chem. Phys.* **100**, 541
    (1994) (also Allen & Tildesley 2017, §2.7). $V$ is the mean cell volume.

    **Fields:** `temperature` (a `Quantity`, stored in K; a non-temperature unit raises
    `UnitError`); `max_lag`, `cutoff`, `n_blocks`, `subtract_mean` as in `AbstractGreenKubo`.

    **Input:** `trajectory.stress` (kJ mol⁻¹ nm⁻³, required) and `box`. **Output:** mPa·s.
    `TransportResult.correlation` is the mean component ACF in (kJ mol⁻¹ nm⁻³)².
    """

    y_unit: ClassVar[str] = "mPa*s"
    correlation_unit: ClassVar[str] = "(kJ/mol/nm**3)**2"
    method: ClassVar[str] = "Green–Kubo stress ACF"

    def _validate(self, trajectory):
        trajectory.require("stress")
        _require_box(trajectory, "ShearViscosity")

    def _signal(self, trajectory):
        return traceless_shear_components(trajectory.stress)

    def _correlation(self, trajectory, signal, n_lags):
        return correlate(
            signal, max_lag=n_lags - 1, subtract_mean=self.subtract_mean, mean_axes=(1,)
        )[:, None]

    def _reduce(self, trajectory, x):
        return x.mean(axis=1, keepdims=True)

    def _prefactor(self, trajectory):
        volume = _mean_volume(trajectory, "ShearViscosity")
        return volume / (BOLTZMANN * self.temperature) * _VISCOSITY_FACTOR


def traceless_shear_components(stress: Float[Array, "frame 3 3"]) -> Float[Array, "frame 5"]:
    r"""The five orthonormal components of the symmetric traceless part of a pressure tensor.

    $[\tfrac12(P_{xy}+P_{yx}), \tfrac12(P_{xz}+P_{zx}), \tfrac12(P_{yz}+P_{zy}),
    \tfrac12(P_{xx}-P_{yy}), (P_{xx}+P_{yy}-2P_{zz})/(2\sqrt3)]$, so that
    $\mathring P:\mathring P = 2\sum_k c_k^2$ (Daivis & Evans 1994). Same unit as `stress`.
    """
    p = jnp.asarray(stress)
    return jnp.stack(
        [
            0.5 * (p[:, 0, 1] + p[:, 1, 0]),
            0.5 * (p[:, 0, 2] + p[:, 2, 0]),
            0.5 * (p[:, 1, 2] + p[:, 2, 1]),
            0.5 * (p[:, 0, 0] - p[:, 1, 1]),
            (p[:, 0, 0] + p[:, 1, 1] - 2.0 * p[:, 2, 2]) / (2.0 * math.sqrt(3.0)),
        ],
        axis=1,
    )


class ThermalConductivity(_CollectiveGreenKubo):
    r"""Thermal conductivity from the heat-flux autocorrelation (Green–Kubo).

    $$ \lambda = \frac{1}{3 V k_B T^2}\int_0^\infty
       \langle \mathbf J_q(0)\cdot\mathbf J_q(t)\rangle\,dt ,$$

    with $\mathbf J_q$ the *extensive* energy current supplied by the trajectory
    (`heat_flux`, e.g. $\sum_i e_i \mathbf v_i + \tfrac12\sum_{i\ne j} (\mathbf F_{ij}\cdot
    \mathbf v_i)\,\mathbf r_{ij}$ for pair potentials; in mixtures subtract the enthalpy
    current yourself). $V$ is the mean cell volume.

    **Fields:** `temperature` (`Quantity`); `max_lag`, `cutoff`, `n_blocks`, `subtract_mean`
    as in `AbstractGreenKubo`. **Input:** `trajectory.heat_flux` (kJ mol⁻¹ nm ps⁻¹) and `box`.
    **Output:** W m⁻¹ K⁻¹.

    Reference: Allen & Tildesley (2017) §2.7, eq. 2.126; Green (1954); Kubo (1957).
    """

    y_unit: ClassVar[str] = "W/(m*K)"
    correlation_unit: ClassVar[str] = "(kJ/mol * nm/ps)**2"
    method: ClassVar[str] = "Green–Kubo heat-flux ACF"

    def _validate(self, trajectory):
        trajectory.require("heat_flux")
        _require_box(trajectory, "ThermalConductivity")

    def _signal(self, trajectory):
        return trajectory.heat_flux

    def _prefactor(self, trajectory):
        volume = _mean_volume(trajectory, "ThermalConductivity")
        return _THERMAL_FACTOR / (3.0 * volume * BOLTZMANN * self.temperature**2)


class IonicConductivity(_CollectiveGreenKubo):
    r"""Ionic (electrical) conductivity from the charge-current autocorrelation (Green–Kubo).

    $$ \sigma = \frac{1}{3 V k_B T}\int_0^\infty \langle \mathbf J(0)\cdot\mathbf J(t)\rangle\,dt,
       \qquad \mathbf J = \sum_i q_i \mathbf v_i ,$$

    including all cross correlations between ions (not the Nernst–Einstein approximation).
    $\mathbf J$ is `trajectory.charge_current` if present, else computed from `charges` and
    `velocities`. $V$ is the mean cell volume.

    **Fields:** `temperature` (`Quantity`); `max_lag`, `cutoff`, `n_blocks`, `subtract_mean`
    as in `AbstractGreenKubo`. **Output:** S/m.

    Reference: Allen & Tildesley (2017) §2.7; J.-P. Hansen & I. R. McDonald, *Theory of
    Simple Liquids*, 4th ed. (2013), §10.
    """

    y_unit: ClassVar[str] = "S/m"
    correlation_unit: ClassVar[str] = "(elementary_charge * nm/ps)**2"
    method: ClassVar[str] = "Green–Kubo charge-current ACF"

    def _validate(self, trajectory):
        _require_box(trajectory, "IonicConductivity")
        if trajectory.charge_current is None and (
            trajectory.charges is None or trajectory.velocities is None
        ):
            raise TrajectoryError(
                "IonicConductivity needs charge_current, or charges and velocities to build it "
                "(J = sum_i q_i v_i); the trajectory has "
                + ", ".join(
                    f"{n}={'yes' if getattr(trajectory, n) is not None else 'no'}"
                    for n in ("charge_current", "charges", "velocities")
                )
            )

    def _signal(self, trajectory):
        if trajectory.charge_current is not None:
            return trajectory.charge_current
        v = trajectory.velocities
        return jnp.einsum("fai,a->fi", v, trajectory.charges.astype(v.dtype))

    def _prefactor(self, trajectory):
        volume = _mean_volume(trajectory, "IonicConductivity")
        return _IONIC_FACTOR / (3.0 * volume * BOLTZMANN * self.temperature)
