r"""Smooth particle-mesh Ewald (SPME) electrostatics (Essmann et al. 1995).

The energy is split exactly as in `Ewald` (the real-space, self, exclusion and background
terms are the same code); only the reciprocal sum is computed differently. Essmann et al.
interpolate the structure factor with cardinal B-splines $M_n$ of even order $n$ on a
$K_1\times K_2\times K_3$ grid:

$$Q(\mathbf k) = \sum_i q_i \prod_{a=1}^3 M_n(u_{ia} - k_a - p_aK_a),\qquad
u_{ia} = K_a\,\mathbf s_{i}\cdot\mathbf e_a,\ \ \mathbf s_i = \mathbf r_i H^{-1},$$

(charges spread over $n^3$ grid points each; $H$ has the cell vectors as rows, so any
triclinic cell works), then

$$E_{rec} = \frac{1}{2\pi V}\sum_{\mathbf m\neq 0}
\frac{\exp(-\pi^2 m^2/\alpha^2)}{m^2}\,B(\mathbf m)\,|\hat Q(\mathbf m)|^2,\quad
B(\mathbf m) = \prod_a |b_a(m_a)|^2,\quad
b_a(m) = \frac{e^{2\pi i (n-1) m/K_a}}{\sum_{k=0}^{n-2}M_n(k+1)e^{2\pi i m k/K_a}},$$

with $\mathbf m = \sum_a m_a \mathbf a_a^*$ ($\mathbf a^*_a$ the rows of $H^{-T}$, no 2π)
and $\hat Q$ the discrete Fourier transform of $Q$ (a real FFT: half the grid). This is
`Ewald`'s reciprocal sum (2π/V) Σ_k e^{-k²/4α²}/k² |S(k)|² with k = 2πm, up to the
interpolation error, which falls as $(h\alpha)^n$ with grid spacing $h$. Forces are the
automatic derivative of this energy (the analytic gradient of the spline weights), so
they are exactly consistent with it.

Cost: O(N n³) spreading plus O(K log K) FFTs per evaluation, against O(N · K_Ewald) for
`Ewald`; `benchmarks/performance/pme.py` measures the crossover (docs/benchmarks.md).

??? cite
    U. Essmann, L. Perera, M. L. Berkowitz, T. Darden, H. Lee and L. G. Pedersen,
    "A smooth particle mesh Ewald method", J. Chem. Phys. 103, 8577 (1995).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ._electrostatics import (
    COULOMB,
    AbstractElectrostatics,
    _float,
    ewald_real_and_corrections,
)

__all__ = ["ParticleMeshEwald"]

#: interpolation-error constants c_n of `ParticleMeshEwald.from_accuracy` (measured)
_C_ORDER = {4: 0.7, 6: 0.05, 8: 0.035}


def bspline_weights(w: Float[Array, "..."], order: int, xp: Any = jnp) -> Float[Array, "... order"]:
    """Cardinal B-spline values M_n(w + j), j = 0 … n−1, for fractional offsets w ∈ [0, 1).

    Recursion (Essmann et al. 1995, Eq. 4.1): M_2(x) = 1 − |x − 1| on [0, 2],
    M_k(x) = [x M_{k−1}(x) + (k − x) M_{k−1}(x − 1)] / (k − 1). The weights sum to 1.
    `xp`: the array module (`jax.numpy`, or `numpy` for constants computed at trace time).
    """
    j = xp.arange(order, dtype=w.dtype)
    x = w[..., None] + j  # [..., n]
    m = xp.where(j == 0, w[..., None], xp.where(j == 1, 1.0 - w[..., None], 0.0))  # M_2
    for k in range(3, order + 1):
        shifted = xp.concatenate([xp.zeros_like(m[..., :1]), m[..., :-1]], axis=-1)
        m = (x * m + (k - x) * shifted) / (k - 1)
    return m


def _b_squared(size: int, order: int) -> np.ndarray:
    """|b(m)|² of Essmann et al. Eq. 4.4 for m = 0 … size−1 (NumPy, float64)."""
    mk = bspline_weights(np.zeros(1), order, np)[0]  # M_n(j), j = 0..n-1
    # M_n(k + 1) for k = 0 … n−2 is mk[1:]
    m = np.arange(size)
    k = np.arange(order - 1)
    denom = np.sum(mk[1:][None, :] * np.exp(2j * np.pi * np.outer(m, k) / size), axis=1)
    return 1.0 / np.abs(denom) ** 2


def _fft_size(n: int) -> int:
    """Smallest integer ≥ n whose prime factors are 2, 3 and 5."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class ParticleMeshEwald(AbstractElectrostatics):
    """Smooth particle-mesh Ewald: `Ewald`'s energy with the reciprocal sum on a grid.

    **Arguments:**
    - `alpha`: splitting parameter, inverse-length Quantity (static, not fitted);
    - `cutoff`: real-space cutoff, length Quantity (the neighbour-list cutoff);
    - `grid`: int or 3 ints, the number of grid points along each cell vector;
    - `order`: even B-spline order n (4, 6, 8; default 6).

    `ParticleMeshEwald.from_accuracy(cutoff, box, accuracy, order)` takes α as
    `Ewald.from_accuracy` does (erfc(α r_c) ≈ ε) and a grid spacing h whose interpolation
    error c_n(hα)ⁿ is ε (constants measured against `Ewald`; see there).

    Units: positions nm, charges e, energy kJ/mol. Tin-foil boundary conditions;
    intramolecular pairs (`topology.exclusions`) handled exactly as in `Ewald`.
    """

    alpha: float = eqx.field(static=True)
    real_cutoff: float = eqx.field(static=True)
    grid: tuple[int, int, int] = eqx.field(static=True)
    order: int = eqx.field(static=True)

    def __init__(self, alpha: Any, cutoff: Any, grid: int | tuple[int, int, int], order: int = 6):
        self.alpha = _float(alpha, "1/nm", "alpha")
        self.real_cutoff = _float(cutoff, "nm", "cutoff")
        g = (grid,) * 3 if isinstance(grid, int | np.integer) else tuple(grid)
        if len(g) != 3 or not all(isinstance(k, int | np.integer) for k in g):
            raise ValueError(f"grid must be an int or 3 ints, got {grid!r}")
        if not isinstance(order, int | np.integer) or order < 4 or order % 2:
            raise ValueError(f"order must be an even int >= 4 (4, 6, 8), got {order!r}")
        if min(g) < order:
            raise ValueError(
                f"grid {tuple(int(k) for k in g)} must have at least order = "
                f"{order} points along each cell vector"
            )
        self.grid = tuple(int(k) for k in g)
        self.order = int(order)

    @classmethod
    def from_accuracy(
        cls, cutoff: Any, box: Any, accuracy: float = 1e-5, order: int = 6
    ) -> ParticleMeshEwald:
        """α = sqrt(−ln ε)/r_c (as `Ewald.from_accuracy`) and the grid from the spacing h
        with h·α = (ε / c_n)^{1/n}: |a_i|/h points along cell vector a_i, rounded up to
        FFT-friendly sizes (2^a 3^b 5^c). `box`: length Quantity `[3]` or `[3, 3]` (rows =
        cell vectors).

        The constants c_4 = 0.7, c_6 = 0.05, c_8 = 0.035 are fits (rounded up) of the
        largest force error relative to the largest force, against `Ewald` with the same
        α, on a liquid SPC/Fw configuration (48 molecules), where it followed
        c_n (hα)ⁿ over hα = 0.15–0.38; energies were 2–4× more accurate than forces.
        """
        if not 0 < accuracy < 1:
            raise ValueError(f"accuracy must lie in (0, 1), got {accuracy}")
        if order not in _C_ORDER:
            raise ValueError(f"order must be one of {sorted(_C_ORDER)}, got {order!r}")
        rc = _float(cutoff, "nm", "cutoff")
        b = np.asarray(to_magnitude(box, "nm", "box"), dtype=float)
        b = np.diag(b) if b.ndim == 1 else b
        alpha = math.sqrt(-math.log(accuracy)) / rc
        h = (accuracy / _C_ORDER[order]) ** (1.0 / order) / alpha
        # m_a = m·a_a reaches |m| |a_a|: the points along a_a scale with its length
        edges = np.linalg.norm(b, axis=1)
        grid = tuple(_fft_size(max(order, int(math.ceil(e / h)))) for e in edges)
        return cls(Quantity(alpha, "1/nm"), Quantity(rc, "nm"), grid, order)

    @property
    def cutoff(self) -> float:
        return self.real_cutoff

    def reciprocal(self, positions: Float[Array, "atom 3"], charges, box) -> Float[Array, ""]:
        """The reciprocal-space sum E_rec in e²/nm (times `COULOMB` for kJ/mol)."""
        n, dtype = self.order, positions.dtype
        sizes = jnp.asarray(self.grid, dtype)
        inv = jnp.linalg.inv(box)
        u = (positions @ inv) * sizes  # [atom, 3] grid coordinates (any real value)
        base = jnp.floor(u)
        theta = bspline_weights(u - base, n)  # [atom, 3, n]: M_n(w + j)
        idx = base.astype(jnp.int32)[..., None] - jnp.arange(n, dtype=jnp.int32)  # [atom,3,n]
        idx = jnp.mod(idx, jnp.asarray(self.grid, jnp.int32)[:, None])
        k1, k2, k3 = self.grid
        flat = (idx[:, 0, :, None, None] * (k2 * k3) + idx[:, 1, None, :, None] * k3) + idx[
            :, 2, None, None, :
        ]
        w = (
            charges[:, None, None, None]
            * theta[:, 0, :, None, None]
            * theta[:, 1, None, :, None]
            * theta[:, 2, None, None, :]
        )
        q = jnp.zeros(k1 * k2 * k3, dtype).at[flat.reshape(-1)].add(w.reshape(-1))
        f = jnp.fft.rfftn(q.reshape(k1, k2, k3))
        # m = Σ_a m_a a*_a, with m_a wrapped to [-K/2, K/2)
        ms = [np.fft.fftfreq(k1, 1.0 / k1), np.fft.fftfreq(k2, 1.0 / k2), np.arange(k3 // 2 + 1)]
        recip = inv.T  # rows a*_a (no 2π)
        m = (
            jnp.asarray(ms[0], dtype)[:, None, None, None] * recip[0]
            + jnp.asarray(ms[1], dtype)[None, :, None, None] * recip[1]
            + jnp.asarray(ms[2], dtype)[None, None, :, None] * recip[2]
        )
        m2 = jnp.sum(m * m, axis=-1)
        b2 = (
            _b_squared(k1, n)[:, None, None]
            * _b_squared(k2, n)[None, :, None]
            * _b_squared(k3, n)[: k3 // 2 + 1][None, None, :]
        )
        # the real FFT holds m3 >= 0: the other half (m3 < 0) by symmetry, planes m3 = 0
        # and m3 = K3/2 (even K3) only once
        mult = np.full(k3 // 2 + 1, 2.0)
        mult[0] = 1.0
        if k3 % 2 == 0:
            mult[-1] = 1.0
        weight = jnp.asarray(b2 * mult[None, None, :], dtype)
        zero = np.zeros((k1, k2, k3 // 2 + 1), bool)
        zero[0, 0, 0] = True
        zero = jnp.asarray(zero)
        safe_m2 = jnp.where(zero, 1.0, m2)
        a = self.alpha
        kernel = jnp.where(zero, 0.0, jnp.exp(-(jnp.pi**2) * safe_m2 / (a * a)) / safe_m2)
        volume = jnp.abs(jnp.linalg.det(box))
        power = jnp.real(f) ** 2 + jnp.imag(f) ** 2
        return jnp.sum(kernel * weight * power) / (2 * jnp.pi * volume)

    def coulomb(self, positions, charges, system, pairs):
        if system.box is None:
            raise ValueError(
                "particle-mesh Ewald needs a periodic box; use DampedShiftedForce for box=None"
            )
        box = system.box_matrix.astype(positions.dtype)
        e_rec = self.reciprocal(positions, charges, box)
        e_other = ewald_real_and_corrections(
            self.alpha, self.real_cutoff, positions, charges, system, pairs
        )
        return COULOMB * (e_rec + e_other)
