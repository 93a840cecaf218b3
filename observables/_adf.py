r"""Angular distribution function $P(\theta)$: bond angles within a cutoff, per species triple.

**Definition.** For a triple of species $(b, a, c)$ — first neighbour, central atom, second
neighbour — the angles are $\theta_{jik} \in [0, \pi]$ between $\mathbf r_{ij} =
\mathbf r_j - \mathbf r_i$ and $\mathbf r_{ik}$ (minimum image) for every central atom
$i \in a$ and every **ordered** pair of distinct neighbours $j \in b$, $k \in c$
($j \ne k$, both $\ne i$) with $r_{ij} < r_c$ and $r_{ik} < r_c$:

$$ P(\theta) = \frac{\big\langle \sum_{i\in a}\sum_{j\in b}\sum_{k\in c,\,k\ne j}
   \delta(\theta - \theta_{jik})\, H(r_c - r_{ij})\, H(r_c - r_{ik}) \big\rangle}
   {\langle T\rangle}, $$

with $T$ the number of such ordered triples in a frame and $\langle\cdot\rangle$ the frame
average. Normalised as a probability density in θ (rad⁻¹): $\int_0^\pi P\,d\theta = 1$
exactly for the histogram (the ratio of frame averages, so frames with more triples weigh
more). No $\sin\theta$ Jacobian is divided out: for uncorrelated directions (an ideal gas)
$P(\theta) = \tfrac12\sin\theta$. Ordered pairs make $(b, a, c)$ and $(c, a, b)$ the same
distribution; for $b = c$ each unordered pair is counted twice, which cancels in $P$.
`triple=None` takes every atom for $a$, $b$ and $c$.

**Binning.** Uniform bins on $[0, \pi]$: $P_k = \sum_f C_{k,f} / (\Delta\theta \sum_f T_f)$
with $C_{k,f}$ the (kernel-weighted) count of angles in bin $k$ in frame $f$.
`AngularGaussianKernel(width)` replaces each delta by a Gaussian integrated over the bins
(smooth in the positions, as `GaussianKernel` for the RDF); mass it puts outside $[0, \pi]$
is lost, so there $\int P < 1$ by that amount. The neighbour set changes discontinuously
when a distance crosses $r_c$: the smooth ADF is differentiable almost everywhere, and a
loss is smooth as long as no neighbour distance sits at the cutoff.

**Neighbours.** The $M$ = `max_neighbors` nearest neighbours of each atom within $r_c$ are
kept (all-pairs distances, `lax.top_k`); more than $M$ within $r_c$ in any frame is an
error (`eqx.error_if`), so the result is never silently truncated. Angles come from
$\theta = \operatorname{atan2}(|\mathbf r_{ij}\times\mathbf r_{ik}|,
\mathbf r_{ij}\cdot\mathbf r_{ik})$ (accurate near 0 and π). $r_c$ must not exceed half the
smallest perpendicular width of the cell (minimum image). Cost $O(F(N^2 + N M^2))$, memory
$O(N^2)$ per frame.

Reference: M. P. Allen and D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed.
(Oxford, 2017), §8.2 (distribution functions); the O–O–O angular distribution of water as a
fit target: S. Thaler and J. Zavadlav, "Learning neural network potentials from
experimental data via Differentiable Trajectory Reweighting", Nat. Commun. 12, 6884 (2021).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._adf_result import ADFResult
from ._base import AbstractObservable
from ._blocks import block_error, check_n_blocks, split_blocks, usable_blocks
from ._pbc import perpendicular_widths
from ._rdf_kernels import AbstractRDFKernel, Histogram
from ._trajectory import Trajectory, TrajectoryError
from ._units import Quantity, to_internal

__all__ = ["ADF"]


class ADF(AbstractObservable):
    r"""Angular distribution function $P(\theta)$ within a cutoff (module docstring).

    **Arguments:**
    - `cutoff`: $r_c$, a length `Quantity`; at most half the smallest perpendicular width
      of the cell.
    - `bins`: number of uniform bins on $[0, \pi]$ (default 90, i.e. 2° wide).
    - `triple`: `None` (all atoms) or `(b, a, c)` species names or indices: first
      neighbour, central atom, second neighbour (e.g. `("O", "O", "O")`, `("H", "O", "H")`).
    - `kernel`: `Histogram()` (default, exact counts) or `AngularGaussianKernel(width)`
      (smooth, differentiable in the positions).
    - `max_neighbors`: neighbours kept per atom (static, default 16); more within the
      cutoff is an error.
    - `n_blocks`: contiguous blocks of frames for the standard error (default 5, `None`
      for none), as for the RDF.

    `adf(trajectory)` returns an `ADFResult` (x in rad, `bin_centers` in degrees, `p` in
    rad⁻¹). jit/vmap/grad safe.

    Example:
        ```python
        adf = ADF(Quantity(0.32, "nm"), triple=("O", "O", "O"),
                  kernel=AngularGaussianKernel(Quantity(2.0, "degree")))
        res = adf(traj)
        ```
    """

    cutoff: float = eqx.field(static=True)
    bins: int = eqx.field(static=True)
    triple: tuple[str | int, str | int, str | int] | None = eqx.field(static=True)
    kernel: AbstractRDFKernel
    max_neighbors: int = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    x_unit = "radian"
    y_unit = "1/radian"

    def __init__(
        self,
        cutoff: Any,
        bins: int = 90,
        *,
        triple: tuple[str | int, str | int, str | int] | None = None,
        kernel: AbstractRDFKernel | None = None,
        max_neighbors: int = 16,
        n_blocks: int | None = 5,
    ):
        for name, value in (("bins", bins), ("max_neighbors", max_neighbors)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.bins, self.max_neighbors = int(bins), int(max_neighbors)
        self.cutoff = float(to_internal(cutoff, "length", "cutoff"))
        if not self.cutoff > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        if triple is not None:
            if not (isinstance(triple, tuple | list) and len(triple) == 3):
                raise ValueError(f"triple must be None or (b, a, c) species, got {triple!r}")
            for s in triple:
                if isinstance(s, bool) or not isinstance(s, str | int | np.integer):
                    raise TypeError(f"species in triple must be names or indices, got {s!r}")
            triple = tuple(s if isinstance(s, str) else int(s) for s in triple)
        self.triple = triple
        kernel = Histogram() if kernel is None else kernel
        if not isinstance(kernel, AbstractRDFKernel) or type(kernel).__name__ == "GaussianKernel":
            raise TypeError(
                "kernel must be Histogram() or AngularGaussianKernel(width) (a width in "
                f"degrees or radians), got {kernel!r}"
            )
        self.kernel = kernel
        self.n_blocks = check_n_blocks(n_blocks)

    @property
    def bin_width(self) -> float:
        """Bin width in rad."""
        return np.pi / self.bins

    def x_grid(self) -> np.ndarray:
        """Bin centres in rad."""
        return (np.arange(self.bins) + 0.5) * self.bin_width

    @property
    def bin_centers(self) -> Quantity:
        """Bin centres as a `Quantity` in degrees."""
        return Quantity(self.x_grid(), "radian").to("degree")

    def _weights(self, traj: Trajectory, dtype) -> tuple:
        n = traj.n_atoms
        if self.triple is None:
            ones = np.ones(n, dtype=dtype)
            return ones, ones, ones
        if traj.species is None:
            raise TrajectoryError(
                f"ADF triple={self.triple} needs species, but the trajectory has none"
            )
        names = traj.species_names
        index = []
        for s in self.triple:
            if isinstance(s, str):
                if names is None or s not in names:
                    raise ValueError(f"unknown species {s!r}; this trajectory has {names}")
                index.append(names.index(s))
            else:
                index.append(s)
        if isinstance(traj.species, jax.core.Tracer):
            return tuple((traj.species == k).astype(dtype) for k in index)
        species = np.asarray(traj.species)
        out = tuple((species == k).astype(dtype) for k in index)
        for s, w in zip(self.triple, out, strict=True):
            if not np.any(w):
                raise ValueError(f"species {s!r} has no atoms in this trajectory")
        return out

    def _check_cutoff(self, trajectory: Trajectory) -> None:
        if isinstance(trajectory.box, jax.core.Tracer):
            return
        box = np.asarray(trajectory.box, dtype=np.float64)
        if box.shape[-2:] != (3, 3):
            box = box[..., :, None] * np.eye(3)
        limit = 0.5 * float(np.min(perpendicular_widths(box)))
        if self.cutoff > limit * (1 + 1e-6):
            raise ValueError(
                f"cutoff = {self.cutoff:.6g} nm exceeds half the shortest perpendicular width "
                f"of the periodic cell, {limit:.6g} nm; use a smaller cutoff or a larger box"
            )

    def __call__(self, trajectory: Trajectory) -> ADFResult:
        """Compute $P(\\theta)$ and return an `ADFResult`."""
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"ADF expects a Trajectory, got {type(trajectory).__name__}")
        trajectory.require("positions")
        if trajectory.box is None:
            raise TrajectoryError("the ADF needs a periodic box, but this trajectory has box=None")
        if trajectory.n_atoms < 3:
            raise ValueError(f"the ADF needs at least three atoms, got {trajectory.n_atoms}")
        self._check_cutoff(trajectory)
        dtype = trajectory.positions.dtype
        wb, wa, wc = self._weights(trajectory, dtype)
        boxes = jnp.broadcast_to(trajectory.box_matrix.astype(dtype), (trajectory.n_frames, 3, 3))
        as_array = lambda x: np.asarray(x, dtype=dtype)  # noqa: E731
        kernel = jax.tree_util.tree_map(
            lambda x: as_array(x) if isinstance(x, float) else x, self.kernel
        )
        m = min(self.max_neighbors, trajectory.n_atoms - 1)
        return _adf_core(
            kernel,
            trajectory.positions,
            boxes,
            (wa, wb, wc),
            as_array(self.cutoff),
            bins=self.bins,
            support=self.kernel.support(self.bin_width),
            max_neighbors=m,
            n_blocks=usable_blocks(trajectory.n_frames, self.n_blocks, 1, "ADF"),
        )


def _safe_norm(v):
    s = jnp.sum(v * v, axis=-1)
    ok = s > 0
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, s, 1.0)), 0.0)


def _frame_counts(kernel, positions, box, weights, cutoff, bins, support, m):
    """(angle counts per bin, number of ordered triples, largest neighbour count)."""
    wa, wb, wc = weights
    n = positions.shape[0]
    frac = positions @ jnp.linalg.inv(box)
    ds = frac[None, :, :] - frac[:, None, :]
    ds = ds - jnp.round(ds)
    dr = ds @ box  # [i, j, 3] = r_j - r_i (minimum image)
    d2 = jnp.sum(dr * dr, axis=-1)
    inside = (d2 < cutoff * cutoff) & ~jnp.eye(n, dtype=bool)
    count = jnp.max(jnp.sum(inside, axis=1))
    key = jnp.where(inside, d2, jnp.inf)
    _, idx = jax.lax.top_k(-jax.lax.stop_gradient(key), m)  # [i, m], nearest first
    vec = jnp.take_along_axis(dr, idx[..., None], axis=1)  # [i, m, 3]
    valid = jnp.take_along_axis(inside, idx, axis=1)
    # padded slots (and the atom itself) get a unit vector, so that no 0/0 enters the gradient
    vec = jnp.where(valid[..., None], vec, jnp.eye(3, dtype=vec.dtype)[0])
    w_j = jnp.where(valid, wb[idx], 0.0)
    w_k = jnp.where(valid, wc[idx], 0.0)
    pair = wa[:, None, None] * w_j[:, :, None] * w_k[:, None, :]
    pair = pair * (1.0 - jnp.eye(m, dtype=pair.dtype))  # j != k
    a, b = vec[:, :, None, :], vec[:, None, :, :]
    cross = _safe_norm(jnp.cross(a, b))
    dot = jnp.sum(a * b, axis=-1)
    theta = jnp.arctan2(cross, dot)
    theta = jnp.where(pair > 0, theta, 0.5 * jnp.pi)  # padded slots: harmless, weight 0
    zero = jnp.zeros((), positions.dtype)
    width = jnp.asarray(np.pi / bins, dtype=positions.dtype)
    # the last bin is closed at π: a collinear triple (θ = π) belongs to it
    theta = jnp.minimum(theta, bins * width * (1.0 - 1e-12))
    counts = kernel.accumulate(theta, pair, zero, width, bins, support)
    return counts, jnp.sum(pair), count


@eqx.filter_jit
def _adf_core(
    kernel, positions, boxes, weights, cutoff, *, bins, support, max_neighbors, n_blocks
) -> ADFResult:
    def frame(x):
        return _frame_counts(kernel, x[0], x[1], weights, cutoff, bins, support, max_neighbors)

    counts, triples, most = jax.lax.map(frame, (positions, boxes))
    counts = eqx.error_if(
        counts,
        jnp.max(most) > max_neighbors,
        "ADF: more neighbours within the cutoff than max_neighbors in some frame; "
        "raise max_neighbors",
    )
    counts = eqx.error_if(counts, jnp.sum(triples) == 0, "ADF: no triples within the cutoff")
    width = np.pi / bins
    p = jnp.sum(counts, axis=0) / (jnp.sum(triples) * width)
    p_error = None
    if n_blocks is not None:
        c_blocks = split_blocks(counts, n_blocks).sum(axis=1)
        t_blocks = split_blocks(triples, n_blocks).sum(axis=1)
        p_error = block_error(c_blocks / (t_blocks[:, None] * width))
    edges = jnp.linspace(0.0, jnp.pi, bins + 1).astype(positions.dtype)
    n_center = jnp.sum(weights[0])
    return ADFResult(
        edges=edges,
        p=p,
        triples_per_center=jnp.mean(triples) / n_center,
        p_error=p_error,
    )
