"""Unit conversion of potential parameters: quantities in, internal-unit arrays out.

Internal units are nm and kJ/mol. An energy may be molar (kJ/mol, kcal/mol), per particle
(eV, J; × N_A) or a temperature ε/k_B (K; × R = k_B N_A), as everywhere in `observables`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from observables import to_internal

__all__ = ["as_cutoff", "as_energy", "as_length"]


def as_length(q: Any, name: str) -> np.ndarray:
    """A length Quantity (any shape) as float nm."""
    return np.asarray(to_internal(q, "length", name), dtype=float)


def as_energy(q: Any, name: str) -> np.ndarray:
    """An energy Quantity (any shape) as float kJ/mol: molar (kJ/mol, kcal/mol), per particle
    (eV, J; × N_A) or a temperature ε/k_B (K; × R, e.g. 119.8 K → 0.99607 kJ/mol).
    Raises `UnitError` naming `name` for anything else."""
    return np.asarray(to_internal(q, "energy", name), dtype=float)


def as_cutoff(q: Any) -> float:
    """A positive cutoff length Quantity as float nm."""
    value = float(as_length(q, "cutoff"))
    if not value > 0:
        raise ValueError(f"cutoff must be positive, got {value} nm")
    return value
