r"""`ValueResult` and the frame-average kernel shared by the thermodynamic observables.

A thermodynamic observable here is a **frame average** of a per-frame value $a_f$,

$$ A = \frac{1}{F}\sum_{f=1}^{F} a_f , $$

so that `obs(traj)` is the mean of `obs(traj[f])` and `spectrinv.gradients.Reweighting` can
reweight it frame by frame. Its standard error is the block standard error $s/\sqrt B$ of
the means of $B$ contiguous blocks (`observables._blocks`; not differentiated): the blocks
must be longer than the correlation time of $a_f$.

Reference: M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (Oxford,
2017), §8.4 (block averages).
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._blocks import block_error, split_blocks, usable_blocks
from ._result import AbstractResult
from ._units import Quantity

__all__ = ["ValueResult", "frame_average", "check_finite_frames"]


class ValueResult(AbstractResult):
    """A value (no axis) in `y_unit` with its standard error.

    **Fields:** `y_magnitude` the value (scalar, in `y_unit`); `error_magnitude` its block
    standard error (same unit) or `None`; `y_unit` (static). `value` is `y` as a `Quantity`.
    """

    y_magnitude: Float[Array, ""]
    error_magnitude: Float[Array, ""] | None
    y_unit: str = eqx.field(static=True)

    x_magnitude: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    density: ClassVar[bool] = False

    @property
    def value(self) -> Quantity:
        """The value as a `Quantity` in `y_unit`, same as `y`."""
        return self.y


def check_finite_frames(values: Any, what: str, field: str) -> None:
    """`ValueError` naming the first frame whose `values` (leading frame axis) are not finite;
    nothing under `jit`."""
    if isinstance(values, jax.core.Tracer):
        return
    arr = np.asarray(values)
    ok = np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)
    if not np.all(ok):
        bad = int(np.argmax(~ok))
        raise ValueError(f"{what}: the {field} of frame {bad} is not finite (NaN or inf)")


def frame_average(
    values: Float[Array, " frame"], n_blocks: int | None, unit: str, what: str
) -> ValueResult:
    """The mean of the per-frame `values` and its block standard error, as a `ValueResult`."""
    blocks = usable_blocks(values.shape[0], n_blocks, 1, what)
    return _average_core(jnp.asarray(values), n_blocks=blocks, unit=unit)


@eqx.filter_jit
def _average_core(values, *, n_blocks, unit):
    error = None
    if n_blocks is not None:
        error = block_error(split_blocks(values, n_blocks).mean(axis=1))
    return ValueResult(y_magnitude=jnp.mean(values), error_magnitude=error, y_unit=unit)
