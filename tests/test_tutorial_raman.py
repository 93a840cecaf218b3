"""docs/tutorial-raman.md: its code runs, and what the page states about the results holds."""

from __future__ import annotations

import numpy as np
from _docs_code import ROOT, run_page

EXAMPLE = ROOT / "docs" / "examples" / "raman" / "water_polarizability.npz"


def test_raman_tutorial_runs_and_its_statements_hold(tmp_path):
    assert EXAMPLE.stat().st_size < 1_000_000
    ns = run_page("tutorial-raman.md", tmp_path)
    assert (tmp_path / "raman_water.png").stat().st_size > 10_000

    spectra, traj = ns["spectra"], ns["traj"]
    assert spectra.vv.y_unit == spectra.vh.y_unit == "cm*nm**6"
    for component in spectra.as_dict().values():
        assert component.error_magnitude is not None

    # the band ratios the page quotes: 0.749, 0.748 (3/4 limit) and 0.16 for the stretch
    ratio = ns["band_ratio"]
    assert abs(ratio(spectra, 300, 1200) - 0.749) < 5e-4
    assert abs(ratio(spectra, 1200, 2200) - 0.748) < 5e-4
    assert abs(ratio(spectra, 2800, 4200) - 0.160) < 5e-4
    rho = np.asarray(ns["rho"].y_magnitude)
    assert np.all((rho >= 0) & (rho <= 0.75 + 1e-4))

    # independent check of the normalisation on the page's data: divided by the harmonic
    # quantum factor Q(x) = x / (1 - e^-x), x = hc nu / k_B T (c2 = hc/k_B, CODATA), the
    # spectra integrate over all frequencies (twice the positive side) to the variances of
    # the invariants, computed here directly from the tensors
    c2_cm_kelvin = 1.438776877  # second radiation constant, cm K
    nu = np.asarray(spectra.isotropic.x_magnitude, float)  # 1/cm
    x = c2_cm_kelvin * nu / 298.0
    q = np.where(x > 0, x / -np.expm1(-np.where(x > 0, x, 1.0)), 1.0)

    def classical_area(spectrum):
        y = np.asarray(spectrum.y_magnitude, float) / q  # nm^6 per 1/cm
        return 2 * np.trapezoid(y, nu)

    alpha = np.asarray(traj.polarizability, float)
    iso = np.trace(alpha, axis1=1, axis2=2) / 3
    beta = alpha - iso[:, None, None] * np.eye(3)
    beta -= beta.mean(axis=0)
    aniso_variance = 1.5 * np.mean(np.sum(beta * beta, axis=(1, 2)))
    np.testing.assert_allclose(classical_area(spectra.isotropic), iso.var(), rtol=1e-3)
    np.testing.assert_allclose(classical_area(spectra.anisotropic), aniso_variance, rtol=1e-3)
