"""JCAMP-DX spectra: reading through the `jcamp` package (MIT), with unit mapping; writing.

JCAMP-DX (McDonald & Wilks, *Appl. Spectrosc.* **42**, 151 (1988)) is a text format with
`##LABEL=value` header lines and a data table. The reader accepts the `(X++(Y..Y))` form
(AFFN or compressed ASDF), `(XY..XY)` point lists and peak tables, as parsed by `jcamp`.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from observables import UnitError

from ._dataset import DatasetError, _spectral_name, parse_unit

if TYPE_CHECKING:
    from ._dataset import Dataset

__all__ = ["JCAMP_UNITS", "read_jcamp", "write_jcamp"]

#: JCAMP-DX ``##XUNITS`` / ``##YUNITS`` values (upper case) and the pint units they mean.
#: ``None`` marks units that are not physical (arbitrary scales): declare one with
#: ``x_unit=`` / ``y_unit=``.
JCAMP_UNITS: dict[str, str | None] = {
    "1/CM": "1/cm",
    "CM-1": "1/cm",
    "CM^-1": "1/cm",
    "CM**-1": "1/cm",
    "WAVENUMBERS": "1/cm",
    "MICROMETERS": "um",
    "MICRONS": "um",
    "UM": "um",
    "NANOMETERS": "nm",
    "NM": "nm",
    "HZ": "Hz",
    "SECONDS": "s",
    "ABSORBANCE": "dimensionless",
    "TRANSMITTANCE": "dimensionless",
    "REFLECTANCE": "dimensionless",
    "KUBELKA-MUNK": "dimensionless",
    "ARBITRARY UNITS": None,
    "ARB. UNITS": None,
    "A.U.": None,
    "COUNTS": None,
    "INTENSITY": None,
    "RELATIVE ABUNDANCE": None,
}

_DATA_LABELS = ("##XYDATA", "##XYPOINTS", "##PEAK TABLE")


def _map_unit(raw: Any) -> str | None:
    """A pint unit string for a JCAMP unit label, or None when unknown / not physical."""
    if raw is None:
        return None
    text = str(raw).strip()
    key = re.sub(r"\s+", " ", text.upper())
    if key in JCAMP_UNITS:
        return JCAMP_UNITS[key]
    try:  # units written by spectrinv (write_jcamp) are pint strings, e.g. "mPa*s"
        parse_unit(text, "unit")
    except UnitError:
        return None
    return text


def _check_is_jcamp(path: Path, text: str) -> None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("$$")]
    upper = [ln.upper() for ln in lines]
    first = lines[0] if lines else ""
    problems = []
    if not first.startswith("##"):
        problems.append(f"its first line {first[:60]!r} is not a '##LABEL=' header line")
    if not any(ln.startswith("##TITLE") for ln in upper):
        problems.append("it has no '##TITLE=' line")
    if not any(ln.startswith(_DATA_LABELS) for ln in upper):
        problems.append("it has no '##XYDATA=', '##XYPOINTS=' or '##PEAK TABLE=' data block")
    if problems:
        raise DatasetError(
            f"{path} is not a JCAMP-DX file: {'; '.join(problems)}. For a delimited table use "
            "Dataset.from_csv(path, x=..., y=..., x_unit=..., y_unit=...)"
        )


def read_jcamp(
    cls: type[Dataset],
    path: str | Path,
    *,
    x_unit: str | None,
    y_unit: str | None,
    quantity: str,
    name: str | None,
    temperature: float | None,
) -> Dataset:
    """See `Dataset.from_jcamp`."""
    try:
        import jcamp
    except ImportError as err:
        raise ImportError(
            "reading JCAMP-DX files needs the 'jcamp' package: pip install jcamp"
        ) from err

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    for unit, what in ((x_unit, "x_unit"), (y_unit, "y_unit")):
        if unit is not None:
            parse_unit(unit, what)
    raw = path.read_bytes()
    _check_is_jcamp(path, raw.decode("utf-8", errors="replace"))
    messages = io.StringIO()
    try:
        with contextlib.redirect_stdout(messages):  # jcamp prints its consistency warnings
            d = jcamp.read(io.BytesIO(raw))
    except Exception as err:
        raise DatasetError(f"{path}: the jcamp package could not parse it: {err!r}") from None
    if "children" in d:
        blocks = [c for c in d["children"] if len(c.get("y", ())) > 0]
        if len(blocks) != 1:
            raise DatasetError(
                f"{path} is a compound JCAMP-DX file with {len(blocks)} data blocks; only single "
                "spectra are supported: save each block as its own file"
            )
        d = blocks[0]
    warnings = messages.getvalue().strip()
    x = np.asarray(d.get("x", ()), dtype=float)
    y = np.asarray(d.get("y", ()), dtype=float)
    if x.size == 0 or x.size != y.size:
        raise DatasetError(
            f"{path}: inconsistent data block ({x.size} x values, {y.size} y values)"
            + (f"; jcamp reported: {warnings}" if warnings else "")
        )
    if "X-Check failed" in warnings or "Y-Check failed" in warnings:
        raise DatasetError(f"{path}: corrupt JCAMP-DX data lines; jcamp reported: {warnings}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        i = int(np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))[0])
        raise DatasetError(f"{path}: point {i} is missing or not finite (x={x[i]}, y={y[i]})")
    if x.size > 1 and np.all(np.diff(x) < 0):
        x, y = x[::-1].copy(), y[::-1].copy()
    if np.any(np.diff(x) <= 0):
        i = int(np.flatnonzero(np.diff(x) <= 0)[0])
        raise DatasetError(
            f"{path}: x is not strictly monotonic at point {i + 1} (x = {x[i]:g}, then "
            f"{x[i + 1]:g})"
        )

    file_x, file_y = _map_unit(d.get("xunits")), _map_unit(d.get("yunits"))
    declared = {}
    for axis, file_unit, user_unit in (("x", file_x, x_unit), ("y", file_y, y_unit)):
        if file_unit is None and user_unit is None:
            label = d.get(f"{axis}units")
            raise UnitError(
                f"{path}: ##{axis.upper()}UNITS="
                + (f"{label!r} is not a physical unit" if label is not None else " is missing")
                + f"; declare the unit of {axis}, e.g. from_jcamp(path, {axis}_unit="
                + ("'1/cm'" if axis == "x" else "'dimensionless'")
                + ")"
            )
        declared[axis] = file_unit if file_unit is not None else user_unit
    y_label = str(d.get("$y name") or d.get("yunits") or "y").strip().lower()
    x_dim_name = _spectral_name(parse_unit(declared["x"], "x unit"))
    meta = {
        "source": {"file": str(path.resolve()), "format": "JCAMP-DX"},
        "jcamp": {
            k: v
            for k, v in d.items()
            if k not in ("x", "y", "children", "filename") and isinstance(v, str | int | float)
        },
    }
    temp = temperature
    if temp is None and "$temperature k" in d:
        temp = float(d["$temperature k"])
    ds = cls.from_arrays(
        x,
        y,
        x_unit=declared["x"],
        y_unit=declared["y"],
        name=name or str(d.get("title") or path.stem),
        quantity=str(d.get("$quantity", quantity)) if quantity == "spectrum" else quantity,
        x_name=str(d.get("$x name") or x_dim_name or "x"),
        y_name=y_label,
        temperature=temp,
        metadata=meta,
    )
    try:
        return ds.to(
            x_unit=x_unit if file_x is not None else None,
            y_unit=y_unit if file_y is not None else None,
        )
    except UnitError as err:
        raise UnitError(
            f"{path}: the file's units (XUNITS={d.get('xunits')!r} -> {file_x!r}, "
            f"YUNITS={d.get('yunits')!r} -> {file_y!r}) do not match the declared ones: {err}"
        ) from None


_UNITS_BACK = {"1/cm": "1/CM", "um": "MICROMETERS", "nm": "NANOMETERS", "Hz": "HZ", "s": "SECONDS"}


def write_jcamp(ds: Dataset, path: str | Path, *, title: str | None = None) -> Path:
    """Write `ds` as JCAMP-DX 5.01 with an ``(XY..XY)`` table, one point per line at full
    precision (`repr`), so that reading it back is exact. spectrinv-specific labels
    (``##$QUANTITY``, ``##$X NAME``, ``##$Y NAME``, ``##$TEMPERATURE K``) keep the names."""
    if ds.x is None:
        raise DatasetError(f"dataset {ds.name!r} has no x axis; JCAMP-DX needs one")
    path = Path(path)
    x, y = np.asarray(ds.x, dtype=float), np.asarray(ds.y, dtype=float)
    y_units = ds.y_unit
    if y_units == "dimensionless" and ds.y_name.upper() in JCAMP_UNITS:
        y_units = ds.y_name.upper()
    lines = [
        f"##TITLE={title or ds.name}",
        "##JCAMP-DX=5.01",
        "##DATA TYPE=INFRARED SPECTRUM" if ds.quantity == "spectrum" else "##DATA TYPE=TABLE",
        "##ORIGIN=spectrinv",
        "##OWNER=",
        f"##XUNITS={_UNITS_BACK.get(ds.x_unit, ds.x_unit)}",
        f"##YUNITS={y_units}",
        f"##$QUANTITY={ds.quantity}",
        f"##$X NAME={ds.x_name or 'x'}",
        f"##$Y NAME={ds.y_name}",
    ]
    if ds.temperature is not None:
        lines.append(f"##$TEMPERATURE K={ds.temperature!r}")
    lines += [
        "##XFACTOR=1",
        "##YFACTOR=1",
        f"##FIRSTX={float(x[0])!r}",
        f"##LASTX={float(x[-1])!r}",
        f"##NPOINTS={x.size}",
        "##XYPOINTS=(XY..XY)",
    ]
    lines += [f"{a!r}, {b!r}" for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    lines.append("##END=")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
