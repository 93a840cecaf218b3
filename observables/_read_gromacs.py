"""GROMACS `.gro` coordinate files (single or multi-frame) read into a `Trajectory`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ._trajectory import Trajectory
from ._trajectory_fields import TrajectoryError
from ._units import Quantity, to_internal

__all__ = ["read_gro", "element_masses"]


def element_masses(names: list[str], source: str) -> Quantity:
    """Masses (Da) from element symbols read off atom names (`OW` → O, `HW1` → H, `Na` →
    Na): two letters when they name an element (case as written), else the first letter.
    Only used when asked for (`masses="elements"`): a name such as `CA` (C-alpha) would
    otherwise silently become calcium."""
    from MDAnalysis.guesser.tables import masses as table

    out = []
    for name in names:
        letters = re.sub(r"[^A-Za-z]", "", name)
        symbol = letters[:2] if letters[:2] in table else letters[:1].upper()
        if symbol not in table:
            raise TrajectoryError(f"{source}: no element for atom name {name!r}; pass masses=")
        out.append(table[symbol])
    return Quantity(np.array(out, dtype=np.float64), "dalton")


def _masses(masses: Any, names: list[str], source: str) -> Quantity | None:
    if masses is None or isinstance(masses, Quantity):
        return masses
    if isinstance(masses, str):
        if masses != "elements":
            raise TrajectoryError(f"{source}: masses must be a mapping, a quantity or 'elements'")
        return element_masses(names, source)
    unknown = sorted(set(names) - set(masses))
    if unknown:
        raise TrajectoryError(f"{source}: masses has no mass for atom name(s) {unknown}")
    return Quantity(
        np.array([to_internal(masses[n], "mass", f"mass of {n}") for n in names]), "dalton"
    )


def _float(p: Path, lineno: int, text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TrajectoryError(f"{p}:{lineno}: {what} {text.strip()!r} is not a number") from None


def _field_width(p: Path, lineno: int, line: str) -> int:
    """Width of the coordinate fields: the distance between the first two decimal points
    after column 20 (GROMACS writes `%8.3f` by default, wider with more decimals)."""
    dots = [i for i, c in enumerate(line[20:]) if c == "."]
    if len(dots) < 3:
        raise TrajectoryError(f"{p}:{lineno}: atom line has fewer than 3 coordinates (truncated?)")
    return dots[1] - dots[0]


def _frame(p: Path, lines: list[str], start: int) -> tuple[dict, int]:
    """Parse the frame whose title is `lines[start]`; return it and the next line index."""
    title = lines[start]
    if start + 1 >= len(lines):
        raise TrajectoryError(f"{p}:{start + 2}: missing atom count line (truncated file)")
    try:
        n = int(lines[start + 1].strip())
    except ValueError:
        raise TrajectoryError(
            f"{p}:{start + 2}: atom count {lines[start + 1]!r} is not an integer"
        ) from None
    if start + 2 + n >= len(lines):
        raise TrajectoryError(
            f"{p}: frame at line {start + 1} needs {n} atom lines and a box line; the file ends "
            "first (truncated)"
        )
    w = _field_width(p, start + 3, lines[start + 2])
    names, pos, vel = [], np.empty((n, 3)), np.empty((n, 3))
    has_vel = len(lines[start + 2].rstrip()) >= 20 + 6 * w
    for k in range(n):
        i = start + 2 + k
        line = lines[i]
        if len(line.rstrip()) < 20 + 3 * w or (has_vel and len(line.rstrip()) < 20 + 6 * w):
            raise TrajectoryError(f"{p}:{i + 1}: atom line is too short (truncated)")
        names.append(line[10:15].strip())
        fields = [line[20 + j * w : 20 + (j + 1) * w] for j in range(6 if has_vel else 3)]
        values = [_float(p, i + 1, f, "coordinate") for f in fields]
        pos[k] = values[:3]
        if has_vel:
            vel[k] = values[3:]
    i = start + 2 + n
    box = [_float(p, i + 1, t, "box value") for t in lines[i].split()]
    if len(box) not in (3, 9):
        raise TrajectoryError(f"{p}:{i + 1}: box line has {len(box)} values, expected 3 or 9")
    m = re.search(r"\bt=\s*(\S+)", title)
    time = None if m is None else _float(p, start + 1, m.group(1), "time")
    frame = dict(names=names, pos=pos, vel=vel if has_vel else None, box=box, time=time)
    frame["time_token"] = None if m is None else m.group(1)
    return frame, i + 1


def _cell(box: list[float]) -> np.ndarray:
    """GRO box line (v1x v2y v3z v1y v1z v2x v2z v3x v3y) -> cell vectors as rows."""
    v = box + [0.0] * (9 - len(box))
    return np.array([[v[0], v[3], v[4]], [v[5], v[1], v[6]], [v[7], v[8], v[2]]])


def read_gro(path: str | os.PathLike, *, timestep: Any = None, masses: Any = None) -> Trajectory:
    """Read a GROMACS `.gro` file, one frame or many (GROMACS manual, "File formats: gro").

    **Layout:** per frame a title line (`t= 10.000` in it gives the time, ps), the number of
    atoms, one fixed-column line per atom (residue number, residue name, atom name, atom
    number: 5 characters each; then x, y, z in nm and optionally vx, vy, vz in nm/ps, each
    as wide as the distance between the decimal points, 8 by default), and a box line
    `v1x v2y v3z [v1y v1z v2x v2z v3x v3y]` in nm.

    **Arguments:** `timestep`: time between frames (time quantity); needed unless every
    title has an evenly spaced `t=`; overrides it otherwise. `masses`: a mapping from atom
    name to mass quantity, a per-atom mass quantity, or `"elements"` to take them from the
    element read off each atom name (`OW` → O). Without it the trajectory has no masses
    (a `.gro` holds none) and observables that need them say so.

    **Returns:** a `Trajectory` with species = atom names, positions, velocities when every
    frame has them, and the box (edge lengths if rectangular).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"trajectory file not found: {p}")
    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    frames, i = [], 0
    while i < len(lines):
        frame, i = _frame(p, lines, i)
        if frames and frame["names"] != frames[0]["names"]:
            raise TrajectoryError(f"{p}: frame {len(frames) + 1} has different atoms")
        frames.append(frame)
    if not frames:
        raise TrajectoryError(f"{p}: empty file")
    names = frames[0]["names"]
    cells = np.stack([_cell(f["box"]) for f in frames])
    if np.allclose(cells, cells[0], rtol=1e-12, atol=0):
        cells = cells[0]
    diagonal = np.diagonal(cells, axis1=-2, axis2=-1)
    box = diagonal if np.all(cells == diagonal[..., :, None] * np.eye(3)) else cells
    kwargs: dict[str, Any] = {}
    if all(f["vel"] is not None for f in frames):
        kwargs["velocities"] = Quantity(np.stack([f["vel"] for f in frames]), "nm/ps")
    return Trajectory(
        Quantity(np.stack([f["pos"] for f in frames]), "nm"),
        box=Quantity(np.array(box), "nm"),
        timestep=_timestep(p, frames, timestep),
        masses=_masses(masses, names, p.name),
        species=names,
        **kwargs,
    )


def _timestep(p: Path, frames: list[dict], given: Any) -> Quantity:
    if given is not None:
        return Quantity(float(to_internal(given, "time", "timestep")), "ps")
    if len(frames) < 2 or any(f["time"] is None for f in frames):
        raise TrajectoryError(
            f"{p.name}: the titles do not give the time of every frame ('t= ...'); pass "
            "timestep=Quantity(value, 'ps') (the time between stored frames)"
        )
    times = np.array([f["time"] for f in frames])
    dt = (times[-1] - times[0]) / (len(times) - 1)
    decimals = max(len((f["time_token"] + ".").split(".")[1]) for f in frames)
    if not dt > 0 or np.any(np.abs(np.diff(times) - dt) > 10.0**-decimals + 1e-9 * dt):
        raise TrajectoryError(
            f"{p.name}: frame times {times.tolist()} are not evenly spaced; pass timestep= "
            "only if the frames really are evenly spaced"
        )
    return Quantity(float(dt), "ps")
