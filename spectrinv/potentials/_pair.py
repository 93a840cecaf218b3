"""Pair potentials: Lennard-Jones, Morse, Buckingham, cubic-spline table, neural pair.

Every pair potential is an equinox module whose floating-point array leaves are its fit
parameters, stored in internal units (nm, kJ/mol). Constructors take `pint` quantities and
convert them once; energies are plain-array functions safe under `jit`, `vmap` and `grad`.

The total energy is U = ½ Σ_i Σ_{j ∈ nbr(i)} u_{s_i s_j}(r_ij) over the pairs within the
cutoff r_c (each pair appears twice in a dense neighbour list). Truncation is an object:

- `Shifted()` (default for LJ, Morse, Buckingham): u(r) = φ(r) − φ(r_c) — continuous energy,
  force jumps by φ'(r_c) at r_c;
- `ForceShifted()`: u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c) — energy and force continuous;
- `Truncated()`: u(r) = φ(r) (energy jumps; the tabulated and neural potentials already
  vanish smoothly at r_c and use this).

**Gradient safety.** Padded neighbour slots (index `n_atoms`) and r = 0 are masked *before*
any division: distances are computed as sqrt(where(mask, r², r_c²)), so reverse-mode
gradients with respect to parameters stay finite (DESIGN §8).

**Species.** Parameters are scalars (one species), per-species vectors combined by a mixing
rule (`LorentzBerthelot()`: σ_ij = (σ_i + σ_j)/2, ε_ij = √(ε_i ε_j); applied inside `energy`,
so a fit of the per-species values keeps the rule), or explicit symmetric `[species,
species]` matrices.

**Freezing and tying parameters** (equinox filters). What is fitted is the set of inexact
array leaves selected by a filter spec; everything else is held fixed:

```python
import equinox as eqx, jax
from observables import Quantity
from spectrinv.potentials import LennardJones

lj = LennardJones(Quantity(3.4, "angstrom"), Quantity(0.996, "kJ/mol"), Quantity(1.0, "nm"))
# fit ε only: σ frozen
spec = jax.tree.map(lambda _: False, lj)
spec = eqx.tree_at(lambda p: p.epsilon, spec, True)
params, static = eqx.partition(lj, spec)
loss = lambda params: energy_loss(eqx.combine(params, static))
grads = jax.grad(loss)(params)  # a pytree with None for frozen leaves
```

Tying: parametrise by the shared quantity and rebuild, e.g. one σ for two species with
`eqx.tree_at(lambda p: p.sigma, lj, jnp.full(2, sigma_shared))` inside the loss, or use
per-species vectors with a mixing rule (the cross terms are then tied by construction).
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import BOLTZMANN, UnitError, check_dimensionality, to_internal, ureg

from ._base import AbstractPotential, System, neighbor_pairs, switch_c2

__all__ = [
    "AbstractTruncation",
    "Switched",
    "Shifted",
    "ForceShifted",
    "Truncated",
    "AbstractMixing",
    "LorentzBerthelot",
    "AbstractPairPotential",
    "LennardJones",
    "Morse",
    "Buckingham",
    "TabulatedPair",
    "NeuralPair",
]


# --------------------------------------------------------------------------- unit helpers
def _length(q: Any, name: str) -> np.ndarray:
    return np.asarray(to_internal(q, "length", name), dtype=float)


def _energy(q: Any, name: str) -> np.ndarray:
    """Energy in kJ/mol from a molar energy (kJ/mol, kcal/mol) or a per-particle energy
    (eV, J, K·k_B); a bare temperature is refused (it would be a guess)."""
    molar = ureg.Unit("kJ/mol")
    if hasattr(q, "dimensionality") and q.dimensionality == ureg.Unit("J").dimensionality:
        q = q * ureg.avogadro_constant
    if hasattr(q, "dimensionality") and q.dimensionality == ureg.Unit("K").dimensionality:
        raise UnitError(
            f"{name} was given as a temperature ({q.units:~P}); an energy is needed. For ε/k_B "
            f"write Quantity(value, 'kelvin * boltzmann_constant') (k_B = {BOLTZMANN} kJ/mol/K)."
        )
    check_dimensionality(q, molar, name)
    return np.asarray(q.m_as(molar), dtype=float)


def _cutoff(q: Any) -> float:
    value = float(_length(q, "cutoff"))
    if not value > 0:
        raise ValueError(f"cutoff must be positive, got {value} nm")
    return value


# ----------------------------------------------------------------------------- options
class AbstractTruncation(eqx.Module):
    """How a pair function φ(r) is cut off at r_c."""

    @abc.abstractmethod
    def __call__(self, phi, r: Array, r_cut: float) -> Array:
        """u(r) from the vectorised pair function `phi` (same shape as `r`)."""


class Shifted(AbstractTruncation):
    """u(r) = φ(r) − φ(r_c): energy continuous at the cutoff."""

    def __call__(self, phi, r, r_cut):
        return phi(r) - phi(jnp.full_like(r, r_cut))


class ForceShifted(AbstractTruncation):
    """u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c): energy and force continuous."""

    def __call__(self, phi, r, r_cut):
        rc = jnp.full_like(r, r_cut)
        phi_c, dphi_c = jax.jvp(phi, (rc,), (jnp.ones_like(r),))
        return phi(r) - phi_c - (r - rc) * dphi_c


class Switched(AbstractTruncation):
    """u(r) = S(r) [φ(r) − φ(r_c)] with the quintic switch S of `switch_c2` acting over the
    last `width` before r_c: energy, force *and* force derivative continuous (C²), which
    is what long NVE runs need to conserve energy to ≲ 10⁻⁵ per ns (with `ForceShifted` the
    jump of u'' at r_c makes every crossing of the cutoff a small random energy error; see
    docs/water-validation.md). Forces are modified only for r_c − width < r < r_c.

    **Arguments:** `width`: length Quantity, 0 < width < r_c (checked when used).
    """

    width: float = eqx.field(static=True)

    def __init__(self, width: Any):
        self.width = float(_length(width, "width"))
        if not self.width > 0:
            raise ValueError(f"Switched width must be positive, got {self.width} nm")

    def __call__(self, phi, r, r_cut):
        if not self.width < r_cut:
            raise ValueError(
                f"Switched width {self.width} nm must be smaller than the cutoff {r_cut} nm"
            )
        shifted = phi(r) - phi(jnp.full_like(r, r_cut))
        return switch_c2(r, r_cut - self.width, r_cut) * shifted


class Truncated(AbstractTruncation):
    """u(r) = φ(r): plain truncation (for forms that already vanish at r_c)."""

    def __call__(self, phi, r, r_cut):
        return phi(r)


class AbstractMixing(eqx.Module):
    """Combines per-species parameter vectors into pair matrices."""

    @abc.abstractmethod
    def __call__(self, name: str, values: Array) -> Array: ...


class LorentzBerthelot(AbstractMixing):
    """Lengths: arithmetic mean; energies (and any other parameter): geometric mean."""

    lengths: tuple[str, ...] = eqx.field(static=True, default=("sigma", "r0", "rho"))

    def __call__(self, name, values):
        if name in self.lengths:
            return 0.5 * (values[:, None] + values[None, :])
        return jnp.sqrt(values[:, None] * values[None, :])


# --------------------------------------------------------------------------------- base
class AbstractPairPotential(AbstractPotential):
    """U = ½ Σ_i Σ_j u_{s_i s_j}(r_ij) for r_ij < r_c, with a truncation object.

    Subclasses define `_phi(r, si, sj, dtype)`: the untruncated pair function on arrays of
    (safe, strictly positive) distances `r` (nm) and species indices, in kJ/mol.
    """

    r_cut: float = eqx.field(static=True)
    truncation: AbstractTruncation

    @property
    def cutoff(self) -> float:
        return self.r_cut

    @abc.abstractmethod
    def _phi(self, r: Array, si: Array, sj: Array, dtype: Any) -> Array: ...

    def pair_energy(self, r: Array, si: Array | int = 0, sj: Array | int = 0) -> Array:
        """Truncated u(r) (kJ/mol) for distances `r` (nm) below the cutoff; 0 beyond."""
        shape = np.broadcast_shapes(jnp.shape(r), jnp.shape(si), jnp.shape(sj))
        r = jnp.broadcast_to(jnp.asarray(r), shape)
        si = jnp.broadcast_to(jnp.asarray(si), shape)
        sj = jnp.broadcast_to(jnp.asarray(sj), shape)
        inside = r < self.r_cut
        safe = jnp.where(inside, r, self.r_cut)
        u = self.truncation(lambda x: self._phi(x, si, sj, r.dtype), safe, self.r_cut)
        return jnp.where(inside, u, jnp.zeros((), r.dtype))

    def energy(
        self,
        positions: Float[Array, "atom 3"],
        system: System,
        neighbors: Any = None,
    ) -> Float[Array, ""]:
        dtype = positions.dtype
        dr, mask, idx = neighbor_pairs(positions, system, neighbors)
        r2 = jnp.sum(dr * dr, axis=-1)
        rc2 = self.r_cut * self.r_cut
        mask = mask & (r2 < rc2) & (r2 > 0)
        r = jnp.sqrt(jnp.where(mask, r2, jnp.asarray(rc2, dtype)))
        species = system.species
        padded = jnp.concatenate([species, jnp.zeros((1,), species.dtype)])
        n = species.shape[0]
        si = jnp.broadcast_to(species[:, None], idx.shape)
        sj = padded[jnp.where(mask, idx, n)]
        u = self.truncation(lambda x: self._phi(x, si, sj, dtype), r, self.r_cut)
        return 0.5 * jnp.sum(jnp.where(mask, u, jnp.zeros((), dtype)))

    def _matrix(self, name: str, dtype) -> Array:
        """Parameter `name` as a `[species, species]` matrix (or a scalar) of `dtype`."""
        value = getattr(self, name).astype(dtype)
        if value.ndim == 1:
            return getattr(self, "mixing", LorentzBerthelot())(name, value)
        return value


def _param(value: np.ndarray, name: str) -> Array:
    value = np.asarray(value, dtype=float)
    if value.ndim > 2 or (value.ndim == 2 and value.shape[0] != value.shape[1]):
        raise ValueError(f"{name} must be a scalar, a per-species vector or a square matrix")
    if value.ndim == 2 and not np.allclose(value, value.T):
        raise ValueError(f"{name} matrix must be symmetric, got {value.tolist()}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} has non-finite values: {value.tolist()}")
    return jnp.asarray(value)


def _pick(matrix: Array, si: Array, sj: Array) -> Array:
    return matrix if matrix.ndim == 0 else matrix[si, sj]


# ------------------------------------------------------------------------ Lennard-Jones
class LennardJones(AbstractPairPotential):
    """φ(r) = 4ε[(σ/r)¹² − (σ/r)⁶], cut off at r_c (energy-shifted by default).

    **Arguments:** `sigma` (length), `epsilon` (molar or per-particle energy), each a scalar,
    a per-species vector (mixed with `mixing`, default Lorentz–Berthelot) or a symmetric
    matrix; `cutoff` (length); `truncation` (`Shifted()`, `ForceShifted()`, `Truncated()`).

    **Fields:** `sigma` (nm), `epsilon` (kJ/mol) — the fit parameters.
    """

    sigma: Array
    epsilon: Array
    mixing: AbstractMixing

    def __init__(
        self,
        sigma: Any,
        epsilon: Any,
        cutoff: Any,
        *,
        truncation: AbstractTruncation | None = None,
        mixing: AbstractMixing | None = None,
    ):
        self.sigma = _param(_length(sigma, "sigma"), "sigma")
        self.epsilon = _param(_energy(epsilon, "epsilon"), "epsilon")
        self.r_cut = _cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        sigma = _pick(self._matrix("sigma", dtype), si, sj)
        eps = _pick(self._matrix("epsilon", dtype), si, sj)
        x = (sigma / r) ** 2
        x3 = x * x * x
        return 4.0 * eps * (x3 * x3 - x3)


class Morse(AbstractPairPotential):
    """φ(r) = D [(1 − e^{−a(r − r₀)})² − 1] (zero at infinity, minimum −D at r₀).

    **Arguments:** `well_depth` D (energy), `stiffness` a (1/length), `r0` (length), each a
    scalar, a per-species vector (mixed) or a matrix; `cutoff`; `truncation` (`Shifted()`).
    """

    well_depth: Array
    stiffness: Array
    r0: Array
    mixing: AbstractMixing

    def __init__(self, well_depth, stiffness, r0, cutoff, *, truncation=None, mixing=None):
        self.well_depth = _param(_energy(well_depth, "well_depth"), "well_depth")
        check_dimensionality(stiffness, "1/nm", "stiffness")
        self.stiffness = _param(np.asarray(stiffness.m_as("1/nm"), dtype=float), "stiffness")
        self.r0 = _param(_length(r0, "r0"), "r0")
        self.r_cut = _cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        d = _pick(self._matrix("well_depth", dtype), si, sj)
        a = _pick(self._matrix("stiffness", dtype), si, sj)
        r0 = _pick(self._matrix("r0", dtype), si, sj)
        e = jnp.exp(-a * (r - r0))
        return d * ((1.0 - e) ** 2 - 1.0)


class Buckingham(AbstractPairPotential):
    """φ(r) = A e^{−r/ρ} − C / r⁶.

    Beware the "Buckingham catastrophe": φ → −∞ as r → 0, so configurations must stay out of
    the unphysical inner region (start from a sensible structure, small time steps).

    **Arguments:** `a` (energy), `rho` (length), `c` (energy·length⁶); scalars, per-species
    vectors (mixed) or matrices; `cutoff`; `truncation` (`Shifted()`).
    """

    a: Array
    rho: Array
    c: Array
    mixing: AbstractMixing

    def __init__(self, a, rho, c, cutoff, *, truncation=None, mixing=None):
        self.a = _param(_energy(a, "a"), "a")
        self.rho = _param(_length(rho, "rho"), "rho")
        c_molar = (
            c * ureg.avogadro_constant if c.dimensionality == ureg("J*m**6").dimensionality else c
        )
        check_dimensionality(c_molar, "kJ/mol*nm**6", "c")
        self.c = _param(np.asarray(c_molar.m_as("kJ/mol*nm**6"), dtype=float), "c")
        self.r_cut = _cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        a = _pick(self._matrix("a", dtype), si, sj)
        rho = _pick(self._matrix("rho", dtype), si, sj)
        c = _pick(self._matrix("c", dtype), si, sj)
        r2 = r * r
        return a * jnp.exp(-r / rho) - c / (r2 * r2 * r2)


# ----------------------------------------------------------------------- cubic spline
@functools.lru_cache(maxsize=64)
def _spline_operator(n_knots: int, h: float) -> np.ndarray:
    """Matrix K with M = K y for the second derivatives of the cubic spline through
    (x_k, y_k), k = 0..n (y_n = 0 at the cutoff), natural at x_0 (M_0 = 0) and clamped
    (S'(x_n) = 0) at the cutoff. Shape `[n + 1, n + 1]`."""
    n = n_knots
    a = np.zeros((n + 1, n + 1))
    b = np.zeros((n + 1, n + 1))
    a[0, 0] = 1.0
    for i in range(1, n):
        a[i, i - 1 : i + 2] = (1.0, 4.0, 1.0)
        b[i, i - 1 : i + 2] = np.array([1.0, -2.0, 1.0]) * 6.0 / h**2
    a[n, n - 1 : n + 1] = (1.0, 2.0)
    b[n, n - 1 : n + 1] = np.array([1.0, -1.0]) * 6.0 / h**2
    return np.linalg.solve(a, b)


class TabulatedPair(AbstractPairPotential):
    """Cubic-spline pair potential whose knot values are the fit parameters.

    Knots r_k = r_min + k h, k = 0..n, h = (r_c − r_min)/n. The parameters are the values
    u(r_0..r_{n−1}) (`values`, kJ/mol, `[n]` or `[species, species, n]`); u(r_n = r_c) = 0.
    The interpolating cubic spline is natural at r_min (u'' = 0) and clamped at r_c
    (u'(r_c) = 0), so energy and force go smoothly to zero at the cutoff. Below r_min it is
    continued linearly with the slope at r_min (keep r_min below the closest approach).

    Build one from any pair potential with `TabulatedPair.from_pair(other, r_min, n_knots)`.
    """

    values: Array
    r_min: float = eqx.field(static=True)

    def __init__(self, values, r_min, cutoff):
        vals = _energy(values, "values")
        if vals.ndim not in (1, 3) or vals.shape[-1] < 3:
            raise ValueError(
                f"values must have shape [n_knots] or [species, species, n_knots] with "
                f"n_knots >= 3, got {vals.shape}"
            )
        if vals.ndim == 3 and not np.allclose(vals, np.swapaxes(vals, 0, 1)):
            raise ValueError("values[si, sj] must equal values[sj, si]")
        self.values = jnp.asarray(vals)
        self.r_min = float(_length(r_min, "r_min"))
        self.r_cut = _cutoff(cutoff)
        if not 0 <= self.r_min < self.r_cut:
            raise ValueError(f"need 0 <= r_min < cutoff, got {self.r_min} and {self.r_cut} nm")
        self.truncation = Truncated()

    @classmethod
    def from_pair(cls, pair: AbstractPairPotential, r_min: Any, n_knots: int) -> TabulatedPair:
        """Tabulate another (single-species or multi-species matrix) pair potential."""
        rmin = float(_length(r_min, "r_min"))
        r = np.linspace(rmin, pair.r_cut, n_knots + 1)[:-1]
        n_species = 1
        for leaf in jax.tree.leaves(pair):
            if hasattr(leaf, "ndim") and leaf.ndim >= 1:
                n_species = max(n_species, leaf.shape[0])
        if n_species == 1:
            vals = np.asarray(pair.pair_energy(jnp.asarray(r)))
        else:
            s = np.arange(n_species)
            vals = np.asarray(
                pair.pair_energy(jnp.asarray(r)[None, None, :], s[:, None, None], s[None, :, None])
            )
        return cls(
            ureg.Quantity(vals, "kJ/mol"),
            ureg.Quantity(rmin, "nm"),
            ureg.Quantity(pair.r_cut, "nm"),
        )

    def _phi(self, r, si, sj, dtype):
        n = self.values.shape[-1]
        h = (self.r_cut - self.r_min) / n
        op = jnp.asarray(_spline_operator(n, h), dtype)
        y = self.values.astype(dtype)
        y = jnp.concatenate([y, jnp.zeros(y.shape[:-1] + (1,), dtype)], axis=-1)
        m = y @ op.T  # second derivatives at the knots
        t = (r - self.r_min) / h
        k = jnp.clip(jnp.floor(t).astype(jnp.int32), 0, n - 1)
        if y.ndim == 1:
            y0, y1, m0, m1 = y[k], y[k + 1], m[k], m[k + 1]
            slope0 = (y[1] - y[0]) / h - h * (2 * m[0] + m[1]) / 6.0
            ymin = y[0]
        else:
            y0, y1, m0, m1 = y[si, sj, k], y[si, sj, k + 1], m[si, sj, k], m[si, sj, k + 1]
            slope0 = (y[si, sj, 1] - y[si, sj, 0]) / h - h * (2 * m[si, sj, 0] + m[si, sj, 1]) / 6
            ymin = y[si, sj, 0]
        x0 = self.r_min + k.astype(dtype) * h
        a = (x0 + h - r) / h
        b = (r - x0) / h
        spline = a * y0 + b * y1 + ((a**3 - a) * m0 + (b**3 - b) * m1) * (h * h / 6.0)
        linear = ymin + slope0 * (r - self.r_min)
        return jnp.where(r < self.r_min, linear, spline)


# ------------------------------------------------------------------------- neural pair
class NeuralPair(AbstractPairPotential):
    """u(r) = f_θ(r / r_c, pair type) · (1 − (r/r_c)²)³ [+ prior(r)], an equinox MLP.

    The switching factor makes energy, force and second derivative vanish at r_c. The input
    is r/r_c plus a one-hot code of the unordered species pair when there are several
    species. `prior` (any pair potential, e.g. a purely repulsive `LennardJones`) supplies a
    physical core; its parameters are leaves too (freeze them with a filter if wanted).

    **Arguments:** `cutoff` (length), `key`, `width`, `depth`, `n_species`,
    `energy_scale` (energy; the MLP output unit), `prior`.
    """

    mlp: eqx.nn.MLP
    energy_scale: float = eqx.field(static=True)
    n_species: int = eqx.field(static=True)
    prior: AbstractPairPotential | None

    def __init__(
        self,
        cutoff,
        key,
        *,
        width: int = 16,
        depth: int = 2,
        n_species: int = 1,
        energy_scale=None,
        prior: AbstractPairPotential | None = None,
    ):
        self.r_cut = _cutoff(cutoff)
        self.n_species = int(n_species)
        n_pairs = self.n_species * (self.n_species + 1) // 2
        in_size = 1 + (n_pairs if self.n_species > 1 else 0)
        self.mlp = eqx.nn.MLP(in_size, "scalar", width, depth, activation=jax.nn.tanh, key=key)
        scale = ureg.Quantity(1.0, "kJ/mol") if energy_scale is None else energy_scale
        self.energy_scale = float(_energy(scale, "energy_scale"))
        if prior is not None and prior.r_cut > self.r_cut:
            raise ValueError("prior's cutoff must not exceed the NeuralPair cutoff")
        self.prior = prior
        self.truncation = Truncated()

    def _phi(self, r, si, sj, dtype):
        wdtype = self.mlp.layers[0].weight.dtype
        x = (r / self.r_cut).astype(wdtype)
        feats = x[..., None]
        if self.n_species > 1:
            lo, hi = jnp.minimum(si, sj), jnp.maximum(si, sj)
            pair = lo * self.n_species - lo * (lo - 1) // 2 + (hi - lo)
            n_pairs = self.n_species * (self.n_species + 1) // 2
            feats = jnp.concatenate([feats, jax.nn.one_hot(pair, n_pairs, dtype=wdtype)], -1)
        flat = feats.reshape(-1, feats.shape[-1])
        out = jax.vmap(self.mlp)(flat).reshape(r.shape).astype(dtype)
        xr = r / self.r_cut
        switch = jnp.where(xr < 1, (1.0 - xr * xr) ** 3, jnp.zeros((), dtype))
        u = self.energy_scale * out * switch
        if self.prior is not None:
            u = u + self.prior.pair_energy(r, si, sj)
        return u
