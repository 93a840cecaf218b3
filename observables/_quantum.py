r"""Quantum correction factors for spectra computed from classical time-correlation functions.

A classical correlation function $C_\mathrm{cl}(t)$ of a real observable is real and even in
$t$, so its spectrum

$$ \tilde C_\mathrm{cl}(\omega) = \frac{1}{2\pi}\int_{-\infty}^{\infty} dt\,
   e^{-i\omega t}\, C_\mathrm{cl}(t) $$

is even in $\omega$. The quantum (Heisenberg, *non*-symmetrised) correlation
$C(t) = \langle A(0) A(t) \rangle$ has a spectrum obeying **detailed balance**

$$ \tilde C(-\omega) = e^{-\beta\hbar\omega}\, \tilde C(\omega), $$

with this sign convention: positive $\omega$ is absorption / Stokes scattering. A quantum
correction factor $Q(x)$, $x = \beta\hbar\omega$, estimates it as

$$ \tilde C(\omega) \approx Q(\beta\hbar\omega)\, \tilde C_\mathrm{cl}(\omega). $$

Every factor below except `Classical` satisfies $Q(-x) = e^{-x} Q(x)$ and $Q(0) = 1$, so the
corrected spectrum obeys detailed balance exactly. They differ in *which* quantum correlation
function the classical one is taken to approximate:

- `Classical`: $Q = 1$; no correction (classical spectrum, symmetric in ω).
- `Harmonic`: $Q = x / (1 - e^{-x})$; $C_\mathrm{cl}$ read as the Kubo-transformed
  correlation (exact for harmonic systems with linear observables).
- `Standard`: $Q = 2 / (1 + e^{-x})$; $C_\mathrm{cl}$ read as the symmetrised
  (anticommutator) correlation.
- `Schofield`: $Q = e^{x/2}$; $C_\mathrm{cl}$ read as the correlation at complex time
  $t - i\beta\hbar/2$.

Absorption (IR) and the reduced Raman spectrum need the *dissipative* spectrum
$(1 - e^{-x})\,\tilde C(\omega)$; its ratio to the classical limit $x\,\tilde C_\mathrm{cl}$ is
`absorption_factor(x)` $= Q(x)(1 - e^{-x})/x$. For `Harmonic` that ratio is exactly 1 — the
well-known result that the harmonic correction gives back the classical absorption formula
$n\alpha \propto \beta\omega^2 \tilde C_\mathrm{cl}$ — and for `Classical` it is 1 by definition
(the classical fluctuation–dissipation theorem). `Standard` gives $\tanh(x/2)/(x/2)$ and
`Schofield` $\sinh(x/2)/(x/2)$.

The Egelstaff correction (classical correlation at the complex time
$\sqrt{t(t - i\beta\hbar)}$) needs an analytic continuation of $C_\mathrm{cl}(t)$ rather than a
factor on its spectrum, so it is not provided.

References:
- R. Ramírez, T. López-Ciudad, P. Kumar & D. Marx, *J. Chem. Phys.* **121**, 3973 (2004)
  (comparison of the correction factors for IR spectra).
- P. Schofield, *Phys. Rev. Lett.* **4**, 239 (1960).
- J. S. Bader & B. J. Berne, *J. Chem. Phys.* **100**, 8359 (1994) (harmonic factor).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._units import BOLTZMANN, HBAR

__all__ = [
    "AbstractQuantumCorrection",
    "Classical",
    "Harmonic",
    "Standard",
    "Schofield",
    "beta_hbar_omega",
]

# Below this |x| the series expansions are used (avoids 0/0 at ω = 0).
_SMALL = 1e-6


def beta_hbar_omega(omega: Float[Array, "..."], temperature: float) -> Float[Array, "..."]:
    r"""$x = \hbar\omega / (k_B T)$ for `omega` in rad/ps and `temperature` in K."""
    return omega * (HBAR / (BOLTZMANN * temperature))


def _one_minus_exp_over_x(x):
    """(1 - e^{-x}) / x, finite at x = 0 (value 1)."""
    small = jnp.abs(x) < _SMALL
    safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - 0.5 * x, -jnp.expm1(-safe) / safe)


class AbstractQuantumCorrection(eqx.Module):
    r"""A factor $Q(x)$, $x = \beta\hbar\omega$, turning a classical spectrum into a quantum one.

    Called on `x` (plain dimensionless array, any sign) it returns $Q(x)$; see the module
    docstring for the definitions and which representation each one assumes.
    """

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """$Q(x)$ for $x = \\beta\\hbar\\omega$ (dimensionless)."""

    def absorption_factor(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        r"""$Q(x)\,(1 - e^{-x}) / x$: quantum dissipative spectrum over its classical limit."""
        return self(x) * _one_minus_exp_over_x(x)

    def corrected(
        self, omega: Float[Array, "..."], spectrum: Float[Array, "..."], temperature: float
    ) -> Float[Array, "..."]:
        r"""$Q(\beta\hbar\omega)\,\tilde C_\mathrm{cl}(\omega)$ (omega in rad/ps, T in K)."""
        return self(beta_hbar_omega(omega, temperature)) * spectrum


class Classical(AbstractQuantumCorrection):
    """No correction: $Q = 1$. The spectrum stays classical (even in ω, no detailed balance)."""

    def __call__(self, x):
        return jnp.ones_like(x)

    def absorption_factor(self, x):
        return jnp.ones_like(x)


class Harmonic(AbstractQuantumCorrection):
    r"""Harmonic factor $Q(x) = x / (1 - e^{-x})$.

    Exact when the classical correlation is read as the Kubo-transformed quantum one, which
    for a harmonic system with a linear observable equals the classical correlation.
    `absorption_factor` is identically 1. Reference: Bader & Berne, *J. Chem. Phys.* **100**,
    8359 (1994).
    """

    def __call__(self, x):
        return 1.0 / _one_minus_exp_over_x(x)

    def absorption_factor(self, x):
        return jnp.ones_like(x)


class Standard(AbstractQuantumCorrection):
    r"""Standard factor $Q(x) = 2 / (1 + e^{-x})$.

    Treats the classical correlation as the symmetrised (anticommutator) quantum correlation.
    `absorption_factor` is $\tanh(x/2)/(x/2)$. Reference: Ramírez et al., *J. Chem. Phys.*
    **121**, 3973 (2004).
    """

    def __call__(self, x):
        return 2.0 / (1.0 + jnp.exp(-x))


class Schofield(AbstractQuantumCorrection):
    r"""Schofield factor $Q(x) = e^{x/2}$.

    Treats the classical correlation as the quantum one at complex time
    $t - i\beta\hbar/2$. Grows without bound at high frequency (overestimates intensities
    there). Reference: P. Schofield, *Phys. Rev. Lett.* **4**, 239 (1960).
    """

    def __call__(self, x):
        return jnp.exp(0.5 * x)
