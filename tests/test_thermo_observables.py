"""Thermodynamic observables: `PotentialEnergy`, `EnthalpyOfVaporization`, `Density`,
`DielectricConstant` — analytic cases, properties, error bars, bad input."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from observables import (
    Density,
    DielectricConstant,
    EnthalpyOfVaporization,
    ErrorBarWarning,
    PotentialEnergy,
    Quantity,
    Trajectory,
    UnitError,
    ValueResult,
)
from observables._trajectory import TrajectoryError

# SI constants (independent of the package's unit helpers)
KB, NA, E, EPS0 = 1.380649e-23, 6.02214076e23, 1.602176634e-19, 8.8541878128e-12
R = KB * NA / 1e3  # kJ/(mol K)


def traj(n_frames=6, n_atoms=3, box=2.0, **fields):
    pos = np.zeros((n_frames, n_atoms, 3)) + np.arange(n_atoms)[None, :, None] * 0.1
    return Trajectory.from_internal(
        pos, box=np.asarray(box, float) if np.ndim(box) else np.full(3, box), timestep=0.01,
        **fields,
    )  # fmt: skip


# --------------------------------------------------------------------------- energies
def test_potential_energy_per_molecule_hand_values():
    u = np.array([-30.0, -33.0, -27.0, -30.0])  # kJ/mol per cell of 2 molecules of 3 atoms
    res = PotentialEnergy(atoms_per_molecule=3, n_blocks=None)(
        traj(4, 6, masses=np.ones(6), potential_energy=u)
    )
    assert isinstance(res, ValueResult) and res.x is None and res.error is None
    assert res.value.units == Quantity(1, "kJ/mol").units
    assert float(res.y_magnitude) == pytest.approx(-15.0, rel=1e-12)
    per_atom = PotentialEnergy(n_blocks=None)(traj(4, 6, potential_energy=u))
    assert float(per_atom.y_magnitude) == pytest.approx(-5.0, rel=1e-12)


def test_harmonic_oscillators_equipartition():
    """3N independent harmonic oscillators in the canonical ensemble: ⟨U⟩ = (3/2) k_B T per
    atom (R T in kJ/mol from SI constants), within 4 block errors; the block error matches
    the exact standard error √(3/2) k_BT / √(N F) of independent frames to 25 %."""
    rng = np.random.default_rng(0)
    n_atoms, n_frames, t, k = 20, 4000, 300.0, 500.0
    kt = R * t
    x = rng.normal(size=(n_frames, n_atoms, 3)) * np.sqrt(kt / k)
    u = 0.5 * k * np.sum(x**2, axis=(1, 2))
    res = PotentialEnergy(n_blocks=20)(traj(n_frames, n_atoms, potential_energy=u))
    assert abs(res.value.m - 1.5 * kt) < 4 * res.error.m
    exact = np.sqrt(1.5) * kt / np.sqrt(n_atoms * n_frames)
    assert abs(res.error.m / exact - 1) < 0.25


def test_enthalpy_of_vaporization_formula():
    """ΔH_vap = E_gas − ⟨U⟩/N_mol + RT, R T from SI constants."""
    u = np.array([-400.0, -410.0, -390.0])  # 10 molecules of 3 atoms
    t = Quantity(298.15, "K")
    obs = EnthalpyOfVaporization(t, Quantity(2.5, "kJ/mol"), atoms_per_molecule=3, n_blocks=None)
    res = obs(traj(3, 30, potential_energy=u))
    assert float(res.y_magnitude) == pytest.approx(2.5 + 40.0 + R * 298.15, rel=1e-12)
    # a gas energy given per molecule (J) or as a temperature converts to kJ/mol
    per_molecule = EnthalpyOfVaporization(t, Quantity(2.5e3 / NA, "J"), atoms_per_molecule=3)
    assert per_molecule.gas_energy == pytest.approx(2.5, rel=1e-9)
    atoms = EnthalpyOfVaporization(Quantity(87.3, "K"), n_blocks=None)
    got = float(atoms(traj(3, 30, potential_energy=u)).y_magnitude)
    assert got == pytest.approx(400.0 / 30 + R * 87.3, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(-50, 50), seed=st.integers(0, 2**16))
def test_energy_is_affine_frame_average_and_permutation_invariant(a, b, seed):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=8) * 10
    obs = PotentialEnergy(atoms_per_molecule=2, n_blocks=None)

    def value(x):
        return float(obs(traj(8, 4, potential_energy=x)).y_magnitude)

    assert value(a * u + b) == pytest.approx(a * value(u) + b / 2, abs=1e-9 * (1 + abs(b)))
    assert value(u[rng.permutation(8)]) == pytest.approx(value(u), rel=1e-12, abs=1e-12)
    t = traj(8, 4, potential_energy=u)
    with pytest.warns(ErrorBarWarning):
        singles = [float(PotentialEnergy(2)(t[i]).y_magnitude) for i in range(8)]
    assert value(u) == pytest.approx(np.mean(singles), rel=1e-12, abs=1e-12)


def test_energy_is_differentiable():
    base = traj(10, 2, potential_energy=np.zeros(10))
    g = jax.grad(
        lambda u: (
            PotentialEnergy(n_blocks=None)(
                eqx.tree_at(lambda t: t.potential_energy, base, u)
            ).y_magnitude
        )
    )(jnp.arange(10.0))
    np.testing.assert_allclose(np.asarray(g), np.full(10, 1 / 20), rtol=1e-12)


# ---------------------------------------------------------------------------- density
def test_density_fixed_and_npt_box():
    """108 argon atoms in a 1.5 nm cube ... ρ = N m / (N_A V) with SI constants; with a box
    per frame it is the mean of the frames' densities."""
    m = 39.948e-3  # kg/mol
    res = Density(n_blocks=None)(traj(3, 108, box=1.5, masses=np.full(108, 39.948)))
    expected = 108 * m / NA / (1.5e-9) ** 3
    assert res.value.m_as("kg/m^3") == pytest.approx(expected, rel=1e-9)
    edges = np.array([1.5, 1.6, 1.55, 1.45])
    boxes = edges[:, None] * np.ones(3)
    npt = Density(n_blocks=2)(traj(4, 108, box=boxes, masses=np.full(108, 39.948)))
    per_frame = 108 * m / NA / (edges * 1e-9) ** 3
    assert npt.value.m == pytest.approx(per_frame.mean(), rel=1e-9)
    blocks = per_frame.reshape(2, 2).mean(1)
    assert npt.error.m == pytest.approx(blocks.std(ddof=1) / np.sqrt(2), rel=1e-9)


# ------------------------------------------------------------------ dielectric constant
def test_dielectric_constant_of_gaussian_dipoles():
    """M with independent Gaussian components of variance s² (e nm)², V = 27 nm³, T = 300 K:
    ε = 1 + 3 s² / (3 ε₀ V k_B T), with ε₀, e, k_B in SI. Both estimators agree within 4
    block errors; a constant offset of M changes only the ⟨M⟩ = 0 estimator."""
    rng = np.random.default_rng(1)
    s, n_frames, t = 1.5, 4000, 300.0
    m = rng.normal(size=(n_frames, 3)) * s
    expected = 1 + (s * E * 1e-9) ** 2 / (EPS0 * (3e-9) ** 3 * KB * t)
    tr = traj(n_frames, 2, box=3.0, dipole=m)
    for subtract in (True, False):
        res = DielectricConstant(Quantity(t, "K"), subtract_mean=subtract, n_blocks=20)(tr)
        assert res.value.units == Quantity(1, "").units
        assert abs(res.value.m - expected) < 4 * res.error.m, (subtract, res.value.m, expected)
        assert res.error.m < 0.05 * (expected - 1)
    shifted = traj(n_frames, 2, box=3.0, dipole=m + np.array([2.0, -1.0, 0.5]))
    fluct = DielectricConstant(Quantity(t, "K"), n_blocks=None)
    assert float(fluct(shifted).y_magnitude) == pytest.approx(float(fluct(tr).y_magnitude), 1e-9)


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.1, 10), seed=st.integers(0, 2**16))
def test_dielectric_scales_with_dipole_squared_and_is_rotation_invariant(scale, seed):
    """(ε − 1) ∝ |M|²: scaling M by a multiplies it by a²; rotating every M leaves it."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(12, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    obs = DielectricConstant(Quantity(300, "K"), n_blocks=None)

    def chi(x):
        return float(obs(traj(12, 2, box=2.5, dipole=x)).y_magnitude) - 1

    assert chi(scale * m) == pytest.approx(scale**2 * chi(m), rel=1e-9)
    assert chi(m @ q.T) == pytest.approx(chi(m), rel=1e-9)


def test_dielectric_frame_average_form_is_a_frame_average():
    m = np.random.default_rng(2).normal(size=(10, 3))
    t = traj(10, 2, dipole=m)
    obs = DielectricConstant(Quantity(300, "K"), subtract_mean=False, n_blocks=None)
    singles = [float(obs(t[i]).y_magnitude) for i in range(10)]
    assert float(obs(t).y_magnitude) == pytest.approx(np.mean(singles), rel=1e-12)
    # the fluctuation form is not: one frame has no fluctuation
    assert float(DielectricConstant(Quantity(300, "K"), n_blocks=None)(t[0]).y_magnitude) == 1.0


# ---------------------------------------------------------------------------- bad input
def test_bad_input():
    t = Quantity(300, "K")
    plain = traj(4, 3)
    with pytest.raises(TrajectoryError, match="potential_energy"):
        PotentialEnergy()(plain)
    with pytest.raises(TrajectoryError, match="potential_energy"):
        EnthalpyOfVaporization(t)(plain)
    with pytest.raises(TrajectoryError, match="dipole"):
        DielectricConstant(t)(plain)
    with pytest.raises(TrajectoryError, match="masses"):
        Density()(plain)
    with pytest.raises(ValueError, match="not a whole number of molecules"):
        PotentialEnergy(atoms_per_molecule=2)(traj(4, 3, potential_energy=np.zeros(4)))
    with pytest.raises(ValueError, match="atoms_per_molecule"):
        PotentialEnergy(atoms_per_molecule=0)
    with pytest.raises(TrajectoryError, match="potential_energy has a frame count mismatch"):
        traj(4, 3, potential_energy=np.zeros(5))
    with pytest.raises(TrajectoryError, match="non-finite"):
        traj(4, 3, potential_energy=np.array([0.0, np.nan, 0.0, 0.0]))
    sneaked = eqx.tree_at(
        lambda x: x.potential_energy,
        traj(4, 3, potential_energy=np.zeros(4)),
        jnp.array([0.0, 0.0, jnp.inf, 0.0]),
    )
    with pytest.raises(ValueError, match="potential energy of frame 2 is not finite"):
        PotentialEnergy()(sneaked)
    with pytest.raises(UnitError, match="K"):
        DielectricConstant(Quantity(300, "nm"))
    with pytest.raises(UnitError):
        EnthalpyOfVaporization(t, gas_energy=Quantity(1.0, "nm"))
    with pytest.raises(ValueError, match="positive"):
        EnthalpyOfVaporization(Quantity(-5, "K"))
    with pytest.raises(TypeError, match="subtract_mean"):
        DielectricConstant(t, subtract_mean="yes")
    no_box = Trajectory.from_internal(
        np.zeros((3, 2, 3)), box=None, timestep=0.01, dipole=np.zeros((3, 3))
    )
    with pytest.raises(TrajectoryError, match="periodic box"):
        DielectricConstant(t)(no_box)
    with pytest.raises(TypeError, match="Trajectory"):
        Density()(np.zeros((3, 3, 3)))
