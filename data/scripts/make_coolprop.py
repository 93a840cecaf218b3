"""Generate the bundled water and liquid-argon property tables with CoolProp (MIT).

Nothing is downloaded: CoolProp evaluates published reference correlations locally, and the
citations are read from the BibTeX library shipped inside the CoolProp wheel.

- ``fluids/water_iapws_1atm``: liquid H2O at 0.101325 MPa, T = 275, 285, 295, 298.15,
  305, ..., 365 K: density (IAPWS-95, Wagner & Pruss 2002), shear viscosity (IAPWS 2008,
  Huber et al. 2009), thermal conductivity (IAPWS 2011, Huber et al. 2012).
- ``fluids/argon_saturated_liquid``: saturated liquid argon, T = 84 ... 100 K every 1 K:
  vapour pressure and density (Tegeler, Span & Wagner 1999), shear viscosity and thermal
  conductivity (Lemmon & Jacobsen 2004).

Run from the repository root::

    python data/scripts/make_coolprop.py                 # writes data/fluids/
    python data/scripts/make_coolprop.py --out-dir /tmp/x --date 2026-11-21

The output is a deterministic function of the CoolProp version (10 significant digits are
written) and of the recorded date (``--date``, else ``SOURCE_DATE_EPOCH``, else today, UTC).
``tests/test_datasets_fluids.py`` regenerates with the shipped date and compares bytes.
Before writing, the script checks CoolProp against the literature spot values quoted in
``CHECKS`` and stops if they disagree.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datagen import default_date, write_pair  # noqa: E402

SCRIPT = "data/scripts/make_coolprop.py"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "fluids"

#: Water temperatures (K) at 0.101325 MPa: every 10 K from 275 to 365 K, plus 298.15 K.
WATER_T = [275.0, 285.0, 295.0, 298.15, 305.0, 315.0, 325.0, 335.0, 345.0, 355.0, 365.0]
WATER_P = 101325.0  # Pa
#: Argon temperatures (K) along the saturated liquid line (triple point 83.8058 K).
ARGON_T = [float(t) for t in range(84, 101)]

#: Literature spot values CoolProp must reproduce (property, fluid, inputs, value, rel. tol).
CHECKS = [
    # IAPWS releases' check values are at 0.1 MPa; 298.15 K: 890.0 uPa s and 0.6065 W/(m K)
    ("V", "Water", ("T", 298.15, "P", 0.1e6), 890.0e-6, 1e-4),
    ("L", "Water", ("T", 298.15, "P", 0.1e6), 0.6065, 2e-4),
    ("D", "Water", ("T", 298.15, "P", 0.1e6), 997.047, 1e-5),
    ("D", "Argon", ("T", 85.0, "Q", 0), 1409.5, 1e-4),
    ("V", "Argon", ("T", 85.0, "Q", 0), 279.5e-6, 2e-4),
    ("L", "Argon", ("T", 85.0, "Q", 0), 131.9e-3, 4e-4),
]

_LICENSE = {
    "name": "MIT",
    "url": "https://opensource.org/license/mit",
    "note": (
        "The values were computed by this repository's script with CoolProp (MIT License, "
        "https://github.com/CoolProp/CoolProp) from published correlations (cited in "
        "[source]); the numbers are physical property values, and the table is distributed "
        "with spectrinv under its MIT license. No data file of another project is copied."
    ),
}


def _bibtex() -> str:
    return (importlib.resources.files("CoolProp") / "CoolPropBibTeXLibrary.bib").read_text(
        encoding="utf-8"
    )


def _citation(key: str) -> dict:
    """Citation text and DOI of a CoolProp BibTeX key (from the bundled .bib file)."""
    bib = _bibtex()
    m = re.search(r"@\w+\{" + re.escape(key) + r",(.*?)\n\}", bib, flags=re.S)
    if m is None:
        raise RuntimeError(f"BibTeX key {key!r} not in CoolProp's library")
    fields = dict(
        (k.lower(), re.sub(r"[{}]", "", v).strip())
        for k, v in re.findall(r"(\w+)\s*=\s*\{(.*?)\},?\s*\n", m.group(1) + "\n", flags=re.S)
    )
    authors = fields.get("author", "").replace("\\ss", "ss").replace("\\v s", "s")
    authors = re.sub(r"\\.", "", authors).replace(" and ", ", ")
    text = (
        f"{authors}, '{fields.get('title', '')}', {fields.get('journal', '')} "
        f"{fields.get('volume', '')}, {fields.get('pages', '')} ({fields.get('year', '')})."
    )
    return {"key": key, "citation": re.sub(r"\s+", " ", text), "doi": fields.get("doi", "")}


def _check(CP) -> None:
    for prop, fluid, inputs, ref, rtol in CHECKS:
        got = CP.PropsSI(prop, *inputs, fluid)
        if abs(got / ref - 1) > rtol:
            raise RuntimeError(
                f"CoolProp {prop} of {fluid} at {inputs} = {got:.6g}, literature {ref:.6g} "
                f"(tolerance {rtol:g}): refusing to write"
            )


def _generation(CP, date: str) -> dict:
    return {
        "script": SCRIPT,
        "command": f"python {SCRIPT}",
        "package": "CoolProp",
        "package_version": importlib.metadata.version("CoolProp"),
        "package_gitrevision": CP.get_global_param_string("gitrevision"),
        "date": date,
        "checks": [
            f"{prop}({fluid}; {', '.join(str(x) for x in inputs)}) = {ref:g} SI within {rtol:g}"
            for prop, fluid, inputs, ref, rtol in CHECKS
        ],
    }


def water(CP, date: str) -> tuple[dict, dict]:
    cols = {"temperature": [], "density": [], "shear_viscosity": [], "thermal_conductivity": []}
    for t in WATER_T:
        if CP.PhaseSI("T", t, "P", WATER_P, "Water") != "liquid":
            raise RuntimeError(f"water at {t} K, {WATER_P} Pa is not liquid in CoolProp")
        cols["temperature"].append(t)
        cols["density"].append(CP.PropsSI("D", "T", t, "P", WATER_P, "Water"))
        cols["shear_viscosity"].append(CP.PropsSI("V", "T", t, "P", WATER_P, "Water") * 1e3)
        cols["thermal_conductivity"].append(CP.PropsSI("L", "T", t, "P", WATER_P, "Water"))
    eos = _citation(CP.get_fluid_param_string("Water", "BibTeX-EOS"))
    vis = _citation(CP.get_fluid_param_string("Water", "BibTeX-VISCOSITY"))
    con = _citation(CP.get_fluid_param_string("Water", "BibTeX-CONDUCTIVITY"))
    i25 = WATER_T.index(298.15)
    meta = {
        "name": "water_iapws_1atm",
        "title": "Liquid water density, shear viscosity, thermal conductivity, 275-365 K, "
        "0.101325 MPa (IAPWS formulations via CoolProp)",
        "quantity": "shear_viscosity",
        "description": "liquid H2O rho, eta, lambda vs T at 1 atm (IAPWS-95/2008/2011)",
        "material": "liquid water, H2O (CAS 7732-18-5)",
        "x": "temperature",
        "y": "shear_viscosity",
        "n_points": len(WATER_T),
        "conditions": f"{WATER_T[0]:g}-{WATER_T[-1]:g} K, 0.101325 MPa",
        "temperature": "varies (column temperature)",
        "pressure": WATER_P,
        "pressure_unit": "Pa",
        "values_at_298_15K": {
            "density": round(cols["density"][i25], 4),
            "shear_viscosity": round(cols["shear_viscosity"][i25], 6),
            "thermal_conductivity": round(cols["thermal_conductivity"][i25], 6),
        },
        "columns": {
            "temperature": "K",
            "density": "kg/m^3",
            "shear_viscosity": "mPa*s",
            "thermal_conductivity": "W/(m*K)",
        },
        "column_quantities": {
            "density": "density",
            "shear_viscosity": "shear_viscosity",
            "thermal_conductivity": "thermal_conductivity",
        },
        "column_descriptions": {
            "temperature": "temperature, ITS-90",
            "density": "mass density from IAPWS-95 at (T, p)",
            "shear_viscosity": "shear viscosity, IAPWS 2008 formulation (critical enhancement "
            "included as implemented in CoolProp; negligible here)",
            "thermal_conductivity": "thermal conductivity, IAPWS 2011 formulation",
        },
        "uncertainty": {
            "value": "not given per point (see note)",
            "note": (
                "The formulations are correlations of evaluated experimental data with "
                "state-dependent uncertainties. Abstracts: viscosity 'uncertainties from less "
                "than 1 % to 7 % depending on the state point' (Huber et al. 2009); thermal "
                "conductivity 'from less than 1% to 6%, depending on the state point' (Huber et "
                "al. 2012); for liquid water at 0.1 MPa the lowest values apply (the papers' "
                "uncertainty figures were not checked here). The IAPWS-95 density uncertainty "
                "in this region is much smaller than those of eta and lambda (figure not "
                "checked here). No per-point uncertainty is shipped; choose one explicitly for "
                "a chi^2 loss (e.g. 1 % for eta and lambda, a choice, not a source value)."
            ),
        },
        "source": {
            "citation": f"density: {eos['citation']} viscosity: {vis['citation']} thermal "
            f"conductivity: {con['citation']}",
            "doi": vis["doi"],
            "dois": {
                "density": eos["doi"],
                "shear_viscosity": vis["doi"],
                "thermal_conductivity": con["doi"],
            },
            "bibtex_keys": [eos["key"], vis["key"], con["key"]],
            "url": "http://www.iapws.org/release.html",
            "method": "IAPWS-95 equation of state (Helmholtz energy) for rho(T, p); IAPWS 2008 "
            "viscosity and IAPWS 2011 thermal conductivity correlations evaluated at that "
            "density, as implemented in CoolProp (PropsSI 'D', 'V', 'L').",
        },
        "license": _LICENSE,
        "generation": _generation(CP, date),
    }
    return cols, meta


def _argon_columns(CP) -> dict:
    """The saturated-liquid argon table: one list per column, over `ARGON_T`."""
    cols = {
        "temperature": [],
        "saturation_pressure": [],
        "density": [],
        "shear_viscosity": [],
        "thermal_conductivity": [],
        "density_uncertainty": [],
        "shear_viscosity_uncertainty": [],
        "thermal_conductivity_uncertainty": [],
    }
    for t in ARGON_T:
        rho = CP.PropsSI("D", "T", t, "Q", 0, "Argon")
        eta = CP.PropsSI("V", "T", t, "Q", 0, "Argon") * 1e3
        lam = CP.PropsSI("L", "T", t, "Q", 0, "Argon")
        cols["temperature"].append(t)
        cols["saturation_pressure"].append(CP.PropsSI("P", "T", t, "Q", 0, "Argon") / 1e3)
        cols["density"].append(rho)
        cols["shear_viscosity"].append(eta)
        cols["thermal_conductivity"].append(lam)
        cols["density_uncertainty"].append(2e-4 * rho)
        cols["shear_viscosity_uncertainty"].append(0.02 * eta)
        cols["thermal_conductivity_uncertainty"].append(0.02 * lam)
    return cols


def argon(CP, date: str) -> tuple[dict, dict]:
    cols = _argon_columns(CP)
    eos = _citation(CP.get_fluid_param_string("Argon", "BibTeX-EOS"))
    vis = _citation(CP.get_fluid_param_string("Argon", "BibTeX-VISCOSITY"))
    con = _citation(CP.get_fluid_param_string("Argon", "BibTeX-CONDUCTIVITY"))
    i85 = ARGON_T.index(85.0)
    meta = {
        "name": "argon_saturated_liquid",
        "title": "Saturated liquid argon: vapour pressure, density, shear viscosity, thermal "
        "conductivity, 84-100 K (Tegeler 1999 EOS, Lemmon & Jacobsen 2004, via CoolProp)",
        "quantity": "shear_viscosity",
        "description": "saturated liquid Ar p_sat, rho, eta, lambda vs T (84-100 K)",
        "material": "liquid argon, Ar (CAS 7440-37-1)",
        "x": "temperature",
        "y": "shear_viscosity",
        "n_points": len(ARGON_T),
        "conditions": f"{ARGON_T[0]:g}-{ARGON_T[-1]:g} K along the saturated liquid line",
        "temperature": "varies (column temperature)",
        "pressure": "saturation (column saturation_pressure)",
        "triple_point_temperature": CP.PropsSI("Ttriple", "Argon"),
        "triple_point_temperature_unit": "K",
        "values_at_85K": {
            "saturation_pressure_kPa": round(cols["saturation_pressure"][i85], 4),
            "density": round(cols["density"][i85], 3),
            "shear_viscosity": round(cols["shear_viscosity"][i85], 6),
            "thermal_conductivity": round(cols["thermal_conductivity"][i85], 6),
        },
        "columns": {
            "temperature": "K",
            "saturation_pressure": "kPa",
            "density": "kg/m^3",
            "shear_viscosity": "mPa*s",
            "thermal_conductivity": "W/(m*K)",
            "density_uncertainty": "kg/m^3",
            "shear_viscosity_uncertainty": "mPa*s",
            "thermal_conductivity_uncertainty": "W/(m*K)",
        },
        "column_quantities": {
            "saturation_pressure": "pressure",
            "density": "density",
            "shear_viscosity": "shear_viscosity",
            "thermal_conductivity": "thermal_conductivity",
        },
        "column_descriptions": {
            "temperature": "temperature, ITS-90",
            "saturation_pressure": "vapour pressure from the Tegeler et al. EOS (phase "
            "equilibrium, Maxwell criterion)",
            "density": "saturated liquid density from the Tegeler et al. EOS",
            "shear_viscosity": "shear viscosity of the saturated liquid, Lemmon & Jacobsen 2004",
            "thermal_conductivity": "thermal conductivity of the saturated liquid, Lemmon & "
            "Jacobsen 2004 (with its critical enhancement term, small here)",
            "density_uncertainty": "0.02 % of density (see [uncertainty])",
            "shear_viscosity_uncertainty": "2 % of shear_viscosity (see [uncertainty])",
            "thermal_conductivity_uncertainty": "2 % of thermal_conductivity (see [uncertainty])",
        },
        "uncertainty": {
            "value": "relative: density 0.02 %, shear viscosity 2 %, thermal conductivity 2 %",
            "note": (
                "From the abstracts: Tegeler et al. 1999, 'For the density, the estimated "
                "uncertainty of the new equation of state is less than 0.02% for pressures up "
                "to 12 MPa and temperatures up to 340 K with the exception of the critical "
                "region'; Lemmon & Jacobsen 2004, 'The uncertainties of calculated values from "
                "the equations are generally within 2% for nitrogen and argon ... except in the "
                "critical region'. The abstracts do not state a coverage factor; the bounds are "
                "used here as 1 sigma, which is conservative if they are expanded (k = 2) "
                "uncertainties. The vapour pressure has no uncertainty column."
            ),
            "columns": {
                "density": "density_uncertainty",
                "shear_viscosity": "shear_viscosity_uncertainty",
                "thermal_conductivity": "thermal_conductivity_uncertainty",
            },
        },
        "source": {
            "citation": f"equation of state: {eos['citation']} transport: {vis['citation']}",
            "doi": eos["doi"],
            "dois": {
                "density": eos["doi"],
                "saturation_pressure": eos["doi"],
                "shear_viscosity": vis["doi"],
                "thermal_conductivity": con["doi"],
            },
            "bibtex_keys": sorted({eos["key"], vis["key"], con["key"]}),
            "url": "",
            "method": "Saturation state from the Tegeler-Span-Wagner Helmholtz-energy EOS "
            "(PropsSI with quality Q = 0); Lemmon-Jacobsen viscosity and thermal conductivity "
            "evaluated at the saturated liquid density, as implemented in CoolProp.",
        },
        "license": _LICENSE,
        "generation": _generation(CP, date),
    }
    return cols, meta


def generate(out_dir: str | Path, *, date: str | None = None) -> dict[str, tuple[Path, Path]]:
    """Write both tables into `out_dir` (created). Returns {stem: (csv, toml)}."""
    import CoolProp.CoolProp as CP

    date = default_date(date)
    _check(CP)
    out = {}
    for make in (water, argon):
        cols, meta = make(CP, date)
        out[meta["name"]] = write_pair(Path(out_dir), meta["name"], cols, meta)
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
