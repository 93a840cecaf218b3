"""The bundled fluid-property tables (data/fluids/): literature spot values, physical trends,
internal consistency, and byte-identical regeneration by their scripts.

Regeneration needs the generating packages: CoolProp (pinned in the `test` extra) and chempy
(the heavier `datagen` extra, which pulls in Jupyter). The chempy test is marked `datagen` and
deselected by the README test command; run it with `pip install '.[datagen]'` and
`pytest -m datagen`. A missing package is a failure, never a skip.
"""

from __future__ import annotations

import importlib.util
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from observables import Quantity
from spectrinv.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]
FLUIDS = REPO / "data" / "fluids"


def _require(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is not None:
        return
    message = (
        f"{module} is not installed, so the shipped data/fluids files cannot be regenerated; "
        f"install the '{extra}' extra (pip install '.[{extra}]')"
    )
    pytest.fail(message)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "data" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _regenerates(tmp_path, script: str, stems: list[str]) -> None:
    meta = tomllib.loads((FLUIDS / f"{stems[0]}.toml").read_text())
    _script(script).generate(tmp_path, date=meta["generation"]["date"])
    for stem in stems:
        for suffix in (".csv", ".toml"):
            fresh = (tmp_path / f"{stem}{suffix}").read_bytes()
            shipped = (FLUIDS / f"{stem}{suffix}").read_bytes()
            assert fresh == shipped, (
                f"data/fluids/{stem}{suffix} differs from a fresh run of {script}.py (shipped "
                f"with {meta['generation']['package']} {meta['generation']['package_version']}); "
                f"if that is intended, rerun 'python data/scripts/{script}.py' and review the diff"
            )


# ------------------------------------------------------------------ water (IAPWS, CoolProp)
def test_water_iapws_check_values_at_298K():
    """IAPWS values for liquid water at 298.15 K, ~0.1 MPa: eta = 890.0 uPa s (IAPWS 2008),
    lambda = 0.6065 W/(m K) (IAPWS 2011), rho = 997.05 kg/m^3 (IAPWS-95)."""
    t = Quantity(298.15, "K")
    eta = load_dataset("fluids/water_iapws_1atm")
    assert eta.at(t)[0].m_as("uPa*s") == pytest.approx(890.0, abs=0.05)
    lam = load_dataset("fluids/water_iapws_1atm", y="thermal_conductivity")
    assert lam.at(t)[0].m_as("W/(m*K)") == pytest.approx(0.6065, abs=1e-4)
    rho = load_dataset("fluids/water_iapws_1atm", y="density")
    assert rho.at(t)[0].m_as("kg/m^3") == pytest.approx(997.05, abs=0.01)
    assert eta.pressure == 101325.0


def test_water_trends():
    eta = np.asarray(load_dataset("fluids/water_iapws_1atm").y)
    lam = np.asarray(load_dataset("fluids/water_iapws_1atm", y="thermal_conductivity").y)
    rho = np.asarray(load_dataset("fluids/water_iapws_1atm", y="density").y)
    assert np.all(np.diff(eta) < 0)  # viscosity falls with T
    assert np.all(np.diff(lam) > 0)  # conductivity rises up to ~400 K
    assert np.all(np.diff(rho[1:]) < 0) and rho[0] < 1000.0  # density maximum near 277 K


# ------------------------------------------------------------------- argon (CoolProp)
def test_argon_literature_values_at_85K():
    """Saturated liquid argon at 85 K: rho = 1409.5 kg/m^3 (Tegeler et al. 1999),
    eta = 279.5 uPa s, lambda = 131.9 mW/(m K) (Lemmon & Jacobsen 2004)."""
    t = Quantity(85.0, "K")
    assert load_dataset("fluids/argon_saturated_liquid", y="density").at(t)[0].m == (
        pytest.approx(1409.5, abs=0.1)
    )
    assert load_dataset("fluids/argon_saturated_liquid").at(t)[0].m_as("uPa*s") == (
        pytest.approx(279.5, abs=0.1)
    )
    lam = load_dataset("fluids/argon_saturated_liquid", y="thermal_conductivity")
    assert lam.at(t)[0].m_as("mW/(m*K)") == pytest.approx(131.9, abs=0.1)
    # Normal boiling point of argon 87.30 K: the vapour pressure crosses 101.325 kPa there.
    p = load_dataset("fluids/argon_saturated_liquid", y="saturation_pressure")
    assert (
        p.at(Quantity(87.0, "K"))[0].m_as("kPa")
        < 101.325
        < p.at(Quantity(88.0, "K"))[0].m_as("kPa")
    )
    assert np.all(np.diff(np.asarray(p.y)) > 0)
    assert np.all(np.diff(np.asarray(load_dataset("argon_saturated_liquid").y)) < 0)


# --------------------------------------------------------------- water self-diffusion
def test_water_self_diffusion_25C_and_fit_consistency():
    """D(25 degC) = 2.30e-9 m^2/s (Mills 1973; Holz et al. 2000), and every row equals the
    recorded power law D0 (T/Ts - 1)^gamma evaluated independently here."""
    ds = load_dataset("fluids/water_self_diffusion_holz2000")
    assert ds.at(Quantity(25.0, "degC"))[0].m_as("m^2/s") == pytest.approx(2.30e-9, abs=0.005e-9)
    fit = ds.metadata["fit"]
    t = np.asarray(ds.x)
    expected = fit["D0"] * (t / fit["Ts"] - 1.0) ** fit["gamma"]
    np.testing.assert_allclose(np.asarray(ds.y), expected, rtol=1e-9)
    assert np.all(np.diff(np.asarray(ds.y)) > 0)
    assert t[0] == 273.15 and t[-1] == 373.15
    assert math.isclose(fit["valid_range_K"][0], 273.15)


# ------------------------------------------------------------------------- regeneration
def test_coolprop_tables_regenerate_byte_identical(tmp_path):
    _require("CoolProp", "test")
    _regenerates(tmp_path, "make_coolprop", ["water_iapws_1atm", "argon_saturated_liquid"])


@pytest.mark.datagen
def test_water_diffusion_regenerates_byte_identical(tmp_path):
    _require("chempy", "datagen")
    _regenerates(tmp_path, "make_water_diffusion", ["water_self_diffusion_holz2000"])
