"""The TOML configuration maps onto the library's objects: a target's `weight` is a scalar
weight of its loss (the one way losses combine), `normalisation` reaches the loss, and the
loss keys are checked before any simulation."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from spectrinv.fit import ConfigError, FitConfig, parse_config
from spectrinv.losses import Absolute, AreaNormalised, LossSum, MeanSquaredError, PeakNormalised


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
                "name": "rdf",
                "dataset": {
                    "file": "gr.csv",
                    "x": "r",
                    "y": "g",
                    "x_unit": "nm",
                    "y_unit": "dimensionless",
                },
                "observable": "rdf",
                "loss": "mse",
                "temperature": "90 K",
                "system": {"cells": 2, "density": "1409.5 kg/m**3"},
                "observable_options": {"r_max": "0.55 nm", "bins": 40},
                "gradient": {"kind": "bptt", "length": "0.05 ps"},
                **target,
            }
        ],
    }


@pytest.fixture
def folder(tmp_path):
    assert jax.config.jax_enable_x64
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    lines = ["r,g"] + [f"{a:.6f},{b:.6f}" for a, b in zip(r, g, strict=True)]
    (tmp_path / "gr.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def _loss(config: FitConfig):
    return config.targets[0].objective.loss


def test_target_weight_is_a_scalar_weight_of_its_loss(folder):
    plain = _loss(parse_config(_raw(), base=folder))
    assert isinstance(plain, MeanSquaredError)
    weighted = _loss(parse_config(_raw(weight=0.25), base=folder))
    assert isinstance(weighted, LossSum) and weighted.weights == (0.25,)
    g = np.ones(40)
    assert float(weighted(g)) == pytest.approx(0.25 * float(plain(g)), rel=1e-15)
    assert not hasattr(parse_config(_raw(weight=0.25), base=folder).targets[0], "weight")
    with pytest.raises(ConfigError, match=r"weight must be a number >= 0, got -1"):
        parse_config(_raw(weight=-1), base=folder)


def test_normalisation_reaches_the_loss(folder):
    default = _loss(parse_config(_raw(), base=folder))
    assert isinstance(default.normalisation, Absolute)
    area = _loss(parse_config(_raw(normalisation="area"), base=folder))
    assert isinstance(area.normalisation, AreaNormalised)
    peak = _loss(parse_config(_raw(normalisation="peak"), base=folder))
    assert isinstance(peak.normalisation, PeakNormalised)
    g = 2.0 * (1.0 + 0.1 * np.arange(40) / 40)
    assert float(area(g)) != pytest.approx(float(default(g)))
    with pytest.raises(ConfigError, match="did you mean 'area'"):
        parse_config(_raw(normalisation="aera"), base=folder)
    with pytest.raises(ConfigError, match="normalisation applies to loss 'mse' only"):
        parse_config(_raw(loss="wasserstein", normalisation="area"), base=folder)
