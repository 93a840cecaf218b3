"""`fit`: refine a potential's parameters against experimental targets with optax.

Each step: for every `Target`, build the MD state from the target's current configuration
at the current parameters, ask the target's gradient strategy for (loss, gradient), sum
the losses and gradients, apply the optimiser update (gradient clipping + Adam by
default), project onto the bounds, then write a checkpoint and one line of history. After
the last step the objectives are evaluated once more at the final parameters (the "after"
state), and before/after plots of every observable against its dataset are written.

Randomness: the key of step k is `fold_in(PRNGKey(seed), k)` and target i uses
`fold_in(key_k, i)`, so a resumed fit draws exactly the same numbers as an uninterrupted
one.

Output folder (`output_dir`):
- `checkpoint.npz` — full state after the last completed step (see `_checkpoint`);
- `history.jsonl` — one JSON object per step: total loss, per-target loss terms,
  parameters, gradients, gradient norms, strategy diagnostics (ESS, reconstruction error,
  ...), wall time;
- `fit.json` — summary (initial and final parameters and losses) and, under
  `"uncertainty"`, the parameters' standard errors, correlations and stiff/sloppy
  combinations at the final parameters (see `fit_uncertainty`);
- `loss.png`, `<target>.png` — loss curve and before/after comparisons with the data;
  `uncertainty.png` — 1σ/2σ error ellipses of every parameter pair.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray, PyTree

from .._progress import progress_task
from ..potentials import AbstractPotential
from ._checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint, to_numpy_tree
from ._convergence import Convergence, IterateAverage, StopWhen
from ._fingerprint import describe_changes, fingerprint_fields
from ._loop import evaluate, float_dict, payload, print_row, read_history, restore_cache
from ._md import equilibrate
from ._params import Interval, apply_bounds, check_bound_units, flat_parameters, select
from ._sensitivity import final_uncertainty, parameter_units
from ._target import Target

__all__ = ["fit", "FitResult", "default_optimizer"]


def default_optimizer(
    learning_rate: float | optax.Schedule = 1e-2,
    clip_norm: float | None = 1.0,
    momentum: float = 0.9,
) -> optax.GradientTransformation:
    """Adam with global-norm gradient clipping (the fit default).

    `fit` applies the optimiser to parameters relative to their starting magnitudes
    (u = θ/|θ₀|), so with Adam a step changes each parameter by about `learning_rate`
    times its initial value, whatever its unit. `learning_rate` is a number or an optax
    schedule of the step (`learning_rate_schedule`: cosine, exponential or step decay).
    `momentum` is Adam's first-moment decay b1 (0 ≤ b1 < 1; optax's default 0.9): a fit of
    only a few steps overshoots with b1 = 0.9, because the average of past gradients keeps
    pushing for several steps after the optimum is passed; a smaller b1 turns sooner.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum (Adam's b1) must be in [0, 1), got {momentum}")
    chain = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    return optax.chain(*chain, optax.adam(learning_rate, b1=momentum))


class FitResult(eqx.Module):
    """What `fit` returns: the fitted potential and the record of the fit.

    - `potential`: the potential with the final parameters (the fit's answer: the average
      of the iterates when `averaging` is on);
    - `history`: list of per-step dicts (as in `history.jsonl`), the final evaluation last
      (`"final": true`);
    - `initial`, `final`: `{target name: observed}` — the observables before the first
      update and at the final parameters;
    - `output_dir`: where checkpoint, history and plots were written;
    - `uncertainty`: the `ParameterUncertainty` at the final parameters (standard errors,
      correlations, stiff and sloppy combinations), or None when it was switched off or
      could not be computed (the reason is in `fit.json`).

    `steps_run` and `stopped_early` tell whether the stopping rule (`StopWhen`) ended it.
    """

    potential: AbstractPotential
    history: list
    initial: dict
    final: dict
    output_dir: Path = eqx.field(static=True)
    uncertainty: Any = None

    @property
    def initial_loss(self) -> float:
        return self.history[0]["loss"]

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"]

    @property
    def steps_run(self) -> int:
        """Optimiser steps taken (fewer than asked when the fit stopped early)."""
        return self.history[-1]["step"]

    @property
    def stopped_early(self) -> bool:
        """Whether the stopping rule (`StopWhen`) ended the fit."""
        return bool(self.history[-1].get("stopped_early", False))


def fit(
    potential: AbstractPotential,
    targets: Sequence[Target],
    *,
    steps: int,
    output_dir: str | Path,
    trainable: Sequence[str] | None = None,
    bounds: dict[str, Interval] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    optimizer_id: str = "default",
    seed: int = 0,
    resume: bool = True,
    progress: bool | Callable[[dict], None] = True,
    plots: bool = True,
    uncertainty: bool = True,
    averaging: IterateAverage | str | tuple | None = None,
    stop: StopWhen | None = None,
    target_snr: float | None = None,
    max_growth: int = 8,
    prior: Callable[[AbstractPotential], Any] | None = None,
    step_scale: dict[str, float] | None = None,
) -> FitResult:
    """Fit `potential`'s parameters so that the targets' observables match their data.

    **Arguments:**
    - `potential`: the starting potential (an `AbstractPotential`);
    - `targets`: `Target` objects (observable + dataset loss + state point + gradient
      strategy); the total loss is the sum of their losses (weights are part of each loss);
    - `steps`: number of optimiser updates;
    - `output_dir`: folder for checkpoint, history and plots;
    - `trainable`: parameter names to fit (see `parameter_names`); default: all;
    - `bounds`: `{name: Interval(lower, upper)}` projections applied after each update;
    - `optimizer`: an optax transformation (default `default_optimizer()`: clip to global
      norm 1, Adam with learning rate 1e-2), applied to the relative parameters
      u = θ/|θ₀| (θ₀: the starting values); `optimizer_id` names it in the checkpoint
      fingerprint (a checkpoint of another optimiser is refused);
    - `seed`: all randomness derives from it;
    - `resume`: continue from `output_dir/checkpoint.npz` if present (else start afresh,
      overwriting);
    - `progress`: print one line per step (True), stay silent (False) or call a function
      with each history row;
    - `plots`: write the plots (`loss.png`, `<target>.png`, `uncertainty.png`);
    - `uncertainty`: after the final evaluation, estimate the parameters' standard errors,
      correlations and identifiability (`fit_uncertainty`: 2p + 1 more evaluations of
      every target for p parameters) and write them to `fit.json` under `"uncertainty"`;
    - `averaging`: `None` (default: the answer is the last iterate), `"polyak"`, `"ema"`,
      `("ema", decay)` or an `IterateAverage`: average the parameter iterates from its
      `start` on; the average is then the answer (final evaluation, `potential`,
      `fit.json`, uncertainty), and history rows record it as `params_avg`;
    - `stop`: a `StopWhen(rtol, patience)`: end the fit early once the answer's relative
      change per step stays below `rtol` for `patience` steps (`fit.json`: `steps_run`);
    - `target_snr`: after each step, double the sample count (`Truncated.n_segments`,
      `Reweighting.n_frames`) of every target whose median gradient signal-to-noise
      (`grad_snr` of its diagnostics, over parameters) is below it, up to `max_growth`
      times the starting count (then a `GradientWarning`); history rows record the counts
      (`sample_sizes`); targets whose strategy reports no `grad_snr` are left as they are;
    - `prior`: a differentiable penalty of the potential (e.g. a `SmoothnessPrior`), added
      to the total loss with its exact gradient at every evaluation (history: `prior`).
      The uncertainty analysis uses the targets alone: its errors are the data's, without
      the prior's information.
    - `step_scale`: `{name: factor}` multiplying those parameters' steps (`scale_steps`).

    The checkpoint holds the average, the stopping rule's state and the grown counts: a
    resumed fit continues exactly; a fit that stopped early is finished.

    **Returns:** a `FitResult`.
    """
    targets = _checked_targets(targets)
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    conv = Convergence.build(averaging, stop, target_snr, max_growth, targets, steps)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    optimizer = default_optimizer() if optimizer is None else optimizer

    spec = select(potential, trainable)
    params, static = eqx.partition(potential, spec)
    trainable_names = sorted(flat_parameters(params))
    optimizer, optimizer_id = _scaled(optimizer, optimizer_id, params, step_scale, trainable_names)
    if bounds:
        params = apply_bounds(params, _checked_bounds(bounds, potential))
    scale, opt_state = _relative_start(optimizer, params)
    conv = dataclasses.replace(conv, scale=scale)
    run = _FitRun(
        targets=targets,
        static=static,
        scale=scale,
        optimizer=optimizer,
        bounds=bounds,
        output_dir=output_dir,
        **fingerprint_fields(targets, trainable_names, seed, optimizer_id, conv.fingerprint()),
        base_key=jax.random.key(seed),
        conv=conv,
        report=_reporter(progress, potential, trainable_names),
        prior=prior,
    )
    st = run.start(params, opt_state, steps, resume)
    run.run_steps(st, steps)
    return run.finish(st, steps, trainable_names, seed, plots=plots, uncertainty=uncertainty)


def _scaled(optimizer, optimizer_id: str, params: PyTree, step_scale, names) -> tuple:
    """`optimizer` followed by `scale_steps`, and its fingerprint name (both unchanged
    without step scales)."""
    if not step_scale:
        return optimizer, optimizer_id
    factors = ", ".join(f"{k}={float(v)!r}" for k, v in sorted(step_scale.items()))
    chained = optax.chain(optimizer, scale_steps(params, step_scale, names))
    return chained, f"{optimizer_id} * step_scale({factors})"


def scale_steps(
    params: PyTree, step_scale: dict[str, float], trainable_names: Sequence[str]
) -> optax.GradientTransformation:
    """An optax transformation multiplying the update of each parameter named in
    `step_scale` by its factor (> 0); unknown or frozen names raise a `KeyError`. With Adam
    every relative parameter steps by about the learning rate, so a parameter to which the
    observables are far more sensitive (a Lennard-Jones σ: the density changes by 3 % per
    1 % of σ) takes smaller steps with a factor below 1."""
    for name, factor in step_scale.items():
        if name not in trainable_names:
            raise KeyError(
                f"step_scale names {name!r}, which is not a trainable parameter "
                f"({', '.join(trainable_names)})"
            )
        f = float(factor)
        if not (np.isfinite(f) and f > 0):
            raise ValueError(f"step_scale[{name!r}] must be a number > 0, got {factor!r}")
    factors = jax.tree_util.tree_map_with_path(
        lambda path, x: float(step_scale.get(jax.tree_util.keystr(path).lstrip("."), 1.0)),
        params,
    )

    def update(updates, state, params=None):
        return jax.tree.map(lambda u, f: u * f, updates, factors), state

    return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def _relative_start(optimizer: optax.GradientTransformation, params: PyTree) -> tuple:
    """`(scale, opt_state)`: the optimiser works on parameters relative to their starting
    magnitudes (u = θ/|θ₀|, `scale` = |θ₀|, 1 where θ₀ = 0), so one learning rate suits
    parameters whose internal values differ by orders of magnitude (a bond force constant
    ~1e5 next to a charge ~1)."""
    scale = jax.tree.map(lambda x: jnp.where(x != 0, jnp.abs(x), jnp.ones_like(x)), params)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(jax.tree.map(jnp.divide, params, scale))
    return scale, opt_state


def _checked_bounds(bounds: dict[str, Interval], potential: Any) -> dict[str, Interval]:
    """`bounds` once each is known to be in its parameter's dimension (`check_bound_units`)."""
    units = dict(zip(bounds, parameter_units(potential, list(bounds)), strict=True))
    return check_bound_units(bounds, units)


def _reporter(progress: Any, potential: Any, names: list[str]) -> Callable | None:
    """What receives each history row: the user's callable, or (`progress=True`) a printer
    of one line per step with the parameters in their units."""
    if callable(progress):
        return progress
    if not progress:
        return None
    units = dict(zip(names, parameter_units(potential, names), strict=True))
    return functools.partial(print_row, units=units)


def _checked_targets(targets: Sequence[Target]) -> list[Target]:
    targets = list(targets)
    if not targets:
        raise ValueError("fit needs at least one Target")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ValueError(f"target names must be unique, got {names}")
    return targets


@dataclasses.dataclass(frozen=True)
class _FitRun:
    """The fixed parts of one `fit` call; `start` and `step` update a mutable dict holding
    the evolving state (params, opt_state, configs, caches, initial, final, history)."""

    targets: list
    static: PyTree
    scale: PyTree
    optimizer: optax.GradientTransformation
    bounds: dict | None
    output_dir: Path
    fingerprint: str
    fingerprint_parts: dict
    base_key: PRNGKeyArray
    report: Callable[[dict], None] | None
    conv: Convergence
    prior: Callable | None = None

    @property
    def history_path(self) -> Path:
        return self.output_dir / "history.jsonl"

    def start(self, params: PyTree, opt_state: PyTree, steps: int, resume: bool) -> dict:
        """The state to start from: the checkpoint in `output_dir` (if `resume` and there is
        one) or equilibrated configurations at the starting parameters."""
        checkpoint = load_checkpoint(self.output_dir) if resume else None
        if checkpoint is not None:
            if checkpoint["fingerprint"] != self.fingerprint:
                changed = describe_changes(
                    checkpoint.get("fingerprint_parts"), self.fingerprint_parts
                )
                what = (
                    f"changed: {changed}"
                    if changed
                    else "other targets, state points, data, parameters, seed or optimiser"
                )
                raise CheckpointError(
                    f"{self.output_dir} holds a checkpoint of a different fit ({what}); use "
                    "another output folder or start afresh (--restart / resume=False)"
                )
            start = int(checkpoint["step"])
            conv = self.conv.from_checkpoint(checkpoint.get("convergence"), params, steps)
            finished = checkpoint["final"] is not None and (start == steps or conv["stopped"])
            st = dict(
                params=restore(params, checkpoint["params"], "parameters"),
                opt_state=restore(opt_state, checkpoint["opt_state"], "optimiser state"),
                configs=checkpoint["configurations"],
                caches={n: restore_cache(c, params) for n, c in checkpoint["caches"].items()},
                initial=checkpoint["initial"],
                start=start,
                history=read_history(self.history_path, start + (1 if finished else 0)),
                final=checkpoint["final"] if finished else {},
                conv=conv,
            )
        else:
            key0 = jax.random.fold_in(self.base_key, 2**31 - 1)
            pot0 = eqx.combine(params, self.static)
            configs = {}
            for i, t in enumerate(self.targets):
                with progress_task(f"equilibrating target {t.name!r}"):
                    configs[t.name] = equilibrate(t, pot0, jax.random.fold_in(key0, i))
            caches = {t.name: None for t in self.targets}
            st = dict(params=params, opt_state=opt_state, configs=configs, caches=caches)
            st.update(initial=None, start=0, history=[], final={}, conv=self.conv.fresh(steps))
            self.history_path.write_text("")
            self.save(st, 0)
        if st["start"] > steps:
            raise CheckpointError(
                f"{self.output_dir} holds a fit already {st['start']} steps long; "
                f"steps={steps} is shorter"
            )
        return st

    def save(self, st: dict, step: int) -> None:
        data = payload(
            self.fingerprint,
            step,
            st["params"],
            st["opt_state"],
            st["configs"],
            st["caches"],
            st["initial"],
            st["final"] or None,
            convergence=self.conv.to_checkpoint(st["conv"]),
        )
        data["fingerprint_parts"] = self.fingerprint_parts
        save_checkpoint(self.output_dir, data)

    def run_steps(self, st: dict, steps: int) -> None:
        """The steps left after `start` and the final evaluation, shown as `fit step k/N`
        with the loss in the progress display (when one is open)."""
        with progress_task("fit step", steps, unit="steps") as shown:
            shown.advance(min(st["start"], steps))  # done before a resume
            for step in range(st["start"], steps + 1):
                if st["final"]:  # finished: the last step done, or stopped early
                    break
                if step == steps:
                    shown.describe("final evaluation")
                self.step(st, step, steps)
                if step < steps:
                    shown.advance(1, info=f"loss {st['history'][-1]['loss']:.4g}")

    def step(self, st: dict, step: int, steps: int) -> None:
        """One optimiser step (or, at `step == steps` or when the stopping rule fires, the
        final evaluation, at the answer): evaluate every target, update the parameters,
        grow sample counts, write history and checkpoint."""
        t0 = time.perf_counter()
        conv, iterate = st["conv"], st["params"]
        answer = self.conv.advance(conv, iterate, step, final=step == steps)
        is_final = step == steps or conv["stopped"]
        targets = self.conv.targets(self.targets, conv)
        key_step = jax.random.fold_in(self.base_key, step)
        params = answer if is_final else iterate
        _, grads, row, observed, new_configs, new_caches = evaluate(
            targets, params, self.static, st["configs"], st["caches"], key_step, self.prior
        )
        if not is_final:
            # the final evaluation leaves the Markov chains where they were, so extending a
            # finished fit continues exactly as a longer run would have
            st["configs"], st["caches"] = new_configs, new_caches
        if st["initial"] is None:
            st["initial"] = to_numpy_tree(observed)
        row = {"step": step, **row, "params": float_dict(flat_parameters(params))}
        row.update(self.conv.row(conv, iterate, is_final, targets))
        if is_final:
            row["final"] = True
            st["final"] = to_numpy_tree(observed)
        else:
            relative = jax.tree.map(jnp.divide, params, self.scale)
            rel_grads = jax.tree.map(jnp.multiply, grads, self.scale)
            with jax.numpy_dtype_promotion("standard"):  # optax needs standard promotion
                updates, st["opt_state"] = self.optimizer.update(
                    rel_grads, st["opt_state"], relative
                )
            relative = eqx.apply_updates(relative, updates)
            st["params"] = apply_bounds(
                jax.tree.map(jnp.multiply, relative, self.scale), self.bounds
            )
            for name in self.conv.grow(conv, self.targets, row):
                st["caches"][name] = None  # e.g. a new reference with the grown frame count
        row["wall_time_s"] = time.perf_counter() - t0
        st["history"].append(row)
        with open(self.history_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.save(st, step + (0 if is_final else 1))
        if self.report is not None:
            self.report(row)

    def finish(
        self, st: dict, steps: int, trainable_names: list, seed: int, *, plots, uncertainty
    ) -> FitResult:
        """After the final evaluation: the uncertainty analysis (optional), `fit.json`,
        the plots and the `FitResult`."""
        history, output_dir, conv = st["history"], self.output_dir, st["conv"]
        params = self.conv.answer(conv, st["params"])
        steps_run = history[-1]["step"] if history else steps
        summary = {
            "steps": steps,
            "steps_run": steps_run,
            "stopped_early": bool(conv["stopped"]),
            "initial_loss": history[0]["loss"] if history else None,
            "final_loss": history[-1]["loss"] if history else None,
            "initial_parameters": history[0]["params"] if history else None,
            "final_parameters": float_dict(flat_parameters(params)),
            "trainable": trainable_names,
            "seed": seed,
        }
        if conv["stopped"]:
            summary["stop_reason"] = self.conv.stop.reason()
        if self.conv.averaging is not None:
            kind, n = self.conv.averaging.kind, conv["n"]
            summary["averaging"] = {"kind": kind, "start": conv["start"], "iterates": n}
            summary["last_parameters"] = float_dict(flat_parameters(st["params"]))
        targets = self.conv.targets(self.targets, conv)
        unc = None
        if uncertainty:
            key = jax.random.fold_in(self.base_key, steps_run)  # the final evaluation's key
            at_answer = {**st, "params": params}
            with progress_task("parameter uncertainty (2p + 1 evaluations)"):
                unc, summary["uncertainty"] = final_uncertainty(
                    targets, at_answer, self.static, key
                )
        (output_dir / "fit.json").write_text(json.dumps(summary, indent=2) + "\n")
        if plots:
            from ._plots import plot_fit, plot_uncertainty

            plot_fit(output_dir, targets, history, st["initial"], st["final"])
            if unc is not None and len(unc.names) > 1:
                plot_uncertainty(unc, output_dir / "uncertainty.png")
        return FitResult(
            potential=eqx.combine(params, self.static),
            history=history,
            initial=st["initial"] or {},
            final=st["final"],
            output_dir=output_dir,
            uncertainty=unc,
        )
