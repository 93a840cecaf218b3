r"""`AbstractLoss` and the one way to combine losses: `+` and scalar weights.

A loss maps a prediction (an observable's output) to a scalar. Everything checkable is
checked when the loss (and its `Reference`) is built; `__call__` works on plain arrays and is
jit/grad/vmap safe.

Losses combine with `+` and scalar weights, like numbers:

```python
loss = 1e6 * MeanSquaredError(ref, normalisation=AreaNormalised()) + Wasserstein1(ref) / 2
```

The result is a `LossSum`, $L = \sum_i w_i L_i(p)$ over losses of the **same** prediction
(weights $w_i \ge 0$, Python floats). Sums flatten: `3 * (a + b)` is `3a + 3b`. Fits to
several observables or state points list one `spectrinv.fit.Target` per prediction; each
target's loss is one of these.

`terms(prediction)` gives a flat `dict[str, scalar]` for a fit history: each loss's weighted
contribution under its `name` (these add up to the total; `contributions` returns only
these), plus diagnostics under `name/...` (e.g. the band positions of `PeakPosition`).
Repeated names in a sum get `_2`, `_3`, ...
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["AbstractLoss", "LossSum", "LossError"]


class LossError(ValueError):
    """A loss cannot be built or evaluated: ranges that do not overlap, a dataset without the
    uncertainty a χ² needs, a window outside the data, a prediction of the wrong kind."""


def check_weight(weight: Any) -> float:
    """A finite, non-negative Python float, or a clear error."""
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        try:
            weight = float(weight)  # 0-d numpy / concrete jax scalars
        except (TypeError, ValueError):
            raise TypeError(
                f"a loss weight must be a real number, got {weight!r} ({type(weight).__name__})"
            ) from None
    weight = float(weight)
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"a loss weight must be finite and >= 0, got {weight!r}")
    return weight


def check_name(name: Any) -> str:
    """A non-empty name without '/' (the separator of `terms` keys), or a clear error."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"a loss name must be a non-empty string without '/', got {name!r}")
    return name


class AbstractLoss(eqx.Module):
    """A scalar function of a prediction, reported under a name.

    Subclasses set `name` (the key of the loss in `terms`) and implement
    `evaluate(prediction) -> (value, diagnostics)`: the loss (a 0-d plain array) and a dict
    of 0-d diagnostic arrays (may be empty). Combine losses with `+` and scalar weights
    (`0.5 * a + b`, `a / 4`): the result is a `LossSum`.
    """

    name: eqx.AbstractVar[str]

    @abc.abstractmethod
    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        """`(value, diagnostics)`: the loss and its 0-d diagnostics."""

    def __call__(self, prediction: Any) -> Float[Array, ""]:
        """The loss, a 0-d plain array (differentiable w.r.t. the prediction)."""
        value, _ = self.evaluate(prediction)
        return value

    # ----------------------------------------------------------------- reporting
    def _named_terms(
        self, prediction: Any, key: str, weight: float
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """(contributions, diagnostics) keyed under `key`, the contribution times `weight`."""
        value, diagnostics = self.evaluate(prediction)
        return {key: weight * value}, {f"{key}/{k}": v for k, v in diagnostics.items()}

    def contributions(self, prediction: Any) -> dict[str, Float[Array, ""]]:
        """The weighted contribution of every loss in this one, by name (they sum to
        `self(prediction)`)."""
        return self._named_terms(prediction, self.name, 1.0)[0]

    def terms(self, prediction: Any) -> dict[str, Float[Array, ""]]:
        """`contributions` plus diagnostics (`name/...`), all 0-d arrays: a fit-history row."""
        contrib, diag = self._named_terms(prediction, self.name, 1.0)
        return {**contrib, **diag}

    # --------------------------------------------------------------- composition
    def _weighted(self) -> tuple[tuple[AbstractLoss, ...], tuple[float, ...]]:
        return (self,), (1.0,)

    def __mul__(self, factor: Any) -> LossSum:
        if isinstance(factor, AbstractLoss):
            return NotImplemented
        factor = check_weight(factor)
        losses, weights = self._weighted()
        return LossSum(losses, tuple(factor * w for w in weights))

    __rmul__ = __mul__

    def __truediv__(self, divisor: Any) -> LossSum:
        if isinstance(divisor, AbstractLoss):
            return NotImplemented
        d = check_weight(divisor)
        if d == 0:
            raise ZeroDivisionError("cannot divide a loss by zero")
        return self * (1.0 / d)

    def __add__(self, other: Any) -> LossSum:
        if not isinstance(other, AbstractLoss):
            return NotImplemented
        a, wa = self._weighted()
        b, wb = other._weighted()
        return LossSum(a + b, wa + wb)

    def __radd__(self, other: Any) -> AbstractLoss:
        # sum([loss_a, loss_b]) starts from 0
        if isinstance(other, numbers.Number) and other == 0:
            return self
        return NotImplemented


def _unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """Suffix repeated names: ("mse", "mse") -> ("mse", "mse_2")."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for n in names:
        if n in seen:
            seen[n] += 1
            candidate = f"{n}_{seen[n]}"
            while candidate in names or candidate in out:
                seen[n] += 1
                candidate = f"{n}_{seen[n]}"
            out.append(candidate)
        else:
            seen[n] = 1
            out.append(n)
    return tuple(out)


class LossSum(AbstractLoss):
    r"""A weighted sum of losses of the same prediction, $L = \sum_i w_i L_i(p)$.

    Made by `+` and scalar weights (`0.5 * a + b / 4`), never nested (`3 * (a + b)` holds
    `3a` and `3b`). `terms` reports each loss's weighted contribution $w_i L_i$ under its own
    name (repeated names get `_2`, `_3`, ...) and its diagnostics under `name/...`.

    **Fields:** `losses` (the `AbstractLoss` terms, none of them a `LossSum`), `weights`
    (static non-negative floats, one per loss), `names` (their keys in `terms`).
    """

    losses: tuple[AbstractLoss, ...]
    weights: tuple[float, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(self, losses: Sequence[AbstractLoss], weights: Sequence[Any]):
        losses, weights = tuple(losses), tuple(check_weight(w) for w in weights)
        if not losses or len(losses) != len(weights):
            raise ValueError(
                f"LossSum needs one weight per loss, got {len(losses)} losses and "
                f"{len(weights)} weights; combine losses with + and * instead"
            )
        for loss in losses:
            if not isinstance(loss, AbstractLoss) or isinstance(loss, LossSum):
                raise TypeError(
                    f"LossSum terms must be single losses, got {type(loss).__name__}; combine "
                    "losses with + and *"
                )
        self.losses, self.weights = losses, weights
        self.names = _unique_names([loss.name for loss in losses])
        self.name = "sum"

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        total = sum(w * loss(prediction) for w, loss in zip(self.weights, self.losses, strict=True))
        return total, {}

    def _named_terms(self, prediction, key, weight):
        contrib: dict[str, Array] = {}
        diag: dict[str, Array] = {}
        for name, w, loss in zip(self.names, self.weights, self.losses, strict=True):
            c, d = loss._named_terms(prediction, name, weight * w)
            contrib.update(c)
            diag.update(d)
        return contrib, diag

    def _weighted(self) -> tuple[tuple[AbstractLoss, ...], tuple[float, ...]]:
        return self.losses, self.weights


def as_scalar(x: Any) -> Array:
    """A 0-d array (for `terms`)."""
    return jnp.reshape(jnp.asarray(x), ())
