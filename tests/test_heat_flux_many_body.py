"""HeatFlux for many-body potentials (Stillinger–Weber, EDIP) and pair potentials through the
site-energy path: J = d/dt Σ r_i e_i, periodic consistency, the pair formula, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import argon

from observables import Quantity
from spectrinv.backends import Frame, HeatFlux
from spectrinv.potentials import (
    EDIP,
    DampedShiftedForce,
    Ewald,
    LocalWater,
    StillingerWeber,
    System,
    diamond_lattice,
    neighbor_pairs,
    spc_fw,
    water_box,
)

MODELS = {"sw": StillingerWeber, "edip": EDIP}
#: SW in the default suite; EDIP differs only in its site energies, whose locality the
#: exact identity test checks, so its longer trajectory and periodic checks are `slow`.
SW_FAST_EDIP_SLOW = ["sw", pytest.param("edip", marks=pytest.mark.slow)]
KB = 0.00831446261815324  # kJ/mol/K


@jax.jit
def flux(x, v, system, nbr, pot):
    """HeatFlux of one frame (compiled once per potential type and system layout)."""
    return HeatFlux()(Frame(x, v, None, None, nbr, system), pot)


def hot_cluster(seed, temperature=1500.0):
    """A 64-atom diamond-silicon cluster (no box), displaced by 0.01 nm and with
    Maxwell–Boltzmann velocities at `temperature` (K): surface atoms are under-coordinated
    and the EDIP coordination Z_i varies (some neighbours in its smooth-cutoff shell)."""
    rng = np.random.default_rng(seed)
    pos, periodic = diamond_lattice(2)
    pos = np.asarray(pos) + rng.normal(scale=0.01, size=pos.shape)
    m = np.asarray(periodic.masses)
    vel = rng.normal(size=pos.shape) * np.sqrt(KB * temperature / m)[:, None]
    vel -= (m @ vel) / m.sum()  # no centre-of-mass drift
    system = System(box=None, species=periodic.species, masses=periodic.masses)
    return jnp.asarray(pos), jnp.asarray(vel), system


class DenseList(eqx.Module):
    """The two fields of a jax-md `Dense` neighbour list that potentials read."""

    idx: jax.Array
    format: str = eqx.field(static=True, default="Dense")


def dense_list(pos, box, radius):
    """Neighbours within `radius` (nm, minimum image) of each atom, built with NumPy, padded
    with `n_atoms` to three slots more than the fullest row (as jax-md pads its lists)."""
    pos, box = np.asarray(pos), np.asarray(box)
    d = pos[None, :, :] - pos[:, None, :]
    d -= box * np.round(d / box)
    near = (np.sum(d * d, -1) < radius**2) & ~np.eye(len(pos), dtype=bool)
    idx = np.full((len(pos), near.sum(1).max() + 3), len(pos))
    for i, row in enumerate(near):
        idx[i, : row.sum()] = np.flatnonzero(row)
    return DenseList(jnp.asarray(idx, jnp.int32))


def moment(pot, system, x, v):
    """Σ_i r_i e_i with e_i = ½ m_i v_i² + U_i (no box: r_i are plain coordinates)."""
    e = 0.5 * system.masses * jnp.sum(v * v, axis=-1) + pot.atom_energies(x, system)
    return e @ x


@pytest.mark.parametrize("name", sorted(MODELS))
def test_flux_is_exact_time_derivative_of_energy_moment(name):
    """Forward-mode d/dt Σ r_i e_i along (v, F/m) equals the recorded flux to rounding;
    the potential term is a sizeable part of it."""
    pot = MODELS[name]()
    pos, vel, system = hot_cluster(0)

    @jax.jit
    def both(x, v):
        force = -jax.grad(pot.energy)(x, system)
        _, exact = jax.jvp(
            lambda x, v: moment(pot, system, x, v), (x, v), (v, force / system.masses[:, None])
        )
        e = 0.5 * system.masses * jnp.sum(v * v, -1) + pot.atom_energies(x, system)
        return exact, e @ v

    exact, convective = both(pos, vel)
    scale = float(jnp.linalg.norm(exact))
    np.testing.assert_allclose(flux(pos, vel, system, None, pot), exact, rtol=0, atol=1e-11 * scale)
    assert float(jnp.linalg.norm(exact - convective)) > 0.1 * scale  # potential term matters


@pytest.mark.parametrize("name", SW_FAST_EDIP_SLOW)
def test_flux_matches_central_difference_along_nve_trajectory(name):
    """Velocity Verlet NVE of the hot cluster: [M(t+h) − M(t−h)]/2h of the energy moment
    M = Σ r_i e_i equals J(t) up to O(h²). Verlet gives x(t±h) exactly symmetric
    (x₊ − x₋ = 2h v) and v₊ − v₋ = 2h a + O(h³), so the error must fall 4× when h halves;
    measured relative errors (SW; EDIP within 5 %): 3.9e-2, 7.8e-3, 1.7e-3, 3.9e-4 at
    h = 1, 0.5, 0.25, 0.125 fs (ratios 5.0, 4.6, 4.3 → 4), so at 0.25 and 0.125 fs the
    ratio must lie in [3.5, 5] and the finer error below 1e-3."""
    pot = MODELS[name]()
    pos, vel, system = hot_cluster(1)
    m = system.masses[:, None]
    force_fn = jax.grad(lambda x: -pot.energy(x, system))

    @jax.jit
    def run(x, v, h):
        def step(carry, _):
            x, v, f = carry
            v_half = v + 0.5 * h * f / m
            x = x + h * v_half
            f = force_fn(x)
            v = v_half + 0.5 * h * f / m
            return (x, v, f), (x, v, f)

        _, (xs, vs, fs) = jax.lax.scan(step, (x, v, force_fn(x)), None, length=4)
        ms = jax.vmap(lambda x, v: moment(pot, system, x, v))(xs, vs)
        centre = (ms[2] - ms[0]) / (2 * h)  # frame 1 (the second step)
        return centre, xs[1], vs[1]

    errors = []
    for h in (2.5e-4, 1.25e-4):  # ps
        centre, x, v = run(pos, vel, h)
        j = flux(x, v, system, None, pot)
        errors.append(float(jnp.linalg.norm(centre - j) / jnp.linalg.norm(j)))
    assert errors[1] < 1e-3, errors
    assert 3.5 < errors[0] / errors[1] < 5.0, errors  # second order in h


@pytest.mark.parametrize("name", SW_FAST_EDIP_SLOW)
def test_periodic_flux_with_neighbour_list_and_images(name):
    """64-atom periodic crystal at 1500 K: the flux from a Dense neighbour list (padded, with
    pairs beyond the cutoff) equals the
    all-pairs evaluation, is unchanged when atoms are moved by whole box vectors (it uses
    minimum-image vectors only) and, for a cluster far from its images in a large box,
    equals the flux of the same cluster without a box."""
    pot = MODELS[name]()
    pos, vel, cluster = hot_cluster(2)
    _, periodic = diamond_lattice(2)
    periodic = System(box=periodic.box, species=cluster.species, masses=cluster.masses)
    nbr = dense_list(pos, periodic.box, pot.cutoff + 0.05)  # cutoff + skin, padded slots
    with_list = flux(pos, vel, periodic, nbr, pot)
    all_pairs = flux(pos, vel, periodic, None, pot)
    shift = jnp.asarray(np.random.default_rng(3).integers(-2, 3, size=pos.shape), float)
    shifted = flux(pos + shift * periodic.box, vel, periodic, None, pot)
    scale = float(jnp.linalg.norm(all_pairs))
    np.testing.assert_allclose(with_list, all_pairs, rtol=0, atol=1e-11 * scale)
    np.testing.assert_allclose(shifted, all_pairs, rtol=0, atol=1e-11 * scale)
    # the same cluster in a box wider than cluster + cutoff, part of it across the boundary
    big = System(box=jnp.full(3, 3.0), species=cluster.species, masses=cluster.masses)
    wrapped = jnp.mod(pos - 0.2, 3.0)  # some atoms now sit near the far faces
    np.testing.assert_allclose(
        flux(wrapped, vel, big, None, pot),
        flux(pos, vel, cluster, None, pot),
        rtol=1e-12,
        atol=1e-9,
    )


def _pair_flux_reference(pos, vel, system, lj):
    """The pair-potential energy current written out: Σ e_i v_i + ½ Σ_{i≠j} r_ij (F_ij·v_i),
    r_ij = r_i − r_j (minimum image), F_ij = −u'(r) r_ij / r (Irving & Kirkwood 1950)."""
    dr, mask, _ = neighbor_pairs(pos, system, None)  # r_j − r_i
    r2 = jnp.sum(dr * dr, -1)
    mask = mask & (r2 < lj.cutoff**2)
    r = jnp.sqrt(jnp.where(mask, r2, 1.0))
    u, du = jax.vmap(jax.vmap(jax.value_and_grad(lj.pair_energy)))(r)
    u, du = jnp.where(mask, u, 0.0), jnp.where(mask, du, 0.0)
    e = 0.5 * system.masses * jnp.sum(vel * vel, -1) + 0.5 * jnp.sum(u, -1)
    force = (du / r)[..., None] * dr  # on i due to j, with r_ij = −dr
    return e @ vel - 0.5 * jnp.einsum("ija,ij->a", dr, jnp.sum(force * vel[:, None], -1))


def test_pair_potential_matches_pair_formula_in_periodic_liquid():
    """108 argon atoms (periodic, fcc displaced by 0.03 nm, 120 K velocities):
    the site-energy path equals the pair formula; atom energies sum to the energy."""
    pos, system, lj = argon()
    rng = np.random.default_rng(4)
    pos = jnp.asarray(pos + rng.normal(scale=0.03, size=pos.shape))
    vel = jnp.asarray(rng.normal(size=pos.shape) * np.sqrt(KB * 120 / 39.948))
    reference = jax.jit(lambda x, v: _pair_flux_reference(x, v, system, lj))(pos, vel)
    np.testing.assert_allclose(flux(pos, vel, system, None, lj), reference, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(
        jnp.sum(lj.atom_energies(pos, system)), lj.energy(pos, system), rtol=1e-12
    )


def test_flexible_water_with_dsf_through_local_water():
    """8 SPC/Fw molecules, DSF electrostatics, LJ tail on: the site energies sum to the
    model's energy (periodic), and without a box the flux is the exact d/dt Σ r_i e_i of the
    split (bonds half/half, angle to O, pair terms half/half, DSF self term q_i Q_mol)."""
    pos, periodic = water_box(8, Quantity(1.0, "g/cm**3"), jax.random.key(0))
    dsf = DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.3, "nm"))
    model = spc_fw(dsf, tail_correction=True)
    local = LocalWater(model)

    @jax.jit
    def energies(x, system):
        return jnp.sum(local.atom_energies(x, system)), model.energy(x, system)

    np.testing.assert_allclose(*energies(pos, periodic), rtol=1e-12)
    cluster = System(
        box=None,
        species=periodic.species,
        masses=periodic.masses,
        charges=periodic.charges,
        topology=periodic.topology,
    )
    rng = np.random.default_rng(5)
    m = cluster.masses
    vel = jnp.asarray(rng.normal(size=pos.shape) * np.sqrt(KB * 300 / np.asarray(m))[:, None])

    @jax.jit
    def exact(x, v):
        force = -jax.grad(model.energy)(x, cluster)
        return jax.jvp(lambda x, v: moment(local, cluster, x, v), (x, v), (v, force / m[:, None]))[
            1
        ]

    reference = exact(pos, vel)
    np.testing.assert_allclose(
        flux(pos, vel, cluster, None, local),
        reference,
        rtol=0,
        atol=1e-10 * float(jnp.linalg.norm(reference)),
    )


def test_local_water_refuses_ewald():
    model = spc_fw(Ewald(Quantity(3.0, "1/nm"), Quantity(0.3, "nm")))
    with pytest.raises(ValueError, match="Ewald has a reciprocal-space part"):
        LocalWater(model)


@pytest.mark.parametrize("elec", ["dsf", "ewald"])
def test_potentials_without_atom_energies_are_refused(elec):
    pos, system = water_box(2, Quantity(1.0, "g/cm**3"), jax.random.key(0))
    cutoff = Quantity(0.3, "nm")
    coulomb = DampedShiftedForce(Quantity(2.0, "1/nm"), cutoff) if elec == "dsf" else None
    model = spc_fw(coulomb) if coulomb is not None else Ewald(Quantity(3.0, "1/nm"), cutoff)
    frame = Frame(pos, jnp.zeros_like(pos), None, None, None, system)
    with pytest.raises(TypeError, match=f"{type(model).__name__} does not provide") as info:
        HeatFlux()(frame, model)
    assert "\n" not in str(info.value)
