r"""Harmonic force constants of a periodic crystal by automatic differentiation, and its
dynamical matrix.

**Definition.** For a crystal with primitive cell $h$ (cell vectors as rows) holding atoms
$\kappa$ of mass $m_\kappa$ at $\tau_\kappa$, the force constants are the second derivatives
of the energy with respect to the displacements of the atoms,
$\Phi_{\alpha\beta}(\kappa 0, \kappa' l) = \partial^2 U / \partial u_\alpha(\kappa 0)\,
\partial u_\beta(\kappa' l)$, and the dynamical matrix at the wavevector $q$ is

$$ D_{\kappa\alpha,\kappa'\beta}(q) = \frac{1}{\sqrt{m_\kappa m_{\kappa'}}}
   \sum_l \Phi_{\alpha\beta}(\kappa 0, \kappa' l)\,
   e^{\,i q\cdot(r_{\kappa' l} - r_{\kappa 0})}, $$

a Hermitian $3n \times 3n$ matrix whose eigenvalues are the squared angular frequencies
$\omega^2_s(q)$ of the normal modes (Born & Huang 1954; Maradudin et al. 1971).

**Supercell method.** $\Phi$ is the Hessian of the energy of an $N_1\times N_2\times N_3$
supercell of the given cell, taken with `jax.jacfwd(jax.grad(U))` with respect to the
displacements of the atoms of the home cell only ($3n$ directions), so it is exact (no finite
displacements) and differentiable with respect to the potential's parameters. The
supercell Hessian is the force constant summed over the images of $\kappa' l$ that are
equivalent in the supercell, so $D(q)$ is exact at every $q$ commensurate with the supercell
and an interpolation elsewhere (it converges with the supercell size). For the Fourier sum
each supercell atom is placed at its shortest image relative to $\kappa 0$; when several
images are equally short (within $10^{-6}$ nm) the term is shared equally among them
(Parlinski, Li & Kawazoe 1997), the convention of phonopy (Togo & Tanaka 2015), so the two
agree at any $q$ when given the same force constants. The result is made exactly
Hermitian, $D \leftarrow (D + D^\dagger)/2$.

**Units.** Internal units: Φ in kJ mol⁻¹ nm⁻², masses in Da, so D is in
kJ mol⁻¹ nm⁻² Da⁻¹ = ps⁻² and ω in rad/ps (ν = ω/2π in THz).

??? cite
    M. Born and K. Huang, *Dynamical Theory of Crystal Lattices* (Oxford, 1954);
    A. A. Maradudin, E. W. Montroll, G. H. Weiss and I. P. Ipatova, *Theory of Lattice
    Dynamics in the Harmonic Approximation* (Academic Press, 1971);
    K. Parlinski, Z. Q. Li and Y. Kawazoe, "First-principles determination of the soft mode
    in cubic ZrO₂", Phys. Rev. Lett. 78, 4063 (1997);
    A. Togo and I. Tanaka, "First principles phonon calculations in materials science",
    Scr. Mater. 108, 1 (2015).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from observables import UnitError, to_magnitude

from ..potentials import AbstractPotential, System, perpendicular_widths
from ._elastic import _check_images

__all__ = ["ForceConstants", "force_constants", "reduced_q"]

#: Two images of an atom closer to the home atom than this (nm) count as equally short.
_IMAGE_TOLERANCE = 1e-6


class ForceConstants(eqx.Module):
    """Harmonic force constants of a crystal on a supercell, ready for Fourier sums.

    Built by `force_constants`; a pytree (jit/vmap/grad-safe), with the potential's
    parameters entering only through `phi`. Internal units (nm, Da, kJ/mol).

    **Fields:**

    - `phi`: Φ(κ0, j) = ∂²U/∂u(κ0)∂u(j), `[κ, 3, supercell atom, 3]`, kJ mol⁻¹ nm⁻².
    - `images`: fractional coordinates (in units of the cell vectors) of the shortest images
      of r_j − r_κ0, `[κ, supercell atom, image, 3]`.
    - `weights`: 1/multiplicity for each real image, 0 for padding, `[κ, supercell atom,
      image]`.
    - `basis_index`: the atom of the cell that each supercell atom is a copy of, `[supercell
      atom]`.
    - `masses`: `[κ]`, Da. `cell`: cell vectors as rows, `[3, 3]`, nm.
    """

    phi: Float[Array, "basis 3 super 3"]
    images: Float[Array, "basis super image 3"]
    weights: Float[Array, "basis super image"]
    basis_index: Int[Array, " super"]
    masses: Float[Array, " basis"]
    cell: Float[Array, "3 3"]

    @property
    def n_branches(self) -> int:
        """3 × atoms in the cell."""
        return 3 * self.masses.shape[0]

    def dynamical_matrix(self, q: Float[Array, "3"]) -> Complex[Array, "dof dof"]:
        """D(q) `[3n, 3n]` (ps⁻², complex Hermitian) at one wavevector `q` in reduced
        coordinates (units of the reciprocal cell vectors, 2π included: q_cart = q·2πh⁻ᵀ).
        Plain array in, plain array out; see the module docstring for the definition."""
        n = self.masses.shape[0]
        q = jnp.asarray(q, dtype=self.images.dtype)
        arg = 2.0 * jnp.pi * jnp.einsum("kjmx,x->kjm", self.images, q)
        w = self.weights.astype(arg.dtype)
        phase = jax.lax.complex(jnp.sum(w * jnp.cos(arg), -1), jnp.sum(w * jnp.sin(arg), -1))
        onehot = (self.basis_index[:, None] == jnp.arange(n)[None, :]).astype(arg.dtype)
        inv_sqrt_m = 1.0 / jnp.sqrt(self.masses[:, None] * self.masses[None, :])  # [κ, κ']
        scaled = jnp.einsum("kajb,jc,kc->kajbc", self.phi, onehot, inv_sqrt_m.astype(arg.dtype))
        d = jnp.einsum("kajbc,kj->kacb", scaled.astype(phase.dtype), phase)
        d = d.reshape(3 * n, 3 * n)
        return 0.5 * (d + jnp.conj(d.T))

    def squared_frequencies(self, q: Float[Array, "... 3"]) -> Float[Array, "... dof"]:
        """ω²(q), the eigenvalues of D(q) sorted ascending, `[..., 3n]`, (rad/ps)².

        `q`: `[..., 3]` reduced coordinates. Plain arrays, jit/grad-safe (see
        `phonon_frequencies` for the treatment of degenerate branches in losses).
        """
        q = jnp.asarray(q)
        flat = q.reshape(-1, 3)
        w2 = jax.vmap(lambda x: jnp.linalg.eigvalsh(self.dynamical_matrix(x)))(flat)
        return w2.reshape(*q.shape[:-1], self.n_branches)


def reduced_q(q: Any) -> np.ndarray:
    """Check and convert wavevectors in reduced coordinates to a float array `[..., 3]`.

    Raises `ValueError` for a wrong shape, a non-numeric or non-finite entry, and
    `TypeError` for a `Quantity` (reduced coordinates are dimensionless numbers)."""
    if hasattr(q, "units") and hasattr(q, "magnitude"):
        raise TypeError(
            f"q-points must be reduced coordinates (plain numbers in units of the reciprocal "
            f"cell vectors, e.g. [0.5, 0, 0.5] for X of fcc), got a Quantity in {q.units}"
        )
    try:
        arr = np.asarray(q, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"q-points must be numbers of shape [3] or [k, 3], got {q!r}") from None
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise ValueError(
            f"q-points must have shape [3] or [..., 3] (reduced coordinates), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"q-points must be finite, got {arr.tolist()}")
    return arr


def _positions_nm_numpy(positions: Any) -> np.ndarray:
    """`[atom, 3]` float64 numpy positions in nm from a length Quantity or a plain array
    (numpy throughout, so that it also works while a caller's `jit` traces the potential)."""
    if hasattr(positions, "units") and hasattr(positions, "magnitude"):
        positions = to_magnitude(positions, "nm", "positions")
    elif isinstance(positions, (int, float)):
        raise UnitError(
            f"positions must be an [atom, 3] array (nm) or a length Quantity, got {positions!r}"
        )
    arr = np.asarray(positions, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"positions must have shape [atom, 3], got {arr.shape}")
    return arr


def _supercell(pos: np.ndarray, cell: np.ndarray, size: tuple[int, int, int]):
    """Positions `[N·n, 3]` (home cell first, then cell after cell) and cell rows."""
    shifts = np.array(list(np.ndindex(*size)), dtype=float) @ cell  # [N, 3], shift 0 first
    spos = (shifts[:, None, :] + pos[None]).reshape(-1, 3)
    return spos, np.diag(np.asarray(size, dtype=float)) @ cell


def _shortest_images(pos, spos, scell, cell):
    """Fractional (cell units) shortest images of spos[j] − pos[κ] under the supercell
    lattice and their equal weights; `[κ, j, m, 3]`, `[κ, j, m]`."""
    inv_s = np.linalg.inv(scell)
    d = spos[None, :, :] - pos[:, None, :]  # [κ, j, 3]
    f = d @ inv_s
    d = (f - np.round(f)) @ scell  # minimum image in fractional sense
    grid = np.array(list(np.ndindex(5, 5, 5)), dtype=float) - 2.0
    cand = d[:, :, None, :] + (grid @ scell)[None, None]  # [κ, j, 125, 3]
    dist = np.linalg.norm(cand, axis=-1)
    short = dist <= dist.min(axis=-1, keepdims=True) + _IMAGE_TOLERANCE
    m = int(short.sum(-1).max())
    order = np.argsort(~short, axis=-1, kind="stable")[..., :m]  # shortest images first
    chosen = np.take_along_axis(cand, order[..., None], axis=2)
    keep = np.take_along_axis(short, order, axis=2)
    weights = keep / keep.sum(-1, keepdims=True)
    return chosen @ np.linalg.inv(cell), weights


def _check_supercell(spos, scell, cell, size, cutoff):
    try:
        _check_images(spos, scell, cutoff)
    except ValueError:
        widths = perpendicular_widths(cell)
        need = tuple(int(np.floor(2.0 * cutoff / w)) + 1 for w in widths)
        raise ValueError(
            f"supercell {tuple(size)} is too small for the potential's cutoff {cutoff:.4g} nm: "
            "an atom has more than one periodic image within it (smallest perpendicular width "
            f"{float(perpendicular_widths(scell).min()):.4g} nm); use supercell={need} or larger"
        ) from None


def _phi_rows(potential, spos, ssystem, n_basis):
    """∂²U/∂u(κ0)∂u(j) for the n_basis home atoms: `[κ, 3, j, 3]` (kJ mol⁻¹ nm⁻²)."""

    def grad_all(u):
        return jax.grad(potential.energy)(spos.at[:n_basis].add(u), ssystem)

    jac = jax.jacfwd(grad_all)(jnp.zeros((n_basis, 3), dtype=spos.dtype))  # [j, 3, κ, 3]
    return jnp.transpose(jac, (2, 3, 0, 1))


_phi_rows_jit = eqx.filter_jit(_phi_rows)


def force_constants(
    potential: AbstractPotential,
    positions: Any,
    system: System,
    supercell: tuple[int, int, int] = (3, 3, 3),
) -> ForceConstants:
    """Harmonic force constants of a periodic crystal from the Hessian of a supercell.

    Φ(κ0, j) = ∂²U/∂u(κ0)∂u(j) by `jax.jacfwd(jax.grad(potential.energy))` on the
    `supercell` replication of the cell (module docstring for the definitions and the
    image convention of the Fourier sum). Differentiable with respect to the potential's
    parameters (call it inside `jax.grad`; the geometry checks use only the positions).

    **Arguments:**

    - `potential`: any `AbstractPotential` using the minimum-image convention.
    - `positions`: `[atom, 3]` of the cell (a length `Quantity` or a plain array in nm), at
      mechanical equilibrium (the harmonic expansion is about a minimum; residual forces are
      not checked here). Give the primitive cell for unfolded phonon bands.
    - `system`: `System` of the cell with its periodic `box` (`[3]` edges or `[3, 3]` rows,
      nm) and `masses` (Da).
    - `supercell`: replications `(N₁, N₂, N₃)` along the cell vectors; the potential's
      `cutoff` must leave every pair of the supercell at most one periodic image within it.

    **Returns:** a `ForceConstants`, with `dynamical_matrix(q)` and
    `squared_frequencies(q)`; see `phonon_frequencies`, `phonon_bands`, `phonon_dos`.

    Raises `ValueError` for a non-periodic system, a supercell that is not three positive
    integers, or one too small for the cutoff (the message names a large enough one).
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a spectrinv System, got {type(system).__name__}")
    if system.box is None:
        raise ValueError(
            "phonons need a periodic crystal: system.box is None; give the cell vectors "
            "(e.g. the primitive cell of the crystal)"
        )
    size = tuple(int(n) for n in np.ravel(supercell))
    if len(size) != 3 or min(size) < 1 or not np.allclose(np.ravel(supercell), size):
        raise ValueError(f"supercell must be three positive integers, got {supercell!r}")
    if isinstance(positions, jax.core.Tracer) or isinstance(system.box, jax.core.Tracer):
        raise TypeError(
            "force_constants needs concrete positions and box (the geometry is checked and "
            "the supercell built in numpy); only the potential may be traced (jit/grad with "
            "respect to its parameters), so close over the positions"
        )
    pos = _positions_nm_numpy(positions)
    n = pos.shape[0]
    if n != system.n_atoms:
        raise ValueError(f"positions have {n} atoms but the system has {system.n_atoms}")
    box = np.asarray(system.box, dtype=float)
    cell = np.diag(box) if box.ndim == 1 else box
    if not abs(np.linalg.det(cell)) > 0:
        raise ValueError(f"the cell has zero volume: box = {cell.tolist()}")
    spos, scell = _supercell(pos, cell, size)
    if potential.cutoff is not None:
        _check_supercell(spos, scell, cell, size, float(potential.cutoff))
    images, weights = _shortest_images(pos, spos, scell, cell)
    copies = int(np.prod(size))
    ssystem = System(
        box=jnp.asarray(scell),
        species=jnp.tile(system.species, copies),
        masses=jnp.tile(system.masses, copies),
        charges=None if system.charges is None else jnp.tile(system.charges, copies),
        species_names=system.species_names,
    )
    phi = _phi_rows_jit(potential, jnp.asarray(spos), ssystem, n)
    return ForceConstants(
        phi=phi,
        images=jnp.asarray(images),
        weights=jnp.asarray(weights),
        basis_index=jnp.asarray(np.tile(np.arange(n), copies)),
        masses=jnp.asarray(system.masses, dtype=float),
        cell=jnp.asarray(cell),
    )
