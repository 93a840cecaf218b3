"""Physically generated trajectories with known answers: ideal gas, Ornstein–Uhlenbeck
velocities, simple cubic lattice."""

import dataclasses
from typing import Any

import hypothesis.strategies as st
import numpy as np

import observables as ob

from ._random import _sizes, boxes
from ._report import describe

__all__ = [
    "ideal_gas",
    "ornstein_uhlenbeck",
    "OrnsteinUhlenbeck",
    "simple_cubic_lattice",
    "Lattice",
]


@st.composite
def ideal_gas(
    draw: Any,
    *,
    n_atoms: int | tuple[int, int] = (4, 16),
    n_frames: int | tuple[int, int] = (8, 32),
    box: st.SearchStrategy[ob.Quantity] | None = None,
) -> ob.Trajectory:
    """Frames of independent atoms placed uniformly in a periodic cell (an ideal gas).

    Known answers: $g(r) = 1$ for every $r$ (with the $N(N-1)$ pair normalisation), and a
    structure factor of 1. Frames are independent, so counting noise is Poisson-like
    (see `check_ideal_gas_rdf`). Drawn from a hypothesis-chosen seed; shrinks to few atoms,
    few frames and a cube.

    **Arguments:** `n_atoms`, `n_frames`: a size or an inclusive (min, max) range; `box`: a
    strategy for the cell (default `boxes()`, orthorhombic or triclinic).

    **Returns:** a `Trajectory` with `positions` (nm), the box and a 1 ps time step.
    """
    atoms, frames = draw(_sizes(n_atoms)), draw(_sizes(n_frames))
    cell = draw(boxes() if box is None else box)
    b = np.asarray(cell.m_as("nm"), dtype=np.float64)
    matrix = np.diag(b) if b.shape == (3,) else b
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    positions = rng.uniform(size=(frames, atoms, 3)) @ matrix
    return ob.Trajectory(ob.Quantity(positions, "nm"), box=cell, timestep=ob.Quantity(1.0, "ps"))


@dataclasses.dataclass(frozen=True)
class OrnsteinUhlenbeck:
    r"""A trajectory of Ornstein–Uhlenbeck velocities and its exact answers.

    Each velocity component is the exact discretisation of
    $dv = -\gamma v\,dt + \sqrt{2\gamma k_BT/m}\,dW$ at the frame spacing $\Delta t$:
    $v_{n+1} = a v_n + \sqrt{1-a^2}\,\sigma\,\xi_n$ with $a = e^{-\gamma\Delta t}$,
    $\sigma^2 = k_BT/m$, started in equilibrium. Positions integrate the velocities
    (x_{n+1} = x_n + v_n Δt) and are unwrapped.

    **Fields:** `trajectory` (velocities nm/ps, positions nm, masses Da, no box);
    `gamma` (1/ps), `temperature` (K), `mass` (g/mol). `OrnsteinUhlenbeck.sample(seed, ...)`
    draws one without hypothesis.
    """

    trajectory: ob.Trajectory
    gamma: float
    temperature: float
    mass: float

    def __repr__(self) -> str:
        return (
            f"OrnsteinUhlenbeck(gamma={self.gamma!r} 1/ps, temperature={self.temperature!r} K, "
            f"mass={self.mass!r} g/mol, {describe(self.trajectory)})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))

    def vacf(self, time: ob.Quantity) -> ob.Quantity:
        r"""Exact $\langle \mathbf v(0)\cdot\mathbf v(t)\rangle = 3 (k_BT/m)\,e^{-\gamma|t|}$,
        nm²/ps², at lag times `time` (a `Quantity`)."""
        t = np.abs(np.asarray(time.m_as("ps"), dtype=np.float64))
        return ob.Quantity(3 * self.sigma2 * np.exp(-self.gamma * t), "nm**2/ps**2")

    @property
    def sigma2(self) -> float:
        """$k_BT/m$ per component, nm²/ps²."""
        return ob.BOLTZMANN * self.temperature / self.mass

    @classmethod
    def sample(
        cls,
        seed: int,
        *,
        n_atoms: int,
        n_frames: int,
        gamma: float,
        temperature: float,
        mass: float,
        timestep: ob.Quantity | None = None,
    ) -> "OrnsteinUhlenbeck":
        """One realisation from a NumPy seed, without hypothesis (e.g. independent replicas
        for `check_error_calibration`). `gamma` in 1/ps, `temperature` in K, `mass` in
        g/mol, `timestep` a `Quantity` (default 10 fs)."""
        timestep = ob.Quantity(10.0, "fs") if timestep is None else timestep
        dt = float(timestep.m_as("ps"))
        rng = np.random.default_rng(seed)
        a = np.exp(-gamma * dt)
        noise = rng.normal(size=(n_frames, n_atoms, 3)) * np.sqrt(ob.BOLTZMANN * temperature / mass)
        v = np.empty_like(noise)
        v[0] = noise[0]
        for n in range(1, n_frames):
            v[n] = a * v[n - 1] + np.sqrt(1 - a * a) * noise[n]
        x = np.concatenate([np.zeros((1, n_atoms, 3)), np.cumsum(v[:-1], axis=0) * dt])
        traj = ob.Trajectory(
            ob.Quantity(x, "nm"),
            box=None,
            timestep=timestep,
            velocities=ob.Quantity(v, "nm/ps"),
            masses=ob.Quantity(np.full(n_atoms, mass), "g/mol"),
        )
        return cls(traj, gamma, temperature, mass)

    def diffusion(self, window: ob.Quantity | None = None) -> ob.Quantity:
        r"""Exact $D = k_BT/(m\gamma)$, or the Green–Kubo integral truncated at `window`,
        $D\,(1 - e^{-\gamma t_w})$; nm²/ps."""
        d = self.sigma2 / self.gamma
        if window is not None:
            d *= 1.0 - np.exp(-self.gamma * float(window.m_as("ps")))
        return ob.Quantity(d, "nm**2/ps")


@st.composite
def ornstein_uhlenbeck(
    draw: Any,
    *,
    n_atoms: int | tuple[int, int] = (16, 64),
    n_frames: int | tuple[int, int] = (64, 128),
    gamma: tuple[float, float] = (5.0, 20.0),
    temperature: tuple[float, float] = (100.0, 400.0),
    mass: tuple[float, float] = (1.0, 40.0),
    timestep: ob.Quantity | None = None,
) -> OrnsteinUhlenbeck:
    """Ornstein–Uhlenbeck velocities with exact VACF and diffusion coefficient.

    **Arguments:** sizes as a value or (min, max) range; `gamma` (1/ps), `temperature` (K)
    and `mass` (g/mol) as (min, max) ranges; `timestep` between frames (default 10 fs).
    Shrinks towards the smallest sizes and the lower ends of the ranges.

    **Returns:** an `OrnsteinUhlenbeck` (the trajectory and its exact answers).
    """
    atoms, frames = draw(_sizes(n_atoms)), draw(_sizes(n_frames))
    g, temp, m = (draw(st.floats(*r)) for r in (gamma, temperature, mass))
    seed = draw(st.integers(0, 2**32 - 1))
    return OrnsteinUhlenbeck.sample(
        seed, n_atoms=atoms, n_frames=frames, gamma=g, temperature=temp, mass=m, timestep=timestep
    )


@dataclasses.dataclass(frozen=True)
class Lattice:
    """A simple cubic crystal and its exact neighbour shells.

    **Fields:** `trajectory` (positions nm, cubic box); `spacing` (nm); `shells`: tuples
    (radius nm, number of neighbours) of the first shells: (a, 6), (a√2, 12), (a√3, 8),
    (2a, 6).
    """

    trajectory: ob.Trajectory
    spacing: float
    shells: tuple[tuple[float, int], ...]

    def __repr__(self) -> str:
        return f"Lattice(spacing={self.spacing!r} nm, {describe(self.trajectory)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))


@st.composite
def simple_cubic_lattice(
    draw: Any,
    *,
    n_cells: int | tuple[int, int] = (4, 6),
    spacing: tuple[float, float] = (0.2, 0.4),
    n_frames: int = 1,
) -> Lattice:
    """A perfect simple cubic lattice of `n_cells`³ atoms (edge `spacing` nm), repeated for
    `n_frames` frames; its RDF has peaks at a, a√2, a√3, 2a holding 6, 12, 8 and 6
    neighbours. Choose `n_cells >= 4` so that the range up to 2a (half the box at 4 cells)
    is valid for an RDF. Shrinks to the smallest lattice."""
    n, a = draw(_sizes(n_cells)), draw(st.floats(*spacing))
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    positions = np.broadcast_to(grid * a, (n_frames, n**3, 3))
    traj = ob.Trajectory(
        ob.Quantity(np.array(positions), "nm"),
        box=ob.Quantity(np.full(3, n * a), "nm"),
        timestep=ob.Quantity(1.0, "ps"),
    )
    shells = ((a, 6), (a * np.sqrt(2), 12), (a * np.sqrt(3), 8), (2 * a, 6))
    return Lattice(traj, a, shells)
