import numpy as np
import pytest
from _systems import write_lammps_dump

import observables as ob
from observables import Quantity as Q
from observables.io import read_trajectory

ase = pytest.importorskip("ase")
mda = pytest.importorskip("MDAnalysis")


@pytest.fixture
def frames(rng):
    from ase import Atoms

    out = []
    for _ in range(4):
        a = Atoms("OH2", positions=rng.uniform(0, 9, size=(3, 3)), cell=[9.0, 9.0, 9.0], pbc=True)
        a.set_velocities(rng.normal(size=(3, 3)) * 0.01)
        a.info["dipole"] = rng.normal(size=3)
        out.append(a)
    return out


@pytest.mark.parametrize("suffix", [".extxyz", ".traj"])
def test_ase_formats(tmp_path, frames, suffix):
    import ase.io
    import ase.units

    path = tmp_path / f"w{suffix}"
    ase.io.write(path, frames)
    t = read_trajectory(path, timestep=Q(1, "fs"))
    assert t.n_frames == 4 and t.species_names == ("O", "H")
    np.testing.assert_allclose(t.positions * 10, np.stack([a.positions for a in frames]), atol=1e-8)
    np.testing.assert_allclose(t.box, [0.9, 0.9, 0.9])
    want_v = np.stack([a.get_velocities() for a in frames]) * ase.units.fs * 100  # A/fs -> nm/ps
    np.testing.assert_allclose(t.velocities, want_v, rtol=1e-5)  # extxyz text precision
    np.testing.assert_allclose(t.masses, frames[0].get_masses())
    if suffix == ".extxyz":
        np.testing.assert_allclose(
            t.dipole * 10, np.stack([a.info["dipole"] for a in frames]), atol=1e-8
        )


def test_ase_needs_timestep(tmp_path, frames):
    import ase.io

    ase.io.write(tmp_path / "w.extxyz", frames)
    with pytest.raises(ob.TrajectoryError, match="timestep=Quantity"):
        read_trajectory(tmp_path / "w.extxyz")
    with pytest.raises(ob.UnitError, match="timestep has unit"):
        read_trajectory(tmp_path / "w.extxyz", timestep=Q(1, "nm"))


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("this is not\nan xyz file\n")
    with pytest.raises(ob.TrajectoryError, match="could not read"):
        read_trajectory(bad, timestep=Q(1, "fs"))
    with pytest.raises(FileNotFoundError):
        read_trajectory(tmp_path / "missing.npz")
    with pytest.raises(ob.TrajectoryError, match="unknown trajectory format"):
        read_trajectory(tmp_path / "x.foo")


def _universe(rng, n_frames=5, n_atoms=6):
    from MDAnalysis.coordinates.memory import MemoryReader

    u = mda.Universe.empty(n_atoms, trajectory=True, velocities=True)
    u.add_TopologyAttr("name", ["OW", "HW1", "HW2"] * (n_atoms // 3))
    u.add_TopologyAttr("type", ["O", "H", "H"] * (n_atoms // 3))
    u.add_TopologyAttr("resname", ["SOL"] * u.atoms.n_residues)
    u.add_TopologyAttr("masses", [16.0, 1.0, 1.0] * (n_atoms // 3))
    pos = rng.uniform(0, 20, size=(n_frames, n_atoms, 3)).astype(np.float32)
    vel = rng.normal(size=(n_frames, n_atoms, 3)).astype(np.float32)
    dims = np.array([[20.0, 21.0, 22.0, 90.0, 90.0, 90.0]] * n_frames, dtype=np.float32)
    u.load_new(pos, format=MemoryReader, velocities=vel, dimensions=dims, dt=0.5)
    return u, pos, vel


@pytest.mark.parametrize("fmt", ["DCD", "XTC", "TRR"])
def test_mdanalysis_formats(tmp_path, rng, fmt):
    u, pos, vel = _universe(rng)
    top = tmp_path / "top.pdb"
    u.atoms.write(top)
    traj = tmp_path / f"t.{fmt.lower()}"
    with mda.Writer(str(traj), n_atoms=u.atoms.n_atoms) as w:
        for _ in u.trajectory:
            w.write(u.atoms)
    t = read_trajectory(traj, topology=top, timestep=Q(0.5, "ps"))
    atol = 1e-3 if fmt == "XTC" else 1e-5  # XTC is compressed to 1e-3 nm
    np.testing.assert_allclose(t.positions, pos / 10, atol=atol)
    np.testing.assert_allclose(np.asarray(t.box), [2.0, 2.1, 2.2], rtol=1e-6)
    assert float(t.timestep) == pytest.approx(0.5)
    if fmt == "TRR":
        np.testing.assert_allclose(t.velocities, vel / 10, rtol=1e-5)
    with pytest.raises(ob.TrajectoryError, match="topology="):
        read_trajectory(traj)
    if fmt == "DCD":  # MDAnalysis wrote its default 1 ps, not the 0.5 ps of the universe
        with pytest.warns(UserWarning, match="1 ps .*MDAnalysis's DCD writer"):
            assert float(read_trajectory(traj, topology=top).timestep) == pytest.approx(1.0)


def test_lammps_dump(tmp_path, rng):
    pos = rng.uniform(0, 10, size=(3, 4, 3))
    path = write_lammps_dump(tmp_path / "run.lammpstrj", pos)
    t = read_trajectory(path, timestep=Q(10, "fs"), lammps_units="metal")
    assert t.n_frames == 3 and t.n_atoms == 4
    np.testing.assert_allclose(t.positions, pos / 10, atol=1e-6)
    np.testing.assert_allclose(t.box, [1.0, 1.0, 1.0])
    assert t.species_names == ("1", "2")
    # The dump has no time information: MDAnalysis would invent 1 ps; we ask instead.
    with pytest.raises(ob.TrajectoryError, match="does not record the time"):
        read_trajectory(path, lammps_units="metal")


def test_lammps_dump_units_masses_and_type_names(tmp_path, rng):
    """`units real` dumps hold Å/fs velocities (1000× the Å/ps of `metal`); the unit style
    must be given; masses are never MDAnalysis's silent 1 Da: without `masses=` there are
    none, and the VDOS, which weights by mass, says so."""
    pos = rng.uniform(0, 10, size=(4, 4, 3))
    vel = rng.normal(0, 0.005, size=(4, 4, 3))  # Å/fs, as `units real` writes them
    path = write_lammps_dump(tmp_path / "run.dump", pos, vel)
    pos, vel = np.round(pos, 6), np.round(vel, 6)  # as written
    dt = Q(2, "fs")
    real = read_trajectory(path, timestep=dt, lammps_units="real")
    np.testing.assert_allclose(real.velocities, vel * 100, rtol=1e-6)  # Å/fs -> nm/ps
    metal = read_trajectory(path, timestep=dt, lammps_units="metal")
    np.testing.assert_allclose(metal.velocities, vel / 10, rtol=1e-6)  # Å/ps -> nm/ps
    si = read_trajectory(path, timestep=dt, lammps_units="si")
    np.testing.assert_allclose(si.positions, pos * 1e9, rtol=1e-6)  # m -> nm
    assert real.masses is None
    with pytest.raises(ob.TrajectoryError, match="masses"):
        ob.VDOS(max_lag=2)(real)
    named = read_trajectory(
        path,
        timestep=dt,
        lammps_units="real",
        type_names={"1": "O", "2": "H"},
        masses={"O": Q(15.999, "Da"), "H": Q(1.008, "Da")},
    )
    assert named.species_names == ("O", "H")
    np.testing.assert_allclose(named.masses, [15.999, 1.008, 15.999, 1.008])
    for kwargs, message in [
        ({}, "does not record its unit style.*real, metal"),
        ({"lammps_units": "lj"}, "'lj' reduced units cannot be converted"),
        ({"lammps_units": "real", "type_names": {"1": "O"}}, r"no name for atom type\(s\) \['2'\]"),
        ({"lammps_units": "real", "masses": {"1": Q(1, "Da")}}, r"no mass for species \['2'\]"),
    ]:
        with pytest.raises(ob.TrajectoryError, match=message):
            read_trajectory(path, timestep=dt, **kwargs)
