r"""Zero-temperature elastic constants of a periodic crystal by automatic differentiation.

**Definition.** A homogeneous deformation with the symmetric deformation gradient
$F = (I + 2\eta)^{1/2}$ maps reference positions $R_i$ and cell vectors (rows of $h$) to
$r_i = F(R_i + u_i)$, $h' = hF^\mathsf{T}$; $\eta$ is the Lagrangian (Green–St Venant)
strain, $F^\mathsf{T}F = I + 2\eta$, and $u_i$ are internal displacements (in reference
coordinates). With the energy $U(\eta, u)$ of the cell and its reference volume $V_0$,

$$ C^0_{IJ} = \frac{1}{V_0}\frac{\partial^2 U}{\partial\eta_I\,\partial\eta_J}\Big|_0,
   \qquad
   C_{IJ} = C^0_{IJ} - \frac{1}{V_0}\,\Lambda_I^\mathsf{T} H^{-1} \Lambda_J,$$

$$ \Lambda_{kI} = \frac{\partial^2 U}{\partial u_k\,\partial\eta_I}\Big|_0, \qquad
   H_{kl} = \frac{\partial^2 U}{\partial u_k\,\partial u_l}\Big|_0, $$

in Voigt notation with engineering shear strains ($\eta_1 = \eta_{xx}$, $\eta_2 = \eta_{yy}$,
$\eta_3 = \eta_{zz}$, $\eta_4 = 2\eta_{yz}$, $\eta_5 = 2\eta_{xz}$, $\eta_6 = 2\eta_{xy}$), so
that $U/V_0 = U_0/V_0 + \sigma_I\eta_I + \tfrac12 C_{IJ}\eta_I\eta_J + \dots$ after the
internal coordinates have relaxed. $C^0$ (*unrelaxed*, every atom follows the homogeneous
strain) and $C$ (*relaxed*) are the static (0 K) Lagrangian elastic constants; the relaxed
ones follow from minimising the quadratic expansion over $u$,
$u^* = -H^{-1}\Lambda\eta$ (Kleinman's internal strain), which assumes the reference is an
equilibrium of the internal coordinates (zero forces). The three translations are removed by
holding atom 0 fixed ($\Lambda$ is orthogonal to them, so this equals the pseudo-inverse).

Second derivatives are exact at $\eta = 0$ with $F = I + \eta - \tfrac12\eta^2$, the
expansion of $(I + 2\eta)^{1/2}$ to second order (it gives
$F^\mathsf{T}F = I + 2\eta + O(\eta^3)$); everything is `jax.jacfwd` of `jax.grad` of the
potential's energy, so it works for any potential using the minimum-image convention (pair
and many-body) and is differentiable with respect to the potential's parameters.

At a stress-free reference these are the usual stress–strain coefficients; at a stressed
one (σ ≠ 0) the stress–strain (Birch) coefficients differ from the Lagrangian ones by terms
linear in σ (Wallace 1972); `strain_hessian(...).stress` reports σ.

??? cite
    M. Born and K. Huang, *Dynamical Theory of Crystal Lattices* (Oxford, 1954) (method of
    homogeneous deformation, internal strain);
    L. Kleinman, "Deformation potentials in silicon. I. Uniaxial strain", Phys. Rev. 128,
    2614 (1962);
    D. C. Wallace, *Thermodynamics of Crystals* (Wiley, 1972) (Lagrangian strain, stressed
    references);
    J. F. Lutsko, "Generalized expressions for the calculation of elastic constants by
    computer simulation", J. Appl. Phys. 65, 2991 (1989) (relaxation term at 0 K).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import Quantity, UnitError, to_magnitude

from ..potentials import AbstractPotential, System, perpendicular_widths

__all__ = [
    "StrainHessian",
    "strain_hessian",
    "elastic_constants",
    "elastic_constants_internal",
    "cubic_constants",
    "deformation_gradient",
    "voigt_strain",
    "GPA_PER_INTERNAL",
]

#: GPa per internal pressure unit (kJ mol⁻¹ nm⁻³, energy per mole of cells): ≈ 1.6605e-3.
GPA_PER_INTERNAL: float = float(to_magnitude(Quantity(1.0, "kJ/mol/nm**3"), "GPa"))


#: Default largest residual force accepted by `elastic_constants(relax=True)`.
_FORCE_TOLERANCE = Quantity(1e-2, "kJ/mol/nm")


def voigt_strain(v: Float[Array, "6"]) -> Float[Array, "3 3"]:
    """Symmetric strain tensor from a Voigt 6-vector with engineering shears.

    `(v1, v2, v3, v4, v5, v6) = (η_xx, η_yy, η_zz, 2η_yz, 2η_xz, 2η_xy)` (dimensionless).
    """
    v = jnp.asarray(v)
    half = 0.5 * v[3:]
    return jnp.stack(
        [
            jnp.stack([v[0], half[2], half[1]]),
            jnp.stack([half[2], v[1], half[0]]),
            jnp.stack([half[1], half[0], v[2]]),
        ]
    )


def deformation_gradient(v: Float[Array, "6"]) -> Float[Array, "3 3"]:
    """`F = I + η − η²/2` for the Lagrangian strain η of the Voigt vector `v`: the symmetric
    (rotation-free) `(I + 2η)^{1/2}` to second order, exact for first and second
    derivatives at η = 0."""
    eta = voigt_strain(v)
    return jnp.eye(3, dtype=eta.dtype) + eta - 0.5 * (eta @ eta)


def _strained_energy(potential, positions, system, neighbors, v, u):
    """U at Voigt strain `v` [6] and internal displacements `u` [atom, 3] (kJ/mol)."""
    f = deformation_gradient(v)
    box = system.box_matrix.astype(positions.dtype)
    strained = eqx.tree_at(lambda s: s.box, system, box @ f.T)
    return potential.energy((positions + u) @ f.T, strained, neighbors)


class StrainHessian(eqx.Module):
    """First and second derivatives of the energy of a periodic cell with respect to the
    Voigt Lagrangian strain η (engineering shears) and internal displacements u, at η = 0,
    u = 0 (internal units; see the module docstring for the definitions).

    **Fields:**

    - `volume`: V₀, nm³.
    - `stress`: σ_I = (1/V₀) ∂U/∂η_I, `[6]`, kJ mol⁻¹ nm⁻³ (tension positive; the negative
      of the static pressure tensor of `spectrinv.backends.Stress`).
    - `forces`: −∂U/∂u, `[atom, 3]`, kJ mol⁻¹ nm⁻¹.
    - `strain_strain`: ∂²U/∂η_I∂η_J, `[6, 6]`, kJ/mol.
    - `strain_internal`: Λ = ∂²U/∂u_k∂η_I, `[3·atom, 6]`, kJ mol⁻¹ nm⁻¹.
    - `internal_internal`: H = ∂²U/∂u_k∂u_l, `[3·atom, 3·atom]`, kJ mol⁻¹ nm⁻² (the
      Γ-point force-constant matrix of the cell).
    """

    volume: Float[Array, ""]
    stress: Float[Array, "6"]
    forces: Float[Array, "atom 3"]
    strain_strain: Float[Array, "6 6"]
    strain_internal: Float[Array, "dof 6"]
    internal_internal: Float[Array, "dof dof"]

    def unrelaxed(self) -> Float[Array, "6 6"]:
        """C⁰ = (1/V₀) ∂²U/∂η∂η, `[6, 6]`, kJ mol⁻¹ nm⁻³."""
        return self.strain_strain / self.volume

    def internal_strain(self) -> Float[Array, "atom 3 6"]:
        """Kleinman's internal strain u* = −H⁻¹Λ: displacement of each atom (nm, reference
        coordinates, atom 0 held fixed) per unit Voigt strain, `[atom, 3, 6]`."""
        lam = self.strain_internal[3:]
        sol = jnp.linalg.solve(self.internal_internal[3:, 3:], lam)
        zero = jnp.zeros((3, 6), dtype=sol.dtype)
        return -jnp.concatenate([zero, sol], axis=0).reshape(-1, 3, 6)

    def relaxed(self) -> Float[Array, "6 6"]:
        """C = C⁰ − Λᵀ H⁻¹ Λ / V₀ (atom 0 fixed), `[6, 6]`, kJ mol⁻¹ nm⁻³."""
        lam = self.strain_internal[3:]
        sol = jnp.linalg.solve(self.internal_internal[3:, 3:], lam)
        return (self.strain_strain - lam.T @ sol) / self.volume


def _strain_hessian(potential, positions, system, neighbors) -> StrainHessian:
    n = positions.shape[0]
    dtype = positions.dtype
    box = system.box_matrix.astype(dtype)

    def energy(z):
        return _strained_energy(potential, positions, system, neighbors, z[:6], z[6:].reshape(n, 3))

    def grad_twice(z):
        g = jax.grad(energy)(z)
        return g, g

    hess, grad = jax.jacfwd(grad_twice, has_aux=True)(jnp.zeros(6 + 3 * n, dtype=dtype))
    volume = jnp.abs(jnp.linalg.det(box))
    return StrainHessian(
        volume=volume,
        stress=grad[:6] / volume,
        forces=-grad[6:].reshape(n, 3),
        strain_strain=hess[:6, :6],
        strain_internal=hess[6:, :6],
        internal_internal=hess[6:, 6:],
    )


def _unrelaxed(potential, positions, system, neighbors) -> Array:
    n = positions.shape[0]
    dtype = positions.dtype
    u0 = jnp.zeros((n, 3), dtype=dtype)

    def energy(v):
        return _strained_energy(potential, positions, system, neighbors, v, u0)

    d2 = jax.hessian(energy)(jnp.zeros(6, dtype=dtype))
    return d2 / jnp.abs(jnp.linalg.det(system.box_matrix.astype(dtype)))


# compiled once per (potential structure, shapes); always called positionally so that the
# cache key does not depend on how the caller passed `neighbors`
_strain_hessian_jit = eqx.filter_jit(_strain_hessian)
_unrelaxed_jit = eqx.filter_jit(_unrelaxed)
_relaxed_jit = eqx.filter_jit(lambda h: h.relaxed())


def strain_hessian(
    potential: AbstractPotential,
    positions: Float[Array, "atom 3"],
    system: System,
    neighbors: Any = None,
) -> StrainHessian:
    """All first and second strain/internal derivatives of U at the reference (plain arrays).

    **Arguments:** `potential`; `positions` `[atom, 3]` in nm (plain array); `system` with a
    periodic `box` (`[3]` or `[3, 3]` rows, nm); `neighbors`: `None` (all pairs) or a Dense
    neighbour list valid for `positions` (its indices are kept while straining).

    **Returns:** a `StrainHessian`. One `jax.jacfwd(jax.grad(U))` over the 6 + 3·atom
    coordinates, compiled with `equinox.filter_jit` (and usable inside `jit`/`grad`/`vmap`,
    e.g. differentiated with respect to the potential's parameters); no input checks (see
    `elastic_constants` for those).
    """
    return _strain_hessian_jit(potential, jnp.asarray(positions), system, neighbors)


def elastic_constants_internal(
    potential: AbstractPotential,
    positions: Float[Array, "atom 3"],
    system: System,
    *,
    relax: bool = True,
    neighbors: Any = None,
) -> Float[Array, "6 6"]:
    """Voigt stiffness `[6, 6]` in kJ mol⁻¹ nm⁻³ (× `GPA_PER_INTERNAL` → GPa), plain arrays.

    Same definition as `elastic_constants` (relaxed C with `relax=True`, unrelaxed C⁰
    otherwise); positions in nm. No input checks, so it can be used under `jit`, `grad`,
    `jacfwd` with respect to the potential's parameters. `relax=False` differentiates only
    with respect to the 6 strains (cheaper).
    """
    if relax:
        return _relaxed_jit(strain_hessian(potential, positions, system, neighbors))
    return _unrelaxed_jit(potential, jnp.asarray(positions), system, neighbors)


def _positions_nm(positions: Any) -> Array:
    if isinstance(positions, Quantity):
        positions = to_magnitude(positions, "nm", "positions")
    elif isinstance(positions, (int, float)):
        raise UnitError(
            f"positions must be an [atom, 3] array (nm) or a length Quantity, got {positions!r}"
        )
    arr = jnp.asarray(positions)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"positions must have shape [atom, 3], got {tuple(arr.shape)}")
    return arr


def _check_images(positions: np.ndarray, box: np.ndarray, cutoff: float) -> None:
    """Raise unless every pair has at most one periodic image within `cutoff` and that image
    is the minimum image (so the minimum-image energy is the true periodic energy)."""
    widths = perpendicular_widths(box)
    if cutoff < 0.5 * float(widths.min()):
        return  # the standard sufficient condition
    inv = np.linalg.inv(box)
    dr = positions[None, :, :] - positions[:, None, :]
    frac = dr @ inv
    d = (frac - np.round(frac)) @ box  # minimum image, [n, n, 3]
    m = int(np.ceil(cutoff / widths.min())) + 1
    grid = np.array(list(np.ndindex(2 * m + 1, 2 * m + 1, 2 * m + 1)), dtype=float) - m
    shifts = grid @ box  # [K, 3]
    dist = np.linalg.norm(d[:, :, None, :] + shifts[None, None], axis=-1)  # [n, n, K]
    within = dist < cutoff
    n = positions.shape[0]
    zero = int(np.flatnonzero(np.all(grid == 0, axis=1))[0])
    within[np.arange(n), np.arange(n), zero] = False  # an atom is not its own neighbour
    counts = within.sum(-1)
    direct = np.linalg.norm(d, axis=-1) < cutoff
    bad = (counts > 1) | ((counts == 1) & ~direct)
    bad[np.arange(n), np.arange(n)] = counts[np.arange(n), np.arange(n)] > 0
    if np.any(bad):
        i, j = (int(k) for k in np.argwhere(bad)[0])
        what = f"atom {i} and its own periodic images" if i == j else f"atoms {i} and {j}"
        raise ValueError(
            f"the cell is too small for the minimum-image convention at the potential's cutoff "
            f"{cutoff:.4g} nm: {what} have {int(counts[i, j])} periodic image(s) within it "
            f"(smallest perpendicular width of the cell {float(widths.min()):.4g} nm). "
            "Replicate the cell (e.g. diamond_lattice(2) instead of diamond_lattice(1)), or, "
            "if the potential's neighbour cutoff includes a safety margin beyond its true "
            "range, remove it (e.g. StillingerWeber(cutoff_margin=0.0))."
        )


def elastic_constants(
    potential: AbstractPotential,
    positions: Any,
    system: System,
    *,
    relax: bool = True,
    neighbors: Any = None,
    force_tolerance: Any = _FORCE_TOLERANCE,
) -> Quantity:
    """Static (0 K) elastic stiffness tensor of a periodic crystal, Voigt `[6, 6]`, in GPa.

    $C_{IJ} = V_0^{-1}\\,\\partial^2 U/\\partial\\eta_I\\partial\\eta_J$ at the reference, η the
    Lagrangian strain in Voigt notation with engineering shears (η₄ = 2η_yz, η₅ = 2η_xz,
    η₆ = 2η_xy; module docstring), cubic axes = the Cartesian axes of the cell. With
    `relax=True` the internal coordinates relax (C = C⁰ − ΛᵀH⁻¹Λ/V₀, Kleinman); this matters
    whenever atoms are not at centres of inversion, e.g. C44 of diamond-structure crystals.
    Elastic constants are intensive: any periodic supercell of the same crystal gives the
    same tensor.

    **Arguments:**

    - `potential`: any `AbstractPotential` using the minimum-image convention.
    - `positions`: `[atom, 3]`, a length `Quantity` or a plain array in nm; the reference
      configuration (for `relax=True` it must be an equilibrium of the internal coordinates:
      relax it first, e.g. with `spectrinv.backends.fire_minimize`).
    - `system`: a `System` with a periodic `box` (`[3]` edges or `[3, 3]` rows, nm).
    - `relax`: relaxed (default) or unrelaxed (homogeneous-strain, "clamped-ion") constants.
    - `neighbors`: `None` (all pairs) or a Dense neighbour list for `positions`.
    - `force_tolerance`: largest residual force (`Quantity`, force per mole) accepted with
      `relax=True` (default 0.01 kJ mol⁻¹ nm⁻¹); `None` skips the check.

    **Returns:** `Quantity` `[6, 6]` in GPa. For use under `jit`/`grad`, see
    `elastic_constants_internal` (same numbers in kJ mol⁻¹ nm⁻³) and `strain_hessian`.

    Raises `ValueError` for a non-periodic system, mismatched shapes, a cell too small for
    the minimum-image convention at `potential.cutoff` (every pair must have at most one
    image within the cutoff), or residual forces above `force_tolerance`.

    ??? cite
        M. Born and K. Huang, *Dynamical Theory of Crystal Lattices* (Oxford, 1954);
        L. Kleinman, Phys. Rev. 128, 2614 (1962). For Stillinger–Weber silicon
        (C11 = 151.4, C12 = 76.4, C44 = 56.4 GPa relaxed): H. Balamane, T. Halicioglu and
        W. A. Tiller, "Comparative study of silicon empirical interatomic potentials",
        Phys. Rev. B 46, 2250 (1992).
    """
    if not isinstance(system, System):
        raise TypeError(f"system must be a spectrinv System, got {type(system).__name__}")
    if system.box is None:
        raise ValueError(
            "elastic constants need a periodic crystal: system.box is None; give the cell "
            "(e.g. from diamond_lattice or fcc_lattice)"
        )
    pos = _positions_nm(positions)
    if pos.shape[0] != system.n_atoms:
        raise ValueError(f"positions have {pos.shape[0]} atoms but the system has {system.n_atoms}")
    box = np.asarray(system.box_matrix, dtype=float)
    if not abs(np.linalg.det(box)) > 0:
        raise ValueError(f"the cell has zero volume: box = {box.tolist()}")
    if potential.cutoff is not None:
        _check_images(np.asarray(pos, dtype=float), box, float(potential.cutoff))
    if relax:
        result = strain_hessian(potential, pos, system, neighbors)
        if force_tolerance is not None:
            tol = float(to_magnitude(force_tolerance, "kJ/mol/nm", "force_tolerance"))
            f = np.linalg.norm(np.asarray(result.forces), axis=-1)
            if not np.all(np.isfinite(f)) or float(f.max()) > tol:
                k = int(np.nanargmax(np.where(np.isfinite(f), f, np.inf)))
                raise ValueError(
                    f"the reference is not an equilibrium: the force on atom {k} is "
                    f"{float(f[k]):.3g} kJ/mol/nm > force_tolerance = {tol:.3g} kJ/mol/nm. "
                    "The relaxed constants expand about an energy minimum of the internal "
                    "coordinates: relax the positions first (spectrinv.backends."
                    "fire_minimize), or pass relax=False for the unrelaxed constants."
                )
        c = _relaxed_jit(result)
    else:
        c = elastic_constants_internal(potential, pos, system, relax=False, neighbors=neighbors)
    return Quantity(np.asarray(c) * GPA_PER_INTERNAL, "GPa")


def cubic_constants(c: Any) -> tuple[Any, Any, Any]:
    """`(C11, C12, C44)` of a Voigt `[6, 6]` stiffness, each the mean of its cubic-symmetry
    equivalents: C11 = ⟨C11, C22, C33⟩, C12 = ⟨C12, C13, C23, C21, C31, C32⟩,
    C44 = ⟨C44, C55, C66⟩.

    A `Quantity` gives quantities in its unit, a numpy array Python floats, a jax array 0-d
    jax arrays (jit/grad-safe). Averaging
    does not check that the tensor is cubic: compare with the full tensor when in doubt.
    """
    if isinstance(c, Quantity):
        c11, c12, c44 = cubic_constants(np.asarray(c.magnitude))
        return Quantity(c11, c.units), Quantity(c12, c.units), Quantity(c44, c.units)
    if jnp.shape(c) != (6, 6):
        raise ValueError(f"expected a Voigt [6, 6] stiffness tensor, got shape {jnp.shape(c)}")
    xp = np if isinstance(c, np.ndarray) else jnp
    c11 = (c[0, 0] + c[1, 1] + c[2, 2]) / 3.0
    c12 = (c[0, 1] + c[0, 2] + c[1, 2] + c[1, 0] + c[2, 0] + c[2, 1]) / 6.0
    c44 = (c[3, 3] + c[4, 4] + c[5, 5]) / 3.0
    if xp is np:
        return float(c11), float(c12), float(c44)
    return c11, c12, c44
