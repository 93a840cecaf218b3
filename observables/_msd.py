r"""Mean squared displacement by FFT in $O(N \log N)$ (the S1 − 2 S2 decomposition).

For one particle with positions $r(k)$, $k = 0 \dots N-1$, averaged over all $N - m$ time
origins,

$$ \mathrm{MSD}(m) = \frac{1}{N-m}\sum_{k=0}^{N-m-1} |r(k+m) - r(k)|^2
   = S_1(m) - 2 S_2(m), $$

$$ S_1(m) = \frac{1}{N-m}\sum_{k=0}^{N-m-1}\left(|r(k)|^2 + |r(k+m)|^2\right), \qquad
   S_2(m) = \frac{1}{N-m}\sum_{k=0}^{N-m-1} r(k)\cdot r(k+m). $$

$S_2$ is the unbiased position autocorrelation (by FFT, `correlate`), $S_1$ a difference of
cumulative sums. **Positions must be unwrapped** (continuous across periodic boundaries);
wrapped coordinates give a bounded, meaningless MSD.

Reference: V. Calandrini, E. Pellegrini, P. Calligari, K. Hinsen & G. R. Kneller,
*École thématique de la Société Française de la Neutronique* **12**, 201 (2011) (the
"fast correlation algorithm", also used by nMOLDYN and tidynamics); Allen & Tildesley,
*Computer Simulation of Liquids*, 2nd ed. (2017), §8.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._correlation import correlate
from ._green_kubo import cumulative_sum
from ._trajectory import Trajectory, TrajectoryError

__all__ = ["mean_squared_displacement", "check_unwrapped"]


def mean_squared_displacement(
    positions: Float[Array, "frame atom 3"],
    *,
    max_lag: int | None = None,
    per_atom: bool = False,
) -> Float[Array, "lag ..."]:
    r"""Mean squared displacement $\langle |r(t_0+t) - r(t_0)|^2 \rangle$, lags 0 … `max_lag`.

    Averaged over all time origins (unbiased: lag $m$ divided by $N - m$) and, unless
    `per_atom`, over atoms. Computed as $S_1 - 2 S_2$ (module docstring) in
    $O(N \log N)$; each atom's time-mean position is subtracted first (the MSD is invariant
    under it), which removes the cancellation error for coordinates far from the origin.
    Tiny negative values from rounding are clipped to 0 (an MSD is non-negative).

    **Arguments:**

    - `positions`: `[frame, atom, 3]` (or `[frame, atom, d]`) **unwrapped** coordinates,
      any length unit $\ell$ (plain array).
    - `max_lag`: largest lag in frames (static int, default `N - 1`).
    - `per_atom`: return `[lag, atom]` instead of the atom average `[lag]`.

    **Returns:** `[lag]` or `[lag, atom]` in $\ell^2$. jit/vmap/grad safe.
    """
    x = jnp.asarray(positions)
    if x.ndim != 3:
        raise ValueError(f"positions must be [frame, atom, dim], got shape {tuple(x.shape)}")
    n = x.shape[0]
    max_lag = n - 1 if max_lag is None else int(max_lag)
    if not 0 <= max_lag < n:
        raise ValueError(f"max_lag must be in [0, {n - 1}] for {n} frames, got {max_lag}")
    return _msd(x, max_lag, bool(per_atom))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _msd(x, max_lag, per_atom):
    n = x.shape[0]
    x = x - x.mean(axis=0, keepdims=True)
    s2 = correlate(x, max_lag=max_lag, sum_axes=(2,))  # [lag, atom]
    sq = jnp.sum(x * x, axis=-1)  # [frame, atom]
    zero = jnp.zeros((1,) + sq.shape[1:], dtype=sq.dtype)
    cs = jnp.concatenate([zero, cumulative_sum(sq)], axis=0)  # cs[k] = sum_{j<k} sq[j]
    m = np.arange(max_lag + 1)
    head = cs[n - m]  # sum over origins k = 0 .. n-m-1 of |r(k)|^2
    tail = cs[n] - cs[m]  # sum over k = m .. n-1 of |r(k)|^2
    counts = jnp.asarray((n - m)[:, None], dtype=sq.dtype)
    s1 = (head + tail) / counts
    msd = jnp.maximum(s1 - 2.0 * s2, 0.0)
    return msd if per_atom else msd.mean(axis=1)


def check_unwrapped(trajectory: Trajectory) -> None:
    """Raise `TrajectoryError` if consecutive frames jump by more than half a box vector.

    Such jumps mean the coordinates were wrapped into the cell (or frames are too far
    apart to follow the particles); the MSD would be wrong. Only checked on concrete
    values (skipped inside `jit`) and for periodic trajectories.
    """
    if trajectory.box is None or trajectory.n_frames < 2:
        return
    try:
        pos = np.asarray(trajectory.positions)
        box = np.asarray(trajectory.box_matrix)
    except Exception:  # traced values: nothing to check here
        return
    step = np.diff(pos, axis=0)  # [frame-1, atom, 3]
    inv = np.linalg.inv(box[1:])  # rows are cell vectors: r = s @ box
    frac = np.einsum("fai,fij->faj", step, inv)
    worst = np.abs(frac).max()
    if worst > 0.5:
        f, a, _ = np.unravel_index(np.abs(frac).argmax(), frac.shape)
        raise TrajectoryError(
            f"positions look wrapped: atom {a} moves {worst:.2f} box lengths between frames "
            f"{f} and {f + 1}. The Einstein (MSD) estimate needs unwrapped coordinates; unwrap "
            "them first (e.g. MDAnalysis.transformations.unwrap / nojump, or ASE's "
            "get_positions(wrap=False))."
        )
