"""Test configuration: float64, strict dtype promotion, markers and hypothesis profiles.

x64 and strict promotion are switched on here, for the tests only; the package itself never
flips global JAX configuration. Compilation is made cheaper for the tests (LLVM passes off,
one on-disk compilation cache per session; see below); results agree to rounding.

Hypothesis profiles: `ci` (default, few examples, fast) and `thorough` (many examples),
selected with the environment variable `SPECTRINV_HYPOTHESIS_PROFILE=thorough`.

Systems and helpers shared by several test modules (the fcc argon set-up, `AllPairs`,
`HarmonicTrap`, synthetic dipole series, the `benchmarks` import) live in `_systems.py`;
test modules import from there, never from each other. Long physics runs are marked `slow`
and stay out of the default suite (`-m "not slow and not gpu and not datagen"`).
"""

import atexit
import os
import shutil
import tempfile

#: Fast compilation for the tests (set before JAX starts, inherited by the subprocesses that
#: tests start): LLVM's own optimisation passes are off (`--xla_backend_optimization_level=0`,
#: no expensive passes) and fused kernels are emitted by XLA's older, cheaper CPU emitters
#: (`--xla_cpu_use_fusion_emitters=false`). XLA's graph-level passes (fusion, simplification)
#: still run and no fast-math is enabled: results agree with the default build to rounding
#: (400 Langevin steps of 108 argon atoms: positions differ by at most 9e-16 nm, from a
#: different operation order), and compile time, most of this suite's time, drops by about
#: a third.
#: `SPECTRINV_TEST_FULL_OPTIMIZATION=1` turns it off.
FAST_COMPILE_FLAGS = (
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    "--xla_cpu_use_fusion_emitters=false"
)
if os.environ.get("SPECTRINV_TEST_FULL_OPTIMIZATION") != "1" and (
    FAST_COMPILE_FLAGS not in os.environ.get("XLA_FLAGS", "")
):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAGS}".strip()

#: One persistent compilation cache per test session, shared by the xdist workers and the
#: subprocesses (CLI runs, fake-device children): many tests build the same MD programs with
#: new closures, which JAX's in-memory cache cannot reuse but the on-disk cache (keyed on the
#: compiled program) can. Created empty by the first process of the session (the pytest
#: controller, whose environment the workers inherit) and removed when it exits; a cache
#: directory the user set (`JAX_COMPILATION_CACHE_DIR`) is used as it is.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="spectrinv-test-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

import jax  # noqa: E402

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
