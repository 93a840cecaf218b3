"""Property-based bad input (issue 20): valid and mutated CSV files, fit configurations and
`.npz` trajectories either work or raise the package's one-line error — never another
exception from deep inside, never a silently different result. Small `max_examples`: the
fixed cases live in test_bad_input_load.py and test_cli_bad_input.py."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
from _bad_inputs import _gr_csv, _npz, _raw
from hypothesis import HealthCheck, given, settings, strategies as st

from observables import TrajectoryError, UnitError
from observables.io import read_trajectory
from spectrinv.datasets import Dataset, DatasetError
from spectrinv.fit import ConfigError, parse_config

FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _one_line(err: BaseException, *names: str) -> None:
    message = str(err)
    assert message and "\n" not in message, message
    for name in names:
        assert name in message, message


# ------------------------------------------------------------------------------ CSV
ROWS = [(0.2, 0.0), (0.3, 0.5), (0.4, 1.4), (0.5, 1.0), (0.6, 0.9)]
#: cell replacements that must be refused (not numbers, not finite, missing)
BAD_CELLS = ["nan", "abc", "", "inf", "-inf", "1e400", "0x12", "--1"]


@st.composite
def csv_texts(draw):
    """`(text, must_fail)`: the valid table, or one mutation of it."""
    rows = [[f"{x:g}", f"{y:g}"] for x, y in ROWS]
    kind = draw(st.sampled_from(["valid", "cell", "duplicate x", "swap x", "truncate"]))
    must_fail = kind in ("cell", "duplicate x", "swap x")
    if kind == "cell":
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, 1))
        rows[i][j] = draw(st.sampled_from(BAD_CELLS))
    elif kind == "duplicate x":
        i = draw(st.integers(1, len(rows) - 1))
        rows[i][0] = rows[i - 1][0]
    elif kind == "swap x":
        i = draw(st.integers(1, len(rows) - 1))
        rows[i][0], rows[i - 1][0] = rows[i - 1][0], rows[i][0]
    text = "r,g\n" + "".join(f"{a},{b}\n" for a, b in rows)
    if kind == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    return text, must_fail


@FUZZ
@given(csv_texts())
def test_fuzzed_csv_reads_or_is_one_line_error(case):
    text, must_fail = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gr.csv"
        path.write_text(text)
        try:
            ds = Dataset.from_csv(path, x="r", y="g", x_unit="nm", y_unit="dimensionless")
        except (DatasetError, UnitError) as err:
            _one_line(err, "gr.csv")
            return
    assert not must_fail, f"accepted: {text!r}"
    x, y = np.asarray(ds.x), np.asarray(ds.y)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.diff(x) > 0)
    # every point read is a row of the file (a truncated last number may read shorter)
    complete = {(f"{a:g}", f"{b:g}") for a, b in ROWS}
    assert sum((f"{a:g}", f"{b:g}") not in complete for a, b in zip(x, y, strict=True)) <= 1


# --------------------------------------------------------------------- configurations
#: (path into the parsed config, replacement): wrong dimensions, NaN, signs, wrong types
KEYS = [
    ("model", "sigma"),
    ("model", "epsilon"),
    ("model", "cutoff"),
    ("targets", 0, "temperature"),
    ("targets", 0, "timestep"),
    ("targets", 0, "friction"),
    ("targets", 0, "observable_options", "r_max"),
    ("targets", 0, "observable_options", "bins"),
    ("targets", 0, "system", "density"),
    ("targets", 0, "system", "cells"),
    ("targets", 0, "gradient", "length"),
    ("targets", 0, "dataset", "x_unit"),
    ("fit", "steps"),
    ("fit", "learning_rate"),
]
VALUES = [
    "300 K",
    "0.3 nm",
    "nan fs",
    "-5 fs",
    "1e999 nm",
    "5",
    "",
    "kg",
    0,
    -1,
    2.5,
    True,
    [],
    {},
    "1 parsec",
    "0.002 ps",
]


@FUZZ
@given(st.sampled_from(KEYS), st.sampled_from(VALUES))
def test_fuzzed_config_loads_or_is_one_line_config_error(tmp_path, key, value):
    _gr_csv(tmp_path)
    raw = copy.deepcopy(_raw())
    table = raw
    for part in key[:-1]:
        table = table[part]
    table[key[-1]] = value
    try:
        config = parse_config(raw, source="fit.toml", base=tmp_path)
    except ConfigError as err:
        _one_line(err, "fit.toml")
        return
    assert config.steps >= 0 and config.targets[0].temperature > 0


# ------------------------------------------------------------------------------- npz
@FUZZ
@given(st.data())
def test_fuzzed_npz_reads_identically_or_is_one_line_error(tmp_path, data):
    good = _npz(tmp_path)
    raw = bytearray(good.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
    else:
        start = data.draw(st.integers(0, len(raw) - 1), label="offset")
        patch = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        raw[start : start + len(patch)] = patch
    bad = tmp_path / "fuzzed.npz"
    bad.write_bytes(bytes(raw))
    try:
        traj = read_trajectory(bad)
    except TrajectoryError as err:
        _one_line(err, "fuzzed.npz")
        return
    ref = read_trajectory(good)
    for name in ("positions", "box", "timestep"):
        assert np.array_equal(np.asarray(getattr(traj, name)), np.asarray(getattr(ref, name)))
    assert tuple(traj.species) == tuple(ref.species)


# ---------------------------------------------------------------------------- JCAMP-DX
JCAMP_X = np.linspace(1000.0, 4000.0, 8)
JCAMP_Y = 2.0 + np.sin(JCAMP_X / 500.0)
#: replacements of one data number that must be refused
BAD_NUMBERS = ["nan", "inf", "abc", "", "1e400"]
#: header lines whose loss must be refused (a file without ##NPOINTS may read, but exactly)
HEADERS = ["##NPOINTS", "##XYPOINTS", "##END"]


def _jcamp_text() -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.jdx"
        Dataset.from_arrays(
            JCAMP_X, JCAMP_Y, x_unit="1/cm", y_unit="1/cm", quantity="n_alpha"
        ).to_jcamp(path)
        return path.read_text()


@st.composite
def jcamp_texts(draw):
    """`(text, must_fail)`: the valid JCAMP-DX file written by the package, or one mutation."""
    lines = _jcamp_text().splitlines(keepends=True)
    data = [i for i, ln in enumerate(lines) if ln[:1].isdigit()]
    kind = draw(
        st.sampled_from(
            ["valid", "number", "drop header", "drop row", "npoints", "x unit", "truncate"]
        )
    )
    must_fail = kind != "valid"
    if kind == "number":
        i = draw(st.sampled_from(data))
        xs, ys = lines[i].split(",")
        bad = draw(st.sampled_from(BAD_NUMBERS))
        lines[i] = f"{bad}, {ys}" if draw(st.booleans()) else f"{xs}, {bad}\n"
    elif kind == "drop header":
        head = draw(st.sampled_from(HEADERS))
        lines = [ln for ln in lines if not ln.startswith(head)]
        must_fail = head != "##NPOINTS"
    elif kind == "drop row":
        del lines[draw(st.sampled_from(data))]
    elif kind == "x unit":  # not spectroscopic, not a unit, or off any spectrum
        unit = draw(st.sampled_from(["K", "SECONDS", "PARSEC", "HZ", "KG"]))
        lines = [f"##XUNITS={unit}\n" if ln.startswith("##XUNITS") else ln for ln in lines]
    elif kind == "npoints":
        n = draw(st.sampled_from(["7", "9", "0", "-8", "x"]))
        lines = [f"##NPOINTS={n}\n" if ln.startswith("##NPOINTS") else ln for ln in lines]
    text = "".join(lines)
    if kind == "truncate":  # anywhere before the final '##END=' line
        text = text[: draw(st.integers(0, text.rindex("##END")))]
    return text, must_fail


@FUZZ
@given(jcamp_texts())
def test_fuzzed_jcamp_reads_exactly_or_is_one_line_error(case):
    text, must_fail = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.jdx"
        path.write_text(text)
        try:
            ds = Dataset.from_jcamp(path)
        except (DatasetError, UnitError) as err:
            _one_line(err, "fuzzed.jdx")
            return
    assert not must_fail, f"accepted a damaged file: {text!r}"
    assert (ds.x_unit, ds.y_unit) == ("1/cm", "1/cm")
    np.testing.assert_allclose(np.asarray(ds.x), JCAMP_X, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ds.y), JCAMP_Y, rtol=1e-12)
