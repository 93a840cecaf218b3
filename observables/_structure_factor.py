r"""Static structure factor $S(q)$ from a radial distribution function, with a radial window.

$$
S(q) = 1 + 4\pi\rho \int_0^{R} r^2 \,[g(r) - 1]\, \frac{\sin qr}{qr}\, W(r)\, dr ,
$$

evaluated on the RDF's bins as
$S(q) = 1 + \rho \sum_k [g_k - 1]\, W(\bar r_k)\, \operatorname{sinc}(q \bar r_k)\, \Delta V_k$
with the exact shell volumes $\Delta V_k = \tfrac{4\pi}{3}(r_{k+1}^3 - r_k^3)$ and bin centres
$\bar r_k$ (midpoint rule inside each shell; the error is $O((q\,\Delta r)^2)$ per bin, so use
bins much narrower than $1/q$). Units: $q$ in nm⁻¹ internally, $S$ dimensionless.

Cutting the integral at $R = r_{\max}$ convolves $S(q)$ with the transform of a step, giving
spurious ripples of period $\approx 2\pi/R$. The **Lorch** window
$W(r) = \sin(\pi r/R)/(\pi r/R)$ suppresses them at the price of a resolution of about
$\Delta q \approx 2\pi/R$ (E. Lorch, *J. Phys. C* **2**, 229 (1969)). `NoRadialWindow` keeps
the sharp cut.

With partial RDFs and $\rho$ the *total* number density this is the Faber–Ziman partial
$S_{ab}(q)$ (T. E. Faber and J. M. Ziman, *Phil. Mag.* **11**, 153 (1965)); the total is
$S(q) = \sum_{ab} c_a c_b S_{ab}(q)$ with concentrations $c_a$.

Reference: J.-P. Hansen and I. R. McDonald, *Theory of Simple Liquids*, 4th ed. (2013), §4.1;
M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017), §8.2.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["AbstractRadialWindow", "Lorch", "NoRadialWindow", "structure_factor_from_rdf"]


class AbstractRadialWindow(eqx.Module):
    """A window $W(r)$ on $[0, R]$ multiplying $g(r) - 1$ before the sine transform."""

    @abc.abstractmethod
    def __call__(self, r: Float[Array, " bin"], r_max: float) -> Float[Array, " bin"]:
        """Weights at radii `r` (nm) for a transform truncated at `r_max` (nm)."""


class Lorch(AbstractRadialWindow):
    r"""Lorch window $W(r) = \sin(\pi r/R) / (\pi r/R)$, $W(0) = 1$, $W(R) = 0$.

    Reference: E. Lorch, *J. Phys. C: Solid State Phys.* **2**, 229 (1969).
    """

    def __call__(self, r, r_max):
        return jnp.sinc(r / r_max)


class NoRadialWindow(AbstractRadialWindow):
    """No window, $W(r) = 1$: a sharp cut at $R$ (termination ripples in $S(q)$)."""

    def __call__(self, r, r_max):
        return jnp.ones_like(r)


def structure_factor_from_rdf(
    edges: Float[Array, " edge"],
    g: Float[Array, " bin"],
    density: Float[Array, ""] | float,
    q: Float[Array, " q"],
    window: AbstractRadialWindow,
) -> Float[Array, " q"]:
    r"""$S(q)$ from binned $g(r)$ (plain arrays in internal units; jit/grad safe).

    **Arguments:**
    - `edges`: `[bin + 1]` bin edges (nm), starting at 0 for a physically meaningful $S(q)$.
    - `g`: `[bin]` RDF, dimensionless.
    - `density`: number density $\rho$ (nm⁻³).
    - `q`: `[q]` wavenumbers (nm⁻¹, $|\mathbf q|$, not divided by $2\pi$).
    - `window`: an `AbstractRadialWindow` (e.g. `Lorch()`).

    **Returns:** `[q]` dimensionless $S(q)$; see the module docstring for the formula.
    """
    edges = jnp.asarray(edges)
    lo, hi = edges[:-1], edges[1:]
    centres = 0.5 * (lo + hi)
    shell = (4.0 * jnp.pi / 3.0) * (hi**3 - lo**3)
    r_max = edges[-1]
    weight = (g - 1.0) * window(centres, r_max) * shell
    qr = q[:, None] * centres[None, :]
    sinc = jnp.sinc(qr / jnp.pi)  # sin(qr)/(qr), = 1 at q = 0
    return 1.0 + density * jnp.sum(weight[None, :] * sinc, axis=-1)
