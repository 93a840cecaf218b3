"""Settling a fit at its noise floor: learning-rate schedules, iterate averaging, the
stopping rule and sample counts grown to a gradient signal-to-noise target, on a noisy
quadratic bowl whose gradient is known (no MD; `_fit_systems`). Expected values come from
independent NumPy computations on the recorded iterates or from closed forms."""

from __future__ import annotations

import json
import math

import jax
import numpy as np
import optax
import pytest
from _fit_systems import START, NoisyBowl, bowl, quadratic_target

from spectrinv.fit import (
    ConfigError,
    IterateAverage,
    StopWhen,
    default_optimizer,
    fit,
    learning_rate_schedule,
    parse_config,
)
from spectrinv.gradients import GradientWarning

# the bowl is noise-dominated near its minimum on purpose: its SNR < 1 warnings are expected
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*smaller than its standard error:spectrinv.gradients.GradientWarning"
)

NAMES = ("a", "b")
#: a bowl whose minimum is the starting point: the iterates only wander in the noise
CENTRED = (START["a"], START["b"])


def _fit(folder, strategy=None, **kw):
    strategy = NoisyBowl(4) if strategy is None else strategy
    kw = {"progress": False, "plots": False, "uncertainty": False, "seed": 0, **kw}
    return fit(bowl(), [quadratic_target(strategy)], output_dir=folder, **kw)


def _theta(params: dict) -> np.ndarray:
    return np.array([params[n] for n in NAMES])


def _iterates(history) -> np.ndarray:
    """θ_k for k = 0..K: the evaluated parameters of the optimiser steps, then the last
    iterate (which the final row records as `params_last` when it evaluates an average)."""
    rows = [_theta(r["params"]) for r in history if not r.get("final")]
    final = history[-1]
    return np.array(rows + [_theta(final.get("params_last", final["params"]))])


def _sgd(lr=0.8):
    return {"optimizer": optax.sgd(lr), "optimizer_id": f"sgd({lr})"}


# ----------------------------------------------------------------------- schedules
def _expected_rate(kind, k, lr=0.02, steps=10):
    if kind == "cosine":  # final fraction 0.1
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, steps) / steps)))
    if kind == "exponential":
        return lr * 0.5 ** (k / 3)
    if kind == "step":
        return lr * 0.5 ** (k // 3)
    return lr


@pytest.mark.parametrize("kind", ["constant", "cosine", "exponential", "step"])
def test_schedule_is_the_closed_form(kind):
    schedule = learning_rate_schedule(
        kind,
        0.02,
        steps=10,
        final_fraction=0.1,
        decay_rate=0.5 if kind in ("exponential", "step") else None,
        transition_steps=3 if kind in ("exponential", "step") else None,
    )
    for k in range(13):
        assert float(schedule(k)) == pytest.approx(_expected_rate(kind, k), rel=1e-12)


def test_fit_steps_follow_the_schedule(tmp_path):
    """Adam on a constant gradient moves u = θ/θ₀ by η(k) per step (m̂/√v̂ = 1): the
    relative steps of the fit are the step-decay rates."""
    far = NoisyBowl(2, noise=0.0, minimum=(1e4, 1e4))  # gradient constant to ~1e-4
    schedule = learning_rate_schedule("step", 0.02, decay_rate=0.5, transition_steps=3)
    optimizer = default_optimizer(schedule, clip_norm=None)
    res = _fit(tmp_path, far, steps=7, optimizer=optimizer, optimizer_id="step")
    theta = _iterates(res.history)
    steps_taken = np.diff(theta, axis=0) / theta[0]
    expected = [_expected_rate("step", k) for k in range(7)]
    for name in range(2):
        np.testing.assert_allclose(steps_taken[:, name], expected, rtol=1e-3)


# ----------------------------------------------------------------------- averaging
def test_polyak_average_is_the_mean_of_the_iterates(tmp_path):
    res = _fit(tmp_path, steps=8, averaging=IterateAverage("polyak", start=3), **_sgd())
    theta = _iterates(res.history)
    for row in res.history[:-1]:
        k = row["step"]
        assert ("params_avg" in row) == (k >= 3)
        if k >= 3:
            expected = theta[3 : k + 1].mean(axis=0)
            np.testing.assert_allclose(_theta(row["params_avg"]), expected, rtol=1e-12)
    answer = theta[3:].mean(axis=0)  # iterates 3..8, the last one included
    final = res.history[-1]
    np.testing.assert_allclose(_theta(final["params"]), answer, rtol=1e-12)
    np.testing.assert_allclose([res.potential.a, res.potential.b], answer, rtol=1e-12)
    summary = json.loads((tmp_path / "fit.json").read_text())
    np.testing.assert_allclose(_theta(summary["final_parameters"]), answer, rtol=1e-12)
    assert summary["averaging"] == {"kind": "polyak", "start": 3, "iterates": 6}
    assert _theta(summary["last_parameters"]) == pytest.approx(theta[-1], rel=1e-15)


def test_ema_average_follows_its_recursion_from_half_the_steps(tmp_path):
    res = _fit(tmp_path, steps=8, averaging=("ema", 0.7), **_sgd())
    theta = _iterates(res.history)
    avg = theta[4]  # default start: steps // 2
    for row in res.history[5:-1]:
        avg = 0.7 * avg + 0.3 * theta[row["step"]]
        np.testing.assert_allclose(_theta(row["params_avg"]), avg, rtol=1e-12)
    avg = 0.7 * avg + 0.3 * theta[8]
    np.testing.assert_allclose(_theta(res.history[-1]["params"]), avg, rtol=1e-12)


def test_averaged_answer_is_closer_to_the_minimum_than_the_last_iterate(tmp_path):
    """SGD with η = 0.8 on the bowl centred at the start: the iterates are an AR(1)
    process around the minimum (coefficient 0.2), so the mean of the 7 averaged iterates
    has ~√(1.5/7) ≈ 0.46 of their scatter. 12 seeds × 2 parameters; the bound 0.75 leaves
    a ~3σ margin."""
    target_m = np.array(CENTRED)
    err_avg, err_last = [], []
    for seed in range(12):
        res = _fit(
            tmp_path / str(seed),
            NoisyBowl(4, minimum=CENTRED),
            steps=12,
            seed=seed,
            averaging="polyak",
            **_sgd(),
        )
        final = res.history[-1]
        err_avg.append(_theta(final["params"]) / target_m - 1)
        err_last.append(_theta(final["params_last"]) / target_m - 1)
    rms_avg, rms_last = np.sqrt(np.mean(np.square(err_avg))), np.sqrt(np.mean(np.square(err_last)))
    assert rms_avg < 0.75 * rms_last, (rms_avg, rms_last)


# ----------------------------------------------------------------------- stopping
def _expected_stop(theta, start, rtol, patience):
    """The first step k at which the Polyak average's relative change has stayed below
    `rtol` for `patience` steps (changes counted from the second averaged step)."""
    calm = 0
    for k in range(start + 1, len(theta)):
        a_prev, a_now = theta[start:k].mean(axis=0), theta[start : k + 1].mean(axis=0)
        calm = calm + 1 if np.max(np.abs(a_now - a_prev) / np.abs(a_prev)) < rtol else 0
        if calm >= patience:
            return k
    return None


def test_stopping_rule_stops_where_the_average_settles(tmp_path):
    res = _fit(
        tmp_path,
        NoisyBowl(4, minimum=CENTRED),
        steps=40,
        averaging=IterateAverage("polyak", start=2),
        stop=StopWhen(rtol=2e-3, patience=2),
        **_sgd(),
    )
    theta = _iterates(res.history)
    k = _expected_stop(theta, 2, 2e-3, 2)
    assert k is not None and k < 40
    assert res.stopped_early and res.steps_run == k and len(res.history) == k + 1
    assert res.history[-1]["final"] and res.history[-1]["stopped_early"]
    np.testing.assert_allclose(_theta(res.history[-1]["params"]), theta[2:].mean(0), rtol=1e-12)
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["stopped_early"] is True and summary["steps_run"] == k
    assert "consecutive steps" in summary["stop_reason"]


def test_fit_without_stop_reports_all_steps_run(tmp_path):
    _fit(tmp_path, steps=2, **_sgd())
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["stopped_early"] is False and summary["steps_run"] == 2


# ----------------------------------------------------------------------- sample counts
def test_sample_count_doubles_while_snr_is_below_target_up_to_max_growth(tmp_path):
    with pytest.warns(GradientWarning, match="already max_growth = 4 times"):
        res = _fit(tmp_path / "a", NoisyBowl(2), steps=5, target_snr=1e9, max_growth=4)
    sizes = [r["sample_sizes"]["bowl"]["n_segments"] for r in res.history]
    assert sizes == [2, 4, 8, 8, 8, 8]
    used = [r["targets"]["bowl"]["diagnostics"]["n_segments"] for r in res.history]
    assert used == sizes  # the evaluations ran with the grown counts
    # a moderate target: the rule, checked step by step against the recorded SNR
    res = _fit(tmp_path / "b", NoisyBowl(2, minimum=CENTRED), steps=6, target_snr=2.0)
    for row, nxt in zip(res.history[:-1], res.history[1:], strict=True):
        median = np.median(list(row["targets"]["bowl"]["diagnostics"]["grad_snr"].values()))
        now = row["sample_sizes"]["bowl"]["n_segments"]
        expected = min(2 * now, 16) if median < 2.0 else now
        assert nxt["sample_sizes"]["bowl"]["n_segments"] == expected


# ----------------------------------------------------------------------- resume
@pytest.mark.filterwarnings("ignore::spectrinv.gradients.GradientWarning")
def test_resume_with_averaging_stop_and_growth_is_bitwise_identical(tmp_path):
    kw = dict(
        steps=12,
        averaging=IterateAverage("polyak", start=2),
        stop=StopWhen(rtol=4e-3, patience=2),
        target_snr=1e9,
        max_growth=4,
        **_sgd(),
    )
    strategy = NoisyBowl(2, minimum=CENTRED)
    ref = _fit(tmp_path / "ref", strategy, **kw)
    assert ref.stopped_early and 3 < ref.steps_run < 12

    class Crash(Exception):
        pass

    def crash_at(step):
        def report(row):
            if row["step"] == step:
                raise Crash

        return report

    for step in (3, ref.steps_run):  # mid-fit (counts grown, average running); final row
        with pytest.raises(Crash):
            _fit(tmp_path / "b", strategy, progress=crash_at(step), **kw)
    res = _fit(tmp_path / "b", strategy, **kw)

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]

    assert strip(res.history) == strip(ref.history)
    assert np.asarray(res.potential.a) == np.asarray(ref.potential.a)
    assert res.stopped_early == ref.stopped_early
    # a finished fit re-run returns its record without new steps
    again = _fit(tmp_path / "b", strategy, **kw)
    assert strip(again.history) == strip(ref.history)


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"averaging": "mean"}, "averaging kind must be 'polyak' or 'ema'"),
        ({"averaging": ("ema", 1.5)}, r"averaging decay must be in \(0, 1\)"),
        ({"averaging": IterateAverage(start=5)}, "averaging start 5 is beyond the 2 steps"),
        ({"target_snr": -1.0}, "target_snr must be > 0"),
        ({"target_snr": 2.0, "max_growth": 0}, "max_growth must be an integer >= 1"),
    ],
)
def test_bad_options_are_refused(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _fit(tmp_path, steps=2, **kw)


def test_bad_option_objects_are_refused():
    with pytest.raises(ValueError, match="stop rtol must be > 0"):
        StopWhen(rtol=-1e-3)
    with pytest.raises(ValueError, match="stop patience must be an integer >= 1"):
        StopWhen(patience=0)
    with pytest.raises(ValueError, match="cosine schedule needs steps"):
        learning_rate_schedule("cosine", 0.01)
    with pytest.raises(ValueError, match="exponential schedule needs decay_rate"):
        learning_rate_schedule("exponential", 0.01)
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate_schedule("linear", 0.01)
    with pytest.raises(TypeError, match="stop must be None or a StopWhen"):
        _fit("never-created", steps=1, stop=1e-3)


def test_target_snr_needs_a_strategy_with_a_sample_count(tmp_path):
    from spectrinv.gradients import BPTT

    with pytest.raises(ValueError, match="no target's gradient strategy has a sample count"):
        _fit(tmp_path, BPTT(4), steps=1, target_snr=2.0)


@pytest.mark.parametrize(
    "keys, match",
    [
        ({"schedule": "cosinus"}, r"schedule: 'cosinus' is not one of .* did you mean 'cosine'"),
        ({"schedule": "step", "decay_rate": 0.5}, "needs decay_rate and transition_steps"),
        ({"schedule": "step", "decay_rate": -0.5, "transition_steps": 2}, "decay_rate must"),
        ({"schedule": "exponential", "decay_rate": 0.5, "transition_steps": 0}, "transition_s"),
        ({"final_fraction": 0.1}, "final_fraction applies only with schedule = 'cosine'"),
        ({"schedule": "cosine", "final_fraction": "0.1"}, "final_fraction must be a number"),
        ({"averaging": "ema", "ema_decay": 1.0}, "ema_decay must be below 1"),
        ({"averaging": "polyak", "averaging_start": -1}, "averaging_start: expected an integer"),
        ({"averaging_start": 3}, "averaging_start applies only with averaging"),
        ({"stop_rtol": 0}, r"stop_rtol must be a number in \(0, inf\)"),
        ({"stop_rtol": True}, "stop_rtol must be a number"),
        ({"stop_patience": 2}, "stop_patience applies only with stop_rtol"),
        ({"stop_rtol": 1e-3, "stop_patience": 0}, "stop_patience: expected an integer >= 1"),
        ({"target_snr": -2}, "target_snr must be a number"),
        ({"target_snr": 2, "max_growth": 2.5}, "max_growth: expected an integer >= 1"),
        ({"stop_tol": 1e-3}, "unknown key 'stop_tol'; did you mean 'stop_rtol'"),
        ({"momentum": 1.0}, r"momentum \(Adam's b1\) must be below 1"),
        ({"momentum": -0.1}, r"momentum must be a number in \[0, 1\]"),
        ({"momentum": "0.5"}, "momentum must be a number"),
    ],
)
def test_bad_config_values_are_refused(keys, match):
    raw = {"fit": {"steps": 4, **keys}, "model": {}, "targets": []}
    with pytest.raises(ConfigError, match=match):
        parse_config(raw)


def _lj_config(**fit_keys):
    """A minimal Lennard-Jones config fitting an RDF read from `gr.csv` (`_rdf_file`)."""
    return {
        "fit": {"steps": 10, "learning_rate": 0.02, **fit_keys},
        "model": {
            "kind": "lennard_jones",
            "sigma": "3.4 angstrom",
            "epsilon": "120 K",
            "cutoff": "0.55 nm",
        },
        "targets": [
            {
                "name": "rdf",
                "dataset": {
                    "file": "gr.csv",
                    "x": "r",
                    "y": "g",
                    "x_unit": "nm",
                    "y_unit": "dimensionless",
                },
                "observable": "rdf",
                "loss": "mse",
                "temperature": "85 K",
                "system": {"cells": 2, "density": "1409.5 kg/m**3"},
                "observable_options": {"r_max": "0.55 nm", "bins": 40},
                "gradient": {"kind": "reweighting", "frames": 8, "stride": 5},
            }
        ],
    }


def _rdf_file(folder):
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    lines = ["r,g"] + [f"{a:.6f},{b:.6f}" for a, b in zip(r, g, strict=True)]
    (folder / "gr.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_config_keys_reach_the_fit(tmp_path):
    base = _rdf_file(tmp_path)
    config = parse_config(
        _lj_config(
            schedule="step",
            decay_rate=0.5,
            transition_steps=3,
            averaging="ema",
            averaging_start=2,
            ema_decay=0.8,
            stop_rtol=1e-3,
            stop_patience=4,
            target_snr=3,
            max_growth=16,
        ),
        base=base,
    )
    assert config.averaging == IterateAverage("ema", start=2, decay=0.8)
    assert config.stop == StopWhen(1e-3, 4)
    assert config.target_snr == 3.0 and config.max_growth == 16
    schedule = config.learning_rate_schedule()
    for k in range(12):
        assert float(schedule(k)) == pytest.approx(_expected_rate("step", k), rel=1e-12)
    assert "schedule=step(decay_rate=0.5, transition_steps=3)" in config.optimizer()[1]
    cosine = parse_config(_lj_config(schedule="cosine", final_fraction=0.1), base=base)
    assert float(cosine.learning_rate_schedule()(10)) == pytest.approx(0.002, rel=1e-12)
    plain = parse_config(_lj_config(), base=base)
    assert plain.optimizer()[1] == "adam(lr=0.02, clip=1.0)"  # the fingerprint of old fits
    assert (plain.averaging, plain.stop, plain.target_snr) == (None, None, None)


def test_momentum_is_adams_b1(tmp_path):
    """`[fit] momentum` reaches Adam as b1: with b1 = 0 the second update is the hand-computed
    −η g₂ / (√v̂₂ + ε), v̂₂ = (b2 g₁² + (1 − b2) g₂²)(1 − b2)/(1 − b2²), with no memory of g₁
    in the numerator; with the default b1 = 0.9 it differs, and the fingerprint of a fit with
    the default momentum is the one older fits have."""
    base = _rdf_file(tmp_path)
    config = parse_config(_lj_config(momentum=0.0, clip_norm=0), base=base)
    optimizer, ident = config.optimizer()
    assert ident == "adam(lr=0.02, clip=0.0, b1=0.0)"
    default = parse_config(_lj_config(clip_norm=0), base=base)
    g1, g2 = np.array([0.3, -2.0]), np.array([-0.1, 0.5])
    b2, eps, lr = 0.999, 1e-8, 0.02
    with jax.numpy_dtype_promotion("standard"):  # as in the fit: optax mixes int counters
        state = optimizer.init(np.zeros(2))
        _, state = optimizer.update(g1, state)
        update, _ = optimizer.update(g2, state)
        other = default.optimizer()[0]
        state = other.init(np.zeros(2))
        _, state = other.update(g1, state)
        other_update, _ = other.update(g2, state)
    v_hat = ((1 - b2) * b2 * g1**2 + (1 - b2) * g2**2) / (1 - b2**2)
    np.testing.assert_allclose(update, -lr * g2 / (np.sqrt(v_hat) + eps), rtol=1e-6)
    assert default.momentum == 0.9 and default.optimizer()[1] == "adam(lr=0.02, clip=0.0)"
    assert not np.allclose(other_update, update, rtol=1e-3)
    with pytest.raises(ValueError, match="momentum"):
        default_optimizer(0.01, None, momentum=1.5)


# ----------------------------------------------------------------------- step_scale
def test_step_scale_multiplies_a_parameters_steps(tmp_path):
    """With plain SGD on relative parameters, a step_scale factor multiplies exactly that
    parameter's change in the first update and leaves the others'."""
    plain = _fit(tmp_path / "plain", steps=1, **_sgd(0.1))
    scaled = _fit(tmp_path / "scaled", steps=1, step_scale={"b": 0.25}, **_sgd(0.1))
    t0 = _theta(plain.history[0]["params"])
    moved = _theta(plain.history[-1]["params"]) - t0
    moved_scaled = _theta(scaled.history[-1]["params"]) - t0
    assert abs(moved[1]) > 1e-6
    np.testing.assert_allclose(moved_scaled, [moved[0], 0.25 * moved[1]], rtol=1e-9)
    with pytest.raises(KeyError, match="not a trainable parameter"):
        _fit(tmp_path / "bad", steps=1, step_scale={"c": 0.5}, **_sgd())
    with pytest.raises(ValueError, match="must be a number > 0"):
        _fit(tmp_path / "bad2", steps=1, step_scale={"a": 0.0}, **_sgd())


def test_config_step_scale_is_checked(tmp_path):
    base = _rdf_file(tmp_path)
    config = parse_config(_lj_config(step_scale={"sigma": 0.2}), base=base)
    assert config.step_scale == {"sigma": 0.2}
    for table, match in (
        ({"sigmaa": 0.2}, "did you mean 'sigma'"),
        ({"sigma": 0}, "a number > 0"),
        ({"sigma": True}, "a number > 0"),
        (0.2, "a table"),
    ):
        with pytest.raises(ConfigError, match=match):
            parse_config(_lj_config(step_scale=table), base=base)
