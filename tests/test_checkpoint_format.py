"""The fit checkpoint file (`spectrinv.fit._checkpoint`): an `.npz` of arrays plus a JSON
description of the containers and modules around them, loaded without pickle.

Exact round trip of everything a checkpoint holds (dtypes, tuples vs lists, NaN, nested
equinox modules of the package), and refusal, with one clear `CheckpointError`, of files
that name a class outside the package, that are corrupted, or that are old pickles — the
hostile file of the pickle era (a `__reduce__` that runs a command) must not run.
"""

import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import PressureResult, Quantity
from spectrinv.fit import CheckpointError
from spectrinv.fit._checkpoint import load_checkpoint, save_checkpoint
from spectrinv.potentials import ForceShifted, LennardJones


def payload():
    lj = LennardJones(
        Quantity(0.34, "nm"),
        Quantity(1.0, "kJ/mol"),
        Quantity(0.8, "nm"),
        truncation=ForceShifted(),
    )
    return {
        "fingerprint": "abc123",
        "step": 7,
        "params": [np.arange(3, dtype=np.float64) / 3, np.array(2, dtype=np.int32)],
        "configurations": {"lj": {"positions": np.ones((2, 4, 3)), "neighbor_capacity": 12}},
        "caches": {"lj": None},
        "initial": {"loss": float("nan"), "observed": PressureResult(jnp.asarray(1.5), None)},
        "final": None,
        "convergence": {"average": (np.float32(0.1), [True, 1e-300, -0.0]), "potential": lj},
    }


def assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float):
        assert (a == b and str(a) == str(b)) or (np.isnan(a) and np.isnan(b))
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert_same(vars(a), vars(b))
    else:
        assert a == b


def test_round_trip_is_exact(tmp_path):
    # the fit stores host (NumPy) arrays
    original = jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, payload())
    lj = original["convergence"]["potential"]
    path = save_checkpoint(tmp_path, original)
    assert path.name == "checkpoint.npz" and not list(tmp_path.glob(".checkpoint-*"))
    loaded = load_checkpoint(tmp_path)
    assert loaded.pop("format_version") == 2
    assert_same(original, loaded)
    assert float(loaded["convergence"]["potential"].sigma) == float(lj.sigma)


def test_no_checkpoint_is_none(tmp_path):
    assert load_checkpoint(tmp_path) is None


def _rewrite_structure(tmp_path, edit):
    """Replace the JSON structure of a saved checkpoint by `edit(structure)`."""
    path = save_checkpoint(tmp_path, {"step": 1, "x": np.zeros(2)})
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    structure = edit(json.loads(bytes(arrays["structure"]).decode()))
    arrays["structure"] = np.frombuffer(json.dumps(structure).encode(), np.uint8)
    np.savez(path, **arrays)


def test_a_class_outside_the_package_is_refused_without_being_called(tmp_path):
    def hostile(s):
        s["$dict"]["x"] = {"$module": "os:system", "attributes": {}}
        return s

    _rewrite_structure(tmp_path, hostile)
    with pytest.raises(CheckpointError, match="class outside spectrinv: os:system"):
        load_checkpoint(tmp_path)


def test_a_package_name_that_is_not_a_module_class_is_refused(tmp_path):
    def not_a_module(s):
        s["$dict"]["x"] = {"$module": "spectrinv.fit._checkpoint:save_checkpoint", "attributes": {}}
        return s

    _rewrite_structure(tmp_path, not_a_module)
    with pytest.raises(CheckpointError, match="not an equinox module"):
        load_checkpoint(tmp_path)


def test_corrupt_and_truncated_files_are_refused(tmp_path):
    path = save_checkpoint(tmp_path, {"step": 1, "x": np.zeros(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*afresh"):
        load_checkpoint(tmp_path)
    path.write_text("not a zip")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path)
    with zipfile.ZipFile(path, "w") as z:  # a valid archive without the structure member
        z.writestr("a0.npy", b"")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path)


def test_an_old_pickle_checkpoint_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "executed"

    class Hostile:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"step": Hostile()}))
    with pytest.raises(CheckpointError, match="older spectrinv .*pickle.*delete it"):
        load_checkpoint(tmp_path)
    assert not marker.exists()


def test_unstorable_values_are_refused_when_saving(tmp_path):
    with pytest.raises(CheckpointError, match="a function cannot go into a checkpoint"):
        save_checkpoint(tmp_path, {"f": lambda x: x})
    with pytest.raises(CheckpointError, match="keys must be strings"):
        save_checkpoint(tmp_path, {"d": {1: 2}})
    assert not (tmp_path / "checkpoint.npz").exists()
