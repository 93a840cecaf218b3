"""Harmonic lattice dynamics: agreement with phonopy (finite displacements driven by the
package's own forces), an analytic spring model, sum rules, parameter gradients, bad input."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.mechanics import (
    CM1_PER_THZ,
    band_path,
    force_constants,
    phonon_bands,
    phonon_dos,
    phonon_frequencies,
    q_mesh,
)
from spectrinv.potentials import Morse, StillingerWeber, System, diamond_lattice

phonopy = pytest.importorskip("phonopy")
from phonopy.structure.atoms import PhonopyAtoms  # noqa: E402

A_SI = 0.5431  # nm
FCC_PRIMITIVE = 0.5 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
SUPERCELL = (3, 3, 3)
#: eV/Å per kJ mol⁻¹ nm⁻¹ (per particle)
EV_A_PER_INTERNAL = float((Quantity(1.0, "kJ/mol/nm") / Quantity(1.0, "N_A")).m_as("eV/angstrom"))


def _silicon_primitive():
    cell = FCC_PRIMITIVE * A_SI
    frac = np.array([[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])
    system = System(
        box=jnp.asarray(cell),
        species=jnp.zeros(2, dtype=jnp.int32),
        masses=jnp.full(2, 28.0855),
        species_names=("Si",),
    )
    return frac @ cell, frac, system


@pytest.fixture(scope="module")
def silicon():
    pos, frac, system = _silicon_primitive()
    sw = StillingerWeber()
    return sw, pos, frac, system, force_constants(sw, pos, system, SUPERCELL)


def _phonopy_frequencies(sw, frac, system, qs):
    """THz from phonopy's own finite displacements (±0.001 Å), forces from `sw`."""
    cell = np.asarray(system.box)
    unit = PhonopyAtoms(
        symbols=["Si", "Si"], cell=cell * 10.0, scaled_positions=frac, masses=[28.0855] * 2
    )
    ph = phonopy.Phonopy(unit, supercell_matrix=np.diag(SUPERCELL))
    ph.generate_displacements(distance=0.001, is_plusminus=True)
    n = 2 * int(np.prod(SUPERCELL))
    big = System(box=None, species=jnp.zeros(n, dtype=jnp.int32), masses=jnp.full(n, 28.0855))

    @jax.jit
    def forces(x, box):
        return -jax.grad(sw.energy)(x, System(box=box, species=big.species, masses=big.masses))

    ph.forces = np.array(
        [
            np.asarray(forces(jnp.asarray(s.positions / 10.0), jnp.asarray(s.cell / 10.0)))
            * EV_A_PER_INTERNAL
            for s in ph.supercells_with_displacements
        ]
    )
    ph.produce_force_constants()
    ph.run_qpoints(qs)
    return ph.qpoints.frequencies


def test_stillinger_weber_matches_phonopy_on_band_path_and_mesh(silicon):
    sw, pos, frac, system, fc = silicon
    path = band_path(pos, system)
    names = [name for _, name in path.labels]
    assert {"Γ", "X", "L", "K", "W"} <= set(names)
    qs = np.concatenate([path.q, q_mesh((4, 4, 4))])
    ref = _phonopy_frequencies(sw, frac, system, qs)
    ours = phonon_frequencies(fc, qs).m_as("THz")
    assert ours.shape == ref.shape == (len(qs), 6)
    soft = np.abs(ref) < 0.5  # the acoustic branches next to Γ: compare absolutely
    assert soft.sum() < 0.05 * soft.size
    np.testing.assert_allclose(ours[~soft], ref[~soft], rtol=1e-4)
    np.testing.assert_allclose(ours[soft], ref[soft], atol=1e-4)
    # path and q-point conventions: the point labelled X is X = (1/2, 0, 1/2) of this cell
    ix = dict((name, i) for i, name in path.labels)["X"]
    np.testing.assert_allclose(
        np.sort(np.mod(path.q[ix], 1.0)), [0.0, 0.5, 0.5], atol=1e-12
    )  # any X of the star (cubic symmetry)


def test_acoustic_sum_rule_units_and_dos_normalisation(silicon):
    _, _, _, _, fc = silicon
    gamma = phonon_frequencies(fc, [0.0, 0.0, 0.0])
    assert np.all(np.abs(gamma.m_as("THz")[:3]) < 1e-5)  # three translations
    assert np.ptp(gamma.m_as("THz")[3:]) < 1e-8  # the triply degenerate optical mode
    cm = phonon_frequencies(fc, [0.0, 0.0, 0.0], unit="1/cm")
    np.testing.assert_allclose(cm.m, gamma.m_as("THz") * CM1_PER_THZ)
    assert CM1_PER_THZ == pytest.approx(1e10 / 299792458.0, rel=1e-12)
    grid = Quantity(np.linspace(-2.0, 22.0, 2401), "THz")
    g = phonon_dos(fc, grid, width=Quantity(0.2, "THz"), mesh=(6, 6, 6))
    integral = np.trapezoid(g.m_as("1/THz"), grid.m_as("THz"))
    assert integral == pytest.approx(6.0, rel=1e-6)  # 3 branches per atom, 2 atoms


def test_parameter_gradients_match_finite_differences(silicon):
    sw, pos, _, system, _ = silicon
    qs = jnp.asarray([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.5, 0.5, 0.5], [0.1, 0.2, 0.3]])
    target = jnp.asarray([0.0, 0.0, 0.0, 1.2e4, 1.2e4, 1.2e4])  # degenerate at Γ

    def loss(lam, sigma):
        model = eqx.tree_at(lambda m: (m.lam, m.sigma), sw, (lam, sigma))
        w2 = force_constants(model, pos, system, SUPERCELL).squared_frequencies(qs)
        return jnp.sum((w2[0] - target) ** 2) * 1e-8 + jnp.sum(w2[1:, 3:]) * 1e-4

    lam, sigma = jnp.asarray(21.0), jnp.asarray(0.20951)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))(lam, sigma)  # the potential traced in jit
    loss = jax.jit(loss)
    for k, (x, h) in enumerate(((lam, 1e-3), (sigma, 1e-6))):
        args_p = [lam, sigma]
        args_m = [lam, sigma]
        args_p[k] = x + h
        args_m[k] = x - h
        fd = (float(loss(*args_p)) - float(loss(*args_m))) / (2 * h)
        assert float(grad[k]) == pytest.approx(fd, rel=1e-5)
        assert abs(fd) > 1e-3  # the check is not vacuous


def test_fcc_springs_match_closed_form():
    """Nearest-neighbour central springs k on fcc: D(q) = (k/m) Σ_R (1 − cos q·R) R̂R̂ᵀ."""
    a, d, alpha, mass = 0.5, 1.0, 20.0, 40.0
    r0 = a / np.sqrt(2.0)  # equilibrium at the neighbour distance: no tension
    morse = Morse(
        Quantity(d, "kJ/mol"), Quantity(alpha, "1/nm"), Quantity(r0, "nm"),
        Quantity(0.85 * a, "nm"),
    )  # fmt: skip
    system = System(
        box=jnp.asarray(FCC_PRIMITIVE * a),
        species=jnp.zeros(1, dtype=jnp.int32),
        masses=jnp.full(1, mass),
    )
    fc = force_constants(morse, jnp.zeros((1, 3)), system, (4, 4, 4))
    k = 2.0 * d * alpha**2  # U''(r0) of the Morse well
    rng = np.random.default_rng(3)
    qs = np.concatenate([[[0.5, 0.0, 0.5], [0.5, 0.5, 0.5]], rng.uniform(-0.5, 0.5, (6, 3))])
    neighbours = [
        np.roll(np.array([0.0, s1, s2]), r) * a / 2
        for s1, s2 in itertools.product((1.0, -1.0), repeat=2)
        for r in range(3)
    ]
    recip = 2.0 * np.pi * np.linalg.inv(FCC_PRIMITIVE * a).T
    for q in qs:
        qc = recip @ q
        dm = sum((1 - np.cos(qc @ v)) * np.outer(v, v) / (v @ v) for v in neighbours) * k / mass
        expect = np.sort(np.linalg.eigvalsh(dm))
        np.testing.assert_allclose(fc.squared_frequencies(q), expect, rtol=1e-10, atol=1e-8)


def test_bad_input(silicon):
    sw, pos, _, system, fc = silicon
    flat = System(box=None, species=system.species, masses=system.masses)
    with pytest.raises(ValueError, match="periodic crystal: system.box is None"):
        force_constants(sw, pos, flat)
    too_small = r"supercell \(1, 1, 1\) is too small.*supercell=\(3, 3, 3\)"
    with pytest.raises(ValueError, match=too_small):
        force_constants(sw, pos, system, (1, 1, 1))
    with pytest.raises(ValueError, match="three positive integers"):
        force_constants(sw, pos, system, (3, 0, 3))
    with pytest.raises(TypeError, match="concrete positions"):
        jax.jit(lambda p: force_constants(sw, p, system).phi)(jnp.asarray(pos))
    with pytest.raises(ValueError, match=r"shape \[3\] or \[\.\.\., 3\].*\(2,\)"):
        phonon_frequencies(fc, [0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        phonon_frequencies(fc, [0.5, np.nan, 0.0])
    with pytest.raises(TypeError, match="reduced coordinates.*Quantity"):
        phonon_frequencies(fc, Quantity([1.0, 0.0, 0.0], "1/nm"))
    with pytest.raises(ValueError, match="periodic"):
        band_path(pos, flat)
    with pytest.raises(ValueError, match="mesh must be three positive integers"):
        phonon_dos(fc, Quantity([1.0], "THz"), mesh=(4, 4))
    assert phonon_bands(fc, band_path(pos, system)).check("[frequency]")


@pytest.mark.slow
def test_conventional_cell_folds_the_primitive_bands(silicon):
    """The 8-atom cubic cell at a wavevector k has the 24 frequencies of the primitive cell
    at k + G for the four fcc reciprocal vectors G that the cubic cell folds onto k."""
    sw, _, _, _, fc = silicon
    cpos, csys = diamond_lattice(1)
    fc_cubic = force_constants(sw, cpos, csys, (2, 2, 2))
    cell = FCC_PRIMITIVE * A_SI
    for q_cubic in ([0.0, 0.0, 0.0], [0.13, 0.07, 0.21], [0.5, 0.25, 0.0]):
        k = np.asarray(q_cubic) / A_SI  # Cartesian wavevector / 2π, 1/nm
        folded = [cell @ (k + np.asarray(g) / A_SI) for g in np.r_[[np.zeros(3)], np.eye(3)]]
        expect = np.sort(phonon_frequencies(fc, folded).m_as("THz").ravel())
        got = phonon_frequencies(fc_cubic, q_cubic).m_as("THz")
        np.testing.assert_allclose(got, expect, atol=1e-6)
