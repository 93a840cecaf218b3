"""The TOML configuration of `spectrinv fit CONFIG` (and of `spectrinv quickstart`).

Everything in a config is checked — unknown keys (with a "did you mean" hint), units,
dataset names, loss/observable compatibility — when it is *loaded*, before any simulation
starts. Quantities are strings with units (`"0.5 fs"`, `"298.15 K"`); step counts of the
simulations are given as times and converted with the time step.

```toml
[fit]
steps = 12                     # optimiser updates
seed = 2026
learning_rate = 0.02           # relative: Adam moves each parameter by ~2 % per step
# momentum = 0.9               # Adam's b1; smaller turns sooner after passing the optimum
clip_norm = 1.0                # global-norm gradient clipping (0: none)
precision = "float64"          # or "float32"
trainable = ["bond.k", "angle.k"]
output = "fit-output"          # folder (the command line's --out overrides it)
uncertainty = true             # parameter standard errors after the fit (2p + 1 evaluations)
# settling at the noise floor (all off by default):
# schedule = "cosine"          # constant | cosine (final_fraction) |
#                              # exponential, step (decay_rate, transition_steps)
# final_fraction = 0.1         # cosine: the rate decays to this fraction of learning_rate
# averaging = "polyak"         # none | polyak | ema (ema_decay); averaging_start = step
# stop_rtol = 1e-3             # stop when the parameters change by less, relative,
# stop_patience = 3            #   for this many consecutive steps
# target_snr = 3.0             # grow Truncated segments while the gradient SNR is below;
# max_growth = 8               #   at most this factor over the configured count
# refine = { references = 8, passes = 2 }   # after the fit (Reweighting targets only):
#                              # answer and errors from independent references (`refine`)

[fit.bounds]                   # projections after each update
"bond.k" = ["1e5 kJ/mol/nm**2", "1e6 kJ/mol/nm**2"]
# [fit.step_scale]             # multiply a parameter's steps (Adam moves each by ~the rate)
# "sigma" = 0.2

[model]                        # spc_fw | q_spc_fw | lennard_jones
kind = "spc_fw"
cutoff = "0.55 nm"             # Lennard-Jones and real-space electrostatics cutoff
alpha = "2.0 1/nm"             # damped-shifted-force damping (water)

[[targets]]
name = "ir"
dataset = "water_segelstein_298K"
observable = "ir"              # ir | rdf | pressure | self_diffusion | shear_viscosity
loss = "peak_position"         # mse | chi2 | wasserstein | peak_position | relative_error
windows = [["1450 1/cm", "1850 1/cm"], ["2900 1/cm", "3800 1/cm"]]   # peak_position
# x_range = [["1000 1/cm", "4000 1/cm"]]   # mse | chi2 | wasserstein: compare only there
# normalisation = "area"       # mse: absolute (default) | area | peak
# at = "298.15 K"              # relative_error: state point (default: the temperature)
# weight = 1.0                 # this target's loss is weight * loss in the fit's total
temperature = "298.15 K"
timestep = "0.5 fs"
friction = "5 1/ps"            # Langevin thermostat of the sampling runs
equilibration = "2 ps"
# melt = {temperature = "400 K", time = "10 ps"}   # first, at fixed volume: melts a lattice

[targets.system]               # water: molecules, density; lennard_jones: cells, density, mass
molecules = 48
density = "0.997 g/cm**3"

[targets.gradient]             # truncated | bptt | reweighting
kind = "truncated"
segments = 4
segment_length = "0.5 ps"
decorrelation = "0.25 ps"
stride = 2
```
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from observables import UnitError

from ._config_dimensions import parameter_quantity
from ._config_model import build_model
from ._config_schema import FIT_KEYS, ConfigError, check_keys, choice, integer, require
from ._config_targets import build_target
from ._convergence import SCHEDULES, IterateAverage, StopWhen, learning_rate_schedule
from ._fit import FitResult, default_optimizer, fit
from ._params import Interval, parameter_names
from ._refine import refine
from ._refine_result import RefinedFit
from ._target import Target

__all__ = ["ConfigError", "FitConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class FitConfig:
    """A loaded configuration: what `spectrinv fit` runs (`run()`).

    **Fields:** `potential` (the starting potential, in the config's precision), `targets`
    (`Target`s), `steps`, `seed`, `learning_rate`, `clip_norm` (0: none), `momentum` (Adam's
    b1), `trainable` (parameter names, or None for all), `bounds` (`{name: Interval}`), `output`
    (folder), `precision` (`"float64"` or `"float32"`), `source` (the file it came from),
    `uncertainty` (run the parameter-uncertainty analysis after the fit); settling at the noise
    floor: `schedule` (`"constant"`, `"cosine"`, `"exponential"`, `"step"`) with
    `final_fraction`, `decay_rate`, `transition_steps` (see `learning_rate_schedule`),
    `averaging` (an `IterateAverage` or None), `stop` (a `StopWhen` or None), `target_snr`
    (None: off) and `max_growth`; `refine` (None, or the `references`, `passes` and `ess_min` of
    `spectrinv.fit.refine`, run by `refine_fit` after the fit).
    """

    potential: Any
    targets: list[Target]
    steps: int
    seed: int
    learning_rate: float
    clip_norm: float
    trainable: list[str] | None
    bounds: dict[str, Interval]
    output: str
    precision: str
    source: str
    uncertainty: bool = True
    schedule: str = "constant"
    final_fraction: float = 0.0
    decay_rate: float | None = None
    transition_steps: int | None = None
    averaging: IterateAverage | None = None
    stop: StopWhen | None = None
    target_snr: float | None = None
    max_growth: int = 8
    refine: dict | None = None
    momentum: float = 0.9
    step_scale: dict | None = None

    def learning_rate_schedule(self):
        """The optax schedule η(k) of the learning rate over this config's `steps`."""
        return learning_rate_schedule(
            self.schedule,
            self.learning_rate,
            steps=max(self.steps, 1),
            final_fraction=self.final_fraction,
            decay_rate=self.decay_rate,
            transition_steps=self.transition_steps,
        )

    def optimizer(self):
        """`(optimizer, optimizer_id)`: clipped Adam with the configured learning rate or
        schedule, and its name for the checkpoint fingerprint."""
        ident = f"adam(lr={self.learning_rate}, clip={self.clip_norm})"
        if self.momentum != 0.9:  # the default leaves the fingerprints of older fits as they were
            ident = f"{ident[:-1]}, b1={self.momentum})"
        clip = self.clip_norm or None
        if self.schedule == "constant":
            return default_optimizer(self.learning_rate, clip, self.momentum), ident
        if self.schedule == "cosine":
            detail = f"steps={max(self.steps, 1)}, final_fraction={self.final_fraction}"
        else:
            detail = f"decay_rate={self.decay_rate}, transition_steps={self.transition_steps}"
        schedule = self.learning_rate_schedule()
        ident = f"{ident[:-1]}, schedule={self.schedule}({detail}))"
        return default_optimizer(schedule, clip, self.momentum), ident

    def run(
        self, output_dir: str | Path | None = None, *, resume: bool = True, progress: Any = True
    ) -> FitResult:
        """Run the fit (see `spectrinv.fit.fit`) into `output_dir` (default: `output`)."""
        optimizer, optimizer_id = self.optimizer()
        return fit(
            self.potential,
            self.targets,
            steps=self.steps,
            output_dir=output_dir or self.output,
            trainable=self.trainable,
            bounds=self.bounds,
            optimizer=optimizer,
            optimizer_id=optimizer_id,
            seed=self.seed,
            resume=resume,
            progress=progress,
            uncertainty=self.uncertainty,
            averaging=self.averaging,
            stop=self.stop,
            target_snr=self.target_snr,
            max_growth=self.max_growth,
            step_scale=self.step_scale,
        )

    def refine_fit(self, result: FitResult, output_dir: str | Path | None = None) -> RefinedFit:
        """`spectrinv.fit.refine` from the fit's answer with this config's `refine`
        options; writes `refine.json` into `output_dir` (default: `output`). Not
        checkpointed: a killed refinement runs again, with the same keys (same result)."""
        if not self.refine:
            raise ConfigError(f"{self.source}: [fit] refine is not set")
        _, refined = refine(
            result.potential,
            self.targets,
            trainable=self.trainable,
            seed=self.seed + 1,
            **self.refine,
        )
        out = Path(output_dir or self.output)
        (out / "refine.json").write_text(json.dumps(refined.to_dict(), indent=1) + "\n")
        return refined


def load_config(path: str | Path) -> FitConfig:
    """Read and check a TOML fit configuration (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no configuration file {str(path)!r}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return parse_config(raw, source=str(path), base=path.parent)


def parse_config(raw: dict, source: str = "<config>", base: str | Path = ".") -> FitConfig:
    """Check and build a configuration from its parsed TOML (`base`: folder that relative
    file paths in it are taken from)."""
    base = Path(base)
    check_keys(raw, {"fit", "model", "targets"}, source)
    fit_t = dict(require(raw, "fit", source))
    check_keys(fit_t, FIT_KEYS, f"{source} [fit]")
    precision = choice(
        fit_t.get("precision", "float64"), {"float32", "float64"}, f"{source} [fit] precision"
    )
    if precision == "float64" and not jax.config.jax_enable_x64:
        raise ConfigError(
            f"{source}: precision = 'float64' needs JAX's x64 mode (the command line switches "
            "it on; in Python call jax.config.update('jax_enable_x64', True) first)"
        )
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    convergence = _convergence_options(fit_t, f"{source} [fit]")
    model_t = dict(require(raw, "model", source))
    potential, model_kind = build_model(model_t, f"{source} [model]", dtype)

    targets_t = require(raw, "targets", source)
    if not isinstance(targets_t, list) or not targets_t:
        raise ConfigError(f"{source}: [[targets]] must list at least one target")
    targets = [
        build_target(dict(t), potential, model_kind, f"{source} [[targets]] #{i + 1}", dtype, base)
        for i, t in enumerate(targets_t)
    ]
    trainable, bounds = _trainable_and_bounds(fit_t, potential, source)
    lr = fit_t.get("learning_rate", 0.01)
    if not isinstance(lr, int | float) or not lr > 0:
        raise ConfigError(f"{source} [fit] learning_rate must be a positive number, got {lr!r}")
    clip = fit_t.get("clip_norm", 1.0)
    if not isinstance(clip, int | float) or clip < 0:
        raise ConfigError(f"{source} [fit] clip_norm must be >= 0, got {clip!r}")
    uncertainty = fit_t.get("uncertainty", True)
    if not isinstance(uncertainty, bool):
        raise ConfigError(f"{source} [fit] uncertainty must be true or false, got {uncertainty!r}")
    return FitConfig(
        potential=potential,
        targets=targets,
        steps=integer(require(fit_t, "steps", f"{source} [fit]"), f"{source} [fit] steps", 0),
        seed=integer(fit_t.get("seed", 0), f"{source} [fit] seed", 0),
        learning_rate=float(lr),
        clip_norm=float(clip),
        trainable=trainable,
        bounds=bounds,
        output=str(fit_t.get("output", "spectrinv-fit")),
        precision=precision,
        source=source,
        uncertainty=uncertainty,
        refine=_refine_options(fit_t, targets, f"{source} [fit] refine"),
        step_scale=_step_scale(fit_t, trainable or parameter_names(potential), source),
        **convergence,
    )


def _step_scale(fit_t: dict, trainable: list[str], source: str) -> dict[str, float] | None:
    """`[fit.step_scale]`: `{name = factor}` (> 0) multiplying trainable parameters' steps."""
    table = fit_t.get("step_scale")
    if table is None:
        return None
    where = f"{source} [fit.step_scale]"
    if not isinstance(table, dict):
        raise ConfigError(f'{where}: a table of parameter names and factors ("sigma" = 0.2)')
    out = {}
    for name, factor in table.items():
        choice(name, set(trainable), f"{where} (trainable parameters)")
        ok = isinstance(factor, int | float) and not isinstance(factor, bool)
        if not ok or not 0 < factor < float("inf"):
            raise ConfigError(f"{where} {name!r}: a number > 0, got {factor!r}")
        out[name] = float(factor)
    return out or None


def _trainable_and_bounds(
    fit_t: dict, potential: Any, source: str
) -> tuple[list[str] | None, dict[str, Interval]]:
    """`[fit] trainable` (checked names, or None for all) and `[fit.bounds]` as `Interval`s."""
    trainable = fit_t.get("trainable")
    names = parameter_names(potential)
    if trainable is not None:
        if not isinstance(trainable, list) or not trainable:
            raise ConfigError(f"{source} [fit] trainable: a non-empty list of parameter names")
        for name in trainable:
            choice(name, set(names), f"{source} [fit] trainable")
    bounds = {}
    for name, pair in dict(fit_t.get("bounds", {})).items():
        where = f"{source} [fit.bounds] {name!r}"
        choice(name, set(trainable or names), where)
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f'{where}: give [lower, upper] quantities (or "" for none)')
        lo, hi = (None if p in ("", None) else parameter_quantity(p, name, where) for p in pair)
        try:
            bounds[name] = Interval(lo, hi, name=name)
        except (UnitError, ValueError) as err:
            raise ConfigError(f"{where}: {err}") from None
    return trainable, bounds


def _number(t: dict, key: str, where: str, default: Any, lo: float, hi: float, open_lo: bool):
    """`t[key]` (or `default`) as a float in [lo, hi] (or (lo, hi] when `open_lo`)."""
    value = t.get(key, default)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (lo < value if open_lo else lo <= value) or not value <= hi:
        interval = f"{'(' if open_lo else '['}{lo:g}, {hi:g}]".replace("inf]", "inf)")
        raise ConfigError(f"{where} {key} must be a number in {interval}, got {value!r}")
    return float(value)


def _only_with(t: dict, keys: tuple[str, ...], condition: bool, what: str, where: str) -> None:
    for key in keys:
        if key in t and not condition:
            raise ConfigError(f"{where} {key} applies only with {what}")


def _convergence_options(t: dict, where: str) -> dict:
    """The `[fit]` keys that settle a fit at its noise floor, checked, as `FitConfig`
    fields: learning-rate schedule and Adam's momentum, iterate averaging, stopping rule,
    gradient-noise target."""
    inf = float("inf")
    schedule = choice(t.get("schedule", "constant"), set(SCHEDULES), f"{where} schedule")
    decays = schedule in ("exponential", "step")
    _only_with(t, ("final_fraction",), schedule == "cosine", "schedule = 'cosine'", where)
    _only_with(t, ("decay_rate", "transition_steps"), decays, f"schedule = {schedule!r}", where)
    out: dict[str, Any] = {
        "schedule": schedule,
        "final_fraction": _number(t, "final_fraction", where, 0.0, 0.0, 1.0, False),
        "momentum": _number(t, "momentum", where, 0.9, 0.0, 1.0, False),
    }
    if out["momentum"] == 1.0:
        raise ConfigError(f"{where} momentum (Adam's b1) must be below 1, got 1")
    if decays:
        out["decay_rate"] = _number(t, "decay_rate", where, None, 0.0, 1.0, True)
        steps_t = t.get("transition_steps")
        if out["decay_rate"] is None or steps_t is None:
            raise ConfigError(
                f"{where} schedule = {schedule!r} needs decay_rate and transition_steps"
            )
        out["transition_steps"] = integer(steps_t, f"{where} transition_steps", 1)
    kind = choice(t.get("averaging", "none"), {"none", "polyak", "ema"}, f"{where} averaging")
    _only_with(t, ("averaging_start",), kind != "none", "averaging = 'polyak' or 'ema'", where)
    _only_with(t, ("ema_decay",), kind == "ema", "averaging = 'ema'", where)
    if kind != "none":
        start = t.get("averaging_start")
        start = None if start is None else integer(start, f"{where} averaging_start", 0)
        decay = _number(t, "ema_decay", where, 0.9, 0.0, 1.0, True)
        if decay == 1.0:
            raise ConfigError(f"{where} ema_decay must be below 1, got 1")
        out["averaging"] = IterateAverage(kind, start=start, decay=decay)
    _only_with(t, ("stop_patience",), "stop_rtol" in t, "stop_rtol", where)
    rtol = _number(t, "stop_rtol", where, None, 0.0, inf, True)
    if rtol is not None:
        patience = integer(t.get("stop_patience", 3), f"{where} stop_patience", 1)
        out["stop"] = StopWhen(rtol, patience)
    _only_with(t, ("max_growth",), "target_snr" in t, "target_snr", where)
    out["target_snr"] = _number(t, "target_snr", where, None, 0.0, inf, True)
    out["max_growth"] = integer(t.get("max_growth", 8), f"{where} max_growth", 1)
    return out


def _refine_options(fit_t: dict, targets: list[Target], where: str) -> dict | None:
    """`[fit] refine`: `true` (defaults) or a table of `references`, `passes`,
    `max_explore`, `ess_min`."""
    raw = fit_t.get("refine", False)
    if raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be true, false or a table, got {raw!r}")
    check_keys(raw, {"references", "passes", "max_explore", "ess_min"}, where)
    not_rw = [t.name for t in targets if type(t.gradient).__name__ != "Reweighting"]
    if not_rw:
        raise ConfigError(
            f"{where} needs every target to use gradient kind = 'reweighting'; "
            f"{', '.join(repr(n) for n in not_rw)} do not"
        )
    opts = {
        "references": integer(raw.get("references", 8), f"{where} references", 2),
        "passes": integer(raw.get("passes", 2), f"{where} passes", 1),
        "max_explore": integer(raw.get("max_explore", 20), f"{where} max_explore", 0),
    }
    if "ess_min" in raw:
        opts["ess_min"] = _number(raw, "ess_min", where, 0.5, 0.0, 0.999, True)
    return opts
