r"""Static dielectric constant from the fluctuations of the cell's total dipole moment.

**Definition.** For a periodic polar fluid with **conducting ("tin-foil") boundary
conditions** — an Ewald or PME sum without a surface (dipole) term, the default of most MD
codes — the relative permittivity follows from the total dipole $\mathbf M$ of the cell,

$$ \varepsilon = 1 + \frac{\langle \mathbf M^2\rangle - \langle \mathbf M\rangle^2}
   {3\, \varepsilon_0\, V k_B T} , $$

with $V$ the cell volume (its mean for an NPT run) and $T$ the temperature. Other boundary
conditions change the formula: with a surrounding dielectric $\varepsilon'$ (reaction field,
or $\varepsilon' = 1$ for vacuum/spherical summation) the fluctuation determines
$(\varepsilon - 1)(2\varepsilon' + 1)/(2\varepsilon' + \varepsilon)$ instead (Neumann 1983);
a plain cut-off Coulomb interaction has no exact relation. $\mathbf M$ must be the sum over
whole molecules (unwrapped), and the formula excludes free charges (ions).

**Two estimators.**
`subtract_mean=True` (default) is the formula above. `subtract_mean=False` uses
$\langle\mathbf M\rangle = 0$, exact in an isotropic fluid by symmetry:
$\varepsilon = 1 + \langle \mathbf M^2/(3\varepsilon_0 V k_BT)\rangle$, a frame average
(`obs(traj)` is the mean of `obs(traj[f])`), which is what
`spectrinv.gradients.Reweighting` can reweight. The first subtracts the sample mean, so it is
not a frame average (one frame gives ε = 1) and is refused by `Reweighting`. Both converge to
the same value; the second is noisier when a short run has a spurious net $\langle\mathbf M\rangle$.

**Units.** $\mathbf M$ in e·nm (`Trajectory.dipole`), $V$ in nm³, $\varepsilon_0$ in
e² mol kJ⁻¹ nm⁻¹, $k_BT$ in kJ/mol: ε is dimensionless.

**Error bar.** The estimator evaluated on $B$ contiguous blocks (each with its own mean for
`subtract_mean=True`), standard error $s/\sqrt B$ (`observables._blocks`; not
differentiated). $\mathbf M$ relaxes on the dielectric (Debye) relaxation time, picoseconds
in water: blocks must be much longer than that, and ε converges slowly with run length.

References: M. Neumann, *Mol. Phys.* **50**, 841 (1983); M. P. Allen & D. J. Tildesley,
*Computer Simulation of Liquids*, 2nd ed. (2017), §2.14 and §6.2.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractObservable
from ._blocks import block_error, check_n_blocks, split_blocks, usable_blocks
from ._trajectory import Trajectory, TrajectoryError
from ._units import BOLTZMANN, EPSILON0, Quantity, to_internal
from ._value import ValueResult, check_finite_frames, frame_average

__all__ = ["DielectricConstant"]


class DielectricConstant(AbstractObservable):
    r"""Static permittivity $\varepsilon = 1 + \mathrm{var}(\mathbf M)/(3\varepsilon_0 V k_BT)$.

    See the module docstring (tin-foil boundary conditions; the two estimators).

    **Arguments:** `temperature` (a `Quantity`); `subtract_mean` (default `True`: the
    fluctuation formula; `False`: $\langle\mathbf M\rangle = 0$, a frame average for
    `Reweighting`); `n_blocks`: blocks for the standard error (default 5; `None` for none).

    **Returns:** a `ValueResult`, dimensionless (jit/grad safe). A trajectory without
    `dipole` or without a periodic box raises `TrajectoryError`; a non-finite dipole
    (outside `jit`) raises `ValueError`.
    """

    temperature: float = eqx.field(static=True)
    subtract_mean: bool = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "dimensionless"

    def __init__(self, temperature: Quantity, subtract_mean: bool = True, n_blocks: int | None = 5):
        t = float(to_internal(temperature, "temperature", "temperature"))
        if not t > 0:
            raise ValueError(f"temperature must be positive (absolute), got {temperature}")
        if not isinstance(subtract_mean, bool):
            raise TypeError(f"subtract_mean must be True or False, got {subtract_mean!r}")
        self.temperature = t
        self.subtract_mean = subtract_mean
        self.n_blocks = check_n_blocks(n_blocks)

    def __call__(self, trajectory: Trajectory) -> ValueResult:
        """ε of `trajectory` (see the class docstring)."""
        what = "DielectricConstant"
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"{what} expects a Trajectory, got {type(trajectory).__name__}")
        trajectory.require("dipole")
        if trajectory.box is None:
            raise TrajectoryError(f"{what} needs a periodic box (the trajectory has box=None)")
        check_finite_frames(trajectory.dipole, what, "dipole")
        scale = 1.0 / (3.0 * EPSILON0 * BOLTZMANN * self.temperature)
        m, volume = trajectory.dipole, trajectory.volume
        if not self.subtract_mean:
            per_frame = 1.0 + scale * jnp.sum(m * m, axis=-1) / volume
            return frame_average(per_frame, self.n_blocks, self.y_unit, what)
        blocks = usable_blocks(trajectory.n_frames, self.n_blocks, 2, what)
        return _fluctuation_core(m, volume, scale, n_blocks=blocks)


def _fluctuation(m, volume, scale):
    """ε from the dipole variance of `m` `[..., frame, 3]` and the mean of `volume`."""
    mean = jnp.mean(m, axis=-2, keepdims=True)
    var = jnp.mean(jnp.sum((m - mean) ** 2, axis=-1), axis=-1)
    return 1.0 + scale * var / jnp.mean(volume, axis=-1)


@eqx.filter_jit
def _fluctuation_core(m, volume, scale, *, n_blocks):
    eps = _fluctuation(m, volume, scale)
    error = None
    if n_blocks is not None:
        mb = split_blocks(m, n_blocks)  # [block, frame, 3]
        vb = split_blocks(volume, n_blocks)
        error = block_error(_fluctuation(mb, vb, scale))
    return ValueResult(y_magnitude=eps, error_magnitude=error, y_unit="dimensionless")
