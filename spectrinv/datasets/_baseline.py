r"""Baselines for spectra: objects that fit a background $b(x)$ which `Dataset.with_baseline`
subtracts from $y$.

Anchors are points or regions of the x axis (quantities) where the spectrum is taken to be
pure background. A point anchor uses the data linearly interpolated at that x; a region
anchor `(lo, hi)` uses the mean x and mean y of the data points inside it (which averages
noise). The background is the line (or polynomial) through the anchors, evaluated on every
point; it is fitted to the data, so it is not differentiable with respect to anything.
"""

from __future__ import annotations

from typing import Any, Protocol

import equinox as eqx
import numpy as np
import pint
from jaxtyping import Array, Float

from observables import UnitError

from ._errors import DatasetError
from ._units import x_magnitude

__all__ = ["AbstractBaseline", "NoBaseline", "LinearBaseline", "PolynomialBaseline"]


class _Curve(Protocol):
    """What a baseline reads of a dataset (a `Table`): its points and x unit."""

    x: Float[Array, " point"]
    y: Float[Array, " point"]
    x_unit: str


def _anchor_point(ds: _Curve, anchor: Any, what: str) -> tuple[float, float]:
    """(x, y) of one anchor, in the dataset's units."""

    def mag(q: Any) -> float:
        if not isinstance(q, pint.Quantity):
            raise UnitError(
                f"{what} anchor {q!r} needs a unit: pass a Quantity, e.g. Quantity({q!r}, "
                f"{ds.x_unit!r})"
            )
        try:
            return float(x_magnitude(q, ds.x_unit))
        except pint.errors.DimensionalityError:
            raise UnitError(
                f"{what} anchor {q} cannot be converted to the dataset's x unit {ds.x_unit!r}"
            ) from None

    x, y = np.asarray(ds.x), np.asarray(ds.y)
    if isinstance(anchor, tuple | list):
        if len(anchor) != 2:
            raise ValueError(f"{what}: a region anchor is a pair (lo, hi), got {anchor!r}")
        lo, hi = sorted((mag(anchor[0]), mag(anchor[1])))
        m = (x >= lo) & (x <= hi)
        if not m.any():
            raise DatasetError(
                f"{what}: no data points in the anchor region [{lo:g}, {hi:g}] {ds.x_unit} "
                f"(data range {x[0]:g}..{x[-1]:g}); widen it"
            )
        return float(x[m].mean()), float(y[m].mean())
    xa = mag(anchor)
    if not x[0] <= xa <= x[-1]:
        raise DatasetError(
            f"{what}: anchor {xa:g} {ds.x_unit} is outside the data range "
            f"{x[0]:g}..{x[-1]:g} {ds.x_unit}"
        )
    return xa, float(np.interp(xa, x, y))


class AbstractBaseline(eqx.Module):
    """A background model fitted to a spectrum; `evaluate(ds)` gives it on `ds.x`
    (`[point]`, in `ds.y_unit`)."""

    def evaluate(self, ds: _Curve) -> np.ndarray:
        raise NotImplementedError


class NoBaseline(AbstractBaseline):
    """No background: `with_baseline(NoBaseline())` returns the data unchanged."""

    def evaluate(self, ds: _Curve) -> np.ndarray:
        return np.zeros(np.shape(ds.y))


class LinearBaseline(AbstractBaseline):
    """The straight line through two anchors `x1`, `x2`.

    **Arguments:** `x1`, `x2`: each a `Quantity` (a point) or a pair of quantities
    `(lo, hi)` (a region whose mean x, mean y is the anchor), in any unit convertible to the
    dataset's x unit. E.g. `LinearBaseline(Quantity(3800, "1/cm"), Quantity(4000, "1/cm"))`.
    """

    x1: Any
    x2: Any

    def evaluate(self, ds: _Curve) -> np.ndarray:
        (xa, ya), (xb, yb) = (
            _anchor_point(ds, self.x1, "LinearBaseline x1"),
            _anchor_point(ds, self.x2, "LinearBaseline x2"),
        )
        if xa == xb:
            raise ValueError(f"LinearBaseline: the two anchors coincide at x = {xa:g}")
        x = np.asarray(ds.x)
        return ya + (yb - ya) * (x - xa) / (xb - xa)


class PolynomialBaseline(AbstractBaseline):
    """The least-squares polynomial of `degree` through the `anchors` (points or regions as
    in `LinearBaseline`); needs more than `degree` anchors. Fitted in a centred, scaled x
    for conditioning."""

    anchors: tuple
    degree: int = 2

    def __init__(self, anchors: Any, degree: int = 2):
        self.anchors = tuple(tuple(a) if isinstance(a, list) else a for a in anchors)
        self.degree = int(degree)
        if self.degree < 0:
            raise ValueError(f"PolynomialBaseline degree must be >= 0, got {degree}")
        if len(self.anchors) <= self.degree:
            raise ValueError(
                f"PolynomialBaseline of degree {self.degree} needs at least {self.degree + 1} "
                f"anchors, got {len(self.anchors)}"
            )

    def evaluate(self, ds: _Curve) -> np.ndarray:
        pts = np.array(
            [
                _anchor_point(ds, a, f"PolynomialBaseline anchor {i}")
                for i, a in enumerate(self.anchors)
            ]
        )
        x = np.asarray(ds.x)
        c, s = x.mean(), max(np.ptp(x), 1e-300) / 2
        coef = np.polynomial.polynomial.polyfit((pts[:, 0] - c) / s, pts[:, 1], self.degree)
        return np.polynomial.polynomial.polyval((x - c) / s, coef)
