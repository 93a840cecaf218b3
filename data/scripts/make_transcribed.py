"""Write the bundled datasets whose numbers are transcribed from publications.

Each value below is a fact quoted with its citation; this script is the record of the
transcription (who said what, in which units, verified or not) and writes the CSV + TOML
pairs from it, so that the files cannot drift from the record. Labelled-scalar layout: the
CSV has one header line and one row; the TOML says ``layout = "labelled"``.

- ``solids/silicon_elastic_mcskimin1953``: C11, C12, C44 of crystalline Si at room
  temperature, and its density (computed from the CODATA lattice parameter of silicon in
  ``scipy.constants`` and the IUPAC standard atomic weight).
- ``solids/diamond_elastic_mcskimin1972``: C11, C12, C44 of diamond, and its density.
- ``structure/water_goo_first_peak_skinner2013``: position and height of the first maximum
  of the O-O pair distribution function of ambient water from X-ray diffraction.
- ``solids/silicon_phonons_nilsson1972``: phonon frequencies of crystalline Si at Gamma, X
  and L from inelastic neutron scattering.

Run from the repository root::

    python data/scripts/make_transcribed.py
    python data/scripts/make_transcribed.py --out-dir /tmp/x --date 2026-11-21

Needs only NumPy/SciPy. ``tests/test_datasets_transcribed.py`` regenerates with the shipped
date and compares bytes.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datagen import default_date, write_pair  # noqa: E402

SCRIPT = "data/scripts/make_transcribed.py"
DATA = Path(__file__).resolve().parent.parent

_NOT_VERIFIED = (
    "not verified against the original text (the publication was not available offline); "
    "the values are those commonly quoted from it"
)

_LICENSE_FACTS = {
    "name": "CC0-1.0",
    "url": "https://creativecommons.org/publicdomain/zero/1.0/",
    "note": "Individual measured values transcribed as facts with their citation; no table "
    "or file of the publication is reproduced. Dedicated to the public domain by this project.",
}


def _generation(date: str, extra: dict | None = None) -> dict:
    out = {
        "script": SCRIPT,
        "command": f"python {SCRIPT}",
        "kind": "transcribed",
        "date": date,
    }
    out.update(extra or {})
    return out


def silicon(date: str) -> tuple[dict, dict]:
    import scipy.constants as sc

    a, a_unit, a_unc = sc.physical_constants["lattice parameter of silicon"]
    molar_mass = 28.085e-3  # kg/mol, IUPAC standard atomic weight of Si (abridged, 28.085)
    density = round(8 * molar_mass / (sc.N_A * a**3), 2)  # 8 atoms per cubic cell
    values = {"C11": 165.7, "C12": 63.9, "C44": 79.6, "density": density}
    meta = {
        "name": "silicon_elastic_mcskimin1953",
        "title": "Elastic constants C11, C12, C44 of crystalline silicon at room temperature "
        "(McSkimin 1953), and density",
        "quantity": "elastic_constants",
        "description": "crystalline Si C11, C12, C44 (GPa), room temperature",
        "material": "crystalline silicon, diamond structure",
        "layout": "labelled",
        "y": ["C11", "C12", "C44"],
        "n_points": 3,
        "conditions": "room temperature (25 degC), zero pressure",
        "temperature": 298.15,
        "temperature_unit": "K",
        "temperature_note": "25 degC as commonly quoted for these values; not verified",
        "pressure": "ambient",
        "columns": {"C11": "GPa", "C12": "GPa", "C44": "GPa", "density": "kg/m^3"},
        "column_quantities": {
            "C11": "elastic_constant",
            "C12": "elastic_constant",
            "C44": "elastic_constant",
            "density": "density",
        },
        "column_descriptions": {
            "C11": "adiabatic elastic stiffness C11 (Voigt notation, cubic axes), from "
            "ultrasonic wave velocities",
            "C12": "adiabatic elastic stiffness C12",
            "C44": "adiabatic elastic stiffness C44",
            "density": "8 m_Si / (N_A a^3) with the CODATA lattice parameter of silicon "
            f"a = {a} {a_unit} (scipy.constants, at 22.5 degC) and the IUPAC standard atomic "
            "weight 28.085, rounded to 0.01 kg/m^3",
        },
        "uncertainty": {
            "value": "not stated here",
            "note": "The source's stated uncertainties were not checked. Ultrasonic constants "
            "are adiabatic; isothermal values (e.g. from MD strain-stress fits) differ slightly.",
        },
        "source": {
            "citation": "H. J. McSkimin, 'Measurement of elastic constants at low temperatures "
            "by means of ultrasonic waves - data for silicon and germanium single crystals, and "
            "for fused silica', J. Appl. Phys. 24, 988-997 (1953).",
            "doi": "10.1063/1.1721449",
            "doi_note": "DOI recalled, not checked against the publisher",
            "url": "",
            "transcribed_from": "values as commonly quoted for McSkimin's room-temperature "
            "silicon data, converted from 1e12 dyn/cm^2 (1e12 dyn/cm^2 = 100 GPa)",
            "verified": _NOT_VERIFIED,
            "density_source": "CODATA lattice parameter of silicon via scipy.constants "
            f"(standard uncertainty {a_unc:g} {a_unit}); IUPAC standard atomic weight of Si",
        },
        "license": _LICENSE_FACTS,
        "generation": _generation(
            date, {"package": "scipy", "package_version": importlib.metadata.version("scipy")}
        ),
    }
    return {k: [v] for k, v in values.items()}, meta


def diamond(date: str) -> tuple[dict, dict]:
    values = {"C11": 1079.0, "C12": 124.0, "C44": 578.0, "density": 3515.0}
    meta = {
        "name": "diamond_elastic_mcskimin1972",
        "title": "Elastic constants C11, C12, C44 of diamond at room temperature and zero "
        "pressure (McSkimin & Andreatch 1972), and density",
        "quantity": "elastic_constants",
        "description": "diamond C11, C12, C44 (GPa), room temperature",
        "material": "diamond (single crystal)",
        "layout": "labelled",
        "y": ["C11", "C12", "C44"],
        "n_points": 3,
        "conditions": "room temperature (25 degC), zero pressure",
        "temperature": 298.15,
        "temperature_unit": "K",
        "temperature_note": "25 degC as commonly quoted for these values; not verified",
        "pressure": "ambient",
        "columns": {"C11": "GPa", "C12": "GPa", "C44": "GPa", "density": "kg/m^3"},
        "column_quantities": {
            "C11": "elastic_constant",
            "C12": "elastic_constant",
            "C44": "elastic_constant",
            "density": "density",
        },
        "column_descriptions": {
            "C11": "adiabatic elastic stiffness C11 (Voigt notation, cubic axes), from "
            "ultrasonic wave velocities",
            "C12": "adiabatic elastic stiffness C12",
            "C44": "adiabatic elastic stiffness C44",
            "density": "density of diamond, 3.515 g/cm^3 as commonly quoted (not from the "
            "cited paper; not verified)",
        },
        "uncertainty": {
            "value": "not stated here",
            "note": "The source's stated uncertainties were not checked.",
        },
        "source": {
            "citation": "H. J. McSkimin and P. Andreatch Jr., 'Elastic moduli of diamond as a "
            "function of pressure and temperature', J. Appl. Phys. 43, 2944-2948 (1972).",
            "doi": "10.1063/1.1661636",
            "url": "",
            "transcribed_from": "C11 = 10.79, C12 = 1.24, C44 = 5.78 (1e12 dyn/cm^2) as commonly "
            "quoted from this paper, converted to GPa (x100)",
            "verified": _NOT_VERIFIED,
        },
        "license": _LICENSE_FACTS,
        "generation": _generation(date),
    }
    return {k: [v] for k, v in values.items()}, meta


def water_goo_peak(date: str) -> tuple[dict, dict]:
    values = {"r_max": 2.80, "g_max": 2.57, "r_max_uncertainty": 0.01, "g_max_uncertainty": 0.05}
    meta = {
        "name": "water_goo_first_peak_skinner2013",
        "title": "First maximum of the O-O pair distribution function of ambient liquid water "
        "from X-ray diffraction (Skinner et al. 2013)",
        "quantity": "rdf_first_peak_position",
        "description": "water g_OO(r) first peak: 2.80(1) A, height 2.57(5) (X-ray)",
        "material": "liquid water, H2O",
        "layout": "labelled",
        "y": ["r_max"],
        "n_points": 2,
        "conditions": "ambient conditions (as stated in the abstract)",
        "temperature": "ambient",
        "temperature_note": "The abstract says 'ambient liquid water'; the exact temperature "
        "of the measurements was not checked (room temperature, about 295-298 K).",
        "pressure": "ambient",
        "columns": {
            "r_max": "angstrom",
            "g_max": "dimensionless",
            "r_max_uncertainty": "angstrom",
            "g_max_uncertainty": "dimensionless",
        },
        "column_quantities": {
            "r_max": "rdf_first_peak_position",
            "g_max": "rdf_first_peak_height",
        },
        "column_descriptions": {
            "r_max": "position of the nearest-neighbour maximum of g_OO(r)",
            "g_max": "height of that maximum (g_OO is 1 at large r)",
            "r_max_uncertainty": "the abstract's 2.80(1): 0.01 angstrom in the last digit",
            "g_max_uncertainty": "the abstract's 2.57(5): 0.05",
        },
        "uncertainty": {
            "value": "as given by the source, in parentheses",
            "note": "Error bars from the paper's analysis of four X-ray measurements (statistical "
            "noise, Q range, Compton and self-scattering); taken here as 1 sigma.",
            "columns": {"r_max": "r_max_uncertainty", "g_max": "g_max_uncertainty"},
        },
        "source": {
            "citation": "L. B. Skinner, C. Huang, D. Schlesinger, L. G. M. Pettersson, "
            "A. Nilsson and C. J. Benmore, 'Benchmark oxygen-oxygen pair-distribution function "
            "of ambient water from x-ray diffraction measurements with a wide Q-range', "
            "J. Chem. Phys. 138, 074506 (2013).",
            "doi": "10.1063/1.4790861",
            "url": "",
            "transcribed_from": "abstract: 'the position and height of the nearest neighbor "
            "maximum in gOO(r) were found to be 2.80(1) A and 2.57(5) respectively'",
            "verified": "against the published abstract (wording and numbers); the full text "
            "was not available offline",
            "why_no_curve": "The paper's numerical g_OO(r) is published as supplementary "
            "material of the journal, not under an open license and not on PyPI, so only the "
            "two facts of the abstract are shipped.",
        },
        "license": _LICENSE_FACTS,
        "generation": _generation(date),
    }
    return {k: [v] for k, v in values.items()}, meta


def silicon_phonons(date: str) -> tuple[dict, dict]:
    values = {
        "Gamma_LTO": 15.53,
        "X_TA": 4.49,
        "X_LA": 12.32,
        "X_TO": 13.90,
        "L_TA": 3.43,
        "L_LA": 11.35,
        "L_LO": 12.60,
        "L_TO": 14.68,
    }
    point = {
        "Gamma": "Gamma = (0, 0, 0)",
        "X": "X = (2 pi / a)(1, 0, 0)",
        "L": "L = (pi / a)(1, 1, 1)",
    }
    degeneracy = {
        "Gamma_LTO": "threefold (LO and TO coincide at Gamma in a non-polar crystal)",
        "X_TA": "twofold",
        "X_LA": "twofold (LA and LO coincide at X)",
        "X_TO": "twofold",
        "L_TA": "twofold",
        "L_LA": "single",
        "L_LO": "single",
        "L_TO": "twofold",
    }
    meta = {
        "name": "silicon_phonons_nilsson1972",
        "title": "Phonon frequencies of crystalline silicon at Gamma, X and L from inelastic "
        "neutron scattering (Nilsson & Nelin 1972)",
        "quantity": "phonon_frequencies",
        "description": "crystalline Si phonon frequencies (THz) at the zone centre and the X and "
        "L zone-boundary points, room temperature",
        "material": "crystalline silicon, diamond structure",
        "layout": "labelled",
        "y": list(values),
        "n_points": len(values),
        "conditions": "room temperature, zero pressure",
        "temperature": 296.0,
        "temperature_unit": "K",
        "temperature_note": "room temperature (296 K as commonly quoted); not verified",
        "pressure": "ambient",
        "columns": {k: "THz" for k in values},
        "column_quantities": {k: "phonon_frequency" for k in values},
        "column_descriptions": {
            k: f"frequency nu = omega / 2 pi of the {k.split('_')[1]} branch at "
            f"{point[k.split('_')[0]]}; degeneracy {degeneracy[k]}"
            for k in values
        },
        "uncertainty": {
            "value": "not stated here",
            "note": "The source's stated uncertainties were not checked (neutron "
            "frequencies of this period are typically quoted to about 1 %). Measured at room "
            "temperature: anharmonic shifts from the 0 K harmonic frequencies are a few tenths "
            "of a percent to about 1 % for silicon.",
        },
        "source": {
            "citation": "G. Nilsson and G. Nelin, 'Study of the homology between silicon and "
            "germanium by thermal-neutron spectrometry', Phys. Rev. B 6, 3777-3786 (1972).",
            "doi": "10.1103/PhysRevB.6.3777",
            "doi_note": "DOI recalled, not checked against the publisher",
            "url": "",
            "transcribed_from": "values as commonly quoted from this paper, e.g. in the "
            "experimental column of the comparison table of P. Giannozzi, S. de Gironcoli, "
            "P. Pavone and S. Baroni, Phys. Rev. B 43, 7231 (1991), recalled, not re-read",
            "verified": _NOT_VERIFIED,
            "see_also": "G. Dolling, in Inelastic Scattering of Neutrons in Solids and Liquids "
            "(IAEA, Vienna, 1963), Vol. II, p. 37 (earlier neutron measurements of silicon)",
        },
        "license": _LICENSE_FACTS,
        "generation": _generation(date),
    }
    return {k: [v] for k, v in values.items()}, meta


#: (sub-folder, maker) of every transcribed dataset.
MAKERS = [
    ("solids", silicon),
    ("solids", diamond),
    ("structure", water_goo_peak),
    ("solids", silicon_phonons),
]


def generate(out_root: str | Path, *, date: str | None = None) -> dict[str, tuple[Path, Path]]:
    """Write every dataset into `out_root/<folder>/`; returns {name: (csv, toml)}."""
    date = default_date(date)
    out = {}
    for folder, make in MAKERS:
        cols, meta = make(date)
        out[f"{folder}/{meta['name']}"] = write_pair(
            Path(out_root) / folder, meta["name"], cols, meta, digits=12
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-root", type=Path, default=DATA, help="data folder (root)")
    parser.add_argument("--date", help="generation date to record (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    for name, (csv, _) in generate(args.out_root, date=args.date).items():
        print(f"{name}: {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
