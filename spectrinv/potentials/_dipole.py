"""Dipole models: total cell dipole M (e·nm) of one configuration.

Every model is an equinox module called as `model(positions, system) -> M [3]` (internal
units: positions nm, charges e, M e·nm), jit/vmap/grad safe, so a backend can record it per
frame and a fit can differentiate through it.

**Molecule-wise minimum image.** Each molecule is unwrapped around its first atom
(r_i → r_a + mic(r_i - r_a), with a the lowest-index atom of i's molecule) before
M = Σ_i q_i r_i, so the dipole of a neutral molecule never jumps when one of its atoms
crosses the box boundary. Molecules must be smaller than half the box. For charged
molecules (ions) M still depends on where their anchor atom sits in the box (the usual
ambiguity of the dipole of a periodic system); use the charge current for ionic
conductivity instead.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ._base import System, minimum_image
from ._bonded import bond_angles, bond_lengths

__all__ = [
    "AbstractDipoleModel",
    "PointChargeDipole",
    "BondChargeFluxDipole",
    "ChargeFluxDipole",
    "unwrap_molecules",
]


def unwrap_molecules(positions: Float[Array, "atom 3"], system: System) -> Float[Array, "atom 3"]:
    """Positions with every molecule made whole around its first (lowest-index) atom (nm).

    Without a topology or a box the positions are returned unchanged.
    """
    if system.box is None or system.topology is None:
        return positions
    mol = system.topology.molecule
    n = positions.shape[0]
    first = jax.ops.segment_min(jnp.arange(n), mol, num_segments=n)
    anchor = first[mol]
    ref = positions[anchor]
    return ref + minimum_image(positions - ref, system.box)


class AbstractDipoleModel(eqx.Module):
    """`(positions [atom, 3] nm, system) -> total dipole [3] e·nm`."""

    @abc.abstractmethod
    def charges(self, positions: Float[Array, "atom 3"], system: System) -> Float[Array, " atom"]:
        """Per-atom charges (e) in this configuration."""

    def __call__(self, positions: Float[Array, "atom 3"], system: System) -> Float[Array, "3"]:
        q = self.charges(positions, system)
        return q @ unwrap_molecules(positions, system)


class PointChargeDipole(AbstractDipoleModel):
    """M = Σ_i q_i r_i with fixed charges.

    **Arguments:** `charges`: a `[atom]` charge Quantity, or None to use `system.charges`
    at call time. For a water model with fitted charges use `FlexibleWater.charges(system)`
    (wrapped in a Quantity) or `PointChargeDipole.from_model(model, system)`.
    """

    fixed_charges: Float[Array, " atom"] | None

    def __init__(self, charges: Any = None):
        self.fixed_charges = (
            None
            if charges is None
            else jnp.asarray(to_magnitude(charges, "elementary_charge", "charges"), dtype=float)
        )

    @classmethod
    def from_model(cls, model: Any, system: System) -> PointChargeDipole:
        """Charges taken from a potential exposing `charges(system)` (e.g. `FlexibleWater`);
        they stay leaves of this module (tie them with `eqx.tree_at` when fitting both)."""
        out = cls()
        return eqx.tree_at(
            lambda d: d.fixed_charges, out, model.charges(system), is_leaf=lambda x: x is None
        )

    def charges(self, positions, system):
        if self.fixed_charges is not None:
            return self.fixed_charges
        if system.charges is None:
            raise ValueError("PointChargeDipole(charges=None) needs a System with charges")
        return system.charges


class BondChargeFluxDipole(AbstractDipoleModel):
    r"""Geometry-dependent charges: a charge flux along each bond.

    For bond b = (i, j) (rows of `topology.bonds`, i the central atom, e.g. O–H):

    $$q_j = q_j^0 + \partial_r q\,(r_b - r_0),\qquad q_i = q_i^0 - \partial_r q\,(r_b - r_0)$$

    summed over bonds, so every molecule stays neutral. This is the linear charge-flux model
    that gives flexible water its enhanced O–H stretch IR intensity (the dipole derivative
    along the bond exceeds q_H). Base charges q⁰ are `system.charges` (or `charges`).

    **Arguments:** `flux`: ∂q/∂r, a charge/length Quantity (e.g. `Quantity(1.0, "e/angstrom")`);
    `r0`: reference bond length Quantity; `charges`: optional base charges Quantity.
    Leaves `flux` and `r0` are fittable.
    """

    flux: Float[Array, ""]
    r0: Float[Array, ""]
    base_charges: Float[Array, " atom"] | None

    def __init__(self, flux: Any, r0: Any, charges: Any = None):
        self.flux = jnp.asarray(to_magnitude(flux, "elementary_charge/nm", "flux"), dtype=float)
        self.r0 = jnp.asarray(to_magnitude(r0, "nm", "r0"), dtype=float)
        self.base_charges = (
            None
            if charges is None
            else jnp.asarray(to_magnitude(charges, "elementary_charge", "charges"), dtype=float)
        )

    def charges(self, positions, system):
        q0 = _base_charges(self, system, "BondChargeFluxDipole", "bonds")
        return _add_bond_flux(q0, self.flux, self.r0, positions, system)


class ChargeFluxDipole(AbstractDipoleModel):
    r"""Geometry-dependent charges with a bond and an angle charge flux (for water-like
    molecules: bonds O–H with the central atom first, angles H–O–H with it in the middle).

    $$\Delta q_j = j_r\,(r_b - r_0)\ \text{for each bond } b = (i, j),\qquad
    \Delta q_k = \Delta q_l = j_\theta\,(\theta_a - \theta_0)\ \text{for each angle }
    a = (k, i, l),$$

    with the opposite total put on the central atom i, so every molecule stays neutral:
    $q = s\,q^0 + \Delta q$, $\mathbf M = \sum_i q_i \mathbf r_i$ (molecules unwrapped),
    with $s$ = `charge_scale` (default 1) scaling the base charges: the permanent dipole,
    hence the librational intensity. A fixed-charge model's charges are tuned for the
    energy (they mimic the liquid's polarisation), not for the dipole that the IR field
    couples to, and without electronic polarisation or local-field factors the dipole
    surface of the spectrum need not carry the same charges.
    The bond flux $j_r$ raises the O–H stretch intensity (the dipole derivative along the
    bond becomes $q_H + j_r r$ instead of $q_H$), the angle flux $j_\theta$ the H–O–H bend
    intensity; neither changes the dipole at the reference geometry. This is the linear
    charge-flux model of Dinur & Hagler and of AMOEBA+CF, here used as a dipole surface for
    spectra (the energy's charges stay fixed unless the potential uses these charges too).

    **Arguments (Quantities):** `bond_flux` $j_r$ (charge/length, e.g. `"e/angstrom"`),
    `r0` (length), `angle_flux` $j_\theta$ (charge per radian, `"e"` or `"e/rad"`),
    `theta0` (angle, e.g. `"degree"`); `charge_scale` $s$ (a number, default 1);
    `charges`: optional base charges $q^0$ (default: `system.charges` at call time).
    Leaves `bond_flux`, `r0`, `angle_flux`, `theta0`, `charge_scale` are fittable
    (internal units e/nm, nm, e/rad, rad, 1).

    ??? cite
        U. Dinur and A. T. Hagler, "Geometry-dependent atomic charges: methodology and
        application to alkanes, aldehydes, ketones, and amides", J. Comput. Chem. 16, 154
        (1995); C. Liu, J.-P. Piquemal and P. Ren, "Implementation of geometry-dependent
        charge flux into the polarizable AMOEBA+ potential", J. Phys. Chem. Lett. 11, 419
        (2020).
    """

    bond_flux: Float[Array, ""]
    r0: Float[Array, ""]
    angle_flux: Float[Array, ""]
    theta0: Float[Array, ""]
    charge_scale: Float[Array, ""]
    base_charges: Float[Array, " atom"] | None

    def __init__(
        self,
        bond_flux: Any,
        r0: Any,
        angle_flux: Any = None,
        theta0: Any = None,
        charges: Any = None,
        charge_scale: Any = 1.0,
    ):
        self.bond_flux = jnp.asarray(
            to_magnitude(bond_flux, "elementary_charge/nm", "bond_flux"), dtype=float
        )
        self.r0 = jnp.asarray(to_magnitude(r0, "nm", "r0"), dtype=float)
        if (angle_flux is None) != (theta0 is None):
            raise ValueError("ChargeFluxDipole: give angle_flux and theta0 together (or neither)")
        self.angle_flux = jnp.asarray(
            0.0 if angle_flux is None else _charge_per_radian(angle_flux), dtype=float
        )
        self.theta0 = jnp.asarray(
            0.0 if theta0 is None else to_magnitude(theta0, "radian", "theta0"), dtype=float
        )
        self.base_charges = (
            None
            if charges is None
            else jnp.asarray(to_magnitude(charges, "elementary_charge", "charges"), dtype=float)
        )
        if isinstance(charge_scale, Quantity):
            charge_scale = to_magnitude(charge_scale, "dimensionless", "charge_scale")
        self.charge_scale = jnp.asarray(charge_scale, dtype=float)
        if self.charge_scale.ndim != 0:
            raise ValueError(f"charge_scale must be a number, got shape {self.charge_scale.shape}")
        for name in ("bond_flux", "r0", "angle_flux", "theta0", "charge_scale"):
            if not bool(jnp.isfinite(getattr(self, name))):
                raise ValueError(f"ChargeFluxDipole: {name} must be finite")

    def charges(self, positions, system):
        q0 = _base_charges(self, system, "ChargeFluxDipole", "bonds, angles")
        q = _add_bond_flux(self.charge_scale * q0, self.bond_flux, self.r0, positions, system)
        a = system.topology.angles
        if a.shape[0] == 0:
            return q
        dqa = self.angle_flux * (bond_angles(positions, system) - self.theta0)
        return q.at[a[:, 0]].add(dqa).at[a[:, 2]].add(dqa).at[a[:, 1]].add(-2.0 * dqa)


def _base_charges(model: Any, system: System, who: str, needs: str) -> Float[Array, " atom"]:
    """The model's base charges q⁰ (its own, else `system.charges`), after checking that the
    system has them and a topology."""
    q0 = model.base_charges if model.base_charges is not None else system.charges
    if q0 is None:
        raise ValueError(f"{who} needs base charges (argument or System.charges)")
    if system.topology is None:
        raise ValueError(f"{who} needs a System with a Topology ({needs})")
    return q0


def _add_bond_flux(q, flux, r0, positions, system) -> Float[Array, " atom"]:
    """q + the bond charge flux: +flux·(r_b − r0) on each bond's second atom, minus that on
    its first (central) atom."""
    b = system.topology.bonds
    dq = flux * (bond_lengths(positions, system) - r0)
    return q.at[b[:, 1]].add(dq).at[b[:, 0]].add(-dq)


def _charge_per_radian(value: Any) -> float:
    """A charge per radian in e/rad (radians are dimensionless: a plain charge reads as per
    radian)."""
    return float(to_magnitude(value, "elementary_charge/radian", "angle_flux"))
