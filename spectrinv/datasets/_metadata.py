"""Provenance metadata kept as a static (hashable, immutable) field of a dataset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["freeze", "thaw"]


def freeze(value: Any) -> Any:
    """A hashable, immutable copy of nested dicts/lists (dicts become sorted item tuples)."""
    if isinstance(value, Mapping):
        return ("__dict__", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # TOML dates and times
        return value.isoformat()
    hash(value)
    return value


def thaw(value: Any) -> Any:
    """The nested dicts/lists that `freeze` made immutable, as fresh mutable copies."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__dict__":
        return {k: thaw(v) for k, v in value[1]}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
