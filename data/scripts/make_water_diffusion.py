"""Generate the bundled self-diffusion coefficient of liquid water, D(T), 0-100 degC.

Source: the fit of Holz, Heil & Sacco (2000), D(T) = D0 (T/Ts - 1)^gamma, as implemented in
the ``chempy`` PyPI package (BSD-2-Clause), module
``chempy.properties.water_diffusivity_holz_2000`` -- the parameters D0, Ts, gamma and their
standard errors are read from that module, nothing is downloaded.

Writes ``fluids/water_self_diffusion_holz2000.{csv,toml}``: T = 273.15 ... 373.15 K every
5 K (0 ... 100 degC, the fit's range as stated by chempy), D in m^2/s.

Run from the repository root::

    python data/scripts/make_water_diffusion.py
    python data/scripts/make_water_diffusion.py --out-dir /tmp/x --date 2026-11-21

Deterministic given the chempy version and the recorded date (``--date``, else
``SOURCE_DATE_EPOCH``, else today, UTC). ``tests/test_datasets_fluids.py`` regenerates it
with the shipped date and compares bytes. The script stops unless D(298.15 K) is within
0.2 % of 2.299e-9 m^2/s (Mills 1973, the 25 degC reference value).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datagen import default_date, write_pair  # noqa: E402

SCRIPT = "data/scripts/make_water_diffusion.py"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "fluids"
STEM = "water_self_diffusion_holz2000"
#: Temperatures, K: 0 ... 100 degC every 5 degC (written with 2 decimals).
TEMPERATURES = [round(273.15 + 5.0 * i, 2) for i in range(21)]
#: The 25 degC reference value, m^2/s (R. Mills, J. Phys. Chem. 77, 685 (1973)).
D_298 = 2.299e-9


def _independent_band(holz) -> float:
    """Relative 1-sigma band of D at 298.15 K if the fit parameters' errors were independent
    (quoted in the metadata to explain why it is not used)."""
    u = 298.15 / holz.TS - 1
    return math.sqrt(
        (holz.dD0 / holz.D0) ** 2
        + (holz.gamma * 298.15 / holz.TS**2 / u * holz.dTS) ** 2
        + (math.log(u) * holz.dgamma) ** 2
    )


def _citation(ref: dict) -> str:
    """The paper's citation from chempy's reference dict."""
    return (
        f"{ref['author'].replace(' and ', ', ')}, "
        f"'{ref['title'].replace('{', '').replace('}', '')}'"
        f", {ref['journal']} {ref['volume']}, {ref['pages'][0]}-{ref['pages'][1]} (2000)."
    )


def generate(out_dir: str | Path, *, date: str | None = None) -> tuple[Path, Path]:
    """Write the CSV + TOML pair into `out_dir`; returns their paths."""
    from chempy.properties import water_diffusivity_holz_2000 as holz

    date = default_date(date)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a temperature outside the fit's range is an error
        d = [float(holz.water_self_diffusion_coefficient(t)) for t in TEMPERATURES]
    d25 = float(holz.water_self_diffusion_coefficient(298.15))
    if abs(d25 / D_298 - 1) > 2e-3:
        raise RuntimeError(f"chempy gives D(298.15 K) = {d25:.4g} m^2/s, expected {D_298:.4g}")
    ref = holz.reference
    band = _independent_band(holz)
    citation = _citation(ref)
    meta = {
        "name": STEM,
        "title": "Self-diffusion coefficient of liquid water, 0-100 degC (Holz, Heil & Sacco "
        "2000 fit, via chempy)",
        "quantity": "self_diffusion",
        "description": "liquid H2O self-diffusion D(T), 273-373 K (Holz et al. 2000 fit)",
        "material": "liquid water, H2O",
        "x": "temperature",
        "y": "self_diffusion",
        "n_points": len(TEMPERATURES),
        "conditions": "273.15-373.15 K, ambient pressure",
        "temperature": "varies (column temperature)",
        "pressure": "ambient",
        "pressure_note": "NMR measurements at atmospheric pressure; not stated numerically by "
        "chempy.",
        "value_at_298_15K": d25,
        "columns": {"temperature": "K", "self_diffusion": "m^2/s"},
        "column_quantities": {"self_diffusion": "self_diffusion"},
        "column_descriptions": {
            "temperature": "temperature",
            "self_diffusion": "self-diffusion coefficient of H2O from the fitted "
            "Speedy-Angell power law D0*(T/Ts - 1)^gamma (macroscopic, i.e. infinite-system, "
            "value: compare with a finite-size-corrected MD value)",
        },
        "fit": {
            "formula": "D = D0 * (T/Ts - 1)**gamma",
            "D0": holz.D0,
            "D0_unit": "m^2/s",
            "D0_standard_error": holz.dD0,
            "Ts": holz.TS,
            "Ts_unit": "K",
            "Ts_standard_error": holz.dTS,
            "gamma": holz.gamma,
            "gamma_standard_error": holz.dgamma,
            "valid_range_K": [holz.low_t_bound, holz.high_t_bound],
        },
        "uncertainty": {
            "value": "not given per point (see note)",
            "note": (
                "The fit parameters come with standard errors (see [fit]) but without their "
                "correlations (expected to be strong for Ts and gamma, which trade off in this "
                "power law); propagating them as "
                f"independent would give a misleadingly wide band ({100 * band:.1f} % at 25 degC), "
                "so no "
                "per-point uncertainty is shipped. The fit reproduces the 25 degC reference "
                "value 2.299e-9 m^2/s (Mills 1973) to better than 0.2 % (checked by the "
                "script). The measurement uncertainty stated in the paper was not checked "
                "(the paper was not available offline)."
            ),
        },
        "source": {
            "citation": citation,
            "doi": ref["doi"],
            "url": ref["url"],
            "method": "1H NMR pulsed-field-gradient measurements of water self-diffusion, "
            "fitted by the authors with a power law; the fit parameters are those in chempy "
            "(module docstring cites the paper).",
            "reference_value_25C": "R. Mills, J. Phys. Chem. 77, 685 (1973): 2.299e-9 m^2/s at "
            "25 degC (as commonly quoted; not verified against the text)",
        },
        "license": {
            "name": "MIT",
            "url": "https://opensource.org/license/mit",
            "note": "Values computed by this repository's script from the published fit "
            "parameters as implemented in chempy (BSD-2-Clause); distributed with spectrinv "
            "under its MIT license. No data file of another project is copied.",
        },
        "generation": {
            "script": SCRIPT,
            "command": f"python {SCRIPT}",
            "package": "chempy",
            "package_version": importlib.metadata.version("chempy"),
            "module": "chempy.properties.water_diffusivity_holz_2000",
            "date": date,
        },
    }
    return write_pair(Path(out_dir), STEM, {"temperature": TEMPERATURES, "self_diffusion": d}, meta)


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
