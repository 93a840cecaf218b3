"""Energy bookkeeping of NVE runs: total and shadow energies of stored frames, and the
relative energy drift per ns with its standard error.

**Shadow energy.** Velocity Verlet does not conserve the energy H = K + U; it conserves, to all
orders in Δt for a long time, a nearby *modified* ("shadow") Hamiltonian. Truncated at Δt²,

    H̃ = H + Δt² [ vᵀ U''(r) v / 12 − ∇Uᵀ M⁻¹ ∇U / 24 ] + O(Δt⁴),

evaluated at whole steps (positions and full-step velocities v = M⁻¹p). H fluctuates by
O(Δt²) about the conserved value; H̃ by O(Δt⁴). Both drift at the same rate (their difference
is a bounded, stationary function of the state), so the drift of H̃ estimates the drift of H
with a much smaller variance. Reference: R. D. Engle, R. D. Skeel, M. Drees, "Monitoring
energy drift with shadow Hamiltonians", J. Comput. Phys. 206, 432 (2005); E. Hairer, C. Lubich,
G. Wanner, *Geometric Numerical Integration*, 2nd ed., Springer (2006), §IX.3 (for the
harmonic oscillator H̃ differs from the exact invariant p²/2m + (1 − ω²Δt²/4) kq²/2 by
ω²Δt² H / 6, itself conserved to O(Δt⁴)).

**Drift estimator.** The series is cut into `n_blocks` equal blocks (each should be longer
than the correlation time of the energy fluctuations); the drift is the least-squares slope of
the block means against time, divided by |⟨E⟩|, and its standard error is the slope's from
the residuals of that fit (n_blocks − 2 degrees of freedom), so slow fluctuations of a short
run are not mistaken for drift and a real drift does not inflate its own error bar.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity, Trajectory, from_internal, to_internal

from ..potentials import AbstractPotential, System


class EnergyDrift(NamedTuple):
    """Relative energy drift of a run (`energy_drift`).

    - `per_ns`: dE/dt / |⟨E⟩| per ns, the slope of a line through the block means;
    - `stderr`: its standard error (per ns), from the residuals about that line;
    - `relative_std`: standard deviation of the energy relative to |⟨E⟩| (the fluctuation);
    - `span`: the length of the analysed series (a `Quantity`, ps).
    """

    per_ns: float
    stderr: float
    relative_std: float
    span: Quantity

    def bounded_by(self, limit: float, sigmas: float = 3.0) -> bool:
        """Whether the run *demonstrates* |drift| < `limit` per ns: |drift| + `sigmas` ×
        stderr below `limit` (a run too short to resolve `limit` returns False)."""
        return abs(self.per_ns) + sigmas * self.stderr < limit


def _frames(trajectory: Any, name: str) -> Trajectory:
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"{name} must be an observables.Trajectory, got {type(trajectory)}")
    if trajectory.velocities is None:
        raise ValueError(
            f"{name} has no velocities: record them (record=(Positions(), Velocities())) to "
            "compute the kinetic energy"
        )
    return trajectory


def _check_system(potential: Any, system: Any, trajectory: Trajectory) -> None:
    if not isinstance(potential, AbstractPotential):
        raise TypeError(f"potential must be an AbstractPotential, got {type(potential)}")
    if not isinstance(system, System):
        raise TypeError(f"system must be a spectrinv.potentials.System, got {type(system)}")
    if trajectory.positions.ndim != 3 or trajectory.positions.shape[1] != system.n_atoms:
        raise ValueError(
            f"trajectory positions have shape {trajectory.positions.shape}; expected "
            f"(frames, {system.n_atoms}, 3) for this system"
        )


@eqx.filter_jit
def _total(potential, system, positions, velocities, batch_size):
    u = jax.lax.map(lambda p: potential.energy(p, system, None), positions, batch_size=batch_size)
    k = 0.5 * jnp.sum(system.masses[:, None] * velocities**2, axis=(1, 2))
    return u + k, k


def total_energy(
    potential: AbstractPotential,
    system: System,
    trajectory: Trajectory,
    *,
    batch_size: int = 100,
) -> tuple[Quantity, Quantity]:
    """Total energy E = U + K and kinetic energy K (kJ/mol) of every stored frame.

    U is evaluated without a neighbour list (all pairs, O(N²) per frame), `batch_size`
    frames at a time to bound memory; K = Σ m v² / 2 from the recorded velocities. The
    trajectory must hold velocities (record `Velocities()`).
    """
    traj = _frames(trajectory, "trajectory")
    _check_system(potential, system, traj)
    e, k = _total(potential, system, traj.positions, traj.velocities, int(batch_size))
    return from_internal(e, "energy"), from_internal(k, "energy")


@eqx.filter_jit
def _shadow(potential, system, positions, velocities, dt, batch_size):
    inv_m = 1.0 / system.masses[:, None]

    def one(frame):
        r, v = frame
        u_of = lambda x: potential.energy(x, system, None)  # noqa: E731
        grad = jax.grad(u_of)
        g, hv = jax.jvp(grad, (r,), (v,))  # ∇U and U'' v
        u = u_of(r)
        k = 0.5 * jnp.sum(system.masses[:, None] * v**2)
        correction = jnp.sum(v * hv) / 12.0 - jnp.sum(g * g * inv_m) / 24.0
        return u + k + dt**2 * correction, u + k

    return jax.lax.map(one, (positions, velocities), batch_size=batch_size)


def shadow_energy(
    potential: AbstractPotential,
    system: System,
    trajectory: Trajectory,
    timestep: Quantity,
    *,
    batch_size: int = 100,
) -> tuple[Quantity, Quantity]:
    """Shadow energy H̃ = H + Δt² (vᵀU''v/12 − ∇U·M⁻¹∇U/24) and total energy H (kJ/mol) of
    every stored frame of a velocity-Verlet run with integration time step `timestep`
    (not the frame spacing).

    H̃ is conserved by velocity Verlet to O(Δt⁴) fluctuations instead of H's O(Δt²) (see
    the module docstring and Engle, Skeel & Drees, J. Comput. Phys. 206, 432 (2005)), so
    `energy_drift(H̃, …)` measures the drift with a far smaller error bar. U'' v is one
    forward-over-reverse Hessian–vector product per frame (all pairs, no neighbour list).
    Only meaningful for velocity-Verlet (NVE) trajectories recorded at whole steps.
    """
    traj = _frames(trajectory, "trajectory")
    _check_system(potential, system, traj)
    dt = float(to_internal(timestep, "time", "timestep"))
    if not dt > 0:
        raise ValueError(f"timestep must be positive, got {timestep}")
    h, e = _shadow(potential, system, traj.positions, traj.velocities, dt, int(batch_size))
    return from_internal(h, "energy"), from_internal(e, "energy")


def energy_drift(energy: Quantity, frame_interval: Quantity, *, n_blocks: int = 20) -> EnergyDrift:
    """Relative energy drift per ns of an energy series sampled every `frame_interval`.

    `energy`: a 1-D `Quantity` of energies (any energy unit, molar or per particle); the
    drift is relative to |⟨E⟩|, so the unit cancels. The series is split into `n_blocks`
    (≥ 8) equal blocks, dropping the remainder at the end; see the module docstring for
    the estimator. Raises `ValueError` on non-finite energies, on fewer
    than 2 frames per block, or on a zero mean energy (a relative drift is undefined).
    """
    e = np.asarray(to_internal(energy, "energy", "energy"), dtype=float)
    dt = float(to_internal(frame_interval, "time", "frame_interval"))
    if e.ndim != 1:
        raise ValueError(f"energy must be a 1-D series, got shape {e.shape}")
    if not dt > 0:
        raise ValueError(f"frame_interval must be positive, got {frame_interval}")
    if n_blocks < 8:
        raise ValueError(f"n_blocks must be at least 8, got {n_blocks}")
    if len(e) < 2 * n_blocks:
        raise ValueError(
            f"energy has {len(e)} frames; need at least 2 per block ({2 * n_blocks} for "
            f"n_blocks={n_blocks})"
        )
    if not np.all(np.isfinite(e)):
        bad = int(np.argmax(~np.isfinite(e)))
        raise ValueError(f"energy is not finite (first at frame {bad}): the run blew up")
    scale = abs(e.mean())
    if scale == 0:
        raise ValueError("the mean energy is zero: a relative drift is undefined")
    per_block = len(e) // n_blocks
    blocks = e[: per_block * n_blocks].reshape(n_blocks, per_block).mean(1)
    t_ns = (np.arange(n_blocks) + 0.5) * per_block * dt / 1000.0
    tc = t_ns - t_ns.mean()
    slope = np.sum(tc * (blocks - blocks.mean())) / np.sum(tc**2)
    residual = blocks - blocks.mean() - slope * tc
    slope_err = np.sqrt(np.sum(residual**2) / (n_blocks - 2) / np.sum(tc**2))
    return EnergyDrift(
        float(slope / scale),
        float(slope_err / scale),
        float(e.std() / scale),
        Quantity(per_block * n_blocks * dt, "ps"),
    )
