"""Locate the bundled data folder (`data/` in the repository, `spectrinv/data` in a wheel)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["data_dir", "data_path", "bundled_files"]


def data_dir() -> Path:
    """The folder holding bundled datasets and example trajectories.

    In an installed wheel the repository's `data/` folder is shipped as `spectrinv/data`;
    in a source checkout (or an editable install) it is the `data/` folder beside the
    package.
    """
    packaged = Path(str(importlib.resources.files("spectrinv"))) / "data"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "data"
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"spectrinv's data folder is missing (looked in {packaged} and {source}); "
        "reinstall the package"
    )


def data_path(*parts: str) -> Path:
    """Path of a bundled file, e.g. `data_path("examples", "lj_argon.npz")`."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        available = ", ".join(str(p.relative_to(data_dir())) for p in bundled_files())
        raise FileNotFoundError(f"no bundled file {'/'.join(parts)!r}; available: {available}")
    return path


def bundled_files(suffixes: tuple[str, ...] = (".npz", ".csv", ".toml")) -> list[Path]:
    """All bundled data files with the given suffixes, sorted."""
    root = data_dir()
    return sorted(p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())
