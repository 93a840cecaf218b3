"""The vocabulary of a fit configuration: its keys, and the parsers of its values (choices,
quantities with units, counts, durations as step counts). Every failure is a `ConfigError`
naming where in the file it happened."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from observables import Quantity, ureg

__all__ = [
    "ConfigError",
    "FIT_KEYS",
    "MODEL_KEYS",
    "TARGET_KEYS",
    "SYSTEM_KEYS",
    "GRADIENT_KEYS",
    "DATASET_FILE_KEYS",
    "OBSERVABLES",
    "LOSSES",
    "LOSS_TERM_KEYS",
    "CHI2_KEYS",
    "check_keys",
    "choice",
    "require",
    "quantity",
    "integer",
    "steps",
]


class ConfigError(ValueError):
    """A configuration that cannot be run (reported before any simulation starts)."""


class ConfigWarning(UserWarning):
    """A configuration that runs but is likely to give a biased answer (one line, when the
    configuration is read)."""


FIT_KEYS = {
    "steps",
    "seed",
    "learning_rate",
    "momentum",
    "clip_norm",
    "precision",
    "trainable",
    "output",
    "bounds",
    "uncertainty",
    "schedule",
    "final_fraction",
    "decay_rate",
    "transition_steps",
    "averaging",
    "averaging_start",
    "ema_decay",
    "stop_rtol",
    "stop_patience",
    "target_snr",
    "max_growth",
    "refine",
    "step_scale",
}
MODEL_KEYS = {
    "spc_fw": {"kind", "cutoff", "alpha", "tail_correction", "dipole", "parameters"},
    "q_spc_fw": {"kind", "cutoff", "alpha", "tail_correction", "dipole", "parameters"},
    "lennard_jones": {"kind", "sigma", "epsilon", "cutoff", "truncation", "parameters"},
}
TARGET_KEYS = {
    "name",
    "dataset",
    "dataset_column",
    "observable",
    "loss",
    "losses",
    "relative_uncertainty",
    "include_simulation_error",
    "windows",
    "x_range",
    "normalisation",
    "at",
    "weight",
    "temperature",
    "timestep",
    "friction",
    "equilibration",
    "melt",
    "system",
    "gradient",
    "observable_options",
    "pressure",
    "barostat_interval",
}
SYSTEM_KEYS = {
    "water": {"molecules", "density", "seed"},
    "lennard_jones": {"cells", "density", "mass"},
}
GRADIENT_KEYS = {
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
DATASET_FILE_KEYS = {
    "file",
    "x",
    "y",
    "x_unit",
    "y_unit",
    "uncertainty",
    "quantity",
    "name",
    "temperature",
    "pressure",
}
OBSERVABLES = {
    "ir",
    "rdf",
    "pressure",
    "self_diffusion",
    "shear_viscosity",
    "potential_energy",
    "enthalpy_of_vaporization",
    "dielectric_constant",
    "density",
}
LOSSES = {"mse", "chi2", "wasserstein", "peak_position", "band_intensity", "relative_error"}
#: keys of one `[[targets.losses]]` table (a term of a composite loss)
LOSS_TERM_KEYS = {
    "loss",
    "weight",
    "windows",
    "x_range",
    "normalisation",
    "relative_uncertainty",
    "include_simulation_error",
    "at",
}
CHI2_KEYS = ("relative_uncertainty", "include_simulation_error")


def check_keys(table: dict, allowed: set[str], where: str) -> None:
    """Refuse a key not in `allowed`, with a "did you mean" hint."""
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(sorted(allowed))})"
            )


def choice(value: Any, allowed: set[str], where: str) -> str:
    """`value` if it is one of `allowed`, else a `ConfigError` with a "did you mean" hint."""
    if value not in allowed:
        close = difflib.get_close_matches(str(value), sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: {value!r} is not one of {sorted(allowed)}{hint}")
    return value


def require(table: dict, key: str, where: str) -> Any:
    """`table[key]`, or a `ConfigError` naming the missing key."""
    if key not in table:
        raise ConfigError(f"{where}: missing required key {key!r}")
    return table[key]


def quantity(text: Any, dimension: str, where: str) -> Quantity:
    """A quantity string with units (`"0.5 fs"`) of the given pint `dimension`."""
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
    if not np.all(np.isfinite(q.magnitude)):
        raise ConfigError(f"{where}: {text!r} is not a finite number; give a value like '0.5 fs'")
    return q


def integer(value: Any, where: str, minimum: int = 1) -> int:
    """An integer >= `minimum` (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def steps(text: Any, timestep: Quantity, where: str, multiple_of: int = 1) -> int:
    """A duration (`"2 ps"`) as a number of time steps, rounded down to a multiple of
    `multiple_of` (at least one multiple)."""
    t = quantity(text, "[time]", where)
    n = int(round(float((t / timestep).m_as(""))))
    if n < 1:
        raise ConfigError(f"{where}: {text} is shorter than one time step ({timestep})")
    return max(multiple_of, (n // multiple_of) * multiple_of)
