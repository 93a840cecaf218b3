"""`spectrinv.datasets`: bundled datasets, users' CSV / JCAMP-DX files, units, baselines.

Expected values are written out by hand (analytic functions, literature numbers, hand-made
files), never produced by the code under test.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from observables import Quantity as Q, UnitError, ureg
from spectrinv.datasets import (
    Dataset,
    DatasetError,
    LabelledValues,
    LinearBaseline,
    NoBaseline,
    PolynomialBaseline,
    Table,
    data_dir,
    dataset_files,
    dataset_metadata,
    list_datasets,
    load_dataset,
)

REPO = Path(__file__).resolve().parents[1]
NAMES = list_datasets()


# ---------------------------------------------------------------------- bundled datasets
def test_registry_lists_every_csv_toml_pair():
    pairs = sorted(
        p.relative_to(data_dir()).with_suffix("").as_posix()
        for p in data_dir().rglob("*.toml")
        if p.with_suffix(".csv").is_file()
    )
    assert NAMES == pairs
    for expected in (
        "ir/water_segelstein_298K",
        "ir/water_hale_298K",
        "fluids/water_iapws_1atm",
        "fluids/argon_saturated_liquid",
        "fluids/water_self_diffusion_holz2000",
        "solids/silicon_elastic_mcskimin1953",
        "solids/diamond_elastic_mcskimin1972",
        "solids/silicon_phonons_nilsson1972",
        "structure/water_goo_first_peak_skinner2013",
    ):
        assert expected in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_bundled_dataset_loads_with_declared_units_and_provenance(name):
    ds = load_dataset(name)
    csv_path, toml_path = dataset_files(name)
    meta = tomllib.loads(toml_path.read_text())
    assert ds.metadata == meta
    units = meta["columns"]
    for unit in units.values():
        ureg.Unit(unit)  # every declared unit parses
    with open(csv_path, newline="") as f:
        header = next(csv.reader(f))
    assert header == list(units), f"{name}: CSV header {header} vs [columns] {list(units)}"
    if meta.get("layout") == "labelled":
        assert ds.x is None and list(ds.labels) == meta["y"]
        assert ds.y_unit == units[meta["y"][0]]
    else:
        assert ds.x_name == meta["x"] and ds.y_name == meta["y"]
        assert ds.x_unit == units[meta["x"]] and ds.y_unit == units[meta["y"]]
        # Compare with an independent reader of the same file.
        table = np.genfromtxt(csv_path, delimiter=",", names=True)
        np.testing.assert_array_equal(np.asarray(ds.x), table[meta["x"]])
        np.testing.assert_array_equal(np.asarray(ds.y), table[meta["y"]])
        assert np.all(np.diff(np.asarray(ds.x)) > 0)
    assert len(ds) == meta["n_points"] or meta.get("layout") == "labelled"
    # Provenance: citation with DOI or URL, license, how it was made.
    src = meta["source"]
    assert src["citation"] and (src.get("doi") or src.get("url")), name
    assert ds.citation()
    assert meta["license"]["name"] and meta["license"].get("url")
    assert meta["uncertainty"]["value"] and meta["uncertainty"].get("note", "x")
    gen = meta["generation"]
    assert (REPO / gen["script"]).is_file() and gen["date"]
    if gen.get("kind") != "transcribed":
        assert gen["package"] and gen["package_version"]
    else:
        assert src.get("verified"), f"{name}: say whether the transcription was verified"
    if isinstance(meta.get("temperature"), float):
        assert ds.temperature == pytest.approx(
            Q(meta["temperature"], meta["temperature_unit"]).m_as("K")
        )


def test_unknown_name_lists_available():
    with pytest.raises(DatasetError, match="no bundled dataset named 'nope'") as err:
        load_dataset("nope")
    for name in NAMES:
        assert name in str(err.value)


def test_stem_and_full_name_are_the_same_dataset():
    a = load_dataset("water_hale_298K")
    b = load_dataset("ir/water_hale_298K")
    np.testing.assert_array_equal(a.y, b.y)
    assert a.name == b.name == "water_hale_298K"


def test_other_column_and_its_quantity():
    n = load_dataset("ir/water_hale_298K", y="n")
    assert n.y_unit == "dimensionless" and n.y_name == "n"
    rho = load_dataset("fluids/water_iapws_1atm", y="density")
    assert rho.quantity == "density" and rho.y_unit == "kg/m^3"
    with pytest.raises(DatasetError, match="no column 'viscosity'.*shear_viscosity"):
        load_dataset("fluids/water_iapws_1atm", y="viscosity")


def test_uncertainty_column_is_attached():
    eta = load_dataset("fluids/argon_saturated_liquid")
    assert eta.uncertainty is not None
    # The TOML states 2 % for the viscosity.
    np.testing.assert_allclose(eta.uncertainty, 0.02 * eta.y, rtol=1e-8)
    assert eta.pressure is None and eta.temperature is None  # both vary along the table
    water = load_dataset("fluids/water_iapws_1atm")
    assert water.uncertainty is None and water.pressure == 101325.0


def test_labelled_scalars():
    si = load_dataset("solids/silicon_elastic_mcskimin1953")
    assert si.labels == ("C11", "C12", "C44") and si.quantity == "elastic_constants"
    c11, sigma = si.value("C11")
    assert c11.m_as("GPa") == 165.7 and sigma is None
    assert si.to(y_unit="Mbar").value("C44")[0].m == pytest.approx(0.796)
    rho = load_dataset("silicon_elastic_mcskimin1953", y="density")
    assert rho.value("density")[0].m_as("g/cm^3") == pytest.approx(2.329, abs=1e-3)
    with pytest.raises(DatasetError, match="labels: C11, C12, C44"):
        si.value("C13")
    with pytest.raises(DatasetError, match="labelled scalars"):
        si.at(Q(1, "K"))
    peak = load_dataset("structure/water_goo_first_peak_skinner2013", y=["r_max"])
    r, dr = peak.value("r_max")
    assert r.m_as("nm") == pytest.approx(0.280) and dr.m_as("nm") == pytest.approx(0.001)


# ---------------------------------------------------------------------- units and look-ups
def _line(n=11, unit_x="K", unit_y="mPa*s", sigma=True):
    x = np.linspace(280.0, 380.0, n)
    y = 2.0 * x + 1.0
    return Dataset.from_arrays(
        x,
        y,
        x_unit=unit_x,
        y_unit=unit_y,
        uncertainty=0.01 * y if sigma else None,
        quantity="shear_viscosity",
        name="line",
    )


_X_UNITS = ["K", "degC", "degF", "mK"]
_Y_UNITS = ["mPa*s", "Pa*s", "cP", "uPa*s", "poise"]


@given(
    xu=st.sampled_from(_X_UNITS),
    yu=st.sampled_from(_Y_UNITS),
    shift=st.floats(1.0, 500.0),
    scale=st.floats(1e-3, 1e3),
)
def test_to_round_trip(xu, yu, shift, scale):
    x = np.array([1.0, 2.0, 5.0]) + shift
    y = np.array([3.0, -1.0, 7.0]) * scale
    ds = Dataset.from_arrays(x, y, x_unit="K", y_unit="mPa*s", uncertainty=0.1 * abs(y))
    back = ds.to(x_unit=xu, y_unit=yu).to(x_unit="K", y_unit="mPa*s")
    # Offset units (degC, degF) lose ~eps * offset (~1e-13 K) in absolute terms.
    np.testing.assert_allclose(back.x, x, rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(back.y, y, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(back.uncertainty, 0.1 * abs(y), rtol=1e-12)
    assert back.x_unit == "K" and back.y_unit == "mPa*s"


def test_to_known_values():
    ds = _line()
    c = ds.to(x_unit="degC", y_unit="Pa*s")
    np.testing.assert_allclose(c.x, np.asarray(ds.x) - 273.15, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.y, np.asarray(ds.y) * 1e-3, rtol=1e-14)
    np.testing.assert_allclose(c.uncertainty, np.asarray(ds.uncertainty) * 1e-3, rtol=1e-14)
    with pytest.raises(UnitError, match="'mPa\\*s' to 'W/\\(m\\*K\\)'"):
        ds.to(y_unit="W/(m*K)")
    with pytest.raises(UnitError, match="'K' to '1/cm'"):
        ds.to(x_unit="1/cm")
    with pytest.raises(UnitError, match="unknown unit 'furlongs_per_fortnightX'"):
        ds.to(y_unit="furlongs_per_fortnightX")


def test_spectral_axis_conversion_reciprocal_and_resorted():
    nu = np.array([1000.0, 2000.0, 4000.0])  # 1/cm
    ds = Dataset.from_arrays(nu, np.array([1.0, 2.0, 3.0]), x_unit="1/cm", y_unit="1/cm")
    lam = ds.to(x_unit="um")
    np.testing.assert_allclose(lam.x, [2.5, 5.0, 10.0], rtol=1e-14)  # 1e4 / nu
    np.testing.assert_array_equal(lam.y, [3.0, 2.0, 1.0])  # values travel with their points
    assert lam.x_name == "wavelength"
    thz = ds.to(x_unit="THz")  # nu * c
    np.testing.assert_allclose(thz.x, nu * 2.99792458e-2, rtol=1e-12)
    back = lam.to(x_unit="1/cm")
    np.testing.assert_allclose(back.x, nu, rtol=1e-14)
    np.testing.assert_array_equal(back.y, ds.y)


def test_at_interpolates_linearly_with_units():
    ds = _line()
    y, u = ds.at(Q(25.0, "degC"))  # 298.15 K
    assert y.m_as("mPa*s") == pytest.approx(2 * 298.15 + 1, rel=1e-13)
    assert u.m_as("mPa*s") == pytest.approx(0.01 * (2 * 298.15 + 1), rel=1e-13)
    ys, _ = ds.at(Q([290.0, 300.0], "K"))
    np.testing.assert_allclose(ys.m, [581.0, 601.0], rtol=1e-14)
    with pytest.raises(DatasetError, match="outside the data range"):
        ds.at(Q(200.0, "K"))
    with pytest.raises(UnitError, match="has no|Quantity"):
        ds.at(300.0)
    with pytest.raises(UnitError, match="cannot be converted"):
        ds.at(Q(3.0, "nm"))


def test_select():
    ds = _line()
    sub = ds.select(Q(300.0, "K"), Q(40.0, "degC"))
    np.testing.assert_allclose(sub.x, [300.0, 310.0], rtol=0)
    assert sub.uncertainty.shape == (2,)
    with pytest.raises(DatasetError, match="no points"):
        ds.select(Q(1000.0, "K"))


def test_constructor_from_quantities():
    ds = Dataset(
        x=Q([1.0, 2.0], "K"),
        y=Q([1.0, 2.0], "Pa*s"),
        uncertainty=Q([10.0, 20.0], "mPa*s"),
        temperature=Q(25.0, "degC"),
        quantity="shear_viscosity",
    )
    np.testing.assert_allclose(ds.uncertainty, [0.01, 0.02])  # converted to y's unit
    assert ds.temperature == pytest.approx(298.15)
    with pytest.raises(UnitError, match="Quantity"):
        Dataset(x=np.array([1.0, 2.0]), y=Q([1.0, 2.0], "Pa*s"))
    with pytest.raises(UnitError, match="temperature=298.15 has no unit"):
        Dataset(x=Q([1.0, 2.0], "K"), y=Q([1.0, 2.0], "Pa*s"), temperature=298.15)
    with pytest.raises(DatasetError, match="strictly ascending; duplicate at index 1"):
        Dataset(x=Q([1.0, 1.0], "K"), y=Q([1.0, 2.0], "Pa*s"))
    with pytest.raises(DatasetError, match="y\\[1\\] = nan"):
        Dataset(x=Q([1.0, 2.0], "K"), y=Q([1.0, np.nan], "Pa*s"))


def test_table_and_labelled_values_are_separate_kinds_of_dataset():
    table = Dataset(x=Q([1.0, 2.0], "K"), y=Q([3.0, 4.0], "mPa*s"))
    values = Dataset(y=Q([165.7, 63.9], "GPa"), labels=["C11", "C12"])
    assert type(table) is Table and type(values) is LabelledValues
    assert isinstance(table, Dataset) and isinstance(values, Dataset)
    assert not table.is_labelled and values.is_labelled
    assert table.labels is None and values.x is None and values.x_unit is None
    # the same kinds from magnitudes, from files and from the registry
    assert type(Dataset.from_arrays([1.0], [2.0], x_unit="K", y_unit="Pa")) is Table
    made = Dataset.from_arrays(None, [2.0], x_unit=None, y_unit="Pa", labels=["p"])
    assert type(made) is LabelledValues
    assert type(load_dataset("silicon_elastic_mcskimin1953")) is LabelledValues
    assert type(load_dataset("water_hale_298K")) is Table
    # each kind built directly, with the same checks
    direct = Table(Q([1.0, 2.0], "K"), Q([3.0, 4.0], "mPa*s"), uncertainty=Q([1.0, 1.0], "uPa*s"))
    np.testing.assert_allclose(direct.uncertainty, [1e-3, 1e-3])
    si = LabelledValues(Q([165.7, 63.9], "GPa"), ("C11", "C12"), quantity="elastic_constants")
    assert si.value("C12")[0].m_as("GPa") == pytest.approx(63.9)
    assert si.to(y_unit="Mbar").labels == ("C11", "C12")
    with pytest.raises(DatasetError, match="duplicate labels"):
        LabelledValues(Q([1.0, 2.0], "GPa"), ("C11", "C11"))
    with pytest.raises(DatasetError, match="labels are only for x=None"):
        Dataset(x=Q([1.0], "K"), y=Q([1.0], "Pa"), labels=["a"])
    with pytest.raises(DatasetError, match="labels must name the y entries"):
        Dataset(y=Q([1.0], "Pa"))
    with pytest.raises(DatasetError, match="Table.from_arrays got arguments of a LabelledValues"):
        Table.from_arrays(None, [2.0], x_unit=None, y_unit="Pa", labels=["p"])
    with pytest.raises(DatasetError, match="files are read as a Table"):
        LabelledValues.from_csv("any.csv", x="T", y="eta", x_unit="K", y_unit="mPa*s")
    # operations of the other kind say what to do instead
    with pytest.raises(DatasetError, match="use at"):
        table.value("C11")
    for call in (values.select, lambda: values.to_csv("x.csv"), lambda: values.to(x_unit="K")):
        with pytest.raises(DatasetError, match="labelled scalars"):
            call()


def test_users_subclass_does_not_change_what_dataset_builds():
    class MyTable(Dataset):
        is_labelled = False

        def to(self, *, x_unit=None, y_unit=None):
            return self

    made = Dataset(x=Q([1.0, 2.0], "K"), y=Q([3.0, 4.0], "mPa*s"))
    assert type(made) is Table and MyTable.is_labelled is False


def test_dataset_modules_import_without_cycles():
    """Every module of spectrinv.datasets imports only downward (no import cycle)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("spectrinv")
    package = "spectrinv.datasets"
    for a in sorted(graph.find_descendants(package)):
        for b in graph.find_modules_directly_imported_by(a):
            if b == package or b.startswith(package + "."):
                assert not graph.chain_exists(importer=b, imported=a), f"{a} <-> {b}"


def test_dataset_is_a_pytree():
    ds = _line()
    total = jax.jit(lambda d: jnp.sum(d.y))(ds)
    assert float(total) == pytest.approx(float(np.sum(np.asarray(ds.y))))
    grad = jax.grad(lambda y: jnp.sum(ds._replace(y=y).y ** 2))(ds.y)
    np.testing.assert_allclose(grad, 2 * np.asarray(ds.y))
    made = jax.jit(lambda y: Dataset.from_arrays(ds.x, y, x_unit="K", y_unit="mPa*s").y)(ds.y)
    np.testing.assert_array_equal(made, ds.y)


# --------------------------------------------------------------------------- CSV files
def _write(tmp_path, text, name="lab.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_from_csv_reads_declared_units(tmp_path):
    p = _write(
        tmp_path,
        "# FTIR export\nwavenumber,absorbance,sd\n1000,0.1,0.01\n1500,0.3,0.01\n2000,0.2,0.02\n",
    )
    ds = Dataset.from_csv(
        p,
        x="wavenumber",
        y="absorbance",
        uncertainty="sd",
        x_unit="1/cm",
        y_unit="dimensionless",
        temperature=Q(298.15, "K"),
    )
    np.testing.assert_array_equal(ds.x, [1000.0, 1500.0, 2000.0])
    np.testing.assert_array_equal(ds.y, [0.1, 0.3, 0.2])
    np.testing.assert_array_equal(ds.uncertainty, [0.01, 0.01, 0.02])
    assert ds.name == "lab" and ds.temperature == 298.15 and ds.x_name == "wavenumber"


def test_from_csv_descending_x_is_reversed(tmp_path):
    p = _write(tmp_path, "nu;A\n3000;1\n2000;2\n1000;3\n")
    ds = Dataset.from_csv(p, x="nu", y="A", x_unit="1/cm", y_unit="dimensionless", delimiter=";")
    np.testing.assert_array_equal(ds.x, [1000.0, 2000.0, 3000.0])
    np.testing.assert_array_equal(ds.y, [3.0, 2.0, 1.0])


def test_to_csv_round_trip(tmp_path):
    ds = _line()
    p = ds.to_csv(tmp_path / "out.csv")
    back = Dataset.from_csv(
        p,
        x=ds.x_name or "x",
        y=ds.y_name,
        uncertainty=f"{ds.y_name}_uncertainty",
        x_unit=ds.x_unit,
        y_unit=ds.y_unit,
    )
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    np.testing.assert_array_equal(back.uncertainty, ds.uncertainty)


KW = dict(x="nu", y="A", x_unit="1/cm", y_unit="dimensionless")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("# only a comment\n\n", "is empty"),
        ("nu,A\n", "no data rows"),
        ("nu,B\n1,2\n", "no column 'A'.*available columns: 'nu', 'B'"),
        ("nu;A\n1;2\n", "separated by ';'.*delimiter=';'"),
        ("nu\tA\n1\t2\n", "separated by a tab"),
        ("nu A\n1 2\n", "whitespace-separated.*delimiter=None"),
        ("1,2\n3,4\n", "line 1 '1,2' is data, not a header"),
        ("nu,A\n1,2\n2,nan\n", "line 3: column 'A' is 'nan'; NaN"),
        ("nu,A\n1,2\n2,\n", "line 3: missing value in column 'A'"),
        ("nu,A\n1,2\n2\n", "line 3: missing value in column 'A'"),
        ("nu,A\n1,2\n2,abc\n", "line 3: column 'A' has 'abc', which is not a number"),
        ("nu,A\n1,2\n3,4\n2,5\n", "line 4: nu = 2 is smaller than the previous row's 3"),
        ("nu,A\n1,2\n1,3\n", "line 3: nu = 1 repeats the previous row's 1"),
        ("nu,A\n1,inf\n2,3\n", "line 2: column 'A' is 'inf'"),
    ],
)
def test_from_csv_bad_input(tmp_path, text, message):
    p = _write(tmp_path, text)
    with pytest.raises(DatasetError, match=message):
        Dataset.from_csv(p, **KW)


def test_from_csv_unit_errors_come_first(tmp_path):
    p = _write(tmp_path, "")  # an empty file: the unit error is reported before reading
    with pytest.raises(UnitError, match="x_unit: unknown unit 'wavenumbers_per_cm'"):
        Dataset.from_csv(p, x="nu", y="A", x_unit="wavenumbers_per_cm", y_unit="dimensionless")
    with pytest.raises(UnitError, match="temperature=300 has no unit"):
        Dataset.from_csv(p, **KW, temperature=300)
    with pytest.raises(FileNotFoundError, match="no such file"):
        Dataset.from_csv(tmp_path / "missing.csv", **KW)


# ------------------------------------------------------------------------- JCAMP-DX files
def test_jcamp_round_trip(tmp_path):
    ds = load_dataset("ir/water_hale_298K")
    path = ds.to_jcamp(tmp_path / "hale.jdx")
    back = Dataset.from_jcamp(path)
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    assert (back.x_unit, back.y_unit) == ("1/cm", "1/cm")
    assert (back.x_name, back.y_name, back.quantity) == ("wavenumber", "n_alpha", "n_alpha")
    assert back.temperature == 298.15 and back.name == "water_hale_298K"


# A hand-written IR file in the (X++(Y..Y)) form with factors: x in micrometres from FIRSTX,
# LASTX, NPOINTS (2.5, 5.0, 7.5, 10.0 um), y = YFACTOR * integers = 0.1, 0.2, 0.3, 0.4.
_JDX = """##TITLE=test absorbance
##JCAMP-DX=4.24
##DATA TYPE=INFRARED SPECTRUM
##XUNITS=MICROMETERS
##YUNITS=ABSORBANCE
##XFACTOR=1.0
##YFACTOR=0.001
##FIRSTX=2.5
##LASTX=10.0
##NPOINTS=4
##FIRSTY=0.1
##XYDATA=(X++(Y..Y))
2.5 100 200
7.5 300 400
##END=
"""


def test_jcamp_hand_written_file_units_and_conversion(tmp_path):
    p = _write(tmp_path, _JDX, "spec.jdx")
    ds = Dataset.from_jcamp(p)
    np.testing.assert_allclose(ds.x, [2.5, 5.0, 7.5, 10.0], rtol=1e-14)
    np.testing.assert_allclose(ds.y, [0.1, 0.2, 0.3, 0.4], rtol=1e-14)
    assert ds.x_unit == "um" and ds.y_unit == "dimensionless" and ds.y_name == "absorbance"
    assert ds.name == "test absorbance"
    nu = Dataset.from_jcamp(p, x_unit="1/cm")  # reciprocal, re-sorted ascending
    np.testing.assert_allclose(nu.x, [1000.0, 1e4 / 7.5, 2000.0, 4000.0], rtol=1e-13)
    np.testing.assert_allclose(nu.y, [0.4, 0.3, 0.2, 0.1], rtol=1e-14)
    with pytest.raises(UnitError, match="MICROMETERS.*'um'.*to 'K'"):
        Dataset.from_jcamp(p, x_unit="K")


def test_jcamp_descending_wavenumbers_are_reversed(tmp_path):
    text = (
        _JDX.replace("MICROMETERS", "1/CM")
        .replace("FIRSTX=2.5", "FIRSTX=4000")
        .replace("LASTX=10.0", "LASTX=1000")
        .replace("2.5 100 200\n7.5 300 400", "4000 100 200\n2000 300 400")
    )
    ds = Dataset.from_jcamp(_write(tmp_path, text, "desc.jdx"))
    np.testing.assert_allclose(ds.x, [1000.0, 2000.0, 3000.0, 4000.0], rtol=1e-14)
    np.testing.assert_allclose(ds.y, [0.4, 0.3, 0.2, 0.1], rtol=1e-14)
    assert ds.x_unit == "1/cm" and ds.x_name == "wavenumber"


def test_jcamp_non_physical_units_need_a_declaration(tmp_path):
    p = _write(tmp_path, _JDX.replace("ABSORBANCE", "ARBITRARY UNITS"), "raman.jdx")
    with pytest.raises(UnitError, match="'ARBITRARY UNITS' is not a physical unit.*y_unit="):
        Dataset.from_jcamp(p)
    ds = Dataset.from_jcamp(p, y_unit="dimensionless")
    np.testing.assert_allclose(ds.y, [0.1, 0.2, 0.3, 0.4], rtol=1e-14)


@pytest.mark.parametrize(
    "text", ["wavenumber,A\n1000,0.1\n", "", "##TITLE=x\n##JCAMP-DX=5.01\n##END=\n"]
)
def test_not_jcamp(tmp_path, text):
    p = _write(tmp_path, text, "bad.jdx")
    with pytest.raises(DatasetError, match="is not a JCAMP-DX file"):
        Dataset.from_jcamp(p)


def test_jcamp_binary_file(tmp_path):
    p = tmp_path / "image.jdx"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DatasetError, match="is not a JCAMP-DX file"):
        Dataset.from_jcamp(p)


# ----------------------------------------------------------------------------- baselines
def _spectrum_with_baseline(baseline):
    x = np.linspace(400.0, 4000.0, 721)
    bump = np.clip(1 - ((x - 2000.0) / 500.0) ** 2, 0, None) ** 2  # exactly 0 outside 1500-2500
    return x, bump, Dataset.from_arrays(x, bump + baseline(x), x_unit="1/cm", y_unit="1/cm")


@pytest.mark.parametrize(
    "anchors",
    [
        (Q(500.0, "1/cm"), Q(3900.0, "1/cm")),
        ((Q(400.0, "1/cm"), Q(800.0, "1/cm")), (Q(3600.0, "1/cm"), Q(4000.0, "1/cm"))),
        (Q(15.0, "THz"), Q(3000.0, "1/cm")),  # 15 THz = 500.3 cm^-1, inside the flat part
    ],
)
def test_linear_baseline_removed_exactly(anchors):
    x, bump, ds = _spectrum_with_baseline(lambda x: 0.3 + 1e-4 * x)
    out = ds.with_baseline(LinearBaseline(*anchors))
    np.testing.assert_allclose(out.y, bump, rtol=0, atol=1e-12)
    assert "LinearBaseline" in out.metadata["baseline"]


def test_polynomial_baseline_removed_exactly():
    x, bump, ds = _spectrum_with_baseline(lambda x: 0.2 - 3e-4 * x + 1e-7 * x**2)
    regions = [
        (Q(400.0, "1/cm"), Q(700.0, "1/cm")),
        (Q(1000.0, "1/cm"), Q(1300.0, "1/cm")),
        (Q(3000.0, "1/cm"), Q(3300.0, "1/cm")),
        Q(4000.0, "1/cm"),
    ]
    # Region means of a quadratic are not its value at the mean x, so use point anchors for
    # the exactness check and regions only for a smoke test.
    points = [Q(v, "1/cm") for v in (500.0, 1200.0, 3000.0, 3900.0)]
    out = ds.with_baseline(PolynomialBaseline(points, degree=2))
    np.testing.assert_allclose(out.y, bump, rtol=0, atol=1e-10)
    assert np.all(np.isfinite(ds.with_baseline(PolynomialBaseline(regions, 2)).y))
    with pytest.raises(ValueError, match="needs at least 3 anchors"):
        PolynomialBaseline(points[:2], degree=2)


def test_no_baseline_and_bad_anchors():
    _, _, ds = _spectrum_with_baseline(lambda x: 0 * x)
    np.testing.assert_array_equal(ds.with_baseline(NoBaseline()).y, ds.y)
    with pytest.raises(DatasetError, match="outside the data range"):
        ds.with_baseline(LinearBaseline(Q(100.0, "1/cm"), Q(3000.0, "1/cm")))
    with pytest.raises(UnitError, match="needs a unit"):
        ds.with_baseline(LinearBaseline(500.0, 3000.0))
    with pytest.raises(UnitError, match="cannot be converted"):
        ds.with_baseline(LinearBaseline(Q(500.0, "K"), Q(3000.0, "K")))
    with pytest.raises(DatasetError, match="no data points in the anchor region"):
        ds.with_baseline(LinearBaseline((Q(401.0, "1/cm"), Q(402.0, "1/cm")), Q(3000, "1/cm")))
    with pytest.raises(TypeError, match="baseline object"):
        ds.with_baseline("linear")


def test_metadata_is_read_only_copy():
    ds = load_dataset("ir/water_hale_298K")
    m = ds.metadata
    m["source"]["citation"] = "changed"
    assert ds.metadata["source"]["citation"] != "changed"
    assert dataset_metadata("water_hale_298K")["source"]["doi"] == "10.1364/AO.12.000555"
