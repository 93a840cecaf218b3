"""The transcribed datasets (data/solids, data/structure): the numbers match their recorded
citations, the metadata says whether they were verified, and data/scripts/make_transcribed.py
(NumPy/SciPy only) reproduces the shipped files byte for byte."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

from spectrinv.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
NAMES = [
    "solids/silicon_elastic_mcskimin1953",
    "solids/diamond_elastic_mcskimin1972",
    "structure/water_goo_first_peak_skinner2013",
    "solids/silicon_phonons_nilsson1972",
]


@pytest.mark.parametrize(
    "name, label, value, unit",
    [
        # Si, room temperature (McSkimin 1953, as commonly quoted): 1.657, 0.639, 0.796 Mbar
        ("solids/silicon_elastic_mcskimin1953", "C11", 1.657, "Mbar"),
        ("solids/silicon_elastic_mcskimin1953", "C12", 0.639, "Mbar"),
        ("solids/silicon_elastic_mcskimin1953", "C44", 0.796, "Mbar"),
        # diamond (McSkimin & Andreatch 1972): 10.79, 1.24, 5.78 x 1e12 dyn/cm^2
        ("solids/diamond_elastic_mcskimin1972", "C11", 10.79e12, "dyn/cm^2"),
        ("solids/diamond_elastic_mcskimin1972", "C12", 1.24e12, "dyn/cm^2"),
        ("solids/diamond_elastic_mcskimin1972", "C44", 5.78e12, "dyn/cm^2"),
        # densities: Si 2.329 g/cm^3, diamond 3.515 g/cm^3
        ("solids/silicon_elastic_mcskimin1953", "density", 2.329, "g/cm^3"),
        ("solids/diamond_elastic_mcskimin1972", "density", 3.515, "g/cm^3"),
        # water g_OO first maximum (Skinner et al. 2013 abstract): 2.80(1) A, 2.57(5)
        ("structure/water_goo_first_peak_skinner2013", "r_max", 0.280, "nm"),
        ("structure/water_goo_first_peak_skinner2013", "g_max", 2.57, "dimensionless"),
        # Si phonons (Nilsson & Nelin 1972, as commonly quoted), THz
        ("solids/silicon_phonons_nilsson1972", "Gamma_LTO", 15.53, "THz"),
        ("solids/silicon_phonons_nilsson1972", "X_TA", 4.49, "THz"),
        ("solids/silicon_phonons_nilsson1972", "X_LA", 12.32, "THz"),
        ("solids/silicon_phonons_nilsson1972", "X_TO", 13.90, "THz"),
        ("solids/silicon_phonons_nilsson1972", "L_TA", 3.43, "THz"),
        ("solids/silicon_phonons_nilsson1972", "L_LA", 11.35, "THz"),
        ("solids/silicon_phonons_nilsson1972", "L_LO", 12.60, "THz"),
        ("solids/silicon_phonons_nilsson1972", "L_TO", 14.68, "THz"),
    ],
)
def test_transcribed_values(name, label, value, unit):
    q, _ = load_dataset(name, y=label).value(label)
    assert q.m_as(unit) == pytest.approx(value, rel=2e-4)


def test_skinner_uncertainties():
    ds = load_dataset("structure/water_goo_first_peak_skinner2013", y=["r_max"])
    assert ds.value("r_max")[1].m_as("angstrom") == pytest.approx(0.01)
    g = load_dataset("structure/water_goo_first_peak_skinner2013", y="g_max")
    assert g.value("g_max")[1].m == pytest.approx(0.05)


def test_born_stability_of_cubic_constants():
    """C11 - C12 > 0, C11 + 2 C12 > 0, C44 > 0 (mechanical stability of a cubic crystal)."""
    for name in NAMES[:2]:
        ds = load_dataset(name)
        c11, c12, c44 = (ds.value(k)[0].m for k in ("C11", "C12", "C44"))
        assert c11 - c12 > 0 and c11 + 2 * c12 > 0 and c44 > 0


def test_silicon_phonon_branches_are_ordered():
    """TA < LA < TO at X, TA < LA < LO < TO at L, all below the zone-centre optical mode."""
    ds = load_dataset("solids/silicon_phonons_nilsson1972")
    nu = {k: ds.value(k)[0].m_as("THz") for k in ds.labels}
    assert nu["X_TA"] < nu["X_LA"] < nu["X_TO"] < nu["Gamma_LTO"]
    assert nu["L_TA"] < nu["L_LA"] < nu["L_LO"] < nu["L_TO"] < nu["Gamma_LTO"]


@pytest.mark.parametrize("name", NAMES)
def test_transcription_is_labelled(name):
    meta = load_dataset(name).metadata
    assert meta["generation"]["kind"] == "transcribed"
    assert "verified" in meta["source"] and meta["source"]["verified"]
    assert meta["source"]["doi"].startswith("10.")


def test_regenerates_byte_identical(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_transcribed", DATA / "scripts" / "make_transcribed.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    date = tomllib.loads((DATA / f"{NAMES[0]}.toml").read_text())["generation"]["date"]
    module.generate(tmp_path, date=date)
    for name in NAMES:
        for suffix in (".csv", ".toml"):
            fresh = (tmp_path / f"{name}{suffix}").read_bytes()
            assert fresh == (DATA / f"{name}{suffix}").read_bytes(), (
                f"data/{name}{suffix} differs from a fresh run of make_transcribed.py: edit the "
                "script (the record of the transcription), not the data file, then rerun it"
            )
