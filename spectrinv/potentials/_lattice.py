"""Starting configurations for simple liquids: a face-centred-cubic lattice."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from observables import Quantity, to_magnitude

from ._base import System

__all__ = ["fcc_lattice"]

_FCC_BASIS = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def fcc_lattice(cells: int, density: Any, mass: Any, species_name: str = "X"):
    """Face-centred-cubic arrangement of `4·cells³` identical atoms in a cubic box.

    **Arguments:** `cells` (unit cells per edge), `density` (mass density, e.g.
    `Quantity(1409.5, "kg/m**3")`, or number density, e.g. `Quantity(21.0, "1/nm**3")`),
    `mass` (per atom, e.g. `Quantity(39.948, "Da")`), `species_name`.

    **Returns:** `(positions, system)`: positions `[atom, 3]` as a length Quantity (nm) and
    a `System` with the cubic box of edge `cells · a`, a = (4/n)^(1/3) for number density n.
    A lattice is far from a liquid: equilibrate before measuring.
    """
    if int(cells) < 1:
        raise ValueError(f"cells must be >= 1, got {cells}")
    cells = int(cells)
    m = float(to_magnitude(mass, "Da", "mass"))
    if not m > 0:
        raise ValueError(f"mass must be positive, got {mass}")
    if not isinstance(density, Quantity):
        raise TypeError(f"density must be a Quantity (mass or number density), got {density!r}")
    if density.check("[mass] / [length] ** 3"):
        n_density = float(density.m_as("Da/nm**3")) / m
    elif density.check("1 / [length] ** 3"):
        n_density = float(density.m_as("1/nm**3"))
    else:
        raise ValueError(f"density must be a mass or number density, got units {density.units}")
    if not n_density > 0:
        raise ValueError(f"density must be positive, got {density}")
    a = (4.0 / n_density) ** (1.0 / 3.0)
    grid = np.array(list(np.ndindex(cells, cells, cells)), dtype=float)
    pos = ((grid[:, None, :] + _FCC_BASIS[None]) * a).reshape(-1, 3)
    n = pos.shape[0]
    system = System(
        box=jnp.full(3, cells * a),
        species=jnp.zeros(n, dtype=jnp.int32),
        masses=jnp.full(n, m),
        species_names=(species_name,),
    )
    return Quantity(pos, "nm"), system
