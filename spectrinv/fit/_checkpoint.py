"""Checkpoints of a fit: the full state after every step, written atomically.

A checkpoint holds everything the next step depends on — the fitted parameters, the
optimiser state, the per-target MD configuration (positions, velocities) and gradient
caches (e.g. the reference trajectory of `Reweighting`), the step counter and the
observables before the first update — so a fit killed at any moment resumes from its last
completed step and ends with the same parameters as an uninterrupted run (bitwise on CPU:
every random key is derived from the seed and the step number).

Format: one pickle of NumPy arrays and plain Python containers (`checkpoint.pkl` in the
fit's output folder), replaced atomically (`os.replace` of a fully written, fsynced
temporary file), so a crash during the write leaves the previous checkpoint intact. Pytree
structures are not stored: they are rebuilt from the fit's inputs and the leaves are put
back, after checking their number, shapes and dtypes.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import jax
import numpy as np
from jaxtyping import PyTree

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "leaves_to_numpy", "restore"]

CHECKPOINT_NAME = "checkpoint.pkl"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used for this fit (other fit, corrupted, wrong shapes)."""


def leaves_to_numpy(tree: PyTree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def to_numpy_tree(tree: PyTree) -> PyTree:
    """Same pytree with every JAX array converted to NumPy (picklable, host memory)."""
    return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


def restore(template: PyTree, leaves: list[np.ndarray], what: str) -> PyTree:
    """Put saved `leaves` back into the structure of `template` (checked)."""
    flat, treedef = jax.tree.flatten(template)
    if len(flat) != len(leaves):
        raise CheckpointError(
            f"checkpoint {what}: {len(leaves)} arrays saved, the fit has {len(flat)}"
        )
    out = []
    for i, (t, s) in enumerate(zip(flat, leaves, strict=True)):
        t_shape, t_dtype = np.shape(t), np.asarray(t).dtype
        if np.shape(s) != t_shape or np.asarray(s).dtype != t_dtype:
            raise CheckpointError(
                f"checkpoint {what}: array {i} is {np.asarray(s).dtype}{list(np.shape(s))}, "
                f"the fit expects {t_dtype}{list(t_shape)} (another precision or system?)"
            )
        out.append(jax.numpy.asarray(s))
    return jax.tree.unflatten(treedef, out)


def save_checkpoint(folder: str | os.PathLike, payload: dict) -> Path:
    """Write `payload` (plus the format version) atomically to `folder/checkpoint.pkl`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_NAME
    data = dict(payload, format_version=FORMAT_VERSION)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(folder: str | os.PathLike) -> dict | None:
    """The checkpoint in `folder`, or `None` if there is none."""
    path = Path(folder) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except Exception as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {err}; delete it (or the output folder) to "
            "start the fit afresh"
        ) from err
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a spectrinv fit checkpoint (format mismatch)")
    return data
