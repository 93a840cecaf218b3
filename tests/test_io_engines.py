"""Readers for the files MD engines write (GROMACS, CP2K, i-PI, LAMMPS dipoles, PDB,
H5MD): each round-trips a small file written here in the engine's documented layout; bad
input gives a one-line error naming the file and line."""

import numpy as np
import pytest

import observables as ob
from observables import Quantity as Q
from observables.io import (
    read_cp2k_dipoles,
    read_gmx_dipoles,
    read_gro,
    read_ipi_dipoles,
    read_lammps_dipoles,
    read_trajectory,
)

# Unit factors written out from CODATA 2018, independent of pint: 1 D = 1e-21/c C·m.
E = 1.602176634e-19  # C
DEBYE_IN_E_NM = 1e-21 / 299792458.0 / E / 1e-9  # 0.0208194...
BOHR_NM = 0.0529177210903


def _xvg(dipoles, times, legends=("Mx", "My", "Mz", "|Mtot|"), units=("ps", "Debye")):
    head = [
        "# This file was created by gmx dipoles",
        '@    title "Total dipole moment of the simulation box vs. time"',
        f'@    xaxis  label "Time ({units[0]})"' if units[0] else '@    xaxis  label "Time"',
        f'@    yaxis  label "Total Dipole Moment ({units[1]})"',
        "@TYPE xy",
        "@ legend on",
    ]
    head += [f'@ s{i} legend "{name}"' for i, name in enumerate(legends)]
    rows = [
        f"{t:10.4f} " + " ".join(f"{v:12.6f}" for v in (*d, np.linalg.norm(d)))
        for t, d in zip(times, dipoles, strict=True)
    ]
    return "\n".join(head + rows) + "\n"


def test_gmx_dipoles_xvg(tmp_path, rng):
    dip = np.round(rng.normal(size=(6, 3)) * 20, 6)
    times = 0.002 * np.arange(6) + 10.0
    path = tmp_path / "Mtot.xvg"
    path.write_text(_xvg(dip, times))
    t = read_trajectory(path)
    assert t.positions is None and t.n_frames == 6
    np.testing.assert_allclose(t.dipole, dip * DEBYE_IN_E_NM, rtol=1e-12)
    assert float(t.timestep) == pytest.approx(0.002, rel=1e-9)
    with pytest.warns(ob.ErrorBarWarning):  # 6 frames: too short for an error bar
        spectrum = ob.IRSpectrum(Q(300, "K"), max_lag=3, volume=Q(27, "nm**3"))(t)
    assert np.all(np.isfinite(spectrum.y.magnitude))
    # columns found by their legends, not their position
    swapped = tmp_path / "swapped.xvg"
    swapped.write_text(_xvg(dip[:, [1, 0, 2]], times, legends=("My", "Mx", "Mz", "|Mtot|")))
    np.testing.assert_allclose(read_gmx_dipoles(swapped).dipole, t.dipole, rtol=1e-12)
    fs = tmp_path / "fs.xvg"
    fs.write_text(_xvg(dip, times * 1000, units=("fs", "Debye")))
    assert float(read_gmx_dipoles(fs).timestep) == pytest.approx(0.002, rel=1e-9)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s[: s.rstrip().rfind("\n") + 24] + "\n", r"bad\.xvg:16: 2 columns, expected 4"),
        (lambda s: s.replace("10.0040", "10.00x0"), r"bad\.xvg:\d+: non-numeric"),
        (lambda s: s.replace("10.0040", "10.0050"), r"bad\.xvg:\d+: uneven time steps"),
        (lambda s: s.replace('"Mz"', '"Mq"'), r"bad\.xvg: no column legend for Mz"),
        (lambda s: s.replace("(Debye)", ""), r"bad\.xvg: no dipole unit"),
        (lambda s: s.replace("(Debye)", "(furlong)"), r"'furlong' is not a dipole unit"),
    ],
)
def test_gmx_dipoles_malformed(tmp_path, rng, edit, message):
    text = _xvg(rng.normal(size=(6, 3)), 0.002 * np.arange(6) + 10.0)
    bad = tmp_path / "bad.xvg"
    bad.write_text(edit(text))
    with pytest.raises(ob.TrajectoryError, match=message) as err:
        read_gmx_dipoles(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def _cp2k_block(d, unit="Debye"):
    return (
        " Dipole vectors are based on the periodic (Berry phase) operator.\n"
        f" Reference Point [Bohr]    0.00000000    0.00000000    0.00000000\n"
        f" Dipole moment [{unit}]\n"
        f"    X={d[0]:14.8f} Y={d[1]:14.8f} Z={d[2]:14.8f}     Total={np.linalg.norm(d):14.8f}\n"
    )


def test_cp2k_dipoles(tmp_path, rng):
    dip = np.round(rng.normal(size=(5, 3)) * 5, 8)
    path = tmp_path / "water-dipole-1.dat"
    path.write_text("".join(_cp2k_block(d) for d in dip))
    t = read_cp2k_dipoles(path, timestep=Q(0.5, "fs"), box=Q([1.2, 1.2, 1.2], "nm"))
    np.testing.assert_allclose(t.dipole, dip * DEBYE_IN_E_NM, rtol=1e-12)
    assert float(t.timestep) == pytest.approx(0.0005)
    np.testing.assert_allclose(t.box, [1.2, 1.2, 1.2])
    au = tmp_path / "au.dat"
    au.write_text("".join(_cp2k_block(d, "a.u.") for d in dip))
    np.testing.assert_allclose(
        read_cp2k_dipoles(au, timestep=Q(1, "fs")).dipole, dip * BOHR_NM, rtol=1e-9
    )
    for text, message in [
        (_cp2k_block(dip[0]) + " Dipole moment [Debye]\n", r"bad\.dat:5: file ends after"),
        (_cp2k_block(dip[0]).replace("Y=", "Y= abc"), r"bad\.dat:4: expected 'X= x Y= y"),
        (_cp2k_block(dip[0]).replace(f"{dip[0][0]:14.8f}", "  1.2.3"), r"bad\.dat:4: non-num"),
        ("nothing here\n", r"bad\.dat: no 'Dipole moment \[unit\]' block"),
    ]:
        (tmp_path / "bad.dat").write_text(text)
        with pytest.raises(ob.TrajectoryError, match=message):
            read_cp2k_dipoles(tmp_path / "bad.dat", timestep=Q(1, "fs"))
    with pytest.raises(ob.UnitError):
        read_cp2k_dipoles(path, timestep=0.5)  # a bare number has no unit


def _ipi(dip, times, time_unit="{picosecond}"):
    head = (
        "# column   1     --> step : The current simulation time step.\n"
        f"# column   2     --> time{time_unit} : The elapsed simulation time.\n"
        "# column   3     --> potential{electronvolt} : The physical system potential energy.\n"
        "# cols.  4-6     --> dipole : The total dipole moment.\n"
    )
    rows = [
        f"{i:8d} {t:16.8e} {-1.0:16.8e} " + " ".join(f"{v:16.8e}" for v in d)
        for i, (t, d) in enumerate(zip(times, dip, strict=True))
    ]
    return head + "\n".join(rows) + "\n"


def test_ipi_properties(tmp_path, rng):
    dip = rng.normal(size=(5, 3))
    path = tmp_path / "sim.out"
    path.write_text(_ipi(dip, 0.001 * np.arange(5)))
    t = read_ipi_dipoles(path)
    np.testing.assert_allclose(t.dipole, dip * BOHR_NM, rtol=1e-7)  # 9 printed digits
    assert float(t.timestep) == pytest.approx(0.001, rel=1e-7)
    au = tmp_path / "au.out"
    au.write_text(_ipi(dip, 41.341373 * np.arange(5), time_unit=""))  # 41.34 a.u. = 1 fs
    assert float(read_ipi_dipoles(au).timestep) == pytest.approx(0.001, rel=1e-7)
    for text, message in [
        (_ipi(dip, 0.001 * np.arange(5)).replace("--> dipole", "--> forces"), "no 'dipole'"),
        (_ipi(dip, 0.001 * np.array([0, 1, 2, 4, 5])), r"bad\.out:6: uneven time steps"),
        (_ipi(dip, 0.001 * np.arange(5)).rsplit(" ", 1)[0] + "\n", r"bad\.out:9: 5 columns"),
    ]:
        (tmp_path / "bad.out").write_text(text)
        with pytest.raises(ob.TrajectoryError, match=message):
            read_ipi_dipoles(tmp_path / "bad.out")


def _ave_time(dip, steps, names="c_dip[1] c_dip[2] c_dip[3]"):
    head = f"# Time-averaged data for fix dipout\n# TimeStep {names}\n"
    rows = [f"{s} " + " ".join(f"{v:.8g}" for v in d) for s, d in zip(steps, dip, strict=True)]
    return head + "\n".join(rows) + "\n"


def test_lammps_fix_ave_time_dipoles(tmp_path, rng):
    dip = np.round(rng.normal(size=(5, 3)), 6)
    path = tmp_path / "dipole.dat"
    path.write_text(_ave_time(dip, 100 + 10 * np.arange(5)))
    real = read_lammps_dipoles(path, timestep=Q(0.5, "fs"), lammps_units="real")
    np.testing.assert_allclose(real.dipole, dip / 10, rtol=1e-12)  # e·Å -> e·nm
    assert float(real.timestep) == pytest.approx(0.005)  # 10 steps of 0.5 fs
    electron = read_lammps_dipoles(path, timestep=Q(0.5, "fs"), lammps_units="electron")
    np.testing.assert_allclose(electron.dipole, dip * DEBYE_IN_E_NM, rtol=1e-9)
    extra = tmp_path / "extra.dat"
    extra.write_text(
        _ave_time(np.c_[dip, dip[:, :1]], 10 * np.arange(5), "c_d[1] c_d[2] c_d[3] v_x")
    )
    with pytest.raises(ob.TrajectoryError, match="4 value columns.*pass columns="):
        read_lammps_dipoles(extra, timestep=Q(1, "fs"), lammps_units="metal")
    picked = read_lammps_dipoles(
        extra, timestep=Q(1, "fs"), lammps_units="metal", columns=("v_x", "c_d[2]", "c_d[3]")
    )
    np.testing.assert_allclose(picked.dipole[:, 0], dip[:, 0] / 10, rtol=1e-12)
    with pytest.raises(ob.TrajectoryError, match="pass lammps_units= .*got 'lj'"):
        read_lammps_dipoles(path, timestep=Q(1, "fs"), lammps_units="lj")
    uneven = tmp_path / "uneven.dat"
    uneven.write_text(_ave_time(dip, [0, 10, 20, 35, 40]))
    with pytest.raises(ob.TrajectoryError, match=r"uneven\.dat:6: uneven time steps"):
        read_lammps_dipoles(uneven, timestep=Q(1, "fs"), lammps_units="real")


def _gro(frames, names, times=None, box="   2.00000   2.10000   2.20000", ndec=3):
    """GRO layout; `ndec` decimals as `gmx ... -ndec` writes them: width ndec + 5, one more
    decimal (same width) for velocities."""
    out = []
    for f, (pos, vel) in enumerate(frames):
        out.append("water" + (f" t= {times[f]:.5f}" if times is not None else ""))
        out.append(f"{len(names):5d}")
        for i, name in enumerate(names):
            line = f"{i // 3 + 1:5d}{'SOL':<5s}{name:>5s}{i + 1:5d}" + "".join(
                f"{x:{ndec + 5}.{ndec}f}" for x in pos[i]
            )
            if vel is not None:
                line += "".join(f"{v:{ndec + 5}.{ndec + 1}f}" for v in vel[i])
            out.append(line)
        out.append(box)
    return "\n".join(out) + "\n"


def test_gro_multi_frame(tmp_path, rng):
    names = ["OW", "HW1", "HW2"] * 2
    pos = np.round(rng.uniform(0, 2, size=(3, 6, 3)), 3)
    vel = np.round(rng.normal(size=(3, 6, 3)), 4)
    path = tmp_path / "conf.gro"
    path.write_text(_gro(list(zip(pos, vel, strict=True)), names, times=[0.0, 0.02, 0.04]))
    t = read_trajectory(path, masses="elements")
    np.testing.assert_allclose(t.positions, pos, atol=1e-12)
    np.testing.assert_allclose(t.velocities, vel, atol=1e-12)
    np.testing.assert_allclose(t.box, [2.0, 2.1, 2.2])
    assert float(t.timestep) == pytest.approx(0.02)
    np.testing.assert_allclose(t.masses, [15.999, 1.008, 1.008] * 2)
    assert t.species_names == ("OW", "HW1", "HW2")
    assert read_gro(path).masses is None  # a .gro has no masses: none unless asked
    given = read_gro(path, masses={"OW": Q(16, "Da"), "HW1": Q(1, "Da"), "HW2": Q(2, "Da")})
    np.testing.assert_allclose(given.masses, [16, 1, 2] * 2)
    with pytest.raises(ob.TrajectoryError, match=r"no mass for atom name\(s\) \['HW2'\]"):
        read_gro(path, masses={"OW": Q(16, "Da"), "HW1": Q(1, "Da")})


def test_gro_single_frame_triclinic(tmp_path, rng):
    pos = np.round(rng.uniform(0, 2, size=(3, 3)), 3)
    box = (
        "   2.00000   1.80000   1.60000   0.00000   0.00000   0.50000   0.00000   0.30000   0.40000"
    )
    path = tmp_path / "one.gro"
    path.write_text(_gro([(pos, None)], ["O", "H", "H"], box=box))
    with pytest.raises(ob.TrajectoryError, match=r"one\.gro: .*pass timestep="):
        read_gro(path)
    t = read_gro(path, timestep=Q(1, "ps"))
    assert t.velocities is None
    np.testing.assert_allclose(t.positions[0], pos)
    np.testing.assert_allclose(t.box, [[2.0, 0, 0], [0.5, 1.8, 0], [0.3, 0.4, 1.6]])
    # more decimals -> wider columns, found from the spacing of the decimal points
    fine = np.round(rng.uniform(-1, 2, size=(3, 3)), 6)
    vel = np.round(rng.normal(size=(3, 3)), 7)
    path.write_text(_gro([(fine, vel)], ["O", "H", "H"], ndec=6))
    t = read_gro(path, timestep=Q(1, "ps"))
    np.testing.assert_allclose(t.positions[0], fine, atol=1e-12)
    np.testing.assert_allclose(t.velocities[0], vel, atol=1e-12)


def test_gro_malformed(tmp_path, rng):
    pos = np.round(rng.uniform(0, 2, size=(3, 3, 3)), 3)
    good = _gro([(p, None) for p in pos], ["O", "H", "H"], times=[0.0, 0.1, 0.2])
    (tmp_path / "good.gro").write_text(good)
    assert read_gro(tmp_path / "good.gro").n_frames == 3  # the edits below break a valid file
    lines = good.splitlines()
    cases = [
        ("\n".join(lines[:-2]) + "\n", r"bad\.gro: frame at line 13 .*\(truncated\)"),
        (good.replace(f"{pos[0, 1, 1]:8.3f}", "   x.yzw"), r"bad\.gro:4: coordinate"),
        ("\n".join(lines[:3] + [lines[3][:30]] + lines[4:]), r"bad\.gro:4: atom line"),
        (good.replace("t= 0.20000", "t= 0.25000"), "not evenly spaced"),
        (good.replace("    3\n", "    x\n", 1), r"bad\.gro:2: atom count"),
    ]
    for text, message in cases:
        (tmp_path / "bad.gro").write_text(text)
        with pytest.raises(ob.TrajectoryError, match=message):
            read_gro(tmp_path / "bad.gro")


def test_xtc_trr_with_gro_topology_and_mdanalysis_gro(tmp_path, rng):
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.coordinates.memory import MemoryReader

    u = mda.Universe.empty(6, n_residues=2, atom_resindex=[0, 0, 0, 1, 1, 1], trajectory=True)
    u.add_TopologyAttr("name", ["OW", "HW1", "HW2"] * 2)
    u.add_TopologyAttr("resname", ["SOL"] * 2)
    pos = rng.uniform(0, 20, size=(4, 6, 3)).astype(np.float32)
    vel = rng.normal(size=(4, 6, 3)).astype(np.float32)
    dims = np.array([[20.0, 21.0, 22.0, 90.0, 90.0, 90.0]] * 4, dtype=np.float32)
    u.load_new(pos, format=MemoryReader, velocities=vel, dimensions=dims, dt=0.25)
    gro = tmp_path / "conf.gro"
    u.atoms.write(gro)  # MDAnalysis's GRO writer: frame 0, Å -> nm
    t0 = read_gro(gro, timestep=Q(1, "ps"), masses="elements")
    np.testing.assert_allclose(t0.positions[0], pos[0] / 10, atol=6e-4)
    np.testing.assert_allclose(t0.velocities[0], vel[0] / 10, atol=6e-5)
    np.testing.assert_allclose(t0.box, [2.0, 2.1, 2.2], atol=1e-5)
    for suffix in ("xtc", "trr"):
        path = tmp_path / f"run.{suffix}"
        with mda.Writer(str(path), n_atoms=6) as w:
            for _ in u.trajectory:
                w.write(u.atoms)
        t = read_trajectory(path, topology=gro)
        assert t.masses is None  # a .gro stores no masses; MDAnalysis's guess needs asking
        guessed = read_trajectory(path, topology=gro, masses="elements")
        np.testing.assert_allclose(guessed.masses, [15.999, 1.008, 1.008] * 2)
        np.testing.assert_allclose(t.positions, pos / 10, atol=1e-3 if suffix == "xtc" else 1e-6)
        assert float(t.timestep) == pytest.approx(0.25)
        if suffix == "trr":
            np.testing.assert_allclose(t.velocities, vel / 10, rtol=1e-5)


def test_multi_frame_pdb_and_h5md(tmp_path, rng):
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.coordinates.memory import MemoryReader

    u = mda.Universe.empty(3, trajectory=True)
    u.add_TopologyAttr("name", ["O", "H", "H"])
    u.add_TopologyAttr("type", ["O", "H", "H"])
    u.add_TopologyAttr("masses", [15.999, 1.008, 1.008])
    pos = rng.uniform(0, 20, size=(3, 3, 3)).astype(np.float32)
    vel = rng.normal(size=(3, 3, 3)).astype(np.float32)
    dims = np.array([[20.0, 21.0, 22.0, 90.0, 90.0, 90.0]] * 3, dtype=np.float32)
    u.load_new(pos, format=MemoryReader, velocities=vel, dimensions=dims, dt=0.5)
    pdb = tmp_path / "run.pdb"
    with mda.Writer(str(pdb), n_atoms=3, multiframe=True) as w:
        for _ in u.trajectory:
            w.write(u.atoms)
    assert pdb.read_text().count("MODEL") == 3 and "CRYST1" in pdb.read_text()
    t = read_trajectory(pdb, timestep=Q(0.5, "ps"))
    assert t.n_frames == 3
    np.testing.assert_allclose(t.positions, pos / 10, atol=1e-4)  # PDB: 3 decimals in Å
    np.testing.assert_allclose(t.box, [2.0, 2.1, 2.2], atol=1e-4)
    assert t.masses is None  # a PDB stores no masses; MDAnalysis's guess is not taken silently
    pytest.importorskip("h5py")
    h5 = tmp_path / "run.h5md"
    u.trajectory.units = {"time": "ps", "length": "Angstrom", "velocity": "Angstrom/ps"}
    with mda.Writer(str(h5), n_atoms=3, velocities=True) as w:
        for _ in u.trajectory:
            w.write(u.atoms)
    with pytest.raises(ob.TrajectoryError, match="does not record the time"):
        read_trajectory(h5)  # MDAnalysis's writer stores no time for an in-memory universe
    t = read_trajectory(h5, timestep=Q(0.5, "ps"))
    np.testing.assert_allclose(t.positions, pos / 10, rtol=1e-6)
    np.testing.assert_allclose(t.velocities, vel / 10, rtol=1e-6)
    np.testing.assert_allclose(t.box, [2.0, 2.1, 2.2], rtol=1e-6)
    assert float(t.timestep) == pytest.approx(0.5)
    with pytest.raises(TypeError, match="carry their own atoms"):
        read_trajectory(h5, topology=pdb)


@pytest.mark.slow  # 5 s; the xvg reader is tested without the command line
def test_command_line_reads_an_xvg_dipole_series(tmp_path, rng, capsys):
    from spectrinv.cli import main

    n = 64
    t = 0.002 * np.arange(n)
    phase = 2 * np.pi * 100.0 * t  # 100 THz = 3336 cm^-1
    dip = np.c_[np.cos(phase), np.sin(phase), 0.1 * rng.normal(size=n)] * 3.0
    path = tmp_path / "Mtot.xvg"
    path.write_text(_xvg(dip, t))
    out = tmp_path / "ir"
    argv = ["spectrum", str(path), "--kind", "ir", "--temperature", "300 K", "--out", str(out)]
    assert main([*argv, "--max-lag", "0.03 ps", "--volume", "27 nm**3"]) == 0
    spec = ob.Spectrum.from_csv(out.with_suffix(".csv"))
    assert abs(spec.x.m_as("1/cm")[np.argmax(spec.y.m)] - 3336) < 300
    capsys.readouterr()
    assert main(argv) == 2  # no box, no --volume: one line saying what is missing
    assert "volume" in capsys.readouterr().err
    assert main([*argv, "--topology", str(path)]) == 2
    assert main([*argv, "--timestep", "2 fs"]) == 2
    assert "wrong arguments for read_gmx_dipoles" in capsys.readouterr().err
