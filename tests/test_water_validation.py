"""Reduced SPC/Fw validation run (`python -m benchmarks.validation.water_validation`):
physics within generous bounds. Slow (a few minutes on 2 CPU cores); excluded from the default
suite (`-m slow`)."""

import pytest
from _systems import benchmark_module


def _load():
    return benchmark_module("validation.water_validation")


@pytest.mark.slow
def test_reduced_spc_fw_validation():
    wv = _load()
    # 64 molecules (box 1.24 nm), DSF r_c = 0.6 nm, float64 (the test suite runs with x64
    # and strict promotion), 3 ps NVT + 6 ps NVE, one side density for P(rho).
    args = wv._parse(
        [
            "--molecules",
            "64",
            "--equil",
            "3",
            "--prod",
            "6",
            "--precision",
            "float64",
            "--side-densities",
            "1.027",
            "--side-equil",
            "0.6",
            "--side-sample",
            "1.8",
            "--gk-window",
            "1.0",
            "--msd-window",
            "1.0",
        ]
    )
    out = wv.main(args)

    assert abs(out["temperature_K"]["mean"] - 298.15) < 15.0
    # NVE (float64, 0.5 fs) conserves energy: |drift| below 1e-2 of |E| per ns
    assert abs(out["nve_drift"]["relative_per_ns"]) < 1e-2
    # O self-diffusion (Yeh-Hummer corrected, experimental viscosity) within a factor 2 of
    # the experimental / published 2.3e-9 m^2/s
    for method in ("green_kubo", "einstein"):
        d = out["diffusion_O"][method]["D_inf_m2_s"]
        assert 1.15e-9 < d < 4.6e-9, (method, d)
    # IR band centroids of n*alpha from the point-charge dipole (classical, harmonic
    # quantum correction): stretch, bend and libration where liquid water has them
    ir = out["ir_peaks_cm-1"]
    assert 3300 < ir["stretch_centroid"]["value"] < 3800
    assert 1300 < ir["bend_centroid"]["value"] < 1800
    assert 400 < ir["libration_centroid"]["value"] < 1000
    # pressure rises with density (positive compressibility) and the 1-bar density is liquid
    rho = out["pressure"]["density_at_1bar_with_tail"]
    assert rho["slope_bar_per_g_cm3"] > 0
    assert 0.9 < rho["value_g_cm3"] < 1.1
