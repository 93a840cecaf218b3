"""DipoleInducedDipole: analytic dimers, limits, invariances, gradients, units, jit/vmap."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from observables import Quantity, UnitError
from spectrinv.backends import Frame, Polarizability
from spectrinv.potentials import DipoleInducedDipole, System, Topology, water_box

ALPHA_WATER = Quantity([0.9, 0.4], "angstrom**3")  # illustrative O, H values, not fitted


def _system(species, molecule=None, box=None):
    species = np.asarray(species)
    n = len(species)
    topology = None
    if molecule is not None:
        empty = jnp.zeros((0, 2), int)
        topology = Topology(empty, jnp.zeros((0, 3), int), jnp.asarray(molecule), empty)
    return System(
        box=None if box is None else jnp.asarray(box, float),
        species=jnp.asarray(species),
        masses=jnp.ones(n),
        topology=topology,
    )


def _dimer_tensor(a1, a2, r, rot, thole_a=None):
    """Analytic two-atom polarizability, axis along rot @ z (nm³)."""
    if thole_a is None:
        l3 = l5 = 1.0
    else:
        x = thole_a * r**3 / np.sqrt(a1 * a2)
        l3 = -np.expm1(-x)
        l5 = l3 - x * np.exp(-x)
    t_par, t_perp = (3 * l5 - l3) / r**3, -l3 / r**3
    par = (a1 + a2 + 2 * a1 * a2 * t_par) / (1 - a1 * a2 * t_par**2)
    perp = (a1 + a2 + 2 * a1 * a2 * t_perp) / (1 - a1 * a2 * t_perp**2)
    return rot @ np.diag([perp, perp, par]) @ rot.T


def _dimer_positions(r, rot, centre=(0.3, -0.2, 0.5)):
    axis = rot[:, 2]
    return jnp.asarray(np.stack([np.asarray(centre), np.asarray(centre) + r * axis]))


@settings(max_examples=20)
@given(
    a1=st.floats(0.05, 0.5),
    a2=st.floats(0.05, 0.5),
    stretch=st.floats(1.3, 6.0),
    seed=st.integers(0, 2**16),
    mode=st.sampled_from(["all", "molecule"]),
)
def test_applequist_dimer(a1, a2, stretch, seed, mode):
    """α∥ = (α1+α2+4α1α2/r³)/(1−4α1α2/r⁶), α⊥ = (α1+α2−2α1α2/r³)/(1−α1α2/r⁶), rotated."""
    a1, a2 = a1 * 1e-3, a2 * 1e-3  # nm³
    r = stretch * (4 * a1 * a2) ** (1 / 6)  # beyond the polarization catastrophe
    rot = Rotation.random(random_state=seed).as_matrix()
    model = DipoleInducedDipole(Quantity([a1, a2], "nm**3"), interactions=mode)
    alpha = model(_dimer_positions(r, rot), _system([0, 1], molecule=[7, 7]))
    expected = _dimer_tensor(a1, a2, r, rot)
    par = (a1 + a2 + 4 * a1 * a2 / r**3) / (1 - 4 * a1 * a2 / r**6)
    perp = (a1 + a2 - 2 * a1 * a2 / r**3) / (1 - a1 * a2 / r**6)
    np.testing.assert_allclose(np.linalg.eigvalsh(expected), sorted([perp, perp, par]), rtol=1e-12)
    np.testing.assert_allclose(alpha, expected, rtol=1e-11, atol=1e-11 * par)


@settings(max_examples=20)
@given(
    a1=st.floats(0.2, 2.0),
    a2=st.floats(0.2, 2.0),
    u=st.floats(0.01, 4.0),
    thole_a=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_thole_dimer(a1, a2, u, thole_a, seed):
    """Damped dimer: T∥ = (3λ5 − λ3)/r³, T⊥ = −λ3/r³ in the dimer formula; a < 1 keeps it
    finite and positive down to r → 0 (documented)."""
    a1, a2 = a1 * 1e-3, a2 * 1e-3
    r = u * (a1 * a2) ** (1 / 6)
    rot = Rotation.random(random_state=seed).as_matrix()
    model = DipoleInducedDipole(Quantity([a1, a2], "nm**3"), thole_a, interactions="all")
    alpha = model(_dimer_positions(r, rot), _system([0, 1]))
    expected = _dimer_tensor(a1, a2, r, rot, thole_a)
    np.testing.assert_allclose(alpha, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    assert np.all(np.linalg.eigvalsh(np.asarray(alpha)) > 0)


def test_thole_tends_to_undamped_at_large_separation():
    alpha = Quantity([1.0, 0.5], "angstrom**3")
    rot = np.eye(3)
    system = _system([0, 1])
    undamped = DipoleInducedDipole(alpha, interactions="all")
    damped = DipoleInducedDipole(alpha, 0.4, interactions="all")
    gaps = []
    for r in [0.1, 0.2, 0.4, 0.8]:
        pos = _dimer_positions(r, rot)
        a0, a1 = undamped(pos, system), damped(pos, system)
        gaps.append(float(jnp.max(jnp.abs(a1 - a0)) / jnp.max(jnp.abs(a0))))
    assert all(g1 < g0 for g0, g1 in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-12 and gaps[0] > 1e-3


@pytest.mark.parametrize("mode", ["all", "molecule"])
@pytest.mark.parametrize("thole_a", [None, 0.5])
def test_single_atom_is_its_own_polarizability(mode, thole_a):
    model = DipoleInducedDipole(Quantity([0.3, 1.7], "angstrom**3"), thole_a, interactions=mode)
    alpha = model(jnp.array([[0.1, 0.2, 0.3]]), _system([1], molecule=[0], box=[2.0, 2.0, 2.0]))
    np.testing.assert_allclose(alpha, 1.7e-3 * np.eye(3), rtol=1e-14)


def _far_waters(n, spacing=60.0, seed=0):
    """n water molecules (O, H, H), centres `spacing` nm apart, no box."""
    pos, system = water_box(n, key=jax.random.PRNGKey(seed))
    mol = pos.reshape(n, 3, 3)
    shifts = spacing * jnp.arange(n, dtype=float)[:, None] * jnp.array([1.0, 0.7, 0.3])
    pos = (mol - mol[:, :1] + shifts[:, None, :]).reshape(-1, 3)
    return pos, eqx.tree_at(lambda s: s.box, system, None, is_leaf=lambda x: x is None)


@pytest.mark.parametrize("thole_a", [None, 0.5])
def test_far_apart_molecules_do_not_interact(thole_a):
    alpha = Quantity([0.5, 0.2], "angstrom**3") if thole_a is None else ALPHA_WATER
    pos, system = _far_waters(4)
    mol = DipoleInducedDipole(alpha, thole_a)
    per = mol.molecule_tensors(pos, system)
    assert per.shape == (4, 3, 3)
    one = eqx.tree_at(lambda s: s.topology.molecule, system, jnp.zeros(12, int))
    for m in range(4):
        alone = mol(pos[3 * m : 3 * m + 3], _system([0, 1, 1], molecule=[0, 0, 0]))
        np.testing.assert_allclose(per[m], alone, rtol=1e-13, atol=1e-18)
    total = mol(pos, system)
    np.testing.assert_allclose(total, jnp.sum(per, axis=0), rtol=1e-14)
    every = DipoleInducedDipole(alpha, thole_a, interactions="all")
    # intermolecular coupling Σ α_m T_mn α_n ~ α²/R³: relative 1e-8 here, 8× less at 2R
    gap = float(jnp.max(jnp.abs(every(pos, system) - total)))
    assert gap < 1e-6 * float(jnp.max(jnp.abs(total)))
    pos2, _ = _far_waters(4, spacing=120.0)
    gap2 = float(jnp.max(jnp.abs(every(pos2, system) - mol(pos2, system))))
    assert gap / gap2 == pytest.approx(8.0, rel=1e-3)
    # one molecule holding everything = all pairs
    np.testing.assert_allclose(mol(pos, one), every(pos, system), rtol=1e-13, atol=1e-18)
    # molecules interact when they are close: the far-apart limit is not trivial
    close, csys = water_box(4, key=jax.random.PRNGKey(0))
    csys = eqx.tree_at(lambda s: s.box, csys, None, is_leaf=lambda x: x is None)
    assert float(jnp.max(jnp.abs(every(close, csys) - mol(close, csys)))) > 1e-3 * float(
        jnp.max(jnp.abs(mol(close, csys)))
    )


# ------------------------------------------------------------------ hypothesis properties
def _waters(n, seed, box=True):
    pos, system = water_box(n, key=jax.random.PRNGKey(seed))
    noise = 0.004 * np.random.default_rng(seed).normal(size=pos.shape)
    pos = pos + jnp.asarray(noise)
    if not box:
        system = eqx.tree_at(lambda s: s.box, system, None, is_leaf=lambda x: x is None)
    return pos, system


_MODELS = {
    "molecule": DipoleInducedDipole(ALPHA_WATER, 0.5),
    "all": DipoleInducedDipole(ALPHA_WATER, 0.5, interactions="all"),
    "molecule-undamped": DipoleInducedDipole(Quantity([0.3, 0.1], "angstrom**3")),
}
_model_names = st.sampled_from(sorted(_MODELS))


@settings(max_examples=15)
@given(name=_model_names, seed=st.integers(0, 2**16))
def test_symmetric_and_rotation_covariant(name, seed):
    model = _MODELS[name]
    pos, system = _waters(4, seed, box=False)
    alpha = model(pos, system)
    np.testing.assert_allclose(alpha, alpha.T, atol=1e-14 * float(jnp.max(jnp.abs(alpha))))
    rot = Rotation.random(random_state=seed).as_matrix()
    centre = jnp.mean(pos, axis=0)
    rotated = model((pos - centre) @ jnp.asarray(rot).T + centre, system)
    np.testing.assert_allclose(rotated, rot @ np.asarray(alpha) @ rot.T, rtol=1e-11, atol=1e-14)


@settings(max_examples=15)
@given(
    name=_model_names,
    seed=st.integers(0, 2**16),
    shift=st.tuples(*[st.floats(-3.0, 3.0)] * 3),
    cells=st.tuples(*[st.integers(-2, 2)] * 3),
    molecule=st.integers(0, 7),
)
def test_translation_and_lattice_shift_invariance(name, seed, shift, cells, molecule):
    model = _MODELS[name]
    pos, system = _waters(8, seed)
    alpha = model(pos, system)
    tol = dict(rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(model(pos + jnp.asarray(shift), system), alpha, **tol)
    lattice = jnp.asarray(cells, float) * system.box
    moved = pos.at[3 * molecule : 3 * molecule + 3].add(lattice)
    np.testing.assert_allclose(model(moved, system), alpha, **tol)
    # one atom wrapped alone: the molecule is broken across the boundary, same α
    np.testing.assert_allclose(model(pos.at[3 * molecule + 1].add(lattice), system), alpha, **tol)


@settings(max_examples=15)
@given(name=_model_names, seed=st.integers(0, 2**16), data=st.data())
def test_atom_permutation_invariance(name, seed, data):
    """Relabelling atoms (with their species and molecule ids) leaves α unchanged; for
    "molecule" this exercises the general (non-contiguous) molecule layout."""
    model = _MODELS[name]
    pos, system = _waters(4, seed)
    perm = np.asarray(data.draw(st.permutations(range(12))))
    permuted = eqx.tree_at(
        lambda s: (s.species, s.masses, s.charges, s.topology.molecule),
        system,
        (
            system.species[perm],
            system.masses[perm],
            system.charges[perm],
            (7 - system.topology.molecule)[perm],  # ids need not start at 0 or be ordered
        ),
    )
    np.testing.assert_allclose(model(pos[perm], permuted), model(pos, system), rtol=1e-12)


def test_mixed_molecule_sizes():
    """A water with a lone ion (1 atom) and an O–H fragment: padded layout = sum of parts."""
    pos, _ = _waters(1, 3, box=False)
    ion, frag = jnp.array([[5.0, 0.0, 0.0]]), pos[:2] + jnp.array([0.0, 9.0, 0.0])
    allpos = jnp.concatenate([frag[:1], pos, ion, frag[1:]])
    system = _system([0, 0, 1, 1, 0, 1], molecule=[2, 5, 5, 5, 9, 2])
    model = DipoleInducedDipole(ALPHA_WATER, 0.5)
    alpha = model(allpos, system)
    water = model(pos, _system([0, 1, 1], molecule=[0, 0, 0]))
    fragment = model(frag, _system([0, 1], molecule=[0, 0]))
    np.testing.assert_allclose(alpha, water + fragment + 0.9e-3 * np.eye(3), rtol=1e-13)
    g = jax.grad(lambda m: jnp.trace(m(allpos, system)))(model)
    assert np.all(np.isfinite(g.alpha)) and np.isfinite(g.thole_a)


# ------------------------------------------------------------------------------ gradients
def _scalar(model, pos, system, weights):
    return jnp.sum(weights * model(pos, system))


@pytest.mark.parametrize("name", ["molecule", "all", "molecule-undamped"])
def test_gradients_match_finite_differences(name):
    model = _MODELS[name]
    pos, system = _waters(4, 11)
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.normal(size=(3, 3)))
    g_model, g_pos = jax.grad(_scalar, argnums=(0, 1))(model, pos, system, w)
    # positions: directional derivative along a random direction
    d = jnp.asarray(rng.normal(size=pos.shape))
    h = 2e-6
    fd = (_scalar(model, pos + h * d, system, w) - _scalar(model, pos - h * d, system, w)) / (2 * h)
    assert float(jnp.sum(g_pos * d)) == pytest.approx(float(fd), rel=1e-7)
    # parameters: each α_s and thole_a
    params = [("alpha", 0), ("alpha", 1)] + (
        [("thole_a", None)] if model.thole_a is not None else []
    )
    for field, k in params:
        x0 = getattr(model, field) if k is None else getattr(model, field)[k]
        g = getattr(g_model, field) if k is None else getattr(g_model, field)[k]
        step = 1e-5 * float(x0)
        fd = (
            _scalar(_with(model, field, k, x0 + step), pos, system, w)
            - _scalar(_with(model, field, k, x0 - step), pos, system, w)
        ) / (2 * step)
        assert float(g) == pytest.approx(float(fd), rel=1e-7), (field, k)


def _with(model, field, k, value):
    old = getattr(model, field)
    new = value if k is None else old.at[k].set(value)
    return eqx.tree_at(lambda m: getattr(m, field), model, new)


# ------------------------------------------------------------------- units and validation
def test_units_and_conversion():
    pos, system = _waters(2, 4)
    ang = DipoleInducedDipole(ALPHA_WATER, 0.5)
    nm = DipoleInducedDipole(Quantity([0.9e-3, 0.4e-3], "nm**3"), Quantity(0.5, ""))
    np.testing.assert_allclose(ang.alpha, nm.alpha, rtol=1e-14)
    np.testing.assert_allclose(ang(pos, system), nm(pos, system), rtol=1e-13)
    # SI polarizability C·m²/V = 4πε₀ × volume
    si = (ALPHA_WATER * 4 * np.pi * Quantity(1, "vacuum_permittivity")).to("C*m**2/V")
    np.testing.assert_allclose(DipoleInducedDipole(si).alpha, ang.alpha, rtol=1e-12)
    with pytest.raises(UnitError, match=r"alpha.*Å.*nm³|alpha.*angstrom.*nm"):
        DipoleInducedDipole(Quantity([1.0, 0.4], "angstrom"))
    with pytest.raises(UnitError, match="alpha.*without units"):
        DipoleInducedDipole([1e-3, 4e-4])
    with pytest.raises(UnitError, match="thole_a"):
        DipoleInducedDipole(ALPHA_WATER, Quantity(0.5, "nm"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(alpha=Quantity([1.0, -0.4], "angstrom**3")), "positive and finite"),
        (dict(alpha=Quantity([1.0, np.nan], "angstrom**3")), "positive and finite"),
        (dict(alpha=Quantity(1.0, "angstrom**3")), r"\[n_species\]"),
        (dict(alpha=ALPHA_WATER, thole_a=0.0), "thole_a must be a positive"),
        (dict(alpha=ALPHA_WATER, thole_a=[0.3, 0.4]), "thole_a must be a positive"),
        (dict(alpha=ALPHA_WATER, interactions="molecules"), "'molecules'"),
        (dict(alpha=ALPHA_WATER, molecule_size=0), "molecule_size"),
    ],
)
def test_constructor_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DipoleInducedDipole(**kwargs)


def test_call_validation():
    pos, system = _waters(2, 4)
    model = DipoleInducedDipole(ALPHA_WATER, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        model(pos.at[2, 1].set(jnp.nan), system)
    with pytest.raises(ValueError, match="shape"):
        model(pos[:5], system)
    with pytest.raises(ValueError, match="3 values but the system has species"):
        DipoleInducedDipole(Quantity([1.0, 0.4, 0.2], "angstrom**3"))(pos, system)
    with pytest.raises(ValueError, match="index 1 but alpha has only 1"):
        DipoleInducedDipole(Quantity([1.0], "angstrom**3"))(pos[:2], _system([0, 1], [0, 0]))
    with pytest.raises(ValueError, match="needs a System with a Topology"):
        model(pos[:2], _system([0, 1]))
    with pytest.raises(ValueError, match="molecule_size=2"):
        DipoleInducedDipole(ALPHA_WATER, molecule_size=2)(pos, system)
    with pytest.raises(ValueError, match="pass molecule_size"):
        jax.jit(lambda p, s: model(p, s))(pos, system)
    sized = DipoleInducedDipole(ALPHA_WATER, 0.5, molecule_size=3)
    broken = eqx.tree_at(lambda s: s.topology.molecule, system, jnp.array([0, 0, 0, 0, 1, 1]))
    with pytest.raises(Exception, match="not contiguous molecules"):
        eqx.filter_jit(lambda p, s: sized(p, s))(pos, broken)


# ---------------------------------------------------------------------- jit, vmap, recorder
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_jit_vmap_over_frames_and_recorder(dtype):
    pos, system = _waters(8, 2)
    frames = (
        pos[None] + 0.003 * jax.random.normal(jax.random.PRNGKey(0), (5,) + pos.shape)
    ).astype(dtype)
    eager = DipoleInducedDipole(ALPHA_WATER, 0.5)
    expected = jnp.stack([eager(f.astype(jnp.float64), system) for f in frames])
    tol = dict(rtol=1e-12, atol=1e-16) if dtype == jnp.float64 else dict(rtol=2e-5, atol=1e-8)
    for model in [eager, DipoleInducedDipole(ALPHA_WATER, 0.5, interactions="all")]:
        closed = jax.jit(jax.vmap(lambda p, m=model: m(p, system)))(frames)
        assert closed.dtype == dtype and closed.shape == (5, 3, 3)
        if model.interactions == "molecule":
            np.testing.assert_allclose(closed, expected, **tol)
    # System traced (as inside a backend run): molecule_size gives the layout
    sized = DipoleInducedDipole(ALPHA_WATER, 0.5, molecule_size=3)
    recorder = Polarizability(sized)
    assert recorder.field == "polarizability"

    @eqx.filter_jit
    def record(frames, system):
        zeros = jnp.zeros_like(frames[0])
        return jax.vmap(
            lambda p: recorder(Frame(p, zeros, zeros, jnp.zeros((), dtype), None, system), None)
        )(frames)

    np.testing.assert_allclose(record(frames, system), expected, **tol)
