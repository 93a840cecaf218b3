"""Settling a stochastic fit at its noise floor: learning-rate schedules, iterate averaging,
a stopping rule, and sample counts that grow until the gradient's signal-to-noise target
is met.

With gradients estimated from MD, every step of a fixed-learning-rate optimiser follows
the true gradient plus noise, so the iterates do not converge: they wander around the
minimum with a spread set by the learning rate and the gradient noise. Three remedies,
each off by default:

- a decaying learning rate (`learning_rate_schedule`: cosine, exponential or step decay,
  the optax schedules) shrinks the steps and with them the spread;
- averaging the iterates (`IterateAverage`) keeps the steps and averages the noise out of
  the answer (Polyak–Ruppert: the spread of the mean of n roughly independent iterates
  is ~1/√n of theirs);
- more samples per gradient (`target_snr`) lower the noise itself.

`StopWhen` ends a fit once the answer stops moving.

??? cite
    B. T. Polyak, A. B. Juditsky, "Acceleration of stochastic approximation by
    averaging", SIAM J. Control Optim. 30, 838 (1992); D. Ruppert, "Efficient estimations
    from a slowly convergent Robbins–Monro process", Cornell ORIE Tech. Rep. 781 (1988).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PyTree

from ..gradients import GradientWarning
from ._checkpoint import leaves_to_numpy, restore
from ._loop import float_dict
from ._params import flat_parameters
from ._target import Target

__all__ = [
    "IterateAverage",
    "StopWhen",
    "SCHEDULES",
    "SAMPLE_FIELDS",
    "learning_rate_schedule",
    "as_averaging",
    "Convergence",
]

#: The learning-rate schedules `learning_rate_schedule` knows.
SCHEDULES = ("constant", "cosine", "exponential", "step")
#: The strategy fields `target_snr` grows (the first one a strategy has): `Truncated`
#: segments, `Reweighting` frames, replicas of a strategy that has such a field.
SAMPLE_FIELDS = ("n_segments", "n_frames", "n_replicas")


def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return float(value)


def learning_rate_schedule(
    kind: str = "constant",
    learning_rate: float = 1e-2,
    *,
    steps: int | None = None,
    final_fraction: float = 0.0,
    decay_rate: float | None = None,
    transition_steps: int | None = None,
) -> optax.Schedule:
    """An optax learning-rate schedule η(k) of the optimiser step k = 0, 1, ... (pass it to
    `default_optimizer` or to any optax optimiser).

    - `"constant"`: η(k) = η₀ (`optax.constant_schedule`);
    - `"cosine"`: η(k) = η₀ [f + (1 − f) ½ (1 + cos(π min(k, K)/K))], from η₀ at k = 0 to
      f·η₀ at k = K = `steps` (`optax.cosine_decay_schedule`, f = `final_fraction`);
    - `"exponential"`: η(k) = η₀ r^(k/T) (`optax.exponential_decay`, r = `decay_rate`,
      T = `transition_steps`);
    - `"step"`: η(k) = η₀ r^⌊k/T⌋, the rate multiplied by r every T steps
      (`optax.exponential_decay(..., staircase=True)`).

    η₀ = `learning_rate` (relative: with Adam a step moves each parameter by about η times
    its starting value). Raises `ValueError` for an unknown kind or a missing or
    out-of-range parameter (`steps` ≥ 1 for cosine; 0 ≤ f ≤ 1; 0 < r ≤ 1 and T ≥ 1 for
    exponential and step decay).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {kind!r}")
    lr = _number(learning_rate, "learning_rate")
    if not lr > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "cosine":
        if steps is None:
            raise ValueError("the cosine schedule needs steps (the step it decays to its floor)")
        k = _positive_int(steps, "cosine schedule steps")
        f = _number(final_fraction, "final_fraction")
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"final_fraction must be in [0, 1], got {final_fraction!r}")
        return optax.cosine_decay_schedule(lr, decay_steps=k, alpha=f)
    if decay_rate is None or transition_steps is None:
        raise ValueError(f"the {kind} schedule needs decay_rate and transition_steps")
    r = _number(decay_rate, "decay_rate")
    if not 0.0 < r <= 1.0:
        raise ValueError(f"decay_rate must be in (0, 1], got {decay_rate!r}")
    t = _positive_int(transition_steps, "transition_steps")
    return optax.exponential_decay(lr, transition_steps=t, decay_rate=r, staircase=kind == "step")


@dataclasses.dataclass(frozen=True)
class IterateAverage:
    """Average the parameter iterates θ_k (the parameters at which step k is evaluated)
    from step s = `start` on; the average is then the fit's answer.

    - `kind="polyak"` (Polyak–Ruppert): a_k = (1/(k − s + 1)) Σ_{j=s..k} θ_j;
    - `kind="ema"`: a_s = θ_s, a_k = β a_{k−1} + (1 − β) θ_k (β = `decay`, in (0, 1));
      it forgets the early iterates, with a memory of about 1/(1 − β) steps.

    `start`: the first step averaged (an integer ≥ 0); default `None`: half of the fit's
    steps (`steps // 2`), so the transient of the first half is left out. When the fit is
    extended later, the average continues from the start it had.
    """

    kind: str = "polyak"
    start: int | None = None
    decay: float = 0.9

    def __post_init__(self):
        if self.kind not in ("polyak", "ema"):
            raise ValueError(f"averaging kind must be 'polyak' or 'ema', got {self.kind!r}")
        if self.start is not None:
            object.__setattr__(self, "start", _positive_int(self.start, "averaging start", 0))
        decay = _number(self.decay, "averaging decay")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"averaging decay must be in (0, 1), got {self.decay!r}")
        object.__setattr__(self, "decay", decay)

    def first_step(self, steps: int) -> int:
        """The first averaged step of a fit of `steps` steps."""
        return steps // 2 if self.start is None else self.start


def as_averaging(value: Any) -> IterateAverage | None:
    """`fit`'s `averaging` argument as an `IterateAverage` (or None): `None`, `"polyak"`,
    `"ema"`, `("ema", decay)` or an `IterateAverage`."""
    if value is None or isinstance(value, IterateAverage):
        return value
    if isinstance(value, str):
        return IterateAverage(value)
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ema":
        return IterateAverage("ema", decay=value[1])
    raise TypeError(
        "averaging must be None, 'polyak', 'ema', ('ema', decay) or an IterateAverage, "
        f"got {value!r}"
    )


@dataclasses.dataclass(frozen=True)
class StopWhen:
    """Stop a fit early once its answer settles: when the relative change of the parameters
    between successive steps, max over parameters (and elements) of |a_k − a_{k−1}| / |a_{k−1}|
    (|θ₀| or 1 where a_{k−1} = 0), stays below `rtol` for `patience` consecutive steps.

    a_k are the averaged parameters when `IterateAverage` is on (counted from the second
    averaged step), else the iterates. The fit then evaluates the targets at a_k as its
    final evaluation; `fit.json` records `"stopped_early": true` and `"steps_run": k`.
    """

    rtol: float = 1e-3
    patience: int = 3

    def __post_init__(self):
        rtol = _number(self.rtol, "stop rtol")
        if not rtol > 0:
            raise ValueError(f"stop rtol must be > 0, got {self.rtol!r}")
        object.__setattr__(self, "rtol", rtol)
        object.__setattr__(self, "patience", _positive_int(self.patience, "stop patience"))

    def reason(self) -> str:
        return (
            f"the parameters changed by less than {self.rtol:g} (relative) for "
            f"{self.patience} consecutive steps"
        )


def sample_field(strategy: Any) -> str | None:
    """The sample-count field of a gradient strategy that `target_snr` grows, or None."""
    names = {f.name for f in dataclasses.fields(strategy)}
    return next((n for n in SAMPLE_FIELDS if n in names), None)


def _median_snr(row_target: dict) -> float | None:
    snr = row_target.get("diagnostics", {}).get("grad_snr")
    if not snr:
        return None
    values = np.concatenate([np.ravel(np.asarray(v, float)) for v in snr.values()])
    return float(np.median(values)) if values.size else None


def _relative_change(new: PyTree, old: PyTree, scale: PyTree) -> float:
    """max over parameters and elements of |new − old| / |old| (the starting magnitude
    `scale` where old = 0)."""
    ratios = jax.tree.map(
        lambda a, b, s: jnp.max(jnp.abs(a - b) / jnp.where(b != 0, jnp.abs(b), s)),
        new,
        old,
        scale,
    )
    return max(float(r) for r in jax.tree.leaves(ratios))


@dataclasses.dataclass(frozen=True)
class Convergence:
    """The convergence options of one `fit` call, and the operations on their evolving
    state (a dict kept in the fit's state and checkpoint: the average, the stopping
    rule's counter, the grown sample counts)."""

    averaging: IterateAverage | None
    stop: StopWhen | None
    target_snr: float | None
    max_growth: int
    scale: PyTree

    @classmethod
    def build(
        cls, averaging, stop, target_snr, max_growth, targets: Sequence[Target], steps: int
    ) -> Convergence:
        """Checked options of a fit of `steps` steps (`ValueError`/`TypeError` naming the
        bad argument); `scale` (the parameters' starting magnitudes) is set later."""
        averaging = as_averaging(averaging)
        if averaging is not None and averaging.first_step(steps) > steps:
            raise ValueError(f"averaging start {averaging.start} is beyond the {steps} steps")
        if stop is not None and not isinstance(stop, StopWhen):
            raise TypeError(f"stop must be None or a StopWhen, got {stop!r}")
        max_growth = _positive_int(max_growth, "max_growth")
        if target_snr is not None:
            target_snr = _number(target_snr, "target_snr")
            if not target_snr > 0:
                raise ValueError(f"target_snr must be > 0, got {target_snr!r}")
            if not any(sample_field(t.gradient) for t in targets):
                raise ValueError(
                    "target_snr: no target's gradient strategy has a sample count to grow "
                    f"({', '.join(SAMPLE_FIELDS)}); the strategies are "
                    f"{sorted({type(t.gradient).__name__ for t in targets})}"
                )
        return cls(averaging, stop, target_snr, max_growth, None)

    def fingerprint(self) -> dict | None:
        """The options that change what a checkpoint means (None when all are off)."""
        parts: dict = {}
        if self.averaging is not None:
            parts["averaging"] = dataclasses.asdict(self.averaging)
        if self.stop is not None:
            parts["stop"] = dataclasses.asdict(self.stop)
        if self.target_snr is not None:
            parts["target_snr"] = [self.target_snr, self.max_growth]
        return parts or None

    # ------------------------------------------------------------------------- state
    def fresh(self, steps: int) -> dict:
        start = None if self.averaging is None else self.averaging.first_step(steps)
        c = dict(avg=None, n=0, last=-1, prev=None, calm=0, change=None, stopped=False)
        c.update(start=start, sizes={})
        return c

    def to_checkpoint(self, c: dict) -> dict:
        trees = {k: None if c[k] is None else leaves_to_numpy(c[k]) for k in ("avg", "prev")}
        return {**c, **trees, "sizes": dict(c["sizes"])}

    def from_checkpoint(self, saved: dict | None, params: PyTree, steps: int) -> dict:
        """The state saved by `to_checkpoint` (a fresh one for a checkpoint without it)."""
        if saved is None:
            return self.fresh(steps)
        c = dict(saved, sizes=dict(saved["sizes"]))
        for k, what in (("avg", "parameter average"), ("prev", "previous parameters")):
            c[k] = None if saved[k] is None else restore(params, saved[k], what)
        return c

    def answer(self, c: dict, params: PyTree) -> PyTree:
        """The fit's answer: the average when averaging has begun, else the iterate."""
        return c["avg"] if self.averaging is not None and c["n"] > 0 else params

    def advance(self, c: dict, params: PyTree, step: int, final: bool) -> PyTree:
        """Take in the iterate `params` of `step` (once: a repeated step is ignored): update
        the average and the stopping rule; returns the answer at this step. Sets
        `c["stopped"]` when the rule fires (never at the `final` step)."""
        if step <= c["last"]:
            return self.answer(c, params)
        c["last"] = step
        avg = self.averaging
        if avg is not None and step >= c["start"]:
            n = c["n"]
            if n == 0:
                c["avg"] = params
            elif avg.kind == "polyak":
                c["avg"] = jax.tree.map(lambda a, x: a + (x - a) / (n + 1), c["avg"], params)
            else:
                b = avg.decay
                c["avg"] = jax.tree.map(lambda a, x: b * a + (1.0 - b) * x, c["avg"], params)
            c["n"] = n + 1
        answer = self.answer(c, params)
        if self.stop is not None:
            counted = c["prev"] is not None and (avg is None or c["n"] >= 2)
            c["change"] = _relative_change(answer, c["prev"], self.scale) if counted else None
            c["calm"] = c["calm"] + 1 if counted and c["change"] < self.stop.rtol else 0
            c["prev"] = answer
            if not final and c["calm"] >= self.stop.patience:
                c["stopped"] = True
        return answer

    def row(self, c: dict, params: PyTree, final: bool, targets: Sequence[Target]) -> dict:
        """The history entries of the options: `params_avg` (the average so far),
        `params_last` (final row: the last iterate), `param_change` (the stopping rule's
        relative change), `sample_sizes` (the grown fields), `stopped_early`."""
        out: dict = {}
        if self.averaging is not None and c["n"] > 0:
            out["params_avg"] = float_dict(flat_parameters(c["avg"]))
            if final:
                out["params_last"] = float_dict(flat_parameters(params))
        if self.stop is not None:
            out["param_change"] = c["change"]
        if self.target_snr is not None:
            out["sample_sizes"] = {
                t.name: {f: getattr(t.gradient, f)}
                for t in targets
                if (f := sample_field(t.gradient)) is not None
            }
        if final and c["stopped"]:
            out["stopped_early"] = True
        return out

    # ----------------------------------------------------------------- sample counts
    def targets(self, base: Sequence[Target], c: dict) -> list[Target]:
        """The targets with their grown sample counts."""
        out = []
        for t in base:
            if t.name in c["sizes"]:
                field = sample_field(t.gradient)
                grown = dataclasses.replace(t.gradient, **{field: c["sizes"][t.name]})
                t = eqx.tree_at(lambda x: x.gradient, t, grown)
            out.append(t)
        return out

    def grow(self, c: dict, base: Sequence[Target], row: dict) -> list[str]:
        """After a step: double the sample count of every target whose median gradient SNR
        (over parameters and elements) in `row` is below `target_snr`, up to `max_growth`
        times its starting value; warns (`GradientWarning`) for a target already there.
        Returns the names of the grown targets."""
        if self.target_snr is None:
            return []
        grown = []
        for t in base:
            field = sample_field(t.gradient)
            snr = None if field is None else _median_snr(row["targets"][t.name])
            if snr is None or snr >= self.target_snr:
                continue
            start = getattr(t.gradient, field)
            now, cap = c["sizes"].get(t.name, start), start * self.max_growth
            if now >= cap:
                warnings.warn(
                    f"target {t.name!r}: the median gradient signal-to-noise {snr:.3g} is "
                    f"below target_snr = {self.target_snr:g} with {field} = {now}, already "
                    f"max_growth = {self.max_growth} times its starting value",
                    GradientWarning,
                    stacklevel=4,
                )
                continue
            c["sizes"][t.name] = min(2 * now, cap)
            grown.append(t.name)
        return grown
