"""`ParticleMeshEwald` against `Ewald` (same α, the same real-space/self/exclusion terms,
Ewald's k-space converged) on liquid SPC/Fw water: energy and forces to 1e-5 relative with
`from_accuracy(1e-5)`; convergence with the grid; a triclinic cell; the B-spline weights
against the closed-form cubic B-spline; the water model with PME; bad input."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.potentials import Ewald, ParticleMeshEwald, spc_fw, water_system
from spectrinv.potentials._pme import bspline_weights

WATER = Path(__file__).resolve().parents[1] / "data" / "examples" / "water_spcfw.npz"
CUTOFF = 0.55  # nm; the example box is 1.129 nm


@pytest.fixture(scope="module")
def water():
    """The last frame of the bundled liquid SPC/Fw trajectory (48 molecules, 298 K)."""
    with np.load(WATER) as d:
        pos = jnp.asarray(d["positions"][-1], float)
        box = np.asarray(d["box"], float)
    return pos, water_system(48, Quantity(box, "nm"))


def _energy_forces(pot, pos, system):
    e, g = jax.jit(jax.value_and_grad(lambda r: pot.energy(r, system, None)))(pos)
    return float(e), -np.asarray(g)


def _reference(alpha, box):
    """Ewald at `alpha` with k-space well beyond its 1e-5 truncation (kmax + 6)."""
    kmax = Ewald.from_accuracy(Quantity(CUTOFF, "nm"), Quantity(box, "nm"), 1e-5).kmax
    return Ewald(Quantity(alpha, "1/nm"), Quantity(CUTOFF, "nm"), tuple(k + 6 for k in kmax))


def _errors(got, want):
    (e1, f1), (e2, f2) = got, want
    return abs(e1 - e2) / abs(e2), np.max(np.abs(f1 - f2)) / np.max(np.abs(f2))


def test_equals_ewald_to_1e5(water):
    pos, system = water
    box = np.asarray(system.box)
    pme = ParticleMeshEwald.from_accuracy(Quantity(CUTOFF, "nm"), Quantity(box, "nm"), 1e-5)
    assert pme.grid == (30, 30, 30) and pme.order == 6
    want = _energy_forces(_reference(pme.alpha, box), pos, system)
    assert want[0] < -2000  # liquid water: ≈ -57 kJ/mol per molecule of electrostatics
    de, df = _errors(_energy_forces(pme, pos, system), want)
    assert de < 1e-5 and df < 1e-5, (de, df)
    # and the error is not trivially small: a coarse grid is visibly worse
    coarse = ParticleMeshEwald(Quantity(pme.alpha, "1/nm"), Quantity(CUTOFF, "nm"), 16)
    de16, df16 = _errors(_energy_forces(coarse, pos, system), want)
    assert df16 > 10 * df


@pytest.mark.slow
def test_converges_with_the_grid_as_h_to_the_order(water):
    """Order 8: the force error falls by ≈ (K₂/K₁)⁸ when the grid is refined."""
    pos, system = water
    box = np.asarray(system.box)
    alpha = Ewald.from_accuracy(Quantity(CUTOFF, "nm"), Quantity(box, "nm"), 1e-5).alpha
    want = _energy_forces(_reference(alpha, box), pos, system)
    errs = []
    for k in (20, 30):
        pme = ParticleMeshEwald(Quantity(alpha, "1/nm"), Quantity(CUTOFF, "nm"), k, order=8)
        errs.append(_errors(_energy_forces(pme, pos, system), want)[1])
    slope = np.log(errs[0] / errs[1]) / np.log(30 / 20)
    assert 6.5 < slope < 10.0, (errs, slope)


@pytest.mark.slow
def test_triclinic_cell(water):
    """The same molecules in a sheared (reduced triclinic) cell: PME equals Ewald."""
    pos, _ = water
    edge = float(np.asarray(water_system(48, Quantity([1.129] * 3, "nm")).box)[0])
    cell = np.array([[edge, 0, 0], [0.3 * edge, edge, 0], [-0.2 * edge, 0.25 * edge, edge]])
    system = water_system(48, Quantity(cell, "nm"))
    pme = ParticleMeshEwald.from_accuracy(Quantity(0.45, "nm"), Quantity(cell, "nm"), 1e-5)
    ewald = Ewald.from_accuracy(Quantity(0.45, "nm"), Quantity(cell, "nm"), 1e-5)
    ref = Ewald(Quantity(pme.alpha, "1/nm"), Quantity(0.45, "nm"), tuple(k + 6 for k in ewald.kmax))
    de, df = _errors(_energy_forces(pme, pos, system), _energy_forces(ref, pos, system))
    assert de < 1e-5 and df < 1e-5, (de, df)


def test_cubic_bspline_weights():
    """Order 4 against the closed-form cubic B-spline M_4 on [0, 4]; every order is a
    partition of unity."""
    w = jnp.linspace(0.0, 0.999, 7)

    def m4(x):
        return np.select(
            [x < 1, x < 2, x < 3, x < 4],
            [
                x**3 / 6,
                (-3 * x**3 + 12 * x**2 - 12 * x + 4) / 6,
                (3 * x**3 - 24 * x**2 + 60 * x - 44) / 6,
                (4 - x) ** 3 / 6,
            ],
            0.0,
        )

    want = np.stack([m4(np.asarray(w) + j) for j in range(4)], -1)
    np.testing.assert_allclose(bspline_weights(w, 4), want, rtol=1e-13, atol=1e-15)
    for order in (4, 6, 8):
        np.testing.assert_allclose(jnp.sum(bspline_weights(w, order), -1), 1.0, rtol=1e-13)


@pytest.mark.slow
def test_flexible_water_with_pme(water):
    """SPC/Fw with PME and with Ewald (same α): total energies agree to 1e-5."""
    pos, system = water
    box = np.asarray(system.box)
    pme = ParticleMeshEwald.from_accuracy(Quantity(CUTOFF, "nm"), Quantity(box, "nm"), 1e-5)
    e_pme = float(spc_fw(electrostatics=pme).energy(pos, system, None))
    e_ew = float(spc_fw(electrostatics=_reference(pme.alpha, box)).energy(pos, system, None))
    assert e_pme == pytest.approx(e_ew, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(grid=(16, 16)), "grid must be an int or 3 ints"),
        (dict(order=5), "order must be an even int"),
        (dict(grid=4, order=6), "at least order"),
        (dict(alpha=3.0), "alpha"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(alpha=Quantity(3.0, "1/nm"), cutoff=Quantity(0.9, "nm"), grid=32, order=6)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        ParticleMeshEwald(**args)
    assert "\n" not in str(info.value)


def test_needs_a_box(water):
    pos, system = water
    open_system = water_system(48, None)
    pme = ParticleMeshEwald(Quantity(6.0, "1/nm"), Quantity(CUTOFF, "nm"), 30)
    with pytest.raises(ValueError, match="needs a periodic box"):
        pme.energy(pos, open_system, None)
