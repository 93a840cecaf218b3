"""observables: differentiable observables on molecular-dynamics trajectories.

Knows nothing about MD engines: it takes `Trajectory` objects (from any engine, through the
readers in `observables.io`) and returns quantities with declared units.
"""

from ._correlation import (
    block_average as block_average,
    correlate as correlate,
    correlate_direct as correlate_direct,
)
from ._trajectory import Trajectory as Trajectory, TrajectoryError as TrajectoryError
from ._units import (
    INTERNAL_UNITS as INTERNAL_UNITS,
    Quantity as Quantity,
    UnitError as UnitError,
    from_internal as from_internal,
    to_internal as to_internal,
    to_magnitude as to_magnitude,
    ureg as ureg,
)
from ._windows import (
    AbstractWindow as AbstractWindow,
    Exponential as Exponential,
    Gaussian as Gaussian,
    Hann as Hann,
    NoWindow as NoWindow,
)
from ._base import AbstractObservable as AbstractObservable
