"""`spectrinv fit CONFIG`: a run killed with SIGKILL resumes and ends bitwise where an
uninterrupted run ends; bad configurations fail before any simulation starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from spectrinv.cli import main
from spectrinv.fit import ConfigError, load_config

CONFIG = """
[fit]
steps = {steps}
seed = 7
learning_rate = 0.05
precision = "float64"
trainable = ["sigma", "epsilon"]
uncertainty = false

[model]
kind = "lennard_jones"
sigma = "3.3 angstrom"
epsilon = "110 K"
cutoff = "0.55 nm"

[[targets]]
name = "rdf"
observable = "rdf"
loss = "mse"
temperature = "90 K"
timestep = "5 fs"
equilibration = "0.05 ps"

[targets.dataset]
file = "gr.csv"
x = "r"
y = "g"
x_unit = "nm"
y_unit = "dimensionless"
quantity = "rdf"

[targets.system]
cells = 2
density = "1409.5 kg/m**3"

[targets.observable_options]
r_max = "0.55 nm"
bins = 40
width = "0.01 nm"

[targets.gradient]
kind = "bptt"
length = "0.05 ps"
"""


def _write(folder: Path, steps: int = 4, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0 + 1.5 * np.exp(-(((r - 0.375) / 0.03) ** 2)))
    with open(folder / "gr.csv", "w") as fh:
        fh.write("r,g\n")
        for ri, gi in zip(r, g, strict=True):
            fh.write(f"{ri:.6f},{gi:.6f}\n")
    path = folder / "fit.toml"
    path.write_text(text.format(steps=steps))
    return path


def _spectrinv(*args, cache: Path | None = None, **kw):
    """`spectrinv ARGS` in a child process; `cache`: a persistent JAX compilation cache the
    children share (the resumed run reuses what the killed one compiled — same programs,
    so the same results — instead of compiling them again)."""
    env = dict(os.environ)
    if cache is not None:
        env.update(
            JAX_COMPILATION_CACHE_DIR=str(cache),
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from spectrinv.cli import main; sys.exit(main())",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kw,
    )


@pytest.mark.slow
def test_sigkill_midway_then_resume_matches_uninterrupted_run(tmp_path):
    config = _write(tmp_path)
    # the uninterrupted reference runs in this process (same code and CPU as the CLI)
    load_config(config).run(tmp_path / "ref", progress=False)
    reference = json.loads((tmp_path / "ref" / "fit.json").read_text())

    run = _spectrinv("fit", str(config), "--out", str(tmp_path / "killed"), cache=tmp_path / "jit")
    history = tmp_path / "killed" / "history.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline:
        if history.exists() and len(history.read_text().splitlines()) >= 2:
            break
        if run.poll() is not None:
            pytest.fail("the fit finished before it could be killed:\n" + run.stdout.read())
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    done = len(history.read_text().splitlines())
    assert 2 <= done < 5, f"killed after {done} history rows"

    resumed = _spectrinv(
        "fit", str(config), "--out", str(tmp_path / "killed"), cache=tmp_path / "jit"
    )
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    result = json.loads((tmp_path / "killed" / "fit.json").read_text())
    assert result["final_parameters"] == reference["final_parameters"]  # bitwise (JSON repr)
    assert result["final_loss"] == reference["final_loss"]
    rows = [json.loads(x) for x in history.read_text().splitlines()]
    ref_rows = [
        json.loads(x) for x in (tmp_path / "ref" / "history.jsonl").read_text().splitlines()
    ]
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]
    assert reference["final_parameters"] != reference["initial_parameters"]


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(autouse=True)
def _x64():
    assert jax.config.jax_enable_x64


def _bad(tmp_path, old: str, new: str, match: str):
    text = CONFIG.replace(old, new)
    assert text != CONFIG, "the test's replacement did not apply"
    path = _write(tmp_path, text=text)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=match):
        load_config(path)
    return time.perf_counter() - t0


def test_typo_in_a_key_is_named_with_a_suggestion(tmp_path):
    _bad(tmp_path, "learning_rate", "learnig_rate", "unknown key 'learnig_rate'.*'learning_rate'")
    _bad(tmp_path / "b", 'r_max = "0.55 nm"', 'rmax = "0.55 nm"', "did you mean 'r_max'")
    _bad(tmp_path / "c", 'kind = "bptt"', 'kind = "bpt"', "did you mean 'bptt'")


def test_unknown_dataset_name_lists_available(tmp_path):
    text = CONFIG.replace(
        '[targets.dataset]\nfile = "gr.csv"\nx = "r"\ny = "g"\nx_unit = "nm"\n'
        'y_unit = "dimensionless"\nquantity = "rdf"\n',
        "",
    ).replace('loss = "mse"', 'loss = "mse"\ndataset = "argon_rdf_85K"')
    path = _write(tmp_path, text=text)
    with pytest.raises(ConfigError, match="argon_rdf_85K.*water_segelstein_298K"):
        load_config(path)


def test_dataset_units_incompatible_with_observable(tmp_path):
    text = CONFIG.replace('y_unit = "dimensionless"', 'y_unit = "Pa*s"')
    path = _write(tmp_path, text=text)
    with pytest.raises(ConfigError, match="(?s)Pa.*dimensionless|dimensionless.*Pa"):
        load_config(path)


@pytest.mark.parametrize(
    "body, match",
    [
        ("r,g\n0.2,0.0\n0.3,nan\n0.4,1.0\n", "(?i)nan|line 3"),
        ("r,g\n0.2,0.0\n0.4,1.0\n0.3,1.0\n", "(?i)monoton|ascending|line"),
        ("r,g\n0.2,0.0\n0.3,\n0.4,1.0\n", "(?i)missing|line 3"),
    ],
)
def test_malformed_csv_is_refused(tmp_path, body, match):
    path = _write(tmp_path)
    (tmp_path / "gr.csv").write_text(body)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_data_beyond_the_model_grid_is_refused_when_loading(tmp_path):
    _bad(tmp_path, 'r_max = "0.55 nm"', 'r_max = "0.45 nm"', "reaches beyond the model")


def test_jcamp_file_that_is_not_one(tmp_path):
    text = CONFIG.replace('file = "gr.csv"', 'file = "spectrum.jdx"')
    path = _write(tmp_path, text=text)
    (tmp_path / "spectrum.jdx").write_text("this is not a JCAMP-DX file\n1 2\n")
    with pytest.raises(ConfigError, match="(?i)jcamp"):
        load_config(path)


def test_bad_quantities_and_values(tmp_path):
    _bad(tmp_path, 'temperature = "90 K"', 'temperature = "90"', "90.*expected a \\[temperature\\]")
    _bad(tmp_path / "b", 'timestep = "5 fs"', 'timestep = "5 nm"', "timestep")
    _bad(
        tmp_path / "c",
        'trainable = ["sigma", "epsilon"]',
        'trainable = ["sigmaa"]',
        "did you mean 'sigma'",
    )
    _bad(tmp_path / "d", "uncertainty = false", 'uncertainty = "no"', "uncertainty must be true")
    assert load_config(_write(tmp_path / "e")).uncertainty is False


def test_cli_reports_config_errors_in_one_line(tmp_path, capsys):
    path = _write(tmp_path, text=CONFIG.replace("learning_rate", "learnig_rate"))
    assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'learnig_rate'" in err and "Traceback" not in err
    assert main(["fit", str(tmp_path / "missing.toml")]) == 2


def test_quickstart_config_is_valid_and_shown(capsys):
    assert main(["quickstart", "--show-config"]) == 0
    assert "water_segelstein_298K" in capsys.readouterr().out


@pytest.mark.slow  # 20 s; tests/test_fit_user_potential.py resumes a Reweighting fit
def test_reweighting_fit_resumes_bitwise_from_its_checkpoint(tmp_path):
    """The Reweighting cache (reference frames, energies, per-frame observables) goes into the
    checkpoint without its neighbour lists; the resumed fit rebuilds them and ends exactly
    where an uninterrupted fit ends."""
    text = CONFIG.replace(
        'kind = "bptt"\nlength = "0.05 ps"', 'kind = "reweighting"\nframes = 8\nstride = 5'
    ).replace("learning_rate = 0.05", "learning_rate = 0.002")  # small steps: reuse frames
    config = load_config(_write(tmp_path, steps=3, text=text))
    ref = config.run(tmp_path / "ref", progress=False)

    class Crash(Exception):
        pass

    def crash(row):
        if row["step"] == 1:
            raise Crash

    with pytest.raises(Crash):
        config.run(tmp_path / "crashed", progress=crash)
    resumed = config.run(tmp_path / "crashed", progress=False)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in ref.history]
    assert resumed.history[-1]["params"] == ref.history[-1]["params"]
    assert any(not r["targets"]["rdf"]["diagnostics"]["resampled"] for r in ref.history[1:])
