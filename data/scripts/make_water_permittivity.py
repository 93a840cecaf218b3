"""Generate the bundled static relative permittivity (dielectric constant) of liquid water.

Source: the correlation of Bradley & Pitzer (1979), as implemented in the ``chempy`` PyPI
package (BSD-2-Clause), ``chempy.properties.water_permittivity_bradley_pitzer_1979``; its nine
parameters are read from that module (``just_return_U=True``), nothing is downloaded.

Writes ``fluids/water_permittivity_bradley_pitzer1979.{csv,toml}``: T = 275, 285, 295,
298.15, 305, ..., 365 K at 0.101325 MPa (1.01325 bar), eps_r dimensionless.

Run from the repository root::

    python data/scripts/make_water_permittivity.py
    python data/scripts/make_water_permittivity.py --out-dir /tmp/x --date 2026-12-04

Deterministic given the chempy version and the recorded date (``--date``, else
``SOURCE_DATE_EPOCH``, else today, UTC). ``tests/test_datasets_thermo.py`` regenerates it with
the shipped date and compares bytes (marked ``datagen``: chempy is in the ``datagen`` extra).
The script stops unless eps_r(298.15 K, 0.101325 MPa) is within 0.1 % of 78.41 (the IAPWS
value, Fernandez et al. 1997).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datagen import default_date, write_pair  # noqa: E402

SCRIPT = "data/scripts/make_water_permittivity.py"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "fluids"
STEM = "water_permittivity_bradley_pitzer1979"
TEMPERATURES = [275.0, 285.0, 295.0, 298.15, 305.0, 315.0, 325.0, 335.0, 345.0, 355.0, 365.0]
PRESSURE_BAR = 1.01325
#: eps_r of water at 25 degC, 0.101325 MPa (IAPWS; D. P. Fernandez et al., J. Phys. Chem. Ref.
#: Data 26, 1125 (1997)).
EPS_298 = 78.41


def generate(out_dir: str | Path, *, date: str | None = None) -> tuple[Path, Path]:
    """Write the CSV + TOML pair into `out_dir`; returns their paths."""
    from chempy.properties import water_permittivity_bradley_pitzer_1979 as bp

    date = default_date(date)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a state outside the correlation's range is an error
        eps = [float(bp.water_permittivity(t, PRESSURE_BAR)) for t in TEMPERATURES]
    eps25 = eps[TEMPERATURES.index(298.15)]
    if abs(eps25 / EPS_298 - 1) > 1e-3:
        raise RuntimeError(f"chempy gives eps_r(298.15 K) = {eps25:.5g}, expected {EPS_298}")
    params = [float(u) for u in bp.water_permittivity(just_return_U=True)]
    meta = {
        "name": STEM,
        "title": "Static relative permittivity of liquid water, 275-365 K, 0.101325 MPa "
        "(Bradley & Pitzer 1979 correlation, via chempy)",
        "quantity": "dielectric_constant",
        "description": "liquid H2O static dielectric constant eps_r vs T at 1 atm",
        "material": "liquid water, H2O (CAS 7732-18-5)",
        "x": "temperature",
        "y": "dielectric_constant",
        "n_points": len(TEMPERATURES),
        "conditions": f"{TEMPERATURES[0]:g}-{TEMPERATURES[-1]:g} K, 0.101325 MPa",
        "temperature": "varies (column temperature)",
        "pressure": PRESSURE_BAR * 1e5,
        "pressure_unit": "Pa",
        "value_at_298_15K": eps25,
        "columns": {"temperature": "K", "dielectric_constant": "dimensionless"},
        "column_quantities": {"dielectric_constant": "dielectric_constant"},
        "column_descriptions": {
            "temperature": "temperature",
            "dielectric_constant": "static (zero-frequency) relative permittivity eps_r",
        },
        "correlation": {
            "formula": "eps = U1 exp(U2 T + U3 T^2) + C ln((B + P)/(B + 1000 bar)), "
            "C = U4 + U5/(U6 + T), B = U7 + U8/T + U9 T (T in K, P in bar)",
            "U": params,
            "valid_range": "0-350 degC (pressure up to 2000 bar above 70 degC), as stated by "
            "chempy",
        },
        "uncertainty": {
            "value": "not given per point (see note)",
            "note": (
                "The correlation's deviation from the data it fits was not checked against "
                "the paper (not available offline). As an indication, at 298.15 K it gives "
                f"{eps25:.4f}, {100 * (eps25 / EPS_298 - 1):+.2f} % from the IAPWS value "
                f"{EPS_298} (Fernandez et al. 1997), which the script checks. Water models' "
                "dielectric constants carry statistical errors of several per cent: choose a "
                "relative_uncertainty for a chi^2 loss explicitly."
            ),
        },
        "source": {
            "citation": "D. J. Bradley, K. S. Pitzer, 'Thermodynamics of electrolytes. 12. "
            "Dielectric properties of water and Debye-Hueckel parameters to 350 degC and "
            "1 kbar', J. Phys. Chem. 83, 1599-1603 (1979).",
            "doi": "10.1021/j100475a009",
            "method": "Empirical correlation of measured static permittivities of water; the "
            "parameters are those in chempy (whose docstring cites the paper).",
            "reference_value_25C": "D. P. Fernandez, A. R. H. Goodwin, E. W. Lemmon, J. M. H. "
            "Levelt Sengers, R. C. Williams, J. Phys. Chem. Ref. Data 26, 1125 (1997): eps_r "
            "= 78.41 at 25 degC, 0.101325 MPa (as commonly quoted; not verified against the "
            "text)",
        },
        "license": {
            "name": "MIT",
            "url": "https://opensource.org/license/mit",
            "note": "Values computed by this repository's script from the published "
            "correlation as implemented in chempy (BSD-2-Clause); distributed with spectrinv "
            "under its MIT license. No data file of another project is copied.",
        },
        "generation": {
            "script": SCRIPT,
            "command": f"python {SCRIPT}",
            "package": "chempy",
            "package_version": importlib.metadata.version("chempy"),
            "module": "chempy.properties.water_permittivity_bradley_pitzer_1979",
            "date": date,
        },
    }
    cols = {"temperature": TEMPERATURES, "dielectric_constant": eps}
    return write_pair(Path(out_dir), STEM, cols, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder")
    parser.add_argument("--date", help="generation date to record (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    csv, _ = generate(args.out_dir, date=args.date)
    print(f"{STEM}: {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
