"""Plain-text summaries of bundled datasets (used by `spectrinv datasets`)."""

from __future__ import annotations

import numpy as np

from ._files import data_dir
from ._registry import dataset_files, dataset_metadata, list_datasets, load_dataset

__all__ = ["conditions", "summary_rows", "describe"]


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def conditions(meta: dict) -> str:
    """A short state-point description: the TOML's ``conditions`` or one built from the
    temperature and pressure keys."""
    if meta.get("conditions"):
        return str(meta["conditions"])
    parts = []
    t = meta.get("temperature")
    if isinstance(t, int | float):
        parts.append(f"{_fmt(t)} {meta.get('temperature_unit', 'K')}")
    elif t:
        parts.append(str(t))
    p = meta.get("pressure")
    if isinstance(p, int | float):
        parts.append(f"{_fmt(p)} {meta.get('pressure_unit', 'Pa')}")
    elif p:
        parts.append(f"{p} pressure")
    return ", ".join(parts) or "not recorded"


def summary_rows() -> list[tuple[str, str, str, str]]:
    """(name, quantity [unit], conditions, points) of every bundled dataset."""
    rows = []
    for name in list_datasets():
        meta = dataset_metadata(name)
        unit = meta.get("columns", {}).get(
            meta["y"] if isinstance(meta.get("y"), str) else (meta.get("y") or [""])[0], ""
        )
        quantity = f"{meta.get('quantity', '?')} [{unit}]"
        default = meta.get("y") if isinstance(meta.get("y"), list) else [meta.get("y")]
        extra = [c for c in meta.get("column_quantities", {}) if c not in default]
        if extra:
            quantity += " + " + ", ".join(extra)
        points = meta.get("n_points")
        if points is None:
            points = len(load_dataset(name))
        rows.append((name, quantity, conditions(meta), str(points)))
    return rows


def _source_lines(meta: dict) -> list[str]:
    src = meta.get("source", {})
    out = []
    if isinstance(src, dict):
        cite = src.get("citation", "")
        link = f"doi:{src['doi']}" if src.get("doi") else src.get("url", "")
        out.append(f"source       {cite} {link}".rstrip())
        if isinstance(src.get("dois"), dict):
            dois = ", ".join(f"{k}: doi:{v}" for k, v in src["dois"].items())
            out.append(f"             per column: {dois}")
        if src.get("transcribed_from"):
            out.append(f"             transcribed from {src['transcribed_from']}")
        if "verified" in src:
            out.append(f"             verified against the original: {src['verified']}")
    lic = meta.get("license", {})
    if isinstance(lic, dict):
        out.append(f"license      {lic.get('name', '?')} {lic.get('url', '')}".rstrip())
    gen = meta.get("generation")
    if isinstance(gen, dict):
        pkg = gen.get("package", "")
        if gen.get("package_version"):
            pkg += f" {gen['package_version']}"
        what = "written" if gen.get("kind") == "transcribed" else "generated"
        by = f" ({pkg})" if pkg else ""
        out.append(f"{what:12s} by {gen.get('script', '?')}{by}, {gen.get('date', '')}")
    return out


def describe(name: str, *, preview: int = 5) -> str:
    """Metadata summary and a short preview of the values of one bundled dataset."""
    csv_path, toml_path = dataset_files(name)
    meta = dataset_metadata(name)
    ds = load_dataset(name)
    full = csv_path.relative_to(data_dir()).with_suffix("").as_posix()
    lines = [f"{full}: {meta.get('title', meta.get('description', ''))}"]
    lines.append(f"quantity     {ds.quantity} [{ds.y_unit}]")
    cols = meta.get("columns", {})
    lines.append("columns      " + ", ".join(f"{c} [{u}]" for c, u in cols.items()))
    others = [c for c in cols if c not in (meta.get("x"), meta.get("y"))]
    if others and not ds.is_labelled:
        lines.append(f"             other columns: load_dataset({full!r}, y={others[0]!r})")
    lines.append(f"conditions   {conditions(meta)}")
    if ds.is_labelled:
        lines.append(f"points       {len(ds)} labelled values: {', '.join(ds.labels)}")
    else:
        x = np.asarray(ds.x)
        lines.append(
            f"points       {len(ds)}, {ds.x_name} {_fmt(x[0])} .. {_fmt(x[-1])} {ds.x_unit}"
        )
    unc = meta.get("uncertainty", {})
    if isinstance(unc, dict):
        lines.append(f"uncertainty  {unc.get('value', 'not recorded')}")
    lines += _source_lines(meta)
    lines.append(f"files        {csv_path}, {toml_path.name}")
    lines.append("values:")
    y = np.asarray(ds.y)
    u = None if ds.uncertainty is None else np.asarray(ds.uncertainty)
    if ds.is_labelled:
        unc_cols = set(meta.get("uncertainty", {}).get("columns", {}).values())
        for lab in [c for c in cols if c not in unc_cols]:
            value, sigma = load_dataset(name, y=lab).value(lab)
            pm = "" if sigma is None else f" ± {_fmt(sigma.m)}"
            default = " (default)" if lab in ds.labels else ""
            lines.append(f"  {lab:>12s} = {_fmt(value.m)}{pm} {cols[lab]}{default}")
        return "\n".join(lines)
    x = np.asarray(ds.x)
    x_head, y_head = f"{ds.x_name} [{ds.x_unit}]", f"{ds.y_name} [{ds.y_unit}]"
    head = f"  {x_head:>22s}  {y_head:>22s}"
    if u is not None:
        head += f"  {'± 1 sigma':>12s}"
    lines.append(head)
    idx = list(range(len(x)))
    if len(idx) > 2 * preview:
        idx = idx[:preview] + [-1] + idx[-preview:]
    for i in idx:
        if i == -1:
            lines.append(f"  {'...':>22s}")
            continue
        row = f"  {_fmt(x[i]):>22s}  {_fmt(y[i]):>22s}"
        if u is not None:
            row += f"  {_fmt(u[i]):>12s}"
        lines.append(row)
    return "\n".join(lines)
