"""What a fit checkpoint must match to be resumed, and what changed when it does not.

`fingerprint` is one hash of the fit's inputs: the targets (what each simulates and
compares with, data included), the trainable parameters, the seed, the optimiser and the
convergence options. `fingerprint_parts` keeps the same inputs key by key — readable values
(temperature, trainable list, seed) as text, arrays and settings as short hashes — so that
`describe_changes` can say which of them differ from a checkpoint's.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..losses import LossSum
from ._target import Target

__all__ = ["describe_changes", "fingerprint", "fingerprint_fields", "fingerprint_parts"]


def fingerprint(targets, trainable_names, seed, optimizer_id, convergence) -> str:
    """What a checkpoint must match. The convergence options enter only when some is on
    (checkpoints of fits without them keep their fingerprint); sample counts, which
    `target_snr` grows, do not enter."""
    parts = {
        "targets": [
            (t.name, type(t.gradient).__name__, t.system.n_atoms, _loss_weights(t), _digest(t))
            for t in targets
        ],
        "trainable": trainable_names,
        "seed": seed,
        "optimizer": optimizer_id,
    }
    if convergence is not None:
        parts["convergence"] = convergence
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _hash(tree: Any) -> str:
    """A short hash of a pytree: its structure with the static settings (memory addresses
    in reprs dropped), every array's dtype, shape and bytes, every number and string."""
    leaves, treedef = jax.tree.flatten(tree)
    h = hashlib.sha256(re.sub(r" at 0x[0-9a-f]+", "", str(treedef)).encode())
    for leaf in leaves:
        if eqx.is_array(leaf) or isinstance(leaf, np.ndarray):
            arr = np.asarray(leaf)
            h.update(f"{arr.dtype}{arr.shape}".encode() + arr.tobytes())
        elif leaf is None or isinstance(leaf, bool | int | float | str):
            h.update(repr(leaf).encode())
        else:
            h.update(type(leaf).__qualname__.encode())
    return h.hexdigest()[:16]


def _digest(target: Target) -> str:
    """A hash of what a target simulates and compares with: the state point, the system and
    start positions, the backend (integrator, time step, thermostat), the objective with its
    data. The gradient strategy is left out: `target_snr` grows its sample count."""
    parts = (target.temperature, target.equilibration_steps, target.objective, target.system)
    if target.melt_steps:  # only then: the digests of targets without a melt are unchanged
        parts = (*parts, target.melt_steps, target.melt_backend)
    return _hash((parts, target.positions, target.backend, target.dataset))


def _loss_weights(target: Target) -> float | list[float]:
    """The weights of a target's loss: a `LossSum`'s, else 1.0."""
    loss = target.objective.loss
    return list(loss.weights) if isinstance(loss, LossSum) else 1.0


_HASHED = "#"  # prefix of a part that is a hash (not shown in messages)


def fingerprint_parts(targets, trainable_names, seed, optimizer_id, convergence) -> dict:
    """The fingerprint's inputs by name (`{key: text}`), for `describe_changes`."""
    parts = {
        "trainable parameters": json.dumps(trainable_names),
        "seed": str(seed),
        "optimizer": str(optimizer_id),
        "convergence options": json.dumps(convergence, sort_keys=True),
        "targets": json.dumps([t.name for t in targets]),
    }
    for t in targets:
        of = f"of target {t.name!r}"
        parts[f"temperature {of}"] = f"{t.temperature:g} K"
        parts[f"equilibration {of}"] = f"{t.equilibration_steps} steps"
        if t.melt_steps:
            parts[f"melt {of}"] = f"{t.melt_steps} steps"
        parts[f"gradient strategy {of}"] = type(t.gradient).__name__
        parts[f"atoms {of}"] = str(t.system.n_atoms)
        parts[f"loss weights {of}"] = json.dumps(_loss_weights(t))
        hashed = {
            "dataset": t.dataset,
            "system (box, masses, species)": t.system,
            "start positions": t.positions,
            "sampling backend (integrator, time step, thermostat)": t.backend,
            "observable and loss (with the data compared)": t.objective,
        }
        if t.melt_steps:
            hashed["melt backend (thermostat, temperature)"] = t.melt_backend
        for key, tree in hashed.items():
            parts[f"{key} {of}"] = _HASHED + _hash(tree)
    return parts


def fingerprint_fields(*inputs: Any) -> dict:
    """`{"fingerprint": ..., "fingerprint_parts": ...}` of the inputs of `fingerprint`."""
    return {"fingerprint": fingerprint(*inputs), "fingerprint_parts": fingerprint_parts(*inputs)}


def describe_changes(old: Any, new: dict) -> str:
    """`"temperature of target 'rdf' (90 K -> 120 K), dataset of target 'rdf'"`: the parts
    that differ between a checkpoint's (`old`) and this fit's; `""` when `old` holds none
    (a checkpoint of an older version)."""
    if not isinstance(old, dict):
        return ""
    changed = []
    for key in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        readable = not any(str(v).startswith(_HASHED) for v in (before, after) if v)
        if readable:
            changed.append(f"{key} ({before or 'none'} -> {after or 'none'})")
        else:
            changed.append(key)
    return ", ".join(changed)
