"""`AbstractLoss` and its weighted sums.

A loss maps a prediction (an observable's output: a `Spectrum`, an `RDFResult`, a plain
array) to a scalar. Everything checkable is checked when the loss is built (units, ranges,
uncertainties); `__call__` works on plain arrays and is jit/grad/vmap safe.

Losses carry a `weight` (a static float, default 1) and a `name` (the key under which
`terms` reports them). They compose:

- `0.5 * loss` (or `loss * 0.5`, `loss / 2`): the same loss with its weight scaled;
- `loss_a + loss_b`, `sum_losses(a, b, ...)`, `LossSum((a, b, ...))`: several losses of the
  **same** prediction, $L = \\sum_i w_i L_i$;
- `JointLoss({"ir": loss_ir, "rdf": loss_rdf})`: one loss per prediction, called with a dict
  (or tuple) of predictions, for sums across observables and state points.

`terms(prediction)` gives a flat `dict[str, scalar]` for a fit history: each loss's weighted
contribution under its name (these add up to the total; `contributions` returns only
these), plus diagnostics under `name/...` (e.g. the peak positions of `PeakPosition`).
Nested sums prefix their children's names (`"ir/mse"`).
"""

from __future__ import annotations

import abc
import copy
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["AbstractLoss", "LossSum", "WeightedSum", "JointLoss", "LossError", "sum_losses"]


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
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"a loss name must be a non-empty string without '/', got {name!r}")
    return name


class AbstractLoss(eqx.Module):
    """A scalar function of a prediction, with a weight and a name.

    Subclasses implement `_evaluate(prediction) -> (value, diagnostics)`: the unweighted
    loss (a 0-d plain array) and a dict of 0-d diagnostic arrays (may be empty).

    **Fields (keyword-only in every subclass):**

    - `weight`: non-negative float multiplying the loss (default 1).
    - `name`: key of the loss in `terms` (default: a short name of the class).
    """

    weight: float = eqx.field(static=True, default=1.0, kw_only=True)
    name: str = eqx.field(static=True, default="loss", kw_only=True)

    @abc.abstractmethod
    def _evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        """(unweighted value, diagnostics)."""

    def __call__(self, prediction: Any) -> Float[Array, ""]:
        """`weight * value`, a 0-d plain array (differentiable w.r.t. the prediction)."""
        value, _ = self._evaluate(prediction)
        return self.weight * value

    # ----------------------------------------------------------------- reporting
    def _named_terms(
        self, prediction: Any, key: str, scale: float
    ) -> tuple[dict[str, Array], dict[str, Array]]:
        """(contributions, diagnostics), keyed under `key`, contributions times `scale`."""
        value, diagnostics = self._evaluate(prediction)
        contrib = {key: scale * self.weight * value}
        diag = {f"{key}/{k}": v for k, v in diagnostics.items()}
        return contrib, diag

    def _top_key(self) -> str:
        return self.name

    def contributions(self, prediction: Any) -> dict[str, Float[Array, ""]]:
        """The weighted contribution of every loss in this one, by name (they sum to
        `self(prediction)`)."""
        return self._named_terms(prediction, self._top_key(), 1.0)[0]

    def terms(self, prediction: Any) -> dict[str, Float[Array, ""]]:
        """`contributions` plus diagnostics (`name/...`), all 0-d arrays: a fit-history row."""
        contrib, diag = self._named_terms(prediction, self._top_key(), 1.0)
        return {**contrib, **diag}

    # --------------------------------------------------------------- composition
    def scaled(self, factor: Any) -> AbstractLoss:
        """A copy with `weight` multiplied by `factor` (>= 0)."""
        factor = check_weight(factor)
        new = copy.copy(self)
        object.__setattr__(new, "weight", self.weight * factor)
        return new

    def renamed(self, name: str) -> AbstractLoss:
        """A copy reported under `name` in `terms`."""
        new = copy.copy(self)
        object.__setattr__(new, "name", check_name(name))
        return new

    def __mul__(self, factor: Any) -> AbstractLoss:
        if isinstance(factor, AbstractLoss):
            return NotImplemented
        return self.scaled(factor)

    __rmul__ = __mul__

    def __truediv__(self, divisor: Any) -> AbstractLoss:
        if isinstance(divisor, AbstractLoss):
            return NotImplemented
        d = check_weight(divisor)
        if d == 0:
            raise ZeroDivisionError("cannot divide a loss by zero")
        return self.scaled(1.0 / d)

    def __add__(self, other: Any) -> AbstractLoss:
        if not isinstance(other, AbstractLoss):
            return NotImplemented
        return LossSum((self, other))

    def __radd__(self, other: Any) -> AbstractLoss:
        # sum([loss_a, loss_b]) starts from 0
        if isinstance(other, numbers.Number) and other == 0:
            return self
        return NotImplemented


def _unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """Suffix repeated names: ("mse", "mse") -> ("mse", "mse_2")."""
    seen: dict[str, int] = {}
    out = []
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


def _check_losses(losses: Any, where: str) -> tuple[AbstractLoss, ...]:
    losses = tuple(losses)
    if not losses:
        raise ValueError(f"{where} needs at least one loss")
    for loss in losses:
        if not isinstance(loss, AbstractLoss):
            raise TypeError(
                f"{where}: every term must be an AbstractLoss, got {type(loss).__name__}: {loss!r}"
            )
    return losses


class LossSum(AbstractLoss):
    r"""Weighted sum of losses of the **same** prediction: $L = w\sum_i w_i L_i(p)$.

    Built by `loss_a + loss_b`, `sum_losses(...)` or directly. Nested sums of weight 1 are
    flattened. Each term is reported in `terms` under its own name (repeated names get
    `_2`, `_3`, ...); a sum nested in a `JointLoss` is prefixed with the joint name.

    **Arguments:** `losses`: a sequence of `AbstractLoss`; `weight`, `name` as for any loss.
    """

    losses: tuple[AbstractLoss, ...]
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, losses: Sequence[AbstractLoss], *, weight: Any = 1.0, name: str = "sum"):
        flat: list[AbstractLoss] = []
        for loss in _check_losses(losses, "LossSum"):
            if type(loss) is LossSum and loss.weight == 1.0:
                flat.extend(loss.losses)
            else:
                flat.append(loss)
        self.losses = tuple(flat)
        self.names = _unique_names([loss.name for loss in flat])
        self.weight = check_weight(weight)
        self.name = check_name(name)

    def _evaluate(self, prediction):
        total = sum(loss(prediction) for loss in self.losses)
        return total, {}

    def _named_terms(self, prediction, key, scale):
        contrib: dict[str, Array] = {}
        diag: dict[str, Array] = {}
        for name, loss in zip(self.names, self.losses, strict=True):
            c, d = loss._named_terms(
                prediction, f"{key}/{name}" if key else name, scale * self.weight
            )
            contrib.update(c)
            diag.update(d)
        return contrib, diag

    def _top_key(self) -> str:
        return ""


#: Alias of `LossSum` (several weighted losses of one prediction).
WeightedSum = LossSum


def sum_losses(
    *losses: AbstractLoss, weights: Sequence[Any] | None = None, name: str = "sum"
) -> LossSum:
    r"""$\sum_i w_i L_i$ of the same prediction; `weights` (default all 1) multiply each
    loss's own weight."""
    losses = _check_losses(losses, "sum_losses")
    if weights is not None:
        weights = tuple(weights)
        if len(weights) != len(losses):
            raise ValueError(f"sum_losses: {len(losses)} losses but {len(weights)} weights")
        losses = tuple(loss.scaled(w) for loss, w in zip(losses, weights, strict=True))
    return LossSum(losses, name=name)


class JointLoss(AbstractLoss):
    r"""One loss per prediction: $L = w\sum_k L_k(p_k)$, for fits to several observables or
    state points at once.

    **Arguments:**

    - `losses`: a mapping `{name: loss}` (the prediction is then a dict with the same keys)
      or a sequence of losses (the prediction is a tuple/list in the same order; names are
      the losses' own names, made unique).
    - `weight`, `name` as for any loss.

    `terms` prefixes each loss's terms with its name: `{"ir_298K/mse": ..., "rdf_350K/w1":
    ...}`.
    """

    losses: tuple[AbstractLoss, ...]
    names: tuple[str, ...] = eqx.field(static=True)
    keyed: bool = eqx.field(static=True)

    def __init__(
        self,
        losses: Mapping[str, AbstractLoss] | Sequence[AbstractLoss],
        *,
        weight: Any = 1.0,
        name: str = "joint",
    ):
        if isinstance(losses, Mapping):
            names = tuple(check_name(k) for k in losses)
            self.losses = _check_losses(losses.values(), "JointLoss")
            self.keyed = True
        else:
            self.losses = _check_losses(losses, "JointLoss")
            names = _unique_names([loss.name for loss in self.losses])
            self.keyed = False
        self.names = names
        self.weight = check_weight(weight)
        self.name = check_name(name)

    def _split(self, predictions: Any) -> tuple[Any, ...]:
        if self.keyed:
            if not isinstance(predictions, Mapping):
                raise LossError(
                    f"JointLoss over {list(self.names)} needs a dict of predictions with these "
                    f"keys, got {type(predictions).__name__}"
                )
            missing = [n for n in self.names if n not in predictions]
            extra = [k for k in predictions if k not in self.names]
            if missing or extra:
                raise LossError(
                    f"JointLoss predictions: missing keys {missing}, unexpected keys {extra} "
                    f"(expected {list(self.names)})"
                )
            return tuple(predictions[n] for n in self.names)
        if not isinstance(predictions, list | tuple) or len(predictions) != len(self.losses):
            n = len(predictions) if isinstance(predictions, list | tuple) else "not a sequence"
            raise LossError(
                f"JointLoss over {len(self.losses)} losses {list(self.names)} needs a tuple of "
                f"{len(self.losses)} predictions in that order, got {type(predictions).__name__} "
                f"({n})"
            )
        return tuple(predictions)

    def _evaluate(self, predictions):
        parts = self._split(predictions)
        total = sum(loss(p) for loss, p in zip(self.losses, parts, strict=True))
        return total, {}

    def _named_terms(self, predictions, key, scale):
        contrib: dict[str, Array] = {}
        diag: dict[str, Array] = {}
        parts = self._split(predictions)
        for name, loss, p in zip(self.names, self.losses, parts, strict=True):
            sub = f"{key}/{name}" if key else name
            c, d = loss._named_terms(
                p, sub + (f"/{loss._top_key()}" if loss._top_key() else ""), scale * self.weight
            )
            contrib.update(c)
            diag.update(d)
        return contrib, diag

    def _top_key(self) -> str:
        return ""


def as_scalar(x: Any) -> Array:
    """A 0-d array (for `terms`)."""
    return jnp.reshape(jnp.asarray(x), ())
