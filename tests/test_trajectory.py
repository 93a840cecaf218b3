import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import observables as ob
from observables import Quantity as Q


def make(rng, n_frames=6, n_atoms=4, **kw):
    args = dict(box=Q([12.0, 12.0, 12.0], "angstrom"), timestep=Q(2.0, "fs"))
    args.update(kw)
    return ob.Trajectory(Q(rng.normal(size=(n_frames, n_atoms, 3)), "angstrom"), **args)


def test_converts_to_internal_units(rng):
    t = make(rng, velocities=Q(np.ones((6, 4, 3)), "angstrom/fs"), masses=Q([1.0] * 4, "g/mol"))
    assert float(t.timestep) == pytest.approx(0.002)
    np.testing.assert_allclose(t.box, [1.2, 1.2, 1.2])
    np.testing.assert_allclose(t.velocities, 100.0)  # 1 A/fs = 100 nm/ps
    assert t.quantity("positions").units == ob.ureg.nm
    np.testing.assert_allclose(t.times.m_as("fs"), 2.0 * np.arange(6))


@pytest.mark.parametrize(
    "kw, err, match",
    [
        (dict(timestep=Q(2.0, "m")), ob.UnitError, "timestep has unit m.*ps"),
        (dict(timestep=2.0), ob.UnitError, "timestep was given without units"),
        (dict(box=Q([1.0, 2.0], "nm")), ob.TrajectoryError, r"box has shape \(2,\)"),
        (dict(box=Q(np.zeros((3, 3)), "nm")), ob.TrajectoryError, "zero or negative volume"),
        (
            dict(velocities=Q(np.zeros((5, 4, 3)), "nm/ps")),
            ob.TrajectoryError,
            "frame count mismatch",
        ),
        (dict(dipole=Q(np.zeros((7, 3)), "debye")), ob.TrajectoryError, "dipole has a frame count"),
        (dict(masses=Q(np.ones(3), "Da")), ob.TrajectoryError, "masses has a shape mismatch"),
        (dict(masses=Q(-np.ones(4), "Da")), ob.TrajectoryError, "masses must be positive"),
        (dict(timestep=Q(-1.0, "fs")), ob.TrajectoryError, "timestep must be positive"),
        (
            dict(species=[0, 1, 2, 3], species_names=("A", "B")),
            ob.TrajectoryError,
            "species indices",
        ),
    ],
)
def test_bad_input_names_the_problem(rng, kw, err, match):
    with pytest.raises(err, match=match):
        make(rng, **kw)


def test_nan_positions(rng):
    p = rng.normal(size=(5, 3, 3))
    p[2, 1, 0] = np.nan
    with pytest.raises(ob.TrajectoryError, match=r"positions contains 1 non-finite.*\(2, 1, 0\)"):
        ob.Trajectory(Q(p, "nm"), box=None, timestep=Q(1, "fs"))


def test_positions_shape(rng):
    with pytest.raises(ob.TrajectoryError, match="frame, atom, 3"):
        ob.Trajectory(Q(rng.normal(size=(4, 3)), "nm"), box=None, timestep=Q(1, "fs"))


def test_triclinic_box_and_volume(rng):
    cell = np.array([[10.0, 0, 0], [2.0, 9.0, 0], [1.0, 1.5, 8.0]])
    t = make(rng, box=Q(cell, "angstrom"))
    assert t.is_triclinic
    np.testing.assert_allclose(t.volume, np.linalg.det(cell) * 1e-3)
    o = make(rng)
    assert not o.is_triclinic
    np.testing.assert_allclose(o.box_matrix[0], np.diag([1.2, 1.2, 1.2]))


def test_per_frame_box_is_sliced(rng):
    boxes = Q(np.abs(rng.normal(size=(6, 3))) + 10, "angstrom")
    t = make(rng, box=boxes)
    assert t.box_per_frame
    s = t[1:5:2]
    np.testing.assert_allclose(s.box, t.box[1:5:2])


def test_slicing(rng):
    t = make(rng, n_frames=10, dipole=Q(rng.normal(size=(10, 3)), "debye"))
    s = t[2:9:3]
    assert s.n_frames == 3
    assert float(s.timestep) == pytest.approx(3 * float(t.timestep))
    np.testing.assert_array_equal(s.positions, t.positions[2:9:3])
    np.testing.assert_array_equal(s.dipole, t.dipole[2:9:3])
    assert t[-1].n_frames == 1
    np.testing.assert_array_equal(t[-1].positions[0], t.positions[-1])
    with pytest.raises(ValueError, match="positive step"):
        t[::-1]
    with pytest.raises(IndexError):
        t[10]


def test_species_names(rng):
    t = make(rng, species=["O", "H", "H", "O"])
    assert t.species_names == ("O", "H")
    np.testing.assert_array_equal(t.species, [0, 1, 1, 0])
    with pytest.raises(ob.TrajectoryError, match="not in species_names"):
        make(rng, species=["O", "H", "H", "X"], species_names=("O", "H"))


def test_npz_round_trip(rng, tmp_path):
    t = make(
        rng,
        velocities=Q(rng.normal(size=(6, 4, 3)), "nm/ps"),
        masses=Q([16.0, 1.0, 1.0, 16.0], "Da"),
        charges=Q([-0.8, 0.4, 0.4, 0.0], "e"),
        species=["O", "H", "H", "O"],
        polarizability=Q(rng.normal(size=(6, 3, 3)), "angstrom**3"),
    )
    t.to_npz(tmp_path / "t.npz")
    u = ob.Trajectory.from_npz(tmp_path / "t.npz")
    for a, b in zip(jax.tree.leaves(t), jax.tree.leaves(u), strict=True):
        np.testing.assert_array_equal(a, b)
    assert u.species_names == t.species_names


def test_npz_malformed(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ob.TrajectoryError, match="not a readable .npz"):
        ob.Trajectory.from_npz(bad)
    np.savez(tmp_path / "nohdr.npz", positions=np.zeros((1, 1, 3)))
    with pytest.raises(ob.TrajectoryError, match="no '__header__'"):
        ob.Trajectory.from_npz(tmp_path / "nohdr.npz")


def test_npz_honours_header_units(tmp_path):
    import json

    header = {
        "format": "spectrinv-trajectory-1",
        "units": {"positions": "angstrom", "timestep": "fs"},
    }
    np.savez(
        tmp_path / "a.npz",
        positions=np.ones((2, 1, 3)) * 10.0,
        timestep=np.array(0.5),
        __header__=np.array(json.dumps(header)),
    )
    t = ob.Trajectory.from_npz(tmp_path / "a.npz")
    np.testing.assert_allclose(t.positions, 1.0)
    assert float(t.timestep) == pytest.approx(0.0005)


def test_is_a_pytree_usable_under_jit_vmap_grad(rng):
    t = make(rng, velocities=Q(rng.normal(size=(6, 4, 3)), "nm/ps"))

    @jax.jit
    def kinetic(tr):
        return 0.5 * jnp.sum(tr.velocities**2)

    assert float(kinetic(t)) == pytest.approx(0.5 * float(np.sum(np.asarray(t.velocities) ** 2)))
    g = eqx.filter_grad(kinetic)(t)
    np.testing.assert_allclose(g.velocities, t.velocities)
    # from_internal works on traced values (shape checks only).
    out = jax.jit(lambda x: ob.Trajectory.from_internal(x, box=None, timestep=0.1).positions.sum())(
        t.positions
    )
    assert np.isfinite(out)


def test_from_internal_under_jit_with_a_constant_box(rng):
    box = jnp.array([1.0, 1.0, 1.0])  # closed over: concrete while positions are traced

    def f(x):
        return ob.Trajectory.from_internal(x, box=box, timestep=0.1).volume.sum()

    assert float(jax.jit(f)(jnp.zeros((2, 3, 3)))) == pytest.approx(2.0)


def test_from_internal_rejects_quantities(rng):
    with pytest.raises(ob.UnitError, match="from_internal takes plain arrays"):
        ob.Trajectory.from_internal(Q(np.zeros((1, 1, 3)), "nm"), box=None, timestep=0.1)


def test_replace_and_require(rng):
    t = make(rng)
    with pytest.raises(ob.TrajectoryError, match="needs dipole"):
        t.require("dipole")
    d = t.replace(dipole=Q(np.ones((6, 3)), "debye"))
    assert d.dipole.shape == (6, 3)
    np.testing.assert_allclose(d.dipole, Q(1, "debye").m_as("e*nm"))
    with pytest.raises(ob.UnitError, match="dipole has unit"):
        t.replace(dipole=Q(np.ones((6, 3)), "nm"))


def test_signal_only_trajectory_without_positions(rng, tmp_path):
    """A dipole series with a time step and a box is a complete trajectory (no positions)."""
    dip = Q(rng.normal(size=(12, 3)), "debye")
    t = ob.Trajectory(dipole=dip, box=Q([2.0, 2.0, 2.0], "nm"), timestep=Q(2, "fs"))
    assert t.positions is None and t.n_frames == 12
    np.testing.assert_allclose(t.volume, 8.0)
    assert t[2:8:2].n_frames == 3 and float(t[2:8:2].timestep) == pytest.approx(0.004)
    with pytest.raises(ob.TrajectoryError, match="no atoms"):
        _ = t.n_atoms
    with pytest.raises(ob.TrajectoryError, match="needs positions"):
        t.require("positions")
    t.to_npz(tmp_path / "dipole.npz")
    back = ob.Trajectory.from_npz(tmp_path / "dipole.npz")
    assert back.positions is None
    np.testing.assert_allclose(back.dipole, t.dipole)
    internal = ob.Trajectory.from_internal(box=None, timestep=0.002, dipole=np.ones((5, 3)))
    assert internal.n_frames == 5


def test_trajectory_needs_some_per_frame_field():
    with pytest.raises(ob.TrajectoryError, match="needs positions or another per-frame field"):
        ob.Trajectory(box=None, timestep=Q(1, "fs"), masses=Q([1.0, 2.0], "Da"))
    with pytest.raises(ob.TrajectoryError, match="dipole has a frame count mismatch"):
        ob.Trajectory(
            box=None,
            timestep=Q(1, "fs"),
            velocities=Q(np.zeros((4, 2, 3)), "nm/ps"),
            dipole=Q(np.zeros((5, 3)), "e*nm"),
        )
