"""Dipole and polarizability models (point charges, charge flux, bond polarizability)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from observables import Quantity, UnitError
from spectrinv.potentials import (
    BondChargeFluxDipole,
    BondPolarizability,
    PointChargeDipole,
    spc_fw,
    water_box,
    water_system,
)


@pytest.fixture(scope="module")
def box8():
    return water_box(8, key=jax.random.PRNGKey(5))


def _rotate_about_centre(pos, rot):
    centre = jnp.mean(pos, axis=0)
    return (pos - centre) @ jnp.asarray(rot).T + centre


def test_single_molecule_dipole_formula():
    pos, _ = water_box(1, key=jax.random.PRNGKey(2))
    system = water_system(1, None)
    m = PointChargeDipole()(pos, system)
    expected = 0.41 * (pos[1] + pos[2] - 2 * pos[0])
    np.testing.assert_allclose(m, expected, atol=1e-14)
    # SPC/Fw monomer at its equilibrium geometry: |μ| = 2 q_H r0 cos(θ0/2) = 2.39 D
    debye = 0.020819434  # e·nm
    assert float(jnp.linalg.norm(m)) / debye == pytest.approx(
        2 * 0.41 * 0.1012 * np.cos(np.radians(56.62)) / debye
    )


@pytest.mark.parametrize("model", ["point", "flux"])
def test_rigid_rotation_rotates_the_dipole(box8, model):
    pos, system = box8
    pos = pos + 0.003 * jax.random.normal(jax.random.PRNGKey(9), pos.shape)  # bonds off r0
    system = water_system(8, None)  # no box: a rigid rotation of the whole cluster
    dip = (
        PointChargeDipole()
        if model == "point"
        else BondChargeFluxDipole(Quantity(1.5, "e/nm"), Quantity(0.1012, "nm"))
    )
    rot = Rotation.from_euler("zyx", [0.3, -1.1, 2.0]).as_matrix()
    m0 = dip(pos, system)
    m1 = dip(_rotate_about_centre(pos, rot), system)
    np.testing.assert_allclose(m1, jnp.asarray(rot) @ m0, atol=1e-13)


def test_dipole_does_not_jump_when_atoms_wrap(box8):
    pos, system = box8
    dip = PointChargeDipole()
    m0 = dip(pos, system)
    L = system.box
    wrapped = (
        pos.at[1].add(L * jnp.array([1.0, 0.0, 0.0])).at[5].add(-L * jnp.array([0.0, 2.0, 1.0]))
    )
    np.testing.assert_allclose(dip(wrapped, system), m0, atol=1e-13)
    # whole molecule moved by a box vector: same dipole (neutral molecules)
    moved = pos.at[3:6].add(L * jnp.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(dip(moved, system), m0, atol=1e-13)


def test_charge_flux_neutral_and_reduces_to_point_charges_at_r0(box8):
    pos, system = box8
    flux = BondChargeFluxDipole(Quantity(1.5, "e/nm"), Quantity(0.1012, "nm"))
    np.testing.assert_allclose(flux(pos, system), PointChargeDipole()(pos, system), atol=1e-13)
    stretched = pos.at[1].add(0.01 * (pos[1] - pos[0]) / jnp.linalg.norm(pos[1] - pos[0]))
    q = flux.charges(stretched, system)
    assert float(jnp.sum(q[:3])) == pytest.approx(0.0, abs=1e-14)
    assert float(q[1]) == pytest.approx(0.41 + 1.5 * 0.01, rel=1e-6)  # 1.5 e/nm × 0.01 nm


def test_charge_flux_dipole_derivative_along_bond():
    """dM/dr along an O–H bond = (q_H + (∂q/∂r) r) û for the stretched bond (charge flux)."""
    pos, _ = water_box(1, key=jax.random.PRNGKey(2))
    system = water_system(1, None)
    flux = BondChargeFluxDipole(Quantity(2.0, "e/nm"), Quantity(0.1012, "nm"))
    u = (pos[1] - pos[0]) / jnp.linalg.norm(pos[1] - pos[0])
    dm = jax.jvp(lambda s: flux(pos.at[1].add(s * u), system), (0.0,), (1.0,))[1]
    r = float(jnp.linalg.norm(pos[1] - pos[0]))
    np.testing.assert_allclose(dm, (0.41 + 2.0 * r) * u, atol=1e-12)


def test_point_charge_dipole_from_fitted_model_charges(box8):
    pos, system = box8
    model = eqx.tree_at(lambda m: m.charge_oxygen, spc_fw(), jnp.asarray(-0.9))
    dip = PointChargeDipole.from_model(model, system)
    np.testing.assert_allclose(
        dip(pos, system), (0.9 / 0.82) * PointChargeDipole()(pos, system), rtol=1e-12
    )
    g = jax.grad(lambda d: jnp.sum(d(pos, system)))(dip)
    assert g.fixed_charges.shape == (24,)


def _bond_model():
    return BondPolarizability(
        alpha_parallel=Quantity(1.2, "angstrom**3"),
        alpha_perpendicular=Quantity(0.5, "angstrom**3"),
        d_alpha_parallel=Quantity(1.8, "angstrom**2"),
        d_alpha_perpendicular=Quantity(0.3, "angstrom**2"),
        r0=Quantity(1.012, "angstrom"),
    )


def test_bond_polarizability_invariants(box8):
    pos, system = box8
    pos = pos + 0.003 * jax.random.normal(jax.random.PRNGKey(4), pos.shape)
    system = water_system(8, None)
    model = _bond_model()
    alpha = model(pos, system)
    np.testing.assert_allclose(alpha, alpha.T, atol=1e-16)
    rot = Rotation.from_euler("xyz", [0.7, 0.2, -1.4]).as_matrix()
    alpha_rot = model(_rotate_about_centre(pos, rot), system)
    r = jnp.asarray(rot)
    np.testing.assert_allclose(alpha_rot, r @ alpha @ r.T, atol=1e-14)
    # isotropic invariant: trace/3 = Σ_b (α∥(r_b) + 2 α⊥(r_b)) / 3
    b = system.topology.bonds
    rb = jnp.linalg.norm(pos[b[:, 1]] - pos[b[:, 0]], axis=1)
    a_par = model.alpha_parallel + model.d_alpha_parallel * (rb - model.r0)
    a_perp = model.alpha_perpendicular + model.d_alpha_perpendicular * (rb - model.r0)
    assert float(jnp.trace(alpha)) / 3 == pytest.approx(
        float(jnp.sum(a_par + 2 * a_perp)) / 3, rel=1e-12
    )
    # equal α∥ = α⊥ and no derivatives: isotropic, n_bonds α 1
    iso = eqx.tree_at(
        lambda m: (m.alpha_parallel, m.d_alpha_parallel, m.d_alpha_perpendicular),
        model,
        (model.alpha_perpendicular, jnp.asarray(0.0), jnp.asarray(0.0)),
    )
    np.testing.assert_allclose(
        iso(pos, system), 16 * float(model.alpha_perpendicular) * np.eye(3), atol=1e-15
    )


def test_bond_polarizability_units_and_bond_derivative():
    pos, _ = water_box(1, key=jax.random.PRNGKey(2))
    system = water_system(1, None)
    model = _bond_model()
    assert float(model.alpha_parallel) == pytest.approx(1.2e-3)
    u = (pos[1] - pos[0]) / jnp.linalg.norm(pos[1] - pos[0])
    da = jax.jvp(lambda s: model(pos.at[1].add(s * u), system), (0.0,), (1.0,))[1]
    # stretching a bond along û changes only that bond's α∥ and α⊥ (its direction is fixed)
    expected = 0.003 * jnp.eye(3) + (0.018 - 0.003) * jnp.outer(u, u)  # Å² -> nm²
    np.testing.assert_allclose(da, expected, atol=1e-14)
    with pytest.raises(UnitError, match="alpha_parallel"):
        BondPolarizability(
            1.2,
            Quantity(0.5, "angstrom**3"),
            Quantity(1, "angstrom**2"),
            Quantity(0, "angstrom**2"),
            Quantity(1, "angstrom"),
        )
    with pytest.raises(UnitError, match="flux"):
        BondChargeFluxDipole(Quantity(1.0, "e"), Quantity(0.1, "nm"))
