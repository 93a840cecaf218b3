r"""`HeatFlux`: the energy current of a local (pair or many-body) potential."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..potentials import AbstractLocalPotential, AbstractPotential, neighbour_table
from ._base import AbstractRecorder, Frame

__all__ = ["HeatFlux"]


class HeatFlux(AbstractRecorder):
    r"""Energy current of a local potential (pair or many-body), `[3]`, kJ mol⁻¹ · nm ps⁻¹
    (extensive).

    $$\mathbf J = \sum_i e_i\,\mathbf v_i
      - \sum_i \sum_{k \in \mathrm{nbr}(i)} \mathbf r_{ik}\,
        \Big(\frac{\partial U_i}{\partial \mathbf r_{ik}} \cdot \mathbf v_k\Big),
    \qquad e_i = \tfrac12 m_i v_i^2 + U_i,$$

    with $\mathbf r_{ik} = \mathbf r_k - \mathbf r_i$ (minimum image) and $U_i$ the site energies
    of an `AbstractLocalPotential`, each a function of atom $i$'s own neighbour vectors.

    **Derivation and sign convention.** With $\dot e_i = m_i\mathbf v_i\cdot\dot{\mathbf v}_i
    + \sum_j (\partial U_i/\partial\mathbf r_j)\cdot\mathbf v_j$ and
    $m_i\dot{\mathbf v}_i = -\sum_j \partial U_j/\partial\mathbf r_i$,

    $$\frac{d}{dt}\sum_i \mathbf r_i e_i = \sum_i e_i\mathbf v_i
      + \sum_i\sum_j (\mathbf r_j - \mathbf r_i)
        \Big(\frac{\partial U_j}{\partial \mathbf r_i}\cdot\mathbf v_i\Big).$$

    Since $U_j$ depends on $\mathbf r_i$ only through $\mathbf r_{ji} = \mathbf r_i - \mathbf r_j$,
    $\partial U_j/\partial\mathbf r_i = \partial U_j/\partial\mathbf r_{ji}$, which gives the
    expression above (renaming $j \to i$, $i \to k$). It is the many-body potential term of
    Fan et al. (2015), $\mathbf J_{\rm pot} = \sum_i\sum_j \mathbf r_{ij}
    (\partial U_j/\partial\mathbf r_{ji}\cdot\mathbf v_i)$, whose $\mathbf r_{ij}$ is
    $\mathbf r_j - \mathbf r_i$. In a periodic system the energy moment $\sum_i\mathbf r_i e_i$
    is not defined, but every term of $\mathbf J$ involves only the minimum-image vectors
    between interacting atoms, so $\mathbf J$ is. The tests check
    $\mathbf J = d/dt\sum_i \mathbf r_i e_i$ along NVE trajectories of Stillinger–Weber and EDIP
    clusters and for a flexible-water cluster (`LocalWater`), and that it reduces to the pair
    form
    $\sum_i e_i\mathbf v_i + \tfrac12\sum_{i\ne j}\mathbf r_{ij}(\mathbf F_{ij}\cdot\mathbf v_i)$
    (Irving & Kirkwood 1950, $\mathbf r_{ij} = \mathbf r_i - \mathbf r_j$) for pair potentials.

    **Computation.** The derivatives $\partial U_i/\partial\mathbf r_{ik}$ for all $i$ and all
    neighbour slots $k$ come from one reverse-mode gradient of $\sum_i U_i$ with respect to the
    `[atom, nbr, 3]` neighbour displacement table (each row enters only its own site energy):
    cost a small multiple of one energy evaluation, no per-atom Jacobian.

    **Pitfalls.**

    - The split of the energy into $U_i$ is a convention (for SW and EDIP, the three-body term
      centred on atom $i$ is assigned to $i$). Other splits give another instantaneous
      $\mathbf J$; the Green–Kubo conductivity does not depend on the split (the fluxes differ
      by the time derivative of a bounded quantity: Marcolongo, Umari & Baroni, Nat. Phys.
      12, 80 (2016)), but finite-time estimates can.
    - The LAMMPS `compute heat/flux` with the ordinary per-atom (non-centroid) stress
      $\mathbf J_{\rm pot} = -\sum_i \mathbf S_i\mathbf v_i$ is *not* this flux for many-body
      potentials: it assumes pairwise-additive forces and underestimates κ of many-body
      models (Fan et al. 2015); with the centroid per-atom stress
      (`compute centroid/stress/atom`) it gives the correct many-body flux (Surblys et al.,
      Phys. Rev. E 99, 051301 (2019)).
    - Only the energy of a local potential is covered: Ewald (reciprocal-space) energies have
      no per-atom split of this form and are refused. Flexible water with damped-shifted-force
      electrostatics is covered through `spectrinv.potentials.LocalWater(model)`, whose split
      gives bonds half to each atom, the angle to the oxygen and pair terms half to each atom.

    Units: `[3]`, kJ mol⁻¹ · nm ps⁻¹ (extensive). Thermal conductivity:
    `observables.ThermalConductivity`.

    ??? cite
        Z. Fan, L. F. C. Pereira, H.-Q. Wang, J.-C. Zheng, D. Donadio and A. Harju, "Force and
        heat current formulas for many-body potentials in molecular dynamics simulations with
        applications to thermal conductivity calculations", Phys. Rev. B 92, 094301 (2015);
        J. H. Irving and J. G. Kirkwood, J. Chem. Phys. 18, 817 (1950).
    """

    field: ClassVar[str] = "heat_flux"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame: Frame, potential: AbstractPotential) -> Array:
        if not isinstance(potential, AbstractLocalPotential):
            raise TypeError(
                f"HeatFlux needs per-atom energies (an AbstractLocalPotential: pair potentials, "
                f"StillingerWeber, EDIP, LocalWater); {type(potential).__name__} does not "
                "provide them (a FlexibleWater with DampedShiftedForce electrostatics does "
                "when wrapped: LocalWater(model))."
            )
        pos, vel, system = frame.positions, frame.velocities, frame.system
        dtype = pos.dtype
        name = type(potential).__name__
        dr, mask, idx = neighbour_table(pos, system, frame.neighbors, name)

        def total(table):
            sites = potential.site_energies(table, mask, idx, system)
            return jnp.sum(sites), sites

        grad, site = jax.grad(total, has_aux=True)(dr)  # grad[i, k] = ∂U_i/∂r_ik
        padded = jnp.concatenate([vel, jnp.zeros((1, 3), vel.dtype)], axis=0)
        v_k = padded[jnp.where(mask, idx, pos.shape[0])]  # [atom, nbr, 3]
        power = jnp.sum(grad * v_k, axis=-1)  # ∂U_i/∂r_ik · v_k
        m = system.masses.astype(dtype)
        e = 0.5 * m * jnp.sum(vel * vel, axis=-1) + site
        return e @ vel - jnp.einsum("ika,ik->a", dr, power)
