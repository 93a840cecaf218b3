r"""Mass density of a periodic cell, frame-averaged, in kg/m³.

**Definition.** With atomic masses $m_i$ (g/mol) and the cell volume $V_f$ of frame $f$,

$$ \rho = \frac{1}{F}\sum_f \frac{\sum_i m_i}{N_A V_f} . $$

This is the isothermal-isobaric average $\langle M/V\rangle$ when the box changes from frame
to frame (an NPT run, e.g. `spectrinv.backends.MonteCarloBarostat`); it differs from
$M/\langle V\rangle$ by the relative volume variance, $k_BT\kappa_T/V$ (about 3·10⁻⁴ for
216 water molecules at 25 °C, with $\kappa_T = 4.5\cdot10^{-10}$ Pa⁻¹). With a fixed box
it is simply $M/(N_A V)$ and its block error is 0.

**Units.** Masses in g/mol (Da), volume in nm³; the result is in **kg/m³**
(1 Da nm⁻³ = 1660.54 kg/m³).

**Error bar.** Block standard error of $\rho_f$ (`observables._value`); blocks must be longer
than the volume's correlation time (many barostat moves).

Reference: M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.
(2017), §3.9 (constant-pressure simulation).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractObservable
from ._blocks import check_n_blocks
from ._trajectory import Trajectory, TrajectoryError
from ._units import ureg
from ._value import ValueResult, frame_average

__all__ = ["Density"]

#: kg/m³ per (g/mol)/nm³ divided by N_A
_KG_M3 = float(ureg.Quantity(1.0, "g/mol/nm**3/avogadro_constant").m_as("kg/m**3"))


class Density(AbstractObservable):
    r"""Frame-averaged mass density $\langle \sum_i m_i / (N_A V)\rangle$ in kg/m³.

    See the module docstring. Reads `trajectory.masses` and the box (per frame for NPT).

    **Arguments:** `n_blocks`: blocks for the standard error (default 5; `None` for none).

    **Returns:** a `ValueResult` in kg/m³ (jit/grad safe). A trajectory without masses or
    without a periodic box raises `TrajectoryError`.
    """

    n_blocks: int | None = eqx.field(static=True)

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "kg/m**3"

    def __init__(self, n_blocks: int | None = 5):
        self.n_blocks = check_n_blocks(n_blocks)

    def __call__(self, trajectory: Trajectory) -> ValueResult:
        """The mean mass density of `trajectory`, kg/m³."""
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"Density expects a Trajectory, got {type(trajectory).__name__}")
        trajectory.require("masses")
        if trajectory.box is None:
            raise TrajectoryError("Density needs a periodic box (the trajectory has box=None)")
        rho = jnp.sum(trajectory.masses) * _KG_M3 / trajectory.volume  # [frame]
        return frame_average(rho, self.n_blocks, self.y_unit, "Density")
