"""Every bundled file loads, from a source checkout and from an installed wheel."""

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import observables as ob
import spectrinv
from spectrinv.datasets import bundled_files, data_dir, data_path


def test_data_folder_found():
    root = data_dir()
    assert root.is_dir()
    installed = Path(spectrinv.__file__).resolve().parent
    if "site-packages" in installed.parts:
        # A wheel install must carry the data inside the package (pyproject force-include).
        assert root == installed / "data", f"wheel install reads data from {root}"


def test_every_bundled_file_loads():
    files = bundled_files()
    assert files, f"no bundled files found in {data_dir()}"
    for path in files:
        if path.suffix == ".npz":
            traj = ob.Trajectory.from_npz(path)
            assert traj.n_frames > 0
        elif path.suffix == ".toml":
            meta = tomllib.loads(path.read_text())
            assert meta, f"{path} is empty"
        elif path.suffix == ".csv":
            table = np.genfromtxt(path, delimiter=",", names=True)
            assert table.size > 0 and all(np.isfinite(table[n]).all() for n in table.dtype.names)


def test_missing_file_lists_what_exists():
    with pytest.raises(FileNotFoundError, match="available"):
        data_path("no", "such.csv")


def test_python_version():
    assert sys.version_info >= (3, 11)
