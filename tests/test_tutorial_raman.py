"""docs/tutorial-raman.md: its code runs, and what the page states about the results holds."""

from __future__ import annotations

import numpy as np
from _docs_code import ROOT, run_page

import observables as ob
from observables import Quantity

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

    # independent check of the normalisation on the page's data: without quantum correction
    # the spectra integrate (over ω from -∞ to ∞, i.e. twice the positive side) to the
    # variances of the invariants, computed here directly from the tensors
    classical = ob.RamanSpectrum(
        Quantity(298, "K"),
        quantum_correction=ob.Classical(),
        window=ob.Hann(Quantity(0.5, "ps")),
        max_lag=Quantity(0.5, "ps"),
        n_blocks=None,
    )(traj)
    alpha = np.asarray(traj.polarizability, float)
    iso = np.trace(alpha, axis1=1, axis2=2) / 3
    beta = alpha - iso[:, None, None] * np.eye(3)
    beta -= beta.mean(axis=0)
    aniso_variance = 1.5 * np.mean(np.sum(beta * beta, axis=(1, 2)))
    np.testing.assert_allclose(
        2 * classical.isotropic.integral().m_as("nm**6"), iso.var(), rtol=1e-4
    )
    np.testing.assert_allclose(
        2 * classical.anisotropic.integral().m_as("nm**6"), aniso_variance, rtol=1e-4
    )
