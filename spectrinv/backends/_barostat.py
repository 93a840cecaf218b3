"""Isotropic Monte Carlo barostat: NPT for `JaxMDBackend` with any thermostat.

Every `frequency` steps the barostat proposes a new volume, V' = V e^{δ}, δ uniform in
[−δ_max, δ_max], scales the box isotropically, h' = h (V'/V)^{1/3} (cell vectors as rows,
so triclinic cells keep their shape), and scales either every atom position
(`scaling="atomic"`) or only the centre of mass of every molecule
(`scaling="molecular"`, molecules of `system.topology.molecule` stay rigid, so stiff bonds
are not stretched by the move). The move is accepted with the Metropolis probability

    min(1, exp(−β[U(r', V') − U(r, V) + P (V' − V)] + (N + 1) ln(V'/V)))

with N the number of scaled units (atoms or molecules). It samples the isothermal-isobaric
distribution p(V, s) ∝ V^N exp(−β[U + PV]) of scaled coordinates s, whose volume marginal
for an ideal gas is the Gamma distribution of shape N + 1 and scale k_BT/P, and in which
⟨P_inst⟩ = P for the instantaneous (virial) pressure (both tested). The extra +1 is the
Jacobian of the proposal in ln V. Velocities are left alone: the thermostat of the
integrator (`Langevin` or `NoseHooverChain`, whose temperature β refers to) keeps the
kinetic part canonical.

Why a Monte Carlo barostat and not jax-md's `npt_nose_hoover`: it works with every
thermostat and potential in this package, and the trial energies need no virial. Each
move costs one energy and force evaluation with a rebuilt neighbour list. With a move
every 25 steps, `python -m benchmarks.performance.npt_overhead` measured NPT at 0.94× the NVT
speed for 216 SPC/Fw molecules and 0.67× for 4000 LJ atoms, where a list rebuild costs
several force evaluations (2-core CPU, docs/benchmarks.md); use a larger `frequency` there.
OpenMM's `MonteCarloBarostat` samples the same ensemble (with steps uniform in V).

**Step size.** δ_max starts at `volume_step` and, with `adapt=True`, is adjusted between
chunks of the backend (every `chunk_steps` steps, once at least 10 moves were tried in the
chunk): × 1/1.1 below 25 % acceptance, × 1.1 above 75 %, capped at 0.2. Within a chunk it
is fixed. For production runs whose volume statistics matter, equilibrate with `adapt=True`
and continue with `adapt=False`.

??? cite
    K.-H. Chow, D. M. Ferguson, Comput. Phys. Commun. 91, 283 (1995);
    J. Åqvist, P. Wennerström, M. Nervall, S. Bjelic, B. O. Brandsdal, Chem. Phys. Lett.
    384, 288 (2004); D. Frenkel, B. Smit, *Understanding Molecular Simulation*, 2nd ed.,
    §5.4 (2002).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from observables import perpendicular_widths, to_internal

from ..potentials import minimum_image
from ._cell_list import cell_matrix

__all__ = ["MonteCarloBarostat", "BarostatState"]

_SCALINGS = ("auto", "atomic", "molecular")
_MAX_STEP = 0.2


class BarostatState(eqx.Module):
    """The barostat's part of an `MDState` (one entry per replica when batched).

    - `box`: the current box, `[(replica,) 3]` edges or `[(replica,) 3, 3]` rows (nm);
    - `log_step`: δ_max, the largest proposed |ln(V'/V)|;
    - `attempted`, `accepted`: moves tried and accepted since `init`.
    """

    box: Array
    log_step: Array
    attempted: Array
    accepted: Array

    @property
    def acceptance(self) -> Array:
        """Accepted / attempted moves since `init` (NaN before the first move)."""
        tried = jnp.asarray(self.attempted)
        return jnp.where(tried > 0, self.accepted / jnp.maximum(tried, 1), jnp.nan)


class MonteCarloBarostat(eqx.Module):
    """Isotropic Monte Carlo barostat (module docstring: algorithm, acceptance, cost).

    **Arguments:**
    - `pressure`: target pressure (pint pressure, e.g. `Quantity(1, "bar")`);
    - `frequency`: steps between volume moves (default 25);
    - `scaling`: `"molecular"` (molecule centres of mass; needs `system.topology`),
      `"atomic"`, or `"auto"` (molecular when the system has a topology);
    - `volume_step`: initial δ_max of ln V (default 0.01, i.e. ±1 % in volume);
    - `adapt`: tune δ_max between chunks towards 25–75 % acceptance (default True);
    - `cell_margin`: the neighbour cells are sized for boxes up to this fraction narrower
      than the smallest box seen so far (default 0.05); a box that shrinks further makes
      the backend reallocate the list (and recompile its step) once. Larger margins mean
      fewer reallocations while the volume equilibrates but larger cells, hence slower
      rebuilds (cells hold r_list·(1 + margin) rather than r_list).

    Use: `JaxMDBackend(Langevin(...), barostat=MonteCarloBarostat(Quantity(1, "bar")))`;
    the current box is `state.barostat.box` and every frame of the returned `Trajectory`
    carries its box (`trajectory.box` is `[frame, ...]`).
    """

    pressure: float = eqx.field(static=True)
    frequency: int = eqx.field(static=True)
    scaling: str = eqx.field(static=True)
    volume_step: float = eqx.field(static=True)
    adapt: bool = eqx.field(static=True)
    cell_margin: float = eqx.field(static=True)

    def __init__(
        self,
        pressure: Any,
        *,
        frequency: int = 25,
        scaling: str = "auto",
        volume_step: float = 0.01,
        adapt: bool = True,
        cell_margin: float = 0.05,
    ):
        self.pressure = float(to_internal(pressure, "pressure", "pressure"))
        if not np.isfinite(self.pressure):
            raise ValueError(f"pressure must be finite, got {pressure}")
        if int(frequency) != frequency or frequency < 1:
            raise ValueError(f"frequency must be a positive number of steps, got {frequency}")
        self.frequency = int(frequency)
        if scaling not in _SCALINGS:
            raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}")
        self.scaling = scaling
        if not 0 < volume_step <= _MAX_STEP:
            raise ValueError(f"volume_step must be in (0, {_MAX_STEP}], got {volume_step}")
        self.volume_step = float(volume_step)
        self.adapt = bool(adapt)
        if not 0 <= cell_margin < 0.5:
            raise ValueError(f"cell_margin must be in [0, 0.5), got {cell_margin}")
        self.cell_margin = float(cell_margin)

    def molecular(self, system) -> bool:
        """Whether moves scale molecule centres (checked against the system)."""
        if self.scaling == "molecular" and system.topology is None:
            raise ValueError(
                "MonteCarloBarostat(scaling='molecular') needs system.topology (molecule "
                "indices); use scaling='atomic' for a system without molecules"
            )
        return self.scaling == "molecular" or (
            self.scaling == "auto" and system.topology is not None
        )

    def init_state(self, box: Array, n_replicas: int, dtype) -> BarostatState:
        box = jnp.broadcast_to(jnp.asarray(box, dtype), (n_replicas,) + tuple(np.shape(box)))
        return BarostatState(
            box=box,
            log_step=jnp.full((n_replicas,), self.volume_step, dtype),
            attempted=jnp.zeros((n_replicas,), jnp.int32),
            accepted=jnp.zeros((n_replicas,), jnp.int32),
        )

    def adapted(self, state: BarostatState, start: BarostatState) -> BarostatState:
        """δ_max tuned from the moves since `start` (host side, between chunks)."""
        if not self.adapt:
            return state
        tried = np.asarray(state.attempted - start.attempted)
        rate = np.asarray(state.accepted - start.accepted) / np.maximum(tried, 1)
        step = np.asarray(state.log_step)
        factor = np.where(tried < 10, 1.0, np.where(rate < 0.25, 1 / 1.1, 1.0))
        factor = np.where((tried >= 10) & (rate > 0.75), 1.1, factor)
        new = np.minimum(step * factor, _MAX_STEP).astype(step.dtype)
        return eqx.tree_at(lambda s: s.log_step, state, jnp.asarray(new))


def checked_barostat(barostat: Any, integrator: Any) -> MonteCarloBarostat | None:
    """`barostat` (or `None`) checked for a backend running `integrator`: a
    `MonteCarloBarostat` needs the temperature of a thermostat."""
    if barostat is None:
        return None
    if not isinstance(barostat, MonteCarloBarostat):
        raise TypeError(f"barostat must be a MonteCarloBarostat, got {type(barostat).__name__}")
    if integrator.temperature is None:
        raise ValueError(
            f"a barostat needs a thermostatted integrator (Langevin or NoseHooverChain) for "
            f"its temperature; {type(integrator).__name__} is NVE. Run NPT with a "
            "thermostat, then NVE at the resulting box if needed."
        )
    return barostat


def box_volume(box: Array) -> Array:
    """Volume of one box, `[3]` edges or `[3, 3]` rows (nm³); `jax.vmap` it for several
    (a stack of three orthorhombic boxes has the shape of one triclinic box)."""
    if box.ndim == 1:
        return jnp.prod(box)
    return jnp.abs(jnp.linalg.det(box))


def min_width(box: Array) -> Array:
    """Smallest perpendicular width of one `[3]` or `[3, 3]` box (traceable)."""
    return jnp.min(perpendicular_widths(cell_matrix(box)))


def molecule_centres(positions: Array, system, box: Array) -> tuple[Array, Array]:
    """(centre of mass of each atom's molecule `[atom, 3]`, number of molecules) for one
    replica; molecules are made whole around their first atom by the minimum image in
    `box` first."""
    mol = system.topology.molecule
    n = positions.shape[0]
    first = jax.ops.segment_min(jnp.arange(n), mol, num_segments=n)
    anchor = positions[first[mol]]
    whole = anchor + minimum_image(positions - anchor, box)
    m = system.masses.astype(positions.dtype)
    mass = jax.ops.segment_sum(m, mol, num_segments=n)
    moment = jax.ops.segment_sum(m[:, None] * whole, mol, num_segments=n)
    centres = moment / jnp.where(mass > 0, mass, 1)[:, None]
    n_mol = jnp.sum(mass > 0)
    return centres[mol], n_mol


def barostat_state_for(barostat: MonteCarloBarostat | None, system: Any, state: Any) -> Any:
    """A batched `MDState` checked against a backend's `barostat`: a fixed-box state gets
    a fresh `BarostatState` at `system.box`; an NPT state needs a barostat."""
    if barostat is None and state.barostat is not None:
        raise ValueError(
            "this state comes from an NPT run (state.barostat is set) but the backend has "
            "no barostat. To continue at the final box: system = eqx.tree_at(lambda s: "
            "s.box, system, state.barostat.box[0]) (for replica 0), then backend.init(...) "
            "with state.positions and state.velocities."
        )
    if barostat is not None and state.barostat is None:
        if system.box is None:
            raise ValueError("a barostat needs a periodic system (system.box is None)")
        barostat.molecular(system)
        bs = barostat.init_state(system.box, state.positions.shape[0], state.positions.dtype)
        state = eqx.tree_at(lambda s: s.barostat, state, bs, is_leaf=lambda x: x is None)
    return state
