"""Electrostatics (Ewald, DSF) and the flexible SPC/Fw water model."""

import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from _systems import jit_energy as _energy

from observables import Quantity, Trajectory, UnitError
from spectrinv.potentials import (
    COULOMB,
    DampedShiftedForce,
    Ewald,
    FlexibleWater,
    ForceShifted,
    HarmonicAngle,
    MorseBond,
    System,
    bond_angles,
    bond_lengths,
    q_spc_fw,
    spc_fw,
    water_box,
    water_system,
)

with jax.numpy_dtype_promotion("standard"):  # jax-md is written for standard promotion
    from jax_md import partition, space


# Everything is jitted: eager evaluation compiles every primitive separately (~15 s).
@eqx.filter_jit
def _nonbonded_forces(model, pos, system):
    return -jax.grad(model.nonbonded_energy)(pos, system)


MADELUNG_NACL = (
    1.747564594633  # rock salt, per ion pair, referred to the nearest-neighbour distance
)


def _rock_salt(m, a=0.5):
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos, q = [], []
    for cell in np.ndindex(m, m, m):
        for p in base:
            pos += [(p + cell) * a, (p + [0.5, 0, 0] + cell) * a]
            q += [1.0, -1.0]
    n = len(q)
    return jnp.asarray(pos), jnp.asarray(q), n


def _ion_system(n, q, box):
    return System(box=jnp.asarray(box), species=jnp.zeros(n, int), masses=jnp.ones(n), charges=q)


def _madelung(energy, n, a=0.5):
    return -float(energy) * (a / 2) / COULOMB / (n / 2)


def test_ewald_madelung_rock_salt_cubic():
    pos, q, n = _rock_salt(2)
    L = 1.0
    ewald = Ewald.from_accuracy(Quantity(0.49 * L, "nm"), Quantity([L] * 3, "nm"), 1e-7)
    m = _madelung(_energy(ewald, pos, _ion_system(n, q, [L] * 3)), n)
    assert m == pytest.approx(MADELUNG_NACL, abs=2e-6)


def test_ewald_triclinic_cell_gives_same_crystal_energy():
    """The same rock-salt crystal in a sheared (triclinic) supercell: c' = c + a_conv x̂."""
    pos, q, n = _rock_salt(3)
    L, a = 1.5, 0.5
    cell = np.array([[L, 0, 0], [0, L, 0], [a, 0, L]])
    ewald = Ewald.from_accuracy(Quantity(0.45 * L, "nm"), Quantity(cell, "nm"), 1e-7)
    m = _madelung(_energy(ewald, pos, _ion_system(n, q, cell)), n)
    assert m == pytest.approx(MADELUNG_NACL, abs=2e-6)


def test_ewald_isolated_dipolar_molecule_tin_foil_image_energy():
    """One neutral molecule in a cubic box: U = -2π μ²/(3V) (tin-foil, point-dipole limit)."""
    pos, system = water_box(1, key=jax.random.PRNGKey(3))
    L = 2.5
    system = eqx.tree_at(lambda s: s.box, system, jnp.asarray([L] * 3))
    ewald = Ewald.from_accuracy(Quantity(1.2, "nm"), Quantity([L] * 3, "nm"), 1e-8)
    model = spc_fw(ewald)
    mu = model.charges(system) @ pos
    expected = -2 * math.pi * float(mu @ mu) / (3 * L**3) * COULOMB
    assert float(eqx.filter_jit(model.nonbonded_energy)(pos, system)) == pytest.approx(
        expected, rel=0.03
    )


def test_isolated_molecule_has_zero_dsf_energy_and_no_intramolecular_force():
    pos, system = water_box(1, key=jax.random.PRNGKey(3))
    system = eqx.tree_at(lambda s: s.box, system, jnp.asarray([2.0] * 3))
    model = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.9, "nm")))
    assert abs(float(eqx.filter_jit(model.nonbonded_energy)(pos, system))) < 1e-12
    f = _nonbonded_forces(model, pos, system)
    np.testing.assert_allclose(f, 0.0, atol=1e-12)


@pytest.fixture(scope="module")
def box27():
    pos, system = water_box(27, key=jax.random.PRNGKey(7))
    # small random distortion so bonds and angles are off equilibrium
    pos = pos + 0.004 * jax.random.normal(jax.random.PRNGKey(8), pos.shape)
    return pos, system


@pytest.fixture(scope="module")
def nbr27(box27):
    """jax-md Dense neighbour list at the models' cutoff (0.45 L), with spare (padded) slots."""
    pos, system = box27
    with jax.numpy_dtype_promotion("standard"):
        disp, _ = space.periodic(system.box)
        fn = partition.neighbor_list(
            disp,
            system.box,
            0.45 * float(system.box[0]),
            capacity_multiplier=1.5,
            format=partition.Dense,
        )
        return fn.allocate(pos)


def _models(system, accuracy=1e-6):
    L = float(system.box[0])
    rc = 0.45 * L
    box = Quantity(np.asarray(system.box), "nm")
    return {
        "ewald": spc_fw(Ewald.from_accuracy(Quantity(rc, "nm"), box, accuracy)),
        "dsf": spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(rc, "nm"))),
    }


@pytest.mark.parametrize("name", ["ewald", "dsf"])
def test_forces_and_parameter_gradients_match_finite_differences(box27, nbr27, name):
    """Forces = -dU/dx and dU/dθ for all 7 parameters vs central differences (float64),
    through a Dense neighbour list with padded slots (finite gradients, DESIGN §8)."""
    pos, system = box27
    # Ewald truncated at 1e-6 has a 1e-6 energy step at the cutoff; use 1e-8 here so that
    # pairs crossing the cutoff during the finite difference do not spoil it.
    model = _models(system, accuracy=1e-8)[name]
    nbr = nbr27
    assert model.cutoff == pytest.approx(0.45 * float(system.box[0]))
    assert bool(jnp.any(nbr.idx == pos.shape[0])), "test needs padded slots"
    params, static = eqx.partition(model, eqx.is_inexact_array)

    @eqx.filter_jit
    def energy(p, x):
        return eqx.combine(p, static).energy(x, system, nbr)

    @eqx.filter_jit
    def value_and_grads(p, x):
        return jax.value_and_grad(energy, argnums=(0, 1))(p, x)

    e0, (gp, gx) = value_and_grads(params, pos)
    assert float(e0) == pytest.approx(float(_energy(model, pos, system)), rel=1e-10)
    rng = np.random.default_rng(0)
    h = 1e-5
    for _ in range(3):
        d = jnp.zeros(pos.shape).at[:6].set(jnp.asarray(rng.normal(size=(6, 3))))
        fd = (energy(params, pos + h * d) - energy(params, pos - h * d)) / (2 * h)
        assert float(jnp.sum(gx * d)) == pytest.approx(float(fd), rel=1e-6, abs=1e-6)
    leaves, treedef = jax.tree.flatten(params)
    assert len(leaves) == 7
    for k, (leaf, g) in enumerate(zip(leaves, jax.tree.leaves(gp), strict=True)):
        assert bool(jnp.isfinite(g)), f"leaf {k} gradient not finite"
        h = 1e-6 * max(1.0, abs(float(leaf)))
        up = jax.tree.unflatten(treedef, [x + h if i == k else x for i, x in enumerate(leaves)])
        dn = jax.tree.unflatten(treedef, [x - h if i == k else x for i, x in enumerate(leaves)])
        fd = (energy(up, pos) - energy(dn, pos)) / (2 * h)
        scale = max(1.0, abs(float(leaf)))
        assert float(g) == pytest.approx(float(fd), rel=1e-5, abs=1e-4 * scale), k


EXAMPLE = Path(__file__).parents[1] / "data" / "examples" / "water_spcfw.npz"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="needs data/examples/water_spcfw.npz")
def test_dsf_forces_close_to_ewald_in_liquid():
    """Liquid configuration (48 molecules); DSF at R_c = 0.55 nm, α = 2 nm⁻¹ vs Ewald 1e-6."""
    traj = Trajectory.from_npz(EXAMPLE)
    pos = jnp.asarray(traj.positions[-1], dtype=float)
    system = water_system(traj.n_atoms // 3, Quantity(np.asarray(traj.box, float), "nm"))
    box = Quantity(np.asarray(system.box), "nm")
    ewald = spc_fw(Ewald.from_accuracy(Quantity(0.55, "nm"), box, 1e-6))
    dsf = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.55, "nm")))
    fe = _nonbonded_forces(ewald, pos, system)
    fd = _nonbonded_forces(dsf, pos, system)
    rel = float(jnp.sqrt(jnp.mean((fe - fd) ** 2) / jnp.mean(fe**2)))
    assert rel < 0.10


def test_energy_invariant_under_wrapping_and_translation(box27):
    pos, system = box27
    model = _models(system)["ewald"]
    e0 = _energy(model, pos, system)
    L = system.box
    shifted = pos.at[4].add(L * jnp.array([1.0, -1.0, 2.0]))  # one H jumps by box vectors
    assert float(_energy(model, shifted, system)) == pytest.approx(float(e0), rel=1e-10)
    moved = pos + jnp.array([0.1, 0.2, -0.3])
    assert float(_energy(model, moved, system)) == pytest.approx(float(e0), rel=1e-8)


@pytest.mark.parametrize("factory", [spc_fw, q_spc_fw])
@pytest.mark.parametrize("morse", [False, True])
def test_gas_phase_monomer_minimum_at_r0_theta0(factory, morse):
    model = factory()
    if morse:
        k = Quantity(1059.162, "kcal/mol/angstrom**2")
        bond = MorseBond.from_harmonic(
            k, Quantity(float(model.bond.r0), "nm"), Quantity(116.09, "kcal/mol")
        )
        model = factory(bond=bond)
    system = water_system(1, None)
    x0 = np.array([[0, 0, 0], [0.11, 0.01, 0], [-0.03, 0.09, 0.01]])

    energy = eqx.filter_jit(lambda x: model.energy(x.reshape(3, 3), system))
    grad = eqx.filter_jit(jax.grad(lambda x: model.energy(x.reshape(3, 3), system)))

    def f(x):
        return float(energy(jnp.asarray(x)))

    def g(x):
        return np.asarray(grad(jnp.asarray(x)))

    res = scipy.optimize.minimize(f, x0.ravel(), jac=g, method="BFGS", options=dict(gtol=1e-8))
    x = jnp.asarray(res.x.reshape(3, 3))
    np.testing.assert_allclose(bond_lengths(x, system), float(model.bond.r0), atol=1e-7)
    np.testing.assert_allclose(bond_angles(x, system), float(model.angle.theta0), atol=1e-6)
    assert abs(res.fun) < 1e-8


def test_lj_tail_correction_energy_and_pressure():
    """U_corr analytic, and -dU_corr/dV (box scaling) = standard P_tail (Allen & Tildesley)."""
    pos, system = water_box(27)
    rc = 0.4
    model = spc_fw(
        DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(rc, "nm")), tail_correction=True
    )
    sigma, eps = float(model.sigma), float(model.epsilon)
    volume = float(jnp.prod(system.box))
    rho = 27 / volume
    x3 = (sigma / rc) ** 3
    u_tail = 8 / 3 * np.pi * 27 * rho * eps * sigma**3 * (x3**3 / 3 - x3)
    u_tail += 2 / 3 * np.pi * 27 * rho * rc**3 * 4 * eps * (x3**4 - x3**2)  # shift inside r_c
    assert float(model.lj_tail_energy(system)) == pytest.approx(u_tail, rel=1e-12)
    p_tail = 16 / 3 * np.pi * rho**2 * eps * sigma**3 * (2 / 3 * x3**3 - x3)

    def tail(scale):
        return model.lj_tail_energy(eqx.tree_at(lambda s: s.box, system, system.box * scale))

    # V = V0 s³: P = -dU/dV = -(dU/ds) / (3 V0) at s = 1
    assert -float(jax.grad(tail)(1.0)) / (3 * volume) == pytest.approx(p_tail, rel=1e-10)
    plain = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(rc, "nm")))
    diff = float(_energy(model, pos, system) - _energy(plain, pos, system))
    assert diff == pytest.approx(u_tail, rel=1e-9)


def test_force_shifted_lj_vanishes_smoothly_at_cutoff():
    """Two molecules' oxygens across the LJ cutoff: U and dU/dr -> 0 with ForceShifted."""
    rc = 0.5
    model = spc_fw(
        DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(rc, "nm")), lj_truncation=ForceShifted()
    )
    model = eqx.tree_at(lambda m: m.charge_oxygen, model, jnp.asarray(0.0))  # LJ only
    pos1, _ = water_box(1)
    system = water_system(2, Quantity([3.0] * 3, "nm"))

    @jax.jit
    @jax.value_and_grad
    def u(d):
        shift = jnp.stack([d, 0.0, 0.0])
        return model.nonbonded_energy(jnp.concatenate([pos1, pos1 + shift]), system)

    for d in (rc - 1e-6, rc + 1e-6):
        value, slope = u(jnp.asarray(d))
        assert abs(float(value)) < 1e-9 and abs(float(slope)) < 1e-4
    assert float(u(jnp.asarray(0.45))[1]) != 0.0


def test_published_parameters_in_internal_units():
    m = spc_fw()
    kcal = 4.184
    assert float(m.bond.k) == pytest.approx(1059.162 * kcal * 100)
    assert float(m.bond.r0) == pytest.approx(0.1012)
    assert float(m.angle.k) == pytest.approx(75.90 * kcal)
    assert float(m.angle.theta0) == pytest.approx(math.radians(113.24))
    assert float(m.sigma) == pytest.approx(0.3165492)
    assert float(m.epsilon) == pytest.approx(0.1554253 * kcal)
    assert float(m.charge_oxygen) == -0.82
    q = q_spc_fw()
    assert float(q.bond.r0) == pytest.approx(0.1000) and float(q.charge_oxygen) == -0.84


def test_water_box_density_and_topology():
    pos, system = water_box(64, Quantity(1.0, "g/cm**3"))
    mass = float(jnp.sum(system.masses)) * 1.66053906660e-24  # g
    volume = float(jnp.prod(system.box)) * 1e-21  # cm³
    assert mass / volume == pytest.approx(1.0, rel=1e-4)
    assert pos.shape == (192, 3) and system.topology.exclusions.shape == (192, 2)
    assert float(jnp.sum(system.charges)) == pytest.approx(0.0, abs=1e-12)


def test_bad_inputs_name_the_problem():
    with pytest.raises(UnitError, match="sigma"):
        FlexibleWater(
            bond=spc_fw().bond,
            angle=HarmonicAngle(Quantity(75.9, "kcal/mol/rad**2"), Quantity(113.24, "degree")),
            charge_oxygen=Quantity(-0.82, "e"),
            sigma=0.3165,
            epsilon=Quantity(0.65, "kJ/mol"),
            electrostatics=None,
            lj_cutoff=Quantity(0.9, "nm"),
        )
    with pytest.raises(UnitError, match="charge_oxygen"):
        FlexibleWater(
            bond=spc_fw().bond,
            angle=spc_fw().angle,
            charge_oxygen=Quantity(-0.82, "nm"),
            sigma=Quantity(0.3165, "nm"),
            epsilon=Quantity(0.65, "kJ/mol"),
            electrostatics=None,
            lj_cutoff=Quantity(0.9, "nm"),
        )
    with pytest.raises(ValueError, match="Shifted"):
        spc_fw(tail_correction=True, lj_truncation=ForceShifted())
    with pytest.raises(TypeError, match="AbstractTruncation"):
        spc_fw(lj_truncation="force")
    with pytest.raises(TypeError, match="AbstractElectrostatics"):
        spc_fw(electrostatics="ewald")
    with pytest.raises(UnitError, match="alpha"):
        Ewald(2.0, Quantity(0.9, "nm"))
    with pytest.raises(ValueError, match="periodic"):
        ewald = Ewald(Quantity(3.0, "1/nm"), Quantity(0.5, "nm"), kmax=1)
        jax.eval_shape(spc_fw(ewald).energy, jnp.zeros((6, 3)), water_system(2, None))


def test_water_box_fills_the_whole_cell_for_non_cube_counts():
    """128 molecules on a 6x6x6 lattice: oxygens spread over the box, no empty slab."""
    pos, system = water_box(128)
    o = np.asarray(pos[::3])
    edge = float(system.box[0])
    for axis in range(3):
        counts, _ = np.histogram(o[:, axis] % edge, bins=3, range=(0, edge))
        assert counts.min() > 0.2 * len(o), counts  # every third of the box is populated
    d = o[:, None, :] - o[None, :, :]
    d -= edge * np.round(d / edge)
    r = np.sqrt((d**2).sum(-1)) + np.eye(len(o))
    assert r.min() > 0.2  # nm: no overlapping molecules


@pytest.mark.slow  # a long validation (> 4 s)
def test_fire_minimize_relaxes_a_lattice_start():
    from spectrinv.backends import fire_minimize

    pos, system = water_box(8, key=jax.random.PRNGKey(1))
    model = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.3, "nm")))
    relaxed = fire_minimize(model, system, pos, steps=300)
    energy_and_force = jax.jit(jax.value_and_grad(model.energy))  # one compilation for both
    e0, g0 = energy_and_force(pos, system)
    e1, g1 = energy_and_force(relaxed, system)
    g0, g1 = jnp.linalg.norm(g0), jnp.linalg.norm(g1)
    assert relaxed.dtype == pos.dtype and bool(jnp.all(jnp.isfinite(relaxed)))
    assert float(e1) < float(e0) and float(g1) < 0.5 * float(g0)
