"""`.npz` files of a `Trajectory`: arrays in internal units plus a JSON header of units."""

import dataclasses
import json
import os
from typing import Any

import numpy as np

from ._trajectory_fields import FIELDS, PER_FRAME_FIELDS, TrajectoryError
from ._units import INTERNAL_UNITS, Quantity

__all__ = ["write_npz", "read_npz"]

_NPZ_FORMAT = "spectrinv-trajectory-1"


def write_npz(trajectory: Any, path: str | os.PathLike, *, compressed: bool = True) -> None:
    """Save `trajectory` (a `Trajectory`) to `path`; read it back with `read_npz`."""
    arrays: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for f in dataclasses.fields(trajectory):
        v = getattr(trajectory, f.name)
        if v is None or f.name == "species_names":
            continue
        arrays[f.name] = np.asarray(v)
        if f.name in FIELDS:
            units[f.name] = INTERNAL_UNITS[FIELDS[f.name][0]]
    units["box"] = INTERNAL_UNITS["length"]
    units["timestep"] = INTERNAL_UNITS["time"]
    header = {"format": _NPZ_FORMAT, "units": units, "species_names": trajectory.species_names}
    arrays["__header__"] = np.array(json.dumps(header))
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


def read_npz(path: str | os.PathLike, allowed: set[str]) -> dict[str, Any]:
    """The `Trajectory(...)` keyword arguments (quantities) stored in `path`.

    `allowed` is the set of `Trajectory` field names; any other array is an error. The
    header's unit strings are honoured, so files in Å/fs load correctly.
    """
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # zipfile.BadZipFile, ValueError, OSError
        raise TrajectoryError(f"{path} is not a readable .npz file: {err}") from err
    with data:
        header = _header(data, path)
        units = header["units"]
        if "timestep" not in data.files:
            raise TrajectoryError(f"{path} has no 'timestep' array")
        if not any(name in data.files for name in PER_FRAME_FIELDS):
            raise TrajectoryError(
                f"{path} has no per-frame array (positions, or a signal such as dipole)"
            )
        unknown = set(data.files) - allowed - {"__header__"}
        if unknown:
            raise TrajectoryError(f"{path} has unknown arrays {sorted(unknown)}")
        kwargs: dict[str, Any] = {"box": None}
        for name in data.files:
            if name == "__header__":
                continue
            value = _member(data, name, path)
            if name == "species":
                kwargs[name] = value
                continue
            if name not in units:
                raise TrajectoryError(f"{path}: no unit recorded for {name!r}")
            kwargs[name] = Quantity(value, units[name])
    names = header.get("species_names")
    kwargs["species_names"] = None if names is None else tuple(names)
    return kwargs


def _member(data: Any, name: str, path: Any) -> np.ndarray:
    """Array `name` of the open archive: a damaged member (bad compression, truncated) or
    a non-numeric array where numbers belong is a `TrajectoryError` naming file and array."""
    try:
        value = data[name]
    except Exception as err:  # zlib.error, zipfile.BadZipFile, EOFError, ValueError, OSError
        detail = " ".join(str(err).split()) or type(err).__name__
        kind = type(err).__name__
        if type(err).__module__ != "builtins":  # zlib.error, zipfile.BadZipFile
            kind = f"{type(err).__module__}.{kind}"
        raise TrajectoryError(
            f"{path}: array {name!r} cannot be read ({kind}: {detail}); the "
            "file is damaged: write it again with Trajectory.to_npz"
        ) from None
    numeric = np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_
    if name != "species" and not numeric:
        raise TrajectoryError(
            f"{path}: array {name!r} holds {value.dtype} values, not numbers; store numbers "
            "(e.g. positions as floats) with their unit in the header"
        )
    return value


def _header(data: Any, path: Any) -> dict[str, Any]:
    if "__header__" not in data.files:
        raise TrajectoryError(
            f"{path} has no '__header__' entry with units; it was not written by "
            "Trajectory.to_npz. Build the Trajectory from its arrays with units instead."
        )
    try:
        header = json.loads(str(data["__header__"]))
        header["units"]
    except Exception as err:  # bad JSON or a damaged member (zlib.error, EOFError, ...)
        detail = " ".join(str(err).split()) or type(err).__name__
        raise TrajectoryError(f"{path}: malformed '__header__': {detail}") from None
    if header.get("format") != _NPZ_FORMAT:
        raise TrajectoryError(
            f"{path}: unknown format {header.get('format')!r} (expected {_NPZ_FORMAT!r})"
        )
    return header
