"""The bundled experimental datasets: `list_datasets`, `load_dataset`, `dataset_metadata`.

A bundled dataset is a CSV file plus a TOML metadata file with the same stem, under the
data folder (`spectrinv.datasets.data_dir()`), e.g. ``ir/water_segelstein_298K.{csv,toml}``. Its
name is the path without suffix (``"ir/water_segelstein_298K"``); the bare stem works too
when it is unique.

TOML keys read here (see ``data/README.md`` for the full layout):

- ``x``, ``y``: the default columns (a *table*); for labelled scalars ``layout =
  "labelled"``, no ``x``, and ``y`` is the list of default labels; the CSV then has one row.
- ``[columns]``: the unit of every column (strings parsed by `observables.ureg`).
- ``quantity`` (of the default ``y``) and optionally ``[column_quantities]`` per column.
- ``temperature`` + ``temperature_unit`` and ``pressure`` + ``pressure_unit`` when the
  whole table is at one state point (a string such as ``"ambient"`` means not recorded).
- ``[uncertainty.columns]``: for a y column (or label), the column holding its 1σ
  uncertainty, in that column's unit.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ._csv import read_columns
from ._dataset import Dataset
from ._errors import DatasetError
from ._files import data_dir
from ._units import affine, parse_unit

__all__ = ["list_datasets", "load_dataset", "dataset_metadata", "dataset_files"]


@functools.lru_cache(maxsize=4)
def _index(root: Path) -> dict[str, tuple[Path, Path]]:
    out = {}
    for toml in sorted(root.rglob("*.toml")):
        csv = toml.with_suffix(".csv")
        if not csv.is_file():
            continue  # e.g. the example trajectories' sidecars (.npz)
        name = toml.relative_to(root).with_suffix("").as_posix()
        out[name] = (csv, toml)
    return out


def list_datasets() -> list[str]:
    """Names of all bundled datasets, e.g. ``["ir/water_hale_298K", ...]`` (sorted)."""
    return list(_index(data_dir()))


def dataset_files(name: str) -> tuple[Path, Path]:
    """(CSV path, TOML path) of a bundled dataset, by full name or unique stem.

    Raises `DatasetError` listing the available names if there is no such dataset.
    """
    index = _index(data_dir())
    if name in index:
        return index[name]
    hits = [k for k in index if k.rsplit("/", 1)[-1] == name]
    if len(hits) == 1:
        return index[hits[0]]
    if len(hits) > 1:
        raise DatasetError(f"dataset name {name!r} is ambiguous: {', '.join(hits)}")
    raise DatasetError(
        f"no bundled dataset named {name!r}; available: {', '.join(index) or '(none)'}"
        " (run 'spectrinv datasets' for details)"
    )


def dataset_metadata(name: str) -> dict[str, Any]:
    """The TOML metadata of a bundled dataset as a dict."""
    _, toml = dataset_files(name)
    return tomllib.loads(toml.read_text(encoding="utf-8"))


def _state_point(meta: dict, key: str, unit: str) -> float | None:
    value = meta.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None  # absent, or a description such as "ambient"
    a, b, _ = affine(meta.get(f"{key}_unit", unit), unit, key)
    return float(value) * a + b


def load_dataset(name: str, *, y: str | list[str] | None = None, x: str | None = None) -> Dataset:
    """Load a bundled dataset.

    **Arguments:**

    - `name`: as listed by `list_datasets()` / `spectrinv datasets`, e.g.
      ``"ir/water_segelstein_298K"`` or ``"water_segelstein_298K"``.
    - `y`: another column than the TOML's default ``y`` (e.g. ``y="n"``); for labelled
      scalars a label or a list of labels (all must have compatible units).
    - `x`: another x column (rarely needed).

    **Returns:** a `Table` (or `LabelledValues` for ``layout = "labelled"``) in the units
    declared by the TOML, with the TOML as `metadata`.
    Raises `DatasetError` for an unknown name or column (listing what exists).
    """
    csv_path, _ = dataset_files(name)
    meta = dataset_metadata(name)
    full = csv_path.relative_to(data_dir()).with_suffix("").as_posix()
    columns: dict[str, str] = meta.get("columns", {})
    if not columns:
        raise DatasetError(f"{full}: its TOML has no [columns] table of units")
    for col, unit in columns.items():
        parse_unit(unit, f"{full} column {col!r}")
    unc_cols: dict[str, str] = meta.get("uncertainty", {}).get("columns", {})
    quantities: dict[str, str] = meta.get("column_quantities", {})
    temperature = _state_point(meta, "temperature", "K")
    pressure = _state_point(meta, "pressure", "Pa")
    stem = str(meta.get("name", csv_path.stem))

    def pick(col: str, role: str) -> str:
        if col not in columns:
            raise DatasetError(
                f"{full} has no column {col!r} for {role}; columns: {', '.join(columns)}"
            )
        return col

    if meta.get("layout") == "labelled":
        if x is not None:
            raise DatasetError(f"{full} is a set of labelled scalars; it has no x column")
        labels = [y] if isinstance(y, str) else list(y or meta["y"])
        for lab in labels:
            pick(lab, "y")
        data = read_columns(csv_path, list(columns), x_column=labels[0])
        if any(v.size != 1 for v in data.values()):
            raise DatasetError(f"{full}: a labelled-scalar CSV must have exactly one data row")
        unit = columns[labels[0]]
        vals, uncs = [], []
        for lab in labels:
            a, b, _ = affine(columns[lab], unit, f"{full} {lab!r}")
            vals.append(float(data[lab][0]) * a + b)
            if lab in unc_cols:
                uncs.append(float(data[unc_cols[lab]][0]) * abs(a))
        if uncs and len(uncs) != len(labels):
            uncs = []  # uncertainty for some labels only: not representable; see metadata
        default = labels == list(meta["y"])
        quantity = (
            meta.get("quantity", "labelled")
            if default or len(labels) > 1
            else quantities.get(labels[0], labels[0])
        )
        return Dataset.from_arrays(
            None,
            np.asarray(vals),
            x_unit=None,
            y_unit=unit,
            uncertainty=np.asarray(uncs) if uncs else None,
            labels=tuple(labels),
            name=stem,
            quantity=quantity,
            y_name=quantity,
            temperature=temperature,
            pressure=pressure,
            metadata=meta,
        )

    x_col = pick(x or meta["x"], "x")
    y_col = pick(y or meta["y"], "y")
    wanted = [x_col, y_col] + ([unc_cols[y_col]] if y_col in unc_cols else [])
    data = read_columns(csv_path, wanted, x_column=x_col)
    if y_col == meta["y"]:
        quantity = meta.get("quantity", y_col)
    else:
        quantity = quantities.get(y_col, y_col)
    return Dataset.from_arrays(
        data[x_col],
        data[y_col],
        x_unit=columns[x_col],
        y_unit=columns[y_col],
        uncertainty=data[unc_cols[y_col]] if y_col in unc_cols else None,
        name=stem,
        quantity=quantity,
        x_name=x_col,
        y_name=y_col,
        temperature=temperature,
        pressure=pressure,
        metadata=meta,
    )
