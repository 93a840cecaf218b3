r"""Correlation sums accumulated over consecutive chunks of frames (streaming correlation).

For a series $x(t)$, $t = 0 \dots N-1$ (any trailing column axes) fed in consecutive chunks,
`LagSums` accumulates the raw lag sums

$$ S(\tau) = \sum_{t=0}^{N-1-\tau} x(t)\, x(t+\tau), \qquad 0 \le \tau \le K, $$

and the same sums restricted to each of $B$ contiguous blocks of $N_b = \lfloor N/B
\rfloor$ frames (both frames of a pair inside block $b$; frames after the last block belong
to no block), so that dividing by the number of time origins gives exactly what
`observables.correlate` computes on the whole series and on each block (`unbiased`: $N - \tau$,
else $N$; $N_b$ for a block).

**Method.** Each pair $(t, t+\tau)$ is counted once, with the chunk that holds its later
frame $t + \tau$: the last $K$ frames of the previous chunks are kept, and for the new
frames $[u, v)$ the cross-correlation of $a$ = frames $[u - K, v)$ with $b$ = the same frames
with those before $u$ set to zero is taken by zero-padded FFT (length $\ge v - u + 2K$, so
no circular wrap reaches a returned lag). The new frames are split at block boundaries;
for the block sums, frames of $a$ before the block start are also set to zero. Memory is
$O((K + \text{chunk}) \times \text{columns})$, independent of $N$; the work is that of the
in-memory FFT times about $(\text{chunk} + 2K)/\text{chunk}$.

The sums are kept in float64 whatever the input dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.fft

__all__ = ["LagSums"]


class LagSums:
    """Raw lag sums $S(\\tau)$, $\\tau = 0..K$, of a series fed in chunks (module docstring).

    **Arguments:** `n_frames` (the series length $N$, known in advance: it fixes the
    blocks), `max_lag` ($K$, frames), `n_blocks` (`None` for no block sums), `reduce`: a
    linear map applied to the per-column products of transforms before the inverse FFT
    (e.g. a sum over columns), so the sums are kept only for the reduced columns; default:
    every column kept.
    """

    def __init__(
        self,
        n_frames: int,
        max_lag: int,
        n_blocks: int | None = None,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        if not 0 <= max_lag < n_frames:
            raise ValueError(f"max_lag must be in [0, {n_frames - 1}], got {max_lag}")
        self.n, self.k = int(n_frames), int(max_lag)
        self.n_blocks = n_blocks
        self.block_len = n_frames // n_blocks if n_blocks else 0
        self.reduce = (lambda x: x) if reduce is None else reduce
        self.tail: np.ndarray | None = None
        self.pos = 0
        self.total: np.ndarray | None = None
        self.blocks: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        """Feed the next `[m, ...]` frames (in time order)."""
        x = np.asarray(x, dtype=np.float64)
        m = x.shape[0]
        if self.pos + m > self.n:
            raise ValueError(f"more than the announced {self.n} frames were fed")
        tail = x[:0] if self.tail is None else self.tail
        ext = np.concatenate([tail, x]) if len(tail) else x
        off = self.pos - len(tail)
        u, end = self.pos, self.pos + m
        while u < end:
            in_block = self.n_blocks is not None and u < self.n_blocks * self.block_len
            beta = u // self.block_len if in_block else None
            v = min(end, (beta + 1) * self.block_len) if beta is not None else end
            lo = max(u - self.k, off)
            a = ext[lo - off : v - off]
            split = 0 if beta is None else max(0, beta * self.block_len - lo)
            total, within = self._pairs(a, u - lo, split)
            if self.total is None:
                self.total = np.zeros_like(total)
            self.total += total
            if beta is not None:
                if self.blocks is None:
                    self.blocks = np.zeros((self.n_blocks,) + within.shape)
                self.blocks[beta] += within
            u = v
        self.pos = end
        keep = min(self.k, len(ext))
        self.tail = ext[len(ext) - keep :].copy() if keep else ext[:0].copy()

    def _pairs(self, a: np.ndarray, first: int, split: int) -> tuple[np.ndarray, np.ndarray]:
        """(sum over t of a(t) a(t + tau) with the later frame t + tau >= `first`, the same
        with also the earlier frame t >= `split`), tau = 0..K."""
        length = scipy.fft.next_fast_len(len(a) + self.k, real=True)

        def lags(fx, fy):
            out = scipy.fft.irfft(self.reduce(np.conj(fx) * fy), n=length, axis=-1)
            return np.moveaxis(out[..., : self.k + 1], -1, 0)

        # time as the last, contiguous axis: pocketfft is several times faster that way
        at = np.moveaxis(a, 0, -1).copy(order="C")  # a copy: `a` views the caller's frames
        bt = at.copy() if first else at
        bt[..., :first] = 0.0
        fb = scipy.fft.rfft(bt, n=length, axis=-1)
        if not split:
            fa = fb if not first else scipy.fft.rfft(at, n=length, axis=-1)
            total = lags(fa, fb)
            return total, total
        inside, before = at.copy(), at
        inside[..., :split] = 0.0
        before[..., split:] = 0.0
        within = lags(scipy.fft.rfft(inside, n=length, axis=-1), fb)
        return within + lags(scipy.fft.rfft(before, n=length, axis=-1), fb), within

    def correlation(self, unbiased: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(C `[lag, ...]`, block C `[block, lag, ...]` or None), each lag divided by its
        number of time origins (`unbiased`) or by the frame count."""
        if self.pos != self.n:
            raise ValueError(f"{self.pos} of the announced {self.n} frames were fed")
        lags = np.arange(self.k + 1)

        def counts(n):
            c = (n - lags) if unbiased else np.full(lags.shape, n)
            return c.astype(np.float64).reshape((-1,) + (1,) * (self.total.ndim - 1))

        corr = self.total / counts(self.n)
        blocks = None if self.blocks is None else self.blocks / counts(self.block_len)[None]
        return corr, blocks
