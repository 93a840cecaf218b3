"""The command line: outputs written, numbers consistent with the Python API, clean errors."""

import csv

import numpy as np
import pytest

import observables as ob
from observables import Quantity as Q
from spectrinv.cli import main


@pytest.fixture
def water_like(tmp_path, rng):
    """A periodic trajectory with velocities, masses, species and an oscillating dipole."""
    n_frames, n_atoms = 400, 6
    t = np.arange(n_frames) * 0.002  # ps
    omega = 2 * np.pi * 3400 * 2.99792458e-2  # 3400 cm^-1 in rad/ps
    dipole = np.stack([np.cos(omega * t), np.sin(omega * t), 0 * t], axis=1) * 0.01
    pos = rng.uniform(0, 1.2, size=(n_frames, n_atoms, 3))
    vel = rng.normal(size=(n_frames, n_atoms, 3))
    traj = ob.Trajectory(
        Q(pos, "nm"),
        velocities=Q(vel, "nm/ps"),
        masses=Q([16.0, 1.0, 1.0] * 2, "Da"),
        species=["O", "H", "H"] * 2,
        box=Q([1.2, 1.2, 1.2], "nm"),
        timestep=Q(2, "fs"),
        dipole=Q(dipole, "e*nm"),
    )
    path = tmp_path / "w.npz"
    traj.to_npz(path)
    return path, traj


def test_info(water_like, capsys):
    path, _ = water_like
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "frames       400" in out and "dipole" in out


def test_ir_spectrum_peak_and_files(water_like, tmp_path, capsys):
    path, _ = water_like
    out = tmp_path / "res" / "ir"
    code = main(
        [
            "spectrum",
            str(path),
            "--kind",
            "ir",
            "--temperature",
            "300 K",
            "--out",
            str(out),
            "--compare",
            "water_hale_298K",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert (out.with_suffix(".csv")).is_file() and (out.with_suffix(".png")).is_file()
    spec = ob.Spectrum.from_csv(out.with_suffix(".csv"))
    x, y = spec.x.m_as("1/cm"), np.asarray(spec.y.m)
    assert abs(x[np.argmax(y)] - 3400) < 30  # the dipole oscillates at 3400 cm^-1
    assert "OH stretch" in text and "experiment peak" in text


def test_vdos_and_dipoles_from_file(water_like, tmp_path):
    path, traj = water_like
    cols = tmp_path / "dip.txt"
    np.savetxt(cols, np.column_stack([np.arange(traj.n_frames), np.asarray(traj.dipole) * 10]))
    assert (
        main(
            [
                "spectrum",
                str(path),
                "--kind",
                "ir",
                "--temperature",
                "300 K",
                "--dipoles",
                str(cols),
                "--dipole-unit",
                "e*angstrom",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    a = ob.Spectrum.from_csv(tmp_path / "a.csv")
    b = ob.IRSpectrum(Q(300, "K"))(traj)
    np.testing.assert_allclose(np.asarray(a.y.m), np.asarray(b.y.m), rtol=1e-6, atol=1e-9)
    assert main(["spectrum", str(path), "--kind", "vdos", "--out", str(tmp_path / "v")]) == 0


def test_transport_diffusion(water_like, tmp_path, capsys):
    path, traj = water_like
    assert (
        main(
            [
                "transport",
                str(path),
                "--kind",
                "diffusion",
                "--out",
                str(tmp_path / "d"),
                "--max-lag",
                "40 fs",
                "--blocks",
                "4",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    expected = ob.SelfDiffusion(max_lag=Q(40, "fs"), n_blocks=4)(traj).value.m_as("m**2/s")
    printed = float(text.split("diffusion (all atoms): ")[1].split()[0])
    assert printed == pytest.approx(float(expected), rel=1e-3)
    with open(tmp_path / "d.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "lag_time [ps]" and len(rows) > 10


def test_rdf(water_like, tmp_path, capsys):
    path, _ = water_like
    assert (
        main(["rdf", str(path), "--bins", "20", "--pair", "O-H", "--out", str(tmp_path / "g")]) == 0
    )
    assert (tmp_path / "g.png").is_file()
    assert "first maximum" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["spectrum", "{p}", "--kind", "ir"], "needs --temperature"),
        (["spectrum", "{p}", "--kind", "ir", "--temperature", "300 m"], "temperature"),
        (["spectrum", "{p}", "--kind", "vdos", "--window", "gaussian"], "needs a time"),
        (
            ["spectrum", "{p}", "--kind", "ir", "--temperature", "300 K", "--compare", "nope"],
            "no bundled dataset",
        ),
        (["spectrum", "{p}", "--kind", "raman", "--temperature", "300 K"], "polarizability"),
        (["transport", "{p}", "--kind", "viscosity"], "needs --temperature"),
        (["rdf", "{p}", "--pair", "OH"], "two species"),
        (["info", "missing.npz"], "not found"),
        (["datasets", "nope"], "no dataset named"),
    ],
)
def test_errors_are_one_line(water_like, capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written outside tmp_path
    path, _ = water_like
    code = main([a.replace("{p}", str(path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("w_*")), "an error case wrote output files"


def test_quantity_without_unit_is_rejected(water_like, capsys):
    path, _ = water_like
    with pytest.raises(SystemExit):
        main(["info", str(path), "--timestep", "2"])
    assert "has no unit" in capsys.readouterr().err


def test_datasets_listing(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "ir/water_segelstein_298K" in out
    assert "examples/water_spcfw" in out and "simulated" in out  # examples say what they are
    assert main(["datasets", "water_hale_298K"]) == 0
    assert "10.1364/AO.12.000555" in capsys.readouterr().out


def test_datasets_lists_every_bundled_dataset_and_shows_values(capsys):
    from spectrinv.datasets import list_datasets

    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in list_datasets():
        assert name in out
    assert "QUANTITY" in out and "CONDITIONS" in out and "POINTS" in out
    assert main(["datasets", "fluids/argon_saturated_liquid"]) == 0
    out = capsys.readouterr().out
    assert "10.1063/1.556037" in out and "CoolProp" in out
    assert "temperature [K]" in out and "0.279465" in out  # eta(85 K) in mPa*s, a preview row
    assert main(["datasets", "silicon_elastic_mcskimin1953"]) == 0
    out = capsys.readouterr().out
    assert "C11 = 165.7 GPa" in out and "not verified" in out


def test_parser_has_every_subcommand_without_side_effect_imports():
    """`build_parser()` alone (in a fresh interpreter) knows every subcommand, and the set of
    subcommand modules is a fixed tuple rather than a list that imports append to."""
    import subprocess
    import sys

    code = (
        "from spectrinv.cli import build_parser;"
        "sub = build_parser()._subparsers._group_actions[0];"
        "print(' '.join(sub.choices))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["info", "datasets", "fit", "quickstart", "spectrum", "transport", "rdf"]
    from spectrinv.cli._main import SUBCOMMAND_MODULES

    assert isinstance(SUBCOMMAND_MODULES, tuple)


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "spectrinv.cli", "datasets", "nope"], capture_output=True, text=True
    )
    assert run.returncode == 2 and "no dataset named 'nope'" in run.stderr


def test_warnings_are_one_line_without_source_location(water_like, tmp_path, capsys):
    """A correlation time so long that no block error fits (0.5 ps of 0.8 ps): the
    `ErrorBarWarning` is printed as one line naming its category, not with the package's
    source line; the warning machinery is restored afterwards."""
    import warnings

    before = warnings.showwarning
    path, _ = water_like
    argv = ["spectrum", str(path), "--kind", "vdos", "--max-lag", "0.5 ps"]
    argv += ["--out", str(tmp_path / "vdos")]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(argv) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "ErrorBarWarning" in x]
    assert lines and all(x.startswith("warning (ErrorBarWarning): ") for x in lines), err
    assert ".py:" not in err, err
    assert warnings.showwarning is before
