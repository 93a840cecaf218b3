"""The `[[targets]]` tables of a fit configuration: dataset, state point, simulated system,
sampling backend, and (through `_config_objective`) observable, loss and gradient strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from observables import RDF, Quantity, UnitError, perpendicular_widths, ureg

from ..backends import JaxMDBackend, Langevin, fire_minimize
from ..datasets import Dataset, DatasetError, load_dataset
from ..gradients import Objective
from ..losses import observable_units
from ..potentials import fcc_lattice, water_box
from ._config_model import cast
from ._config_npt import build_barostat, check_state_point
from ._config_objective import (
    build_gradient,
    build_losses,
    build_observable,
    warn_if_intensities_from_dipole,
)
from ._config_schema import (
    DATASET_FILE_KEYS,
    OBSERVABLES,
    SYSTEM_KEYS,
    TARGET_KEYS,
    ConfigError,
    check_keys,
    choice,
    integer,
    quantity,
    require,
    steps,
)
from ._target import Target

__all__ = ["build_target", "load_target_dataset"]


def build_target(
    t: dict, potential: Any, model_kind: str, where: str, dtype: Any, base: Path
) -> Target:
    """One `Target` from its table (`base`: folder that dataset paths are relative to)."""
    check_keys(t, TARGET_KEYS, where)
    name = str(require(t, "name", where))
    where = f"{where} ({name!r})"
    temperature = quantity(
        require(t, "temperature", where), "[temperature]", f"{where} temperature"
    )
    timestep_text = t.get("timestep", "1 fs" if model_kind == "water" else "5 fs")
    timestep = quantity(timestep_text, "[time]", f"{where} timestep")
    if not timestep.m > 0:  # also refuses NaN
        raise ConfigError(f"{where} timestep = {timestep_text!r}: a time step must be > 0")
    friction = quantity(t.get("friction", "5 1/ps"), "1/[time]", f"{where} friction")
    dataset_spec = require(t, "dataset", where)
    dataset = load_target_dataset(dataset_spec, t.get("dataset_column"), base, where)
    gradient = build_gradient(dict(require(t, "gradient", where)), timestep, f"{where} [gradient]")
    frame_time = timestep * gradient.stride
    obs_kind = choice(require(t, "observable", where), OBSERVABLES, f"{where} observable")
    observable, record = build_observable(
        obs_kind, dict(t.get("observable_options", {})), temperature, model_kind, frame_time, where
    )
    check_dataset_kind(dataset, observable, obs_kind, where)
    barostat, pressure = build_barostat(t, obs_kind, gradient, timestep, where)
    if pressure is not None:
        check_state_point(dataset, dataset_spec, temperature, pressure, where)
    loss = build_losses(t, dataset, observable, temperature, where)
    warn_if_intensities_from_dipole(t, observable, where)
    # the system last: a water box is minimised, so every check above comes first
    positions, system = _build_system(
        dict(t.get("system", {})), model_kind, potential, f"{where} [system]", dtype
    )
    _check_r_max(observable, system, f"{where} [observable_options] r_max")
    backend = JaxMDBackend(Langevin(timestep, temperature, friction), barostat=barostat)
    equil = t.get("equilibration")
    n_equil = 0 if equil is None else steps(equil, timestep, f"{where} equilibration")
    melt_backend, n_melt = _melt(t.get("melt"), timestep, friction, f"{where} melt")
    return Target(
        name,
        Objective(observable, loss, record),
        system,
        positions,
        backend,
        gradient,
        temperature,
        equilibration_steps=n_equil,
        dataset=dataset,
        melt_backend=melt_backend,
        melt_steps=n_melt,
    )


def _melt(t: Any, timestep: Quantity, friction: Quantity, where: str) -> tuple[Any, int]:
    """`melt = {temperature = "400 K", time = "10 ps"}`: a Langevin thermostat at that
    temperature (the target's friction, fixed volume) and its number of steps; `(None, 0)`
    without one."""
    if t is None:
        return None, 0
    if not isinstance(t, dict):
        raise ConfigError(f'{where} must be a table like {{temperature = "400 K", time = "10 ps"}}')
    check_keys(t, {"temperature", "time"}, where)
    temperature = quantity(
        require(t, "temperature", where), "[temperature]", f"{where} temperature"
    )
    if not temperature.to("K").m > 0:
        raise ConfigError(f"{where} temperature must be above 0 K, got {temperature}")
    n = steps(require(t, "time", where), timestep, f"{where} time")
    return JaxMDBackend(Langevin(timestep, temperature, friction)), n


def load_target_dataset(spec: Any, column: Any, base: Path, where: str) -> Dataset:
    """A bundled dataset by name, or a user's CSV / JCAMP-DX file given as a table
    `{file = "my.csv", x = "wavenumber", y = "absorbance", x_unit = "1/cm", y_unit = "1/cm"}`
    (paths relative to `base`, the config file's folder)."""
    try:
        if isinstance(spec, str):
            return load_dataset(spec, **({"y": column} if column else {}))
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} dataset: a bundled dataset name or a {{file = ...}} table")
        check_keys(spec, DATASET_FILE_KEYS, f"{where} dataset")
        path = base / str(require(spec, "file", f"{where} dataset"))
        if not path.is_file():
            raise ConfigError(f"{where} dataset: no file {str(path)!r}")
        kw = {
            k: spec[k] for k in ("x_unit", "y_unit", "quantity", "name", "temperature") if k in spec
        }
        if path.suffix.lower() in (".jdx", ".dx", ".jcamp"):
            if "pressure" in spec:
                raise ConfigError(f"{where} dataset: pressure applies to a CSV file, not JCAMP-DX")
            return Dataset.from_jcamp(path, **kw)
        for key in ("x", "y", "x_unit", "y_unit"):
            require(spec, key, f"{where} dataset")
        for key in ("uncertainty", "pressure"):  # a CSV's state-point pressure ("1 bar")
            if key in spec:
                kw[key] = spec[key]
        return Dataset.from_csv(path, x=spec["x"], y=spec["y"], **kw)
    except (DatasetError, UnitError) as err:
        raise ConfigError(f"{where}: {err}") from None


def check_dataset_kind(dataset: Dataset, observable: Any, obs_kind: str, where: str) -> None:
    """Refuse a dataset whose x axis is of another dimension than the observable's (an IR
    spectrum for an RDF target), naming both units, before any grid is compared."""
    x_unit = observable_units(observable)[0]
    if x_unit is None or dataset.is_labelled:
        return
    ours, theirs = ureg.Unit(x_unit), ureg.Unit(dataset.x_unit)
    # a spectrum's axis converts between wavelength, wavenumber, frequency and energy;
    # a distance (an RDF's r) converts only to other lengths
    spectral = [ureg.Unit(u).dimensionality for u in ("1/m", "Hz", "J")]
    both_spectral = ours.dimensionality in spectral and theirs.dimensionality in [
        *spectral,
        ureg.Unit("m").dimensionality,
    ]
    if ours.dimensionality == theirs.dimensionality or both_spectral:
        return
    raise ConfigError(
        f"{where}: dimension mismatch: dataset {dataset.name!r} ({dataset.quantity}) has x in "
        f"{dataset.x_unit} ({theirs.dimensionality}), observable {obs_kind!r} gives x in "
        f"{x_unit} ({ours.dimensionality}); give this target a {obs_kind} dataset"
    )


def _check_r_max(observable: Any, system: Any, where: str) -> None:
    """An RDF's `r_max` must fit in the box the target's system has (half its narrowest
    perpendicular width), refused when the config is read rather than at the first step."""
    if not isinstance(observable, RDF):
        return
    box = np.asarray(system.box, dtype=np.float64)
    matrix = box if box.ndim == 2 else np.diag(np.broadcast_to(box, (3,)))
    half = 0.5 * float(np.min(perpendicular_widths(matrix)))
    if observable.r_max > half * (1 + 1e-6):
        raise ConfigError(
            f"{where} = {observable.r_max:.4g} nm exceeds half the narrowest width of the "
            f"target's box ({half:.4g} nm); lower r_max or enlarge the system"
        )


def _build_system(
    t: dict, model_kind: str, potential: Any, where: str, dtype: Any
) -> tuple[Quantity, Any]:
    """`(positions, system)`: a minimised water box, or an fcc Lennard-Jones crystal."""
    if model_kind == "water":
        check_keys(t, SYSTEM_KEYS["water"], where)
        n = integer(t.get("molecules", 48), f"{where} molecules")
        density = quantity(
            t.get("density", "0.997 g/cm**3"), "[mass]/[length]**3", f"{where} density"
        )
        seed = integer(t.get("seed", 0), f"{where} seed", 0)
        positions, system = water_box(
            n, density, np.asarray(jax.random.key_data(jax.random.key(seed))), model=potential
        )
        system = cast(system, dtype)
        try:
            positions = fire_minimize(potential, system, jnp.asarray(positions, dtype))
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        return Quantity(np.asarray(positions), "nm"), system
    check_keys(t, SYSTEM_KEYS["lennard_jones"], where)
    cells = integer(require(t, "cells", where), f"{where} cells")
    density = quantity(require(t, "density", where), "[mass]/[length]**3", f"{where} density")
    mass = quantity(t.get("mass", "39.948 Da"), "[mass]", f"{where} mass")
    positions, system = fcc_lattice(cells, density, mass)
    box_half = float(np.min(np.asarray(system.box))) / 2
    if potential.cutoff is not None and potential.cutoff > box_half:
        raise ConfigError(
            f"{where}: the box ({2 * box_half:.4g} nm) is too small for the cutoff "
            f"({potential.cutoff} nm); use more cells"
        )
    return positions, cast(system, dtype)
