"""Strategies for random trajectories with units: boxes, rotations, unit systems, fields."""

from typing import Any

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import observables as ob

__all__ = ["boxes", "max_r_max", "rotations", "unit_systems", "trajectories", "FIELD_NAMES"]

#: The optional `Trajectory` fields `trajectories()` can fill.
FIELD_NAMES = (
    "positions",
    "velocities",
    "masses",
    "charges",
    "species",
    "dipole",
    "polarizability",
    "stress",
    "heat_flux",
    "charge_current",
)
#: Unit systems a user's trajectory may come in: (length, time, mass).
UNIT_SYSTEMS = (
    {"length": "nm", "time": "ps", "mass": "g/mol"},
    {"length": "angstrom", "time": "fs", "mass": "g/mol"},
    {"length": "bohr", "time": "fs", "mass": "kg/mol"},
    {"length": "pm", "time": "ns", "mass": "kg/mol"},
)


def _sizes(spec: int | tuple[int, int]) -> st.SearchStrategy[int]:
    if isinstance(spec, int):
        return st.just(spec)
    return st.integers(*spec)


def _matrix(box: ob.Quantity) -> np.ndarray:
    b = np.asarray(box.m_as("nm"), dtype=np.float64)
    return np.diag(b) if b.shape == (3,) else b


def max_r_max(box: ob.Quantity) -> ob.Quantity:
    """The largest valid RDF `r_max` for a box: half its smallest perpendicular width."""
    widths = np.asarray(ob.perpendicular_widths(_matrix(box)))
    return ob.Quantity(0.5 * float(widths.min()), "nm")


@st.composite
def boxes(
    draw: Any,
    *,
    triclinic: bool | None = None,
    min_width: float = 1.0,
    max_width: float = 3.0,
    unit: str = "nm",
) -> ob.Quantity:
    """Periodic cells as a length `Quantity` in `unit`: `[3]` edge lengths (orthorhombic) or
    `[3, 3]` cell vectors as rows (triclinic, lower triangular, right-handed).

    **Arguments:** `triclinic`: `False` orthorhombic, `True` triclinic, `None` either;
    `min_width`, `max_width`: range of the edge lengths in nm. Triclinic tilts are at most
    half the edge they lean along (so the smallest perpendicular width stays at least
    about 0.7 × `min_width`). Shrinks towards an orthorhombic cube of `min_width`.

    Use `max_r_max(box)` for the largest valid RDF range.
    """
    kind = draw(st.booleans()) if triclinic is None else triclinic
    edges = [draw(st.floats(min_width, max_width)) for _ in range(3)]
    if not kind:
        return ob.Quantity(np.asarray(edges), "nm").to(unit)
    bx = draw(st.floats(-0.5, 0.5)) * edges[0]
    cx = draw(st.floats(-0.5, 0.5)) * edges[0]
    cy = draw(st.floats(-0.5, 0.5)) * edges[1]
    cell = np.array([[edges[0], 0, 0], [bx, edges[1], 0], [cx, cy, edges[2]]])
    return ob.Quantity(cell, "nm").to(unit)


@st.composite
def rotations(draw: Any) -> np.ndarray:
    """Proper rotation matrices `[3, 3]` (from a normalised quaternion); shrinks to the identity."""
    w = draw(st.floats(0.1, 1.0))
    x, y, z = (draw(st.floats(-1.0, 1.0)) for _ in range(3))
    w, x, y, z = np.array([w, x, y, z]) / np.linalg.norm([w, x, y, z])
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def unit_systems() -> st.SearchStrategy[dict[str, str]]:
    """Unit systems `{"length", "time", "mass"}` (nm/ps/g mol⁻¹, Å/fs/g mol⁻¹,
    bohr/fs/kg mol⁻¹, pm/ns/kg mol⁻¹), the keywords of `check_unit_covariance`; shrinks to
    nm, ps, g/mol. Masses are molar (a mass in Da per particle is numerically g/mol)."""
    return st.sampled_from(UNIT_SYSTEMS)


def _values(shape, low, high):
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, width=64))


@st.composite
def trajectories(
    draw: Any,
    *,
    fields: tuple[str, ...] = ("positions",),
    n_frames: int | tuple[int, int] = (2, 8),
    n_atoms: int | tuple[int, int] = (1, 6),
    box: st.SearchStrategy[ob.Quantity] | None = None,
    timestep: ob.Quantity | None = None,
    n_species: int = 2,
) -> ob.Trajectory:
    """Random trajectories holding the requested `fields` (see `FIELD_NAMES`), with units.

    Every value is drawn element by element, so a failing example shrinks to few frames,
    few atoms and simple numbers (atoms at the cell origin, zero velocities, unit masses).

    **Arguments:**

    - `fields`: which optional fields to fill. Positions are fractional coordinates in
      [0, 1) times the cell; velocities in [-1, 1] nm/ps; masses in [1, 200] g/mol; charges in
      [-1, 1] e; species in `range(n_species)` (named `"A"`, `"B"`, ...); dipole in
      [-1, 1] e·nm; polarizability symmetric with entries in [-1, 1] Å³ plus 2 Å³ on the
      diagonal; stress symmetric in [-500, 500] bar; heat flux in [-10, 10] kJ mol⁻¹ nm ps⁻¹;
      charge current in [-1, 1] e nm ps⁻¹.
    - `n_frames`, `n_atoms`: a fixed size or an inclusive (min, max) range.
    - `box`: a strategy for the cell (default `boxes()`); `st.none()` for a non-periodic
      system (positions are then drawn in a 1 nm cube).
    - `timestep`: time between frames, a `Quantity` (default 1 fs).
    """
    unknown = set(fields) - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}; choose from {FIELD_NAMES}")
    frames, atoms = draw(_sizes(n_frames)), draw(_sizes(n_atoms))
    cell = draw(boxes() if box is None else box)
    dt = ob.Quantity(1.0, "fs") if timestep is None else timestep
    kw: dict[str, Any] = {"box": cell, "timestep": dt}
    if "positions" in fields:
        frac = draw(_values((frames, atoms, 3), 0.0, 0.999))
        matrix = np.eye(3) if cell is None else _matrix(cell)
        kw["positions"] = ob.Quantity(frac @ matrix, "nm")
    if "velocities" in fields:
        kw["velocities"] = ob.Quantity(draw(_values((frames, atoms, 3), -1.0, 1.0)), "nm/ps")
    if "masses" in fields:
        kw["masses"] = ob.Quantity(draw(_values((atoms,), 1.0, 200.0)), "g/mol")
    if "charges" in fields:
        kw["charges"] = ob.Quantity(draw(_values((atoms,), -1.0, 1.0)), "e")
    if "species" in fields:
        kw["species"] = np.asarray(
            draw(hnp.arrays(np.int32, (atoms,), elements=st.integers(0, n_species - 1)))
        )
        kw["species_names"] = tuple(chr(ord("A") + i) for i in range(n_species))
    if "dipole" in fields:
        kw["dipole"] = ob.Quantity(draw(_values((frames, 3), -1.0, 1.0)), "e*nm")
    for name, low, unit, diag in (
        ("polarizability", 1.0, "angstrom**3", 2.0),
        ("stress", 500.0, "bar", 0.0),
    ):
        if name in fields:
            m = draw(_values((frames, 3, 3), -low, low))
            kw[name] = ob.Quantity(0.5 * (m + m.transpose(0, 2, 1)) + diag * np.eye(3), unit)
    if "heat_flux" in fields:
        kw["heat_flux"] = ob.Quantity(draw(_values((frames, 3), -10.0, 10.0)), "kJ/mol*nm/ps")
    if "charge_current" in fields:
        kw["charge_current"] = ob.Quantity(draw(_values((frames, 3), -1.0, 1.0)), "e*nm/ps")
    if not set(fields) & set(ob.PER_FRAME_FIELDS):
        raise ValueError("fields must include positions or another per-frame field")
    return ob.Trajectory(**kw)
