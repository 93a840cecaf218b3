"""`RDFResult`: what `RDF` returns (bins, g(r), the densities needed to integrate it)."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._result import AbstractResult
from ._structure_factor import AbstractRadialWindow, Lorch, structure_factor_from_rdf
from ._units import Quantity, from_internal, to_magnitude

__all__ = ["RDFResult"]


class RDFResult(AbstractResult):
    r"""A computed RDF: bins, $g(r)$ and the densities needed to integrate it.

    A pytree (usable inside `jit`); arrays are in internal units. As an `AbstractResult`:
    `x_magnitude` the bin centres (`x_unit` nm), `y_magnitude` = `g` (dimensionless),
    `error_magnitude` = `g_error`.

    **Fields:**
    - `edges`: `[bin + 1]` bin edges, nm.
    - `g`: `[bin]` $g(r)$, dimensionless.
    - `partner_density`: $\rho_b' = \langle N_{ab} / (N_a V)\rangle$, nm⁻³ — the density of
      partner atoms seen by a reference atom ($N_b/V$, or $(N_a-1)/V$ when $a = b$).
    - `number_density`: $\langle N / V \rangle$ over all atoms, nm⁻³.
    - `g_error`: `[bin]` standard error of `g` from contiguous blocks of frames
      (`RDF(n_blocks=...)`), dimensionless, or `None`.
    """

    edges: Float[Array, " edge"]
    g: Float[Array, " bin"]
    partner_density: Float[Array, ""]
    number_density: Float[Array, ""]
    g_error: Float[Array, " bin"] | None = None

    x_unit: ClassVar[str] = "nm"
    y_unit: ClassVar[str] = "dimensionless"
    density: ClassVar[bool] = False
    x_name: ClassVar[str] = "r"

    @property
    def x_magnitude(self) -> Float[Array, " bin"]:
        """Bin centres $(r_k + r_{k+1})/2$, nm."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def y_magnitude(self) -> Float[Array, " bin"]:
        """$g(r)$ per bin (same as `g`)."""
        return self.g

    @property
    def error_magnitude(self) -> Float[Array, " bin"] | None:
        """Standard error of $g(r)$ per bin (same as `g_error`), or `None`."""
        return self.g_error

    @property
    def bin_edges(self) -> Quantity:
        """Bin edges as a `Quantity` (nm)."""
        return from_internal(self.edges, "length")

    @property
    def bin_centers(self) -> Quantity:
        """Bin centres $(r_k + r_{k+1})/2$ as a `Quantity` (nm)."""
        return from_internal(0.5 * (self.edges[:-1] + self.edges[1:]), "length")

    @property
    def shell_volumes(self) -> Float[Array, " bin"]:
        r"""Exact shell volumes $\tfrac{4\pi}{3}(r_{k+1}^3 - r_k^3)$, nm³."""
        return (4.0 * jnp.pi / 3.0) * (self.edges[1:] ** 3 - self.edges[:-1] ** 3)

    def coordination_number(self) -> Float[Array, " bin"]:
        r"""Running coordination number $n(r) = 4\pi\rho_b' \int_{r_{\min}}^{r} g(s)\,s^2 ds$.

        Evaluated at the **outer edge** of each bin as $\rho_b' \sum_{j \le k} g_j \Delta V_j$
        with exact shell volumes, so for the histogram it is exactly the mean number of
        partner atoms within $r_{k+1}$ of a reference atom (constant box; with a varying box
        it uses $\langle 1/V \rangle$). Dimensionless, shape `[bin]`.
        """
        return self.partner_density * jnp.cumsum(self.g * self.shell_volumes)

    def structure_factor(self, q: Any, window: AbstractRadialWindow | None = None) -> Array:
        r"""Static structure factor $S(q)$ by the windowed sine transform of $g(r) - 1$.

        $S(q) = 1 + 4\pi\rho\int r^2 [g(r)-1]\,\frac{\sin qr}{qr}\,W(r)\,dr$ with $\rho$ =
        `number_density` (Faber–Ziman form for partials); see
        `observables._structure_factor` for the quadrature and its accuracy.

        **Arguments:** `q`: wavenumbers, a `Quantity` of inverse length (e.g. `1/nm`; not
        divided by 2π). `window`: default `Lorch()` (Lorch 1969).

        **Returns:** `[q]` dimensionless array.
        """
        q_nm = jnp.atleast_1d(jnp.asarray(to_magnitude(q, "1/nm", "q"))).astype(self.g.dtype)
        window = Lorch() if window is None else window
        return structure_factor_from_rdf(self.edges, self.g, self.number_density, q_nm, window)
