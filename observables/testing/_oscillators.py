"""Damped harmonic dipole and polarizability series with exact line shapes."""

import dataclasses
from typing import Any

import hypothesis.strategies as st
import numpy as np
import scipy.linalg

import observables as ob

from ._random import _sizes
from ._report import describe

__all__ = [
    "DampedOscillator",
    "damped_harmonic_dipoles",
    "damped_harmonic_polarizabilities",
    "TRACELESS_BASIS",
]


def _offdiagonal(i: int, j: int) -> np.ndarray:
    m = np.zeros((3, 3))
    m[i, j] = m[j, i] = 1 / np.sqrt(2)
    return m


#: An orthonormal basis (Tr E_k E_l = δ_kl) of the symmetric traceless 3×3 matrices.
TRACELESS_BASIS = np.stack(
    [
        np.diag([1.0, -1.0, 0.0]) / np.sqrt(2),
        np.diag([1.0, 1.0, -2.0]) / np.sqrt(6),
        _offdiagonal(0, 1),
        _offdiagonal(0, 2),
        _offdiagonal(1, 2),
    ]
)


def _series(rng, n_frames: int, n_series: int, omega0: float, gamma: float, dt: float):
    """Unit-variance stationary series of the Langevin oscillator q'' = -ω0² q - γ q' + noise,
    sampled exactly at spacing dt: `[frame, series]`."""
    drift = np.array([[0.0, 1.0], [-(omega0**2), -gamma]])
    a = scipy.linalg.expm(drift * dt)
    sigma = np.diag([1.0, omega0**2])  # stationary covariance of (q, q')
    chol = np.linalg.cholesky(sigma - a @ sigma @ a.T + 1e-300 * np.eye(2))
    state = rng.normal(size=(n_series, 2)) * np.sqrt(np.diag(sigma))
    out = np.empty((n_frames, n_series))
    for n in range(n_frames):
        out[n] = state[:, 0]
        state = state @ a.T + rng.normal(size=(n_series, 2)) @ chol.T
    return out


@dataclasses.dataclass(frozen=True)
class DampedOscillator:
    r"""A signal made of independent damped harmonic oscillators, and its exact answers.

    Each component is the position of a Langevin oscillator
    $\ddot q = -\omega_0^2 q - \gamma\dot q + \text{noise}$ in equilibrium, sampled exactly
    at the time step. Its normalised autocorrelation is
    $c(t) = e^{-\gamma |t|/2}[\cos\omega_1 t + \tfrac{\gamma}{2\omega_1}\sin\omega_1 |t|]$,
    $\omega_1 = \sqrt{\omega_0^2 - \gamma^2/4}$, and its line shape
    $\tilde c(\omega) = \frac{1}{2\pi}\int e^{-i\omega t} c(t)\,dt
    = \frac{1}{\pi}\frac{\gamma\,\omega_0^2}{(\omega_0^2-\omega^2)^2 + \gamma^2\omega^2}$.

    **Fields:** `trajectory` (a `dipole` [e·nm] or `polarizability` [nm³] series, a cubic
    box, the time step); `omega0` and `gamma` (rad/ps, 1/ps); `variance`: for a dipole,
    ⟨M·M⟩ (e²nm²); for a polarizability, `(iso, aniso)` = (⟨δᾱ²⟩, ⟨Tr δβ δβ⟩) in nm⁶.
    """

    trajectory: ob.Trajectory
    omega0: float
    gamma: float
    variance: Any

    def __repr__(self) -> str:
        return (
            f"DampedOscillator(omega0={self.omega0!r} rad/ps, gamma={self.gamma!r} 1/ps, "
            f"variance={self.variance!r}, {describe(self.trajectory)})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))

    def normalised_acf(self, time: ob.Quantity) -> np.ndarray:
        """$c(t)$ at lag times `time` (a `Quantity`); c(0) = 1."""
        t = np.abs(np.asarray(time.m_as("ps"), dtype=np.float64))
        w1 = np.sqrt(self.omega0**2 - self.gamma**2 / 4)
        decay = np.exp(-self.gamma * t / 2)
        return decay * (np.cos(w1 * t) + self.gamma / (2 * w1) * np.sin(w1 * t))

    def line_shape(self, omega: ob.Quantity) -> ob.Quantity:
        r"""$\tilde c(\omega)$ per rad/ps at angular frequencies `omega` (a `Quantity`,
        rad/ps or 1/ps); integrates to 1 over ω ∈ ℝ."""
        w = np.asarray(omega.m_as("1/ps"), dtype=np.float64)
        g, w0 = self.gamma, self.omega0
        return ob.Quantity(g * w0**2 / np.pi / ((w0**2 - w**2) ** 2 + (g * w) ** 2), "ps")

    @property
    def depolarization_ratio(self) -> float:
        r"""VH/VV of a polarizability series at every frequency (both parts share the line
        shape): $\rho = \tfrac{1}{15}A / (I + \tfrac{4}{45}A)$ with $I$ = ⟨δᾱ²⟩ and
        $A = \tfrac32$⟨Tr δβ δβ⟩."""
        iso, aniso = self.variance
        a = 1.5 * aniso
        return (a / 15) / (iso + 4 * a / 45)


def _draw_common(draw, n_frames, omega0, gamma):
    frames = draw(_sizes(n_frames))
    w0, g = draw(st.floats(*omega0)), draw(st.floats(*gamma))
    return frames, w0, min(g, 1.9 * w0), np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


@st.composite
def damped_harmonic_dipoles(
    draw: Any,
    *,
    n_frames: int | tuple[int, int] = (256, 512),
    omega0: tuple[float, float] = (100.0, 300.0),
    gamma: tuple[float, float] = (5.0, 30.0),
    amplitude: float = 0.1,
    timestep: ob.Quantity | None = None,
) -> DampedOscillator:
    """A cell dipole whose three components are independent damped oscillators.

    **Arguments:** `n_frames`: a size or (min, max); `omega0` (rad/ps) and `gamma` (1/ps):
    (min, max) ranges (γ is kept below 1.9 ω0, underdamped); `amplitude`: rms of each
    component, e·nm; `timestep` (default 2 fs). The box is a 2 nm cube (for the volume of
    an IR spectrum).

    **Returns:** a `DampedOscillator` with `variance` = ⟨M·M⟩ = 3 `amplitude`².
    """
    frames, w0, g, rng = _draw_common(draw, n_frames, omega0, gamma)
    dt = ob.Quantity(2.0, "fs") if timestep is None else timestep
    q = _series(rng, frames, 3, w0, g, float(dt.m_as("ps"))) * amplitude
    traj = ob.Trajectory(
        dipole=ob.Quantity(q, "e*nm"), box=ob.Quantity([2.0] * 3, "nm"), timestep=dt
    )
    return DampedOscillator(traj, w0, g, 3 * amplitude**2)


@st.composite
def damped_harmonic_polarizabilities(
    draw: Any,
    *,
    n_frames: int | tuple[int, int] = (256, 512),
    omega0: tuple[float, float] = (100.0, 300.0),
    gamma: tuple[float, float] = (5.0, 30.0),
    iso: tuple[float, float] = (0.0, 1e-3),
    aniso: tuple[float, float] = (1e-4, 1e-3),
    mean: float = 1e-3,
    timestep: ob.Quantity | None = None,
) -> DampedOscillator:
    r"""A cell polarizability $\alpha(t) = (\bar\alpha_0 + \delta\bar\alpha(t))\mathbf 1 +
    \sum_k b_k(t) E_k$: one isotropic and five anisotropic damped oscillators with the same
    ω0 and γ, so that the depolarisation ratio is the same at every frequency.

    **Arguments:** `iso`, `aniso`: (min, max) of the rms of δᾱ and of each $b_k$ (nm³);
    `mean`: $\bar\alpha_0$ (nm³); others as for `damped_harmonic_dipoles`.

    **Returns:** a `DampedOscillator` with `variance` = (⟨δᾱ²⟩, ⟨Tr δβ δβ⟩) and its
    `depolarization_ratio`.
    """
    frames, w0, g, rng = _draw_common(draw, n_frames, omega0, gamma)
    s_iso, s_aniso = draw(st.floats(*iso)), draw(st.floats(*aniso))
    dt = ob.Quantity(2.0, "fs") if timestep is None else timestep
    q = _series(rng, frames, 6, w0, g, float(dt.m_as("ps")))
    alpha = (mean + s_iso * q[:, :1, None]) * np.eye(3) + s_aniso * np.einsum(
        "fk,kij->fij", q[:, 1:], TRACELESS_BASIS
    )
    traj = ob.Trajectory(
        polarizability=ob.Quantity(alpha, "nm**3"), box=ob.Quantity([2.0] * 3, "nm"), timestep=dt
    )
    return DampedOscillator(traj, w0, g, (s_iso**2, 5 * s_aniso**2))
