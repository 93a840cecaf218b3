"""MD engines behind one interface: `JaxMDBackend` (default, differentiable) and
`OpenMMBackend` (sampling only)."""

from ._barostat import BarostatState as BarostatState, MonteCarloBarostat as MonteCarloBarostat
from ._base import (
    AbstractBackend as AbstractBackend,
    AbstractRecorder as AbstractRecorder,
    Dipole as Dipole,
    Frame as Frame,
    HeatFlux as HeatFlux,
    MDState as MDState,
    Polarizability as Polarizability,
    Positions as Positions,
    Stress as Stress,
    Velocities as Velocities,
)
from ._energy import (
    EnergyDrift as EnergyDrift,
    energy_drift as energy_drift,
    shadow_energy as shadow_energy,
    total_energy as total_energy,
)
from ._integrators import (
    AbstractIntegrator as AbstractIntegrator,
    Langevin as Langevin,
    NoseHooverChain as NoseHooverChain,
    VelocityVerlet as VelocityVerlet,
)
from ._jaxmd import (
    JaxMDBackend as JaxMDBackend,
    NeighborListOverflowError as NeighborListOverflowError,
    maxwell_boltzmann as maxwell_boltzmann,
)
from ._minimize import fire_minimize as fire_minimize
from ._openmm import OpenMMBackend as OpenMMBackend
from ._sharding import ShardedBackend as ShardedBackend, replica_mesh as replica_mesh
