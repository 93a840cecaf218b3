"""`LocalWater`: a flexible water model written as a sum of per-atom site energies."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._base import System
from ._electrostatics import DampedShiftedForce, Pairs
from ._local import AbstractLocalPotential
from ._water import OXYGEN, FlexibleWater, angle_between

__all__ = ["LocalWater"]


class LocalWater(AbstractLocalPotential):
    r"""`FlexibleWater` (DSF electrostatics or none) as a sum of site energies.

    The same energy as the wrapped `FlexibleWater` (with damped-shifted-force electrostatics or
    none), split over atoms so that `spectrinv.backends.HeatFlux` can compute its energy current:

    - each O–H bond energy: half to the oxygen, half to the hydrogen;
    - each H–O–H angle energy: to the oxygen (a function of its two O→H vectors);
    - each intermolecular Lennard-Jones (O–O) and DSF pair term: half to each atom;
    - the DSF self term $-c\,(\sum_i q_i^2 + 2\sum_{\rm excl} q_iq_j) = -c\sum_i q_i Q_{{\rm
      mol}(i)}$ with $c = (4\pi\varepsilon_0)^{-1}[{\rm erfc}(\alpha R_c)/2R_c +
      \alpha/\sqrt\pi]$: $-c\,q_i Q_{{\rm mol}(i)}$ to atom $i$ (constant at fixed charges);
    - the LJ tail correction (if on): equally over all atoms (a constant at fixed volume).

    Each site energy depends only on the vectors from its atom to atoms of the neighbour table
    (intramolecular partners are within any useful cutoff), as `AbstractLocalPotential`
    requires. Ewald (and any reciprocal-space) electrostatics has no such split and is refused.
    Molecules must be (O, H, H) triples as built by `water_box` / `water_system`.

    **Arguments:** `model`, a `FlexibleWater` whose `electrostatics` is a
    `DampedShiftedForce` or `None` (else `ValueError`). `energy` equals `model.energy`
    (to rounding); `atom_energies` gives the split above,
    and `HeatFlux` accepts it. Its parameters are the model's (`LocalWater(model).model`).
    """

    model: FlexibleWater

    def __init__(self, model: FlexibleWater):
        if not isinstance(model, FlexibleWater):
            raise TypeError(f"LocalWater wraps a FlexibleWater, got {type(model).__name__}")
        elec = model.electrostatics
        if elec is not None and not isinstance(elec, DampedShiftedForce):
            raise ValueError(
                f"LocalWater needs pairwise electrostatics (DampedShiftedForce or None); "
                f"{type(elec).__name__} has a reciprocal-space part with no per-atom split"
            )
        self.model = model

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    def site_energies(self, dr, mask, idx, system: System):
        model = self.model
        if system.topology is None:
            raise ValueError(
                "LocalWater needs a System with a Topology; build one with water_box()."
            )
        n, m = mask.shape
        dtype = dr.dtype
        safe = jnp.where(mask, idx, 0)
        molecule = system.topology.molecule
        same = mask & (molecule[:, None] == molecule[safe])
        species = system.species
        d2 = jnp.sum(dr * dr, axis=-1)
        r = jnp.sqrt(jnp.where(same, d2, 1.0))
        # bonds: the intramolecular O–H slots of every row, half each
        bond = same & (species[:, None] != species[safe])
        e_bond = 0.5 * jnp.sum(jnp.where(bond, model.bond(r), 0.0), axis=1)
        # angle at each oxygen, from its first two intramolecular slots (the two hydrogens)
        count = jnp.cumsum(same, axis=1)
        first = (same & (count == 1))[..., None]
        second = (same & (count == 2))[..., None]
        is_o = species == OXYGEN
        unit = jnp.zeros((3,), dtype).at[0].set(1.0)
        u = jnp.where(is_o[:, None], jnp.sum(jnp.where(first, dr, 0.0), axis=1), unit)
        v = jnp.where(is_o[:, None], jnp.sum(jnp.where(second, dr, 0.0), axis=1), unit[::-1])
        e_angle = jnp.where(is_o, model.angle(angle_between(u, v)), 0.0)
        # intermolecular pair terms, half to each atom: one row of candidate pairs per atom
        charges = model.charges(system)
        dummy = jnp.zeros((n, 3), dtype)  # DSF and LJ read only the pair vectors

        def row(i, dr_i, j_i, valid_i):
            pairs = Pairs(i=jnp.full((m,), i), j=j_i, dr=-dr_i, valid=valid_i, weight=0.5)
            return model.pair_energy(dummy, system, pairs)

        inter = mask & ~same
        rows = jax.vmap(row)(jnp.arange(n), dr, safe, inter)
        # each row also carries the whole DSF self term S(q): remove it, then give atom i its
        # share ½ q_i ∂S/∂q_i (S is a quadratic form in q, so the shares sum to S)
        none = Pairs(
            i=jnp.zeros((1,), safe.dtype),
            j=jnp.zeros((1,), safe.dtype),
            dr=jnp.ones((1, 3), dtype),
            valid=jnp.zeros((1,), bool),
            weight=0.5,
        )
        e_pair = rows - model.pair_energy(dummy, system, none)
        if model.electrostatics is not None:

            def self_term(q):
                return model.electrostatics.coulomb(dummy, q, system, none)

            e_pair = e_pair + 0.5 * charges * jax.grad(self_term)(charges)
        total = e_bond + e_angle + e_pair
        if model.tail_correction:
            total = total + model.lj_tail_energy(system) / n
        return total
