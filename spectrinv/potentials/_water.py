"""Flexible 3-site water: SPC/Fw and q-SPC/Fw, with harmonic or Morse O–H bonds.

U = Σ_bonds U_bond(r_OH) + Σ_angles (k_θ/2)(θ - θ₀)² + Σ_{O–O, inter} U_LJ + U_elec,

with all intramolecular non-bonded pairs excluded (O–H1, O–H2, H1–H2) and the electrostatic
term an `AbstractElectrostatics` object (`Ewald` or `DampedShiftedForce`).

Parameters are array leaves in internal units (kJ/mol, nm, rad, e) — what a fit optimises.
The hydrogen charge is tied to the oxygen charge, q_H = -q_O/2, so every fit keeps the
molecule neutral. Atom convention: species 0 = O, 1 = H; each molecule is (O, H, H).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ._base import AbstractPotential, System, Topology
from ._bonded import (
    AbstractBond,
    HarmonicAngle,
    HarmonicBond,
    MorseBond,
    _param,
    angle_between,
    bond_angles,
    bond_lengths,
)
from ._dipole import AbstractDipoleModel, PointChargeDipole
from ._electrostatics import (
    AbstractElectrostatics,
    DampedShiftedForce,
    build_pairs,
)
from ._truncation import AbstractTruncation, Shifted

__all__ = [
    "AbstractBond",
    "HarmonicBond",
    "MorseBond",
    "HarmonicAngle",
    "angle_between",
    "bond_angles",
    "bond_lengths",
    "FlexibleWater",
    "spc_fw",
    "q_spc_fw",
    "water_box",
    "water_system",
    "water_topology",
    "OXYGEN",
    "HYDROGEN",
]

OXYGEN = 0
HYDROGEN = 1
_MASS_O = 15.9994  # Da
_MASS_H = 1.008  # Da


# ------------------------------------------------------------------------------ model
class FlexibleWater(AbstractPotential):
    r"""Flexible 3-site water (SPC/Fw family).

    $$U = \sum_{\rm OH} U_b(r) + \sum_{\rm HOH}\tfrac{k_\theta}{2}(\theta-\theta_0)^2
    + \sum_{{\rm O}_i{\rm O}_j,\ r<r_c}4\epsilon\big[(\sigma/r)^{12}-(\sigma/r)^6\big]_{\rm shifted}
    + U_{\rm elec}(q)$$

    The Lennard-Jones term acts between oxygens of different molecules, truncated at
    `lj_cutoff` and shifted to zero there (`lj_truncation=Shifted()`, default; pass
    `ForceShifted()` from `spectrinv.potentials` to make the force continuous too, for
    NVE energy conservation: 48 molecules, DSF, float64, dt = 0.5 fs, 10 ps: total-energy
    slope 0.055 kJ/mol/ps with `Shifted()`, −0.0008 ± 0.014 with `ForceShifted()`). For
    drifts below 10⁻⁵ per ns use `Switched(width)` together with
    `DampedShiftedForce(..., switch_width=width)`: both C² at the cutoff. With a 0.1 nm
    switch, float64 and dt = 0.25 fs, 64 molecules drifted −9.0·10⁻⁷ ± 2.4·10⁻⁷ per ns
    over 600 ps, measured on the shadow energy (docs/water-validation.md). With
    `tail_correction=True` a mean-field correction restores the energy and pressure of
    the untruncated, unshifted LJ for g(r) = 1
    (as GROMACS `DispCorr = EnerPres` does for shifted potentials):
    U_corr = (8/3)π N_O ρ_O ε σ³ [(σ/r_c)⁹/3 − (σ/r_c)³] + (2/3)π N_O ρ_O r_c³ u(r_c)
    (tail beyond r_c, then the shift removed inside it), ρ_O = N_O / V. It depends on the
    volume only, so it adds no force; its strain derivative gives exactly the standard pressure
    tail P_tail = (16/3)πρ_O²εσ³[(2/3)(σ/r_c)⁹ − (σ/r_c)³] (Allen & Tildesley, *Computer
    Simulation of Liquids*, 2nd ed., §2.8), −1.2 kbar at r_c = 0.55 nm, so the `Stress`
    recorder and barostats see it. Charges q_O and
    q_H = -q_O/2. Intramolecular non-bonded pairs are excluded (via `topology.molecule` /
    `topology.exclusions`, see `water_box`).

    **Fields (parameters, internal units):** `bond` (`HarmonicBond` | `MorseBond`), `angle`
    (`HarmonicAngle`), `charge_oxygen` (e), `sigma` (nm), `epsilon` (kJ/mol);
    `electrostatics` (an `AbstractElectrostatics`, static settings); `dipole` (an
    `AbstractDipoleModel` or `None`): the dipole surface that `dipole_moment` uses for
    spectra, e.g. a `ChargeFluxDipole` whose fluxes are fitted with the force field (the
    energy keeps the fixed charges). Build with `spc_fw()` / `q_spc_fw()` or the constructor
    (all physical inputs are pint Quantities); `model.with_dipole(ChargeFluxDipole(...))`
    attaches a dipole model.

    `cutoff` (for the neighbour list) is max(electrostatics cutoff, LJ cutoff).
    """

    bond: AbstractBond
    angle: HarmonicAngle
    charge_oxygen: Float[Array, ""]
    sigma: Float[Array, ""]
    epsilon: Float[Array, ""]
    electrostatics: AbstractElectrostatics | None
    lj_cutoff: float = eqx.field(static=True)
    tail_correction: bool = eqx.field(static=True)
    lj_truncation: AbstractTruncation
    dipole: AbstractDipoleModel | None

    def __init__(
        self,
        *,
        bond: AbstractBond,
        angle: HarmonicAngle,
        charge_oxygen: Any,
        sigma: Any,
        epsilon: Any,
        electrostatics: AbstractElectrostatics | None,
        lj_cutoff: Any = None,
        tail_correction: bool = False,
        lj_truncation: AbstractTruncation | None = None,
        dipole: AbstractDipoleModel | None = None,
    ):
        if dipole is not None and not isinstance(dipole, AbstractDipoleModel):
            raise TypeError(
                "dipole must be an AbstractDipoleModel (PointChargeDipole, ChargeFluxDipole, "
                f"...) or None, got {type(dipole).__name__}"
            )
        self.dipole = dipole
        self.tail_correction = bool(tail_correction)
        self.lj_truncation = Shifted() if lj_truncation is None else lj_truncation
        if not isinstance(self.lj_truncation, AbstractTruncation):
            raise TypeError(
                "lj_truncation must be an AbstractTruncation (Shifted(), ForceShifted(), "
                f"Truncated()), got {type(lj_truncation).__name__}"
            )
        if self.tail_correction and not isinstance(self.lj_truncation, Shifted):
            raise ValueError(
                "tail_correction is derived for the energy-shifted LJ (lj_truncation=Shifted())"
            )
        self.bond = bond
        self.angle = angle
        self.charge_oxygen = _param(charge_oxygen, "elementary_charge", "charge_oxygen")
        self.sigma = _param(sigma, "nm", "sigma")
        self.epsilon = _param(epsilon, "kJ/mol", "epsilon")
        if electrostatics is not None and not isinstance(electrostatics, AbstractElectrostatics):
            raise TypeError(
                f"electrostatics must be an AbstractElectrostatics (Ewald, DampedShiftedForce) "
                f"or None, got {type(electrostatics).__name__}"
            )
        self.electrostatics = electrostatics
        if lj_cutoff is None:
            if electrostatics is None:
                raise ValueError("give lj_cutoff when electrostatics is None")
            self.lj_cutoff = float(electrostatics.cutoff)
        else:
            self.lj_cutoff = float(to_magnitude(lj_cutoff, "nm", "lj_cutoff"))

    @property
    def cutoff(self) -> float:
        rc = self.lj_cutoff
        if self.electrostatics is not None:
            rc = max(rc, float(self.electrostatics.cutoff))
        return rc

    def charges(self, system: System) -> Float[Array, " atom"]:
        """Per-atom charges (e) from the model parameters: q_O on species 0, -q_O/2 on H."""
        q_o = self.charge_oxygen
        return jnp.where(system.species == OXYGEN, q_o, -0.5 * q_o)

    def dipole_moment(self, positions, system: System) -> Float[Array, "3"]:
        """Total dipole (e·nm) of one configuration: the `dipole` model (point charges when
        `None`) with this model's charges `charges(system)` as its base charges, so a fitted
        `charge_oxygen` moves the spectrum too (a dipole model built with its own `charges`
        keeps those instead)."""
        model = PointChargeDipole() if self.dipole is None else self.dipole
        with_charges = eqx.tree_at(
            lambda s: s.charges, system, self.charges(system), is_leaf=lambda x: x is None
        )
        return model(positions, with_charges)

    def with_dipole(self, dipole: AbstractDipoleModel | None) -> FlexibleWater:
        """This model with `dipole` as its dipole surface (see `dipole_moment`)."""
        if dipole is not None and not isinstance(dipole, AbstractDipoleModel):
            raise TypeError(f"dipole must be an AbstractDipoleModel, got {type(dipole).__name__}")
        return eqx.tree_at(lambda m: m.dipole, self, dipole, is_leaf=lambda x: x is None)

    def bonded_energy(self, positions, system):
        """Intramolecular (bond + angle) energy, kJ/mol."""
        return jnp.sum(self.bond(bond_lengths(positions, system))) + jnp.sum(
            self.angle(bond_angles(positions, system))
        )

    def nonbonded_energy(self, positions, system, neighbors=None):
        """Intermolecular LJ + electrostatic energy, kJ/mol."""
        pairs = build_pairs(positions, system, neighbors)
        energy = self.pair_energy(positions, system, pairs)
        if self.tail_correction:
            energy = energy + self.lj_tail_energy(system)
        return energy

    def pair_energy(self, positions, system, pairs):
        """LJ + electrostatic energy (kJ/mol) over the candidate pairs `pairs` (a `Pairs`
        of `build_pairs`), without the LJ tail correction."""
        # Lennard-Jones between oxygens, truncated and shifted at lj_cutoff
        r, mask = pairs.distances(self.lj_cutoff)
        oo = (system.species[pairs.i] == OXYGEN) & (system.species[pairs.j] == OXYGEN)
        mask = mask & oo

        def phi(x):
            s6 = (self.sigma / x) ** 6
            return 4 * self.epsilon * (s6 * s6 - s6)

        lj = self.lj_truncation(phi, r, self.lj_cutoff)
        energy = pairs.weight * jnp.sum(jnp.where(mask, lj, 0.0))
        if self.electrostatics is not None:
            energy = energy + self.electrostatics.coulomb(
                positions, self.charges(system), system, pairs
            )
        return energy

    def lj_tail_energy(self, system: System) -> Float[Array, ""]:
        """Mean-field LJ correction (tail beyond `lj_cutoff` + shift inside it), kJ/mol."""
        if system.box is None:
            return jnp.zeros((), self.sigma.dtype)
        n_o = jnp.sum(system.species == OXYGEN).astype(self.sigma.dtype)
        volume = jnp.abs(jnp.linalg.det(system.box_matrix))
        rc = self.lj_cutoff
        x3 = (self.sigma / rc) ** 3
        prefactor = jnp.pi * n_o * (n_o / volume) * self.epsilon
        tail = (8.0 / 3.0) * prefactor * self.sigma**3 * (x3**3 / 3.0 - x3)
        shift = (2.0 / 3.0) * prefactor * rc**3 * 4.0 * (x3**4 - x3**2)
        return tail + shift

    def energy(self, positions, system, neighbors=None):
        if system.topology is None:
            raise ValueError(
                "FlexibleWater needs a System with a Topology; build one with water_box()."
            )
        return self.bonded_energy(positions, system) + self.nonbonded_energy(
            positions, system, neighbors
        )


# --------------------------------------------------------------------- parameter sets
def spc_fw(
    electrostatics: AbstractElectrostatics | None = None,
    *,
    bond: AbstractBond | None = None,
    lj_cutoff: Any = None,
    tail_correction: bool = False,
    lj_truncation: AbstractTruncation | None = None,
) -> FlexibleWater:
    """SPC/Fw water (Wu, Tepper & Voth 2006, Table I).

    k_b = 1059.162 kcal mol⁻¹ Å⁻², r₀ = 1.012 Å, k_θ = 75.90 kcal mol⁻¹ rad⁻²,
    θ₀ = 113.24°, σ_OO = 3.165492 Å, ε_OO = 0.1554253 kcal/mol, q_O = -0.82 e,
    q_H = +0.41 e; U_bond = (k_b/2)(r - r₀)², U_angle = (k_θ/2)(θ - θ₀)² (Eq. 2 of the paper;
    LAMMPS's K(r-r₀)² form quotes K = k_b/2 = 529.581). The same numbers are repeated in
    Table I of Paesani et al. (2006). The original model used Ewald electrostatics with a 9 Å
    real-space cutoff.

    **Arguments:** `electrostatics` (default `DampedShiftedForce(0.2 Å⁻¹, 9 Å)`); `bond`
    (default the harmonic SPC/Fw bond; pass e.g. `MorseBond.from_harmonic(...)`);
    `lj_cutoff` (default: electrostatics cutoff); `tail_correction` (mean-field LJ
    energy/pressure correction beyond the cutoff, default off); `lj_truncation` (`Shifted()`
    default, or `ForceShifted()`).

    ??? cite
        Y. Wu, H. L. Tepper and G. A. Voth, "Flexible simple point-charge water model with
        improved liquid-state properties", J. Chem. Phys. 124, 024503 (2006).
    """
    return _spc_fw_family(
        1.012,
        113.24,
        -0.82,
        0.1554253,
        electrostatics,
        bond,
        lj_cutoff,
        tail_correction,
        lj_truncation,
    )


def q_spc_fw(
    electrostatics: AbstractElectrostatics | None = None,
    *,
    bond: AbstractBond | None = None,
    lj_cutoff: Any = None,
    tail_correction: bool = False,
    lj_truncation: AbstractTruncation | None = None,
) -> FlexibleWater:
    """q-SPC/Fw water (Paesani, Zhang, Case, Cheatham & Voth 2006, Table I), for
    path-integral simulations: as SPC/Fw but r₀ = 1.000 Å, θ₀ = 112.0°, q_O = -0.84 e,
    q_H = +0.42 e, ε_OO = 0.1554252 kcal/mol.

    ??? cite
        F. Paesani, W. Zhang, D. A. Case, T. E. Cheatham III and G. A. Voth, "An accurate and
        simple quantum model for liquid water", J. Chem. Phys. 125, 184507 (2006).
    """
    return _spc_fw_family(
        1.000,
        112.0,
        -0.84,
        0.1554252,
        electrostatics,
        bond,
        lj_cutoff,
        tail_correction,
        lj_truncation,
    )


def _spc_fw_family(
    r0, theta0, q_o, eps, electrostatics, bond, lj_cutoff, tail_correction, lj_truncation=None
):
    if electrostatics is None:
        electrostatics = DampedShiftedForce(Quantity(0.2, "1/angstrom"), Quantity(9.0, "angstrom"))
    if bond is None:
        bond = HarmonicBond(Quantity(1059.162, "kcal/mol/angstrom**2"), Quantity(r0, "angstrom"))
    return FlexibleWater(
        bond=bond,
        angle=HarmonicAngle(Quantity(75.90, "kcal/mol/rad**2"), Quantity(theta0, "degree")),
        charge_oxygen=Quantity(q_o, "elementary_charge"),
        sigma=Quantity(3.165492, "angstrom"),
        epsilon=Quantity(eps, "kcal/mol"),
        electrostatics=electrostatics,
        lj_cutoff=lj_cutoff,
        tail_correction=tail_correction,
        lj_truncation=lj_truncation,
    )


# --------------------------------------------------------------------------- builders
def water_topology(n_molecules: int) -> Topology:
    """Topology of n (O, H, H) molecules: 2 bonds, 1 angle (H–O–H), 3 exclusions each."""
    o = 3 * np.arange(n_molecules)
    bonds = np.stack([np.stack([o, o + 1], 1), np.stack([o, o + 2], 1)], 1).reshape(-1, 2)
    angles = np.stack([o + 1, o, o + 2], 1)
    excl = np.stack(
        [np.stack([o, o + 1], 1), np.stack([o, o + 2], 1), np.stack([o + 1, o + 2], 1)], 1
    )
    return Topology(
        bonds=jnp.asarray(bonds),
        angles=jnp.asarray(angles),
        molecule=jnp.asarray(np.repeat(np.arange(n_molecules), 3)),
        exclusions=jnp.asarray(excl.reshape(-1, 2)),
    )


def water_system(n_molecules: int, box: Any, charge_oxygen: float = -0.82) -> System:
    """`System` for n water molecules ordered (O, H, H): box (length Quantity `[3]` or
    `[3, 3]`, or None), species (0 = O, 1 = H), masses (15.9994, 1.008 Da), charges."""
    species = np.tile([OXYGEN, HYDROGEN, HYDROGEN], n_molecules)
    masses = np.where(species == OXYGEN, _MASS_O, _MASS_H)
    charges = np.where(species == OXYGEN, charge_oxygen, -0.5 * charge_oxygen)
    return System(
        box=None if box is None else _param(box, "nm", "box"),
        species=jnp.asarray(species),
        masses=jnp.asarray(masses),
        charges=jnp.asarray(charges),
        topology=water_topology(n_molecules),
        species_names=("O", "H"),
    )


def water_box(
    n_molecules: int,
    density: Any = None,
    key: Any = None,
    *,
    model: FlexibleWater | None = None,
) -> tuple[Float[Array, "atom 3"], System]:
    """A cubic box of randomly oriented water molecules on a simple-cubic lattice.

    **Arguments:**
    - `n_molecules`: number of molecules.
    - `density`: mass density Quantity (default 0.997 g/cm³, liquid water at 298 K).
    - `key`: `jax.random` key for the orientations (default `PRNGKey(0)`).
    - `model`: takes r₀, θ₀ and q_O from it (default SPC/Fw values).

    **Returns:** `(positions [3n, 3] nm, System)` with atoms ordered (O, H, H) per molecule.
    The lattice start is far from equilibrium: minimise or thermalise before production.
    """
    if density is None:
        density = Quantity(0.997, "g/cm**3")
    rho = float(to_magnitude(density, "dalton/nm**3", "density"))
    if key is None:
        key = jax.random.PRNGKey(0)
    mass = _MASS_O + 2 * _MASS_H
    edge = (n_molecules * mass / rho) ** (1.0 / 3.0)
    if model is None:
        r0, theta0, q_o = 0.1012, math.radians(113.24), -0.82
    else:
        r0, theta0, q_o = (
            float(model.bond.r0),
            float(model.angle.theta0),
            float(model.charge_oxygen),
        )
    m = math.ceil(n_molecules ** (1.0 / 3.0) - 1e-9)
    grid = np.stack(np.meshgrid(*(np.arange(m),) * 3, indexing="ij"), -1).reshape(-1, 3)
    # spread the molecules over the whole lattice (not the first sites: that leaves a slab
    # of vacuum when n is not a cube)
    grid = grid[np.round(np.linspace(0, len(grid) - 1, n_molecules)).astype(int)]
    centres = (grid + 0.5) * (edge / m)
    # molecule frame: O at origin, H's in the xy plane symmetric about x
    h = 0.5 * theta0
    local = np.array(
        [
            [0, 0, 0],
            [r0 * math.cos(h), r0 * math.sin(h), 0],
            [r0 * math.cos(h), -r0 * math.sin(h), 0],
        ]
    )
    quats = np.array(jax.random.normal(key, (n_molecules, 4)))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    pos = np.einsum("mij,aj->mai", _rotation_matrices(quats), local) + centres[:, None, :]
    system = water_system(n_molecules, Quantity([edge] * 3, "nm"), q_o)
    return jnp.asarray(pos.reshape(-1, 3)), system


def _rotation_matrices(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )
