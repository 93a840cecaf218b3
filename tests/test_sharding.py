"""`JaxMDBackend(parallel=Sharded())`: replicas split over devices and processes give the
one-device result, for plain runs and for every gradient strategy.

The main pytest process has already initialised JAX with one CPU device, so the multi-device
checks run in child processes started from this file (`python tests/test_sharding.py
SCENARIO ...`) with `XLA_FLAGS=--xla_force_host_platform_device_count=N`:

- `two-devices` (default suite): 2 fake CPU devices; the sharded `run` of 2 replicas × 32
  LJ atoms and its gradient w.r.t. ε equal the batched run on one device; a replica count
  that does not divide is refused.
- `four-devices` (marked slow): 4 fake CPU devices in one process. Sharded `sample`
  (Langevin: forces and noise), sharded `run` and its gradient w.r.t. ε, compared with the
  batched run on one device and with `jax.vmap` over replicas on one device; the compiled
  chunk is inspected for the collectives it contains; an overflow on one device is
  recovered.
- `four-devices-strategies` (marked slow): BPTT, Adjoint, Truncated and Reweighting with
  their replicas on 4 fake CPU devices, compared with one device.
- `multi-host` (marked slow): 2 processes × 2 CPU devices joined by
  `jax.distributed.initialize` on localhost (gloo collectives); the mesh spans the 4 devices
  of both processes; the same Langevin `sample` (with the overflow on process 1) and the
  gradient, gathered from both processes, are compared with the one-device computation.

The one-device references are computed here, in the pytest process (one CPU device), while
the children run.

The children save raw arrays; every comparison is made here.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax

if __name__ == "__main__" and sys.argv[1:2] == ["multi-host"]:
    # A multi-host child joins the others *before* importing spectrinv.backends: jax-md
    # creates arrays when it is imported, which starts the XLA backend, and
    # jax.distributed.initialize must come before that (docs/scaling.md).
    jax.distributed.initialize(
        coordinator_address=f"localhost:{sys.argv[3]}",
        num_processes=2,
        process_id=int(sys.argv[2]),
        initialization_timeout=600,
    )

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _systems import argon  # noqa: E402

from observables import Quantity  # noqa: E402
from spectrinv.backends import JaxMDBackend, Langevin, Sharded, VelocityVerlet  # noqa: E402

RTOL = 1e-12  # float64; the sharded runs are expected to agree to rounding (they are exact)


# ---------------------------------------------------------------------- shared set-up
def kinetic_loss(backend, lj, system, n_steps=40):
    """(ε, state) -> (mean kinetic energy over frames and replicas, (positions, overflowed)).

    The state is an argument, not a closure: on several hosts a jitted function may not
    close over a global array (JAX refuses to embed it as a constant)."""

    def loss(eps, state):
        pot = eqx.tree_at(lambda p: p.epsilon, lj, eps)
        traj, _, overflowed = backend.run(pot, system, state, jax.random.key(3), n_steps, stride=10)
        ke = 0.5 * jnp.sum(system.masses[:, None] * traj.velocities**2, axis=(-2, -1))
        return jnp.mean(ke), (traj.positions, overflowed)

    return loss


def vv_state(backend, lj, system, pos, n_replicas=4):
    return backend.init(
        lj,
        system,
        Quantity(np.stack([pos] * n_replicas), "nm"),
        temperature=Quantity(120, "K"),
        key=jax.random.key(2),
    )


def small_run(parallel=None) -> tuple[dict, dict]:
    """Value, gradient w.r.t. ε and trajectory of the kinetic loss through 20 velocity
    Verlet steps of 2 replicas × 32 LJ atoms on the backend's devices (`parallel`), the
    central finite difference of the same compiled function, and the message for 3
    replicas. Returns `(results, meta)`."""
    pos, system, lj = argon(n=2, cutoff=0.55)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), parallel=parallel)
    state = vv_state(backend, lj, system, pos, n_replicas=2)
    vg = jax.jit(jax.value_and_grad(kinetic_loss(backend, lj, system, n_steps=20), has_aux=True))
    (value, (positions, overflowed)), grad = vg(lj.epsilon, state)
    h = 1e-6
    fd = (vg(lj.epsilon + h, state)[0][0] - vg(lj.epsilon - h, state)[0][0]) / (2 * h)
    results = dict(
        loss=np.asarray(value),
        grad=np.asarray(grad),
        fd_grad=np.asarray(fd),
        positions=np.asarray(positions),
        overflowed=np.asarray(overflowed),
    )
    sharding = positions.sharding
    meta = dict(devices=len(sharding.device_set), spec=str(getattr(sharding, "spec", None)))
    try:
        backend.init(lj, system, Quantity(np.stack([pos] * 3), "nm"))
        meta["error"] = None
    except ValueError as err:
        meta["error"] = str(err)
    return results, meta


def strategy_gradients(parallel=None) -> tuple[dict, dict]:
    """Loss and dL/dε of every gradient strategy (BPTT, Adjoint, Truncated, Reweighting) for
    32 LJ atoms with 4 replicas (Truncated: 4 segments), on the backend's devices
    (`parallel`). Returns `(results, meta)`; `meta` says where the replicas ran."""
    from spectrinv.gradients import BPTT, Adjoint, Objective, Reweighting, Truncated

    pos, system, lj = argon(n=2, cutoff=0.55)
    spec = eqx.tree_at(lambda p: p.epsilon, jax.tree.map(lambda _: False, lj), True)
    params, static = eqx.partition(lj, spec)
    vv = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), parallel=parallel)
    langevin = JaxMDBackend(
        Langevin(Quantity(4, "fs"), Quantity(120, "K"), Quantity(5, "1/ps")), parallel=parallel
    )

    def kinetic(t):  # mean kinetic energy per frame (dynamical: needs the whole run)
        return jnp.mean(0.5 * jnp.sum(t.masses[:, None] * t.velocities**2, axis=(-2, -1)))

    dynamic = Objective(kinetic, lambda o: (o - 3.0) ** 2)
    static_obs = Objective(lambda t: jnp.mean(t.positions**2), lambda o: (o - 0.1) ** 2)
    replicas = Quantity(np.stack([pos] * 4), "nm")
    start = dict(temperature=Quantity(120, "K"), key=jax.random.key(2))
    cases = {
        "bptt": (BPTT(20, stride=5), vv, vv.init(lj, system, replicas, **start), dynamic),
        "adjoint": (Adjoint(20, stride=5), vv, vv.init(lj, system, replicas, **start), dynamic),
        "truncated": (
            Truncated(4, 10, stride=5),
            langevin,
            langevin.init(lj, system, Quantity(pos, "nm"), **start),
            dynamic,
        ),
        "reweighting": (
            Reweighting(n_frames=4, stride=5),
            langevin,
            langevin.init(lj, system, replicas, **start),
            static_obs,
        ),
    }
    results, meta = {}, {}
    for name, (strategy, backend, state, objective) in cases.items():
        kw = dict(backend=backend, system=system, state=state, key=jax.random.key(7))
        res = strategy(objective, params, static, **kw)
        results[f"{name}_loss"] = np.asarray(res.loss)
        results[f"{name}_grad"] = np.asarray(res.grad.epsilon)
        if name == "truncated":  # the segments are the replicas that are split
            placed = strategy.start_states(lj, **kw)[0].positions
        else:
            placed = res.state.positions
        meta[f"{name}_devices"] = len(placed.sharding.device_set)
    return results, meta


# -------------------------------------------------------------------- child processes
def _child_env(n_devices: int) -> dict:
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_devices}"
    env["XLA_FLAGS"] = flags.strip()  # keeps the suite's fast-compile flags (conftest)
    env.pop("JAX_ENABLE_X64", None)
    return env


def _child_setup():
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")


def compression(parallel=None):
    """Langevin, 4 replicas × 108 atoms: replicas 0, 1, 3 start at rest and are kicked by
    the thermostat; replica 2 implodes (velocities towards the centre) and overflows its
    neighbour list in the first 150-step chunk."""
    pos, system, lj = argon(a=0.62, cutoff=0.75)
    velocities = np.zeros((4,) + pos.shape)
    velocities[2] = -1.5 * (pos - pos.mean(0))
    backend = JaxMDBackend(
        Langevin(Quantity(2, "fs"), Quantity(120, "K"), Quantity(1, "1/ps")),
        chunk_steps=150,
        parallel=parallel,
    )
    start = dict(
        positions=Quantity(np.stack([pos] * 4), "nm"),
        velocities=Quantity(velocities, "nm/ps"),
    )
    return backend, system, lj, start


def _four_devices(out: Path) -> None:
    """Child: 4 fake CPU devices in one process; sharded computations only."""
    from spectrinv.backends import Positions, Velocities
    from spectrinv.backends._chunk import run_chunk

    _child_setup()
    assert jax.device_count() == 4, jax.devices()
    results, meta = {}, {}

    # 1. sample (host loop), Langevin (forces and random kicks), overflow on device 2
    sharded, system, lj, start = compression(Sharded())
    state = sharded.init(lj, system, **start)
    meta["sample_capacity_start"] = state.neighbors.max_occupancy
    traj, final = sharded.sample(lj, system, state, jax.random.key(1), 300, stride=10)
    meta["sample_capacity_end"] = final.neighbors.max_occupancy
    meta["sample_overflow_flag_end"] = bool(np.any(np.asarray(final.neighbors.did_buffer_overflow)))
    results["sample_positions"] = np.asarray(traj.positions)
    results["sample_velocities"] = np.asarray(traj.velocities)
    results["sample_final_positions"] = np.asarray(final.positions)
    results["sample_final_energy"] = np.asarray(final.potential_energy)
    meta["sample_spec"] = str(traj.positions.sharding.spec)
    meta["sample_shards"] = sorted(
        (s.device.id, list(s.data.shape)) for s in traj.positions.addressable_shards
    )
    meta["state_shards"] = sorted(
        (s.device.id, list(s.data.shape)) for s in final.neighbors.idx.addressable_shards
    )

    # 2. run + gradient w.r.t. epsilon (velocity Verlet); finite differences from the
    # values of the same compiled function at epsilon ± h
    pos, system, lj = argon()
    sh = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), parallel=Sharded())
    s4 = vv_state(sh, lj, system, pos)
    vg = jax.jit(jax.value_and_grad(kinetic_loss(sh, lj, system), has_aux=True))
    (value, (positions, overflowed)), grad = vg(lj.epsilon, s4)
    h = 1e-6
    results["fd_grad"] = np.asarray(
        (vg(lj.epsilon + h, s4)[0][0] - vg(lj.epsilon - h, s4)[0][0]) / (2 * h)
    )
    results["run_loss"], results["run_grad"] = np.asarray(value), np.asarray(grad)
    results["run_positions"] = np.asarray(positions)
    results["run_overflowed"] = np.asarray(overflowed)
    meta["run_positions_spec"] = str(positions.sharding.spec)
    meta["run_positions_devices"] = len(positions.sharding.device_set)

    # 3. what the compiled sharded chunk communicates
    compiled = run_chunk.lower(
        sh.integrator,
        lj,
        system,
        s4,
        jax.random.key(3),
        (Positions(), Velocities()),
        4,
        10,
        sh.skin,
    ).compile()
    text = compiled.compiled.as_text()
    meta["collectives"] = {
        op: text.count(f" {op}(")
        for op in ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter")
    }

    # 4. bad replica counts; one system (unbatched) runs on one device
    plain = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    six = plain.init(lj, system, Quantity(np.stack([pos] * 6), "nm"))
    messages = []
    for bad in (
        lambda: sh.init(lj, system, Quantity(np.stack([pos] * 6), "nm")),
        lambda: sh.run(lj, system, six, jax.random.key(0), 10),
    ):
        try:
            bad()
            messages.append(None)
        except ValueError as err:
            messages.append(str(err))
    meta["errors"] = messages
    single = sh.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(120, "K"), key=jax.random.key(2)
    )
    traj, _ = sh.sample(lj, system, single, jax.random.key(1), 20, stride=10)
    meta["unbatched_devices"] = len(traj.positions.devices())

    np.savez(out / "results.npz", **results)
    (out / "meta.json").write_text(json.dumps(meta))


def _two_devices(out: Path) -> None:
    """Child: 2 fake CPU devices; the small sharded run and its gradient."""
    _child_setup()
    assert jax.device_count() == 2, jax.devices()
    results, meta = small_run(Sharded())
    np.savez(out / "results.npz", **results)
    (out / "meta.json").write_text(json.dumps(meta))


def _four_devices_strategies(out: Path) -> None:
    """Child: every gradient strategy with its replicas sharded over 4 fake CPU devices."""
    _child_setup()
    assert jax.device_count() == 4, jax.devices()
    results, meta = strategy_gradients(Sharded())
    np.savez(out / "results.npz", **results)
    (out / "meta.json").write_text(json.dumps(meta))


def _multi_host(process_id: int, out: Path) -> None:
    """Child: one of 2 processes with 2 CPU devices each, joined on localhost (already
    initialised at the top of this file). Runs the compression `sample` (replica 2, which
    overflows its list, lives on process 1) and the gradient through `run`."""
    from jax.experimental import multihost_utils

    _child_setup()
    assert jax.process_index() == process_id
    sharded, system, lj, start = compression(Sharded())
    state = sharded.init(lj, system, **start)
    traj, final = sharded.sample(lj, system, state, jax.random.key(1), 300, stride=10)

    pos, system, lj = argon()
    sh = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")), parallel=Sharded())
    s4 = vv_state(sh, lj, system, pos)
    (value, (positions, overflowed)), grad = jax.jit(
        jax.value_and_grad(kinetic_loss(sh, lj, system), has_aux=True)
    )(lj.epsilon, s4)
    meta = dict(
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        global_devices=[d.id for d in jax.devices()],
        local_devices=[d.id for d in jax.local_devices()],
        mesh_devices=[d.id for d in sh.parallel.mesh.devices.ravel()],
        addressable_shards=sorted(
            (s.device.id, list(s.data.shape)) for s in positions.addressable_shards
        ),
        fully_addressable=positions.is_fully_addressable,
        capacity=[state.neighbors.max_occupancy, final.neighbors.max_occupancy],
    )
    gather = functools.partial(multihost_utils.process_allgather, tiled=True)
    results = dict(
        sample_positions=gather(traj.positions),
        sample_velocities=gather(traj.velocities),
        sample_final_energy=gather(final.potential_energy),
        run_positions=gather(positions),
        loss=np.asarray(value),
        grad=np.asarray(grad),
        overflowed=np.asarray(overflowed),
    )
    np.savez(out / f"results{process_id}.npz", **results)
    (out / f"meta{process_id}.json").write_text(json.dumps(meta))
    jax.distributed.shutdown()


# ------------------------------------------------------------------------------ tests
def _start_children(commands, n_devices):
    return [
        subprocess.Popen(
            [sys.executable, __file__, *map(str, cmd)],
            env=_child_env(n_devices),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for cmd in commands
    ]


def _wait_children(procs, timeout=900):
    """Wait for all children; fail with their output if one fails or hangs."""
    outputs, deadline = [], time.monotonic() + timeout
    for p in procs:
        try:
            outputs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
                q.wait()
            pytest.fail(f"child {p.args[2:]} timed out after {timeout} s")
    for p, text in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            pytest.fail(f"child {p.args[2:]} failed (exit {p.returncode}):\n{text[-6000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@functools.cache
def one_device_run():
    """Reference on the single device of this process: value, gradient and trajectory of
    the kinetic loss through the batched `JaxMDBackend.run`."""
    pos, system, lj = argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = vv_state(backend, lj, system, pos)
    (value, (positions, overflowed)), grad = jax.jit(
        jax.value_and_grad(kinetic_loss(backend, lj, system), has_aux=True)
    )(lj.epsilon, state)
    assert not bool(overflowed)
    assert positions.shape == (4, 4, 108, 3) and len(positions.devices()) == 1
    return dict(loss=value, grad=grad, run_positions=positions, state=state)


@functools.cache
def one_device_sample():
    """Reference on the single device of this process: the compression `sample`."""
    backend, system, lj, start = compression()
    state = backend.init(lj, system, **start)
    traj, final = backend.sample(lj, system, state, jax.random.key(1), 300, stride=10)
    assert final.neighbors.max_occupancy > state.neighbors.max_occupancy
    return dict(
        sample_positions=traj.positions,
        sample_velocities=traj.velocities,
        sample_final_energy=final.potential_energy,
        capacity=[state.neighbors.max_occupancy, final.neighbors.max_occupancy],
    )


@pytest.mark.slow  # 18 s; the 4-device checks (also slow) and tests/test_gpu.py cover sharding
def test_two_devices_run_and_gradient_equal_one_device(tmp_path):
    """2 replicas × 32 LJ atoms split over 2 fake CPU devices: the loss, dL/dε and
    trajectory through 20 velocity Verlet steps equal the batched run on one device (this
    process), the gradient matches a central finite difference, and 3 replicas are refused
    with the reason. (The 4-device checks with Langevin noise, a neighbour-list overflow on
    one device and every gradient strategy are marked slow.)"""
    procs = _start_children([("two-devices", tmp_path)], n_devices=2)
    try:
        one, one_meta = small_run()
    finally:
        _wait_children(procs)
    res = dict(np.load(tmp_path / "results.npz"))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["devices"] == 2 and one_meta["devices"] == 1
    assert meta["spec"] == "P('replica',)"
    assert not res["overflowed"] and not one["overflowed"]
    assert abs(float(one["grad"])) > 1e-3  # a gradient that can be wrong
    for name in ("loss", "grad", "positions"):
        np.testing.assert_allclose(res[name], one[name], rtol=RTOL, atol=0, err_msg=name)
    np.testing.assert_allclose(res["grad"], res["fd_grad"], rtol=1e-6)
    assert "3 replicas cannot be split evenly over 2 devices" in meta["error"]
    assert one_meta["error"] is None  # one device takes any replica count


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """Runs the 4-device child; meanwhile computes the one-device references here."""
    out = tmp_path_factory.mktemp("four_devices")
    procs = _start_children([("four-devices", out)], n_devices=4)
    try:
        ref = dict(**one_device_sample(), **one_device_run())
        # jax.vmap over replicas of the unbatched run (rebuild cond -> select)
        pos, system, lj = argon()
        vv = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
        stacked = ref["state"]
        per_replica = eqx.tree_at(lambda s: s.step, stacked, jnp.zeros(4, stacked.step.dtype))

        @jax.jit
        def vmapped(states):
            def one_replica(st):
                traj, _, overflowed = vv.run(lj, system, st, jax.random.key(3), 40, stride=10)
                return traj.positions, overflowed

            return jax.vmap(one_replica)(states)

        ref["vmap_positions"], ref["vmap_overflowed"] = vmapped(per_replica)
    finally:
        _wait_children(procs)
    res = dict(np.load(out / "results.npz"))
    return res, json.loads((out / "meta.json").read_text()), ref


@pytest.mark.slow
def test_sharded_sample_equals_one_device(four):
    """Langevin, 4 replicas × 108 atoms, 300 steps on 4 devices (one replica each), with a
    neighbour-list overflow on device 2 in the first chunk: the sharded `sample`
    notices it, reallocates, redoes the chunk and reproduces `JaxMDBackend.sample` on one
    device — positions, velocities (hence the random kicks), final energies, capacity."""
    res, meta, ref = four
    assert meta["sample_spec"] == "P('replica',)"
    assert meta["sample_shards"] == [[d, [1, 30, 108, 3]] for d in range(4)]
    assert [shape[0] for _, shape in meta["state_shards"]] == [1, 1, 1, 1]
    capacity = [meta["sample_capacity_start"], meta["sample_capacity_end"]]
    assert capacity[1] > capacity[0], "the test must provoke an overflow"
    assert capacity == ref["capacity"] and not meta["sample_overflow_flag_end"]
    for name in ("positions", "velocities", "final_energy"):
        one, sharded = np.asarray(ref[f"sample_{name}"]), res[f"sample_{name}"]
        assert one.shape == sharded.shape and sharded.dtype == np.float64
        np.testing.assert_allclose(sharded, one, rtol=RTOL, atol=0, err_msg=name)
    # replicas at rest differ only by their kicks: identical noise would make them equal
    pos = res["sample_positions"]
    assert min(np.abs(pos[i] - pos[j]).max() for i, j in [(0, 1), (0, 3), (1, 3)]) > 1e-4
    # energies from the (reallocated) list equal a fresh all-pairs evaluation
    _, system, lj = argon(a=0.62, cutoff=0.75)
    fresh = jax.jit(jax.vmap(lambda p: lj.energy(p, system, None)))(
        jnp.asarray(res["sample_final_positions"])
    )
    np.testing.assert_allclose(res["sample_final_energy"], fresh, rtol=1e-12)


@pytest.mark.slow
def test_sharded_run_and_gradient_equal_one_device_and_vmap(four):
    """Gradient of a kinetic-energy loss through 40 NVE steps w.r.t. ε: the sharded `run`
    (4 devices) gives the one-device batched value, gradient and trajectory; the gradient
    matches central finite differences; the trajectory equals `jax.vmap` over replicas of
    the unbatched run on one device."""
    res, meta, ref = four
    assert meta["run_positions_spec"] == "P('replica',)"
    assert meta["run_positions_devices"] == 4
    assert not res["run_overflowed"] and not np.any(ref["vmap_overflowed"])
    for name in ("loss", "grad", "positions"):
        key = "run_positions" if name == "positions" else name
        np.testing.assert_allclose(res[f"run_{name}"], ref[key], rtol=RTOL, atol=0, err_msg=name)
    assert abs(res["run_grad"]) > 1e-3  # a gradient that can be wrong
    np.testing.assert_allclose(res["run_grad"], res["fd_grad"], rtol=1e-6)
    np.testing.assert_allclose(res["run_positions"], ref["vmap_positions"], rtol=RTOL, atol=0)


@pytest.mark.slow
def test_sharded_chunk_communicates_only_the_rebuild_decision(four):
    """Each device integrates only its replicas: the compiled, partitioned chunk contains
    all-reduces (the scalar rebuild decision) but no all-gather / all-to-all / permute."""
    _, meta, _ = four
    coll = meta["collectives"]
    assert coll["all-reduce"] >= 1, coll
    assert coll["all-gather"] == coll["all-to-all"] == 0, coll
    assert coll["collective-permute"] == coll["reduce-scatter"] == 0, coll


@pytest.fixture(scope="module")
def four_strategies(tmp_path_factory):
    """Runs the 4-device strategies child; meanwhile the one-device strategies here."""
    out = tmp_path_factory.mktemp("four_devices_strategies")
    procs = _start_children([("four-devices-strategies", out)], n_devices=4)
    try:
        ref = strategy_gradients()
    finally:
        _wait_children(procs)
    res = dict(np.load(out / "results.npz"))
    return res, json.loads((out / "meta.json").read_text()), ref


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["bptt", "adjoint", "truncated", "reweighting"])
def test_every_strategy_gives_the_one_device_gradient_with_sharded_replicas(
    four_strategies, strategy
):
    """BPTT, Adjoint, Truncated and Reweighting on 32 LJ atoms with 4 replicas (Truncated:
    4 segments) split over 4 devices (`parallel=Sharded()`) give the loss and dL/dε of the
    same strategy on one device. Reweighting's gradient is a covariance over 16 frames that
    cancels about seven digits (−β cov(⟨r²⟩, ∂U/∂ε) ≈ −1e-5 from terms ≈ 1e2), and the
    sums over frames pooled from 4 devices run in another order: measured 1.6e-10 relative
    (1.7e-15 absolute), hence its looser tolerance; the others agreed to 3e-15. Slow (a
    second 4-device child that compiles all four strategies); the default suite checks the
    sharded `run` and its gradient, which every strategy is built on."""
    res, meta, one = four_strategies
    one, one_meta = one
    assert meta[f"{strategy}_devices"] == 4 and one_meta[f"{strategy}_devices"] == 1
    assert abs(float(one[f"{strategy}_grad"])) > 0  # a gradient that can be wrong
    rtol = 1e-8 if strategy == "reweighting" else 1e-12
    for what in ("loss", "grad"):
        key = f"{strategy}_{what}"
        np.testing.assert_allclose(res[key], one[key], rtol=rtol, atol=0, err_msg=key)


@pytest.mark.slow
def test_bad_replica_counts_are_explained(four):
    _, meta, _ = four
    at_init, at_run = meta["errors"]
    for message in (at_init, at_run):
        assert "6 replicas cannot be split evenly over 4 devices" in message
        assert "4 or 8" in message and "devices=jax.devices()[:3]" in message
    assert meta["unbatched_devices"] == 1  # a single system is not split


def test_parallel_option_checks_in_process():
    """One device (this process): any replica count divides; wrong options are refused."""
    from spectrinv.backends import MonteCarloBarostat

    vv = VelocityVerlet(Quantity(4, "fs"))
    with pytest.raises(TypeError, match="parallel must be"):
        JaxMDBackend(vv, parallel=object())
    with pytest.raises(ValueError, match="empty"):
        Sharded(devices=[])
    sh = JaxMDBackend(vv, parallel=Sharded())
    assert sh.parallel.n_devices == 1 and sh.parallel.mesh.axis_names == ("replica",)
    langevin = Langevin(Quantity(2, "fs"), Quantity(120, "K"), Quantity(1, "1/ps"))
    with pytest.raises(NotImplementedError, match="barostat"):
        JaxMDBackend(langevin, barostat=MonteCarloBarostat(Quantity(1, "bar")), parallel=Sharded())


@pytest.mark.slow
def test_multi_host_two_processes_match_one_device(tmp_path):
    """2 processes × 2 CPU devices (`jax.distributed.initialize` on localhost, gloo): the
    mesh spans all 4 devices and each process holds 2 replicas. The Langevin compression
    `sample` (overflow in replica 2, on process 1: detected and reallocated on both
    processes) and the loss, gradient and trajectory through `run`, gathered from both
    processes, equal the one-device computation in this process."""
    port = _free_port()
    procs = _start_children([("multi-host", pid, port, tmp_path) for pid in (0, 1)], 2)
    try:
        ref = dict(**one_device_sample(), **one_device_run())
    finally:
        _wait_children(procs)
    res = [dict(np.load(tmp_path / f"results{pid}.npz")) for pid in (0, 1)]
    meta = [json.loads((tmp_path / f"meta{pid}.json").read_text()) for pid in (0, 1)]
    for pid, m in enumerate(meta):
        assert m["process_index"] == pid and m["process_count"] == 2
        assert len(m["global_devices"]) == 4 and len(m["local_devices"]) == 2
        assert m["mesh_devices"] == m["global_devices"]
        assert not m["fully_addressable"]
        assert [d for d, _ in m["addressable_shards"]] == m["local_devices"]
        assert all(shape == [1, 4, 108, 3] for _, shape in m["addressable_shards"])
        assert m["capacity"] == ref["capacity"], "overflow handled as on one device"
    for r in res:
        assert not r["overflowed"]
        for name in (
            "sample_positions",
            "sample_velocities",
            "sample_final_energy",
            "run_positions",
            "loss",
            "grad",
        ):
            np.testing.assert_allclose(r[name], ref[name], rtol=RTOL, atol=0, err_msg=name)


if __name__ == "__main__":
    scenario, *rest = sys.argv[1:]
    if scenario == "two-devices":
        _two_devices(Path(rest[0]))
    elif scenario == "four-devices":
        _four_devices(Path(rest[0]))
    elif scenario == "four-devices-strategies":
        _four_devices_strategies(Path(rest[0]))
    elif scenario == "multi-host":
        _multi_host(int(rest[0]), Path(rest[2]))
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
