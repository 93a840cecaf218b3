"""The `Trajectory` field table: units, shapes, which fields are per frame; `TrajectoryError`."""

__all__ = ["TrajectoryError", "FIELDS", "PER_FRAME_FIELDS", "SIGNALS", "PER_ATOM_FIELDS"]


class TrajectoryError(ValueError):
    """Raised for a malformed trajectory (wrong shapes, non-finite values, bad files) or one
    that lacks a field an observable needs (the message names the field)."""


#: field name -> (kind of unit in INTERNAL_UNITS, shape: "frame ..." per frame, "atom" per atom)
FIELDS: dict[str, tuple[str, str]] = {
    "positions": ("length", "frame atom 3"),
    "velocities": ("velocity", "frame atom 3"),
    "masses": ("mass", "atom"),
    "charges": ("charge", "atom"),
    "dipole": ("dipole", "frame 3"),
    "polarizability": ("polarizability", "frame 3 3"),
    "stress": ("pressure", "frame 3 3"),
    "heat_flux": ("heat_flux", "frame 3"),
    "charge_current": ("charge_current", "frame 3"),
    "potential_energy": ("energy", "frame"),
}
#: The `Trajectory` fields that carry one value per frame (leading axis = frame).
PER_FRAME_FIELDS: tuple[str, ...] = tuple(
    n for n, (_, shape) in FIELDS.items() if shape.startswith("frame")
)
#: Fields with an atom axis (they fix the number of atoms).
PER_ATOM_FIELDS: tuple[str, ...] = ("positions", "velocities", "masses", "charges", "species")
#: Per-frame signals of the whole cell (no atom axis).
SIGNALS: tuple[str, ...] = (
    "dipole",
    "polarizability",
    "stress",
    "heat_flux",
    "charge_current",
    "potential_energy",
)
