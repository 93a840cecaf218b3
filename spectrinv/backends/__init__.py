"""MD engines behind one interface: `JaxMDBackend` (default, differentiable) and
`OpenMMBackend` (sampling only)."""

from ._base import (
    AbstractBackend as AbstractBackend,
)
from ._base import (
    AbstractRecorder as AbstractRecorder,
)
from ._base import (
    Dipole as Dipole,
)
from ._base import (
    Frame as Frame,
)
from ._base import (
    MDState as MDState,
)
from ._base import (
    Positions as Positions,
)
from ._base import (
    Stress as Stress,
)
from ._base import (
    Velocities as Velocities,
)
from ._integrators import (
    AbstractIntegrator as AbstractIntegrator,
)
from ._integrators import (
    Langevin as Langevin,
)
from ._integrators import (
    NoseHooverChain as NoseHooverChain,
)
from ._integrators import (
    VelocityVerlet as VelocityVerlet,
)
from ._jaxmd import (
    JaxMDBackend as JaxMDBackend,
)
from ._jaxmd import (
    NeighborListOverflowError as NeighborListOverflowError,
)
from ._jaxmd import (
    maxwell_boltzmann as maxwell_boltzmann,
)
from ._openmm import OpenMMBackend as OpenMMBackend
