"""Systems and signals shared by the tests: an fcc Lennard-Jones argon set-up, test-only
potentials, synthetic dipole series with a known correlation function, and the import of the
(uninstalled) `benchmarks` package.

Import from the tests as `from _systems import argon, fcc` (pytest puts `tests/` on the
import path). Units are the package's internal ones: nm, ps, Da, kJ/mol, e.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

from observables import SPEED_OF_LIGHT, Quantity
from spectrinv.potentials import AbstractPotential, ForceShifted, LennardJones, System

#: Argon mass, Da.
ARGON = 39.948
#: Argon Lennard-Jones parameters.
SIGMA, EPS = Quantity(3.405, "angstrom"), Quantity(0.99774, "kJ/mol")
#: fcc lattice constant (nm) of liquid-density argon: ρ* = 4 σ³ / a³ ≈ 0.84.
FCC_A = 0.5718

#: The `[fit]` and `[model]` tables of a fit configuration of Lennard-Jones argon (float64,
#: one step); the tests append their `[[targets]]`.
ARGON_FIT_HEAD = """
[fit]
steps = 1
precision = "float64"

[model]
kind = "lennard_jones"
sigma = "3.405 angstrom"
epsilon = "120 K"
cutoff = "0.5 nm"
"""

#: A density target of that argon at its 85 K saturation state (NPT, `Reweighting`).
ARGON_DENSITY_TARGET = """
[[targets]]
name = "rho"
dataset = "fluids/argon_saturated_liquid"
dataset_column = "density"
observable = "density"
temperature = "85 K"
pressure = "0.788966 bar"
system = { cells = 2, density = "1409.5 kg/m**3" }
gradient = { kind = "reweighting", frames = 20, stride = 10 }
"""


# ------------------------------------------------------------------------------ systems
def fcc(n, a):
    """4 n³ positions (nm), shape [4 n³, 3], of an n×n×n fcc lattice with constant `a` (nm),
    and the cubic box edge n·a (nm)."""
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return ((g[:, None, :] + basis[None]) * a).reshape(-1, 3), n * a


def argon(n=3, a=FCC_A, cutoff=0.85, box=None, dtype=None):
    """4 n³ argon atoms on an fcc lattice (n=3: 108 atoms, ρ* ≈ 0.84 for a = 0.5718 nm) and a
    force-shifted Lennard-Jones potential (smooth at the cutoff, so finite differences are
    not spoiled by pairs crossing it).

    Returns `(positions [4 n³, 3] nm as NumPy, System, LennardJones)`. `cutoff` in nm; `box`
    replaces the cubic box; `dtype` (e.g. `jnp.float32`) sets the box, masses and the
    potential's parameters, JAX's default float where None.
    """
    pos, length = fcc(n, a)
    system = System(
        box=jnp.full(3, length, dtype) if box is None else box,
        species=jnp.zeros(len(pos), jnp.int32),
        masses=jnp.full(len(pos), ARGON, dtype),
    )
    lj = LennardJones(SIGMA, EPS, Quantity(cutoff, "nm"), truncation=ForceShifted())
    if dtype is not None:
        lj = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, lj)
    return pos, system, lj


class AllPairs(AbstractPotential):
    """Wraps a pair potential and hides its cutoff: the backend then uses no neighbour list
    (all pairs, minimum image)."""

    inner: LennardJones

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        return self.inner.energy(positions, system, None)


class HarmonicTrap(AbstractPotential):
    """U = ½ k Σ_i |r_i|² (kJ/mol; k in kJ mol⁻¹ nm⁻², a float or a JAX scalar to
    differentiate): 3N independent harmonic oscillators, no cutoff, no box."""

    k: float | jax.Array

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        return 0.5 * self.k * jnp.sum(positions**2)


@eqx.filter_jit
def jit_energy(model, pos, system, nbr=None):
    """`model.energy(pos, system, nbr)` compiled once per model structure (kJ/mol): eager
    evaluation would compile every primitive separately."""
    return model.energy(pos, system, nbr)


# ------------------------------------------------------------------------------ signals
def wavenumber_to_omega(nu_cm):
    """Angular frequency (rad/ps) of a wavenumber (cm⁻¹): ω = 2π c ν̃."""
    return 2 * np.pi * (SPEED_OF_LIGHT * 1e-7) * np.asarray(nu_cm)


def rotating_ou_dipole(n, dt, omega0, tau, variance, seed):
    """Damped rotating dipole, shape [n, 3]: a complex Ornstein–Uhlenbeck process z with
    M = (Re z, Im z, 0), sampled every `dt` (ps); `omega0` rad/ps, `tau` ps.

    Exact AR(1) update, so ⟨M(0)·M(t)⟩ = variance · cos(ω₀ t) · exp(−|t|/τ) exactly.
    """
    rng = np.random.default_rng(seed)
    lam = np.exp((1j * omega0 - 1.0 / tau) * dt)
    kick = np.sqrt(variance * (1 - abs(lam) ** 2) / 2)
    noise = (rng.normal(size=n) + 1j * rng.normal(size=n)) * kick
    z0 = np.sqrt(variance / 2) * (rng.normal() + 1j * rng.normal())
    z = scipy.signal.lfilter([1.0], [1.0, -lam], noise, zi=[lam * z0])[0]
    return np.stack([z.real, z.imag, np.zeros(n)], axis=-1)


# --------------------------------------------------------------------------- benchmarks
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark_module(name):
    """`benchmarks.<name>` (e.g. `"validation.water_validation"`, `"_harness"`) imported from
    the checkout: the `benchmarks` package is not installed, and its scripts import their
    neighbours relatively."""
    if "benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "benchmarks", BENCHMARKS / "__init__.py", submodule_search_locations=[str(BENCHMARKS)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"benchmarks.{name}")


# ------------------------------------------------------------------------ files
def write_lammps_dump(path, pos, vel=None):
    """A LAMMPS dump (`dump custom ... id type x y z [vx vy vz]`) of 4 atoms, types 1 and 2,
    in a 10-unit cubic box."""
    lines = []
    for step, p in enumerate(pos):
        lines += [
            "ITEM: TIMESTEP",
            str(step * 10),
            "ITEM: NUMBER OF ATOMS",
            "4",
            "ITEM: BOX BOUNDS pp pp pp",
            "0.0 10.0",
            "0.0 10.0",
            "0.0 10.0",
            "ITEM: ATOMS id type x y z" + ("" if vel is None else " vx vy vz"),
        ]
        for i, r in enumerate(p):
            cols = list(r) + ([] if vel is None else list(vel[step, i]))
            lines.append(f"{i + 1} {1 + i % 2} " + " ".join(f"{c:.6f}" for c in cols))
    path.write_text("\n".join(lines) + "\n")
    return path
