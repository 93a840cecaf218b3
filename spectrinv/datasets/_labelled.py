r"""`LabelledValues`: named scalars with units (elastic constants, transport coefficients)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import equinox as eqx
import jax.numpy as jnp

from observables import Quantity, ureg

from ._dataset import Dataset, require_quantities, y_fields
from ._errors import DatasetError

__all__ = ["LabelledValues"]


class LabelledValues(Dataset):
    r"""Named experimental scalars with units, e.g. the elastic constants $C_{11}, C_{12},
    C_{44}$ of silicon, or a viscosity and a diffusion coefficient at one state point
    (values of one unit; load other columns with `load_dataset(name, y=label)`).

    **Fields:** those of `Dataset` (`y` and `uncertainty` are `[label]`), plus `labels`,
    the names of the entries of `y` (static). `x`, `x_name` and `x_unit` are `None`.

    **Arguments:** `y` (`Quantity [label]`), `labels` (one name per entry, unique),
    `uncertainty` (`Quantity [label]`, 1σ), `name`, `quantity`, `y_name`, `temperature` /
    `pressure` (scalar `Quantity`), `metadata`. Raises `UnitError` for missing units and
    `DatasetError` for bad values.
    """

    labels: tuple[str, ...] = eqx.field(static=True)

    is_labelled: ClassVar[bool] = True
    #: Labelled values have no x axis.
    x: ClassVar[None] = None
    x_name: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    x_quantity: ClassVar[None] = None

    def __init__(
        self,
        y: Quantity,
        labels: Sequence[str],
        *,
        uncertainty: Quantity | None = None,
        name: str = "dataset",
        quantity: str = "labelled",
        y_name: str | None = None,
        temperature: Quantity | str | None = None,
        pressure: Quantity | str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        require_quantities(y=y, uncertainty=uncertainty)
        self._fill(
            labels=tuple(str(s) for s in labels),
            name=str(name),
            quantity=str(quantity),
            y_name=str(y_name or quantity),
            metadata=metadata,
            **y_fields(y, uncertainty, temperature, pressure),
        )

    def _check(self) -> None:
        name, labels, y = self.name, self.labels, self.y
        if jnp.ndim(y) != 1 or jnp.shape(y)[0] != len(labels):
            raise DatasetError(
                f"dataset {name!r}: {len(labels)} labels {list(labels)} but y has shape "
                f"{jnp.shape(y)}"
            )
        if len(set(labels)) != len(labels):
            raise DatasetError(f"dataset {name!r}: duplicate labels in {list(labels)}")
        super()._check()

    def to(self, *, x_unit: Any = None, y_unit: Any = None) -> LabelledValues:
        r"""The same values in another `y_unit` (an exact affine map $v' = a v + b$; the
        uncertainty is scaled by $|a|$). Labelled values have no x axis: `x_unit` raises
        `DatasetError`. Raises `UnitError` naming both units when they are incompatible."""
        if x_unit is not None:
            self._no_axis("it has no x axis to convert")
        return self if y_unit is None else self._y_to(y_unit)

    def value(self, label: str) -> tuple[Quantity, Quantity | None]:
        """(value, uncertainty) of one labelled scalar, as quantities in `y_unit`."""
        if label not in self.labels:
            raise DatasetError(
                f"dataset {self.name!r} has no entry {label!r}; labels: {', '.join(self.labels)}"
            )
        i = self.labels.index(label)
        u = None
        if self.uncertainty is not None:
            u = ureg.Quantity(float(self.uncertainty[i]), self.y_unit)
        return ureg.Quantity(float(self.y[i]), self.y_unit), u

    # Operations of a `Table` that need an x axis: each says what to do instead.
    def _no_axis(self, what: str) -> NoReturn:
        raise DatasetError(
            f"dataset {self.name!r} is a set of labelled scalars {list(self.labels)}; {what}"
        )

    def at(self, x: Any) -> NoReturn:
        """Labelled values have no x axis: use `value(label)`; raises `DatasetError`."""
        self._no_axis("use value(label) instead of at()")

    def select(self, x_min: Any = None, x_max: Any = None) -> NoReturn:
        """Labelled values have no x axis; raises `DatasetError`."""
        self._no_axis("select() needs an x axis")

    def with_baseline(self, baseline: Any) -> NoReturn:
        """Labelled values have no x axis; raises `DatasetError`."""
        self._no_axis("a baseline needs an x axis")

    def to_csv(self, path: Any) -> NoReturn:
        """Labelled values have no x axis; raises `DatasetError`."""
        self._no_axis("cannot write x,y CSV")

    def to_jcamp(self, path: Any, *, title: str | None = None) -> NoReturn:
        """Labelled values have no x axis; raises `DatasetError`."""
        self._no_axis("JCAMP-DX needs an x axis")
