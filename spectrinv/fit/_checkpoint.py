"""Checkpoints of a fit: the full state after every step, written atomically.

A checkpoint holds everything the next step depends on — the fitted parameters, the
optimiser state, the per-target MD configuration (positions, velocities) and gradient
caches (e.g. the reference trajectory of `Reweighting`), the step counter and the
observables before the first update — so a fit killed at any moment resumes from its last
completed step and ends with the same parameters as an uninterrupted run (bitwise on CPU:
every random key is derived from the seed and the step number).

Format: one uncompressed NumPy `.npz` archive (`checkpoint.npz` in the fit's output folder),
read with `allow_pickle=False`: every array is a member, and a member `structure` holds, as
JSON text, the containers around them (dicts with string keys, lists, tuples, numbers,
strings, `None`) and the equinox modules of `observables` and `spectrinv` that a checkpoint
carries (a `Reweighting` reference: its trajectory, per-frame results, the potential's
parameters), by class path and attribute values. Loading never runs code from the file: a
class is only looked up in those two packages and must be an equinox module, which is
rebuilt from its attributes as pickle would (without calling `__init__`). Floats go through
JSON exactly (shortest round-tripping repr), so resume stays bitwise. The file is replaced
atomically (`os.replace` of a fully written, fsynced temporary file), so a crash during
the write leaves the previous checkpoint intact. Pytree structures of the parameters and
optimiser state are not stored: they are rebuilt from the fit's inputs and the leaves are
put back, after checking their number, shapes and dtypes. A `checkpoint.pkl` of an older
version is refused with a message (pickle can execute code when loaded).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PyTree

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "leaves_to_numpy", "restore"]

CHECKPOINT_NAME = "checkpoint.npz"
LEGACY_NAME = "checkpoint.pkl"
FORMAT_VERSION = 2
#: The packages whose equinox modules a checkpoint may rebuild.
MODULE_PACKAGES = ("observables", "spectrinv")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used for this fit (other fit, corrupted, wrong shapes)."""


def leaves_to_numpy(tree: PyTree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def to_numpy_tree(tree: PyTree) -> PyTree:
    """Same pytree with every JAX array converted to NumPy (host memory)."""
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


# ---------------------------------------------------------------------------- encoding
def encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-ready description of `value`; its arrays go into `arrays` (member names)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray | np.generic | jax.Array):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise CheckpointError("an array of Python objects cannot go into a checkpoint")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"$array": name, "scalar": isinstance(value, np.generic)}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"checkpoint dict keys must be strings, got {list(value)}")
        return {"$dict": {k: encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        kind = "$list" if isinstance(value, list) else "$tuple"
        return {kind: [encode(v, arrays) for v in value]}
    if isinstance(value, eqx.Module):
        cls = type(value)
        if cls.__module__.split(".")[0] not in MODULE_PACKAGES:
            raise CheckpointError(f"a {cls.__qualname__} cannot go into a checkpoint")
        attributes = {k: encode(v, arrays) for k, v in vars(value).items()}
        return {"$module": f"{cls.__module__}:{cls.__qualname__}", "attributes": attributes}
    raise CheckpointError(f"a {type(value).__name__} cannot go into a checkpoint")


def _module_class(path: str) -> type:
    module_name, _, qualname = path.partition(":")
    if module_name.split(".")[0] not in MODULE_PACKAGES:
        raise CheckpointError(f"the checkpoint names a class outside spectrinv: {path}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"the checkpoint names an unknown class {path}") from err
    if not (isinstance(obj, type) and issubclass(obj, eqx.Module)):
        raise CheckpointError(f"the checkpoint names {path}, which is not an equinox module")
    return obj


def decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of `encode`."""
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        arr = arrays[value["$array"]]
        return arr[()] if value.get("scalar") else arr
    if "$dict" in value:
        return {k: decode(v, arrays) for k, v in value["$dict"].items()}
    if "$list" in value:
        return [decode(v, arrays) for v in value["$list"]]
    if "$tuple" in value:
        return tuple(decode(v, arrays) for v in value["$tuple"])
    if "$module" in value:
        cls = _module_class(value["$module"])
        obj = object.__new__(cls)
        for k, v in value["attributes"].items():
            object.__setattr__(obj, k, decode(v, arrays))
        return obj
    raise CheckpointError(f"unrecognised entry in the checkpoint structure: {sorted(value)}")


# -------------------------------------------------------------------------------- files
def save_checkpoint(folder: str | os.PathLike, payload: dict) -> Path:
    """Write `payload` (plus the format version) atomically to `folder/checkpoint.npz`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_NAME
    arrays: dict[str, np.ndarray] = {}
    structure = encode(dict(payload, format_version=FORMAT_VERSION), arrays)
    text = json.dumps(structure, allow_nan=True).encode()
    arrays["structure"] = np.frombuffer(text, dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
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
        if (Path(folder) / LEGACY_NAME).exists():
            raise CheckpointError(
                f"{Path(folder) / LEGACY_NAME} is a checkpoint of an older spectrinv (a pickle, "
                "which is not loaded since it can run code); delete it to start the fit afresh"
            )
        return None
    hint = "; delete it (or the output folder) to start the fit afresh"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        structure = json.loads(bytes(arrays.pop("structure")).decode())
        data = decode(structure, arrays)
    except CheckpointError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}{hint}") from err
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(err).__name__}: {err}{hint}"
        ) from err
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a spectrinv fit checkpoint (format mismatch)")
    return data
