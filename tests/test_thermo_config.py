"""Thermodynamic `[[targets]]` of a fit configuration: `potential_energy`,
`enthalpy_of_vaporization`, `dielectric_constant` map onto their observables, recorders and
losses; bad input is refused when the config is read, naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from observables import DielectricConstant, EnthalpyOfVaporization, PotentialEnergy, Quantity
from spectrinv.backends import Energy, PotentialDipole
from spectrinv.datasets import load_dataset
from spectrinv.fit import ConfigError, parse_config
from spectrinv.fit._config_objective import build_observable
from spectrinv.losses import ChiSquared, RelativeError


def _raw(**target):
    return {
        "fit": {"steps": 1, "precision": "float64"},
        "model": {
            "kind": "lennard_jones",
            "sigma": "3.4 angstrom",
            "epsilon": "120 K",
            "cutoff": "0.55 nm",
        },
        "targets": [
            {
                "name": "dh_vap",
                "dataset": "fluids/argon_vaporization",
                "observable": "enthalpy_of_vaporization",
                "loss": "chi2",
                "relative_uncertainty": 0.02,
                "temperature": "85 K",
                "system": {"cells": 2, "density": "1409.5 kg/m**3"},
                "gradient": {"kind": "reweighting", "frames": 20, "stride": 10},
                **target,
            }
        ],
    }


def test_enthalpy_of_vaporization_target_against_coolprop_argon(tmp_path):
    target = parse_config(_raw(), base=tmp_path).targets[0]
    obs, loss = target.objective.observe, target.objective.loss
    assert isinstance(obs, EnthalpyOfVaporization) and obs.atoms_per_molecule == 1
    assert obs.gas_energy == 0.0 and obs.temperature == 85.0
    assert any(isinstance(r, Energy) for r in target.objective.record)
    assert isinstance(loss, ChiSquared)
    # at the data value the χ² is 0; one 2 % standard deviation away it is 1 (per point)
    dh = load_dataset("fluids/argon_vaporization").at(Quantity(85, "K"))[0].m_as("kJ/mol")
    assert dh == pytest.approx(6.5055, abs=1e-3)
    assert float(loss(np.asarray(dh))) == pytest.approx(0.0, abs=1e-20)
    assert float(loss(np.asarray(1.02 * dh))) == pytest.approx(1.0, rel=1e-9)


def test_potential_energy_target_from_a_user_file(tmp_path):
    (tmp_path / "u.csv").write_text("T,u\n80,-5.9\n90,-5.6\n")
    spec = {"file": "u.csv", "x": "T", "y": "u", "x_unit": "K", "y_unit": "kJ/mol"}
    raw = _raw(observable="potential_energy", dataset=spec, loss="relative_error")
    del raw["targets"][0]["relative_uncertainty"]
    raw["targets"][0]["temperature"] = "90 K"
    target = parse_config(raw, base=tmp_path).targets[0]
    assert isinstance(target.objective.observe, PotentialEnergy)
    assert isinstance(target.objective.loss, RelativeError)
    assert float(target.objective.loss(np.asarray(-5.6))) == pytest.approx(0.0, abs=1e-20)


def test_water_observables_are_built_with_their_recorders():
    t, frame = Quantity(298.15, "K"), Quantity(1, "fs")
    eps, record = build_observable("dielectric_constant", {}, t, "water", frame, "t")
    assert isinstance(eps, DielectricConstant) and eps.subtract_mean is False
    assert any(isinstance(r, PotentialDipole) for r in record)  # the model's own charges
    u, record = build_observable("potential_energy", {"blocks": 4}, t, "water", frame, "t")
    assert u.atoms_per_molecule == 3 and u.n_blocks == 4
    assert any(isinstance(r, Energy) for r in record)
    opts = {"gas_energy": "3.7 kJ/mol"}
    dh, _ = build_observable("enthalpy_of_vaporization", opts, t, "water", frame, "t")
    assert dh.gas_energy == pytest.approx(3.7) and dh.atoms_per_molecule == 3


def test_bad_thermodynamic_targets_are_refused(tmp_path):
    t, frame = Quantity(298.15, "K"), Quantity(1, "fs")
    with pytest.raises(ConfigError, match="needs gas_energy"):
        build_observable("enthalpy_of_vaporization", {}, t, "water", frame, "t")
    with pytest.raises(ConfigError, match="gas_energy.*'3.7 nm' has unit"):
        build_observable(
            "enthalpy_of_vaporization", {"gas_energy": "3.7 nm"}, t, "water", frame, "t"
        )
    with pytest.raises(ConfigError, match="needs a model with charges"):
        build_observable("dielectric_constant", {}, t, "lennard_jones", frame, "t")
    with pytest.raises(ConfigError, match="unknown key 'block'"):
        build_observable("potential_energy", {"block": 3}, t, "water", frame, "t")
    # the dataset does not reach the state point (84-100 K)
    with pytest.raises(ConfigError, match="dh_vap") as err:
        parse_config(_raw(temperature="120 K"), base=tmp_path)
    assert "120" in str(err.value)
    # units of the dataset column and of the observable do not match: both named
    with pytest.raises(ConfigError, match="kg/m") as err:
        parse_config(_raw(dataset_column="density"), base=tmp_path)
    assert "kJ/mol" in str(err.value)
