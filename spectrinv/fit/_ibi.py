r"""Iterative Boltzmann inversion (IBI) of a tabulated pair potential, with an optional
pressure correction, over one or more state points.

Update at the knots $r_j$ of a `TabulatedPair` (Reith, Pütz & Müller-Plathe, J. Comput.
Chem. 24, 1624 (2003)):

$$ u_{k+1}(r_j) = u_k(r_j) + \alpha\,\frac{1}{S}\sum_{s=1}^{S} k_B T_s
   \ln\frac{g_{k,s}(r_j)}{g_{\text{target},s}(r_j)} \; [+\; \Delta u_P(r_j)] , $$

the plain average of the $S$ state points' updates (each with its own temperature); $g_{k,s}$
is sampled with $u_k$ at state point $s$ by the package's MD backend. Pressure correction
(the linear ramp of Reith et al. and Wang, Junghans & Kremer, Eur. Phys. J. E 28, 221 (2009)),
per state point with a target pressure and averaged like the structural update:

$$ \Delta u_P(r) = A\,(1 - r/r_c), \qquad
   A = -a\,k_B T\,\operatorname{sgn}(\Delta P)\,\min(1, |\Delta P|/P_0), \quad
   \Delta P = P_k - P_\text{target} , $$

so a pressure above target makes the potential more attractive (`PressureRamp(a, P₀)`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import RDF, Pressure, Quantity, ureg

from ..backends import AbstractBackend, Positions, Stress, Velocities
from ..potentials import System, TabulatedPair

__all__ = [
    "IBIResult",
    "IBIStatePoint",
    "PressureRamp",
    "ibi_update",
    "iterative_boltzmann_inversion",
]

_KB = float(ureg.Quantity(1, "molar_gas_constant").m_as("kJ/mol/K"))  # kJ/mol per K


@dataclasses.dataclass(frozen=True)
class IBIStatePoint:
    """One state point of an IBI: target g(r) on `rdf`'s grid, the MD set-up, and
    optionally the target pressure (for a `PressureRamp`).

    - `name`: label in the history;
    - `r`: the target's radii (length `Quantity`, `[bin]`), equal to `rdf.bin_centers`;
    - `g`: the target g(r) (dimensionless, `[bin]`);
    - `rdf`: the `observables.RDF` that estimates g(r) from the simulation (same estimator
      as the target's, `r_max` at least the potential's cutoff);
    - `system`, `positions` (length `Quantity`), `backend`, `temperature` (`Quantity`, K);
    - `pressure`: target pressure (`Quantity`), or `None`.
    """

    name: str
    r: Any
    g: Any
    rdf: RDF
    system: System
    positions: Any
    backend: AbstractBackend
    temperature: Any
    pressure: Any = None

    def radii_nm(self) -> np.ndarray:
        return np.asarray(Quantity(self.r).m_as("nm"), dtype=float)

    def kt(self) -> float:
        """k_B T in kJ/mol."""
        return _KB * float(Quantity(self.temperature).m_as("K"))


@dataclasses.dataclass(frozen=True)
class PressureRamp:
    """Linear pressure correction A (1 − r/r_c), |A| = `amplitude` k_B T min(1, |ΔP|/`scale`)
    (`amplitude` dimensionless, `scale` a pressure `Quantity`; defaults 0.1 and 300 bar)."""

    amplitude: float = 0.1
    scale: Any = dataclasses.field(default_factory=lambda: Quantity(300.0, "bar"))

    def correction(self, r_nm: np.ndarray, r_cut: float, kt: float, dp_bar: float) -> np.ndarray:
        """Δu_P at `r_nm` (kJ/mol) for a pressure excess `dp_bar` (bar)."""
        p0 = float(Quantity(self.scale).m_as("bar"))
        a = -self.amplitude * kt * np.sign(dp_bar) * min(1.0, abs(dp_bar) / p0)
        return a * (1.0 - r_nm / r_cut)


def ibi_update(
    knots_nm: np.ndarray,
    r_nm: np.ndarray,
    g_model: np.ndarray,
    g_target: np.ndarray,
    kt: float,
    *,
    mixing: float = 1.0,
    g_min: float = 1e-2,
) -> np.ndarray:
    """One state point's structural IBI update α k_B T ln(g_model/g_target) at `knots_nm`
    (kJ/mol), both g linearly interpolated from `r_nm` onto the knots. Where either g is
    below `g_min` (the excluded core) the logarithm is undefined: those knots take the
    update of the first knot where both exceed it (the core moves with its edge)."""
    gm = np.interp(knots_nm, r_nm, g_model)
    gt = np.interp(knots_nm, r_nm, g_target)
    valid = (gm > g_min) & (gt > g_min)
    if not valid.any():
        raise ValueError(
            f"IBI: model and target g(r) are never both above g_min = {g_min} on the knots "
            f"{knots_nm[0]:.3f}-{knots_nm[-1]:.3f} nm (no overlap of their structure)"
        )
    du = np.zeros_like(knots_nm)
    du[valid] = mixing * kt * np.log(gm[valid] / gt[valid])
    first = int(np.argmax(valid))
    du[:first] = du[first]
    # isolated invalid knots beyond the core: hold the last valid update
    for j in range(first + 1, len(du)):
        if not valid[j]:
            du[j] = du[j - 1]
    return du


@dataclasses.dataclass
class IBIResult:
    """What `iterative_boltzmann_inversion` returns.

    - `potential`: the final `TabulatedPair` (after the last update);
    - `knots`: knot radii (`Quantity`, nm); `values`: `[iteration + 1, knot]` knot values
      (`Quantity`, kJ/mol), the start first;
    - `history`: one dict per iteration: `rms_dg` (per state, RMS of g_k − g_target over the
      bins, dimensionless), `pressure_bar` (per state, sampled pressure), `max_update_kJ_mol`
      (largest |Δu| of the update applied after it), `values_kJ_mol` (the knot values after
      that update), `wall_time_s`;
    - `g`: per state, the g(r) sampled in the last iteration (dimensionless, on `r`);
    - `positions`: per state, the last configuration (`Quantity`, nm), to continue from.
    """

    potential: TabulatedPair
    knots: Any
    values: Any
    history: list
    g: dict
    positions: dict


def _check(potential: TabulatedPair, states: Sequence[IBIStatePoint]) -> None:
    if not isinstance(potential, TabulatedPair):
        raise TypeError(f"IBI needs a TabulatedPair, got {type(potential).__name__}")
    if potential.values.ndim != 1:
        raise ValueError(
            f"IBI handles one species: values must be [n_knots], got {potential.values.shape}"
        )
    if not states:
        raise ValueError("IBI needs at least one IBIStatePoint")
    names = [s.name for s in states]
    if len(set(names)) != len(names):
        raise ValueError(f"IBI state point names must be unique, got {names}")
    for s in states:
        r, g = s.radii_nm(), np.asarray(s.g, dtype=float)
        bins = np.asarray(s.rdf.bin_centers.m_as("nm"))
        if r.shape != g.shape or r.ndim != 1:
            raise ValueError(f"IBI state {s.name!r}: r {r.shape} and g {g.shape} must be equal 1-D")
        if r.shape != bins.shape or not np.allclose(r, bins, rtol=0, atol=1e-6):
            raise ValueError(
                f"IBI state {s.name!r}: the target's r grid ({len(r)} points, "
                f"{r[0]:.4f}-{r[-1]:.4f} nm) differs from the RDF's bins ({len(bins)}, "
                f"{bins[0]:.4f}-{bins[-1]:.4f} nm)"
            )
        if s.rdf.r_max < potential.r_cut - 1e-9:
            raise ValueError(
                f"IBI state {s.name!r}: the RDF reaches {s.rdf.r_max} nm, below the "
                f"potential's cutoff {potential.r_cut} nm"
            )
        if not np.all(np.isfinite(g)) or np.any(g < 0):
            raise ValueError(f"IBI state {s.name!r}: the target g(r) must be finite and >= 0")
        if not np.any(g > 0):
            raise ValueError(f"IBI state {s.name!r}: the target g(r) is zero everywhere")


def iterative_boltzmann_inversion(
    potential: TabulatedPair,
    states: Sequence[IBIStatePoint],
    *,
    iterations: int,
    equilibration_steps: int,
    n_frames: int,
    stride: int,
    mixing: float = 1.0,
    pressure_correction: PressureRamp | None = None,
    g_min: float = 1e-2,
    first_equilibration_steps: int | None = None,
    seed: int = 0,
    progress: bool | Callable[[dict], None] = True,
) -> IBIResult:
    """Run `iterations` IBI updates of `potential`'s knot values (see the module docstring).

    Each iteration, at every state point: MD with the current potential from the state
    point's last configuration (`equilibration_steps` discarded, then `n_frames` frames every
    `stride` steps), g(r) by the state point's `rdf`, the pressure by `observables.Pressure`;
    then the update, averaged over the state points, with the pressure ramp of the state
    points that have a target pressure when `pressure_correction` is given. `mixing` is α.
    `first_equilibration_steps` (default `equilibration_steps`): the first iteration's,
    e.g. longer to melt a lattice start.
    """
    _check(potential, states)
    if iterations < 1 or n_frames < 1 or stride < 1 or equilibration_steps < 0:
        raise ValueError(
            f"IBI needs iterations, n_frames, stride >= 1 and equilibration_steps >= 0, got "
            f"{iterations}, {n_frames}, {stride}, {equilibration_steps}"
        )
    if pressure_correction is not None and all(s.pressure is None for s in states):
        raise ValueError("IBI: a pressure correction needs a state point with a target pressure")
    n = potential.values.shape[-1]
    knots = potential.r_min + (potential.r_cut - potential.r_min) / n * np.arange(n)
    values = [np.asarray(potential.values, dtype=float)]
    positions = {s.name: s.positions for s in states}
    key = jax.random.key(seed)
    history, g_last = [], {}
    pressure = Pressure(n_blocks=None)
    record = (Positions(), Velocities(), Stress())
    for it in range(iterations):
        t0 = time.perf_counter()
        pot = eqx.tree_at(lambda t: t.values, potential, jnp.asarray(values[-1]))
        row: dict = {"iteration": it, "rms_dg": {}, "pressure_bar": {}}
        updates = []
        for i, s in enumerate(states):
            k0, k1, k2 = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, it), i), 3)
            st = s.backend.init(pot, s.system, positions[s.name], temperature=s.temperature, key=k0)
            n_eq = equilibration_steps
            if it == 0 and first_equilibration_steps is not None:
                n_eq = int(first_equilibration_steps)
            if n_eq:
                _, st = s.backend.sample(pot, s.system, st, k1, n_eq, stride=n_eq)
            traj, st = s.backend.sample(
                pot, s.system, st, k2, n_frames * stride, stride=stride, record=record
            )
            positions[s.name] = Quantity(np.asarray(st.positions), "nm")
            g = np.asarray(s.rdf(traj).g, dtype=float)
            p = float(pressure(traj).y_magnitude)
            g_last[s.name] = g
            g_t = np.asarray(s.g, dtype=float)
            row["rms_dg"][s.name] = float(np.sqrt(np.mean((g - g_t) ** 2)))
            row["pressure_bar"][s.name] = p
            du = ibi_update(knots, s.radii_nm(), g, g_t, s.kt(), mixing=mixing, g_min=g_min)
            if pressure_correction is not None and s.pressure is not None:
                dp = p - float(Quantity(s.pressure).m_as("bar"))
                du = du + pressure_correction.correction(knots, potential.r_cut, s.kt(), dp)
            updates.append(du)
        du = np.mean(updates, axis=0)
        values.append(values[-1] + du)
        row["max_update_kJ_mol"] = float(np.abs(du).max())
        row["values_kJ_mol"] = values[-1].tolist()
        row["wall_time_s"] = time.perf_counter() - t0
        history.append(row)
        if callable(progress):
            progress(row)
        elif progress:
            parts = ", ".join(
                f"{k}: rms Δg {row['rms_dg'][k]:.4f}, P {row['pressure_bar'][k]:.0f} bar"
                for k in row["rms_dg"]
            )
            print(f"IBI {it}: {parts}; max |Δu| {row['max_update_kJ_mol']:.3f} kJ/mol", flush=True)
    final = eqx.tree_at(lambda t: t.values, potential, jnp.asarray(values[-1]))
    return IBIResult(
        potential=final,
        knots=Quantity(knots, "nm"),
        values=Quantity(np.asarray(values), "kJ/mol"),
        history=history,
        g=g_last,
        positions=positions,
    )
