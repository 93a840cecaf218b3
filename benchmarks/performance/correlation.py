"""Benchmark: FFT correlation of observables vs tidynamics (and an O(N²) NumPy direct sum).

Task: the velocity autocorrelation ⟨v(0)·v(t)⟩ averaged over particles, for a series of
`frames × particles × 3` float64 values, all lags. Each contender computes the same numbers
(checked to agree); compile / warm-up runs are excluded and the best of `--repeat` runs is
reported. The direct O(N²) sum is timed on a shorter series (`--direct-frames`) and the
ratio is given at that size, because at 10⁵ frames it would take hours.

    python -m benchmarks.performance.correlation                  # 10^5 frames x 10^3 particles x 3
    python -m benchmarks.performance.correlation --quick          # 10^4 x 100 x 3
    python -m benchmarks.performance.correlation --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import tidynamics  # noqa: E402

import observables as ob  # noqa: E402

from .._harness import best_time  # noqa: E402


def ours(v: np.ndarray):
    return ob.correlate(v, sum_axes=(2,), mean_axes=(1,))


def tidy(v: np.ndarray) -> np.ndarray:
    # tidynamics works on one (N, D) series at a time; average over particles.
    acc = np.zeros(v.shape[0])
    for i in range(v.shape[1]):
        acc += tidynamics.acf(v[:, i, :])
    return acc / v.shape[1]


def direct(v: np.ndarray) -> np.ndarray:
    return ob.correlate_direct(v).sum(-1).mean(-1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--direct-frames", type=int, default=5_000)
    parser.add_argument("--direct-particles", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10^4 frames x 100 particles")
    parser.add_argument("--json", help="write results to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.particles, args.direct_frames, args.direct_particles = (
            10_000,
            100,
            2_000,
            20,
        )

    rng = np.random.default_rng(0)
    v = rng.normal(size=(args.frames, args.particles, 3))

    ours_jit = jax.jit(ours)
    ref = tidy(v[:, :2])  # warm tidynamics / numpy FFT plans
    np.testing.assert_allclose(np.asarray(ours_jit(v[:, :2])), ref, atol=1e-10)
    c_ours = np.asarray(ours_jit(v))  # compile at full size (excluded)
    t_ours = best_time(lambda: ours_jit(v), args.repeat, warmup=0)
    t_tidy = best_time(lambda: tidy(v), max(1, args.repeat - 2), warmup=0)
    np.testing.assert_allclose(c_ours, tidy(v[:, : args.particles]), atol=1e-10)

    vd = v[: args.direct_frames, : args.direct_particles]
    c_small = np.asarray(ours_jit(vd))
    t_ours_small = best_time(lambda: ours_jit(vd), args.repeat, warmup=0)
    t_direct = best_time(lambda: direct(vd), 1, warmup=0)
    np.testing.assert_allclose(c_small, direct(vd), atol=1e-10)

    rows = [
        ("observables.correlate (jit)", f"{args.frames}x{args.particles}x3", t_ours, 1.0),
        (
            "tidynamics.acf (loop over particles)",
            f"{args.frames}x{args.particles}x3",
            t_tidy,
            t_tidy / t_ours,
        ),
        (
            "observables.correlate (jit)",
            f"{args.direct_frames}x{args.direct_particles}x3",
            t_ours_small,
            1.0,
        ),
        (
            "numpy direct O(N^2)",
            f"{args.direct_frames}x{args.direct_particles}x3",
            t_direct,
            t_direct / t_ours_small,
        ),
    ]
    print(f"{'method':40s} {'size':>18s} {'time [s]':>10s} {'time / ours':>12s}")
    for name, size, t, r in rows:
        print(f"{name:40s} {size:>18s} {t:10.3f} {r:12.2f}")
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }
    print(machine)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "machine": machine,
                    "rows": [
                        dict(zip(("method", "size", "seconds", "ratio"), r, strict=True))
                        for r in rows
                    ],
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
