"""`AbstractResult`: what every observable returns.

An observable is called on a trajectory, `observable(trajectory)`, and returns one result
module. Every result carries, behind the same public accessors:

- `x_magnitude` `[point]` and `x_unit`: the axis (spectral axis, r, ...) as a plain array in
  `x_unit`, or `None` for a value (a transport coefficient);
- `y_magnitude` and `y_unit`: the values, `[point]` on the axis or a scalar / `[species]`
  for a value;
- `error_magnitude`: the standard error of `y_magnitude` in `y_unit` (same shape) where the
  observable estimates one, else `None`: block averages over contiguous stretches of the
  trajectory for spectra, RDFs and transport coefficients (`observables._blocks`; not
  differentiated);
- `density`: True if y is per unit of x (so converting the axis rescales y);
- `x`, `y`, `error`: the same as `pint.Quantity` (NumPy magnitudes outside `jit`);
- `quantity()`: `y`; `plot(ax)`: a matplotlib plot with labelled axes.

Results are pytrees (arrays as leaves, units static), so they can be returned from `jit`,
batched by `vmap` and differentiated through. A loss reads only these accessors, never the
concrete class.
"""

from typing import Any

import equinox as eqx
import jax
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, Float

from ._units import Quantity, ureg

__all__ = ["AbstractResult", "view"]


def view(magnitude: Any, unit: str) -> Quantity:
    """`magnitude` in `unit` as a `Quantity`: NumPy when concrete, the traced array in `jit`."""
    if not isinstance(magnitude, jax.core.Tracer):
        magnitude = np.asarray(magnitude)
    return ureg.Quantity(magnitude, unit)


class AbstractResult(eqx.Module):
    """The common face of every observable's output (see the module docstring).

    Concrete results: `Spectrum` (IR, VDOS), `RamanSpectra`, `RDFResult`,
    `TransportResult`. Each implements `x_magnitude`, `y_magnitude`, `x_unit`, `y_unit`,
    `error_magnitude` and `density` as fields or properties.
    """

    x_magnitude: AbstractVar[Float[Array, " point"] | None]
    y_magnitude: AbstractVar[Float[Array, "..."]]
    x_unit: AbstractVar[str | None]
    y_unit: AbstractVar[str]
    error_magnitude: AbstractVar[Float[Array, "..."] | None]
    density: AbstractVar[bool]

    @property
    def x(self) -> Quantity | None:
        """The axis as a `Quantity` in `x_unit`, or `None` for a value."""
        if self.x_magnitude is None or self.x_unit is None:
            return None
        return view(self.x_magnitude, self.x_unit)

    @property
    def y(self) -> Quantity:
        """The values as a `Quantity` in `y_unit`."""
        return view(self.y_magnitude, self.y_unit)

    @property
    def error(self) -> Quantity | None:
        """Standard error of the values as a `Quantity` in `y_unit`, or `None`."""
        if self.error_magnitude is None:
            return None
        return view(self.error_magnitude, self.y_unit)

    @property
    def x_name(self) -> str | None:
        """Name of the axis for labels (`"r"` for an RDF), or `None` to derive it from x_unit."""
        return None

    def quantity(self) -> Quantity:
        """The values as a `Quantity` (same as `y`)."""
        return self.y

    def labels(self) -> tuple[str, str]:
        """(x label, y label) for a plot, naming the units."""
        return _label("x", self.x_unit), _label("y", self.y_unit)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Line plot of y against x on a matplotlib `Axes` (a new figure if `ax` is None).

        Returns the Axes; `kwargs` go to `Axes.plot`. A value without an axis raises
        `TypeError` (its concrete class may plot something else, e.g. a running integral).
        """
        if self.x_magnitude is None:
            raise TypeError(f"{type(self).__name__} is a value without an axis; nothing to plot")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        x = np.asarray(self.x_magnitude)
        ax.plot(x, np.asarray(self.y_magnitude).reshape(len(x), -1), **kwargs)
        x_label, y_label = self.labels()
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        return ax


def _label(name: str, unit: str | None) -> str:
    if unit is None:
        return name
    u = ureg.Unit(unit)
    return name if u == ureg.dimensionless else f"{name} ({u:~P})"
