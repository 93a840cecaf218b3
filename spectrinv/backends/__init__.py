"""MD engines behind one interface: `JaxMDBackend` (default, differentiable; implements
`AbstractDifferentiableBackend`, the interface gradient strategies use) and `OpenMMBackend`
(sampling only). Replicas run on one device or `Sharded` over several."""

from ._barostat import BarostatState as BarostatState, MonteCarloBarostat as MonteCarloBarostat
from ._base import (
    AbstractBackend as AbstractBackend,
    AbstractRecorder as AbstractRecorder,
    Dipole as Dipole,
    Frame as Frame,
    Polarizability as Polarizability,
    Positions as Positions,
    PotentialDipole as PotentialDipole,
    PotentialDipoleCurrent as PotentialDipoleCurrent,
    Stress as Stress,
    Velocities as Velocities,
)
from ._differentiable import AbstractDifferentiableBackend as AbstractDifferentiableBackend
from ._energy import (
    EnergyDrift as EnergyDrift,
    energy_drift as energy_drift,
    shadow_energy as shadow_energy,
    total_energy as total_energy,
)
from ._energy_recorder import Energy as Energy
from ._gas_phase import gas_phase_energy as gas_phase_energy
from ._heat_flux import HeatFlux as HeatFlux
from ._initial import maxwell_boltzmann as maxwell_boltzmann
from ._integrators import (
    AbstractIntegrator as AbstractIntegrator,
    Langevin as Langevin,
    NoseHooverChain as NoseHooverChain,
    VelocityVerlet as VelocityVerlet,
)
from ._jaxmd import (
    JaxMDBackend as JaxMDBackend,
    NeighborListOverflowError as NeighborListOverflowError,
)
from ._minimize import fire_minimize as fire_minimize
from ._neighbors import (
    frame_neighbors as frame_neighbors,
    pad_frames as pad_frames,
    unpad_frames as unpad_frames,
)
from ._openmm import OpenMMBackend as OpenMMBackend
from ._parallel import (
    AbstractParallelism as AbstractParallelism,
    Sharded as Sharded,
    SingleDevice as SingleDevice,
    replica_mesh as replica_mesh,
)
from ._state import MDState as MDState
