import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tidynamics
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

import observables as ob

finite = st.floats(-10, 10, allow_nan=False, width=64)


def series(n_min=2, n_max=40, cols=(1, 3)):
    return st.integers(n_min, n_max).flatmap(
        lambda n: st.integers(*cols).flatmap(lambda c: arrays(np.float64, (n, c), elements=finite))
    )


def scale(x):
    return 1.0 + float(np.max(np.abs(x))) ** 2


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 257])
def test_fft_matches_direct(rng, n, unbiased):
    a, b = rng.normal(size=(2, n, 3, 2))
    got = ob.correlate(a, b, unbiased=unbiased)
    want = ob.correlate_direct(a, b, unbiased=unbiased)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale(a))


def test_matches_tidynamics(rng):
    x = rng.normal(size=(1000, 3))
    y = rng.normal(size=(1000, 3))
    np.testing.assert_allclose(
        ob.correlate(x, sum_axes=(1,)), tidynamics.acf(x), rtol=0, atol=1e-12 * scale(x)
    )
    # tidynamics.correlation is two-sided over lags -(N-1)..(N-1), summed over components.
    np.testing.assert_allclose(
        ob.correlate(x, y, sum_axes=(1,), two_sided=True),
        tidynamics.correlation(x, y),
        rtol=0,
        atol=1e-12 * scale(x) * scale(y),
    )


@pytest.mark.parametrize("max_lag", [0, 1, 9, 63])
def test_short_max_lag_padding_is_exact(rng, max_lag):
    # the padding shrinks to N + max_lag: check that no wrapped-around terms leak in
    a, b = rng.normal(size=(2, 64, 2))
    got = ob.correlate(a, b, max_lag=max_lag, two_sided=True)
    pos = ob.correlate_direct(a, b, max_lag=max_lag)
    neg = ob.correlate_direct(b, a, max_lag=max_lag)
    want = np.concatenate([neg[:0:-1], pos])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale(a) * scale(b))


@pytest.mark.parametrize("batch_size", [None, 1, 5])
def test_reductions_and_batching(rng, batch_size):
    v = rng.normal(size=(50, 7, 3))
    direct = ob.correlate_direct(v, max_lag=20)
    got = ob.correlate(v, max_lag=20, sum_axes=(2,), mean_axes=(1,), batch_size=batch_size)
    np.testing.assert_allclose(got, direct.sum(-1).mean(-1), atol=1e-12 * scale(v))
    elementwise = ob.correlate(v, max_lag=20, batch_size=batch_size)
    np.testing.assert_allclose(elementwise, direct, atol=1e-12 * scale(v))
    per_atom = ob.correlate(v, max_lag=20, sum_axes=(-1,), batch_size=batch_size)
    np.testing.assert_allclose(per_atom, direct.sum(-1), atol=1e-12 * scale(v))


@given(series())
def test_zero_lag_is_mean_square(x):
    c = ob.correlate(x)
    np.testing.assert_allclose(c[0], np.mean(x**2, axis=0), atol=1e-12 * scale(x))


@given(series(), st.data())
def test_time_reversal_of_cross_correlation(a, data):
    b = data.draw(arrays(np.float64, a.shape, elements=finite))
    m = a.shape[0] - 1
    cab = ob.correlate(a, b, two_sided=True)
    cba = ob.correlate(b, a, two_sided=True)
    # C_ab(t) = C_ba(-t): the two-sided arrays are mirror images.
    np.testing.assert_allclose(cab, cba[::-1], atol=1e-12 * scale(a) * scale(b))
    np.testing.assert_allclose(cab[m:], ob.correlate(a, b), atol=1e-12 * scale(a) * scale(b))


@given(series(), st.data(), st.floats(-3, 3), st.floats(-3, 3))
def test_linearity(a, data, alpha, beta):
    b = data.draw(arrays(np.float64, a.shape, elements=finite))
    c = data.draw(arrays(np.float64, a.shape, elements=finite))
    lhs = ob.correlate(alpha * a + beta * b, c)
    rhs = alpha * ob.correlate(a, c) + beta * ob.correlate(b, c)
    tol = 1e-11 * (scale(a) + scale(b)) * scale(c) * (1 + abs(alpha) + abs(beta))
    np.testing.assert_allclose(lhs, rhs, atol=tol)


@given(series(n_min=3), st.floats(-100, 100))
def test_mean_subtracted_is_offset_invariant(x, offset):
    c1 = ob.correlate(x, subtract_mean=True)
    c2 = ob.correlate(x + offset, subtract_mean=True)
    np.testing.assert_allclose(c1, c2, atol=1e-10 * (scale(x) + offset**2))


def test_exponential_autocorrelation_of_ar1(rng):
    # AR(1) x_{n+1} = phi x_n + noise has C(k) = phi^k / (1 - phi^2) (unit noise variance).
    phi, n = 0.8, 200_000
    noise = rng.normal(size=n)
    x = np.empty(n)
    x[0] = noise[0] / np.sqrt(1 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    c = ob.correlate(x, max_lag=10)
    exact = phi ** np.arange(11) / (1 - phi**2)
    est = ob.block_average(x, 20, lambda blk: ob.correlate(blk, max_lag=10))
    assert np.all(np.abs(c - exact) < 5 * est.sem + 1e-3)


def test_jit_vmap_grad(rng):
    a = jnp.asarray(rng.normal(size=(30, 2)))
    f = jax.jit(lambda x: ob.correlate(x, max_lag=5, sum_axes=(1,)))
    np.testing.assert_allclose(f(a), ob.correlate(a, max_lag=5, sum_axes=(1,)))
    batch = jnp.stack([a, 2 * a])
    vm = jax.vmap(lambda x: ob.correlate(x, max_lag=5))(batch)
    np.testing.assert_allclose(vm[1], 4 * vm[0], rtol=1e-12)

    def loss(x):
        return jnp.sum(
            ob.correlate(x, max_lag=5, subtract_mean=True) ** 2 * jnp.arange(6.0)[:, None]
        )

    g = jax.grad(loss)(a)
    eps = 1e-6
    for idx in [(0, 0), (7, 1), (29, 0)]:
        d = jnp.zeros_like(a).at[idx].set(eps)
        fd = (loss(a + d) - loss(a - d)) / (2 * eps)
        assert float(g[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


def test_block_average(rng):
    x = rng.normal(size=(1000, 2)) + np.array([1.0, -2.0])
    est = ob.block_average(x, 10)
    np.testing.assert_allclose(est.mean, x.mean(axis=0), atol=1e-12)
    blocks = x.reshape(10, 100, 2).mean(axis=1)
    np.testing.assert_allclose(est.sem, blocks.std(axis=0, ddof=1) / np.sqrt(10), rtol=1e-10)
    with pytest.raises(ValueError, match="n_blocks"):
        ob.block_average(x, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(max_lag=10), "max_lag must be an int in"),
        (dict(max_lag=2.5), "max_lag must be an int"),
        (dict(sum_axes=(0,)), "axis 0 is time"),
        (dict(sum_axes=(1,), mean_axes=(1,)), "both sum_axes and mean_axes"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ob.correlate(np.zeros((5, 2)), **kwargs)
    with pytest.raises(ValueError, match="same shape"):
        ob.correlate(np.zeros((5, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize("window", [ob.NoWindow(), ob.Hann(), ob.Hann(ob.Quantity(50, "fs"))])
def test_windows_are_even_and_start_at_one(window):
    t = jnp.linspace(-0.1, 0.1, 21)
    w = window(t)
    np.testing.assert_allclose(w, w[::-1], atol=1e-15)
    assert float(w[10]) == pytest.approx(1.0)
    assert np.all(np.asarray(w) >= 0)


def test_window_shapes_and_units():
    t = jnp.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(
        ob.Exponential(ob.Quantity(1, "ps"))(t), np.exp(-np.array([0, 1, 2.0]))
    )
    np.testing.assert_allclose(
        ob.Gaussian(ob.Quantity(1000, "fs"))(t), np.exp(-0.5 * np.array([0, 1, 4.0]))
    )
    np.testing.assert_allclose(ob.Hann(ob.Quantity(2, "ps"))(t), [1.0, 0.5, 0.0], atol=1e-15)
    with pytest.raises(ob.UnitError, match="without units"):
        ob.Gaussian(1.0)
    with pytest.raises(ob.UnitError, match="nm"):
        ob.Exponential(ob.Quantity(1.0, "nm"))
    with pytest.raises(ValueError, match="positive"):
        ob.Hann(ob.Quantity(0.0, "ps"))
