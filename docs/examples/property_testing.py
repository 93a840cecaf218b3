"""A new observable, the velocity autocorrelation function, and its property tests.

The code of the tutorial docs/tutorial-property-testing.md. Run the tests with
`pytest docs/examples/property_testing.py` (needs `pip install "spectrinv[testing]"`).
"""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from hypothesis import given, settings, strategies as st

import observables as ob
import observables.testing as ot
from observables.testing import strategies as ots

jax.config.update("jax_enable_x64", True)  # the gradient check compares to 1e-5


# ------------------------------------------------------------------------ the observable
class VACFResult(ob.AbstractResult):
    """⟨v(0)·v(t)⟩ (nm²/ps²) against the lag time t (ps)."""

    x_magnitude: jax.Array
    y_magnitude: jax.Array
    x_unit: ClassVar[str] = "ps"
    y_unit: ClassVar[str] = "nm**2/ps**2"
    error_magnitude: ClassVar[None] = None
    density: ClassVar[bool] = False


class VACF(ob.AbstractObservable):
    """Velocity autocorrelation ⟨v_i(0)·v_i(t)⟩, averaged over atoms and time origins.

    **Arguments:** `max_lag`: the longest lag, in frames. **Returns:** a `VACFResult`.
    """

    max_lag: int = eqx.field(static=True)
    unbiased: bool = eqx.field(static=True, default=True)
    x_unit: ClassVar[str] = "ps"
    y_unit: ClassVar[str] = "nm**2/ps**2"

    def __call__(self, trajectory: ob.Trajectory) -> VACFResult:
        trajectory.require("velocities")
        v = trajectory.velocities  # [frame, atom, 3], nm/ps
        c = ob.correlate(
            v, max_lag=self.max_lag, sum_axes=(2,), mean_axes=(1,), unbiased=self.unbiased
        )
        lags = jnp.arange(self.max_lag + 1, dtype=v.dtype) * trajectory.timestep
        return VACFResult(lags, c)


# ------------------------------------------------------------------------------ its tests
SMALL = ots.trajectories(fields=("positions", "velocities", "masses"), n_frames=8, n_atoms=3)


@settings(max_examples=5, deadline=None)
@given(SMALL, ots.rotations(), st.permutations(range(3)))
def test_symmetries(traj, rotation, permutation):
    vacf = VACF(max_lag=3)
    ot.check_time_reversal(vacf, traj)
    ot.check_rotation_invariance(vacf, traj, rotation)
    ot.check_permutation_invariance(vacf, traj, permutation)
    ot.check_unit_covariance(vacf, traj, length="angstrom", time="fs")


@settings(max_examples=3, deadline=None)
@given(SMALL)
def test_jit_vmap_and_gradient(traj):
    vacf = VACF(max_lag=3)
    ot.check_transforms(vacf, traj)
    ot.check_gradient(vacf, traj, "velocities")


@settings(max_examples=3, deadline=None)
@given(ots.ornstein_uhlenbeck(n_atoms=1024, n_frames=40, gamma=(4.0, 6.0)))
def test_exact_vacf_of_ornstein_uhlenbeck_velocities(ou):
    ot.check_correlation_function(VACF(max_lag=16), ou.trajectory, ou.vacf, tolerance=0.1)
