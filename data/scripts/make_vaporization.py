"""Generate the bundled vapour-liquid equilibrium tables of argon and water with CoolProp (MIT).

Nothing is downloaded: CoolProp evaluates the reference equations of state locally, and the
citations are read from the BibTeX library shipped inside the CoolProp wheel (through
``make_coolprop._citation``).

- ``fluids/argon_vaporization``: argon along saturation, T = 84 ... 100 K every 1 K.
- ``fluids/water_vaporization``: water along saturation, T = 275, 285, 295, 298.15, 305, ...,
  365 K.

Columns: temperature (K), vapour pressure (kPa), saturated liquid and vapour densities
(kg/m^3), and the molar enthalpy of vaporisation dH_vap = H_m(vapour) - H_m(liquid) (kJ/mol)
at the same temperature (Tegeler, Span & Wagner 1999 for argon; IAPWS-95, Wagner & Pruss
2002, for water).

Run from the repository root::

    python data/scripts/make_vaporization.py                 # writes data/fluids/
    python data/scripts/make_vaporization.py --out-dir /tmp/x --date 2026-12-04

Deterministic given the CoolProp version and the recorded date (``--date``, else
``SOURCE_DATE_EPOCH``, else today, UTC). ``tests/test_datasets_thermo.py`` regenerates with
the shipped date and compares bytes. Before writing, the script checks CoolProp against the
literature values in ``CHECKS`` and stops if they disagree.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datagen import default_date, write_pair  # noqa: E402
from make_coolprop import _LICENSE, _citation  # noqa: E402

SCRIPT = "data/scripts/make_vaporization.py"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "fluids"

ARGON_T = [float(t) for t in range(84, 101)]
WATER_T = [275.0, 285.0, 295.0, 298.15, 305.0, 315.0, 325.0, 335.0, 345.0, 355.0, 365.0]

#: Literature values CoolProp must reproduce: (label, function of CP, value, rel. tolerance).
#: Water at 25 degC: p_sat = 3.1699 kPa and dH_vap = 2441.7 kJ/kg = 43.99 kJ/mol (IAPWS-95
#: steam tables); argon: normal boiling point 87.30 K (vapour pressure 101.325 kPa) and
#: dH_vap = 6.43 kJ/mol there (CRC Handbook of Chemistry and Physics).
CHECKS = [
    ("water p_sat(298.15 K) / Pa", lambda CP: CP.PropsSI("P", "T", 298.15, "Q", 0, "Water"),
     3169.9, 2e-4),
    ("water dH_vap(298.15 K) / (J/kg)", lambda CP: _dh(CP, "Water", 298.15)
     / CP.PropsSI("M", "Water"), 2441.7e3, 2e-4),
    ("argon T_b(101.325 kPa) / K", lambda CP: CP.PropsSI("T", "P", 101325.0, "Q", 0, "Argon"),
     87.30, 2e-4),
    ("argon dH_vap(87.30 K) / (J/mol)", lambda CP: _dh(CP, "Argon", 87.30), 6.43e3, 2e-3),
]  # fmt: skip


def _dh(CP, fluid: str, t: float) -> float:
    """Molar enthalpy of vaporisation at `t` (J/mol)."""
    return CP.PropsSI("Hmolar", "T", t, "Q", 1, fluid) - CP.PropsSI("Hmolar", "T", t, "Q", 0, fluid)


def _check(CP) -> list[str]:
    done = []
    for label, fn, ref, rtol in CHECKS:
        got = fn(CP)
        if abs(got / ref - 1) > rtol:
            raise RuntimeError(
                f"CoolProp {label} = {got:.6g}, literature {ref:.6g} (tolerance {rtol:g}): "
                "refusing to write"
            )
        done.append(f"{label} = {ref:g} within {rtol:g}")
    return done


def _columns(CP, fluid: str, temperatures: list[float]) -> dict[str, list[float]]:
    cols = {
        "temperature": [],
        "saturation_pressure": [],
        "density": [],
        "vapour_density": [],
        "enthalpy_of_vaporization": [],
    }
    for t in temperatures:
        cols["temperature"].append(t)
        cols["saturation_pressure"].append(CP.PropsSI("P", "T", t, "Q", 0, fluid) / 1e3)
        cols["density"].append(CP.PropsSI("D", "T", t, "Q", 0, fluid))
        cols["vapour_density"].append(CP.PropsSI("D", "T", t, "Q", 1, fluid))
        cols["enthalpy_of_vaporization"].append(_dh(CP, fluid, t) / 1e3)
    return cols


_COLUMNS = {
    "temperature": "K",
    "saturation_pressure": "kPa",
    "density": "kg/m^3",
    "vapour_density": "kg/m^3",
    "enthalpy_of_vaporization": "kJ/mol",
}
_QUANTITIES = {
    "saturation_pressure": "pressure",
    "density": "density",
    "vapour_density": "density",
    "enthalpy_of_vaporization": "enthalpy_of_vaporization",
}


def _meta(CP, fluid: str, stem: str, cols: dict, date: str, checks: list[str]) -> dict:
    eos = _citation(CP.get_fluid_param_string(fluid, "BibTeX-EOS"))
    temps = cols["temperature"]
    material = {"Argon": "argon, Ar (CAS 7440-37-1)", "Water": "water, H2O (CAS 7732-18-5)"}
    return {
        "name": stem,
        "title": f"{fluid} along vapour-liquid saturation, {temps[0]:g}-{temps[-1]:g} K: vapour "
        "pressure, liquid and vapour density, enthalpy of vaporisation (reference EOS via "
        "CoolProp)",
        "quantity": "enthalpy_of_vaporization",
        "description": f"saturated {fluid.lower()}: p_sat, rho_liq, rho_vap, dH_vap vs T",
        "material": material[fluid],
        "x": "temperature",
        "y": "enthalpy_of_vaporization",
        "n_points": len(temps),
        "conditions": f"{temps[0]:g}-{temps[-1]:g} K along the saturation line",
        "temperature": "varies (column temperature)",
        "pressure": "saturation (column saturation_pressure)",
        "molar_mass": CP.PropsSI("M", fluid) * 1e3,
        "molar_mass_unit": "g/mol",
        "columns": dict(_COLUMNS),
        "column_quantities": dict(_QUANTITIES),
        "column_descriptions": {
            "temperature": "temperature, ITS-90",
            "saturation_pressure": "vapour pressure (phase equilibrium of the EOS)",
            "density": "saturated liquid density",
            "vapour_density": "saturated vapour density",
            "enthalpy_of_vaporization": "H_m(saturated vapour) - H_m(saturated liquid) at the "
            "same T (molar, per mole of molecules)",
        },
        "uncertainty": {
            "value": "not given per point (see note)",
            "note": (
                "The reference equation of state has state-dependent uncertainties stated in "
                "its paper (for argon, Tegeler et al. quote less than 0.02 % in density for "
                "p <= 12 MPa, T <= 340 K, outside the critical region); the uncertainties of "
                "the vapour pressure and of the enthalpy of vaporisation were not checked here "
                "and no per-point uncertainty is shipped. For a chi^2 loss choose one "
                "explicitly (relative_uncertainty), a choice rather than a source value; "
                "simulation errors of dH_vap are typically far larger than the EOS's."
            ),
        },
        "source": {
            "citation": eos["citation"],
            "doi": eos["doi"],
            "bibtex_keys": [eos["key"]],
            "method": "Saturation states of the Helmholtz-energy reference EOS (PropsSI with "
            "quality Q = 0 and Q = 1) as implemented in CoolProp; dH_vap from the molar "
            "enthalpies 'Hmolar' of the two coexisting phases.",
        },
        "license": _LICENSE,
        "generation": {
            "script": SCRIPT,
            "command": f"python {SCRIPT}",
            "package": "CoolProp",
            "package_version": importlib.metadata.version("CoolProp"),
            "package_gitrevision": CP.get_global_param_string("gitrevision"),
            "date": date,
            "checks": checks,
        },
    }


def generate(out_dir: str | Path, *, date: str | None = None) -> dict[str, tuple[Path, Path]]:
    """Write both tables into `out_dir` (created). Returns {stem: (csv, toml)}."""
    import CoolProp.CoolProp as CP

    date = default_date(date)
    checks = _check(CP)
    out = {}
    for fluid, stem, temps in (
        ("Argon", "argon_vaporization", ARGON_T),
        ("Water", "water_vaporization", WATER_T),
    ):
        cols = _columns(CP, fluid, temps)
        meta = _meta(CP, fluid, stem, cols, date, checks)
        out[stem] = write_pair(Path(out_dir), stem, cols, meta)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument("--date", help="generation date to record (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    for stem, (csv, _) in generate(args.out_dir, date=args.date).items():
        print(f"{stem}: {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
