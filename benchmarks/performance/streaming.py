"""Benchmark: peak memory and time of streaming observables (`observables.streaming`).

Writes uncompressed `.npz` trajectories of growing size to a scratch folder (velocities of
`--atoms` atoms, an AR(1) series so that the correlations have structure; `--frames` sets
the sizes), then, for each size, runs in a fresh subprocess:

- `stream(VDOS(max_lag=200), NpzFrames(file), chunk_frames=1000)` and the same for
  `SelfDiffusion(max_lag=200)` (per-atom correlations accumulated chunk by chunk), and
- for the sizes up to `--in-memory-max-gb`, the in-memory call `VDOS(...)(read_npz(file))`.

Each subprocess reports its peak resident memory (`resource.getrusage(...).ru_maxrss`),
the time of the first call (reading the file and computing, compilation included) and of
a second call, and the streamed and in-memory spectra are checked to agree. A smaller RDF
case (`--rdf-atoms`, `--rdf-frames`) compares the streaming and in-memory times of `RDF`.
The files are deleted at the end.

    python -m benchmarks.performance.streaming             # 6k, 25k, 160k frames x 1000 atoms
    python -m benchmarks.performance.streaming --quick     # 2k, 6k frames x 100 atoms
    python -m benchmarks.performance.streaming --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

MAX_LAG = 200
CHUNK = 1000


# -------------------------------------------------------------------------------- files
def write_velocity_file(path: Path, frames: int, atoms: int, seed: int = 0) -> int:
    """An uncompressed `.npz` in the `Trajectory.to_npz` format, written a block of frames at
    a time (the velocity array never exists whole); returns the file size in bytes."""
    import observables as ob

    rng = np.random.default_rng(seed)
    masses = rng.uniform(1.0, 16.0, atoms)
    small = ob.Trajectory(
        box=ob.Quantity([5.0, 5.0, 5.0], "nm"),
        timestep=ob.Quantity(2.0, "fs"),
        velocities=ob.Quantity(np.zeros((1, atoms, 3)), "nm/ps"),
        masses=ob.Quantity(masses, "Da"),
    )
    template = path.with_suffix(".template.npz")
    small.to_npz(template, compressed=False)
    with zipfile.ZipFile(template) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename != "velocities.npy":
                dst.writestr(info.filename, src.read(info.filename))
        with dst.open("velocities.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f8", "fortran_order": False, "shape": (frames, atoms, 3)}
            np.lib.format.write_array_header_2_0(fh, header)
            v = rng.normal(size=(atoms, 3))
            for start in range(0, frames, 1000):
                m = min(1000, frames - start)
                block = np.empty((m, atoms, 3))
                noise = rng.normal(size=(m, atoms, 3))
                for i in range(m):  # AR(1): correlation time ~10 frames
                    v = 0.9 * v + 0.436 * noise[i]
                    block[i] = v
                fh.write(block.tobytes())
    template.unlink()
    return path.stat().st_size


# ------------------------------------------------------------------------------- worker
def worker(kind: str, mode: str, path: str, out: str, rdf_r_max: float) -> None:
    """One measurement in this (fresh) process: two calls, timings, peak RSS, result."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import observables as ob
    from observables.io import read_npz
    from observables.streaming import NpzFrames, stream

    obs = {
        "vdos": lambda: ob.VDOS(max_lag=MAX_LAG),
        "diffusion": lambda: ob.SelfDiffusion(max_lag=MAX_LAG),
        "rdf": lambda: ob.RDF(ob.Quantity(rdf_r_max, "nm"), bins=200),
    }[kind]()

    def call():
        if mode == "stream":
            return stream(obs, NpzFrames(path), chunk_frames=CHUNK)
        return obs(read_npz(path))

    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = call()
        jax.block_until_ready(res.y_magnitude)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    np.savez(out, y=np.asarray(res.y_magnitude), error=np.asarray(res.error_magnitude))
    print(json.dumps({"first_s": times[0], "second_s": times[1], "peak_rss_bytes": peak}))


def run_worker(kind: str, mode: str, path: Path, scratch: Path, rdf_r_max: float = 0.0) -> dict:
    out = scratch / f"{kind}-{mode}-{path.stem}.npz"
    cmd = [sys.executable, "-m", "benchmarks.performance.streaming", "--worker", kind, mode]
    cmd += [str(path), str(out), str(rdf_r_max)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        row["y"], row["error"] = data["y"], data["error"]
    return row


def _best(row: dict, mode: str) -> float:
    """The faster of the two calls (the first includes compilation)."""
    return min(row[f"{mode}_first_s"], row[f"{mode}_second_s"])


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def main() -> None:
    from .._harness import load, machine

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[6_000, 25_000, 160_000])
    parser.add_argument("--atoms", type=int, default=1000)
    parser.add_argument("--in-memory-max-gb", type=float, default=0.7)
    parser.add_argument("--rdf-atoms", type=int, default=256)
    parser.add_argument("--rdf-frames", type=int, default=2000)
    parser.add_argument("--scratch", default=tempfile.gettempdir())
    parser.add_argument("--quick", action="store_true", help="2k, 6k frames x 100 atoms")
    parser.add_argument("--json", help="write results to this JSON file")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, mode, path, out, r_max = args.worker
        worker(kind, mode, path, out, float(r_max))
        return
    if args.quick:
        args.frames, args.atoms, args.rdf_atoms, args.rdf_frames = [2000, 6000], 100, 64, 400
    scratch = Path(tempfile.mkdtemp(prefix="spectrinv-streaming-", dir=args.scratch))
    rows, info = [], machine()
    info["load_start"] = load()
    try:
        for frames in args.frames:
            path = scratch / f"v{frames}.npz"
            size = write_velocity_file(path, frames, args.atoms)
            for kind in ("vdos", "diffusion"):
                s = run_worker(kind, "stream", path, scratch)
                row = {"kind": kind, "frames": frames, "atoms": args.atoms, "file_bytes": size}
                row.update({f"stream_{k}": v for k, v in s.items() if k not in ("y", "error")})
                if size <= args.in_memory_max_gb * 1e9:
                    m = run_worker(kind, "memory", path, scratch)
                    row.update({f"memory_{k}": v for k, v in m.items() if k not in ("y", "error")})
                    scale = float(np.max(np.abs(m["y"])))
                    row["max_rel_diff"] = float(np.max(np.abs(s["y"] - m["y"])) / scale)
                    escale = float(np.max(np.abs(m["error"])))
                    row["max_rel_diff_error"] = float(
                        np.max(np.abs(s["error"] - m["error"])) / escale
                    )
                rows.append(row)
                print(json.dumps(row), flush=True)
            path.unlink()
        # RDF: streaming vs in memory on a file that fits
        import observables as ob

        rng = np.random.default_rng(1)
        edge = (args.rdf_atoms / 30.0) ** (1 / 3)  # ~30 atoms per nm^3
        traj = ob.Trajectory(
            ob.Quantity(rng.uniform(0, edge, size=(args.rdf_frames, args.rdf_atoms, 3)), "nm"),
            box=ob.Quantity([edge] * 3, "nm"),
            timestep=ob.Quantity(2.0, "fs"),
        )
        path = scratch / "rdf.npz"
        traj.to_npz(path, compressed=False)
        del traj
        s = run_worker("rdf", "stream", path, scratch, 0.5 * edge)
        m = run_worker("rdf", "memory", path, scratch, 0.5 * edge)
        row = {"kind": "rdf", "frames": args.rdf_frames, "atoms": args.rdf_atoms}
        row["file_bytes"] = path.stat().st_size
        row.update({f"stream_{k}": v for k, v in s.items() if k not in ("y", "error")})
        row.update({f"memory_{k}": v for k, v in m.items() if k not in ("y", "error")})
        row["max_rel_diff"] = float(np.max(np.abs(s["y"] - m["y"])) / np.max(np.abs(m["y"])))
        rows.append(row)
        print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info["load_end"] = load()
    print()
    print(
        f"chunk_frames={CHUNK}, max_lag={MAX_LAG} frames; load {info['load_start']:.2f} -> "
        f"{info['load_end']:.2f}"
    )
    print(
        "| observable | frames x atoms | file | streaming peak RSS | streaming time (1st / 2nd) "
        "| in-memory peak RSS | in-memory time (1st / 2nd) | stream ÷ memory (best) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        mem = "—", "—", "—"
        if "memory_peak_rss_bytes" in r:
            mem = (
                _gb(r["memory_peak_rss_bytes"]),
                f"{r['memory_first_s']:.2f} / {r['memory_second_s']:.2f} s",
                f"{_best(r, 'stream') / _best(r, 'memory'):.2f}",
            )
        print(
            f"| {r['kind']} | {r['frames']} x {r['atoms']} | {_gb(r['file_bytes'])} | "
            f"{_gb(r['stream_peak_rss_bytes'])} | {r['stream_first_s']:.2f} / "
            f"{r['stream_second_s']:.2f} s | {mem[0]} | {mem[1]} | {mem[2]} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
