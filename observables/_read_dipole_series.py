"""Dipole-only trajectories from the dipole time series MD engines write as text.

Every reader here returns a `Trajectory` with only `dipole`, `timestep` and (optionally)
`box`: what `IRSpectrum` needs. Errors are one line naming the file and, where one is at
fault, the line number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ._trajectory import Trajectory
from ._trajectory_fields import TrajectoryError
from ._units import Quantity, to_internal

__all__ = ["read_gmx_dipoles", "read_cp2k_dipoles", "read_ipi_dipoles", "read_lammps_dipoles"]

#: dipole unit of each LAMMPS `units` style ("charge*distance", LAMMPS manual, "units").
LAMMPS_DIPOLE_UNITS = {
    "real": "elementary_charge*angstrom",
    "metal": "elementary_charge*angstrom",
    "si": "coulomb*meter",
    "electron": "debye",
    "micro": "picocoulomb*micrometer",
    "nano": "elementary_charge*nm",
}

_UNIT_NAMES = {  # unit names engines print -> pint names
    "debye": "debye",
    "d": "debye",
    "ps": "ps",
    "fs": "fs",
    "ns": "ns",
    "picosecond": "ps",
    "femtosecond": "fs",
    "nanosecond": "ns",
    "a.u.": "atomic",
    "au": "atomic",
    "atomic_unit": "atomic",
}


def _file(path: str | os.PathLike) -> tuple[Path, list[str]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"dipole file not found: {p}")
    try:
        return p, p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise TrajectoryError(f"{p}: not a text file ({err.reason})") from None


def _numbers(p: Path, lineno: int, line: str, n_columns: int) -> list[float]:
    tokens = line.split()
    if len(tokens) < n_columns:
        raise TrajectoryError(
            f"{p}:{lineno}: {len(tokens)} columns, expected {n_columns} (truncated line?)"
        )
    try:
        return [float(t) for t in tokens[:n_columns]]
    except ValueError:
        raise TrajectoryError(f"{p}:{lineno}: non-numeric value in {line.strip()!r}") from None


def _resolution(token: str) -> float:
    """Half the last printed digit of a number written without exponent, else 0."""
    if "e" in token.lower() or "." not in token:
        return 0.0
    return 0.5 * 10.0 ** -len(token.split(".")[1])


def _unit(p: Path, name: str, kind: str) -> str:
    """An engine's unit name -> a pint unit of `kind` ("time" or "dipole")."""
    unit = _UNIT_NAMES.get(name.strip().lower(), name.strip())
    if unit == "atomic":
        unit = "atomic_unit_of_time" if kind == "time" else "elementary_charge*bohr"
    try:
        to_internal(Quantity(1.0, unit), kind, f"{kind} unit")
    except Exception:
        raise TrajectoryError(f"{p}: {name!r} is not a {kind} unit") from None
    return unit


def _even_timestep(p: Path, times: np.ndarray, tokens: list[str], linenos: list[int]) -> float:
    """The time between frames of a time column, refusing uneven steps (beyond the
    precision the numbers were printed with)."""
    if len(times) < 2:
        raise TrajectoryError(f"{p}: {len(times)} frame(s); a time series needs at least 2")
    dt = (times[-1] - times[0]) / (len(times) - 1)
    if not dt > 0:
        raise TrajectoryError(f"{p}: time does not increase ({times[0]} to {times[-1]})")
    tol = np.array([_resolution(t) for t in tokens]) + 1e-9 * np.abs(times) + 1e-9 * dt
    tol = tol + max(_resolution(tokens[0]), _resolution(tokens[-1]))
    off = np.abs(times - (times[0] + dt * np.arange(len(times)))) > tol + 1e-6 * dt
    if np.any(off):
        i = int(np.argmax(off))
        raise TrajectoryError(
            f"{p}:{linenos[i]}: uneven time steps (time {tokens[i]} where a constant step of "
            f"{dt:.6g} puts {times[0] + dt * i:.6g}); the spectrum needs evenly spaced frames"
        )
    return float(dt)


def _trajectory(dipoles: Any, unit: str, dt: float, time_unit: str, box: Any) -> Trajectory:
    return Trajectory(
        dipole=Quantity(np.asarray(dipoles, dtype=np.float64), unit),
        box=box,
        timestep=Quantity(dt, time_unit),
    )


def _table(p: Path, lines: list[str], n_columns: int, comments: str) -> tuple[list, list, list]:
    """Numeric rows (first `n_columns` of each), the first token of each, and line numbers."""
    rows, first, linenos = [], [], []
    for i, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip()[0] in comments:
            continue
        rows.append(_numbers(p, i, line, n_columns))
        first.append(line.split()[0])
        linenos.append(i)
    if not rows:
        raise TrajectoryError(f"{p}: no data lines")
    return rows, first, linenos


def read_gmx_dipoles(path: str | os.PathLike, *, box: Any = None) -> Trajectory:
    """Read the total-dipole series `gmx dipoles -o Mtot.xvg` writes (GROMACS manual,
    "gmx dipoles"; the xvg format is Grace's).

    **Layout:** `#` comment lines; `@` header lines, of which `xaxis label "Time (ps)"` and
    `yaxis label "... (Debye)"` give the units (in parentheses) and `s0 legend "Mx"`,
    `s1 legend "My"`, `s2 legend "Mz"` name the columns after the time (`|Mtot|` may
    follow); then one line per frame: time, Mx, My, Mz, ... The columns are found by their
    legends, so other orders work.

    **Arguments:** `path`: the `.xvg` file. `box`: the cell (length quantity) if you want
    `IRSpectrum` to take the volume from the trajectory (else pass it `volume=`).

    **Returns:** a dipole-only `Trajectory` whose `timestep` is the (even) spacing of the
    time column.
    """
    p, lines = _file(path)
    labels: dict[str, str] = {}
    legends: dict[str, int] = {}
    for line in lines:
        m = re.match(r'@\s*([xy])axis\s+label\s+"(.*)"', line)
        if m:
            labels[m.group(1)] = m.group(2)
        m = re.match(r'@\s*s(\d+)\s+legend\s+"(.*)"', line)
        if m:
            legends[m.group(2).strip()] = int(m.group(1)) + 1
    units = {}
    for axis, kind in (("x", "time"), ("y", "dipole")):
        m = re.search(r"\(([^()]*)\)\s*$", labels.get(axis, ""))
        if m is None:
            raise TrajectoryError(
                f"{p}: no {kind} unit: the header needs '@ {axis}axis label \"... (unit)\"'"
            )
        units[kind] = _unit(p, m.group(1), kind)
    missing = [c for c in ("Mx", "My", "Mz") if c not in legends]
    if missing:
        raise TrajectoryError(
            f"{p}: no column legend for {', '.join(missing)} (needs '@ s0 legend \"Mx\"', ...)"
        )
    columns = [0] + [legends[c] for c in ("Mx", "My", "Mz")]
    rows, first, linenos = _table(p, lines, max(columns) + 1, "#@&")
    data = np.array(rows)
    dt = _even_timestep(p, data[:, 0], first, linenos)
    return _trajectory(data[:, columns[1:]], units["dipole"], dt, units["time"], box)


_CP2K_LINE = re.compile(
    r"^\s*X=\s*(\S+)\s+Y=\s*(\S+)\s+Z=\s*(\S+)\s+Total=\s*(\S+)\s*$", re.IGNORECASE
)


def read_cp2k_dipoles(path: str | os.PathLike, *, timestep: Any, box: Any = None) -> Trajectory:
    """Read the dipole moments CP2K prints during MD with `&FORCE_EVAL/&DFT/&PRINT/&MOMENTS`
    (`PERIODIC`, `FILENAME`, `&EACH MD n`; CP2K manual, section MOMENTS).

    **Layout implemented:** the file repeats, once per printed MD step, a block in which a
    line `Dipole moment [UNIT]` (UNIT: `Debye`, or `a.u.` = e·bohr) is followed by a line
    `X= x Y= y Z= z Total= |M|`. Other lines (reference point, charges, the Berry-phase note)
    are skipped. The file records no time, so `timestep` is required.

    **Arguments:** `timestep`: time between printed blocks (MD time step × `EACH MD`), a
    time quantity. `box`: the cell (length quantity), optional.

    **Returns:** a dipole-only `Trajectory`. Periodic (Berry-phase) dipoles are defined
    modulo a lattice vector; unwrap jumps before computing a spectrum.
    """
    p, lines = _file(path)
    dt = float(to_internal(timestep, "time", "timestep"))
    dipoles, unit, pending = [], None, None
    for i, line in enumerate(lines, 1):
        m = re.search(r"Dipole moment\s*\[([^\]]*)\]", line, re.IGNORECASE)
        if m:
            pending = _unit(p, m.group(1), "dipole")
            if unit is not None and pending != unit:
                raise TrajectoryError(f"{p}:{i}: dipole unit changes from {unit} to {pending}")
            unit = pending
            continue
        if pending is None:
            continue
        m = _CP2K_LINE.match(line)
        if m is None:
            raise TrajectoryError(
                f"{p}:{i}: expected 'X= x Y= y Z= z Total= t' after 'Dipole moment', "
                f"got {line.strip()!r}"
            )
        try:
            dipoles.append([float(m.group(k)) for k in (1, 2, 3)])
        except ValueError:
            raise TrajectoryError(f"{p}:{i}: non-numeric value in {line.strip()!r}") from None
        pending = None
    if pending is not None:
        raise TrajectoryError(f"{p}:{len(lines)}: file ends after 'Dipole moment' (truncated)")
    if unit is None:
        raise TrajectoryError(f"{p}: no 'Dipole moment [unit]' block (not CP2K MOMENTS output)")
    return _trajectory(dipoles, unit, dt, "ps", box)


_IPI_COLUMN = re.compile(r"^#\s*(?:column|cols\.)\s+(\d+)(?:\s*-\s*(\d+))?\s*-->\s*([^\s:]+)")


def read_ipi_dipoles(path: str | os.PathLike, *, box: Any = None) -> Trajectory:
    """Read time and dipole from an i-PI properties output file (i-PI manual, "Output
    files": `<properties>` with e.g. `[step, time{picosecond}, dipole]`).

    **Layout:** header lines `# column N --> name{unit} : description` for one column and
    `# cols.  N-M --> name{unit} : ...` for a vector; the unit in braces is optional (i-PI's
    default is atomic units). The file must have a `time` column and a 3-column `dipole`;
    data lines follow, one per printed step.

    **Arguments:** `box`: the cell (length quantity), optional.

    **Returns:** a dipole-only `Trajectory` with the time step from the time column.
    """
    p, lines = _file(path)
    columns: dict[str, tuple[int, int, str]] = {}
    for line in lines:
        m = _IPI_COLUMN.match(line.strip())
        if m:
            first = int(m.group(1))
            last = int(m.group(2) or first)
            name, _, unit = m.group(3).partition("{")
            columns[name] = (first - 1, last, unit.rstrip("}") or "atomic_unit")
    for name, width in (("time", 1), ("dipole", 3)):
        if name not in columns:
            raise TrajectoryError(
                f"{p}: no '{name}' column in the '# column' header (found: "
                f"{', '.join(columns) or 'none'}); print it in <properties>"
            )
        start, stop, _ = columns[name]
        if stop - start != width:
            raise TrajectoryError(f"{p}: '{name}' has {stop - start} columns, expected {width}")
    n = max(stop for _, stop, _ in columns.values())
    rows, _, linenos = _table(p, lines, n, "#")
    t0 = columns["time"][0]
    tokens = [ln.split()[t0] for ln in (lines[i - 1] for i in linenos)]
    data = np.array(rows)
    dt = _even_timestep(p, data[:, t0], tokens, linenos)
    d0, d1, dunit = columns["dipole"]
    tunit = _unit(p, columns["time"][2], "time")
    return _trajectory(data[:, d0:d1], _unit(p, dunit, "dipole"), dt, tunit, box)


def read_lammps_dipoles(
    path: str | os.PathLike,
    *,
    timestep: Any,
    lammps_units: str,
    columns: tuple[str, str, str] | None = None,
    box: Any = None,
) -> Trajectory:
    """Read a dipole series written by LAMMPS `fix ave/time` (LAMMPS manual, "fix
    ave/time"), e.g. from `compute dip all dipole` and
    `fix 1 all ave/time 1 1 10 c_dip[1] c_dip[2] c_dip[3] file dipole.dat`.

    **Layout:** comment lines starting with `#`, the last of which before the data names
    the columns (`# TimeStep c_dip[1] c_dip[2] c_dip[3]`); then one line per output: the
    step number and the values.

    **Arguments:** `timestep`: the MD time step (the LAMMPS `timestep` command, as a time
    quantity; the file has step numbers only). `lammps_units`: the `units` style, which
    sets the dipole unit (real, metal: e·Å; si: C·m; electron: Debye; nano: e·nm; micro:
    pC·µm). `columns`: the three column names holding x, y, z (default: the three columns
    after TimeStep, which must then be exactly three). `box`: the cell, optional.

    **Returns:** a dipole-only `Trajectory` whose `timestep` is `timestep` × the (even)
    step spacing.
    """
    p, lines = _file(path)
    if lammps_units not in LAMMPS_DIPOLE_UNITS:
        raise TrajectoryError(
            f"{p}: pass lammps_units= the `units` of the LAMMPS input "
            f"({', '.join(LAMMPS_DIPOLE_UNITS)}), got {lammps_units!r}"
        )
    dt = float(to_internal(timestep, "time", "timestep"))
    header = [ln[1:].split() for ln in lines if ln.startswith("#") and ln[1:].split()]
    header = [h for h in header if h[0] == "TimeStep"]
    if not header:
        raise TrajectoryError(f"{p}: no '# TimeStep ...' column header (fix ave/time output)")
    names = header[-1]
    if columns is None:
        if len(names) != 4:
            raise TrajectoryError(
                f"{p}: {len(names) - 1} value columns ({' '.join(names[1:])}); pass "
                "columns=(x, y, z) naming the dipole components"
            )
        columns = tuple(names[1:4])
    missing = [c for c in columns if c not in names]
    if missing:
        raise TrajectoryError(f"{p}: no column {missing[0]!r} in '# {' '.join(names)}'")
    rows, first, linenos = _table(p, lines, len(names), "#")
    data = np.array(rows)
    steps = _even_timestep(p, data[:, 0], first, linenos)
    index = [names.index(c) for c in columns]
    return _trajectory(data[:, index], LAMMPS_DIPOLE_UNITS[lammps_units], steps * dt, "ps", box)
