"""docs/jaxmd-energies.md: its code runs and the values it states hold.

The fast test runs the first block (building the adapter: the unit conversion the page
prints); the slow one runs the whole page (MD, BPTT, Stillinger–Weber, PME water).
"""

from __future__ import annotations

import numpy as np
import pytest
from _docs_code import run_page


def test_the_adapter_and_its_units(tmp_path):
    ns = run_page("jaxmd-energies.md", tmp_path, blocks=1)
    lj = ns["lj"]
    np.testing.assert_allclose(lj.params["sigma"], 0.3405, rtol=1e-12)
    np.testing.assert_allclose(lj.params["epsilon"], 0.99607, rtol=1e-5)
    np.testing.assert_allclose(lj.jaxmd_params()["sigma"], 3.405, rtol=1e-12)
    np.testing.assert_allclose(lj.jaxmd_params()["epsilon"], 0.010324, rtol=1e-4)


@pytest.mark.slow
def test_the_whole_page(tmp_path):
    ns = run_page("jaxmd-energies.md", tmp_path)
    assert ns["trajectory"].positions.shape == (10, 108, 3)
    grads = ns["result"].grad.params
    assert all(np.isfinite(float(g)) and float(g) != 0 for g in grads.values())
    pme = ns["pme"]
    assert abs(pme.alpha - 3.77) < 0.005 and pme.grid == (30, 30, 30)
