"""JCAMP-DX spectra: reading through the `jcamp` package (MIT), with unit mapping; writing.

JCAMP-DX (McDonald & Wilks, *Appl. Spectrosc.* **42**, 151 (1988)) is a text format with
`##LABEL=value` header lines and a data table. The reader accepts the `(X++(Y..Y))` form
(AFFN or compressed ASDF), `(XY..XY)` point lists and peak tables, as parsed by `jcamp`.
This module reads and writes plain arrays and unit strings; `Dataset.from_jcamp` and
`Table.to_jcamp` wrap them.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from observables import UnitError

from ._errors import DatasetError
from ._units import parse_unit, spectral_name

__all__ = ["JCAMP_UNITS", "JcampSpectrum", "read_jcamp", "write_jcamp"]

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
    if not problems and not any(ln.startswith("##END") for ln in upper):
        raise DatasetError(
            f"{path} ends before its '##END=' line: the JCAMP-DX file is truncated; export "
            "or download it again"
        )
    if problems:
        raise DatasetError(
            f"{path} is not a JCAMP-DX file: {'; '.join(problems)}. For a delimited table use "
            "Dataset.from_csv(path, x=..., y=..., x_unit=..., y_unit=...)"
        )


class JcampSpectrum(NamedTuple):
    """One spectrum read from a JCAMP-DX file, before any unit conversion.

    `x`, `y`: `[point]` float64, `x` strictly ascending, in `x_unit` / `y_unit` (the file's
    units where they are physical, else the declared ones). `convert_x` / `convert_y`: the
    declared unit to convert to afterwards (`None`: keep). `units`: the file's unit labels
    and their meaning, for error messages.
    """

    x: np.ndarray
    y: np.ndarray
    x_unit: str
    y_unit: str
    convert_x: str | None
    convert_y: str | None
    name: str
    quantity: str
    x_name: str
    y_name: str
    temperature: float | None
    metadata: dict[str, Any]
    units: str


def _parse(path: Path) -> tuple[dict[str, Any], str]:
    """The `jcamp` package's dict of the file's single data block, and its warnings."""
    try:
        import jcamp
    except ImportError as err:
        raise ImportError(
            "reading JCAMP-DX files needs the 'jcamp' package: pip install jcamp"
        ) from err
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
    return d, messages.getvalue().strip()


def _points(path: Path, d: dict[str, Any], warnings: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the data block, checked finite and made strictly ascending in x."""
    x = np.asarray(d.get("x", ()), dtype=float)
    y = np.asarray(d.get("y", ()), dtype=float)
    if x.size == 0 or x.size != y.size:
        raise DatasetError(
            f"{path}: inconsistent data block ({x.size} x values, {y.size} y values)"
            + (f"; jcamp reported: {warnings}" if warnings else "")
        )
    declared = d.get("npoints")
    if isinstance(declared, int | float) and int(declared) != x.size:
        raise DatasetError(
            f"{path}: ##NPOINTS={int(declared)} but the data block holds {x.size} points: the "
            "file is truncated or damaged; export it again"
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
    return x, y


def _axis_unit(path: Path, d: dict[str, Any], axis: str, declared: str | None) -> str | None:
    """The pint unit of the file's ##XUNITS / ##YUNITS, or the declared one if it is not
    physical; `UnitError` when neither is known."""
    file_unit = _map_unit(d.get(f"{axis}units"))
    if file_unit is None and declared is None:
        label = d.get(f"{axis}units")
        raise UnitError(
            f"{path}: ##{axis.upper()}UNITS="
            + (f"{label!r} is not a physical unit" if label is not None else " is missing")
            + f"; declare the unit of {axis}, e.g. from_jcamp(path, {axis}_unit="
            + ("'1/cm'" if axis == "x" else "'dimensionless'")
            + ")"
        )
    return file_unit


def read_jcamp(
    path: str | Path,
    *,
    x_unit: str | None,
    y_unit: str | None,
    quantity: str,
    name: str | None,
    temperature: float | None,
) -> JcampSpectrum:
    """Read one JCAMP-DX spectrum; the arguments are those of `Dataset.from_jcamp`
    (`temperature` in K). Raises `DatasetError` for a file that is not JCAMP-DX or holds
    bad data, `UnitError` for a unit that is neither in the file nor declared."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    for unit, what in ((x_unit, "x_unit"), (y_unit, "y_unit")):
        if unit is not None:
            parse_unit(unit, what)
    d, warnings = _parse(path)
    x, y = _points(path, d, warnings)
    file_x, file_y = _axis_unit(path, d, "x", x_unit), _axis_unit(path, d, "y", y_unit)
    read_x = file_x if file_x is not None else x_unit
    read_y = file_y if file_y is not None else y_unit
    meta = {
        "source": {"file": str(path.resolve()), "format": "JCAMP-DX"},
        "jcamp": {
            k: v
            for k, v in d.items()
            if k not in ("x", "y", "children", "filename") and isinstance(v, str | int | float)
        },
    }
    if temperature is None and "$temperature k" in d:
        temperature = float(d["$temperature k"])
    return JcampSpectrum(
        x=x,
        y=y,
        x_unit=read_x,
        y_unit=read_y,
        convert_x=x_unit if file_x is not None else None,
        convert_y=y_unit if file_y is not None else None,
        name=name or str(d.get("title") or path.stem),
        quantity=str(d.get("$quantity", quantity)) if quantity == "spectrum" else quantity,
        x_name=str(d.get("$x name") or spectral_name(parse_unit(read_x, "x unit")) or "x"),
        y_name=str(d.get("$y name") or d.get("yunits") or "y").strip().lower(),
        temperature=temperature,
        metadata=meta,
        units=f"XUNITS={d.get('xunits')!r} -> {file_x!r}, YUNITS={d.get('yunits')!r} -> {file_y!r}",
    )


_UNITS_BACK = {"1/cm": "1/CM", "um": "MICROMETERS", "nm": "NANOMETERS", "Hz": "HZ", "s": "SECONDS"}


def write_jcamp(
    path: str | Path,
    *,
    x: np.ndarray,
    y: np.ndarray,
    x_unit: str,
    y_unit: str,
    x_name: str,
    y_name: str,
    quantity: str,
    temperature: float | None,
    title: str,
) -> Path:
    """Write `x`, `y` (`[point]`, in `x_unit` / `y_unit`) as JCAMP-DX 5.01 with an
    ``(XY..XY)`` table, one point per line at full precision (`repr`), so that reading it back
    is exact. spectrinv-specific labels (``##$QUANTITY``, ``##$X NAME``, ``##$Y NAME``,
    ``##$TEMPERATURE K``) keep the names. Returns the path."""
    path = Path(path)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    y_units = y_unit
    if y_units == "dimensionless" and y_name.upper() in JCAMP_UNITS:
        y_units = y_name.upper()
    lines = [
        f"##TITLE={title}",
        "##JCAMP-DX=5.01",
        "##DATA TYPE=INFRARED SPECTRUM" if quantity == "spectrum" else "##DATA TYPE=TABLE",
        "##ORIGIN=spectrinv",
        "##OWNER=",
        f"##XUNITS={_UNITS_BACK.get(x_unit, x_unit)}",
        f"##YUNITS={y_units}",
        f"##$QUANTITY={quantity}",
        f"##$X NAME={x_name}",
        f"##$Y NAME={y_name}",
    ]
    if temperature is not None:
        lines.append(f"##$TEMPERATURE K={temperature!r}")
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
