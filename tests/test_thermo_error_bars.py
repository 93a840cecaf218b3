"""Error bars of the thermodynamic observables are calibrated: over independent correlated
series with a known mean, the rms z-score of the estimates is about 1
(`observables.testing.check_error_calibration`)."""

from __future__ import annotations

import numpy as np

from observables import DielectricConstant, PotentialEnergy, Quantity, Trajectory
from observables.testing import check_error_calibration

# SI constants (independent of the package's unit helpers)
KB, E, EPS0 = 1.380649e-23, 1.602176634e-19, 8.8541878128e-12


def _ar1(rng, n_series, n_frames, phi, shape=()):
    """AR(1) series with unit variance and mean 0 (correlation time (1+φ)/(1−φ) frames)."""
    x = np.empty((n_series, n_frames, *shape))
    x[:, 0] = rng.normal(size=(n_series, *shape))
    for i in range(1, n_frames):
        x[:, i] = phi * x[:, i - 1] + np.sqrt(1 - phi**2) * rng.normal(size=(n_series, *shape))
    return x


def _traj(n_frames, **fields):
    pos = np.zeros((n_frames, 2, 3)) + np.arange(2)[None, :, None] * 0.1
    return Trajectory.from_internal(pos, box=np.full(3, 3.0), timestep=0.01, **fields)


def test_potential_energy_error_bars_are_calibrated():
    """40 AR(1) energy series (φ = 0.8, 2000 frames, 20 blocks) around −30 kJ/mol per
    2-atom cell: rms z within the band [1/1.5, 1.5] (Student t with 19 dof: 1.06; the rms
    of 40 z-scores scatters by about 11 %)."""
    rng = np.random.default_rng(3)
    series = -30.0 + 2.0 * _ar1(rng, 40, 2000, 0.8)
    replicas = [_traj(2000, potential_energy=s) for s in series]
    report = check_error_calibration(
        PotentialEnergy(n_blocks=20), replicas, Quantity(-15.0, "kJ/mol"), factor=1.5
    )
    assert report.deviation < np.log(1.5)


def test_dielectric_constant_error_bars_are_calibrated():
    """40 series of Gaussian AR(1) dipoles (φ = 0.5, 2000 frames, 20 blocks, variance s² per
    component, V = 27 nm³, 300 K): exact ε = 1 + s²/(ε₀ V k_B T) in SI; rms z within
    [1/1.5, 1.5] for both estimators (fluctuation form and ⟨M⟩ = 0 form)."""
    rng = np.random.default_rng(4)
    s, t = 1.5, 300.0
    dipoles = s * _ar1(rng, 40, 2000, 0.5, shape=(3,))
    exact = 1 + (s * E * 1e-9) ** 2 / (EPS0 * (3e-9) ** 3 * KB * t)
    replicas = [_traj(2000, dipole=m) for m in dipoles]
    for subtract in (True, False):
        obs = DielectricConstant(Quantity(t, "K"), subtract_mean=subtract, n_blocks=20)
        report = check_error_calibration(obs, replicas, Quantity(exact, ""), factor=1.5)
        assert report.deviation < np.log(1.5), (subtract, report)
