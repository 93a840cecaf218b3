"""The fitting loop: the loss falls on a problem with a known answer, checkpoints resume
bitwise, and bad input fails before any simulation."""

from __future__ import annotations

import functools
import io
import json
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions, Velocities
from spectrinv.fit import CheckpointError, Interval, Target, fit, parameter_names, with_parameters
from spectrinv.gradients import AbstractGradient, GradientResult, Objective, tree_norm
from spectrinv.potentials import ForceShifted, LennardJones, fcc_lattice


class PlainBPTT(AbstractGradient):
    """Test-only strategy: jax.value_and_grad through JaxMDBackend.run (no checkpointing),
    so these tests exercise the loop independently of the strategies' own tests."""

    n_steps: int = eqx.field(static=True)

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        (loss, (obs, new)), g = _value_and_grad(
            self.n_steps, objective, params, static, backend, system, state, key
        )
        calls = 0 if cache is None else cache["calls"]
        return GradientResult(
            loss, g, obs, new, {"grad_norm": tree_norm(g)}, cache={"calls": np.asarray(calls + 1)}
        )


@eqx.filter_jit
def _value_and_grad(n_steps, objective, params, static, backend, system, state, key):
    def f(p):
        pot = eqx.combine(p, static)
        traj, new, _ = backend.run(pot, system, state, key, n_steps, record=objective.record)
        obs = objective.observe(traj)
        return objective.loss(obs), (obs, new)

    return jax.value_and_grad(f, has_aux=True)(params)


def _observe(traj):
    # mean squared displacement over the short run: depends on ε through the forces
    x = traj.positions
    return jnp.mean(jnp.sum((x[-1] - x[0]) ** 2, axis=-1))


def _loss(observed):
    return (observed - 0.01) ** 2


@functools.cache
def _setup():
    """The potential and target every test here fits (built once: module-level functions
    and one set of objects let every fit in this process reuse the compiled code)."""
    pos, system = fcc_lattice(2, Quantity(1409.5, "kg/m**3"), Quantity(39.948, "Da"))
    lj = LennardJones(
        Quantity(3.405, "angstrom"),
        Quantity(0.8, "kJ/mol"),
        Quantity(0.55, "nm"),
        truncation=ForceShifted(),
    )
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(85, "K"), Quantity(5, "1/ps")))
    objective = Objective(_observe, _loss, (Positions(), Velocities()))
    target = Target(
        "msd",
        objective,
        system,
        pos,
        backend,
        PlainBPTT(20),
        Quantity(85, "K"),
        equilibration_steps=20,
    )
    return lj, target


def _fit(lj, target, folder, **kw):
    """`fit` with this file's defaults: ε trained, silent, no plots, no uncertainty analysis
    (tests/test_uncertainty.py covers that)."""
    kw = {"trainable": ["epsilon"], "progress": False, "plots": False, "uncertainty": False, **kw}
    return fit(lj, [target], output_dir=folder, **kw)


@pytest.mark.slow  # default-suite counterparts: test_fit_convergence (averaging, stopping and
# growth resumed bitwise) and test_fit_user_potential (a Reweighting cache resumed bitwise)
def test_resume_after_crash_is_bitwise_identical(tmp_path):
    lj, target = _setup()
    ref = _fit(lj, target, tmp_path / "a", steps=4, seed=3)

    class Crash(Exception):
        pass

    def crash_at_2(row):
        if row["step"] == 1:
            raise Crash

    with pytest.raises(Crash):
        _fit(lj, target, tmp_path / "b", steps=4, seed=3, progress=crash_at_2)
    rows = (tmp_path / "b" / "history.jsonl").read_text().splitlines()
    assert len(rows) == 2
    res = _fit(lj, target, tmp_path / "b", steps=4, seed=3)
    assert np.asarray(res.potential.epsilon) == np.asarray(ref.potential.epsilon)
    assert [r["loss"] for r in res.history] == [r["loss"] for r in ref.history]
    assert res.history[-1]["final"] and len(res.history) == 5
    # the parameter moved and sigma (frozen) did not
    assert res.potential.epsilon != lj.epsilon
    assert np.asarray(res.potential.sigma) == np.asarray(lj.sigma)
    # a finished fit re-run returns the record without new steps
    again = _fit(lj, target, tmp_path / "b", steps=4, seed=3)
    assert len(again.history) == 5
    assert len((tmp_path / "b" / "history.jsonl").read_text().splitlines()) == 5
    summary = json.loads((tmp_path / "b" / "fit.json").read_text())
    assert summary["final_parameters"]["epsilon"] == float(res.potential.epsilon)


def test_resume_with_another_state_point_or_start_is_refused(tmp_path):
    """A checkpoint records what its fit simulated: resuming it with the thermostat and
    temperature changed (85 K -> 95 K), or from other start positions, is refused instead of
    continuing the 85 K fit at 95 K."""
    lj, target = _setup()
    _fit(lj, target, tmp_path, steps=1, seed=1)
    hotter = Target(
        target.name,
        target.objective,
        target.system,
        Quantity(np.asarray(target.positions), "nm"),
        JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(95, "K"), Quantity(5, "1/ps"))),
        target.gradient,
        Quantity(95, "K"),
        equilibration_steps=target.equilibration_steps,
    )
    shifted = eqx.tree_at(lambda t: t.positions, target, target.positions * 1.001)
    changes = {
        "hotter": r"changed: temperature of target 'msd' \(85 K -> 95 K\), sampling backend",
        "shifted": r"changed: start positions of target 'msd'\)",
    }
    for other, change in zip((hotter, shifted), changes.values(), strict=True):
        with pytest.raises(CheckpointError, match=f"different fit \\({change}"):
            _fit(lj, other, tmp_path, steps=1, seed=1)
    again = _fit(lj, target, tmp_path, steps=1, seed=1)  # the same fit is still resumable
    assert len(again.history) == 2


def _with_dataset(target, y):
    from spectrinv.datasets import Dataset

    data = Dataset.from_arrays(
        np.array([0.3, 0.4, 0.5]),
        np.asarray(y),
        x_unit="nm",
        y_unit="dimensionless",
        quantity="rdf",
    )
    return Target(
        target.name,
        target.objective,
        target.system,
        Quantity(np.asarray(target.positions), "nm"),
        target.backend,
        target.gradient,
        Quantity(target.temperature, "K"),
        equilibration_steps=target.equilibration_steps,
        dataset=data,
    )


def test_resume_names_a_changed_dataset_or_trainable_list(tmp_path):
    """The refusal says what differs from the checkpoint: the dataset's values (one point
    changed) or the list of trained parameters; the unchanged fit resumes."""
    lj, target = _setup()
    with_data = _with_dataset(target, [0.0, 1.5, 1.0])
    _fit(lj, with_data, tmp_path, steps=1, seed=1)
    other_data = _with_dataset(target, [0.0, 1.5, 1.01])
    with pytest.raises(CheckpointError, match=r"changed: dataset of target 'msd'\)"):
        _fit(lj, other_data, tmp_path, steps=1, seed=1)
    trained = r'changed: trainable parameters \(\["epsilon"\] -> \["epsilon", "sigma"\]\)\)'
    with pytest.raises(CheckpointError, match=trained):
        _fit(lj, with_data, tmp_path, steps=1, seed=1, trainable=["sigma", "epsilon"])
    assert len(_fit(lj, with_data, tmp_path, steps=1, seed=1).history) == 2


def test_progress_lines_give_the_parameters_with_units(tmp_path, capsys):
    lj, target = _setup()
    _fit(lj, target, tmp_path, steps=1, seed=4, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("step    0") and lines[1].startswith("final")
    for line in lines:
        assert re.search(r"  epsilon = [0-9.e+-]+ kJ/mol  \(", line), line


def test_fit_steps_advance_the_progress_display(tmp_path, monkeypatch):
    """Inside `show_progress` a fit shows `fit step k/N` with the loss, then the final
    evaluation; the numbers are those of a fit without the display."""
    from rich.console import Console

    from spectrinv import _progress

    lj, target = _setup()
    calls = []
    real_advance, real_describe = _progress._Display.advance, _progress._Display.describe

    def advance(self, task_id, n, info):
        calls.append(("advance", n, info))
        return real_advance(self, task_id, n, info)

    def describe(self, task_id, description):
        calls.append(("describe", description))
        return real_describe(self, task_id, description)

    monkeypatch.setattr(_progress._Display, "advance", advance)
    monkeypatch.setattr(_progress._Display, "describe", describe)
    quiet = _fit(lj, target, tmp_path / "a", steps=1, seed=5)
    console = Console(file=io.StringIO(), force_terminal=True)
    with _progress.show_progress(True, console=console):
        shown = _fit(lj, target, tmp_path / "b", steps=1, seed=5)
    assert [r["loss"] for r in shown.history] == [r["loss"] for r in quiet.history]
    steps = [c for c in calls if c[0] == "advance" and c[2] is not None]
    assert [c[1] for c in steps] == [1]
    assert [c[2] for c in steps] == [f"loss {r['loss']:.4g}" for r in quiet.history[:1]]
    assert ("describe", "final evaluation") in calls


def test_command_line_summary_gives_parameters_with_units():
    from spectrinv.cli._fit import _parameter_lines

    lj, _ = _setup()
    text = _parameter_lines(lj, {"sigma": 0.3405, "epsilon": 0.8}, {"sigma": 0.34, "epsilon": 0.9})
    assert text.splitlines() == ["  sigma = 0.3405 -> 0.34 nm", "  epsilon = 0.8 -> 0.9 kJ/mol"]


def test_extending_a_finished_fit_continues_it(tmp_path):
    lj, target = _setup()
    ref = _fit(lj, target, tmp_path / "a", steps=3, seed=1)
    _fit(lj, target, tmp_path / "b", steps=2, seed=1)
    res = _fit(lj, target, tmp_path / "b", steps=3, seed=1)
    assert np.asarray(res.potential.epsilon) == np.asarray(ref.potential.epsilon)
    assert [r["step"] for r in res.history] == [0, 1, 2, 3]


def test_checkpoint_of_another_fit_is_refused(tmp_path):
    lj, target = _setup()
    _fit(lj, target, tmp_path, steps=1, seed=1)
    with pytest.raises(CheckpointError, match="different fit"):
        _fit(lj, target, tmp_path, steps=1, seed=2)


def test_bounds_are_enforced_and_names_checked(tmp_path):
    lj, target = _setup()
    assert parameter_names(lj) == ["sigma", "epsilon"]
    with pytest.raises(KeyError, match="did you mean 'epsilon'"):
        fit(lj, [target], steps=1, output_dir=tmp_path, trainable=["epsilom"], progress=False)
    hi = float(lj.epsilon) * 1.001
    res = _fit(
        lj,
        target,
        tmp_path / "c",
        steps=3,
        bounds={"epsilon": Interval(None, Quantity(hi, "kJ/mol"))},
    )
    assert all(r["params"]["epsilon"] <= hi + 1e-15 for r in res.history)
    with pytest.raises(ValueError, match="not below"):
        Interval(Quantity(2, "kJ/mol"), Quantity(1, "kJ/mol"))


def test_gradient_step_moves_parameter_downhill(tmp_path):
    """With plain gradient descent the parameter moves against its gradient."""
    import optax

    lj, target = _setup()
    res = _fit(lj, target, tmp_path, steps=1, seed=5, optimizer=optax.sgd(1e-3), optimizer_id="sgd")
    g = res.history[0]["targets"]["msd"]["grad"]["epsilon"]
    moved = res.history[1]["params"]["epsilon"] - res.history[0]["params"]["epsilon"]
    assert g != 0 and np.sign(moved) == -np.sign(g)


class NoisyBPTT(PlainBPTT):
    """`PlainBPTT` that reports a gradient standard error 10× the gradient (SNR 0.1)."""

    def __call__(self, objective, params, static, **kw):
        res = super().__call__(objective, params, static, **kw)
        stderr = jax.tree.map(lambda g: 10 * jnp.abs(g), res.grad)
        snr = jax.tree.map(lambda g, s: jnp.abs(g) / s, res.grad, stderr)
        diagnostics = {**res.diagnostics, "grad_stderr": stderr, "grad_snr": snr}
        return eqx.tree_at(lambda r: r.diagnostics, res, diagnostics)


def test_gradient_noise_is_recorded_per_parameter_and_snr_below_one_warns(tmp_path):
    from spectrinv.gradients import GradientWarning

    lj, target = _setup()
    noisy = eqx.tree_at(lambda t: t.gradient, target, NoisyBPTT(20))
    with pytest.warns(GradientWarning, match="gradient of epsilon is smaller than its standard"):
        res = _fit(lj, noisy, tmp_path, steps=1, seed=5)
    diag = res.history[0]["targets"]["msd"]["diagnostics"]
    grad = res.history[0]["targets"]["msd"]["grad"]["epsilon"]
    assert diag["grad_snr"] == {"epsilon": pytest.approx(0.1)}
    assert diag["grad_stderr"] == {"epsilon": pytest.approx(10 * abs(grad))}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("443153.38 kJ/mol/nm**2", 443153.38),
        ("1 kcal/mol/angstrom**2", 418.4),
        ("60 K * boltzmann_constant", 60 * 0.00831446261815324),  # ε/k_B → kJ/mol via N_A
        ("1 eV", 96.48533212331),  # per particle → molar
        ("3.4 angstrom", 0.34),
        ("180 degree", np.pi),
    ],
)
def test_internal_magnitude_makes_per_particle_quantities_molar(text, expected):
    from spectrinv.fit import internal_magnitude

    assert internal_magnitude(text) == pytest.approx(expected, rel=1e-9)


def test_internal_magnitude_refuses_bare_numbers():
    from observables import UnitError
    from spectrinv.fit import internal_magnitude

    with pytest.raises(UnitError, match="bare"):
        internal_magnitude(3.4)


def test_transport_observables_from_config_take_max_lag_as_time():
    from spectrinv.fit._config_objective import build_observable

    obs, record = build_observable(
        "shear_viscosity",
        {"max_lag": "0.5 ps"},
        Quantity(85, "K"),
        "lennard_jones",
        Quantity(10, "fs"),
        "test",
    )
    assert obs.max_lag_time == pytest.approx(0.5) and [r.field for r in record] == [
        "positions",
        "stress",
    ]
    obs, _ = build_observable(
        "ir", {"max_lag": "0.25 ps"}, Quantity(298, "K"), "water", Quantity(1, "fs"), "test"
    )
    assert obs.transform.max_lag_frames == 250


def test_with_parameters_sets_named_values_and_checks_them():
    lj = LennardJones(
        Quantity(0.34, "nm"),
        Quantity(1.0, "kJ/mol"),
        Quantity(0.8, "nm"),
        truncation=ForceShifted(),
    )
    out = with_parameters(lj, {"epsilon": 1.25})
    assert float(out.epsilon) == 1.25 and out.epsilon.dtype == lj.epsilon.dtype
    assert float(out.sigma) == float(lj.sigma)  # the others as they were
    assert with_parameters(lj, {}) is lj
    with pytest.raises(KeyError, match="did you mean 'epsilon'"):
        with_parameters(lj, {"epsilom": 1.0})
    with pytest.raises(ValueError, match="shape"):
        with_parameters(lj, {"sigma": [0.3, 0.4]})
