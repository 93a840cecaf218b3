"""`OpenMMBackend`: sampling-only backend on OpenMM (from PyPI), for pair potentials.

OpenMM uses the same unit system as spectrinv internally (nm, ps, Da, kJ/mol, e, K), so
no conversion factors appear. Supported potentials: `LennardJones` (any species / mixing /
truncation), mapped to a `CustomNonbondedForce` with `CutoffPeriodic`, no switching
function and no long-range correction, with the same energy shift (or force shift) as the
jax-md model; σ/ε per particle combined by Lorentz–Berthelot in the energy expression
(per-species parameters) or per pair from `Discrete2DFunction` tables (explicit matrices,
about 10x slower in OpenMM) — so energies and forces are identical up to round-off
(tested against jax-md to ~1e-12 on the Reference platform).

Integrators map to OpenMM's: `VelocityVerlet` → `NoseHooverIntegrator(dt)` with no
thermostat (a true velocity Verlet: positions and velocities at the same time),
`Langevin` → `LangevinMiddleIntegrator` (BAOAB-like), `NoseHooverChain` →
`NoseHooverIntegrator(T, 1/τ, dt, chain_length)`. OpenMM reports velocities half a step
behind the positions; for `VelocityVerlet` the backend adds the missing half kick so that
frames equal `JaxMDBackend`'s to round-off (tested); for the thermostatted integrators the
recorded velocities are OpenMM's (half-step) ones. Not differentiable: use it with
reweighting gradients. Runs in float64 internally (Reference platform) or OpenMM's
platform precision (`CPU`: mixed single/double); the returned arrays are float64.

NPT: `barostat=MonteCarloBarostat(...)` adds OpenMM's own `MonteCarloBarostat` (isotropic
Monte Carlo volume moves every `frequency` steps at the barostat's pressure and the
thermostat's temperature; OpenMM proposes steps uniform in V and tunes them itself, so
`volume_step` and `adapt` are not used). Only atomic scaling is available here (the
supported potentials have no bonds). Frames then carry their box (`[frame, 3, 3]`) and the
final state's
`barostat.box` is the box to continue from; OpenMM does not report move statistics, so
`attempted`/`accepted` stay 0.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity, Trajectory, to_internal

from .._progress import progress_task
from ..potentials import (
    AbstractPotential,
    ForceShifted,
    LennardJones,
    LorentzBerthelot,
    Shifted,
    System,
    Truncated,
    perpendicular_widths,
)
from ._barostat import BarostatState, MonteCarloBarostat, checked_barostat
from ._base import AbstractBackend, Positions, Velocities
from ._initial import maxwell_boltzmann
from ._integrators import AbstractIntegrator, Langevin, NoseHooverChain, VelocityVerlet
from ._state import MDState

__all__ = ["OpenMMBackend"]


def _openmm():
    try:
        import openmm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenMMBackend needs OpenMM: `pip install openmm` (or spectrinv[bench])"
        ) from err
    return openmm


class OpenMMBackend(AbstractBackend):
    """Sampling-only backend running OpenMM.

    **Arguments:** `integrator` (the same integrator objects as `JaxMDBackend`),
    `platform` (`"CPU"`, `"Reference"`, `"CUDA"`, `"OpenCL"`), `properties` (platform
    properties, e.g. `{"Threads": "2"}` or `{"Precision": "double"}` on CUDA).
    Only positions and velocities can be recorded. `barostat`: a `MonteCarloBarostat`
    (atomic scaling) for NPT with a thermostatted integrator (module docstring).
    """

    integrator: AbstractIntegrator
    platform: str = eqx.field(static=True)
    properties: tuple[tuple[str, str], ...] = eqx.field(static=True)
    barostat: MonteCarloBarostat | None = None

    def __init__(
        self,
        integrator: AbstractIntegrator,
        platform: str = "CPU",
        properties=None,
        barostat: MonteCarloBarostat | None = None,
    ):
        if not isinstance(integrator, AbstractIntegrator):
            raise TypeError(f"integrator must be an AbstractIntegrator, got {integrator!r}")
        self.integrator = integrator
        self.platform = str(platform)
        self.properties = tuple(sorted((properties or {}).items()))
        barostat = checked_barostat(barostat, integrator)
        if barostat is not None and barostat.scaling == "molecular":
            raise NotImplementedError(
                "OpenMMBackend's barostat scales atoms (its potentials have no bonds); "
                "use MonteCarloBarostat(..., scaling='atomic')"
            )
        self.barostat = barostat

    # ------------------------------------------------------------------ system building
    def _system(self, potential: AbstractPotential, system: System):
        mm = _openmm()
        if not isinstance(potential, LennardJones):
            raise NotImplementedError(
                f"OpenMMBackend supports LennardJones potentials, not {type(potential).__name__}"
            )
        if system.box is None:
            raise ValueError("OpenMMBackend needs a periodic box")
        widths = perpendicular_widths(np.asarray(system.box))
        if potential.cutoff > 0.5 * widths.min():
            raise ValueError(
                f"cutoff {potential.cutoff} nm exceeds half the smallest box width "
                f"({0.5 * widths.min():.6g} nm)"
            )
        sys_ = mm.System()
        box = np.asarray(system.box_matrix, dtype=float)
        sys_.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
        for m in np.asarray(system.masses, dtype=float):
            sys_.addParticle(float(m))
        species = np.asarray(system.species)
        n_types = int(species.max()) + 1
        sig = np.broadcast_to(_np_matrix(potential, "sigma"), (n_types, n_types))
        eps = np.broadcast_to(_np_matrix(potential, "epsilon"), (n_types, n_types))
        rc = float(potential.cutoff)
        lj = "4*eps*((sig/r)^12-(sig/r)^6)"
        at_rc = f"4*eps*((sig/{rc!r})^12-(sig/{rc!r})^6)"
        slope_rc = f"4*eps*(-12*sig^12/{rc!r}^13+6*sig^6/{rc!r}^7)"
        trunc = potential.truncation
        if isinstance(trunc, Shifted):
            expr = f"{lj}-{at_rc}"
        elif isinstance(trunc, ForceShifted):
            expr = f"{lj}-{at_rc}-(r-{rc!r})*{slope_rc}"
        elif isinstance(trunc, Truncated):
            expr = lj
        else:
            raise NotImplementedError(f"truncation {trunc!r} has no OpenMM equivalent here")
        sig_v = np.asarray(potential.sigma, dtype=float)
        eps_v = np.asarray(potential.epsilon, dtype=float)
        if sig_v.ndim <= 1 and eps_v.ndim <= 1:
            # Lorentz–Berthelot from per-particle parameters: ~10x faster in OpenMM than
            # table lookups (checked equal to the mixed matrices used by `_np_matrix`).
            _np_matrix(potential, "sigma")  # raises for a mixing rule we cannot express
            sig_s = np.broadcast_to(sig_v, (n_types,))
            eps_s = np.broadcast_to(eps_v, (n_types,))
            force = mm.CustomNonbondedForce(f"{expr}; sig=0.5*(s1+s2); eps=sqrt(e1*e2)")
            force.addPerParticleParameter("s")
            force.addPerParticleParameter("e")
            for s in species:
                force.addParticle([float(sig_s[s]), float(eps_s[s])])
        else:  # explicit per-pair matrices
            force = mm.CustomNonbondedForce(f"{expr}; sig=sigT(t1, t2); eps=epsT(t1, t2)")
            force.addPerParticleParameter("t")
            force.addTabulatedFunction(
                "sigT", mm.Discrete2DFunction(n_types, n_types, sig.T.ravel().tolist())
            )
            force.addTabulatedFunction(
                "epsT", mm.Discrete2DFunction(n_types, n_types, eps.T.ravel().tolist())
            )
            for s in species:
                force.addParticle([float(s)])
        force.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
        force.setCutoffDistance(rc)
        force.setUseSwitchingFunction(False)
        force.setUseLongRangeCorrection(False)
        sys_.addForce(force)
        if self.barostat is not None:
            bar = float(to_internal(Quantity(1.0, "bar"), "pressure", "bar"))
            sys_.addForce(
                mm.MonteCarloBarostat(
                    self.barostat.pressure / bar,
                    self.integrator.temperature,
                    self.barostat.frequency,
                )
            )
        return sys_

    def _integrator(self, seed: int):
        mm = _openmm()
        it = self.integrator
        if isinstance(it, Langevin):
            out = mm.LangevinMiddleIntegrator(it.temperature, it.friction, it.timestep)
            out.setRandomNumberSeed(seed)
            return out
        if isinstance(it, NoseHooverChain):
            return mm.NoseHooverIntegrator(
                it.temperature, 1.0 / it.tau, it.timestep, it.chain_length, 1, 1
            )
        if isinstance(it, VelocityVerlet):
            return mm.NoseHooverIntegrator(it.timestep)
        raise NotImplementedError(f"no OpenMM integrator for {type(it).__name__}")

    def _context(self, potential, system, seed=1):
        mm = _openmm()
        platform = mm.Platform.getPlatformByName(self.platform)
        sys_ = self._system(potential, system)
        for i in range(sys_.getNumForces()):
            if isinstance(sys_.getForce(i), mm.MonteCarloBarostat):
                sys_.getForce(i).setRandomNumberSeed(seed)
        return mm.Context(sys_, self._integrator(seed), platform, dict(self.properties))

    # ------------------------------------------------------------------------- public
    def energy_and_forces(
        self, potential: AbstractPotential, system: System, positions: Any
    ) -> tuple[float, np.ndarray]:
        """Potential energy (kJ/mol) and forces `[atom, 3]` (kJ/mol/nm) from OpenMM for
        positions in nm (plain array, internal units)."""
        ctx = self._context(potential, system)
        ctx.setPositions(np.asarray(positions, dtype=float))
        st = ctx.getState(getEnergy=True, getForces=True)
        energy = st.getPotentialEnergy().value_in_unit(st.getPotentialEnergy().unit)
        forces = np.asarray(st.getForces(asNumpy=True)._value)
        return float(energy), forces

    def init(
        self,
        potential: AbstractPotential,
        system: System,
        positions: Any,
        *,
        velocities: Any = None,
        temperature: Any = None,
        key: Any = None,
        neighbor_capacity: int | None = None,
    ) -> MDState:
        """Starting state (unbatched only); see `JaxMDBackend.init`. `neighbor_capacity` is
        accepted for a common interface and ignored (OpenMM manages its own lists)."""
        pos = np.asarray(to_internal(positions, "length", "positions"), dtype=float)
        if pos.ndim != 2 or pos.shape != (system.n_atoms, 3):
            raise ValueError(f"positions must be [atom, 3] for {system.n_atoms} atoms")
        if not np.all(np.isfinite(pos)):
            raise ValueError("positions contain non-finite values")
        if velocities is not None:
            vel = np.asarray(to_internal(velocities, "velocity", "velocities"), dtype=float)
        elif temperature is not None:
            if key is None:
                raise ValueError("init(temperature=...) needs a PRNG key")
            t = float(to_internal(temperature, "temperature", "temperature"))
            with jax.numpy_dtype_promotion("standard"):
                vel = np.asarray(
                    maxwell_boltzmann(key, system.masses, t, pos.shape, jnp.result_type(float)),
                    dtype=float,
                )
        else:
            vel = np.zeros_like(pos)
        energy, forces = self.energy_and_forces(potential, system, pos)
        state = _state(pos, vel, forces, energy, 0)
        if self.barostat is not None:
            box = np.asarray(system.box, dtype=float)
            state = eqx.tree_at(
                lambda s: s.barostat, state, _barostat_state(box), is_leaf=lambda x: x is None
            )
        return state

    def sample(self, potential, system, state, key, n_steps, *, stride=1, record=None):
        """Run OpenMM for `n_steps`, recording positions (unwrapped) and velocities every
        `stride` steps; returns `(Trajectory, MDState)`."""
        record = (Positions(), Velocities()) if record is None else tuple(record)
        fields = {r.field for r in record}
        if not fields <= {"positions", "velocities"}:
            raise NotImplementedError(
                f"OpenMMBackend records positions and velocities only, not {sorted(fields)}"
            )
        if stride < 1 or n_steps % stride or n_steps < stride:
            raise ValueError(f"n_steps ({n_steps}) must be a positive multiple of stride")
        seed = int(jax.random.randint(key, (), 1, 2**31 - 1))
        if state.barostat is not None:
            if self.barostat is None:
                raise ValueError(
                    "this state comes from an NPT run (state.barostat is set) but the backend "
                    "has no barostat; build a System with state.barostat.box to continue at "
                    "fixed volume"
                )
            system = eqx.tree_at(lambda s: s.box, system, jnp.asarray(state.barostat.box))
        ctx = self._context(potential, system, seed)
        ctx.setPositions(np.asarray(state.positions, dtype=float))
        ctx.setVelocities(np.asarray(state.velocities, dtype=float))
        integ = ctx.getIntegrator()
        # OpenMM reports velocities half a step behind the positions (the closing half kick
        # is applied at the start of the next step). For velocity Verlet we add it back:
        # v(t) = v_reported + (Δt/2) F(t)/m, which makes the frames identical to JaxMDBackend.
        sync = isinstance(self.integrator, VelocityVerlet)
        half_kick = 0.5 * self.integrator.timestep / np.asarray(system.masses, float)[:, None]
        pos, vel, boxes = [], [], []
        with progress_task("MD sampling (OpenMM)", n_steps, unit="steps") as shown:
            for _ in range(n_steps // stride):
                integ.step(stride)
                st = ctx.getState(getPositions=True, getVelocities=True, getForces=sync)
                pos.append(np.asarray(st.getPositions(asNumpy=True)._value))
                if self.barostat is not None:  # [3, 3] rows, as JaxMDBackend records them
                    boxes.append(np.asarray(st.getPeriodicBoxVectors(asNumpy=True)._value, float))
                v = np.asarray(st.getVelocities(asNumpy=True)._value)
                if sync:
                    v = v + half_kick * np.asarray(st.getForces(asNumpy=True)._value)
                vel.append(v)
                shown.advance(stride)
        st = ctx.getState(getEnergy=True, getForces=True)
        energy = st.getPotentialEnergy().value_in_unit(st.getPotentialEnergy().unit)
        forces = np.asarray(st.getForces(asNumpy=True)._value)
        final = _state(pos[-1], vel[-1], forces, float(energy), int(state.step) + n_steps)
        if boxes:
            final = eqx.tree_at(
                lambda s: s.barostat,
                final,
                _barostat_state(_box_like(boxes[-1], np.asarray(system.box))),
                is_leaf=lambda x: x is None,
            )
        extra = {"velocities": jnp.asarray(np.stack(vel))} if "velocities" in fields else {}
        traj = Trajectory.from_internal(
            jnp.asarray(np.stack(pos)),
            box=jnp.asarray(np.stack(boxes)) if boxes else system.box,
            timestep=jnp.asarray(self.integrator.timestep * stride),
            masses=system.masses,
            species=system.species,
            charges=system.charges,
            species_names=system.species_names,
            **extra,
        )
        return traj, final


def _box_like(h: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Cell vectors `h` (rows) in the shape of `like` (`[3]` edges or `[3, 3]` rows)."""
    return np.diag(h).copy() if like.ndim == 1 else h


def _barostat_state(box: np.ndarray) -> BarostatState:
    return BarostatState(
        box=jnp.asarray(box),
        log_step=jnp.asarray(np.nan),
        attempted=jnp.zeros((), jnp.int32),
        accepted=jnp.zeros((), jnp.int32),
    )


def _np_matrix(potential, name: str) -> np.ndarray:
    """Pair-parameter matrix in float64 numpy (independent of JAX's x64 setting)."""
    value = np.asarray(getattr(potential, name), dtype=float)
    if value.ndim != 1:
        return value
    if not isinstance(potential.mixing, LorentzBerthelot):
        raise NotImplementedError(f"mixing rule {potential.mixing!r} is not supported here")
    if name in potential.mixing.lengths:
        return 0.5 * (value[:, None] + value[None, :])
    return np.sqrt(np.outer(value, value))


def _state(pos, vel, forces, energy, step) -> MDState:
    pos = jnp.asarray(pos)
    return MDState(
        positions=pos,
        velocities=jnp.asarray(vel),
        forces=jnp.asarray(forces),
        potential_energy=jnp.asarray(energy),
        thermostat=None,
        neighbors=None,
        reference_positions=pos,
        step=jnp.asarray(step, jnp.int32),
    )
