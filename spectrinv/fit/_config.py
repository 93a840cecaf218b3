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
clip_norm = 1.0                # global-norm gradient clipping (0: none)
precision = "float64"          # or "float32"
trainable = ["bond.k", "angle.k"]
output = "fit-output"          # folder (the command line's --out overrides it)

[fit.bounds]                   # projections after each update
"bond.k" = ["1e5 kJ/mol/nm**2", "1e6 kJ/mol/nm**2"]

[model]                        # spc_fw | q_spc_fw | lennard_jones
kind = "spc_fw"
cutoff = "0.55 nm"             # Lennard-Jones and real-space electrostatics cutoff
alpha = "2.0 1/nm"             # damped-shifted-force damping (water)

[[targets]]
name = "ir"
dataset = "water_segelstein_298K"
observable = "ir"              # ir | rdf | self_diffusion | shear_viscosity
loss = "peak_position"         # mse | chi2 | wasserstein | peak_position | relative_error
windows = [["1450 1/cm", "1850 1/cm"], ["2900 1/cm", "3800 1/cm"]]   # peak_position
temperature = "298.15 K"
timestep = "0.5 fs"
friction = "5 1/ps"            # Langevin thermostat of the sampling runs
equilibration = "2 ps"

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

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity, UnitError, ureg

__all__ = ["ConfigError", "FitConfig", "load_config", "parse_config"]


class ConfigError(ValueError):
    """A configuration that cannot be run (reported before any simulation starts)."""


# ------------------------------------------------------------------------ key schemas
_FIT_KEYS = {
    "steps",
    "seed",
    "learning_rate",
    "clip_norm",
    "precision",
    "trainable",
    "output",
    "bounds",
}
_MODEL_KEYS = {
    "spc_fw": {"kind", "cutoff", "alpha", "parameters"},
    "q_spc_fw": {"kind", "cutoff", "alpha", "parameters"},
    "lennard_jones": {"kind", "sigma", "epsilon", "cutoff", "truncation", "parameters"},
}
_TARGET_KEYS = {
    "name",
    "dataset",
    "dataset_column",
    "observable",
    "loss",
    "windows",
    "x_range",
    "normalisation",
    "at",
    "weight",
    "temperature",
    "timestep",
    "friction",
    "equilibration",
    "system",
    "gradient",
    "observable_options",
}
_SYSTEM_KEYS = {
    "water": {"molecules", "density", "seed"},
    "lennard_jones": {"cells", "density", "mass"},
}
_GRADIENT_KEYS = {
    "truncated": {
        "kind",
        "segments",
        "segment_length",
        "decorrelation",
        "stride",
        "initial_ensemble",
    },
    "bptt": {"kind", "length", "stride"},
    "reweighting": {"kind", "frames", "stride", "ess_threshold"},
}
_OBSERVABLES = {"ir", "rdf", "self_diffusion", "shear_viscosity"}
_LOSSES = {"mse", "chi2", "wasserstein", "peak_position", "relative_error"}


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(sorted(allowed))})"
            )


def _choice(value: Any, allowed: set[str], where: str) -> str:
    if value not in allowed:
        close = difflib.get_close_matches(str(value), sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: {value!r} is not one of {sorted(allowed)}{hint}")
    return value


def _require(table: dict, key: str, where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: missing required key {key!r}")
    return table[key]


def _quantity(text: Any, dimension: str, where: str) -> Quantity:
    if not isinstance(text, str):
        raise ConfigError(
            f"{where}: expected a quantity string with units like '0.5 fs', got {text!r}"
        )
    try:
        q = ureg.Quantity(text)
    except Exception as err:
        raise ConfigError(f"{where}: cannot parse {text!r}: {err}") from None
    if not isinstance(q, Quantity) or not q.check(dimension):
        unit = getattr(q, "units", "no unit")
        raise ConfigError(f"{where}: {text!r} has unit {unit}, expected a {dimension} quantity")
    return q


def _int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _steps(text: Any, timestep: Quantity, where: str, multiple_of: int = 1) -> int:
    t = _quantity(text, "[time]", where)
    n = int(round(float((t / timestep).m_as(""))))
    if n < 1:
        raise ConfigError(f"{where}: {text} is shorter than one time step ({timestep})")
    return max(multiple_of, (n // multiple_of) * multiple_of)


# --------------------------------------------------------------------------- the config
@dataclass(frozen=True)
class FitConfig:
    """A loaded configuration: what `spectrinv fit` runs (`run()`)."""

    potential: Any
    targets: list
    steps: int
    seed: int
    learning_rate: float
    clip_norm: float
    trainable: list[str] | None
    bounds: dict
    output: str
    precision: str
    source: str

    def run(
        self, output_dir: str | Path | None = None, *, resume: bool = True, progress: Any = True
    ):
        from ._fit import default_optimizer, fit

        optimizer = default_optimizer(self.learning_rate, self.clip_norm or None)
        return fit(
            self.potential,
            self.targets,
            steps=self.steps,
            output_dir=output_dir or self.output,
            trainable=self.trainable,
            bounds=self.bounds,
            optimizer=optimizer,
            optimizer_id=f"adam(lr={self.learning_rate}, clip={self.clip_norm})",
            seed=self.seed,
            resume=resume,
            progress=progress,
        )


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
    _check_keys(raw, {"fit", "model", "targets"}, source)
    fit_t = dict(_require(raw, "fit", source))
    _check_keys(fit_t, _FIT_KEYS, f"{source} [fit]")
    precision = _choice(
        fit_t.get("precision", "float64"), {"float32", "float64"}, f"{source} [fit] precision"
    )
    if precision == "float64" and not jax.config.jax_enable_x64:
        raise ConfigError(
            f"{source}: precision = 'float64' needs JAX's x64 mode (the command line switches "
            "it on; in Python call jax.config.update('jax_enable_x64', True) first)"
        )
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    model_t = dict(_require(raw, "model", source))
    potential, model_kind = _build_model(model_t, f"{source} [model]", dtype)

    targets_t = _require(raw, "targets", source)
    if not isinstance(targets_t, list) or not targets_t:
        raise ConfigError(f"{source}: [[targets]] must list at least one target")
    targets = [
        _build_target(dict(t), potential, model_kind, f"{source} [[targets]] #{i + 1}", dtype, base)
        for i, t in enumerate(targets_t)
    ]

    from ._params import Interval, parameter_names

    trainable = fit_t.get("trainable")
    names = parameter_names(potential)
    if trainable is not None:
        if not isinstance(trainable, list) or not trainable:
            raise ConfigError(f"{source} [fit] trainable: a non-empty list of parameter names")
        for name in trainable:
            _choice(name, set(names), f"{source} [fit] trainable")
    bounds = {}
    for name, pair in dict(fit_t.get("bounds", {})).items():
        where = f"{source} [fit.bounds] {name!r}"
        _choice(name, set(trainable or names), where)
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f'{where}: give [lower, upper] quantities (or "" for none)')
        lo, hi = (None if p in ("", None) else p for p in pair)
        try:
            bounds[name] = Interval(lo, hi, name=name)
        except (UnitError, ValueError) as err:
            raise ConfigError(f"{where}: {err}") from None
    lr = fit_t.get("learning_rate", 0.01)
    if not isinstance(lr, int | float) or not lr > 0:
        raise ConfigError(f"{source} [fit] learning_rate must be a positive number, got {lr!r}")
    clip = fit_t.get("clip_norm", 1.0)
    if not isinstance(clip, int | float) or clip < 0:
        raise ConfigError(f"{source} [fit] clip_norm must be >= 0, got {clip!r}")
    return FitConfig(
        potential=potential,
        targets=targets,
        steps=_int(_require(fit_t, "steps", f"{source} [fit]"), f"{source} [fit] steps", 0),
        seed=_int(fit_t.get("seed", 0), f"{source} [fit] seed", 0),
        learning_rate=float(lr),
        clip_norm=float(clip),
        trainable=trainable,
        bounds=bounds,
        output=str(fit_t.get("output", "spectrinv-fit")),
        precision=precision,
        source=source,
    )


# ------------------------------------------------------------------------------ model
def _cast(tree, dtype):
    return jax.tree.map(
        lambda x: (
            x.astype(dtype) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) else x
        ),
        tree,
    )


def _build_model(t: dict, where: str, dtype):
    from ..potentials import (
        DampedShiftedForce,
        ForceShifted,
        LennardJones,
        Shifted,
        q_spc_fw,
        spc_fw,
    )

    kind = _choice(_require(t, "kind", where), set(_MODEL_KEYS), f"{where} kind")
    _check_keys(t, _MODEL_KEYS[kind], where)
    if kind in ("spc_fw", "q_spc_fw"):
        cutoff = _quantity(t.get("cutoff", "0.55 nm"), "[length]", f"{where} cutoff")
        alpha = _quantity(t.get("alpha", "2.0 1/nm"), "1/[length]", f"{where} alpha")
        make = spc_fw if kind == "spc_fw" else q_spc_fw
        potential = make(DampedShiftedForce(alpha, cutoff))
    else:
        truncation = _choice(
            t.get("truncation", "force_shifted"),
            {"force_shifted", "shifted"},
            f"{where} truncation",
        )
        potential = LennardJones(
            _quantity(_require(t, "sigma", where), "[length]", f"{where} sigma"),
            _energy(_require(t, "epsilon", where), f"{where} epsilon"),
            _quantity(_require(t, "cutoff", where), "[length]", f"{where} cutoff"),
            truncation=ForceShifted() if truncation == "force_shifted" else Shifted(),
        )
    potential = _override(potential, dict(t.get("parameters", {})), f"{where} [parameters]")
    return _cast(potential, dtype), ("water" if kind != "lennard_jones" else "lennard_jones")


def _energy(text, where):
    """An energy per particle or per mole, or ε/k_B as a temperature."""
    for dim in ("[energy]", "[energy]/[substance]"):
        try:
            return _quantity(text, dim, where)
        except ConfigError:
            continue
    try:
        return _quantity(text, "[temperature]", where) * ureg.boltzmann_constant
    except ConfigError:
        pass
    raise ConfigError(f"{where}: {text!r} is not an energy (kJ/mol, eV, ...) or ε/k_B (K)")


def _override(potential, values: dict, where: str):
    """Set named parameters (`"bond.k" = "400000 kJ/mol/nm**2"`) in internal units."""
    import equinox as eqx

    from ._params import internal_magnitude, parameter_names

    names = parameter_names(potential)
    for name, text in values.items():
        _choice(name, set(names), where)
        try:
            value = internal_magnitude(text, name)
        except UnitError as err:
            raise ConfigError(f"{where}: {err}") from None

        def get(p, name=name):
            for part in name.split("."):
                p = getattr(p, part)
            return p

        potential = eqx.tree_at(get, potential, jnp.asarray(value, get(potential).dtype))
    return potential


# ----------------------------------------------------------------------------- targets
_DATASET_FILE_KEYS = {
    "file",
    "x",
    "y",
    "x_unit",
    "y_unit",
    "uncertainty",
    "quantity",
    "name",
    "temperature",
}


def _load_dataset(spec: Any, column: Any, base: Path, where: str):
    """A bundled dataset by name, or a user's CSV / JCAMP-DX file given as a table
    `{file = "my.csv", x = "wavenumber", y = "absorbance", x_unit = "1/cm", y_unit = "1/cm"}`
    (paths relative to the config file)."""
    from ..datasets import Dataset, DatasetError, load_dataset

    try:
        if isinstance(spec, str):
            return load_dataset(spec, **({"y": column} if column else {}))
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} dataset: a bundled dataset name or a {{file = ...}} table")
        _check_keys(spec, _DATASET_FILE_KEYS, f"{where} dataset")
        path = base / str(_require(spec, "file", f"{where} dataset"))
        if not path.is_file():
            raise ConfigError(f"{where} dataset: no file {str(path)!r}")
        kw = {
            k: spec[k] for k in ("x_unit", "y_unit", "quantity", "name", "temperature") if k in spec
        }
        if path.suffix.lower() in (".jdx", ".dx", ".jcamp"):
            return Dataset.from_jcamp(path, **kw)
        for key in ("x", "y", "x_unit", "y_unit"):
            _require(spec, key, f"{where} dataset")
        if "uncertainty" in spec:
            kw["uncertainty"] = spec["uncertainty"]
        return Dataset.from_csv(path, x=spec["x"], y=spec["y"], **kw)
    except (DatasetError, UnitError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _build_target(t: dict, potential, model_kind: str, where: str, dtype, base: Path):
    from ..backends import JaxMDBackend, Langevin
    from ..gradients import Objective
    from ._target import Target

    _check_keys(t, _TARGET_KEYS, where)
    name = str(_require(t, "name", where))
    where = f"{where} ({name!r})"
    temperature = _quantity(
        _require(t, "temperature", where), "[temperature]", f"{where} temperature"
    )
    timestep = _quantity(
        t.get("timestep", "1 fs" if model_kind == "water" else "5 fs"),
        "[time]",
        f"{where} timestep",
    )
    friction = _quantity(t.get("friction", "5 1/ps"), "1/[time]", f"{where} friction")
    dataset = _load_dataset(_require(t, "dataset", where), t.get("dataset_column"), base, where)
    gradient = _build_gradient(
        dict(_require(t, "gradient", where)), timestep, f"{where} [gradient]"
    )
    frame_time = timestep * gradient.stride
    obs_kind = _choice(_require(t, "observable", where), _OBSERVABLES, f"{where} observable")
    observable, record = _build_observable(
        obs_kind, dict(t.get("observable_options", {})), temperature, model_kind, frame_time, where
    )
    loss = _build_loss(t, dataset, observable, temperature, where)
    # the system last: a water box is minimised, so every check above comes first
    positions, system = _build_system(
        dict(t.get("system", {})), model_kind, potential, f"{where} [system]", dtype
    )
    backend = JaxMDBackend(Langevin(timestep, temperature, friction))
    equil = t.get("equilibration")
    n_equil = 0 if equil is None else _steps(equil, timestep, f"{where} equilibration")
    weight = t.get("weight", 1.0)
    if not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"{where}: weight must be a number >= 0, got {weight!r}")
    return Target(
        name,
        Objective(observable, loss, record),
        system,
        positions,
        backend,
        gradient,
        temperature,
        equilibration_steps=n_equil,
        weight=float(weight),
        dataset=dataset,
    )


def _build_system(t: dict, model_kind: str, potential, where: str, dtype):
    if model_kind == "water":
        from ..backends import fire_minimize
        from ..potentials import water_box

        _check_keys(t, _SYSTEM_KEYS["water"], where)
        n = _int(t.get("molecules", 48), f"{where} molecules")
        density = _quantity(
            t.get("density", "0.997 g/cm**3"), "[mass]/[length]**3", f"{where} density"
        )
        seed = _int(t.get("seed", 0), f"{where} seed", 0)
        positions, system = water_box(
            n, density, np.asarray(jax.random.key_data(jax.random.key(seed))), model=potential
        )
        system = _cast(system, dtype)
        try:
            positions = fire_minimize(potential, system, jnp.asarray(positions, dtype))
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        return Quantity(np.asarray(positions), "nm"), system
    from ..potentials import fcc_lattice

    _check_keys(t, _SYSTEM_KEYS["lennard_jones"], where)
    cells = _int(_require(t, "cells", where), f"{where} cells")
    density = _quantity(_require(t, "density", where), "[mass]/[length]**3", f"{where} density")
    mass = _quantity(t.get("mass", "39.948 Da"), "[mass]", f"{where} mass")
    positions, system = fcc_lattice(cells, density, mass)
    box_half = float(np.min(np.asarray(system.box))) / 2
    if potential.cutoff is not None and potential.cutoff > box_half:
        raise ConfigError(
            f"{where}: the box ({2 * box_half:.4g} nm) is too small for the cutoff "
            f"({potential.cutoff} nm); use more cells"
        )
    return positions, _cast(system, dtype)


def _lag_frames(opts: dict, frame_time, where: str):
    """`max_lag` (a time) as a number of frames: observables inside a differentiated run
    see a traced time step, so lags are given to them in frames."""
    if "max_lag" not in opts:
        return None
    lag = _quantity(opts["max_lag"], "[time]", f"{where} max_lag")
    return max(1, int(round(float((lag / frame_time).m_as("")))))


def _build_observable(kind: str, opts: dict, temperature, model_kind, frame_time, where: str):
    from observables import (
        RDF,
        GaussianKernel,
        Hann,
        IRSpectrum,
        SelfDiffusion,
        ShearViscosity,
    )

    from ..backends import Dipole, Positions, Stress, Velocities
    from ..potentials import PointChargeDipole

    w = f"{where} [observable_options]"
    lag = _lag_frames(opts, frame_time, w)
    if kind == "ir":
        _check_keys(opts, {"max_lag"}, w)
        if model_kind != "water":
            raise ConfigError(f"{where}: observable 'ir' needs a model with charges (water)")
        # Hann window over the whole correlation length (max_lag)
        obs = IRSpectrum(temperature, window=Hann(), max_lag=lag)
        return obs, (Positions(), Dipole(PointChargeDipole()))
    if kind == "rdf":
        _check_keys(opts, {"r_max", "bins", "width"}, w)
        r_max = _quantity(opts.get("r_max", "0.8 nm"), "[length]", f"{w} r_max")
        width = _quantity(opts.get("width", "0.005 nm"), "[length]", f"{w} width")
        bins = _int(opts.get("bins", 80), f"{w} bins")
        return RDF(r_max, bins, kernel=GaussianKernel(width)), (Positions(),)
    # transport observables take max_lag as a time (they convert it with the trajectory's
    # time step, which works under a traced time step too)
    lag_time = _quantity(opts["max_lag"], "[time]", f"{w} max_lag") if "max_lag" in opts else None
    if kind == "self_diffusion":
        _check_keys(opts, {"max_lag"}, w)
        return SelfDiffusion(max_lag=lag_time), (Positions(), Velocities())
    _check_keys(opts, {"max_lag"}, w)
    return ShearViscosity(temperature, max_lag=lag_time), (Positions(), Stress())


def _check_model_grid(t: dict, dataset, observable, kind: str, where: str) -> None:
    """When the model's grid is known before simulating (an RDF's bins), a curve loss whose
    experimental grid reaches beyond it is refused now rather than inside the first step."""
    from ..losses import observable_units

    if kind not in ("mse", "chi2", "wasserstein") or "x_range" in t or dataset.x is None:
        return
    try:
        x_unit, _, grid = observable_units(observable)
    except Exception:
        return
    if grid is None or x_unit is None:
        return
    lo, hi = float(np.min(grid)), float(np.max(grid))
    try:
        x = np.asarray(dataset.to(x_unit=x_unit).x)
    except UnitError as err:
        raise ConfigError(f"{where}: {err}") from None
    if x.min() < lo - 1e-12 * abs(lo) or x.max() > hi + 1e-12 * abs(hi):
        raise ConfigError(
            f"{where}: the dataset's grid [{x.min():.6g}, {x.max():.6g}] {x_unit} reaches beyond "
            f"the model's [{lo:.6g}, {hi:.6g}] {x_unit}; widen the observable (r_max) or give "
            'x_range = [["lo", "hi"]]'
        )


def _build_loss(t: dict, dataset, observable, temperature, where: str):
    from ..losses import (
        ChiSquared,
        MeanSquaredError,
        PeakPosition,
        RelativeError,
        Wasserstein1,
    )

    kind = _choice(_require(t, "loss", where), _LOSSES, f"{where} loss")
    _check_model_grid(t, dataset, observable, kind, where)

    def ranges(key):
        pairs = t.get(key)
        if pairs is None:
            return None
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 for p in pairs
        ):
            raise ConfigError(f"{where} {key}: a list of [lower, upper] quantity pairs")
        return [
            tuple(
                _quantity(v, "1/[length]" if "cm" in v else "[length]", f"{where} {key}") for v in p
            )
            for p in pairs
        ]

    try:
        if kind == "peak_position":
            windows = ranges("windows")
            if not windows:
                raise ConfigError(f"{where}: loss 'peak_position' needs windows = [[lo, hi], ...]")
            return PeakPosition(dataset, windows=windows, observable=observable)
        x_range = ranges("x_range")
        kw = {"x_range": x_range[0]} if x_range else {}
        if kind == "mse":
            return MeanSquaredError(dataset, observable=observable, **kw)
        if kind == "chi2":
            return ChiSquared(dataset, observable=observable, **kw)
        if kind == "wasserstein":
            return Wasserstein1(dataset, observable=observable, **kw)
        at = t.get("at")
        return RelativeError(
            dataset,
            observable=observable,
            at=temperature if at is None else _quantity(at, "[temperature]", f"{where} at"),
        )
    except ConfigError:
        raise
    except (UnitError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{where}: loss {kind!r} cannot compare {type(observable).__name__} "
            f"with dataset {dataset.name!r}: {err}"
        ) from None


def _build_gradient(t: dict, timestep, where: str):
    from ..gradients._bptt import BPTT
    from ..gradients._reweighting import Reweighting
    from ..gradients._truncated import Truncated

    kind = _choice(_require(t, "kind", where), set(_GRADIENT_KEYS), f"{where} kind")
    _check_keys(t, _GRADIENT_KEYS[kind], where)
    stride = _int(t.get("stride", 1), f"{where} stride")
    if kind == "truncated":
        return Truncated(
            n_segments=_int(_require(t, "segments", where), f"{where} segments"),
            segment_steps=_steps(
                _require(t, "segment_length", where), timestep, f"{where} segment_length", stride
            ),
            stride=stride,
            decorrelation_steps=_steps(
                _require(t, "decorrelation", where), timestep, f"{where} decorrelation"
            ),
            initial_ensemble=bool(t.get("initial_ensemble", True)),
        )
    if kind == "bptt":
        return BPTT(
            _steps(_require(t, "length", where), timestep, f"{where} length", stride), stride=stride
        )
    return Reweighting(
        n_frames=_int(_require(t, "frames", where), f"{where} frames"),
        stride=stride,
        ess_threshold=float(t.get("ess_threshold", 0.6)),
    )
