"""`melt = {temperature, time}` of a fit target: a hot Langevin stage at fixed volume before
the equilibration, so that a lattice start becomes a liquid. Near the melting point a
superheated fcc lattice outlasts a short equilibration at the target temperature (argon's
lattice at 85 K with ε/k_B = 120 K is still a crystal after 10 ps), and a transport
coefficient sampled from it is the crystal's."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from _systems import ARGON_DENSITY_TARGET, ARGON_FIT_HEAD

from spectrinv.backends import JaxMDBackend, Langevin
from spectrinv.fit import ConfigError, load_config
from spectrinv.fit._fingerprint import describe_changes, fingerprint_parts
from spectrinv.fit._md import equilibrate, init_state

HEAD = ARGON_FIT_HEAD

VISCOSITY = """
[[targets]]
name = "eta"
dataset = "fluids/argon_saturated_liquid"
observable = "shear_viscosity"
loss = "relative_error"
at = "85 K"
temperature = "85 K"
timestep = "5 fs"
equilibration = "1 ps"
{melt}
system = {{ cells = 2, density = "1409.5 kg/m**3", mass = "39.948 Da" }}
observable_options = {{ max_lag = "0.2 ps" }}
[targets.gradient]
kind = "truncated"
segments = 2
segment_length = "0.5 ps"
decorrelation = "0.1 ps"
stride = 2
"""

DENSITY = (
    ARGON_DENSITY_TARGET
    + """equilibration = "0.1 ps"
melt = { temperature = "400 K", time = "5 ps" }
"""
)

MELT = 'melt = { temperature = "400 K", time = "5 ps" }'


def _load(tmp_path: Path, targets: str):
    path = tmp_path / "fit.toml"
    path.write_text(HEAD + targets)
    return load_config(path)


def _rms_from_lattice(target, positions) -> float:
    """rms distance (nm, minimum image) of each atom from its lattice site."""
    box = float(np.asarray(target.system.box).ravel()[0])
    d = np.asarray(positions) - np.asarray(target.positions)
    d -= box * np.round(d / box)
    return float(np.sqrt(np.mean(np.sum(d**2, axis=1))))


def test_melt_builds_a_hot_thermostat_of_the_targets_time_step_and_friction(tmp_path):
    target = _load(tmp_path, VISCOSITY.format(melt=MELT)).targets[0]
    assert isinstance(target.melt_backend, JaxMDBackend)
    hot = target.melt_backend.integrator
    assert isinstance(hot, Langevin)
    assert hot.temperature == pytest.approx(400.0)
    assert hot.timestep == pytest.approx(target.backend.integrator.timestep)
    assert hot.friction == pytest.approx(target.backend.integrator.friction)
    assert target.melt_steps == 1000  # 5 ps of 5 fs
    assert target.melt_backend.barostat is None  # fixed volume
    plain = _load(tmp_path, VISCOSITY.format(melt="")).targets[0]
    assert plain.melt_steps == 0 and plain.melt_backend is None


def test_a_lattice_that_survives_the_equilibration_is_melted_first(tmp_path):
    key = jax.random.key(3)
    plain = _load(tmp_path, VISCOSITY.format(melt="")).targets[0]
    melted = _load(tmp_path, VISCOSITY.format(melt=MELT)).targets[0]
    potential = load_config(tmp_path / "fit.toml").potential
    crystal = equilibrate(plain, potential, key)
    liquid = equilibrate(melted, potential, key)
    # 1 ps at 85 K leaves every atom near its site; 5 ps at 400 K first moves them off
    # (the nearest-neighbour distance is 0.38 nm)
    assert _rms_from_lattice(plain, crystal["positions"]) < 0.12  # measured 0.06
    assert _rms_from_lattice(melted, liquid["positions"]) > 0.25  # measured 0.38
    # then the equilibration at the target's temperature: the kinetic temperature is near
    # 85 K again, not 400 K (32 atoms: it fluctuates by about 25 %)
    m = 39.948 * 1.66053906660e-27  # kg
    v2 = np.mean(np.sum(np.asarray(liquid["velocities"]) ** 2, axis=1)) * 1e6  # (m/s)²
    assert m * v2 / (3 * 1.380649e-23) == pytest.approx(85.0, rel=0.5)


def test_an_npt_target_starts_its_barostat_from_the_melted_configuration(tmp_path):
    target = _load(tmp_path, DENSITY).targets[0]
    potential = load_config(tmp_path / "fit.toml").potential
    cfg = equilibrate(target, potential, jax.random.key(0))
    assert _rms_from_lattice(target, cfg["positions"]) > 0.25
    state = init_state(target, potential, cfg)
    assert state.barostat is not None and np.all(np.isfinite(np.asarray(state.positions)))


@pytest.mark.parametrize(
    ("melt", "match"),
    [
        ('melt = "400 K"', r"melt must be a table like \{temperature"),
        ('melt = { temperature = "400 K" }', r"melt.*time"),
        ('melt = { temperature = "400 K", time = "5 ps", t = 1 }', r"melt.*'t'"),
        ('melt = { temperature = "400 nm", time = "5 ps" }', r"melt temperature.*temperature"),
        ('melt = { temperature = "0 K", time = "5 ps" }', r"must be above 0 K"),
        ('melt = { temperature = "400 K", time = "1 fs" }', r"shorter than one time step"),
    ],
)
def test_a_bad_melt_is_refused_in_one_line(tmp_path, melt, match):
    with pytest.raises(ConfigError, match=match) as err:
        _load(tmp_path, VISCOSITY.format(melt=melt))
    assert "\n" not in str(err.value)


def test_the_fingerprint_knows_the_melt_and_names_its_change(tmp_path):
    def parts(melt):
        targets = _load(tmp_path, VISCOSITY.format(melt=melt)).targets
        return fingerprint_parts(targets, ["epsilon"], 0, "adam", None)

    plain, melted = parts(""), parts(MELT)
    assert not any(k.startswith("melt") for k in plain)
    assert describe_changes(plain, melted).startswith("melt of target 'eta'")
    longer = parts(MELT.replace("5 ps", "6 ps"))
    assert describe_changes(melted, longer) == "melt of target 'eta' (1000 steps -> 1200 steps)"
