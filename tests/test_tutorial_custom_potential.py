"""docs/tutorial-custom-potential.md: its code runs and what the page states holds.

The fast test runs the page's first three blocks (the potential, the crystal, the gradient
check); the slow one runs the whole page (MD and reweighting compile for about a minute of
CPU) and checks the reweighting gradient against a finite difference on the same frames.
"""

from __future__ import annotations

import equinox as eqx
import numpy as np
import pytest
from _docs_code import python_blocks, run_page


def test_page_layout_the_fast_test_relies_on():
    blocks = python_blocks("tutorial-custom-potential.md")
    assert "class SecondMoment(AbstractPotential)" in blocks[0]
    assert "fcc_lattice" in blocks[1] and "jax.grad" in blocks[2]
    assert "backend.sample" in blocks[3]


def test_the_potential_the_crystal_and_the_gradient_check(tmp_path):
    ns = run_page("tutorial-custom-potential.md", tmp_path, blocks=3)
    energy_ev = ns["energy"].m_as("eV * avogadro_constant")
    assert abs(energy_ev - (-3.359)) < 5e-4  # the value printed on the page
    grad, fd = float(ns["grad"].xi), float(ns["finite_difference"])
    assert abs(grad - fd) < 1e-4 * abs(fd)
    # U is linear in xi: dU/dxi = -sum_i sqrt(rho_i), with 12 neighbours at ~r0 each
    assert abs(grad / (-32 * np.sqrt(12)) - 1) < 0.01
    assert float(np.abs(ns["forces"]).max()) < 1e-2  # kJ/mol/nm, float32 round-off


@pytest.mark.slow
def test_the_whole_page_and_the_reweighting_gradient(tmp_path):
    ns = run_page("tutorial-custom-potential.md", tmp_path)
    result, after = ns["result"], ns["after"]
    assert float(after.loss) < float(result.loss)
    assert after.diagnostics["ess"] > 0.6
    # dL/dxi of the reweighted estimate against a central difference on the same frames
    reweighting, objective, params, static = (
        ns["reweighting"],
        ns["objective"],
        ns["params"],
        ns["static"],
    )
    h = 1e-3 * float(params.xi)

    def loss_at(xi):
        p = eqx.tree_at(lambda m: m.xi, params, xi)
        est = reweighting.estimate(objective, p, static, system=ns["system"], cache=ns["cache"])
        return float(est.loss)

    fd = (loss_at(params.xi + h) - loss_at(params.xi - h)) / (2 * h)
    assert abs(float(result.grad.xi) - fd) < 0.02 * abs(fd)
