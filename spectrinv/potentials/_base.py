"""Interface of energy models: `System` (what is being simulated) and `AbstractPotential`.

Internal units throughout (nm, ps, Da, kJ/mol, e); see `observables.INTERNAL_UNITS`.
Parameters of a potential are the floating-point array leaves of the module, so a fit
optimises `eqx.filter(potential, eqx.is_inexact_array)` and freezes or ties parameters with
equinox filters / `eqx.tree_at`.

Geometry helpers shared by every potential:

- `minimum_image(dr, box)`: minimum-image displacement for no box, an orthorhombic `[3]` box
  or a triclinic `[3, 3]` box (cell vectors as rows). Exact whenever |dr| is below half the
  shortest perpendicular width of the cell (see `perpendicular_widths`), which the backends
  enforce for the cutoff.
- `neighbor_pairs(positions, system, neighbors)`: displacement vectors `r_j - r_i` to the
  neighbours of each atom plus a mask of real (non-padded, non-self) slots, for a jax-md
  `Dense` neighbour list or all pairs when `neighbors` is `None`.
- `System.displacement(ra, rb)`: `minimum_image(ra - rb, box)`.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

import observables as ob


class Topology(eqx.Module):
    """Bonded structure: index arrays (atoms are 0-based). Empty arrays when absent.

    - `bonds`: `[n_bond, 2]`; `angles`: `[n_angle, 3]` (middle atom in column 1);
    - `molecule`: `[atom]` molecule index of each atom (for molecular dipoles, exclusions);
    - `exclusions`: `[n_excl, 2]` pairs whose non-bonded interaction is removed.
    """

    bonds: Int[Array, "bond 2"]
    angles: Int[Array, "angle 3"]
    molecule: Int[Array, " atom"]
    exclusions: Int[Array, "excl 2"]


class System(eqx.Module):
    """What is simulated apart from the coordinates: box, species, masses, charges, topology.

    - `box`: `[3]` orthorhombic edges or `[3, 3]` triclinic cell vectors as **rows** (nm);
      `None` for no periodic boundaries.
    - `species`: `[atom]` int; `masses`: `[atom]` Da; `charges`: `[atom]` e (optional).
    - `topology`: `Topology` or `None`.
    """

    box: Float[Array, "..."] | None
    species: Int[Array, " atom"]
    masses: Float[Array, " atom"]
    charges: Float[Array, " atom"] | None = None
    topology: Topology | None = None
    species_names: tuple[str, ...] | None = eqx.field(static=True, default=None)

    @property
    def n_atoms(self) -> int:
        return self.species.shape[0]

    @property
    def box_matrix(self) -> Float[Array, "3 3"]:
        if self.box is None:
            raise ValueError("system is not periodic")
        return jnp.diag(self.box) if self.box.ndim == 1 else self.box

    def displacement(self, ra: Float[Array, "... 3"], rb: Float[Array, "... 3"]) -> Array:
        """Minimum-image displacement `ra - rb` (nm); plain difference without a box."""
        return minimum_image(ra - rb, self.box)


def minimum_image(dr: Float[Array, "... 3"], box: Array | None) -> Float[Array, "... 3"]:
    """Minimum-image convention for a displacement `dr` (nm).

    `box`: `None` (no periodicity), `[3]` orthorhombic edges or `[3, 3]` cell vectors as rows
    (delegated to `observables.minimum_image`, which wraps fractional components into
    [-1/2, 1/2]; exact whenever |dr_nearest| < w_min / 2, with w_min the smallest
    perpendicular width of the cell).
    """
    if box is None:
        return dr
    box = box.astype(dr.dtype)
    if box.ndim == 1:
        return dr - box * jnp.round(dr / box)
    return ob.minimum_image(dr, box)


def perpendicular_widths(box: Any) -> np.ndarray:
    """Distances between opposite faces of the cell (nm), `[3]`; concrete boxes only.

    A pair interaction with cutoff r_c is evaluated correctly by the minimum-image
    convention only if r_c < min(widths) / 2. (`observables.perpendicular_widths` for a
    box given as edge lengths `[3]` or cell vectors `[3, 3]`.)
    """
    b = np.asarray(box, dtype=float)
    return b.copy() if b.ndim == 1 else ob.perpendicular_widths(b)


def neighbor_pairs(
    positions: Float[Array, "atom 3"], system: System, neighbors: Any = None
) -> tuple[Float[Array, "atom nbr 3"], Any, Int[Array, "atom nbr"]]:
    """Displacements to neighbours, a validity mask and the neighbour indices.

    **Returns:** `(dr, mask, idx)` with `dr[i, k] = r_idx[i,k] - r_i` (minimum image, nm),
    `mask[i, k]` true for a real neighbour (padded slots of a jax-md `Dense` list hold the
    index `n_atoms` and are false; so is the self pair), and `idx`. Every pair appears twice
    (once from each side): pair energies summed over the mask need a factor 1/2.
    With `neighbors=None` all pairs are returned (`idx[i, k] = k`, self masked).

    Padded slots get `dr = 0`; callers must not divide by |dr| there without a guard (use
    `jnp.where(mask, r2, safe_value)` before `sqrt`/division so reverse-mode gradients stay
    finite: the backward pass of an unguarded division computes 0·inf = NaN even where the
    forward pass masks the value out).
    """
    n = positions.shape[0]
    if neighbors is None:
        idx = jnp.broadcast_to(jnp.arange(n)[None, :], (n, n))
        mask = idx != jnp.arange(n)[:, None]
    else:
        idx = neighbors.idx
        mask = idx < n
    padded = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0)
    safe_idx = jnp.where(mask, idx, n)
    dr = minimum_image(padded[safe_idx] - positions[:, None, :], system.box)
    dr = jnp.where(mask[..., None], dr, jnp.zeros((), positions.dtype))
    return dr, mask, idx


def switch_c2(r: Array, r_on: float, r_off: float) -> Array:
    """The quintic switch S(r) = 1 − 10x³ + 15x⁴ − 6x⁵, x = (r − r_on)/(r_off − r_on) clipped
    to [0, 1]: S = 1 below `r_on`, 0 beyond `r_off`, with S' and S'' zero at both ends, so
    S(r)·u(r) of a smooth u is twice continuously differentiable (C²) everywhere."""
    x = jnp.clip((r - r_on) / (r_off - r_on), 0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


class AbstractPotential(eqx.Module):
    """An energy model U(positions; θ) in kJ/mol.

    Subclasses implement `energy`. Forces are `-jax.grad(energy)`. `cutoff` (nm) tells the
    backend which neighbour list to build (`None`: all pairs / no neighbour list needed).

    Contract for `neighbors`: `None`, or a jax-md `NeighborList` in `Dense` format whose
    padded slots hold the index `n_atoms`. Implementations must give finite parameter
    gradients with padded slots present (guard r = 0 before dividing: the backward pass of
    an unguarded division gives 0·inf = NaN even where the forward pass masks it).
    `neighbor_pairs` (this module) returns minimum-image pair vectors and the validity mask
    for either case.

    Lists built by `spectrinv.backends.JaxMDBackend` hold every pair within
    `cutoff + skin` (they are rebuilt when an atom has moved skin/2), so an implementation
    must still apply its own cutoff. Positions passed in are **unwrapped** Cartesian
    coordinates (nm); use `minimum_image` / `System.displacement` for pair vectors.
    """

    @property
    @abc.abstractmethod
    def cutoff(self) -> float | None:
        """Interaction range in nm used for neighbour lists (`None`: no list)."""

    @abc.abstractmethod
    def energy(
        self,
        positions: Float[Array, "atom 3"],
        system: System,
        neighbors: Any = None,
    ) -> Float[Array, ""]:
        """Potential energy (kJ/mol) of one configuration (nm)."""
