"""Hypothesis strategies for trajectories with units (`observables.testing.strategies`).

Random inputs: `boxes`, `rotations`, `unit_systems`, `trajectories` (any set of fields), and
`max_r_max` (the largest valid RDF range of a box). Physically generated inputs with known
answers: `ideal_gas` (g(r) = 1), `ornstein_uhlenbeck` (exact VACF and D),
`simple_cubic_lattice` (exact neighbour shells), `damped_harmonic_dipoles` and
`damped_harmonic_polarizabilities` (exact line shapes and depolarisation ratio).
"""

from ._oscillators import (
    DampedOscillator as DampedOscillator,
    damped_harmonic_dipoles as damped_harmonic_dipoles,
    damped_harmonic_polarizabilities as damped_harmonic_polarizabilities,
)
from ._physical import (
    Lattice as Lattice,
    OrnsteinUhlenbeck as OrnsteinUhlenbeck,
    ideal_gas as ideal_gas,
    ornstein_uhlenbeck as ornstein_uhlenbeck,
    simple_cubic_lattice as simple_cubic_lattice,
)
from ._random import (
    FIELD_NAMES as FIELD_NAMES,
    boxes as boxes,
    max_r_max as max_r_max,
    rotations as rotations,
    trajectories as trajectories,
    unit_systems as unit_systems,
)
