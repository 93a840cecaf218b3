"""The planted-truth Lennard-Jones fit (docs/examples/lj_planted): its configuration with a
pressure target, and what the uncertainty analysis compares for a pressure."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from observables import Pressure, PressureResult, Quantity
from spectrinv.fit import load_config
from spectrinv.fit._sensitivity import compared_values
from spectrinv.losses import ChiSquared, Reference

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "lj_planted"


def test_config_with_a_pressure_target():
    """`observable = "pressure"` builds `Pressure` with the stress recorder, and a χ² against
    the value the CSV gives at the target's temperature (its P and P_err columns)."""
    cfg = load_config(EXAMPLE / "fit.toml")
    rdf, pressure = cfg.targets
    assert isinstance(pressure.objective.observe, Pressure)
    assert "stress" in [r.field for r in pressure.objective.record]
    loss = pressure.objective.loss
    assert isinstance(loss, ChiSquared) and not loss.reference.is_curve
    t, p, p_err = np.loadtxt(EXAMPLE / "pressure_ref.csv", delimiter=",", skiprows=2)
    assert t == 110.0
    np.testing.assert_allclose(float(loss.reference.y), p)
    np.testing.assert_allclose(float(loss.sigma), p_err)
    # χ² of a prediction with its own error: (P - P_ref)² / (σ_ref² + σ_sim²)
    pred = PressureResult(jnp.asarray(p + 10.0), jnp.asarray(3.0))
    np.testing.assert_allclose(float(loss(pred)), 100.0 / (p_err**2 + 9.0), rtol=1e-12)
    assert cfg.targets[0].objective.loss.reference.x[0] > 0.3 - 1e-12  # g(r) from 0.3 nm


def test_compared_values_of_a_pressure_value():
    """For a χ² of a value the analysis uses the data's σ (not the relative-error weights)
    and the prediction's own standard error as the simulation noise."""
    loss = ChiSquared(
        Reference(Quantity(1000.0, "bar"), Pressure(), uncertainty=Quantity(8.0, "bar"))
    )
    (c,) = compared_values(loss, PressureResult(jnp.asarray(1020.0), jnp.asarray(6.0)), None, "p")
    np.testing.assert_allclose(c.values, [1020.0])
    np.testing.assert_allclose(c.data_sigma, [8.0])
    np.testing.assert_allclose(c.weights, [1 / 64.0])
    np.testing.assert_allclose(c.sim_sigma, [6.0])
    (n,) = compared_values(loss, PressureResult(jnp.asarray(1020.0), None), None, "p")
    assert n.sim_sigma is None
    from spectrinv.fit._sensitivity import _sigmas

    sources: set = set()
    (s,) = _sigmas([c], None, sources)
    np.testing.assert_allclose(s, [10.0])  # √(8² + 6²)
