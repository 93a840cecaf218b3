"""Static elastic constants by autodiff: closed forms, symmetry, relaxation, gradients."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from observables import Quantity, UnitError
from spectrinv.backends._neighbors import jaxmd_context as _jaxmd_context
from spectrinv.mechanics import (
    GPA_PER_INTERNAL,
    cubic_constants,
    elastic_constants,
    elastic_constants_internal,
    strain_hessian,
)
from spectrinv.mechanics._elastic import _strained_energy
from spectrinv.potentials import Morse, StillingerWeber, System, diamond_lattice, fcc_lattice

with _jaxmd_context():  # jax-md is written for standard promotion
    from jax_md import partition, space

# ---------------------------------------------------------------- pair potential, fcc
A_FCC = 0.5  # nm, cubic lattice constant
D, ALPHA = 1.0, 20.0  # kJ/mol, 1/nm


def _fcc(cells=2):
    pos, system = fcc_lattice(cells, Quantity(4.0 / A_FCC**3, "1/nm**3"), Quantity(40.0, "Da"))
    return pos, system


def _morse(r0):
    # cutoff between the first (a/√2) and second (a) neighbour shells: 12 springs per atom
    return Morse(
        Quantity(D, "kJ/mol"),
        Quantity(ALPHA, "1/nm"),
        Quantity(r0, "nm"),
        Quantity(0.85 * A_FCC, "nm"),
    )


def _nn_vectors(a):
    """The 12 nearest-neighbour vectors of fcc, (a/2)(±1, ±1, 0) and permutations."""
    out = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        for si, sj in itertools.product((1, -1), repeat=2):
            v = np.zeros(3)
            v[i], v[j] = si * a / 2, sj * a / 2
            out.append(v)
    return np.array(out)


_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def test_fcc_nearest_neighbour_springs_closed_form():
    """Stress-free fcc with nearest-neighbour springs k = φ''(r₀) = 2Dα²: C11 = 2k/a,
    C12 = C44 = k/a (per atom ½Σ_n ½k(r̂·η·r)² over 12 neighbours, volume a³/4)."""
    pos, system = _fcc()
    pot = _morse(A_FCC / np.sqrt(2.0))
    k = 2 * D * ALPHA**2
    expected = np.zeros((6, 6))
    expected[:3, :3] = k / A_FCC
    expected[np.arange(3), np.arange(3)] = 2 * k / A_FCC
    expected[np.arange(3, 6), np.arange(3, 6)] = k / A_FCC
    c = elastic_constants(pot, pos, system)  # relaxed = unrelaxed for a Bravais lattice
    assert c.units == Quantity(1.0, "GPa").units
    np.testing.assert_allclose(
        c.m_as("GPa") / GPA_PER_INTERNAL, expected, rtol=1e-10, atol=1e-9 * k
    )


def test_stressed_pair_lattice_matches_lattice_sum():
    """Compressed fcc (r_nn = 0.95 r₀, σ ≠ 0): Lagrangian constants of a pair potential are
    C_ijkl = (1/2Ω) Σ_n (φ'' − φ'/r) r_i r_j r_k r_l / r², stress σ_ij = (1/2Ω) Σ_n φ' r_i r_j / r
    (exact with |r'|² = r² + 2 r·η·r). Tests the −φ'/r term, i.e. the Lagrangian strain."""
    pos, system = _fcc()
    r_nn = A_FCC / np.sqrt(2.0)
    r0 = r_nn / 0.95
    pot = _morse(r0)
    e = np.exp(-ALPHA * (r_nn - r0))
    d1 = 2 * D * ALPHA * e * (1 - e)
    d2 = 2 * D * ALPHA**2 * e * (2 * e - 1)
    omega = A_FCC**3 / 4
    vec = _nn_vectors(A_FCC)
    c4 = (
        np.einsum("ni,nj,nk,nl->ijkl", vec, vec, vec, vec)
        * (d2 - d1 / r_nn)
        / r_nn**2
        / (2 * omega)
    )
    sig = np.einsum("ni,nj->ij", vec, vec) * d1 / r_nn / (2 * omega)
    expected = np.array([[c4[i, j, k, m] for (k, m) in _VOIGT] for (i, j) in _VOIGT])
    h = strain_hessian(pot, jnp.asarray(pos.m_as("nm")), system)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(h.unrelaxed(), expected, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(h.relaxed(), expected, rtol=1e-10, atol=1e-10 * scale)  # Bravais
    np.testing.assert_allclose(
        h.stress, [sig[i, j] for (i, j) in _VOIGT], rtol=1e-10, atol=1e-10 * scale
    )
    assert abs(d1) > 1e-2 * abs(d2) * r_nn  # the stress term is really exercised
    assert float(np.abs(h.forces).max()) < 1e-9


# ---------------------------------------------------------------- Stillinger–Weber diamond
@pytest.fixture(scope="module")
def sw():
    return StillingerWeber(cutoff_margin=0.0)  # true range a·σ, so the 8-atom cell is exact


@pytest.fixture(scope="module")
def cell1(sw):
    pos, system = diamond_lattice(1)
    return pos, system, strain_hessian(sw, pos, system)


def _cubic_pattern_error(c):
    c11, c12, c44 = cubic_constants(np.asarray(c))
    ideal = np.zeros((6, 6))
    ideal[:3, :3] = c12
    ideal[np.arange(3), np.arange(3)] = c11
    ideal[np.arange(3, 6), np.arange(3, 6)] = c44
    return np.abs(np.asarray(c) - ideal).max() / c11


def test_diamond_sw_symmetric_cubic_and_relaxation_only_softens_c44(cell1):
    _, _, h = cell1
    c0, c = np.asarray(h.unrelaxed()), np.asarray(h.relaxed())
    for m in (c0, c):
        np.testing.assert_allclose(m, m.T, rtol=0, atol=1e-12 * np.abs(m).max())
        assert _cubic_pattern_error(m) < 1e-12
    c11_0, c12_0, c44_0 = cubic_constants(c0)
    c11, c12, c44 = cubic_constants(c)
    # internal strain only under shear in diamond: C11, C12 untouched, C44 strictly lower
    assert c11 == pytest.approx(c11_0, rel=1e-12)
    assert c12 == pytest.approx(c12_0, rel=1e-12)
    assert c44 < 0.7 * c44_0
    # the internal strain is a relative shift of the two fcc sublattices under shear only
    u = np.asarray(h.internal_strain())  # [atom, 3, 6]
    assert np.abs(u[:, :, :3]).max() < 1e-12
    assert np.abs(u[:, :, 3:]).max() > 1e-3
    # published values for the original SW parameters (Balamane, Halicioglu & Tiller,
    # Phys. Rev. B 46, 2250 (1992)): 151.4, 76.4, 56.4 GPa
    gpa = np.array([c11, c12, c44]) * GPA_PER_INTERNAL
    np.testing.assert_allclose(gpa, [151.4, 76.4, 56.4], rtol=2e-3)


def test_relaxed_c44_matches_explicit_relaxation_under_finite_shear(sw, cell1):
    """Kleinman's formula vs straining by ±δ, minimising U over all atoms (scipy BFGS),
    and a second difference of the energy."""
    pos, system, h = cell1
    n = pos.shape[0]
    delta = 1e-3

    @jax.jit
    def value_and_grad(u_flat, v):
        return jax.value_and_grad(
            lambda x: _strained_energy(sw, pos, system, None, v, x.reshape(n, 3))
        )(u_flat)

    def energy(shear, relaxed):
        v = jnp.zeros(6).at[3].set(shear)
        u0 = np.zeros(3 * n)
        if not relaxed:
            return float(value_and_grad(jnp.asarray(u0), v)[0])

        def fun(x):
            e, g = value_and_grad(jnp.asarray(x), v)
            return float(e), np.asarray(g)

        res = scipy.optimize.minimize(fun, u0, jac=True, method="BFGS", options={"gtol": 1e-9})
        assert np.abs(res.jac).max() < 1e-5  # kJ/mol/nm; energy error ~ g²/k ≈ 1e-14
        return res.fun

    volume = float(h.volume)
    for relaxed, ref in ((False, h.unrelaxed()), (True, h.relaxed())):
        e0 = energy(0.0, relaxed)
        d2 = (energy(delta, relaxed) + energy(-delta, relaxed) - 2 * e0) / delta**2 / volume
        assert d2 == pytest.approx(float(ref[3, 3]), rel=1e-4)


def _dense_neighbors(pos, system, cutoff):
    with _jaxmd_context():
        disp, _ = space.periodic(system.box)
        return partition.neighbor_list(
            disp, system.box, cutoff, capacity_multiplier=1.25, format=partition.Dense
        ).allocate(pos)


def test_independent_of_cell_size(sw, cell1):
    """8-atom conventional cell vs the 2×2×2 (64-atom) supercell through a neighbour list."""
    _, _, h1 = cell1
    pos2, system2 = diamond_lattice(2)
    nbr = _dense_neighbors(pos2, system2, sw.cutoff)
    h2 = strain_hessian(sw, pos2, system2, nbr)
    scale = float(h1.unrelaxed()[0, 0])
    np.testing.assert_allclose(h2.unrelaxed(), h1.unrelaxed(), rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(h2.relaxed(), h1.relaxed(), rtol=0, atol=1e-10 * scale)


def test_parameter_gradients_match_finite_differences(sw, cell1):
    """d(C11, C12, C44 relaxed)/dθ for all 7 SW leaves (forward mode) vs central differences."""
    pos, system, _ = cell1
    params, static = eqx.partition(sw, eqx.is_inexact_array)

    def constants(p):
        c = elastic_constants_internal(eqx.combine(p, static), pos, system)
        return jnp.stack(cubic_constants(c))

    jac = jax.jit(jax.jacfwd(constants))(params)
    names = ("epsilon", "sigma", "a", "lam", "gamma", "A", "B")
    c_ref = np.asarray(constants(params))
    for name in names:
        theta = float(getattr(params, name))
        step = 1e-5 * abs(theta)

        def shifted(s, name=name, theta=theta):
            return eqx.tree_at(
                lambda p: getattr(p, name), params, jnp.asarray(theta + s, dtype=jnp.float64)
            )

        fd = (np.asarray(constants(shifted(step))) - np.asarray(constants(shifted(-step)))) / (
            2 * step
        )
        ad = np.asarray(getattr(jac, name))
        # relative to the sensitivity scale |C|/|θ| so that near-zero entries are compared fairly
        err = np.abs(ad - fd) / np.maximum(np.abs(fd), 1e-3 * np.abs(c_ref) / abs(theta))
        assert err.max() < 1e-5, (name, ad, fd)


# ---------------------------------------------------------------- units and bad input
def test_units_and_public_wrapper(sw, cell1):
    pos, system, h = cell1
    # 1 kJ/mol/nm³ = 1e3 J / N_A / 1e-27 m³ (exact SI N_A)
    assert GPA_PER_INTERNAL == pytest.approx(1e3 / 6.02214076e23 / 1e-27 / 1e9, rel=1e-12)
    c = elastic_constants(sw, Quantity(np.asarray(pos) * 10, "angstrom"), system)
    np.testing.assert_allclose(
        c.m_as("GPa"), np.asarray(h.relaxed()) * GPA_PER_INTERNAL, rtol=1e-10, atol=1e-8
    )
    c11, c12, c44 = cubic_constants(c)
    assert c44.m_as("GPa") == pytest.approx(float(c.m_as("GPa")[3, 3]))
    assert cubic_constants(c.m_as("GPa"))[0] == pytest.approx(c11.m_as("GPa"))
    # the strain-only path (relax=False) against the full Hessian's strain block
    c0 = elastic_constants(sw, pos, system, relax=False)
    np.testing.assert_allclose(
        c0.m_as("GPa"), np.asarray(h.unrelaxed()) * GPA_PER_INTERNAL, rtol=1e-10, atol=1e-8
    )


def test_bad_input(sw):
    pos, system = diamond_lattice(1)
    with pytest.raises(ValueError, match="too small for the minimum-image.*diamond_lattice\\(2\\)"):
        elastic_constants(StillingerWeber(), pos, system)  # default 5 % cutoff margin
    with pytest.raises(ValueError, match="periodic"):
        elastic_constants(sw, pos, System(box=None, species=system.species, masses=system.masses))
    with pytest.raises(UnitError):
        elastic_constants(sw, Quantity(np.asarray(pos), "ps"), system)
    with pytest.raises(ValueError, match="7 atoms but the system has 8"):
        elastic_constants(sw, pos[:7], system)
    shaken = pos.at[3, 0].add(0.002)  # small enough to keep the images unambiguous
    with pytest.raises(ValueError, match="not an equilibrium.*relax=False"):
        elastic_constants(sw, shaken, system)
    assert np.isfinite(elastic_constants(sw, shaken, system, relax=False).m_as("GPa")).all()
    with pytest.raises(ValueError, match="6, 6"):
        cubic_constants(np.zeros((3, 3)))
