"""`AbstractObservable`: the interface every observable implements."""

import abc

import equinox as eqx
import numpy as np
from equinox import AbstractVar

from ._result import AbstractResult
from ._trajectory import Trajectory
from ._units import Quantity

__all__ = ["AbstractObservable"]


class AbstractObservable(eqx.Module):
    """A function of a `Trajectory` with declared output units.

    **Protocol.** `observable(trajectory)` returns an `AbstractResult` (a `Spectrum`,
    `RamanSpectra`, `RDFResult` or `TransportResult`): a pytree of plain arrays with static
    units, so calls are jit/vmap/grad safe. Every observable declares, before seeing a
    trajectory, the units of what it returns:

    - `x_unit`: unit of the result's axis (`"1/cm"` for a spectrum, `"nm"` for an RDF), or
      `None` for a value (transport coefficients);
    - `y_unit`: unit of the result's values;
    - `x_grid()`: the axis in `x_unit` when the observable fixes it in advance (the RDF's
      bin centres), else `None`.

    `quantity(trajectory)` is `self(trajectory).quantity()`, the values as a `pint.Quantity`
    for use outside `jit`.

    Science options (windows, quantum corrections, cut-offs) are fields of the subclass,
    given as objects or quantities at construction and checked there.
    """

    x_unit: AbstractVar[str | None]
    y_unit: AbstractVar[str]

    @abc.abstractmethod
    def __call__(self, trajectory: Trajectory) -> AbstractResult:
        """Evaluate on `trajectory`; a result in (`x_unit`, `y_unit`)."""

    def units(self) -> tuple[str | None, str]:
        """`(x_unit, y_unit)` of the result (`x_unit` is `None` for a value)."""
        return self.x_unit, self.y_unit

    def x_grid(self) -> np.ndarray | None:
        """The result's axis in `x_unit` if fixed before evaluation, else `None`."""
        return None

    def quantity(self, trajectory: Trajectory) -> Quantity:
        """`self(trajectory).quantity()`: the values as a pint `Quantity` in `y_unit`."""
        return self(trajectory).quantity()
