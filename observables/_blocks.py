r"""Block standard errors of spectra and RDFs: the rule for the number of blocks, the error.

A trajectory of $N$ frames is cut into $B$ contiguous blocks of $N_b = \lfloor N/B \rfloor$
frames (a remainder at the end is dropped from the blocks, not from the estimate). The
observable is evaluated on each block, $y_b$, and its standard error is that of a mean of
$B$ independent values,

$$ \sigma_y = \frac{s}{\sqrt B}, \qquad s^2 = \frac{1}{B-1}\sum_b (y_b - \bar y)^2 , $$

times a correction $c$ where the block estimate is less (or more) noisy per frame than the
full-trajectory one (the spectra's lag-window factor, `observables._fourier`; $c = 1$ for
the RDF). The estimate $y$ itself is always the full-trajectory one; only the error comes
from the blocks, and it is not differentiated (`lax.stop_gradient`).

**Validity.** Blocks must be longer than the correlation time of the estimate, so that
block values are nearly independent; with $B$ blocks, $(y - \langle y\rangle)/\sigma_y$
follows a Student t distribution with $B - 1$ degrees of freedom (rms
$\sqrt{(B-1)/(B-3)}$: 1.41 for 5 blocks, 1.13 for 10), so a 95 % interval is
$\pm t_{0.975, B-1}\,\sigma_y$ (2.78 σ for 5 blocks, 2.26 σ for 10).

**Rule for short trajectories.** Each block must hold at least `min_frames` frames (the
correlation window plus one for a spectrum, one frame for an RDF). If `n_blocks` blocks do
not fit, the largest number that fits is used; with fewer than 2 the error is `None` and an
`ErrorBarWarning` says why.

Reference: H. Flyvbjerg & H. G. Petersen, *J. Chem. Phys.* **91**, 461 (1989); M. P. Allen
& D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017), §8.4.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = [
    "ErrorBarWarning",
    "check_n_blocks",
    "usable_blocks",
    "split_blocks",
    "block_error",
    "mapped_block_error",
]


class ErrorBarWarning(UserWarning):
    """The trajectory is too short for a block error bar (the result's `error` is `None`)."""


def check_n_blocks(n_blocks: Any, name: str = "n_blocks") -> int | None:
    """`n_blocks` as an int >= 2, or None (no error bar); `ValueError` otherwise."""
    if n_blocks is None:
        return None
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int | np.integer) or n_blocks < 2:
        raise ValueError(
            f"{name} must be an int >= 2 (blocks for the error bar) or None (no error bar), "
            f"got {n_blocks!r}"
        )
    return int(n_blocks)


def usable_blocks(n_frames: int, n_blocks: int | None, min_frames: int, what: str) -> int | None:
    """Number of blocks of at least `min_frames` frames: `min(n_blocks, n_frames // min_frames)`.

    None when `n_blocks` is None, or (with an `ErrorBarWarning` naming `what`) when fewer
    than 2 blocks fit.
    """
    if n_blocks is None:
        return None
    fit = min(n_blocks, n_frames // max(int(min_frames), 1))
    if fit < 2:
        warnings.warn(
            f"{what}: {n_frames} frames hold fewer than 2 blocks of {min_frames} frames, so no "
            "error bar is estimated (error is None); use a longer trajectory or a shorter "
            "correlation window (max_lag).",
            ErrorBarWarning,
            stacklevel=3,
        )
        return None
    return fit


def split_blocks(x: Float[Array, "frame ..."], n_blocks: int) -> Float[Array, "block frame ..."]:
    """`[frame, ...]` -> `[block, frame // block, ...]` contiguous blocks (remainder dropped)."""
    length = x.shape[0] // n_blocks
    return x[: length * n_blocks].reshape((n_blocks, length) + x.shape[1:])


def block_error(values: Float[Array, "block ..."], factor: Any = 1.0) -> Float[Array, "..."]:
    r"""`factor` $\cdot\, s / \sqrt B$ over the leading block axis, without gradient."""
    values = jax.lax.stop_gradient(values)
    b = values.shape[0]
    spread = jnp.std(values, axis=0, ddof=1) / math.sqrt(b)
    return jax.lax.stop_gradient(spread * factor)


@eqx.filter_jit
def mapped_block_error(fn: Any, args: tuple, factor: Any = 1.0) -> Float[Array, "..."]:
    """`block_error(fn(*args), factor)` (for each array `fn` returns) in one compiled program;
    `fn` is a module-level function or a module's method, so that calls reuse it."""
    return jax.tree.map(lambda values: block_error(values, factor), fn(*args))
