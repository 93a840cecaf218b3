"""Pair potentials: forces = −∇U, finite parameter gradients (padded neighbour slots),
truncation, mixing, units, tabulated/neural forms, triclinic cells, freezing with filters."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity, UnitError
from spectrinv.backends import JaxMDBackend, VelocityVerlet
from spectrinv.potentials import (
    Buckingham,
    DampedShiftedForce,
    ForceShifted,
    LennardJones,
    Morse,
    NeuralPair,
    Switched,
    System,
    TabulatedPair,
    minimum_image,
    neighbor_pairs,
)

CUT = Quantity(0.7, "nm")
R_KJ = 0.00831446261815324  # molar gas constant N_A k_B, kJ/(mol K) (exact in SI)


def _config(rng, n_side=3, spacing=0.5, jitter=0.03, n_species=2):
    g = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = g * spacing + rng.normal(scale=jitter, size=g.shape)
    n = len(pos)
    box = np.full(3, n_side * spacing)
    species = np.arange(n) % n_species
    system = System(
        box=jnp.asarray(box),
        species=jnp.asarray(species, jnp.int32),
        masses=jnp.full(n, 39.948),
    )
    return jnp.asarray(pos), system


def _potentials():
    key = jax.random.key(3)
    lj = LennardJones(Quantity([3.4, 3.0], "angstrom"), Quantity([0.99, 0.5], "kJ/mol"), CUT)
    return {
        "lj_mixed": lj,
        "lj_matrix_forceshift": LennardJones(
            Quantity([[0.34, 0.32], [0.32, 0.30]], "nm"),
            Quantity([[1.0, 0.7], [0.7, 0.5]], "kJ/mol"),
            CUT,
            truncation=ForceShifted(),
        ),
        "morse": Morse(Quantity(1.2, "kJ/mol"), Quantity(12.0, "1/nm"), Quantity(0.4, "nm"), CUT),
        "buckingham": Buckingham(
            Quantity(1.5e5, "kJ/mol"),
            Quantity(0.025, "nm"),
            Quantity(2e-3, "kJ/mol*nm**6"),
            CUT,
        ),
        "tabulated": TabulatedPair.from_pair(lj, Quantity(0.25, "nm"), 30),
        "neural": NeuralPair(
            CUT,
            key,
            width=8,
            depth=2,
            n_species=2,
            prior=LennardJones(Quantity(0.3, "nm"), Quantity(0.5, "kJ/mol"), CUT),
        ),
    }


POTENTIALS = list(_potentials())


def _neighbors(pot, pos, system):
    backend = JaxMDBackend(VelocityVerlet(Quantity(1, "fs")), skin=Quantity(0.05, "nm"))
    return jax.tree.map(lambda x: x[0], backend._allocate(pot, pos[None], system))


@eqx.filter_jit
def _energy(pot, pos, system, nbrs=None):
    return pot.energy(pos, system, nbrs)


@eqx.filter_jit
def _pair(pot, r):
    return pot.pair_energy(r)


@eqx.filter_jit
def _dpair(pot, r):
    return jax.grad(pot.pair_energy)(r)


@pytest.mark.parametrize("name", POTENTIALS)
def test_forces_parameter_gradients_and_neighbor_list(name, rng):
    """For every pair potential, on one configuration:

    - the energy from a jax-md neighbour list (with padded slots) equals all pairs;
    - forces −∇U equal central finite differences;
    - reverse-mode parameter gradients with padded slots are finite (DESIGN §8) and equal
      a central finite difference along a random direction in parameter space.
    """
    pot = _potentials()[name]
    pos, system = _config(rng)
    nbrs = _neighbors(pot, pos, system)
    assert bool(jnp.any(nbrs.idx == system.n_atoms)), "want padded slots in this test"
    params, static = eqx.partition(pot, eqx.is_inexact_array)

    @jax.jit
    def with_list(p, x):
        return jax.value_and_grad(
            lambda p, x: eqx.combine(p, static).energy(x, system, nbrs), argnums=(0, 1)
        )(p, x)

    (e_list, (g_par, g_pos)) = with_list(params, pos)
    leaves = jax.tree.leaves(g_par)
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)

    h = 1e-6
    picks = [(0, 0), (5, 1), (13, 2), (26, 0)]
    steps = jnp.stack([jnp.zeros_like(pos).at[a, x].set(h) for a, x in picks])
    direction = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)), params)
    direction = jax.tree.map(lambda d, x: d * (jnp.abs(x) + 1e-3), direction, params)
    dpar = jnp.asarray([0.0] * 9 + [h, -h])
    dpos = jnp.concatenate([jnp.zeros_like(pos)[None], steps, -steps, jnp.zeros((2,) + pos.shape)])

    @jax.jit
    def all_pairs(t, dx):
        p = jax.tree.map(lambda x, d: x + t * d, params, direction)
        return eqx.combine(p, static).energy(pos + dx, system, None)

    e = jax.vmap(all_pairs)(dpar, dpos)
    np.testing.assert_allclose(e_list, e[0], rtol=1e-12)
    fd_forces = -(e[1:5] - e[5:9]) / (2 * h)
    np.testing.assert_allclose([-g_pos[a, x] for a, x in picks], fd_forces, rtol=1e-6, atol=1e-6)
    fd_par = (e[9] - e[10]) / (2 * h)
    analytic = sum(jnp.sum(g * d) for g, d in zip(leaves, jax.tree.leaves(direction), strict=True))
    np.testing.assert_allclose(analytic, fd_par, rtol=1e-6, atol=1e-8)


def test_shifts_at_cutoff():
    lj = LennardJones(Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol"), CUT)
    fs = LennardJones(Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol"), CUT, truncation=ForceShifted())
    rc = 0.7
    r = jnp.asarray([rc - 1e-9, rc + 1e-9])
    np.testing.assert_allclose(_pair(lj, r), 0.0, atol=1e-9)
    np.testing.assert_allclose(_pair(fs, r), 0.0, atol=1e-12)
    np.testing.assert_allclose(_dpair(fs, jnp.asarray(rc - 1e-12)), 0.0, atol=1e-9)
    # the minimum of the untruncated LJ is at 2^(1/6) σ
    assert abs(_dpair(lj, jnp.asarray(2 ** (1 / 6) * 0.34))) < 1e-10


def test_lorentz_berthelot_equals_explicit_matrix(rng):
    pos, system = _config(rng)
    mixed = LennardJones(Quantity([0.34, 0.30], "nm"), Quantity([1.0, 0.5], "kJ/mol"), CUT)
    s = np.array([[0.34, 0.32], [0.32, 0.30]])
    e = np.sqrt(np.outer([1.0, 0.5], [1.0, 0.5]))
    explicit = LennardJones(Quantity(s, "nm"), Quantity(e, "kJ/mol"), CUT)
    np.testing.assert_allclose(
        _energy(mixed, pos, system), _energy(explicit, pos, system), rtol=1e-13
    )


def test_energy_parameters_accept_a_temperature():
    """ε/k_B = 119.8 K (argon) is ε = 0.99607 kJ/mol; every energy parameter of a pair
    potential takes a temperature the same way."""
    sigma, cut = Quantity(0.3405, "nm"), CUT
    lj = LennardJones(sigma, Quantity(119.8, "K"), cut)
    np.testing.assert_allclose(lj.epsilon, 0.996072621654758, rtol=1e-12)
    same = LennardJones(sigma, Quantity(0.996072621654758, "kJ/mol"), cut)
    np.testing.assert_allclose(lj.epsilon, same.epsilon, rtol=1e-12)
    per_species = LennardJones(Quantity([0.34, 0.3], "nm"), Quantity([119.8, 60.0], "K"), cut)
    np.testing.assert_allclose(per_species.epsilon, np.array([119.8, 60.0]) * R_KJ, rtol=1e-12)
    morse = Morse(Quantity(500.0, "K"), Quantity(10.0, "1/nm"), Quantity(0.3, "nm"), cut)
    np.testing.assert_allclose(morse.well_depth, 500.0 * R_KJ, rtol=1e-12)
    buck = Buckingham(Quantity(1e6, "K"), Quantity(0.03, "nm"), Quantity(1e-3, "kJ/mol*nm**6"), cut)
    np.testing.assert_allclose(buck.a, 1e6 * R_KJ, rtol=1e-12)
    tab = TabulatedPair(Quantity([-100.0, -50.0, -10.0], "K"), Quantity(0.3, "nm"), cut)
    np.testing.assert_allclose(tab.values, np.array([-100.0, -50.0, -10.0]) * R_KJ, rtol=1e-12)
    neural = NeuralPair(cut, jax.random.key(0), energy_scale=Quantity(120.0, "K"))
    assert neural.energy_scale == pytest.approx(120.0 * R_KJ, rel=1e-12)


def test_energy_units_accepted_and_refused():
    ref = LennardJones(Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol"), CUT).epsilon
    ev = LennardJones(Quantity(3.4, "angstrom"), Quantity(1.0 / 96.485332, "eV"), CUT)
    np.testing.assert_allclose(ev.epsilon, ref, rtol=1e-6)
    kb = LennardJones(Quantity(0.34, "nm"), Quantity(120.0, "kelvin*boltzmann_constant"), CUT)
    np.testing.assert_allclose(kb.epsilon, 120.0 * 0.00831446261815324, rtol=1e-9)
    # ε/k_B given as a temperature: ε = R T (molar), the same as k_B T per particle
    kelvin = LennardJones(Quantity(0.34, "nm"), Quantity(120.0, "K"), CUT)
    np.testing.assert_allclose(kelvin.epsilon, 120.0 * 0.00831446261815324, rtol=1e-9)
    np.testing.assert_allclose(kelvin.epsilon, kb.epsilon, rtol=1e-14)
    with pytest.raises(UnitError, match="epsilon"):
        LennardJones(Quantity(0.34, "nm"), Quantity(120.0, "K/s"), CUT)
    with pytest.raises(UnitError):
        LennardJones(0.34, Quantity(1.0, "kJ/mol"), CUT)
    with pytest.raises(UnitError):
        LennardJones(Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol"), Quantity(1.0, "ps"))
    with pytest.raises(ValueError, match="symmetric"):
        LennardJones(Quantity([[0.3, 0.2], [0.1, 0.3]], "nm"), Quantity(1.0, "kJ/mol"), CUT)


def test_tabulated_reproduces_source_and_is_smooth():
    lj = LennardJones(Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol"), CUT, truncation=ForceShifted())
    tab = TabulatedPair.from_pair(lj, Quantity(0.3, "nm"), 200)
    r = jnp.linspace(0.33, 0.69, 97)
    np.testing.assert_allclose(_pair(tab, r), _pair(lj, r), atol=2e-3)
    rc = 0.7
    np.testing.assert_allclose(_pair(tab, jnp.asarray(rc - 1e-10)), 0.0, atol=1e-8)
    np.testing.assert_allclose(_dpair(tab, jnp.asarray(rc - 1e-10)), 0.0, atol=1e-6)
    # linear continuation below r_min: continuous value and slope
    lo, hi = jnp.asarray(0.3 - 1e-9), jnp.asarray(0.3 + 1e-9)
    np.testing.assert_allclose(_pair(tab, lo), _pair(tab, hi), rtol=1e-6)
    np.testing.assert_allclose(_dpair(tab, lo), _dpair(tab, hi), rtol=1e-5)


def test_neural_pair_vanishes_smoothly_at_cutoff():
    nn = NeuralPair(CUT, jax.random.key(0), width=8, depth=2)
    rc = 0.7
    np.testing.assert_allclose(_pair(nn, jnp.asarray(rc - 1e-9)), 0.0, atol=1e-12)
    np.testing.assert_allclose(_dpair(nn, jnp.asarray(rc - 1e-9)), 0.0, atol=1e-9)


def test_freeze_parameters_with_filter(rng):
    """The module docstring's recipe: fit ε only, σ frozen."""
    pos, system = _config(rng, n_species=1)
    lj = LennardJones(Quantity(3.4, "angstrom"), Quantity(0.996, "kJ/mol"), CUT)
    spec = jax.tree.map(lambda _: False, lj)
    spec = eqx.tree_at(lambda p: p.epsilon, spec, True)
    params, static = eqx.partition(lj, spec)
    grads = eqx.filter_jit(jax.grad(lambda p: eqx.combine(p, static).energy(pos, system)))(params)
    assert grads.sigma is None
    # U is linear in ε: dU/dε = U/ε
    np.testing.assert_allclose(grads.epsilon, _energy(lj, pos, system) / lj.epsilon, rtol=1e-12)


def test_triclinic_description_equals_orthorhombic(rng):
    """A cube of edge L is the same lattice as the cell a=(L,0,0), b=(L,L,0), c=(0,0,L);
    re-wrapping the positions into the sheared cell leaves every energy unchanged, with and
    without neighbour lists."""
    pos, system = _config(rng, n_side=4, spacing=0.5)
    L = 2.0
    cell = jnp.asarray([[L, 0, 0], [L, L, 0], [0, 0, L]], dtype=jnp.float64)
    s = pos @ jnp.linalg.inv(cell)
    wrapped = (s - jnp.floor(s)) @ cell
    tri = eqx.tree_at(lambda x: x.box, system, cell)
    pots = _potentials()
    for name in ("lj_mixed",):
        pot = pots[name]
        e_ortho = _energy(pot, pos, system)
        np.testing.assert_allclose(_energy(pot, wrapped, tri), e_ortho, rtol=1e-11)
        nbrs = _neighbors(pot, wrapped, tri)
        np.testing.assert_allclose(_energy(pot, wrapped, tri, nbrs), e_ortho, rtol=1e-11)


def test_minimum_image_and_neighbor_pairs_padding(rng):
    box = jnp.asarray([1.0, 2.0, 3.0])
    dr = jnp.asarray([[0.9, -1.2, 1.4], [0.4, 0.9, -1.6]])
    np.testing.assert_allclose(
        minimum_image(dr, box), [[-0.1, 0.8, 1.4], [0.4, 0.9, 1.4]], atol=1e-12
    )
    pos, system = _config(rng)
    dr, mask, idx = jax.jit(neighbor_pairs)(pos, system, None)
    assert dr.shape == (27, 27, 3) and not bool(jnp.any(jnp.diagonal(mask)))


def test_switched_truncation_is_twice_continuously_differentiable():
    """`Switched(w)`: equal to the shifted LJ below r_c − w; value, slope and curvature go to
    zero at r_c and stay continuous at r_c − w. `ForceShifted` is only C¹ (its curvature
    jumps at r_c), the reason long NVE runs drift with it."""
    sigma, eps = Quantity(0.34, "nm"), Quantity(1.0, "kJ/mol")
    sw = LennardJones(sigma, eps, CUT, truncation=Switched(Quantity(0.1, "nm")))
    plain = LennardJones(sigma, eps, CUT)
    fs = LennardJones(sigma, eps, CUT, truncation=ForceShifted())
    rc, r_on = 0.7, 0.6
    below = jnp.linspace(0.3, r_on - 1e-6, 25)
    np.testing.assert_allclose(_pair(sw, below), _pair(plain, below), rtol=1e-12)
    u = sw.pair_energy
    d1, d2 = jax.grad(u), jax.grad(jax.grad(u))
    for f, scale in ((u, 1e-12), (d1, 1e-9), (d2, 1e-6)):
        assert abs(float(f(jnp.asarray(rc - 1e-7)))) < scale, f
    for f in (d1, d2):
        left, right = f(jnp.asarray(r_on - 1e-7)), f(jnp.asarray(r_on + 1e-7))
        np.testing.assert_allclose(left, right, rtol=1e-4)
    assert abs(float(jax.grad(jax.grad(fs.pair_energy))(jnp.asarray(rc - 1e-7)))) > 1e-2
    with pytest.raises(ValueError, match="positive"):
        Switched(Quantity(0.0, "nm"))
    with pytest.raises(UnitError):
        Switched(0.1)
    too_wide = LennardJones(sigma, eps, CUT, truncation=Switched(Quantity(0.8, "nm")))
    with pytest.raises(ValueError, match="smaller than the cutoff"):
        too_wide.pair_energy(jnp.asarray(0.5))


def test_dsf_switch_is_twice_continuously_differentiable():
    """Two opposite unit charges: with `switch_width` the DSF energy's curvature goes to zero
    at R_c (without it, it jumps); below R_c − w nothing changes."""
    system = System(
        box=None,
        species=jnp.zeros(2, jnp.int32),
        masses=jnp.ones(2),
        charges=jnp.asarray([1.0, -1.0]),
    )
    alpha, rc = Quantity(2.0, "1/nm"), Quantity(0.6, "nm")
    plain = DampedShiftedForce(alpha, rc)
    switched = DampedShiftedForce(alpha, rc, switch_width=Quantity(0.1, "nm"))

    def energy(model, r):
        pos = jnp.stack([jnp.zeros(3), jnp.stack([r, 0.0, 0.0])])
        return model.energy(pos, system, None)

    for model, curvature_at_rc in ((plain, "jumps"), (switched, "vanishes")):
        d2 = jax.grad(jax.grad(lambda r, m=model: energy(m, r)))
        value = abs(float(d2(jnp.asarray(0.6 - 1e-7))))
        assert (value < 1e-5) == (curvature_at_rc == "vanishes"), (curvature_at_rc, value)
    r = jnp.asarray(0.45)
    np.testing.assert_allclose(energy(switched, r), energy(plain, r), rtol=1e-12)
    with pytest.raises(ValueError, match="switch_width"):
        DampedShiftedForce(alpha, rc, switch_width=Quantity(0.7, "nm"))


def test_potential_modules_import_without_cycles():
    """No module of spectrinv.potentials imports the package (or another module) back."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("spectrinv")
    package = "spectrinv.potentials"
    for a in sorted(graph.find_descendants(package)):
        for b in graph.find_modules_directly_imported_by(a):
            if b == package or b.startswith(package + "."):
                assert not graph.chain_exists(importer=b, imported=a), f"{a} <-> {b}"
