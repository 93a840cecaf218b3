"""`observable = "density"` targets of a fit configuration: NPT samples (an isotropic
`MonteCarloBarostat` at the target's `pressure` on the target's backend), reweighted by
`Reweighting`, compared with the dataset's density at the target's temperature and pressure.

The reference values are read from the bundled CSV files here with the `csv` module, not
through `spectrinv.datasets`; bad input is refused when the config is read."""

from __future__ import annotations

import csv
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
from _systems import ARGON_DENSITY_TARGET, ARGON_FIT_HEAD

from observables import Density
from spectrinv.backends import MonteCarloBarostat, Positions
from spectrinv.fit import ConfigError, load_config
from spectrinv.fit._md import equilibrate, init_state, saved_box
from spectrinv.gradients import Reweighting
from spectrinv.losses import ChiSquared

FLUIDS = Path(__file__).resolve().parents[1] / "data" / "fluids"

HEAD = ARGON_FIT_HEAD

ARGON = ARGON_DENSITY_TARGET


def _row(name: str, temperature: float) -> dict[str, float]:
    with open(FLUIDS / f"{name}.csv") as f:
        for row in csv.DictReader(f):
            if float(row["temperature"]) == temperature:
                return {k: float(v) for k, v in row.items()}
    raise KeyError(temperature)


def _load(tmp_path: Path, targets: str, head: str = HEAD):
    path = tmp_path / "fit.toml"
    path.write_text(head + targets)
    return load_config(path)


def test_density_target_puts_a_barostat_at_the_pressure_and_compares_at_t_and_p(tmp_path):
    target = _load(tmp_path, ARGON).targets[0]
    baro = target.backend.barostat
    assert isinstance(baro, MonteCarloBarostat)
    # 1 bar = 1e5 J/m³ = 1e5 J/m³ · 1e-27 m³/nm³ · N_A / 1000 kJ/J = 0.0602214076 kJ/mol/nm³
    assert baro.pressure == pytest.approx(0.788966 * 0.0602214076, rel=1e-12)
    assert baro.frequency == 25 and baro.scaling == "auto" and baro.adapt is False
    assert isinstance(target.objective.observe, Density)
    assert any(isinstance(r, Positions) for r in target.objective.record)
    assert isinstance(target.gradient, Reweighting)
    # the reference: the CSV's density at 85 K, with its 0.02 % uncertainty (χ² loss)
    row = _row("argon_saturated_liquid", 85.0)
    assert row["saturation_pressure"] == pytest.approx(78.8966, abs=1e-4)  # kPa
    rho, sigma = row["density"], row["density_uncertainty"]
    loss = target.objective.loss
    assert isinstance(loss, ChiSquared)
    assert float(loss(np.asarray(rho))) == pytest.approx(0.0, abs=1e-20)
    assert float(loss(np.asarray(rho + sigma))) == pytest.approx(1.0, rel=1e-9)


def test_density_target_at_a_declared_dataset_pressure_and_barostat_interval(tmp_path):
    targets = """
[[targets]]
name = "rho_w"
dataset = "fluids/water_iapws_1atm"
dataset_column = "density"
observable = "density"
loss = "chi2"
relative_uncertainty = 0.01
temperature = "285 K"
pressure = "1 atm"
timestep = "2 fs"
barostat_interval = "100 fs"
observable_options = { blocks = 4 }
system = { cells = 2, density = "1409.5 kg/m**3" }
gradient = { kind = "reweighting", frames = 20, stride = 10 }
"""
    target = _load(tmp_path, targets).targets[0]
    assert target.backend.barostat.frequency == 50  # 100 fs / 2 fs
    assert target.objective.observe.n_blocks == 4
    rho = _row("water_iapws_1atm", 285.0)["density"]
    assert rho == pytest.approx(999.5173, abs=1e-4)
    loss = target.objective.loss
    assert float(loss(np.asarray(rho))) == pytest.approx(0.0, abs=1e-20)
    assert float(loss(np.asarray(1.01 * rho))) == pytest.approx(1.0, rel=1e-9)


def test_density_target_from_a_user_csv_with_its_pressure(tmp_path):
    (tmp_path / "rho.csv").write_text("T,rho\n80,1400\n90,1380\n")
    spec = (
        '{ file = "rho.csv", x = "T", y = "rho", x_unit = "K", y_unit = "g/L", pressure = "2 bar" }'
    )
    targets = ARGON.replace('"fluids/argon_saturated_liquid"', spec).replace(
        'dataset_column = "density"\n', 'loss = "relative_error"\n'
    )
    targets = targets.replace('"0.788966 bar"', '"200 kPa"')
    target = _load(tmp_path, targets).targets[0]
    assert float(target.objective.loss(np.asarray(1390.0))) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "change, words",
    [
        # the other gradient strategies do not take a barostat
        (
            (
                '{ kind = "reweighting", frames = 20, stride = 10 }',
                '{ kind = "bptt", length = "50 fs" }',
            ),
            ["'rho'", "reweighting", "BPTT"],
        ),
        (
            (
                '{ kind = "reweighting", frames = 20, stride = 10 }',
                '{ kind = "truncated", segments = 2, segment_length = "50 fs", '
                'decorrelation = "50 fs" }',
            ),
            ["'rho'", "reweighting", "Truncated"],
        ),
        (('pressure = "0.788966 bar"\n', ""), ["'rho'", "missing required key 'pressure'"]),
        (('pressure = "0.788966 bar"', 'pressure = "0.5 nm"'), ["pressure", "nm"]),
        # the dataset has no value at that state point: pressure, then temperature
        (
            ('pressure = "0.788966 bar"', 'pressure = "50 bar"'),
            ["'rho'", "0.788966 bar", "P = 50 bar", "85 K"],
        ),
        (('temperature = "85 K"', 'temperature = "120 K"'), ["'rho'", "120", "84, 100"]),
        # a column that is not a density
        (
            ('dataset_column = "density"', 'dataset_column = "shear_viscosity"'),
            ["'rho'", "mPa*s", "not a density"],
        ),
    ],
)
def test_bad_density_targets_are_refused(tmp_path, change, words):
    old, new = change
    assert old in ARGON
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, ARGON.replace(old, new))
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_dataset_without_a_pressure_and_npt_keys_elsewhere_are_refused(tmp_path):
    (tmp_path / "rho.csv").write_text("T,rho\n80,1400\n90,1380\n")
    spec = '{ file = "rho.csv", x = "T", y = "rho", x_unit = "K", y_unit = "kg/m**3" }'
    targets = ARGON.replace('"fluids/argon_saturated_liquid"', spec).replace(
        'dataset_column = "density"\n', 'loss = "relative_error"\n'
    )
    with pytest.raises(ConfigError, match="'rho'.*states no pressure.*85 K"):
        _load(tmp_path, targets)
    (tmp_path / "rho.jdx").write_text("##TITLE=x\n")
    jcamp = targets.replace('file = "rho.csv"', 'file = "rho.jdx", pressure = "1 bar"')
    with pytest.raises(ConfigError, match="'rho'.*pressure applies to a CSV file"):
        _load(tmp_path, jcamp)
    p_sat = """
[[targets]]
name = "p"
dataset = "fluids/argon_vaporization"
dataset_column = "saturation_pressure"
observable = "pressure"
loss = "chi2"
relative_uncertainty = 1.0
temperature = "85 K"
pressure = "1 bar"
system = { cells = 2, density = "1409.5 kg/m**3" }
gradient = { kind = "reweighting", frames = 20, stride = 10 }
"""
    with pytest.raises(ConfigError, match="'p'.*pressure applies to observable 'density' only"):
        _load(tmp_path, p_sat)


@pytest.mark.slow  # 13 s on a busy 2-core CPU, mostly compilation
def test_density_target_evaluates_through_reweighting(tmp_path):
    """A density target built from the config: a few NPT frames of 32 LJ atoms through
    `Reweighting` give a density in kg/m³ with a finite gradient."""
    targets = ARGON.replace("frames = 20, stride = 10", "frames = 8, stride = 4") + (
        'barostat_interval = "10 fs"\nequilibration = "100 fs"\n'
    )
    cfg = _load(tmp_path, targets)
    target = cfg.targets[0]
    potential = cfg.potential
    params, static = eqx.partition(potential, eqx.is_inexact_array)
    saved = equilibrate(target, potential, jax.random.key(1))
    # the equilibration moved the box; the run starts in that box, not the configured one
    assert not np.allclose(saved["box"], np.asarray(target.system.box))
    state = init_state(target, potential, saved)
    np.testing.assert_array_equal(np.asarray(state.barostat.box), saved["box"])
    assert saved_box(state)["box"].shape == saved["box"].shape
    res = target.gradient(
        target.objective,
        params,
        static,
        backend=target.backend,
        system=target.system,
        state=state,
        key=jax.random.key(2),
    )
    assert res.observed.y_unit == "kg/m**3"
    rho = float(res.observed.y_magnitude)
    # within 20 % of the start: 32 atoms at 85 K, 32 volume moves of at most ±1 % in ln V
    assert 0.8 * 1409.5 < rho < 1.2 * 1409.5
    # NPT frames: the reference frames carry their own boxes, which the barostat moved
    boxes = np.asarray(res.cache.trajectory.box)  # [frame, 3] edges or [frame, 3, 3] rows
    volumes = np.abs(np.linalg.det(boxes)) if boxes.ndim == 3 else np.prod(boxes, axis=-1)
    assert volumes.shape == (8,) and np.ptp(volumes) > 0
    leaves = jax.tree.leaves(res.grad)
    assert leaves and all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    assert np.isfinite(float(res.loss))


def test_the_documented_density_target_loads(tmp_path):
    text = (Path(__file__).resolve().parents[1] / "docs" / "thermodynamic-targets.md").read_text()
    block = next(b for b in text.split("```toml")[1:] if 'observable = "density"' in b)
    target = _load(tmp_path, block.split("```")[0]).targets[0]
    assert target.backend.barostat.frequency == 25  # 125 fs at the default 5 fs
    assert target.equilibration_steps == 4000 and isinstance(target.objective.observe, Density)
