"""Bad input refused when it is read (issue 20): quantities of the wrong dimension in a fit
configuration, a dataset of another kind than its target's observable, spectra whose unit
puts them outside any spectrum, truncated JCAMP-DX files, damaged `.npz` trajectories, a
`spectrinv rdf --bins` too large for memory and a corrupt DCD. Each is one line naming the
offending key, unit, file or array; none starts a simulation or compiles anything."""

from __future__ import annotations

import io
import re
import zipfile
import zlib

import jax
import numpy as np
import pytest
from _bad_inputs import _gr_csv, _npz, _raw

from observables import TrajectoryError, UnitError
from observables.io import read_trajectory
from spectrinv.cli import main
from spectrinv.datasets import Dataset, DatasetError
from spectrinv.fit import ConfigError, parse_config
from spectrinv.fit._fingerprint import describe_changes, fingerprint_parts


# ------------------------------------------------------------------ fit configurations
@pytest.fixture
def folder(tmp_path):
    assert jax.config.jax_enable_x64
    _gr_csv(tmp_path)
    return tmp_path


def _dataset(**changes):
    table = _raw()["targets"][0]["dataset"]
    return {**table, **changes}


# (config changes, pattern the one-line error must match)
CONFIG_CASES = {
    "length bound in K": (
        {"fit": {"bounds": {"sigma": ["300 K", "400 K"]}}},
        r"\[fit.bounds\] 'sigma': '300 K' is in K .*sigma is a length",
    ),
    "length upper bound an energy": (
        {"fit": {"bounds": {"sigma": ["", "1 kJ/mol"]}}},
        r"'sigma': '1 kJ/mol' is in kJ/mol .*sigma is a length",
    ),
    "energy bound a length": (
        {"fit": {"bounds": {"epsilon": ["0.1 nm", "0.2 nm"]}}},
        r"'epsilon': '0.1 nm' is in nm .*epsilon is an energy",
    ),
    "bound a bare number": (
        {"fit": {"bounds": {"sigma": [0.3, 0.4]}}},
        r"'sigma': expected a quantity string with units",
    ),
    "bound unparseable": (
        {"fit": {"bounds": {"sigma": ["0.3 nmm", ""]}}},
        r"'sigma': cannot parse '0.3 nmm'",
    ),
    "starting length in K": (
        {"model": {"parameters": {"sigma": "3 K"}}},
        r"\[parameters\] 'sigma': '3 K' is in K .*sigma is a length",
    ),
    "starting energy a length": (
        {"model": {"parameters": {"epsilon": "0.3 nm"}}},
        r"\[parameters\] 'epsilon': '0.3 nm' is in nm .*epsilon is an energy",
    ),
    "model sigma in K": ({"model": {"sigma": "300 K"}}, r"sigma: '300 K' has unit K"),
    "window in K": ({"x_range": [["1 K", "2 K"]]}, r"x_range: '1 K' has unit K"),
    "r_max beyond the box": (
        {"observable_options": {"r_max": "0.7 nm", "bins": 40}},
        r"r_max = 0.7 nm exceeds half the narrowest width of the target's box \(0.573",
    ),
    "r_max in K": (
        {"observable_options": {"r_max": "0.5 K"}},
        r"r_max: '0.5 K' has unit K, expected a \[length\]",
    ),
    "IR dataset for an RDF": (
        {"dataset": "water_segelstein_298K"},
        r"dimension mismatch: dataset 'water_segelstein_298K' \(n_alpha\) has x in 1/cm "
        r".*observable 'rdf' gives x in nm",
    ),
    "dataset x in K for an RDF": (
        {"dataset": _dataset(x_unit="K")},
        r"dimension mismatch: .* has x in K \(\[temperature\]\).* gives x in nm",
    ),
    "wavenumbers given as parsecs": (
        {"dataset": _dataset(x_unit="1 parsec", quantity="n_alpha")},
        r"x_unit '1 parsec' puts its n_alpha at .*outside any spectrum",
    ),
    "RDF bins beyond memory": (
        {"observable_options": {"r_max": "0.5 nm", "bins": 10**9}},
        r"bins = 1000000000: bins of 5e-10 nm are far finer .* use at most 100000",
    ),
    "temperature a length": ({"temperature": "90 nm"}, r"temperature: '90 nm' has unit"),
    "friction in K": ({"friction": "5 K"}, r"friction: '5 K' has unit K"),
    "negative time step": ({"timestep": "-5 fs"}, r"timestep = '-5 fs': a time step must be > 0"),
    "NaN time step": ({"timestep": "nan fs"}, r"timestep: 'nan fs' is not a finite number"),
    "infinite length": ({"model": {"cutoff": "1e999 nm"}}, r"cutoff: '1e999 nm' is not a finite"),
    "infinite bound": (
        {"fit": {"bounds": {"sigma": ["", "inf nm"]}}},
        r"'sigma': 'inf nm' is not a finite number",
    ),
    "density in K": (
        {"system": {"cells": 2, "density": "1 K"}},
        r"density: '1 K' has unit K",
    ),
}


def _changes(case):
    changes = dict(case)
    fit, model = changes.pop("fit", None), changes.pop("model", None)
    return _raw(fit=fit, model=model, **changes)


@pytest.mark.parametrize("name", list(CONFIG_CASES))
def test_config_refused_at_load_naming_key_and_units(folder, name):
    changes, pattern = CONFIG_CASES[name]
    with pytest.raises(ConfigError) as info:
        parse_config(_changes(changes), source="fit.toml", base=folder)
    message = str(info.value)
    assert "\n" not in message and message.startswith("fit.toml"), message
    assert re.search(pattern, message), message


def test_energy_bounds_may_be_given_as_epsilon_over_k_b(folder):
    """The control of the cases above: an energy bound in K is ε/k_B (as `epsilon` itself)."""
    config = parse_config(
        _raw(fit={"bounds": {"epsilon": ["100 K", "140 K"]}}), source="fit.toml", base=folder
    )
    interval = config.bounds["epsilon"]
    k_b = 0.0083144626  # kJ/mol/K
    assert interval.lower == pytest.approx(100 * k_b) and interval.upper == pytest.approx(140 * k_b)


def test_changed_dataset_file_is_named_by_the_resume_guard(folder):
    """The resume guard compares the configs' resolved targets: rewriting the CSV the
    config reads (one value) changes the dataset's part; the same file changes nothing."""

    def parts():
        config = parse_config(_raw(), source="fit.toml", base=folder)
        return fingerprint_parts(config.targets, ["sigma"], 0, "adam", None)

    before = parts()
    assert describe_changes(before, parts()) == ""
    _gr_csv(folder, g_last=1.05)
    changed = describe_changes(before, parts())
    assert changed.startswith("dataset of target 'rdf'"), changed
    assert "temperature" not in changed


# ------------------------------------------------------------------------- datasets
def _csv(tmp_path, x_unit, xs=(1000, 2000, 3000)):
    path = tmp_path / "a.csv"
    path.write_text("x,a\n" + "".join(f"{x},{i + 1}\n" for i, x in enumerate(xs)))
    return Dataset.from_csv(path, x="x", y="a", x_unit=x_unit, y_unit="1/cm", quantity="n_alpha")


@pytest.mark.parametrize("x_unit", ["1 parsec", "km", "Hz"])
def test_spectrum_with_an_implausible_axis_unit_is_refused(tmp_path, x_unit):
    with pytest.raises(UnitError, match=f"x_unit '{x_unit}' puts its n_alpha at .* 1/cm"):
        _csv(tmp_path, x_unit)


@pytest.mark.parametrize("x_unit", ["K", "s", "kg", "dimensionless"])
def test_spectrum_with_a_non_spectroscopic_axis_unit_is_refused(tmp_path, x_unit):
    with pytest.raises(UnitError, match=f"'n_alpha' spectrum needs a spectroscopic .*'{x_unit}'"):
        _csv(tmp_path, x_unit)


def test_a_generic_table_keeps_any_axis_unit(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("T,eta\n90,0.25\n100,0.2\n")
    ds = Dataset.from_csv(path, x="T", y="eta", x_unit="K", y_unit="mPa*s")
    assert ds.x_unit == "K"


def test_spectrum_axis_in_wavelengths_or_thz_is_accepted(tmp_path):
    assert _csv(tmp_path, "um", xs=(2.5, 6, 20)).x_unit == "um"
    assert _csv(tmp_path, "1/cm", xs=(0, 2000, 4000)).x_unit == "1/cm"


def _jcamp(tmp_path):
    x = np.linspace(1000, 4000, 60)
    d = Dataset.from_arrays(
        x, 2 + np.sin(x / 500), x_unit="1/cm", y_unit="1/cm", quantity="n_alpha"
    )
    path = tmp_path / "s.jdx"
    d.to_jcamp(path)
    return path, path.read_text()


def test_truncated_jcamp_is_refused(tmp_path):
    path, text = _jcamp(tmp_path)
    assert Dataset.from_jcamp(path).x.shape == (60,)  # the intact file reads
    lines = text.splitlines(keepends=True)
    for cut in (text[: len(text) // 2], "".join(lines[: len(lines) // 2])):
        path.write_text(cut)
        with pytest.raises(DatasetError, match=r"s.jdx ends before its '##END=' line: .*truncated"):
            Dataset.from_jcamp(path)
    data_end = [i for i, ln in enumerate(lines) if ln.startswith("##END")][0]
    path.write_text("".join(lines[: data_end - 10] + lines[data_end:]))  # rows lost, END kept
    with pytest.raises(DatasetError, match=r"##NPOINTS=60 but the data block holds 50 points"):
        Dataset.from_jcamp(path)


# -------------------------------------------------------------- .npz trajectories
def _rewrite(path, out, member, change):
    """Copy the archive `path` to `out` with member `member`'s bytes (uncompressed) changed."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename == member else data)
    return out


def _raw_deflate_damage(path, out, member, fill):
    """Overwrite the start of `member`'s compressed stream with `fill` (CRC left as is)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        offset = z.getinfo(member).header_offset
    name_length, extra_length = np.frombuffer(bytes(data[offset + 26 : offset + 30]), "<u2")
    start = offset + 30 + int(name_length) + int(extra_length)
    data[start : start + len(fill)] = fill
    out.write_bytes(bytes(data))
    return out


def _strings(data):
    buf = io.BytesIO()
    np.save(buf, np.full((4, 6, 3), "x"))
    return buf.getvalue()


NPZ_CASES = {
    "zlib error": (
        lambda p, o: _raw_deflate_damage(p, o, "positions.npy", b"\xff\xff\xff\xff"),
        r"array 'positions' cannot be read \(zlib.error: Error -3 while decompressing",
    ),
    "bad CRC": (
        lambda p, o: _raw_deflate_damage(p, o, "box.npy", b"\x03\x00"),
        r"array 'box' cannot be read \(zipfile.BadZipFile: Bad CRC-32",
    ),
    "strings": (
        lambda p, o: _rewrite(p, o, "positions.npy", _strings),
        r"array 'positions' holds <U1 values, not numbers",
    ),
    "truncated member": (
        lambda p, o: _rewrite(p, o, "positions.npy", lambda b: b[: len(b) // 2]),
        r"array 'positions' cannot be read \(ValueError: .*expected \d+ bytes got \d+",
    ),
    "truncated archive": (
        lambda p, o: o.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]) and o,
        r"is not a readable .npz file",
    ),
    "damaged header": (
        lambda p, o: _raw_deflate_damage(p, o, "__header__.npy", b"\xff\xff\xff\xff"),
        r"malformed '__header__'",
    ),
    "empty file": (lambda p, o: o.write_bytes(b"") or o, r"is not a readable .npz file"),
}


@pytest.mark.parametrize("name", list(NPZ_CASES))
def test_damaged_npz_is_one_error_naming_file_and_array(tmp_path, name):
    make, pattern = NPZ_CASES[name]
    bad = make(_npz(tmp_path), tmp_path / "bad.npz")
    with pytest.raises(TrajectoryError) as info:
        read_trajectory(bad)
    message = str(info.value)
    assert "\n" not in message and str(bad) in message, message
    assert re.search(pattern, message), message


@pytest.mark.parametrize("name", ["zlib error", "strings", "truncated member"])
def test_damaged_npz_on_the_command_line(tmp_path, capsys, name):
    make, pattern = NPZ_CASES[name]
    bad = make(_npz(tmp_path), tmp_path / "bad.npz")
    assert main(["rdf", str(bad), "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"spectrinv rdf: error: {bad}") and re.search(pattern, err), err
    assert not list(tmp_path.glob("g.*"))


# ----------------------------------------------------------------- command line
@pytest.mark.parametrize(
    "bins, pattern",
    [
        ("100000000000", r"--bins 100000000000 needs about 9\.6 TB for 4 frames, more than half"),
        ("0", r"--bins 0: the number of bins must be at least 1"),
        ("-3", r"--bins -3: the number of bins must be at least 1"),
    ],
    ids=["huge", "zero", "negative"],
)
def test_rdf_bins_refused_before_computing(tmp_path, capsys, bins, pattern):
    path = _npz(tmp_path)
    assert main(["rdf", str(path), "--bins", bins, "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err
    assert not list(tmp_path.glob("g.*"))


def _dcd(tmp_path):
    mda = pytest.importorskip("MDAnalysis")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe.empty(6, trajectory=True)
        u.add_TopologyAttr("name", ["O", "H", "H"] * 2)
        u.add_TopologyAttr("type", ["O", "H", "H"] * 2)
        u.dimensions = [13, 13, 13, 90, 90, 90]
        u.atoms.write(tmp_path / "top.pdb")
        with mda.Writer(str(tmp_path / "t.dcd"), 6) as w:
            for _ in range(3):
                u.atoms.positions = np.random.default_rng(0).random((6, 3)) * 10
                w.write(u.atoms)
    return tmp_path / "t.dcd", tmp_path / "top.pdb"


@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_corrupt_dcd_is_one_line_without_mdanalysis_internals(tmp_path, capsys, damage):
    dcd, top = _dcd(tmp_path)
    raw = dcd.read_bytes()
    dcd.write_bytes(raw[:20] + b"\xff" * 40 + raw[60:] if damage == "header" else raw[:50])
    argv = ["rdf", str(dcd), "--topology", str(top), "--timestep", "1 fs", "--bins", "10"]
    assert main([*argv, "--out", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err and str(dcd) in err, err
    assert not list(tmp_path.glob("g.*"))


def test_zlib_damage_really_is_a_zlib_error(tmp_path):
    """The 'zlib error' case above damages the compressed stream itself (not only the CRC)."""
    bad = NPZ_CASES["zlib error"][0](_npz(tmp_path), tmp_path / "bad.npz")
    with zipfile.ZipFile(bad) as z, pytest.raises(zlib.error):
        z.read("positions.npy")


# (argv with {p}: the .npz, {d}: the test folder; what the one line must contain)
CLI_CASES = {
    "r_max in K": (["rdf", "{p}", "--r-max", "1 K"], "r_max has unit K ([temperature])"),
    "missing trajectory": (["rdf", "{d}/nothing.npz"], "not found: {d}/nothing.npz"),
    "unknown trajectory format": (["rdf", "{d}/notes.foo"], "format '.foo' for notes.foo"),
    "einstein viscosity": (
        [
            "transport",
            "{p}",
            "--kind",
            "viscosity",
            "--temperature",
            "300 K",
            "--method",
            "einstein",
        ],
        "--method einstein is available for diffusion only",
    ),
    "unknown window": (["spectrum", "{p}", "--kind", "vdos", "--window", "triangle"], "triangle"),
    "dipoles without unit": (
        ["spectrum", "{p}", "--kind", "vdos", "--dipoles", "{d}/mu.txt"],
        "--dipoles needs --dipole-unit",
    ),
    "dipoles of the wrong shape": (
        ["spectrum", "{p}", "--kind", "vdos", "--dipoles", "{d}/mu.txt", "--dipole-unit", "D"],
        "mu.txt: cannot read (5, 2) as frames of (3,)",
    ),
    "config not TOML": (["fit", "{d}/bad.toml"], "bad.toml: not valid TOML"),
    "config bound in K": (["fit", "{d}/fit.toml"], "fit.toml [fit.bounds] 'sigma': '1 K' is in K"),
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_command_line_bad_input_is_one_line_with_status_2(tmp_path, capsys, name):
    argv, expected = CLI_CASES[name]
    path = _npz(tmp_path)
    (tmp_path / "notes.foo").write_text("not a trajectory\n")
    (tmp_path / "mu.txt").write_text("1 2\n" * 5)
    (tmp_path / "bad.toml").write_text("[fit\nsteps = 1\n")
    _gr_csv(tmp_path)
    text = _raw_toml(bounds='sigma = ["1 K", "2 K"]')
    (tmp_path / "fit.toml").write_text(text)
    args = [a.replace("{p}", str(path)).replace("{d}", str(tmp_path)) for a in argv]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected.replace("{d}", str(tmp_path)) in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out.*"))


def _raw_toml(bounds: str) -> str:
    """The config of `_raw()` as TOML text, with a `[fit.bounds]` table."""
    lines = []

    def table(name, values):
        lines.append(f"[{name}]")
        for key, value in values.items():
            if not isinstance(value, dict):
                lines.append(f"{key} = {_toml_value(value)}")
        for key, value in values.items():
            if isinstance(value, dict):
                table(f"{name}.{key}", value)

    raw = _raw()
    table("fit", {**raw["fit"], "uncertainty": False})
    lines.extend(["[fit.bounds]", bounds])
    table("model", raw["model"])
    for target in raw["targets"]:
        lines.append("[[targets]]")
        lines.extend(
            f"{k} = {_toml_value(v)}" for k, v in target.items() if not isinstance(v, dict)
        )
        for key, value in target.items():
            if isinstance(value, dict):
                table(f"targets.{key}", value)
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


# ------------------------------------------------------------ Python API: fit bounds
@pytest.mark.parametrize(
    "name, lower, upper, message",
    [
        (
            "sigma",
            "300 K",
            "400 K",
            "bounds 'sigma': given in K ([temperature]), but sigma is in nm",
        ),
        (
            "epsilon",
            "0.1 nm",
            None,
            "bounds 'epsilon': given in nm ([length]), but epsilon is in kJ/mol",
        ),
        ("epsilon", None, "120 K", "bounds 'epsilon': given in K ([temperature])"),
    ],
)
def test_fit_refuses_bounds_of_another_dimension_before_simulating(
    folder, name, lower, upper, message
):
    from spectrinv.fit import Interval, fit

    config = parse_config(_raw(), source="fit.toml", base=folder)
    bounds = {name: Interval(lower, upper, name=name)}
    with pytest.raises(UnitError, match=re.escape(message)):
        fit(config.potential, config.targets, steps=1, output_dir=folder / "out", bounds=bounds)
    assert not (folder / "out" / "checkpoint.npz").exists()


def test_bounds_in_the_parameters_dimension_pass_the_check():
    from spectrinv.fit import Interval
    from spectrinv.fit._params import check_bound_units

    units = {"sigma": "nm", "epsilon": "kJ/mol"}
    for bounds in (
        {"sigma": Interval("3 angstrom", "0.4 nm")},
        {"epsilon": Interval("0.005 eV", "2 kJ/mol")},
        {"epsilon": Interval("60 K * boltzmann_constant", None)},
    ):
        assert check_bound_units(bounds, units) is bounds
