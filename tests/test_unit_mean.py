"""`unit_mean`: the mean over independent units (segments, replicas) of observable results,
with the error bar of the mean (spread of the units / √n), not the mean of the units'
errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import RDFResult, Spectrum
from spectrinv.gradients import tree_mean, unit_mean

N_UNITS = 4


def _batched_results():
    """Four units: an RDF (g known per unit, block errors 0.5 each) and a spectrum (block
    errors 0.1 each) in a dict with a plain array. Per bin, g over the units is
    (1, 2, 3, 6) × (bin + 1): mean 3 (bin + 1), sample std √(14/3) (bin + 1)."""
    scale = jnp.asarray([1.0, 2.0, 3.0, 6.0])
    bins = jnp.arange(1.0, 4.0)
    g = scale[:, None] * bins[None, :]
    rdf = RDFResult(
        edges=jnp.broadcast_to(jnp.arange(4.0), (N_UNITS, 4)),
        g=g,
        partner_density=jnp.full(N_UNITS, 2.0),
        number_density=jnp.full(N_UNITS, 2.0),
        g_error=jnp.full((N_UNITS, 3), 0.5),
    )
    spectrum = jax.vmap(
        lambda y: Spectrum.from_arrays(
            jnp.arange(3.0), y, x_unit="1/cm", y_unit="cm", error=jnp.full(3, 0.1)
        )
    )(-g)
    return {"rdf": rdf, "ir": spectrum, "plain": scale}


def test_error_of_the_mean_is_the_spread_over_units():
    batched = _batched_results()
    out = unit_mean(batched)
    bins = np.arange(1.0, 4.0)
    expected_error = np.sqrt(14.0 / 3.0) * bins / np.sqrt(N_UNITS)  # std(ddof=1) / √n
    np.testing.assert_allclose(out["rdf"].g, 3.0 * bins, rtol=1e-14)
    np.testing.assert_allclose(out["rdf"].error_magnitude, expected_error, rtol=1e-12)
    np.testing.assert_allclose(out["ir"].y_magnitude, -3.0 * bins, rtol=1e-14)
    np.testing.assert_allclose(out["ir"].error_magnitude, expected_error, rtol=1e-12)
    assert float(out["plain"]) == pytest.approx(3.0)
    assert out["ir"].y_unit == "cm"
    # tree_mean, the plain leaf-wise mean, gives the error of one unit instead
    np.testing.assert_allclose(tree_mean(batched)["rdf"].error_magnitude, 0.5)


def test_unit_mean_edge_cases():
    batched = _batched_results()
    one = jax.tree.map(lambda x: x[:1], batched)
    np.testing.assert_allclose(unit_mean(one)["rdf"].error_magnitude, 0.5)  # n = 1: kept
    no_error = {"rdf": RDFResult(batched["rdf"].edges, batched["rdf"].g, 1.0, 1.0, None)}
    assert unit_mean(no_error)["rdf"].error_magnitude is None


def test_error_of_the_mean_is_not_differentiated():
    def f(scale):
        b = _batched_results()
        rdf = RDFResult(b["rdf"].edges, scale[:, None] * b["rdf"].g, 1.0, 1.0, b["rdf"].g_error)
        out = unit_mean(rdf)
        return jnp.sum(out.error_magnitude), jnp.sum(out.g)

    d_err = jax.grad(lambda s: f(s)[0])(jnp.ones(N_UNITS))
    d_g = jax.grad(lambda s: f(s)[1])(jnp.ones(N_UNITS))
    np.testing.assert_array_equal(d_err, 0.0)
    np.testing.assert_allclose(d_g, np.array([1.0, 2.0, 3.0, 6.0]) * 6.0 / N_UNITS)
