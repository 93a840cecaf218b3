"""`Energy`: the recorder of the potential energy of each frame."""

from __future__ import annotations

from typing import ClassVar

from ._base import AbstractRecorder

__all__ = ["Energy"]


class Energy(AbstractRecorder):
    """Total potential energy U of the cell, kJ/mol (scalar per frame); fills
    `Trajectory.potential_energy` (read by `observables.PotentialEnergy` and
    `observables.EnthalpyOfVaporization`).

    It depends on the potential's parameters (`uses_potential = True`): `Reweighting`
    recomputes it at the current parameters, which gives the explicit term
    ⟨∂U/∂θ⟩ of d⟨U⟩/dθ = ⟨∂U/∂θ⟩ − β cov(U, ∂U/∂θ).
    """

    field: ClassVar[str] = "potential_energy"
    uses_potential: ClassVar[bool] = True

    def __call__(self, frame, potential):
        return frame.potential_energy
