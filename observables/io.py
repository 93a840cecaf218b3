"""Readers that turn files from any MD engine into a `Trajectory`.

| format | reader | needs |
|---|---|---|
| `.npz` written by `Trajectory.to_npz` | `read_npz` | — |
| extended XYZ (`.xyz`, `.extxyz`), ASE `.traj` | `read_ase` | `pip install ase` |
| LAMMPS dump, DCD, XTC, TRR, … | `read_mdanalysis` | MDAnalysis, a topology |
| multi-frame PDB, H5MD | `read_mdanalysis` | MDAnalysis (and h5py for H5MD) |
| GROMACS `.gro` (one or many frames) | `read_gro` | — |
| dipole series: `gmx dipoles` `.xvg` | `read_gmx_dipoles` | — |
| dipole series: CP2K `&MOMENTS` | `read_cp2k_dipoles` | `timestep=` |
| dipole series: i-PI properties output | `read_ipi_dipoles` | — |
| dipole series: LAMMPS `fix ave/time` | `read_lammps_dipoles` | `timestep=`, `lammps_units=` |

`read_trajectory(path, ...)` picks the reader from the file suffix.

Units on input: ASE uses Å and its own time unit for velocities (converted here);
MDAnalysis uses Å, ps and Å/ps. Formats that do not store the time between frames need
`timestep=` given as a quantity; when a format does store it and you also pass one, yours
wins (with a warning if they disagree by more than 1e-6 relative).
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._read_dipole_series import (
    read_cp2k_dipoles,
    read_gmx_dipoles,
    read_ipi_dipoles,
    read_lammps_dipoles,
)
from ._read_gromacs import read_gro
from ._trajectory import Trajectory, TrajectoryError
from ._units import Quantity, to_internal

__all__ = [
    "read_trajectory",
    "read_npz",
    "read_ase",
    "read_mdanalysis",
    "read_gro",
    "read_gmx_dipoles",
    "read_cp2k_dipoles",
    "read_ipi_dipoles",
    "read_lammps_dipoles",
    "ASE_SUFFIXES",
    "MDA_SUFFIXES",
    "SELF_CONTAINED_SUFFIXES",
]

ASE_SUFFIXES = (".xyz", ".extxyz", ".traj")
MDA_SUFFIXES = (".lammpstrj", ".dump", ".dcd", ".xtc", ".trr", ".nc", ".ncdf")
#: formats read by MDAnalysis that carry their own atoms (no topology needed)
SELF_CONTAINED_SUFFIXES = (".pdb", ".h5md")


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"trajectory file not found: {p}")
    return p


def _compact_box(cells: np.ndarray, unit: str = "angstrom") -> Quantity:
    """Cell matrices [frame, 3, 3] (in `unit`) -> the most compact box: one box if
    constant, edge lengths if orthorhombic."""
    cells = np.asarray(cells, dtype=np.float64)
    if np.allclose(cells, cells[0], rtol=1e-12, atol=0):
        cells = cells[0]
    diagonal = np.diagonal(cells, axis1=-2, axis2=-1)
    if np.all(cells == diagonal[..., :, None] * np.eye(3)):
        return Quantity(diagonal.copy(), unit)
    return Quantity(cells, unit)


#: LAMMPS unit styles (the `units` command): the length and velocity units of a dump's
#: columns (LAMMPS manual, "units"). `lj` (reduced units) has no conversion.
LAMMPS_UNITS = {
    "real": ("angstrom", "angstrom/fs"),
    "metal": ("angstrom", "angstrom/ps"),
    "si": ("m", "m/s"),
    "cgs": ("cm", "cm/s"),
    "electron": ("bohr", "bohr/atomic_unit_of_time"),
    "micro": ("micrometer", "micrometer/microsecond"),
    "nano": ("nm", "nm/ns"),
}
DUMP_SUFFIXES = (".lammpstrj", ".dump")


def _lammps_dump_units(is_dump: bool, lammps_units: str | None, name: str) -> tuple[str, str]:
    """(length, velocity) units of the coordinates MDAnalysis hands over: a LAMMPS dump's
    own units (which the file does not record, so they must be given), else MDAnalysis's
    Å and Å/ps."""
    if not is_dump:
        if lammps_units is not None:
            raise TrajectoryError(f"{name}: lammps_units applies to LAMMPS dump files only")
        return "angstrom", "angstrom/ps"
    if lammps_units not in LAMMPS_UNITS:
        raise TrajectoryError(
            f"{name} is a LAMMPS dump, which does not record its unit style: pass "
            f"lammps_units= the `units` of the LAMMPS input ({', '.join(LAMMPS_UNITS)}); "
            f"got {lammps_units!r} ('lj' reduced units cannot be converted)"
        )
    return LAMMPS_UNITS[lammps_units]


def _species_and_masses(atoms, is_dump: bool, masses: Any, type_names: Any, name: str):
    """Species names (types renamed by `type_names`) and masses: given, or the topology's,
    but never MDAnalysis's placeholder for a LAMMPS dump read without a data file."""
    labels = next((getattr(atoms, a) for a in ("types", "names") if hasattr(atoms, a)), None)
    names = None if labels is None else [str(n) for n in labels]
    if names is None and (type_names is not None or isinstance(masses, dict)):
        raise TrajectoryError(f"{name}: the file names no atom types; pass per-atom masses")
    if type_names is not None:
        missing = sorted(set(names) - set(map(str, type_names)))
        if missing:
            raise TrajectoryError(f"{name}: type_names has no name for atom type(s) {missing}")
        names = [str(type_names[n]) for n in names]
    guessed = getattr(getattr(atoms.universe._topology, "masses", None), "is_guessed", False)
    has_masses = hasattr(atoms, "masses") and np.all(atoms.masses > 0)
    if isinstance(masses, str):
        if masses != "elements" or is_dump or not has_masses:
            raise TrajectoryError(
                f"{name}: masses='elements' takes the masses MDAnalysis guesses from the atom "
                "names of a topology; none here: pass a mapping or per-atom masses"
            )
        return names, Quantity(atoms.masses.astype(np.float64), "dalton")
    if masses is not None:
        if isinstance(masses, dict):
            unknown = sorted(set(names) - set(masses))
            if unknown:
                raise TrajectoryError(f"{name}: masses has no mass for species {unknown}")
            masses = Quantity(
                np.array([to_internal(masses[n], "mass", f"mass of {n}") for n in names]), "Da"
            )
        return names, masses
    if is_dump or guessed or not has_masses:
        # a dump has no masses (MDAnalysis's 1.0 would be a silent guess); GRO, PDB, ...
        # have none either: MDAnalysis's guess from the names is used only when asked for
        return names, None
    return names, Quantity(atoms.masses.astype(np.float64), "dalton")


def read_npz(path: str | os.PathLike) -> Trajectory:
    """Read a `.npz` written by `Trajectory.to_npz`."""
    return Trajectory.from_npz(_check_file(path))


def _timestep(given: Any, stored_ps: float | None, path: Path) -> Quantity:
    if given is not None:
        value = float(to_internal(given, "time", "timestep"))
        if stored_ps is not None and stored_ps > 0 and abs(value - stored_ps) > 1e-6 * stored_ps:
            warnings.warn(
                f"{path.name}: the file says {stored_ps} ps between frames; using the "
                f"timestep you gave ({value} ps)",
                stacklevel=3,
            )
        return Quantity(value, "ps")
    if stored_ps is None or not stored_ps > 0:
        raise TrajectoryError(
            f"{path.name} does not record the time between frames; pass "
            "timestep=Quantity(value, 'fs') (the time between *stored* frames)."
        )
    return Quantity(stored_ps, "ps")


def read_ase(
    path: str | os.PathLike,
    *,
    timestep: Any = None,
    index: str | slice = ":",
    format: str | None = None,
) -> Trajectory:
    """Read extended XYZ or ASE `.traj` through `ase.io.read`.

    **Arguments:** `timestep`: time between stored frames (quantity; required, ASE files
    rarely store it). `index`: ASE frame selection (default all). `format`: ASE format name
    if the suffix is ambiguous.

    Positions (Å), cell (rows = cell vectors, Å), masses (Da), chemical symbols → species,
    initial charges (e) when non-zero, velocities (ASE units → nm/ps) when present, and a
    per-frame `dipole` from `atoms.info["dipole"]` (e·Å) or a calculator's dipole when all
    frames have one. A cell of zeros (no periodicity) gives `box=None`.
    """
    try:
        import ase.io
        import ase.units
    except ImportError as err:  # pragma: no cover - exercised only without ase
        raise ImportError("reading this format needs ASE: pip install 'spectrinv[io]'") from err
    p = _check_file(path)
    try:
        frames = ase.io.read(p, index=index, format=format)
    except Exception as err:
        raise TrajectoryError(f"ASE could not read {p}: {err}") from err
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise TrajectoryError(f"{p} contains no frames")
    n_atoms = {len(a) for a in frames}
    if len(n_atoms) != 1:
        raise TrajectoryError(f"{p}: frames have different atom counts {sorted(n_atoms)}")
    symbols = frames[0].get_chemical_symbols()
    positions = np.stack([a.get_positions() for a in frames])
    cells = np.stack([np.asarray(a.get_cell()) for a in frames])
    box = None
    if np.any(cells != 0):
        if not all(a.pbc.all() for a in frames):
            warnings.warn(
                f"{p.name}: cell present but pbc is not all True; treating as periodic",
                stacklevel=2,
            )
        box = _compact_box(cells)
    kwargs: dict[str, Any] = {}
    if any(a.has("momenta") for a in frames):
        # ASE velocity unit is Å per ASE time unit; ase.units.fs is one fs in that unit.
        vel = np.stack([a.get_velocities() for a in frames]) * ase.units.fs
        kwargs["velocities"] = Quantity(vel, "angstrom/fs")
    charges = frames[0].get_initial_charges()
    if np.any(charges != 0):
        kwargs["charges"] = Quantity(charges, "elementary_charge")
    dipoles = [_ase_dipole(a) for a in frames]
    if all(d is not None for d in dipoles):
        kwargs["dipole"] = Quantity(np.stack(dipoles), "elementary_charge*angstrom")
    return Trajectory(
        Quantity(positions, "angstrom"),
        box=box,
        timestep=_timestep(timestep, None, p),
        masses=Quantity(frames[0].get_masses(), "dalton"),
        species=symbols,
        **kwargs,
    )


def _ase_dipole(atoms) -> np.ndarray | None:
    if "dipole" in atoms.info:
        return np.asarray(atoms.info["dipole"], dtype=float)
    calc = atoms.calc
    if calc is not None and "dipole" in getattr(calc, "results", {}):
        return np.asarray(calc.results["dipole"], dtype=float)
    return None


def read_mdanalysis(
    topology: str | os.PathLike,
    trajectory: str | os.PathLike | None = None,
    *,
    timestep: Any = None,
    format: str | None = None,
    topology_format: str | None = None,
    select: str = "all",
    start: int | None = None,
    stop: int | None = None,
    step: int | None = None,
    lammps_units: str | None = None,
    masses: Any = None,
    type_names: dict | None = None,
) -> Trajectory:
    """Read any trajectory MDAnalysis reads (LAMMPS dump, DCD, XTC, TRR, NetCDF, …).

    **Arguments:** `topology`: a topology file (PDB, GRO, PSF, LAMMPS data, …) or, for
    formats that carry their own atoms (LAMMPS dump), the trajectory itself with
    `trajectory=None`. `select`: MDAnalysis selection string. `start/stop/step`: frames.
    `timestep`: overrides the file's time between frames (DCD files often store a wrong one).
    For a LAMMPS dump: `lammps_units` (required: the dump does not record it) is the input's
    `units` style (`real`: Å and Å/fs, `metal`: Å and Å/ps, also `si`, `cgs`, `electron`,
    `micro`, `nano`); `type_names` maps the numeric atom types to species names
    (`{"1": "O", "2": "H"}`). `masses`: per-atom masses (a mass quantity `[atom]`), one
    per species name (`{"O": Quantity(15.999, "Da"), ...}`), or `"elements"` for the
    element masses MDAnalysis guesses from the atom names; without it, masses come from a
    topology that stores them (TPR, PSF, LAMMPS data, ...). GRO, PDB, H5MD and a LAMMPS
    dump store none, so the trajectory then has no masses and observables that need them
    say so.

    Positions → nm; box from `dimensions` (a, b, c, α, β, γ) → cell vectors as rows;
    velocities when the format has them; charges when the topology has them.
    """
    try:
        import MDAnalysis as mda
        from MDAnalysis.lib.mdamath import triclinic_vectors
    except ImportError as err:  # pragma: no cover
        raise ImportError(
            "reading this format needs MDAnalysis: pip install 'spectrinv[io]'"
        ) from err
    top = _check_file(topology)
    args = [str(top)] if trajectory is None else [str(top), str(_check_file(trajectory))]
    kw: dict[str, Any] = {}
    if format is not None:
        kw["format"] = format
    if topology_format is not None:
        kw["topology_format"] = topology_format
    is_dump = format == "LAMMPSDUMP" or Path(args[-1]).suffix.lower() in DUMP_SUFFIXES
    length_unit, velocity_unit = _lammps_dump_units(is_dump, lammps_units, Path(args[-1]).name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MDAnalysis warns about guessed attributes
            universe = mda.Universe(*args, **kw)
    except Exception as err:
        raise TrajectoryError(f"MDAnalysis could not read {', '.join(args)}: {err}") from err
    atoms = universe.select_atoms(select)
    if len(atoms) == 0:
        raise TrajectoryError(f"selection {select!r} matched no atoms")
    positions, velocities, boxes = [], [], []
    has_vel = True
    for ts in _iterate(universe, start, stop, step):
        positions.append(atoms.positions.astype(np.float64))
        if has_vel and ts.has_velocities:
            velocities.append(atoms.velocities.astype(np.float64))
        else:
            has_vel = False
        dims = ts.dimensions
        boxes.append(None if dims is None or np.all(dims[:3] == 0) else triclinic_vectors(dims))
    if not positions:
        raise TrajectoryError("no frames selected")
    if all(b is None for b in boxes) and Path(args[-1]).suffix.lower() == ".pdb":
        boxes = [_pdb_header_cell(Path(args[-1]), triclinic_vectors)] * len(boxes)
    box = None
    if all(b is not None for b in boxes):
        box = _compact_box(np.stack(boxes), length_unit)
    n_sel = len(universe.trajectory[start:stop:step])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stored_dt = universe.trajectory.dt * (step or 1) if n_sel > 1 else None
    if any("no dt information" in str(w.message) for w in caught):
        stored_dt = None  # MDAnalysis invents 1 ps when the file has no time; do not trust it
    if timestep is None:
        _warn_default_dcd_dt(Path(args[-1]).name, stored_dt, step or 1)
    kwargs: dict[str, Any] = {}
    if has_vel and velocities:
        kwargs["velocities"] = Quantity(np.stack(velocities), velocity_unit)
    names, kwargs["masses"] = _species_and_masses(
        atoms, is_dump, masses, type_names, Path(args[-1]).name
    )
    if hasattr(atoms, "charges"):
        kwargs["charges"] = Quantity(atoms.charges.astype(np.float64), "elementary_charge")
    return Trajectory(
        Quantity(np.stack(positions), length_unit),
        box=box,
        timestep=_timestep(timestep, stored_dt, top),
        species=names,
        **kwargs,
    )


def _pdb_header_cell(path: Path, triclinic_vectors) -> np.ndarray | None:
    """The cell of a multi-model PDB whose one `CRYST1` record precedes the first `MODEL`
    (it then holds for every model; MDAnalysis gives such frames no box). `None` without
    a `CRYST1` record."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            if line.startswith("CRYST1"):
                try:
                    edges = [float(line[k : k + 9]) for k in (6, 15, 24)]  # a, b, c (Å)
                    dims = edges + [float(line[k : k + 7]) for k in (33, 40, 47)]  # angles
                except ValueError:
                    raise TrajectoryError(f"{path}:{i}: malformed CRYST1 record") from None
                return None if not all(d > 0 for d in dims[:3]) else triclinic_vectors(dims)
            if line.startswith(("MODEL", "ATOM", "HETATM")):
                return None
    return None


def _warn_default_dcd_dt(name: str, stored_dt: float | None, step: int) -> None:
    """Warn when a DCD says exactly 1 ps per stored frame: MDAnalysis's DCD writer stores
    that default when it is not given the time step."""
    if name.lower().endswith(".dcd") and stored_dt is not None:
        if abs(stored_dt - step) < 1e-6 * step:
            warnings.warn(
                f"{name} says 1 ps between frames, which is also what MDAnalysis's DCD writer "
                "stores when it is not given the time step; pass timestep= if that is not "
                "the time between stored frames",
                stacklevel=3,
            )


def _iterate(universe, start, stop, step):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield from universe.trajectory[start:stop:step]


def read_trajectory(
    path: str | os.PathLike, *, topology: str | os.PathLike | None = None, **kwargs
) -> Trajectory:
    """Read a trajectory, choosing the reader from the file suffix.

    `.npz` → `read_npz`; `.xyz/.extxyz/.traj` → `read_ase`; `.lammpstrj/.dump/.dcd/.xtc/
    .trr/.nc` → `read_mdanalysis` (with `topology=` unless the format carries atoms, like a
    LAMMPS dump); `.pdb/.h5md` → `read_mdanalysis` (their own topology); `.gro` →
    `read_gro`; `.xvg` → `read_gmx_dipoles`. Other keyword arguments go to the reader
    (e.g. `timestep=`).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    own = {".gro": read_gro, ".xvg": read_gmx_dipoles}
    if suffix in own or suffix in SELF_CONTAINED_SUFFIXES:
        if topology is not None:
            raise TypeError(f"{suffix} files carry their own atoms; do not pass topology=")
        reader = own.get(suffix, read_mdanalysis)
        try:
            inspect.signature(reader).bind(p, **kwargs)
        except TypeError as err:
            message = f"{p.name}: wrong arguments for {reader.__name__}: {err}"
            raise TrajectoryError(message) from None
        return reader(p, **kwargs)
    if suffix == ".npz":
        if kwargs or topology is not None:
            raise TypeError(f"an .npz trajectory takes no extra arguments, got {sorted(kwargs)}")
        return read_npz(p)
    if suffix in ASE_SUFFIXES:
        if topology is not None:
            raise TypeError("ASE formats carry their own atoms; do not pass topology=")
        return read_ase(p, **kwargs)
    if suffix in MDA_SUFFIXES:
        if topology is None:
            if suffix in (".lammpstrj", ".dump"):
                return read_mdanalysis(
                    p, format="LAMMPSDUMP", topology_format="LAMMPSDUMP", **kwargs
                )
            raise TrajectoryError(
                f"{p.name}: {suffix} files hold coordinates only; pass topology= (PDB, GRO, PSF, "
                "LAMMPS data, ...)"
            )
        return read_mdanalysis(topology, p, **kwargs)
    raise TrajectoryError(
        f"unknown trajectory format {suffix!r} for {p.name}; supported: .npz, "
        f"{', '.join(ASE_SUFFIXES + MDA_SUFFIXES + SELF_CONTAINED_SUFFIXES)}, .gro, .xvg"
    )
