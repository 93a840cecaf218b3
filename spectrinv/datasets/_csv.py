"""CSV tables: a strict reader that reports every problem with its line number, and a writer."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._errors import DatasetError

__all__ = ["read_columns", "write_columns"]

_OTHER_DELIMITERS = {";": "';'", "\t": "a tab", "|": "'|'", ",": "','"}


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]


def read_columns(
    path: str | Path,
    columns: list[str],
    *,
    x_column: str,
    delimiter: str | None = ",",
    comment: str = "#",
) -> dict[str, np.ndarray]:
    """The named `columns` of a delimited text file with a header line, as float arrays.

    `x_column` must be strictly monotonic: ascending is kept, strictly descending is reversed
    (all columns together). Raises `DatasetError` with the file name and line number for an
    empty file, a header that looks split by another delimiter, a missing column, a short
    row, a missing / non-numeric / NaN / infinite value, and non-monotonic or duplicate x.
    `FileNotFoundError` if the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not a text file ({err})") from None
    lines = [
        (no, line)
        for no, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not (comment and line.lstrip().startswith(comment))
    ]
    if not lines:
        raise DatasetError(
            f"{path} is empty (no header, no data); expected a header line naming the columns, "
            "e.g. 'wavenumber,absorbance', followed by one row per point"
        )
    header_no, header_line = lines[0]
    header = _split(header_line, delimiter)
    missing = [c for c in columns if c not in header]
    if missing:
        if len(header) == 1:
            for d, label in _OTHER_DELIMITERS.items():
                if d != delimiter and d in header_line:
                    raise DatasetError(
                        f"{path}: the header (line {header_no}) {header_line!r} has a single "
                        f"field with delimiter {delimiter!r}, but contains {label}: the file "
                        f"seems to be separated by {label}; pass delimiter={d!r}"
                    )
            if delimiter is not None and len(header_line.split()) > 1:
                raise DatasetError(
                    f"{path}: the header (line {header_no}) {header_line!r} has a single field "
                    f"with delimiter {delimiter!r}; the file seems whitespace-separated: pass "
                    "delimiter=None"
                )
        if all(_is_number(h) for h in header):
            raise DatasetError(
                f"{path}: line {header_no} {header_line!r} is data, not a header; add a header "
                f"line naming the columns (e.g. {','.join(columns)})"
            )
        raise DatasetError(
            f"{path}: no column {missing[0]!r} (header line {header_no}); available columns: "
            f"{', '.join(repr(h) for h in header)}"
        )
    index = {c: header.index(c) for c in columns}
    values: dict[str, list[float]] = {c: [] for c in columns}
    line_nos: list[int] = []
    for no, line in lines[1:]:
        fields = _split(line, delimiter)
        for c, i in index.items():
            if i >= len(fields) or fields[i] == "":
                raise DatasetError(
                    f"{path}, line {no}: missing value in column {c!r} ({len(fields)} fields, "
                    f"header has {len(header)}): {line!r}"
                )
            try:
                v = float(fields[i])
            except ValueError:
                raise DatasetError(
                    f"{path}, line {no}: column {c!r} has {fields[i]!r}, which is not a number"
                ) from None
            if not math.isfinite(v):
                raise DatasetError(
                    f"{path}, line {no}: column {c!r} is {fields[i]!r}; NaN and infinite values "
                    "are not allowed (remove the row or fill in the value)"
                )
            values[c].append(v)
        line_nos.append(no)
    if not line_nos:
        raise DatasetError(f"{path}: a header ({header_line!r}) but no data rows")
    out = {c: np.asarray(v, dtype=float) for c, v in values.items()}
    x = out[x_column]
    d = np.diff(x)
    if x.size > 1 and np.all(d < 0):
        return {c: v[::-1].copy() for c, v in out.items()}
    if np.any(d <= 0):
        i = int(np.flatnonzero(d <= 0)[0])
        kind = "repeats" if d[i] == 0 else "is smaller than"
        raise DatasetError(
            f"{path}, line {line_nos[i + 1]}: {x_column} = {x[i + 1]:g} {kind} the previous row's "
            f"{x[i]:g} (line {line_nos[i]}); {x_column} must be strictly increasing (or strictly "
            "decreasing throughout): sort the file and remove duplicate rows"
        )
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def write_columns(
    path: str | Path,
    header: Sequence[str],
    columns: Sequence[np.ndarray],
    *,
    comment: str | None = None,
) -> Path:
    """Write equal-length float `columns` (`[row]` each) under a header line naming them,
    preceded by ``# comment`` when given; values at full precision (`repr`). Returns the path.
    """
    path = Path(path)
    lines = [] if comment is None else [f"# {comment}"]
    lines.append(",".join(header))
    rows = zip(*(np.asarray(c) for c in columns), strict=True)
    lines += [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path
