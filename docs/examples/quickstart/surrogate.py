"""A surrogate of the quickstart fit, to screen optimiser settings before running MD.

The band centroids are linear in ln k, with the slopes measured in quickstart runs (bend
1470 cm⁻¹ at k_angle = 317.566 and 1616 cm⁻¹ at 402.4 kJ/mol/rad²; stretch 3614 cm⁻¹ at
k_bond = 443 153 and 3315 cm⁻¹ at 374 101 kJ/mol/nm²); the loss is ½ Σ (centroid −
experiment)²; its gradient gets Gaussian noise with the per-segment standard deviation
measured with 0.25 ps segments at k = (374 101, 402.4) (bond 0.066, angle 30.6, in
d loss/dk units), divided by √(segments). The optimiser is the package's own
(`spectrinv.fit.default_optimizer`: global-norm clipping and Adam, with
`learning_rate_schedule`), applied to relative parameters as `fit` does.

Prints, for each Adam b1, learning rate and cosine final fraction, the fraction of 60 noise
realisations whose final centroids are within 15 cm⁻¹ of experiment: for the measured
slopes, for each slope scaled by 0.8 and 1.2, for doubled noise, and for all three
perturbations together.

Run: `python docs/examples/quickstart/surrogate.py` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from spectrinv.fit import default_optimizer, learning_rate_schedule  # noqa: E402

BEND_EXP, STRETCH_EXP = 1638.7, 3354.1  # cm⁻¹, the experimental centroids in the windows
K0 = np.array([443153.0, 317.566])  # SPC/Fw bond.k (kJ/mol/nm²), angle.k (kJ/mol/rad²)
SLOPE_BEND = (1616 - 1470) / np.log(402.4 / 317.566)  # cm⁻¹ per unit ln k_angle
SLOPE_STRETCH = (3614 - 3315) / np.log(443153 / 374101)  # cm⁻¹ per unit ln k_bond
NOISE_PER_SEGMENT = np.array([0.066, 30.6])  # d loss/dk: bond, angle
STEPS, SEGMENTS, RUNS = 10, 8, 60


def final_offsets(seed, b1, lr, final_fraction, bend_scale, stretch_scale, noise_scale):
    """Bend and stretch centroid minus experiment after `STEPS` steps (cm⁻¹)."""
    rng = np.random.default_rng(seed)
    sb, ss = SLOPE_BEND * bend_scale, SLOPE_STRETCH * stretch_scale

    def centroids(k):
        bend = 1470 + sb * np.log(k[1] / K0[1])
        stretch = 3614 + ss * np.log(k[0] / K0[0])
        return bend, stretch

    schedule = learning_rate_schedule("cosine", lr, steps=STEPS, final_fraction=final_fraction)
    opt = default_optimizer(schedule, 1.0, momentum=b1)
    u = jnp.ones(2)
    state = opt.init(u)
    for _ in range(STEPS):
        k = np.asarray(u) * K0
        bend, stretch = centroids(k)
        grad = np.array([(stretch - STRETCH_EXP) * ss / k[0], (bend - BEND_EXP) * sb / k[1]])
        grad += rng.normal(size=2) * NOISE_PER_SEGMENT * noise_scale / np.sqrt(SEGMENTS)
        with jax.numpy_dtype_promotion("standard"):
            update, state = opt.update(jnp.asarray(grad * K0), state, u)
        u = u + update
    bend, stretch = centroids(np.asarray(u) * K0)
    return bend - BEND_EXP, stretch - STRETCH_EXP


def main():
    cases = [
        (1, 1, 1),
        (0.8, 1, 1),
        (1.2, 1, 1),
        (1, 0.8, 1),
        (1, 1.2, 1),
        (1, 1, 2),
        (0.8, 1.2, 2),
    ]
    print("b1   rate  final | measured  bend×0.8  bend×1.2  str×0.8  str×1.2  noise×2  all")
    for b1 in (0.9, 0.5, 0.3, 0.0):
        for lr in (0.04, 0.05, 0.06):
            for ff in (0.05, 0.1, 0.2):
                fractions = []
                for case in cases:
                    off = np.array([final_offsets(s, b1, lr, ff, *case) for s in range(RUNS)])
                    fractions.append(np.mean(np.all(np.abs(off) < 15, axis=1)))
                row = "  ".join(f"{f:7.2f}" for f in fractions)
                print(f"{b1:<4} {lr:<5} {ff:<5} | {row}", flush=True)


if __name__ == "__main__":
    main()
