"""`SmoothnessPrior`: value and gradient against analytic cases; its place in `fit`'s loss."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.fit import SmoothnessPrior
from spectrinv.fit._loop import evaluate
from spectrinv.potentials import TabulatedPair

jax.config.update("jax_enable_x64", True)


def table(values) -> TabulatedPair:
    return TabulatedPair(
        Quantity(np.asarray(values, float), "kJ/mol"), Quantity(0.3, "nm"), Quantity(0.8, "nm")
    )


def test_quadratic_knots_give_constant_second_difference():
    # y_k = a k²: every second difference is 2a, so P = w (2a / s)²
    a, s, w = 0.03, 0.2, 2.5
    pot = table(a * np.arange(10.0) ** 2)
    prior = SmoothnessPrior("values", Quantity(s, "kJ/mol"), weight=w)
    assert float(prior(pot)) == pytest.approx(w * (2 * a / s) ** 2, rel=1e-12)
    # a straight line costs nothing
    assert float(prior(table(1.0 - 0.1 * np.arange(10.0)))) == pytest.approx(0.0, abs=1e-20)


def test_scale_unit_is_converted():
    pot = table(0.03 * np.arange(10.0) ** 2)
    kj = SmoothnessPrior("values", Quantity(0.2, "kJ/mol"))
    kcal = SmoothnessPrior("values", Quantity(0.2 / 4.184, "kcal/mol"))
    assert float(kj(pot)) == pytest.approx(float(kcal(pot)), rel=1e-9)


def test_gradient_is_analytic_and_first_skips_the_core():
    rng = np.random.default_rng(0)
    y = rng.normal(size=12)
    s, first = 0.5, 3
    prior = SmoothnessPrior("values", Quantity(s, "kJ/mol"), first=first)
    # analytic: P = |D y|² / (M s²) with D the second-difference rows centred at k >= first
    n = y.size
    d = np.zeros((n - 1 - first, n))
    for row, k in enumerate(range(first, n - 1)):
        d[row, k - 1 : k + 2] = (1.0, -2.0, 1.0)
    m = d.shape[0]
    assert float(prior(table(y))) == pytest.approx(np.sum((d @ y) ** 2) / (m * s**2), rel=1e-12)
    pot = table(y)
    grad = jax.grad(lambda v: prior(eqx.tree_at(lambda t: t.values, pot, v)))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(grad), 2 * d.T @ (d @ y) / (m * s**2), rtol=1e-10)
    assert np.all(np.asarray(grad)[: first - 1] == 0)  # knots left of the penalised range


def test_fit_evaluation_adds_prior_value_and_gradient():
    y = np.linspace(0, 1, 8) ** 3
    pot = table(y)
    prior = SmoothnessPrior("values", Quantity(0.1, "kJ/mol"))
    params, static = eqx.partition(pot, eqx.is_inexact_array)
    total, grads, row, *_ = evaluate([], params, static, {}, {}, jax.random.key(0), prior)
    assert total == pytest.approx(float(prior(pot)))
    assert row["prior"] == pytest.approx(total)
    expected = jax.grad(lambda v: prior(eqx.tree_at(lambda t: t.values, pot, v)))(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(grads.values), np.asarray(expected), rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("values", 0.2), {}, "unit"),
        (("values", Quantity(-0.2, "kJ/mol")), {}, "positive"),
        (("values", Quantity(0.2, "kJ/mol")), {"first": 0}, "first"),
        (("values", Quantity(0.2, "kJ/mol")), {"weight": -1}, "weight"),
    ],
)
def test_bad_arguments(args, kwargs, match):
    with pytest.raises(Exception, match=match):
        SmoothnessPrior(*args, **kwargs)


def test_unknown_parameter_and_too_few_knots():
    with pytest.raises(KeyError, match="no parameter 'table'"):
        SmoothnessPrior("table", Quantity(0.2, "kJ/mol"))(table(np.zeros(5)))
    with pytest.raises(ValueError, match="at least 7 knots"):
        SmoothnessPrior("values", Quantity(0.2, "kJ/mol"), first=5)(table(np.zeros(5)))
