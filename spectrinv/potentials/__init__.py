"""Energy models with parameters as pytrees, plus dipole and polarizability models."""

from ._base import (
    AbstractPotential as AbstractPotential,
    System as System,
    Topology as Topology,
    minimum_image as minimum_image,
    neighbor_pairs as neighbor_pairs,
    perpendicular_widths as perpendicular_widths,
    switch_c2 as switch_c2,
)
from ._dipole import (
    AbstractDipoleModel as AbstractDipoleModel,
    BondChargeFluxDipole as BondChargeFluxDipole,
    ChargeFluxDipole as ChargeFluxDipole,
    PointChargeDipole as PointChargeDipole,
    unwrap_molecules as unwrap_molecules,
)
from ._electrostatics import (
    COULOMB as COULOMB,
    AbstractElectrostatics as AbstractElectrostatics,
    DampedShiftedForce as DampedShiftedForce,
    Ewald as Ewald,
)
from ._jaxmd_energy import JaxMDEnergy as JaxMDEnergy
from ._lattice import fcc_lattice as fcc_lattice
from ._local import (
    AbstractLocalPotential as AbstractLocalPotential,
    neighbour_table as neighbour_table,
)
from ._mixing import AbstractMixing as AbstractMixing, LorentzBerthelot as LorentzBerthelot
from ._pair import AbstractPairPotential as AbstractPairPotential
from ._pair_analytic import (
    Buckingham as Buckingham,
    LennardJones as LennardJones,
    Morse as Morse,
)
from ._pair_neural import NeuralPair as NeuralPair
from ._pair_tabulated import TabulatedPair as TabulatedPair
from ._pme import ParticleMeshEwald as ParticleMeshEwald
from ._polarizability import (
    AbstractPolarizabilityModel as AbstractPolarizabilityModel,
    BondPolarizability as BondPolarizability,
    DipoleInducedDipole as DipoleInducedDipole,
)
from ._silicon import (
    EDIP as EDIP,
    StillingerWeber as StillingerWeber,
    diamond_lattice as diamond_lattice,
)
from ._truncation import (
    AbstractTruncation as AbstractTruncation,
    ForceShifted as ForceShifted,
    Shifted as Shifted,
    Switched as Switched,
    Truncated as Truncated,
)
from ._water import (
    AbstractBond as AbstractBond,
    FlexibleWater as FlexibleWater,
    HarmonicAngle as HarmonicAngle,
    HarmonicBond as HarmonicBond,
    MorseBond as MorseBond,
    bond_angles as bond_angles,
    bond_lengths as bond_lengths,
    q_spc_fw as q_spc_fw,
    spc_fw as spc_fw,
    water_box as water_box,
    water_system as water_system,
    water_topology as water_topology,
)
from ._water_local import LocalWater as LocalWater
