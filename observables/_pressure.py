r"""Instantaneous virial pressure, averaged over frames, with a block standard error.

**Definition.** For frame $f$ with pressure tensor $\Pi_f$ (`Trajectory.stress`: kinetic
plus virial part, $\Pi = (\sum_i m_i \mathbf v_i \otimes \mathbf v_i + W)/V$, positive =
compressive), the instantaneous pressure is $p_f = \operatorname{tr}\Pi_f / 3$ and the
estimate is the plain frame average

$$ P = \frac{1}{F}\sum_{f=1}^{F} \frac{\operatorname{tr}\Pi_f}{3} . $$

It is a frame average (`Pressure()(traj)` is the mean of `Pressure()(traj[f])`), so
`spectrinv.gradients.Reweighting` can reweight it frame by frame.

**Normalisation and units.** No normalisation beyond the frame mean. The stress is read in
the internal unit kJ mol⁻¹ nm⁻³ (the molar convention, $1$ kJ mol⁻¹ nm⁻³ $= 16.6054$ bar)
and the result is in **bar**.

**Error bar.** With `n_blocks` $= B$, the frames are cut into $B$ contiguous blocks and the
standard error is the spread of the block means, $s/\sqrt B$ (`observables._blocks`; not
differentiated). Blocks must be longer than the correlation time of $p_f$; a single frame
(or fewer frames than 2 blocks) gives no error bar (`None`, with an `ErrorBarWarning`).

Reference: M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.
(Oxford, 2017), §2.4 (pressure and the virial) and §8.4 (block averages).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import AbstractObservable
from ._blocks import block_error, check_n_blocks, split_blocks, usable_blocks
from ._result import AbstractResult
from ._trajectory import Trajectory
from ._units import Quantity, from_internal, to_magnitude

__all__ = ["Pressure", "PressureResult"]

#: bar per internal pressure unit (kJ mol⁻¹ nm⁻³)
_BAR_PER_INTERNAL = float(to_magnitude(from_internal(1.0, "pressure"), "bar"))


class PressureResult(AbstractResult):
    """A pressure (a value, no axis) in bar with its standard error.

    **Fields:** `y_magnitude` the frame-averaged pressure (scalar, bar); `error_magnitude`
    its block standard error (bar) or `None`. `value` is `y` as a `Quantity`.
    """

    y_magnitude: Float[Array, ""]
    error_magnitude: Float[Array, ""] | None = None

    x_magnitude: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "bar"
    density: ClassVar[bool] = False

    @property
    def value(self) -> Quantity:
        """The pressure as a `Quantity` (bar), same as `y`."""
        return self.y


class Pressure(AbstractObservable):
    r"""Frame-averaged virial pressure $P = \langle \operatorname{tr}\Pi\rangle / 3$ in bar.

    See the module docstring for the definition, units and error bar. Reads
    `trajectory.stress` (`[frame, 3, 3]`, record it with `spectrinv.backends.Stress()`).

    **Arguments:** `n_blocks`: contiguous blocks for the standard error (default 5; `None`
    for none).

    **Returns:** a `PressureResult` (jit/grad safe). A trajectory without `stress` raises
    `TrajectoryError`; a non-finite stress (outside `jit`) raises `ValueError`.

    Example:
        ```python
        p = Pressure()(traj)   # p.value, p.error in bar
        ```

    Reference: Allen & Tildesley (2017) §2.4.
    """

    n_blocks: int | None = eqx.field(static=True)

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "bar"

    def __init__(self, n_blocks: int | None = 5):
        self.n_blocks = check_n_blocks(n_blocks)

    def __call__(self, trajectory: Trajectory) -> PressureResult:
        """The frame-averaged pressure of `trajectory` (see the class docstring)."""
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"Pressure expects a Trajectory, got {type(trajectory).__name__}")
        trajectory.require("stress")
        stress = trajectory.stress
        if not isinstance(stress, jax.core.Tracer) and not np.all(np.isfinite(stress)):
            bad = int(np.argmax(~np.all(np.isfinite(np.asarray(stress)), axis=(-2, -1))))
            raise ValueError(f"Pressure: the stress of frame {bad} is not finite (NaN or inf)")
        n_blocks = usable_blocks(trajectory.n_frames, self.n_blocks, 1, "Pressure")
        return _pressure_core(jnp.asarray(stress), n_blocks=n_blocks)


@eqx.filter_jit
def _pressure_core(stress, *, n_blocks):
    p = jnp.trace(stress, axis1=-2, axis2=-1) * (_BAR_PER_INTERNAL / 3.0)  # [frame], bar
    error = None
    if n_blocks is not None:
        error = block_error(split_blocks(p, n_blocks).mean(axis=1))
    return PressureResult(y_magnitude=jnp.mean(p), error_magnitude=error)
