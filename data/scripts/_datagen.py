"""Shared helpers of the dataset generation scripts: deterministic CSV and TOML writers, dates.

Standard library + NumPy only. The scripts import it from their own folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

__all__ = ["default_date", "csv_text", "toml_text", "write_pair", "fmt"]


def default_date(date: str | None = None) -> str:
    """`date` (ISO) checked, else ``SOURCE_DATE_EPOCH``, else today's UTC date."""
    if date is not None:
        return _dt.date.fromisoformat(date).isoformat()
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC).date().isoformat()
    return _dt.datetime.now(tz=_dt.UTC).date().isoformat()


def fmt(v: float, digits: int = 10) -> str:
    """A float with `digits` significant digits (platform-independent text)."""
    return f"{float(v):.{digits}g}"


def csv_text(columns: dict[str, list[float]], digits: int = 10) -> str:
    """Header line + one row per point, comma separated, ``digits`` significant digits."""
    names = list(columns)
    n = len(columns[names[0]])
    rows = [",".join(names)]
    for i in range(n):
        rows.append(",".join(fmt(columns[c][i], digits) for c in names))
    return "\n".join(rows) + "\n"


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=True)  # a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def toml_text(meta: dict) -> str:
    """Minimal TOML writer: scalars first, then one ``[table]`` per nested dict (recursively,
    as ``[a.b]``), in insertion order."""
    out: list[str] = []

    def table(prefix: str, d: dict) -> None:
        scalars = [(k, v) for k, v in d.items() if not isinstance(v, dict)]
        if prefix:
            out.append("")
            out.append(f"[{prefix}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars)
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", meta)
    return "\n".join(out) + "\n"


def write_pair(
    out_dir: Path, stem: str, columns: dict[str, list[float]], meta: dict, digits: int = 10
) -> tuple[Path, Path]:
    """Write ``stem.csv`` and ``stem.toml`` (ASCII) into `out_dir`; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, toml_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.toml"
    csv_path.write_bytes(csv_text(columns, digits).encode("ascii"))
    toml_path.write_bytes(toml_text(meta).encode("ascii"))
    return csv_path, toml_path
