"""Streaming observables (`observables.streaming`) equal the in-memory ones, error bars included."""

import io
import zipfile

import MDAnalysis as mda
import numpy as np
import pytest
from MDAnalysis.coordinates.memory import MemoryReader

import observables as ob
from observables import Quantity as Q
from observables._blocks import split_blocks
from observables.io import read_mdanalysis
from observables.streaming import LagSums, MDAnalysisFrames, NpzFrames, stream
from spectrinv.cli import main

RTOL = 1e-12


def _close(streamed, in_memory, rtol=RTOL):
    """Max difference relative to the largest |value| of the in-memory array."""
    a, b = np.asarray(streamed), np.asarray(in_memory)
    assert a.shape == b.shape
    scale = np.max(np.abs(b))
    assert scale > 0
    assert np.max(np.abs(a - b)) <= rtol * scale, np.max(np.abs(a - b)) / scale


def _same_result(streamed, in_memory):
    if in_memory.x_magnitude is not None:
        _close(streamed.x_magnitude, in_memory.x_magnitude)
    _close(streamed.y_magnitude, in_memory.y_magnitude)
    if isinstance(in_memory, ob.TransportResult):
        _close(streamed.correlation_magnitude, in_memory.correlation_magnitude)
        _close(streamed.running_magnitude, in_memory.running_magnitude)
    assert (streamed.error_magnitude is None) == (in_memory.error_magnitude is None)
    if in_memory.error_magnitude is not None:
        _close(streamed.error_magnitude, in_memory.error_magnitude)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 120-frame, 20-atom run with velocities, masses, charges, species and signals, saved
    whole (compressed) and in two parts (one uncompressed)."""
    rng = np.random.default_rng(7)
    f, n = 120, 20
    pos = rng.uniform(0.0, 2.0, size=(f, n, 3))
    vel = rng.normal(size=(f, n, 3))
    stress = rng.normal(size=(f, 3, 3))
    for t in range(1, f):  # correlated in time, so the correlations are not noise alone
        vel[t] = 0.8 * vel[t - 1] + 0.6 * vel[t]
        stress[t] = 0.7 * stress[t - 1] + 0.7 * stress[t]
    traj = ob.Trajectory(
        Q(pos, "nm"),
        box=Q([2.0, 2.0, 2.0], "nm"),
        timestep=Q(2.0, "fs"),
        velocities=Q(vel, "nm/ps"),
        masses=Q(rng.uniform(1.0, 16.0, n), "Da"),
        charges=Q(rng.normal(size=n), "e"),
        species=["O", "H"] * (n // 2),
        dipole=Q(rng.normal(size=(f, 3)), "e*nm"),
        polarizability=Q(rng.normal(size=(f, 3, 3)) + 5 * np.eye(3), "angstrom**3"),
        stress=Q(stress, "bar"),
    )
    d = tmp_path_factory.mktemp("streaming")
    traj.to_npz(d / "whole.npz")
    traj[:40].to_npz(d / "part1.npz", compressed=False)
    traj[40:].to_npz(d / "part2.npz")
    return traj, d


@pytest.fixture(params=["whole", pytest.param("parts", marks=pytest.mark.slow)])
def frames(run, request):
    _, d = run
    if request.param == "whole":
        return NpzFrames(d / "whole.npz")
    return NpzFrames(d / "part1.npz", d / "part2.npz")


# ------------------------------------------------------------------------ lag sums
@pytest.mark.parametrize("chunk", [1, 7, 64, 300])
@pytest.mark.parametrize("unbiased", [True, False])
def test_lag_sums_equal_correlate_and_block_correlations(rng, chunk, unbiased):
    n, k, b = 203, 25, 4
    x = rng.normal(size=(n, 5, 3))
    acc = LagSums(n, k, b)
    for s in range(0, n, chunk):
        acc.add(x[s : s + chunk])
    corr, blocks = acc.correlation(unbiased)
    _close(corr, ob.correlate(x, max_lag=k, unbiased=unbiased))
    ref = [ob.correlate(blk, max_lag=k, unbiased=unbiased) for blk in split_blocks(x, b)]
    _close(blocks, np.stack(ref))


def test_lag_sums_against_the_direct_sum(rng):
    """An independent reference: the O(N^2) sum, lag by lag, with the largest lag N - 1."""
    x = rng.normal(size=(40, 2))
    acc = LagSums(40, 39)
    for s in range(0, 40, 6):
        acc.add(x[s : s + 6])
    _close(acc.correlation(True)[0], ob.correlate_direct(x))


# ------------------------------------------------------------- observables, npz sources
OBSERVABLES = {
    "rdf": ob.RDF(Q(0.9, "nm"), bins=40),
    "rdf-gauss-OH": ob.RDF(
        Q(0.9, "nm"), bins=40, pair=("O", "H"), kernel=ob.GaussianKernel(Q(0.02, "nm"))
    ),
    "vdos": ob.VDOS(max_lag=20),
    "gk-D": ob.SelfDiffusion(max_lag=Q(20, "fs")),
    "gk-D-species": ob.SelfDiffusion(("O", "H"), max_lag=10),
    "ir": ob.IRSpectrum(Q(300, "K"), max_lag=20),
    "ir-derivative": ob.IRSpectrum(Q(300, "K"), max_lag=20, source=ob.FromDipoleDerivative()),
    "eta": ob.ShearViscosity(Q(300, "K"), max_lag=10),
    "sigma-from-velocities": ob.IonicConductivity(Q(300, "K"), max_lag=10),
    "raman-vh": ob.RamanSpectrum(Q(300, "K"), max_lag=20, component="vh"),
}


#: covered in the default suite by their simpler neighbours; run in full with -m slow
SLOWER = {"rdf-gauss-OH", "gk-D-species", "raman-vh"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOWER else n for n in OBSERVABLES],
)
def test_stream_equals_in_memory(run, frames, name):
    """Chunks of 40 frames (the parts hold 40 and 80 frames): one compiled chunk shape."""
    traj, _ = run
    obs = OBSERVABLES[name]
    _same_result(stream(obs, frames, chunk_frames=40), obs(traj))


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [1, 7, 33, 500])
@pytest.mark.parametrize("name", list(OBSERVABLES))
def test_stream_equals_in_memory_for_any_chunk_size(run, frames, name, chunk):
    traj, _ = run
    obs = OBSERVABLES[name]
    _same_result(stream(obs, frames, chunk_frames=chunk), obs(traj))


@pytest.mark.parametrize("name", ["rdf", "vdos", "gk-D"])
def test_stream_of_parts_equals_in_memory(run, name):
    """Two files (40 uncompressed frames, 80 compressed) read as one run, chunks straddling
    neither file's end."""
    traj, d = run
    obs = OBSERVABLES[name]
    frames = NpzFrames(d / "part1.npz", d / "part2.npz")
    _same_result(stream(obs, frames, chunk_frames=40), obs(traj))


@pytest.mark.slow
def test_rdf_with_a_box_per_frame(tmp_path, rng):
    f, n = 30, 16
    box = 2.0 + 0.1 * rng.uniform(size=(f, 3))
    traj = ob.Trajectory(
        Q(rng.uniform(0, 2.0, size=(f, n, 3)), "nm"), box=Q(box, "nm"), timestep=Q(1, "fs")
    )
    traj.to_npz(tmp_path / "npt.npz")
    rdf = ob.RDF(Q(0.95, "nm"), bins=30)
    _same_result(stream(rdf, NpzFrames(tmp_path / "npt.npz"), chunk_frames=4), rdf(traj))


@pytest.mark.slow
def test_stream_from_mdanalysis_matches_the_whole_file_read(tmp_path, rng):
    u = mda.Universe.empty(12, trajectory=True)
    u.add_TopologyAttr("name", ["O", "H", "H"] * 4)
    u.add_TopologyAttr("type", ["O", "H", "H"] * 4)
    pos = rng.uniform(0, 20, size=(25, 12, 3)).astype(np.float32)
    dims = np.array([[20.0, 20.0, 20.0, 90.0, 90.0, 90.0]] * 25, dtype=np.float32)
    u.load_new(pos, format=MemoryReader, dimensions=dims, dt=0.5)
    pdb, dcd = tmp_path / "top.pdb", tmp_path / "run.dcd"
    u.atoms.write(pdb)
    with mda.Writer(str(dcd), n_atoms=12, dt=0.5) as w:
        for _ in u.trajectory:
            w.write(u.atoms)
    rdf = ob.RDF(Q(0.95, "nm"), bins=25)
    source = MDAnalysisFrames(pdb, dcd, timestep=Q(0.5, "ps"))
    assert (source.n_frames, source.n_atoms) == (25, 12)
    whole = read_mdanalysis(pdb, dcd, timestep=Q(0.5, "ps"))
    _same_result(stream(rdf, source, chunk_frames=6), rdf(whole))


def test_cli_stream_always_writes_what_the_in_memory_run_writes(run, tmp_path):
    _, d = run
    base = ["spectrum", str(d / "whole.npz"), "--kind", "vdos", "--max-lag", "40 fs"]
    assert main([*base, "--stream", "never", "--out", str(tmp_path / "m")]) == 0
    assert (
        main([*base, "--stream", "always", "--chunk-frames", "40", "--out", str(tmp_path / "s")])
        == 0
    )
    a, b = (ob.Spectrum.from_csv(tmp_path / f"{x}.csv") for x in "ms")
    assert a.metadata == b.metadata and len(a.y_magnitude) > 5
    # the command line runs in float32: the streamed sums are kept in float64
    for x, y in ((a.y_magnitude, b.y_magnitude), (a.error_magnitude, b.error_magnitude)):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-5 * np.abs(x).max())


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("chunk", [0, -5, 2.5, True, None])
def test_chunk_frames_must_be_a_positive_int(run, chunk):
    _, d = run
    with pytest.raises(ValueError, match="chunk_frames must be a positive int") as err:
        stream(ob.RDF(Q(0.9, "nm"), bins=10), NpzFrames(d / "whole.npz"), chunk_frames=chunk)
    assert "\n" not in str(err.value)


def test_parts_that_change_the_atom_count_are_refused(run, tmp_path):
    traj, d = run
    fewer = ob.Trajectory(
        traj.quantity("positions")[:, :10],
        box=traj.quantity("box"),
        timestep=traj.quantity("timestep"),
    )
    fewer.to_npz(tmp_path / "fewer.npz")
    with pytest.raises(
        ob.TrajectoryError, match="fewer.npz has 10 atoms but part1.npz has 20"
    ) as err:
        NpzFrames(d / "part1.npz", tmp_path / "fewer.npz")
    assert "\n" not in str(err.value)


def test_cli_refuses_a_bad_chunk_size_in_one_line(run, capsys):
    _, d = run
    assert main(["rdf", str(d / "whole.npz"), "--stream", "always", "--chunk-frames", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--chunk-frames 0" in err and "\n" not in err


def test_truncated_npz_member_is_a_one_line_error(run, tmp_path):
    _, d = run
    data = (d / "part1.npz").read_bytes()  # uncompressed: cutting it truncates positions
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises((ob.TrajectoryError, zipfile.BadZipFile)):
        stream(ob.RDF(Q(0.9, "nm"), bins=10), NpzFrames(tmp_path / "cut.npz"))


def test_what_streaming_does_not_do_is_refused(run):
    _, d = run
    frames = NpzFrames(d / "whole.npz")
    with pytest.raises(ValueError, match="EinsteinDiffusion is not available"):
        stream(ob.EinsteinDiffusion(max_lag=10), frames)
    with pytest.raises(ValueError, match=r"subtract_mean=True\) is not available"):
        stream(ob.SelfDiffusion(max_lag=10, subtract_mean=True), frames)


def test_a_non_finite_velocity_is_a_one_line_error_naming_file_and_frame(run, tmp_path):
    _, d = run
    path = tmp_path / "nan.npz"
    with zipfile.ZipFile(d / "part1.npz") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "velocities.npy":
                v = np.load(d / "part1.npz")["velocities"].copy()
                v[17, 3, 1] = np.nan
                buffer = io.BytesIO()
                np.save(buffer, v)
                data = buffer.getvalue()
            dst.writestr(info.filename, data)
    with pytest.raises(ob.TrajectoryError, match=r"nan.npz: velocities .* at frame 17") as err:
        stream(ob.VDOS(max_lag=5), NpzFrames(path), chunk_frames=10)
    assert "\n" not in str(err.value)


def test_cli_streams_automatically_above_its_memory_share(run, tmp_path, monkeypatch):
    import observables.streaming
    import spectrinv.cli._stream as cli_stream

    _, d = run
    calls = []
    real = observables.streaming.stream

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(observables.streaming, "stream", counting)
    argv = ["spectrum", str(d / "whole.npz"), "--kind", "ir", "--temperature", "300 K"]
    argv += ["--max-lag", "40 fs", "--out", str(tmp_path / "ir")]
    assert main(argv) == 0 and calls == []  # a small file is read whole
    monkeypatch.setattr(cli_stream, "_AUTO_STREAM_SHARE", 0.0)
    assert main(argv) == 0 and len(calls) == 1 and isinstance(calls[0], NpzFrames)


def test_parts_with_different_boxes_give_the_mean_volume_of_all_frames(tmp_path, rng):
    def part(n, edge):
        dipole = Q(rng.normal(size=(n, 3)), "e*nm")
        return ob.Trajectory(box=Q([edge] * 3, "nm"), timestep=Q(1, "fs"), dipole=dipole)

    a, b = part(50, 2.0), part(70, 2.5)
    a.to_npz(tmp_path / "a.npz")
    b.to_npz(tmp_path / "b.npz")
    boxes = np.concatenate([np.full((50, 3), 2.0), np.full((70, 3), 2.5)])
    dipoles = np.concatenate([np.asarray(a.dipole), np.asarray(b.dipole)])
    whole = ob.Trajectory(box=Q(boxes, "nm"), timestep=Q(1, "fs"), dipole=Q(dipoles, "e*nm"))
    ir = ob.IRSpectrum(Q(300, "K"), max_lag=10)
    frames = NpzFrames(tmp_path / "a.npz", tmp_path / "b.npz")
    _same_result(stream(ir, frames, chunk_frames=16), ir(whole))
