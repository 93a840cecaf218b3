"""Benchmark: observables vs established tools, side by side in one process on the same data.

Each benchmark function takes the parsed arguments and returns rows
`{"benchmark", "contender", "seconds", "ratio", "max_rel_diff", "note"}` where `ratio` is the
contender's time divided by the reference row's (ours) — above 1 means ours is faster — and
`max_rel_diff` is the largest relative difference from our float64 result on bins/points that
carry data (our float32 rows and freud/MDAnalysis compute distances in float32, which moves
roughly 1e-4 of the pairs across bin edges at these sizes; the small-system tests in
tests/test_structure.py show agreement to 1e-6). Compile / warm-up runs are excluded; the best
of `--repeat` runs is reported.
MSD: `observables.mean_squared_displacement` (FFT, S1 - 2 S2) vs `tidynamics.msd` per atom.
VACF spectrum: `observables.VDOS` vs `tidynamics.acf` per atom followed by a NumPy FFT.

RDF: `observables.RDF` (all N² pairs per frame, `lax.map` over frames) vs `freud.density.RDF`
(cell list, C++/TBB threads) and `MDAnalysis.analysis.rdf.InterRDF` (capped_distance, serial),
on LJ-like frames: a simple-cubic lattice at the LJ argon triple-point density
ρσ³ = 0.8442 (σ = 0.34 nm) with independent Gaussian displacements (0.15σ) in every frame.

    python -m benchmarks.performance.observables_vs_peers                 # 1000 atoms x 100 frames
    python -m benchmarks.performance.observables_vs_peers --quick         # 512 atoms x 20 frames
    python -m benchmarks.performance.observables_vs_peers --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from collections.abc import Callable

import jax

jax.config.update("jax_enable_x64", True)  # so that the float64 rows really are float64

import numpy as np  # noqa: E402

import observables as ob  # noqa: E402

from .._harness import best_time  # noqa: E402

SIGMA_NM = 0.34
DENSITY_REDUCED = 0.8442


def lj_like_frames(n_side: int, n_frames: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """Positions `[frame, n_side**3, 3]` (nm, wrapped) and the cubic box edge (nm)."""
    n = n_side**3
    length = (n / DENSITY_REDUCED) ** (1 / 3) * SIGMA_NM
    spacing = length / n_side
    grid = np.arange(n_side) * spacing
    lattice = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    pos = lattice[None] + rng.normal(scale=0.15 * SIGMA_NM, size=(n_frames, n, 3))
    return np.mod(pos, length), length


def _rel_diff(ours: np.ndarray, other: np.ndarray, mask: np.ndarray) -> float:
    return float(np.max(np.abs(other[mask] / ours[mask] - 1.0)))


def _freud_row(pos, length, bins, r_max, repeat, reference, counts) -> dict:
    """freud's RDF on the same frames (float32, all threads), or a "not installed" row."""
    try:
        import freud

        box = freud.box.Box.cube(length)
        pts = [box.wrap(p.astype(np.float32)) for p in pos]

        def run_freud():
            rdf = freud.density.RDF(bins, r_max, normalization_mode="finite_size")
            for p in pts:
                rdf.compute((box, p), reset=False)
            return rdf

        run_freud()
        seconds = best_time(run_freud, repeat, warmup=0)
        out = run_freud()
        diff = _rel_diff(reference, np.asarray(out.rdf, dtype=np.float64), counts)
        threads = freud.parallel.get_num_threads() or os.cpu_count()
        return dict(
            contender=f"freud {freud.__version__}",
            seconds=seconds,
            max_rel_diff=diff,
            note=f"float32, {threads} threads, normalization_mode='finite_size'",
        )
    except ImportError:
        return dict(contender="freud", seconds=None, max_rel_diff=None, note="not installed")


def _mda_row(pos, length, bins, r_max, repeat, reference, counts) -> dict:
    """MDAnalysis' InterRDF on the same frames (serial), or a "not installed" row."""
    n, n_frames = pos.shape[1], pos.shape[0]
    try:
        import MDAnalysis as mda
        from MDAnalysis.analysis.rdf import InterRDF
        from MDAnalysis.coordinates.memory import MemoryReader

        u = mda.Universe.empty(n, trajectory=True)
        dims = np.tile([10 * length] * 3 + [90.0] * 3, (n_frames, 1))
        u.load_new((10.0 * pos).astype(np.float32), format=MemoryReader, dimensions=dims)

        def run_mda():
            return InterRDF(
                u.atoms, u.atoms, nbins=bins, range=(0.0, 10.0 * r_max), exclusion_block=(1, 1)
            ).run()

        run_mda()
        seconds = best_time(run_mda, repeat, warmup=0)
        diff = _rel_diff(reference, np.asarray(run_mda().results.rdf), counts)
        return dict(
            contender=f"MDAnalysis {mda.__version__}",
            seconds=seconds,
            max_rel_diff=diff,
            note="InterRDF, exclusion_block=(1, 1), serial backend",
        )
    except ImportError:
        return dict(contender="MDAnalysis", seconds=None, max_rel_diff=None, note="not installed")


def bench_rdf(args: argparse.Namespace) -> list[dict]:
    n_side, n_frames = (8, 20) if args.quick else (10, 100)
    pos, length = lj_like_frames(n_side, n_frames)
    # every contender sees the same numbers: positions exactly representable in float32
    pos = pos.astype(np.float32).astype(np.float64)
    n = pos.shape[1]
    r_max = min(1.5, 0.49 * length)
    bins = 150
    label = f"RDF {n} atoms x {n_frames} frames, {bins} bins, r_max {r_max:.2f} nm"
    rows: list[dict] = []

    def traj(dtype):
        return ob.Trajectory(
            ob.Quantity(pos.astype(dtype), "nm"),
            box=ob.Quantity(np.full(3, length, dtype=dtype), "nm"),
            timestep=ob.Quantity(1.0, "ps"),
        )

    hist = ob.RDF(ob.Quantity(r_max, "nm"), bins)
    smooth = ob.RDF(
        ob.Quantity(r_max, "nm"), bins, kernel=ob.GaussianKernel(ob.Quantity(0.005, "nm"))
    )
    t64, t32 = traj(np.float64), traj(np.float32)
    reference = np.asarray(hist(t64).g)  # float64 histogram: the numbers others are checked against
    counts = reference > 0

    ours_cases = [
        ("ours histogram float32", hist, t32, ""),
        ("ours histogram float64", hist, t64, ""),
        ("ours Gaussian kernel float32", smooth, t32, "σ = 5 pm, differentiable; no counterpart"),
    ]
    for name, rdf, t, note in ours_cases:
        jax.block_until_ready(rdf(t))  # compile
        seconds = best_time(lambda rdf=rdf, t=t: rdf(t), args.repeat, warmup=0)
        diff = None
        if rdf.kernel == hist.kernel:
            diff = _rel_diff(reference, np.asarray(rdf(t).g, dtype=np.float64), counts)
        rows.append(dict(contender=name, seconds=seconds, max_rel_diff=diff, note=note))

    rows.append(_freud_row(pos, length, bins, r_max, args.repeat, reference, counts))
    rows.append(_mda_row(pos, length, bins, r_max, args.repeat, reference, counts))

    ref_seconds = rows[0]["seconds"]
    for row in rows:
        row["benchmark"] = label
        row["ratio"] = None if row["seconds"] is None else row["seconds"] / ref_seconds
    return rows


def _random_walk(n_frames: int, n_atoms: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=0.01, size=(n_frames, n_atoms, 3)), axis=0)


def _finish(rows: list[dict], label: str) -> list[dict]:
    ref_seconds = rows[0]["seconds"]
    for row in rows:
        row["benchmark"] = label
        row["ratio"] = None if row["seconds"] is None else row["seconds"] / ref_seconds
    return rows


def bench_msd(args: argparse.Namespace) -> list[dict]:
    """Particle-averaged MSD, all lags: `mean_squared_displacement` vs `tidynamics.msd`."""
    import tidynamics

    n_frames, n_atoms = (5_000, 100) if args.quick else (20_000, 1000)
    x = _random_walk(n_frames, n_atoms)
    label = f"MSD {n_atoms} atoms x {n_frames} frames, all lags"
    ours = jax.jit(lambda p: ob.mean_squared_displacement(p))
    reference = np.asarray(ours(x))  # compile + reference numbers

    def tidy():
        return sum(tidynamics.msd(x[:, i, :]) for i in range(n_atoms)) / n_atoms

    rows = [
        dict(
            contender="ours (jit, float64)",
            seconds=best_time(lambda: ours(x), args.repeat, warmup=0),
            max_rel_diff=0.0,
            note="",
        ),
    ]
    other = tidy()
    mask = np.arange(len(reference)) > 0  # lag 0 is 0 up to rounding in both
    rows.append(
        dict(
            contender="tidynamics.msd (loop over atoms)",
            seconds=best_time(tidy, args.repeat, warmup=0),
            max_rel_diff=_rel_diff(reference, other, mask),
            note="float64",
        )
    )
    return _finish(rows, label)


def bench_vacf_spectrum(args: argparse.Namespace) -> list[dict]:
    """Velocity ACF (particle-averaged) + cosine transform: `VDOS` vs tidynamics.acf + numpy."""
    import tidynamics

    n_frames, n_atoms = (5_000, 100) if args.quick else (20_000, 1000)
    rng = np.random.default_rng(2)
    v = rng.normal(size=(n_frames, n_atoms, 3))
    label = f"VACF + spectrum {n_atoms} atoms x {n_frames} frames, max lag N/4"
    traj = ob.Trajectory(
        ob.Quantity(np.zeros((n_frames, n_atoms, 3)), "nm"),
        velocities=ob.Quantity(v, "nm/ps"),
        masses=ob.Quantity(np.ones(n_atoms), "Da"),
        box=None,
        timestep=ob.Quantity(1, "fs"),
    )
    vdos = ob.VDOS(window=ob.NoWindow())
    jax.block_until_ready(vdos(traj).y.m)
    n_lags = n_frames // 4

    def tidy():
        c = sum(tidynamics.acf(v[:, i, :]) for i in range(n_atoms))[:n_lags] / n_atoms
        return np.fft.rfft(np.concatenate([c, c[:0:-1]])).real  # even extension -> spectrum

    rows = [
        dict(
            contender="ours VDOS (ACF + transform)",
            note="",
            seconds=best_time(lambda: vdos(traj).y.m, args.repeat, warmup=0),
            max_rel_diff=None,
        ),
        dict(
            contender="tidynamics.acf loop + numpy rfft",
            seconds=best_time(tidy, args.repeat, warmup=0),
            max_rel_diff=None,
            note="same work; outputs differ in normalisation only",
        ),
    ]
    return _finish(rows, label)


#: Benchmark functions run in order; each returns rows (see the module docstring).
BENCHMARKS: dict[str, Callable[[argparse.Namespace], list[dict]]] = {
    "rdf": bench_rdf,
    "msd": bench_msd,
    "vacf_spectrum": bench_vacf_spectrum,
}


def machine() -> dict:
    info = dict(
        platform=platform.platform(),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        jax=jax.__version__,
        jax_backend=jax.default_backend(),
    )
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def print_table(rows: list[dict]) -> None:
    current = None
    for row in rows:
        if row["benchmark"] != current:
            current = row["benchmark"]
            print(f"\n{current}")
            print(
                f"  {'contender':34s} {'time [s]':>10s} {'ratio':>8s} {'max rel diff':>13s}  note"
            )
        sec = "—" if row["seconds"] is None else f"{row['seconds']:.4f}"
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}"
        diff = "—" if row["max_rel_diff"] is None else f"{row['max_rel_diff']:.1e}"
        print(f"  {row['contender']:34s} {sec:>10s} {ratio:>8s} {diff:>13s}  {row['note']}")
    print("\nratio = time / time of the first row of each table (ours); > 1: ours is faster")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender (best)")
    parser.add_argument(
        "--only",
        choices=sorted(BENCHMARKS),
        action="append",
        help="run only these benchmarks (repeatable)",
    )
    parser.add_argument("--json", help="write machine info and all rows to this JSON file")
    args = parser.parse_args()

    rows: list[dict] = []
    for name, bench in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        rows.extend(bench(args))
    info = machine()
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} CPUs, load {info.get('load_average')}")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                dict(machine=info, quick=args.quick, repeat=args.repeat, rows=rows), fh, indent=2
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
