"""Property-based testing of observables: hypothesis strategies and property checks.

What `numpy.testing` and `hypothesis.extra.numpy` are for arrays, this module is for
observables: it lets the author of a new observable, or a user with an unusual kind of
trajectory, test that the observable keeps the promises every observable in this package
keeps.

- `observables.testing.strategies`: hypothesis strategies for trajectories with units
  (random boxes, positions, velocities, masses, charges, species, dipole and polarizability
  series) and physically generated trajectories with known answers (ideal gas,
  Ornstein–Uhlenbeck velocities, simple cubic lattice, damped harmonic dipoles and
  polarizabilities).
- `check_*` functions: call them on any observable and a trajectory (typically inside a
  `@given` test). Each returns a `CheckReport` when the property holds and raises a
  `PropertyError` (an `AssertionError`) naming the property, the deviation, the tolerance and
  the example when it does not.

Needs the optional dependency hypothesis: `pip install "spectrinv[testing]"`. pytest is not
needed.
"""

try:
    import hypothesis as _hypothesis  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised with hypothesis hidden
    raise ImportError(
        "observables.testing needs the optional dependency 'hypothesis'; install it with "
        'pip install "spectrinv[testing]"'
    ) from _error

from . import strategies as strategies
from ._conformance import (
    check_dtypes as check_dtypes,
    check_gradient as check_gradient,
    check_transforms as check_transforms,
)
from ._report import CheckReport as CheckReport, PropertyError as PropertyError
from ._sum_rules import (
    check_coordination_numbers as check_coordination_numbers,
    check_correlation_function as check_correlation_function,
    check_detailed_balance as check_detailed_balance,
    check_error_calibration as check_error_calibration,
    check_ideal_gas_rdf as check_ideal_gas_rdf,
    check_value as check_value,
    check_vdos_modes as check_vdos_modes,
)
from ._symmetry import (
    check_permutation_invariance as check_permutation_invariance,
    check_rotation_invariance as check_rotation_invariance,
    check_time_reversal as check_time_reversal,
    check_translation_invariance as check_translation_invariance,
    check_unit_covariance as check_unit_covariance,
)

# Shown in tracebacks and the reference as observables.testing.PropertyError, not _report.
CheckReport.__module__ = PropertyError.__module__ = __name__
