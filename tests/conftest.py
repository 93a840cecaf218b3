"""Test configuration: float64, strict dtype promotion, markers and hypothesis profiles.

x64 and strict promotion are switched on here, for the tests only; the package itself never
flips global JAX configuration.

Hypothesis profiles: `ci` (default, few examples, fast) and `thorough` (many examples),
selected with the environment variable `SPECTRINV_HYPOTHESIS_PROFILE=thorough`.

Systems and helpers shared by several test modules (the fcc argon set-up, `AllPairs`,
`HarmonicTrap`, synthetic dipole series, the `benchmarks` import) live in `_systems.py`;
test modules import from there, never from each other. Long physics runs are marked `slow`
and stay out of the default suite (`-m "not slow and not gpu and not datagen"`).
"""

import os

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("SPECTRINV_HYPOTHESIS_PROFILE", "ci"))

#: Per-dtype tolerances for comparing floating results.
TOLERANCES = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests loudly (reason shown with -ra) when JAX sees no GPU."""
    has_gpu = any(d.platform == "gpu" for d in jax.devices())
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a GPU (jax.devices() has none); run with -m gpu on CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)
