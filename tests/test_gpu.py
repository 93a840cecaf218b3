"""On a GPU: the backend places its arrays there, an MD run and its gradient run there in
float32 and float64 and agree with the same computation on the CPU, and a fit step runs.

Deselected by the default test command (`-m "not slow and not gpu ..."`); run with
`pytest -m gpu tests/test_gpu.py` on a machine where `jax.devices("gpu")` is not empty
(`pip install 'spectrinv[cuda]'`). Without a GPU the conftest skips them with the reason.

Tolerances, GPU vs CPU, for the same inputs and keys: the programs differ only in the
order of floating-point reductions, fused multiply-adds and the last bit of transcendental
functions, a few units in the last place per force evaluation that the dynamics carry on
(LJ argon, 108 atoms, 90 K, 80 steps of 4 fs from the lattice). Measured on the CPU: a
1-ulp relative change of every starting position changes the final positions by
1.2e-7 nm (float32) / 2.2e-16 nm (float64), the loss by 2.8e-7 / 8.4e-16 and the
gradient by 6.5e-6 / 2.2e-15 relative: no amplification worth the name over this run.
The checks allow a hundred to a thousand times that: float64 positions within 1e-11 nm,
loss and gradient within 1e-9 relative; float32 positions within 5e-5 nm, loss and
gradient within 5e-3 relative.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import argon

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions, VelocityVerlet
from spectrinv.fit import Target, fit
from spectrinv.gradients import BPTT, Objective

pytestmark = pytest.mark.gpu

TOL = {
    "float64": dict(positions=1e-11, rtol=1e-9),
    "float32": dict(positions=5e-5, rtol=5e-3),
}


def _device(platform: str):
    return jax.devices(platform)[0]


def _msd(traj):
    """Mean squared displacement over the run (nm²): depends on σ and ε through the forces."""
    x = traj.positions
    return jnp.mean(jnp.sum((x[-1] - x[0]) ** 2, axis=-1))


def _problem(dtype: str):
    """108 argon atoms (fcc lattice) and a force-shifted LJ, in `dtype`; built inside a
    `jax.default_device` block, so their arrays live on that device."""
    pos, system, lj = argon(n=3, cutoff=0.85, dtype=jnp.dtype(dtype))
    return pos.astype(dtype), system, lj


def _md_and_gradient(platform: str, dtype: str) -> dict:
    """Sample 40 steps (host-checked chunks), then the value and gradient w.r.t. σ and ε
    of the MSD over 40 more steps through `backend.run`, all on `platform`."""
    device = _device(platform)
    with jax.default_device(device):
        pos, system, lj = _problem(dtype)
        backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
        state = backend.init(
            lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(0)
        )
        traj, state = backend.sample(lj, system, state, jax.random.key(1), 40, stride=10)
        params, static = eqx.partition(lj, eqx.is_inexact_array)

        @eqx.filter_jit
        def value_and_grad(params, state):
            def loss(p):
                pot = eqx.combine(p, static)
                run, _, overflowed = backend.run(
                    pot, system, state, jax.random.key(2), 40, stride=10, record=(Positions(),)
                )
                return _msd(run), overflowed

            return jax.value_and_grad(loss, has_aux=True)(params)

        (value, overflowed), grad = value_and_grad(params, state)
    return {
        "devices": {*state.positions.devices(), *traj.positions.devices()},
        "dtype": state.positions.dtype,
        "positions": np.asarray(state.positions),
        "overflowed": bool(overflowed),
        "loss": float(value),
        "grad": np.array([float(grad.sigma), float(grad.epsilon)]),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_md_step_and_gradient_run_on_the_gpu_and_agree_with_the_cpu(dtype):
    gpu = _md_and_gradient("gpu", dtype)
    cpu = _md_and_gradient("cpu", dtype)
    assert gpu["devices"] == {_device("gpu")}, gpu["devices"]
    assert gpu["dtype"] == jnp.dtype(dtype)
    assert not gpu["overflowed"] and not cpu["overflowed"]
    assert np.all(np.isfinite(gpu["grad"])) and np.all(gpu["grad"] != 0)
    tol = TOL[dtype]
    np.testing.assert_allclose(gpu["positions"], cpu["positions"], rtol=0, atol=tol["positions"])
    np.testing.assert_allclose(gpu["loss"], cpu["loss"], rtol=tol["rtol"])
    np.testing.assert_allclose(gpu["grad"], cpu["grad"], rtol=tol["rtol"])


def _fit_one_step(platform: str, folder) -> list[float]:
    device = _device(platform)
    with jax.default_device(device):
        pos, system, lj = _problem("float64")
        backend = JaxMDBackend(Langevin(Quantity(4, "fs"), Quantity(90, "K"), Quantity(5, "1/ps")))
        target = Target(
            "msd",
            Objective(_msd, lambda msd: (msd - 0.01) ** 2, (Positions(),)),
            system,
            Quantity(pos, "nm"),
            backend,
            BPTT(n_steps=40, stride=10),
            Quantity(90, "K"),
            equilibration_steps=40,
        )
        result = fit(
            lj, [target], steps=1, output_dir=folder, trainable=["epsilon"], seed=1,
            progress=False, plots=False, uncertainty=False,
        )  # fmt: skip
    assert np.isfinite(result.final_loss)
    return [row["loss"] for row in result.history]


def test_a_fit_step_runs_on_the_gpu_and_matches_the_cpu(tmp_path):
    gpu = _fit_one_step("gpu", tmp_path / "gpu")
    cpu = _fit_one_step("cpu", tmp_path / "cpu")
    assert len(gpu) == 2  # the step and the final evaluation
    np.testing.assert_allclose(gpu, cpu, rtol=1e-8)  # float64, Langevin noise from the same keys
