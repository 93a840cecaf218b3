import numpy as np
import pytest

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


def test_lammps_dump(tmp_path, rng):
    pos = rng.uniform(0, 10, size=(3, 4, 3))
    lines = []
    for step, p in enumerate(pos):
        lines += [
            "ITEM: TIMESTEP",
            str(step * 10),
            "ITEM: NUMBER OF ATOMS",
            "4",
            "ITEM: BOX BOUNDS pp pp pp",
            "0.0 10.0",
            "0.0 10.0",
            "0.0 10.0",
            "ITEM: ATOMS id type x y z",
        ]
        lines += [f"{i + 1} {1 + i % 2} {x:.6f} {y:.6f} {z:.6f}" for i, (x, y, z) in enumerate(p)]
    path = tmp_path / "run.lammpstrj"
    path.write_text("\n".join(lines) + "\n")
    t = read_trajectory(path, timestep=Q(10, "fs"))
    assert t.n_frames == 3 and t.n_atoms == 4
    np.testing.assert_allclose(t.positions, pos / 10, atol=1e-6)
    np.testing.assert_allclose(t.box, [1.0, 1.0, 1.0])
    assert t.species_names == ("1", "2")
    # The dump has no time information: MDAnalysis would invent 1 ps; we ask instead.
    with pytest.raises(ob.TrajectoryError, match="does not record the time"):
        read_trajectory(path)
