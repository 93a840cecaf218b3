"""NPT targets of a fit configuration: `observable = "density"` with a target `pressure`.

The target's backend gets an isotropic `MonteCarloBarostat` at that pressure, and its
reference value is the dataset's density at the target's temperature and pressure. Only
`Reweighting` differentiates through NPT samples (the accept/reject volume moves are not
differentiable), so a density target with another gradient strategy is refused.
"""

from __future__ import annotations

from typing import Any

from observables import Quantity, ureg

from ..backends import MonteCarloBarostat
from ..datasets import Dataset, DatasetError, load_dataset
from ..gradients import AbstractGradient, Reweighting
from ._config_schema import ConfigError, quantity, require, steps

__all__ = ["NPT_KEYS", "PRESSURE_RTOL", "build_barostat", "check_state_point"]

#: Target keys that only an NPT (density) target may carry.
NPT_KEYS = ("pressure", "barostat_interval")

#: Relative tolerance between the target's pressure and the dataset's at the temperature.
PRESSURE_RTOL = 0.01


def build_barostat(
    t: dict, obs_kind: str, gradient: AbstractGradient, timestep: Quantity, where: str
) -> tuple[MonteCarloBarostat | None, Quantity | None]:
    """`(barostat, pressure)` of the target: `(None, None)` for an NVT target, else an isotropic
    `MonteCarloBarostat` at `pressure` with a volume move every `barostat_interval`
    (default 25 steps), moves of up to ±1 % in ln V, not adapted, and that pressure."""
    if obs_kind != "density":
        for key in NPT_KEYS:
            if key in t:
                raise ConfigError(
                    f"{where}: {key} applies to observable 'density' only (an NPT target), "
                    f"not {obs_kind!r}; remove it"
                )
        return None, None
    if not isinstance(gradient, Reweighting):
        raise ConfigError(
            f"{where}: a density target samples NPT (a Monte Carlo barostat), which only "
            f"gradient kind 'reweighting' differentiates; got {type(gradient).__name__}"
        )
    pressure = quantity(require(t, "pressure", where), "[pressure]", f"{where} pressure")
    interval = 25
    if "barostat_interval" in t:
        interval = steps(t["barostat_interval"], timestep, f"{where} barostat_interval")
    barostat = MonteCarloBarostat(pressure, frequency=interval, scaling="auto", adapt=False)
    return barostat, pressure


def dataset_pressure(dataset: Dataset, spec: Any, temperature: Quantity) -> Quantity | None:
    """The dataset's pressure at `temperature`: its declared pressure, or the saturation
    pressure column of a bundled dataset along a saturation line; `None` if it states none."""
    if dataset.pressure is not None:
        return ureg.Quantity(dataset.pressure, "Pa")
    if isinstance(spec, str) and "saturation_pressure" in dataset.metadata.get("columns", {}):
        return load_dataset(spec, y="saturation_pressure").at(temperature)[0]
    return None


def check_state_point(
    dataset: Dataset, spec: Any, temperature: Quantity, pressure: Quantity, where: str
) -> None:
    """Refuse a density dataset in another unit than a density, or whose state point at the
    target's temperature is not at the target's pressure (within `PRESSURE_RTOL`)."""
    if not ureg.Unit(dataset.y_unit).is_compatible_with("kg/m**3"):
        raise ConfigError(
            f"{where}: dataset {dataset.name!r} gives {dataset.quantity} in {dataset.y_unit}, "
            "not a density (kg/m**3); choose a density column with dataset_column"
        )
    target_p = pressure.to("bar")
    state = f"the target's state point T = {temperature:~}, P = {target_p.m:.6g} bar"
    try:
        data_p = dataset_pressure(dataset, spec, temperature)
    except DatasetError as err:
        raise ConfigError(f"{where}: {state}: {err}") from None
    if data_p is None:
        raise ConfigError(
            f"{where}: dataset {dataset.name!r} states no pressure, so it has no value at "
            f'{state}; declare the dataset\'s pressure (e.g. pressure = "1 bar" in its table)'
        )
    data_bar = float(data_p.m_as("bar"))
    if abs(data_bar - target_p.m) > PRESSURE_RTOL * abs(data_bar):
        raise ConfigError(
            f"{where}: dataset {dataset.name!r} is at P = {data_bar:.6g} bar at "
            f'T = {temperature:~}, not at {state}; set pressure = "{data_bar:.6g} bar" or '
            "use a dataset at that pressure"
        )
