"""`[targets.observable_options] source` of an IR target: what it builds, that the recorded
dM/dt is the time derivative of the recorded dipole along a real trajectory, that a bad
value is refused in one line, and that fitting band intensities from the dipole warns."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

from observables import FromDipole, FromDipoleDerivative, Hann, IRSpectrum, Quantity
from spectrinv.backends import (
    JaxMDBackend,
    Positions,
    PotentialDipole,
    PotentialDipoleCurrent,
    Velocities,
    VelocityVerlet,
)
from spectrinv.fit import ConfigError, ConfigWarning
from spectrinv.fit._config_objective import build_observable, warn_if_intensities_from_dipole
from spectrinv.potentials import ChargeFluxDipole, DampedShiftedForce, spc_fw, water_box

T = Quantity(298.15, "K")
DT = Quantity(0.25, "fs")


def _ir(opts):
    return build_observable("ir", opts, T, "water", Quantity(1, "fs"), "[[targets]] 1")


def test_default_source_correlates_the_time_derivative_and_dipole_source_the_dipole():
    obs, record = _ir({"max_lag": "0.1 ps"})
    assert isinstance(obs.source, FromDipoleDerivative)
    assert [type(r) for r in record] == [Positions, PotentialDipoleCurrent]
    obs, record = _ir({"max_lag": "0.1 ps", "source": "dipole"})
    assert isinstance(obs.source, FromDipole)
    assert [type(r) for r in record] == [Positions, PotentialDipole]
    assert obs.transform.max_lag_frames == 100  # the other options are unchanged by the source


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("dipole_derivativ", r"source: 'dipole_derivativ' is not one of .*'dipole_derivative'"),
        ("velocity", r"is not one of \['dipole', 'dipole_derivative'\]"),
    ],
)
def test_unknown_source_is_refused_naming_the_choices(source, match):
    with pytest.raises(ConfigError, match=match) as err:
        _ir({"max_lag": "0.1 ps", "source": source})
    assert "\n" not in str(err.value)


def test_recorded_dipole_current_is_the_time_derivative_of_the_recorded_dipole():
    """On one NVE trajectory of charge-flux water, the dM/dt that the derivative source
    correlates equals central differences of the dipole series that the dipole source
    correlates (to O(Δt²): 0.25 fs steps against a 9 fs O-H period)."""
    flux = ChargeFluxDipole(
        Quantity(0.2, "e/angstrom"),
        Quantity(1.012, "angstrom"),
        Quantity(0.05, "e"),
        Quantity(113.24, "degree"),
    )
    model = spc_fw(DampedShiftedForce(Quantity(3.0, "1/nm"), Quantity(0.3, "nm"))).with_dipole(flux)
    key = np.asarray(jax.random.key_data(jax.random.key(0)))
    pos, system = water_box(8, Quantity(0.997, "g/cm**3"), key, model=model)
    backend = JaxMDBackend(VelocityVerlet(DT))
    state = backend.init(
        model, system, Quantity(np.asarray(pos), "nm"), temperature=T, key=jax.random.key(1)
    )
    (_, record_m), (obs, record_j) = _ir({"source": "dipole"}), _ir({"source": "dipole_derivative"})
    traj, _ = backend.sample(
        model, system, state, jax.random.key(2), 200, record=(*record_m, record_j[1], Velocities())
    )
    m, j = np.asarray(traj.dipole), np.asarray(traj.charge_current)
    dt = DT.m_as("ps")
    fd = (m[2:] - m[:-2]) / (2 * dt)
    scale = np.max(np.abs(j))
    assert scale > 0
    np.testing.assert_allclose(j[1:-1], fd, rtol=0, atol=2e-3 * scale)
    # the flux matters: Σ q v of the fixed charges is not the derivative of this dipole
    q = np.asarray(model.charges(system))
    sum_qv = np.einsum("i,fid->fd", q, np.asarray(traj.velocities))
    assert np.max(np.abs(sum_qv - j)) > 0.05 * scale
    # the derivative source's spectrum is finite and positive in the O-H stretch band
    obs = IRSpectrum(T, window=Hann(), max_lag=100, source=FromDipoleDerivative(), n_blocks=None)
    spectrum = obs(traj)
    nu, y = np.asarray(spectrum.x_magnitude), np.asarray(spectrum.y_magnitude)
    assert spectrum.x_unit == "1/cm" and np.all(np.isfinite(y))
    assert np.max(y[(nu > 3000) & (nu < 4000)]) > 0


@pytest.mark.parametrize(
    "t",
    [
        {"loss": "band_intensity"},
        {"losses": [{"loss": "mse"}, {"loss": "band_intensity"}]},
    ],
)
def test_band_intensities_from_the_dipole_warn_in_one_line(t):
    obs, _ = _ir({"max_lag": "0.1 ps", "source": "dipole"})
    with pytest.warns(ConfigWarning, match='source = "dipole_derivative"') as caught:
        warn_if_intensities_from_dipole(t, obs, "[[targets]] 1")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)


@pytest.mark.parametrize(
    ("opts", "t"),
    [
        ({"source": "dipole_derivative"}, {"loss": "band_intensity"}),
        ({}, {"loss": "band_intensity"}),  # the default source
        ({"source": "dipole"}, {"losses": [{"loss": "mse"}, {"loss": "peak_position"}]}),
    ],
)
def test_no_warning_from_the_derivative_or_without_intensities(opts, t):
    obs, _ = _ir({"max_lag": "0.1 ps", **opts})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_intensities_from_dipole(t, obs, "[[targets]] 1")
