"""The command line on bad input and unexpected failures: one line on stderr, a meaningful
exit status, no traceback (unless `--debug`), and nothing overwritten."""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest
from _systems import write_lammps_dump

import observables as ob
from observables import Quantity as Q
from spectrinv.cli import _observables, main
from spectrinv.cli._fit import QUICKSTART
from spectrinv.fit import ConfigError, load_config

CUBIC = [1.3, 1.3, 1.3]  # half width 0.65 nm: refused in float32 before the fix
TRICLINIC = [[1.05, 0.0, 0.0], [0.3, 1.05, 0.0], [0.2, 0.25, 1.05]]


def _trajectory(path, box, n_frames=4):
    rng = np.random.default_rng(0)
    traj = ob.Trajectory(
        Q(rng.uniform(0, 1.0, size=(n_frames, 6, 3)), "nm"),
        species=["O", "H", "H"] * 2,
        box=Q(box, "nm"),
        timestep=Q(2, "fs"),
    )
    traj.to_npz(path)
    return path


@pytest.fixture
def npz(tmp_path):
    return _trajectory(tmp_path / "w.npz", CUBIC)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------- unexpected errors, interrupts
def _raising(exc):
    def func(args):
        raise exc

    return func


@pytest.fixture
def broken_rdf(monkeypatch):
    """`spectrinv rdf` whose command function raises the given exception."""

    def install(exc):
        monkeypatch.setattr(_observables, "_cmd_rdf", _raising(exc))

    return install


def test_internal_error_is_one_line_with_status_1(broken_rdf, npz, capsys):
    broken_rdf(TypeError("unsupported operand\ntype(s)"))
    assert main(["rdf", str(npz)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line == (
        "spectrinv rdf: internal error: TypeError: unsupported operand type(s) "
        "(rerun with --debug for the traceback)"
    )


def test_keyboard_interrupt_is_one_line_with_status_130(broken_rdf, npz, capsys):
    broken_rdf(KeyboardInterrupt())
    assert main(["rdf", str(npz)]) == 130
    assert _one_line(capsys.readouterr().err) == "spectrinv rdf: interrupted"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_flag_lets_the_exception_propagate(broken_rdf, npz, capsys, where):
    broken_rdf(RuntimeError("boom"))
    argv = ["--debug", "rdf", str(npz)] if where == "before" else ["rdf", str(npz), "--debug"]
    with pytest.raises(RuntimeError, match="boom"):
        main(argv)


def test_user_errors_keep_status_2_with_debug(npz, capsys):
    assert main(["--debug", "rdf", str(npz), "--pair", "OH"]) == 2
    assert "two species" in _one_line(capsys.readouterr().err)


# ------------------------------------------------------------------- --out is a file
def _existing_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"precious\n")
    return path


def test_rdf_out_below_a_file_is_refused_and_the_file_kept(npz, tmp_path, capsys):
    f = _existing_file(tmp_path)
    assert main(["rdf", str(npz), "--out", str(f / "g")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"--out {f / 'g'}: {f} is a file, not a folder" in line
    assert f.read_bytes() == b"precious\n"


@pytest.mark.parametrize("command", ["fit", "quickstart"])
def test_fit_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, command):
    f = _existing_file(tmp_path)
    for out in (f, f / "sub"):
        argv = ["fit", str(QUICKSTART)] if command == "fit" else ["quickstart"]
        t0 = time.perf_counter()
        assert main([*argv, "--out", str(out), "--steps", "1"]) == 2
        assert time.perf_counter() - t0 < 5  # the water box is never built
        line = _one_line(capsys.readouterr().err)
        assert str(f) in line and "not a folder" in line
        assert f.read_bytes() == b"precious\n"


# ------------------------------------------------------------- --timestep with .npz
def test_timestep_for_npz_is_a_one_line_error(npz, capsys):
    assert main(["rdf", str(npz), "--timestep", "1 fs"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--timestep" in line and "w.npz" in line and "2 fs" in line
    assert main(["rdf", str(npz), "--topology", "top.pdb"]) == 2
    assert "--topology" in _one_line(capsys.readouterr().err)


# ---------------------------------------------------------------- config time step
CONFIG = """
[fit]
steps = 1
precision = "float64"
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
timestep = "{timestep}"

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

[targets.gradient]
kind = "bptt"
length = "0.1 ps"
"""


def _config(folder, timestep):
    r = np.linspace(0.2, 0.53, 34)
    rows = "".join(f"{x:.6f},{1.0 if x > 0.33 else 0.0}\n" for x in r)
    (folder / "gr.csv").write_text("r,g\n" + rows)
    path = folder / "fit.toml"
    path.write_text(CONFIG.format(timestep=timestep))
    return path


@pytest.mark.parametrize("timestep", ["0 fs", "-5 fs", "-0.002 ps"])
def test_config_time_step_must_be_positive(tmp_path, capsys, timestep):
    path = _config(tmp_path, timestep)
    with pytest.raises(ConfigError, match=f"timestep.*{timestep}.*> 0"):
        load_config(path)
    assert main(["fit", str(path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "timestep" in line and timestep in line and "shorter than" not in line


# ---------------------------------------------------------------- rdf default r_max
@pytest.mark.parametrize("x64", [True, False])
@pytest.mark.parametrize("box", [CUBIC, TRICLINIC], ids=["cubic", "triclinic"])
def test_rdf_default_r_max_is_accepted(tmp_path, capsys, box, x64):
    """The default r_max (half the shortest perpendicular width) is not refused as exceeding
    itself by a rounding error, in float32 (the command line's default) and float64."""
    with jax.enable_x64(x64):
        path = _trajectory(tmp_path / "b.npz", box)
        assert main(["rdf", str(path), "--bins", "10", "--out", str(tmp_path / "g")]) == 0
    assert "first maximum" in capsys.readouterr().out
    assert (tmp_path / "g.csv").is_file()


def test_rdf_r_max_clearly_beyond_the_limit_is_still_refused(npz, capsys):
    assert main(["rdf", str(npz), "--r-max", "0.651 nm"]) == 2
    assert "exceeds the limit" in _one_line(capsys.readouterr().err)


def test_lammps_dump_needs_its_unit_style_on_the_command_line(tmp_path, capsys):
    """A LAMMPS dump does not record `units`: without --lammps-units the command stops with
    one line naming the option; with it (and the types named) it runs."""
    pos = np.random.default_rng(0).uniform(0, 10, size=(6, 4, 3))
    dump = write_lammps_dump(tmp_path / "run.lammpstrj", pos)
    base = ["rdf", str(dump), "--timestep", "10 fs", "--bins", "10"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 2
    assert "lammps_units" in _one_line(capsys.readouterr().err)
    named = ["--lammps-units", "real", "--type-names", "1=Ar,2=Ar", "--masses", "Ar=39.948"]
    assert main([*base, *named, "--out", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g.csv").is_file()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses the malformed option
        main([*base, "--masses", "Ar:40", "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 2
    assert "NAME=VALUE" in capsys.readouterr().err
