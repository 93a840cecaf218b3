"""`AbstractObservable`: the interface every observable implements."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import equinox as eqx

from ._trajectory import Trajectory
from ._units import Quantity, ureg

__all__ = ["AbstractObservable"]


class AbstractObservable(eqx.Module):
    """A function of a `Trajectory` with a declared output unit.

    Subclasses implement `__call__(trajectory)`, which returns **plain arrays** in
    `output_unit` (so it is jit/vmap/grad safe), and set the class variable `output_unit`
    (a unit string of `observables.ureg`). `quantity(trajectory)` wraps the result as a
    `pint.Quantity` for use outside `jit`.

    Science options (windows, quantum corrections, cut-offs) are fields of the subclass,
    given as objects or quantities at construction and checked there.
    """

    output_unit: ClassVar[str] = "dimensionless"

    @abc.abstractmethod
    def __call__(self, trajectory: Trajectory) -> Any:
        """Evaluate on `trajectory`; plain arrays in `output_unit`."""

    def quantity(self, trajectory: Trajectory) -> Quantity:
        """`self(trajectory)` as a pint `Quantity` in `output_unit`."""
        return ureg.Quantity(self(trajectory), self.output_unit)
