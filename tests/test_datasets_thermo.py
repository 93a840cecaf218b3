"""The bundled thermodynamic tables (vapour-liquid equilibrium of argon and water, water's
static permittivity): literature values, physical consistency, byte-identical regeneration.

Regeneration needs CoolProp (pinned in the `test` extra) and chempy (the `datagen` extra; that
test is marked `datagen`). A missing package is a failure, never a skip.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import numpy as np
import pytest

from observables import Quantity
from spectrinv.datasets import load_dataset

R = 8.314462618e-3  # kJ/(mol K), CODATA
REPO = Path(__file__).resolve().parents[1]
FLUIDS = REPO / "data" / "fluids"


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(
            f"{module} is not installed, so the shipped data/fluids files cannot be "
            f"regenerated; install the '{extra}' extra (pip install '.[{extra}]')"
        )


def _regenerates(tmp_path, script: str, stems: list[str]) -> None:
    """Run data/scripts/`script`.py into `tmp_path` with the shipped date; compare bytes."""
    meta = tomllib.loads((FLUIDS / f"{stems[0]}.toml").read_text())
    spec = importlib.util.spec_from_file_location(
        script, REPO / "data" / "scripts" / f"{script}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(tmp_path, date=meta["generation"]["date"])
    for stem in stems:
        for suffix in (".csv", ".toml"):
            assert (tmp_path / f"{stem}{suffix}").read_bytes() == (
                FLUIDS / f"{stem}{suffix}"
            ).read_bytes(), (
                f"data/fluids/{stem}{suffix} differs from a fresh run of {script}.py; if that is "
                f"intended, rerun 'python data/scripts/{script}.py' and review the diff"
            )


def test_water_vaporization_at_25C():
    """IAPWS-95 at 25 degC: p_sat = 3.1699 kPa, rho_liq = 997.00 kg/m^3 (saturation, not
    1 atm), dH_vap = 2441.7 kJ/kg x 18.015 g/mol = 43.99 kJ/mol (steam tables)."""
    t = Quantity(298.15, "K")
    dh = load_dataset("fluids/water_vaporization")
    assert dh.quantity == "enthalpy_of_vaporization"
    assert dh.at(t)[0].m_as("kJ/mol") == pytest.approx(43.99, abs=0.01)
    assert dh.at(t)[0].m_as("J/mol") / 18.015268 == pytest.approx(2441.7, abs=0.5)  # J/g
    p = load_dataset("fluids/water_vaporization", y="saturation_pressure")
    assert p.at(t)[0].m_as("kPa") == pytest.approx(3.1699, abs=2e-4)
    rho = load_dataset("fluids/water_vaporization", y="density")
    assert rho.at(t)[0].m_as("kg/m^3") == pytest.approx(997.00, abs=0.01)


def test_argon_vaporization_and_clausius_clapeyron():
    """Argon: p_sat crosses 101.325 kPa between 87 and 88 K (normal boiling point 87.30 K),
    dH_vap = 6.43 kJ/mol near it; and the table obeys Clapeyron's equation
    dp/dT = dH_vap / (T (v_vap - v_liq)) to 0.3 % (finite differences over 1 K)."""
    ds = {
        y: load_dataset("fluids/argon_vaporization", y=y)
        for y in ("saturation_pressure", "density", "vapour_density", "enthalpy_of_vaporization")
    }
    p = ds["saturation_pressure"]
    assert p.at(Quantity(87, "K"))[0].m_as("kPa") < 101.325 < p.at(Quantity(88, "K"))[0].m_as("kPa")
    assert ds["enthalpy_of_vaporization"].at(Quantity(87.3, "K"))[0].m_as("kJ/mol") == (
        pytest.approx(6.43, abs=0.01)
    )
    t = np.asarray(p.x)
    pk = np.asarray(p.y) * 1e3  # Pa
    molar_mass = 39.948e-3  # kg/mol
    dv = molar_mass / np.asarray(ds["vapour_density"].y) - molar_mass / np.asarray(ds["density"].y)
    dh = np.asarray(ds["enthalpy_of_vaporization"].y) * 1e3  # J/mol
    tm = 0.5 * (t[1:] + t[:-1])
    slope = np.diff(pk) / np.diff(t)
    clapeyron = np.interp(tm, t, dh / (t * dv))
    np.testing.assert_allclose(slope, clapeyron, rtol=3e-3)
    # the vapour is nearly ideal: p v_vap / RT within 10 % of 1 at these low pressures
    z = pk * molar_mass / np.asarray(ds["vapour_density"].y) / (R * 1e3 * t)
    assert np.all((z > 0.85) & (z < 1.0))


def test_water_permittivity():
    """Bradley & Pitzer correlation: 78.38 at 25 degC (IAPWS: 78.41), falling with T."""
    ds = load_dataset("fluids/water_permittivity_bradley_pitzer1979")
    assert ds.y_unit == "dimensionless" and ds.quantity == "dielectric_constant"
    assert ds.at(Quantity(25.0, "degC"))[0].m == pytest.approx(78.41, abs=0.05)
    assert np.all(np.diff(np.asarray(ds.y)) < 0)
    # the correlation's own formula, evaluated here from the recorded parameters
    u = ds.metadata["correlation"]["U"]
    t, p = np.asarray(ds.x), 1.01325
    c, b = u[3] + u[4] / (u[5] + t), u[6] + u[7] / t + u[8] * t
    expected = u[0] * np.exp(u[1] * t + u[2] * t**2) + c * np.log((b + p) / (b + 1000.0))
    np.testing.assert_allclose(np.asarray(ds.y), expected, rtol=1e-9)


def test_vaporization_tables_regenerate_byte_identical(tmp_path):
    _require("CoolProp", "test")
    _regenerates(tmp_path, "make_vaporization", ["argon_vaporization", "water_vaporization"])


@pytest.mark.datagen
def test_water_permittivity_regenerates_byte_identical(tmp_path):
    _require("chempy", "datagen")
    _regenerates(tmp_path, "make_water_permittivity", ["water_permittivity_bradley_pitzer1979"])
