"""Long-range electrostatics for point charges: Ewald summation and damped-shifted force.

Both are `AbstractElectrostatics` objects, selectable on the water model
(`FlexibleWater(electrostatics=Ewald(...))`) and usable alone as potentials on a `System`
with `charges` (`Ewald(...).energy(positions, system, neighbors)`).

Units are internal (nm, e, kJ/mol); the Coulomb prefactor is 1/(4π ε₀) = 138.935 kJ mol⁻¹
nm e⁻².

**Exclusions.** Pairs inside one molecule (equal `topology.molecule`) never interact through
the pair (real-space) sum; `topology.exclusions` must list exactly those pairs, and is used
for the Ewald exclusion correction and the DSF molecular self term. This is the convention
of rigid and flexible 3-site water models (SPC, SPC/Fw, TIP3P): all intramolecular
electrostatics is removed.

**Cells.** Orthorhombic boxes (`box` of shape `[3]`) and triclinic cells (`[3, 3]`, cell
vectors as rows). Pair displacements use the fractional-coordinate minimum image
`s - round(s)`, which is exact for pairs within `cutoff` when the cutoff is below half of the
smallest perpendicular width of the cell and the cell is reduced (tilts at most half an
edge, as in LAMMPS/GROMACS). The reciprocal sum is exact for any cell.

**Pairs** come from a jax-md neighbour list (`Dense`, `Sparse` or `OrderedSparse`; padded
slots hold `n_atoms` and are masked, with distances guarded so parameter gradients stay
finite) or, with `neighbors=None`, from all N(N-1)/2 pairs (fine up to ~10³ atoms).

**Cost** (48 SPC/Fw molecules, CPU, float64, one MD step incl. forces): DSF ≈ 2.7 ms,
Ewald at 1e-6 (3430 k-vectors) ≈ 43 ms. For large systems use `ParticleMeshEwald`
(the same energy with the reciprocal sum on a grid).
"""

from __future__ import annotations

import abc
import math
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, erfc
from jaxtyping import Array, Bool, Float, Int

from observables import EPSILON0, Quantity, to_magnitude

from ._base import AbstractPotential, System, minimum_image, switch_c2

__all__ = [
    "AbstractElectrostatics",
    "Ewald",
    "DampedShiftedForce",
    "COULOMB",
]

#: Coulomb prefactor 1/(4π ε₀) in kJ mol⁻¹ nm e⁻².
COULOMB: float = 1.0 / (4.0 * math.pi * EPSILON0)


# ---------------------------------------------------------------------------- geometry
def _safe_norm(dr: Array, mask: Array) -> tuple[Array, Array]:
    """|dr| where `mask`, 1 elsewhere (so divisions and sqrt stay finite in reverse mode)."""
    d2 = jnp.sum(dr * dr, axis=-1)
    d2 = jnp.where(mask, d2, 1.0)
    return jnp.sqrt(d2), d2


class Pairs(NamedTuple):
    """Candidate non-bonded pairs of one configuration.

    `i`, `j`: `[pair]` atom indices (padding replaced by a valid index and masked out);
    `dr`: `[pair, 3]` minimum-image r_i - r_j (nm); `valid`: `[pair]` a real, non-excluded pair;
    `weight`: 0.5 when every pair appears twice (dense/sparse neighbour lists), else 1.
    """

    i: Int[Array, " pair"]
    j: Int[Array, " pair"]
    dr: Float[Array, "pair 3"]
    valid: Bool[Array, " pair"]
    weight: float

    def distances(self, cutoff: float | None) -> tuple[Array, Array]:
        """(r, mask): r (nm) guarded to 1 outside `mask` = valid & (r < cutoff)."""
        d2 = jnp.sum(self.dr * self.dr, axis=-1)
        mask = self.valid
        if cutoff is not None:
            mask = mask & (d2 < cutoff * cutoff)
        r, _ = _safe_norm(self.dr, mask)
        return r, mask


def build_pairs(positions: Float[Array, "atom 3"], system: System, neighbors: Any = None) -> Pairs:
    """All candidate pairs from a jax-md neighbour list (Dense, Sparse or OrderedSparse; padded
    slots hold `n_atoms`) or, when `neighbors` is None, every pair i < j.

    Intramolecular pairs (equal `topology.molecule`) are marked invalid.
    """
    n = positions.shape[0]
    if neighbors is None:
        ii, jj = np.triu_indices(n, 1)
        i, j = jnp.asarray(ii, dtype=jnp.int32), jnp.asarray(jj, dtype=jnp.int32)
        valid = jnp.ones(i.shape, bool)
        weight = 1.0
    else:
        fmt = getattr(neighbors.format, "name", str(neighbors.format))
        idx = neighbors.idx.astype(jnp.int32)
        if fmt == "Dense":
            i = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], idx.shape).reshape(-1)
            j = idx.reshape(-1)
            weight = 0.5
        else:
            i, j = idx[0], idx[1]
            weight = 1.0 if fmt == "OrderedSparse" else 0.5
        valid = (j < n) & (i < n) & (i != j)
        i = jnp.where(valid, i, 0)
        j = jnp.where(valid, j, 0)
    top = system.topology
    if top is not None and top.molecule.shape[0] == n:
        valid = valid & (top.molecule[i] != top.molecule[j])
    dr = minimum_image(positions[i] - positions[j], system.box)
    return Pairs(i=i, j=j, dr=dr, valid=valid, weight=weight)


def _exclusion_pairs(positions: Array, system: System) -> tuple[Array, Array, Array] | None:
    top = system.topology
    if top is None or top.exclusions.shape[0] == 0:
        return None
    i, j = top.exclusions[:, 0], top.exclusions[:, 1]
    dr = minimum_image(positions[i] - positions[j], system.box)
    return i, j, dr


def _charges(system: System) -> Array:
    if system.charges is None:
        raise ValueError(
            "this System has no charges; build it with System(..., charges=...) (elementary "
            "charges, internal units) or use a model that supplies its own charges."
        )
    return system.charges


def _float(q: Any, unit: str, name: str) -> float:
    value = to_magnitude(q, unit, name)
    value = float(np.asarray(value))
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {q}")
    return value


# ------------------------------------------------------------------------- interface
class AbstractElectrostatics(AbstractPotential):
    """Electrostatic energy of point charges with the intramolecular pairs excluded.

    `coulomb(positions, charges, system, pairs)` is what molecular models call (their own,
    possibly fitted, charges); `energy(positions, system, neighbors)` uses `system.charges`.
    Numerical settings (splitting parameter, cutoff, k-space size) are static fields, never
    fitted.
    """

    @abc.abstractmethod
    def coulomb(
        self,
        positions: Float[Array, "atom 3"],
        charges: Float[Array, " atom"],
        system: System,
        pairs: Pairs,
    ) -> Float[Array, ""]:
        """Electrostatic energy (kJ/mol) given charges (e) and precomputed candidate pairs."""

    def energy(self, positions, system, neighbors=None):
        pairs = build_pairs(positions, system, neighbors)
        return self.coulomb(positions, _charges(system), system, pairs)


class Ewald(AbstractElectrostatics):
    r"""Ewald summation (real + reciprocal + self + exclusion + neutralising background).

    $$U = \frac{1}{4\pi\varepsilon_0}\Big[\sum_{i<j}^{r<r_c,\,\notin excl}
    q_iq_j\frac{\operatorname{erfc}(\alpha r_{ij})}{r_{ij}}
    + \frac{2\pi}{V}\sum_{\mathbf k\neq 0}\frac{e^{-k^2/4\alpha^2}}{k^2}|S(\mathbf k)|^2
    - \frac{\alpha}{\sqrt\pi}\sum_i q_i^2
    - \sum_{(i,j)\in excl} q_iq_j\frac{\operatorname{erf}(\alpha r_{ij})}{r_{ij}}
    - \frac{\pi Q^2}{2V\alpha^2}\Big]$$

    with $S(\mathbf k)=\sum_i q_i e^{i\mathbf k\cdot\mathbf r_i}$ and
    $\mathbf k = 2\pi\,\mathbf n\,(H^{-1})^T$ for integer $\mathbf n$, $|n_a|\le$ `kmax`
    (half of the k-space by symmetry); tin-foil boundary conditions. Correct for orthorhombic
    and (reduced) triclinic cells. Cost O(N·K) per evaluation — adequate for a few hundred
    to a few thousand atoms; `ParticleMeshEwald` computes the same energy faster for
    large systems.

    **Arguments:**
    - `alpha`: splitting parameter, a Quantity of inverse length (static, not fitted).
    - `cutoff`: real-space cutoff, length Quantity (the neighbour-list cutoff).
    - `kmax`: int or 3 ints, largest |n| per reciprocal direction.

    `Ewald.from_accuracy(cutoff, box, accuracy)` chooses α and kmax so that both truncation
    errors are ≈ `accuracy` (relative): erfc(α r_c) ≈ ε and exp(-k²/4α²) ≈ ε at k_max.

    ??? cite
        P. P. Ewald, Ann. Phys. 369, 253 (1921); D. Frenkel & B. Smit, *Understanding
        Molecular Simulation*, 2nd ed., §12.1 (2002).
    """

    alpha: float = eqx.field(static=True)
    real_cutoff: float = eqx.field(static=True)
    kmax: tuple[int, int, int] = eqx.field(static=True)

    def __init__(self, alpha: Any, cutoff: Any, kmax: int | tuple[int, int, int] = 6):
        self.alpha = _float(alpha, "1/nm", "alpha")
        self.real_cutoff = _float(cutoff, "nm", "cutoff")
        km = (kmax,) * 3 if isinstance(kmax, int | np.integer) else tuple(int(k) for k in kmax)
        if len(km) != 3 or min(km) < 1:
            raise ValueError(f"kmax must be a positive int or 3 positive ints, got {kmax!r}")
        self.kmax = tuple(int(k) for k in km)

    @classmethod
    def from_accuracy(cls, cutoff: Any, box: Any, accuracy: float = 1e-5) -> Ewald:
        """α = sqrt(-ln ε)/r_c; kmax_a = ceil(k_max L_a / 2π) with k_max = 2α sqrt(-ln ε).

        `box` is a length Quantity of shape `[3]` or `[3, 3]` (rows = cell vectors).
        """
        rc = _float(cutoff, "nm", "cutoff")
        b = np.asarray(to_magnitude(box, "nm", "box"), dtype=float)
        b = np.diag(b) if b.ndim == 1 else b
        s = math.sqrt(-math.log(accuracy))
        alpha = s / rc
        kcut = 2 * alpha * s
        # number of reciprocal vectors along each direction: |n_a| <= kcut / |b*_a|
        recip = 2 * np.pi * np.linalg.inv(b).T
        kmax = tuple(int(math.ceil(kcut / np.linalg.norm(recip[a]))) for a in range(3))
        return cls(Quantity(alpha, "1/nm"), Quantity(rc, "nm"), kmax)

    @property
    def cutoff(self) -> float:
        return self.real_cutoff

    def _n_vectors(self) -> np.ndarray:
        kx, ky, kz = self.kmax
        n = np.stack(
            np.meshgrid(
                np.arange(-kx, kx + 1),
                np.arange(-ky, ky + 1),
                np.arange(-kz, kz + 1),
                indexing="ij",
            ),
            -1,
        ).reshape(-1, 3)
        # half space: first non-zero component positive (S(-k) = conj S(k))
        key = n[:, 0] * (2 * ky + 1) * (2 * kz + 1) + n[:, 1] * (2 * kz + 1) + n[:, 2]
        return n[key > 0]

    def coulomb(self, positions, charges, system, pairs):
        if system.box is None:
            raise ValueError(
                "Ewald summation needs a periodic box; use DampedShiftedForce for box=None"
            )
        a = self.alpha
        # reciprocal space
        box = system.box_matrix
        volume = jnp.abs(jnp.linalg.det(box))
        n = jnp.asarray(self._n_vectors(), dtype=positions.dtype)
        k = 2 * jnp.pi * n @ jnp.linalg.inv(box).T  # [K, 3]
        k2 = jnp.sum(k * k, axis=-1)
        kr = positions @ k.T  # [atom, K]
        s_re = charges @ jnp.cos(kr)
        s_im = charges @ jnp.sin(kr)
        e_recip = (
            (2 * jnp.pi / volume)
            * 2
            * jnp.sum(jnp.exp(-k2 / (4 * a * a)) / k2 * (s_re**2 + s_im**2))
        )
        e_other = ewald_real_and_corrections(a, self.real_cutoff, positions, charges, system, pairs)
        return COULOMB * (e_recip + e_other)


def ewald_real_and_corrections(
    alpha: float,
    cutoff: float,
    positions: Float[Array, "atom 3"],
    charges: Float[Array, " atom"],
    system: System,
    pairs: Pairs,
) -> Float[Array, ""]:
    """The terms of an Ewald-split energy other than the reciprocal sum, in e²/nm (multiply
    by `COULOMB`): real space Σ_{i<j, r<r_c, ∉excl} q_iq_j erfc(αr)/r, self −α/√π Σq²,
    exclusion correction −Σ_excl q_iq_j erf(αr)/r and neutralising background −πQ²/(2Vα²).
    Shared by `Ewald` and `ParticleMeshEwald`, so both split the energy identically."""
    a = alpha
    r, mask = pairs.distances(cutoff)
    qq = charges[pairs.i] * charges[pairs.j]
    e_real = pairs.weight * jnp.sum(jnp.where(mask, qq * erfc(a * r) / r, 0.0))
    e_self = -a / math.sqrt(math.pi) * jnp.sum(charges**2)
    e_excl = 0.0
    excl = _exclusion_pairs(positions, system)
    if excl is not None:
        ei, ej, edr = excl
        er, _ = _safe_norm(edr, jnp.ones(ei.shape, bool))
        # erf(a r)/r -> 2a/sqrt(pi) as r -> 0, finite for any r > 0
        e_excl = -jnp.sum(charges[ei] * charges[ej] * erf(a * er) / er)
    volume = jnp.abs(jnp.linalg.det(system.box_matrix))
    total_q = jnp.sum(charges)
    e_bg = -jnp.pi * total_q**2 / (2 * volume * a * a)
    return e_real + e_self + e_excl + e_bg


class DampedShiftedForce(AbstractElectrostatics):
    r"""Damped shifted force (DSF) electrostatics of Fennell & Gezelter (2006), Eq. 18:

    $$U = \frac{1}{4\pi\varepsilon_0}\Big[\sum_{i<j}^{r<R_c,\,\notin excl} q_iq_j\Big(
    \frac{\operatorname{erfc}\alpha r}{r} - \frac{\operatorname{erfc}\alpha R_c}{R_c}
    + \Big(\frac{\operatorname{erfc}\alpha R_c}{R_c^2}
    + \frac{2\alpha}{\sqrt\pi}\frac{e^{-\alpha^2R_c^2}}{R_c}\Big)(r-R_c)\Big)
    - \Big(\frac{\operatorname{erfc}\alpha R_c}{2R_c}+\frac{\alpha}{\sqrt\pi}\Big)
    \Big(\sum_i q_i^2 + 2\sum_{(i,j)\in excl}q_iq_j\Big)\Big]$$

    Energy and force go to zero smoothly at $R_c$; pairwise, O(N) with a neighbour list,
    no reciprocal space. Excluded (intramolecular) pairs enter only through the constant
    self term: Fennell & Gezelter's per-atom self term, applied to whole molecules
    (Σ q² + 2Σ_excl qq = Σ_mol Q²), so an isolated neutral molecule has exactly zero
    electrostatic energy and no intramolecular electrostatic force, as with Ewald plus
    exclusions. Absolute energies of a liquid still depend on α (DSF neglects the smooth
    erf part); compare forces and energy differences with Ewald, not absolute energies.

    **Accuracy** (measured here on liquid SPC/Fw, RMS force error relative to Ewald at
    1e-6): 512 molecules, R_c = 1.2 nm, α = 1.5 nm⁻¹: 1.1 %; R_c = 0.9 nm, α = 1.5–2 nm⁻¹:
    2–3 %; 64 molecules, R_c = 0.6 nm, α = 2 nm⁻¹: 6 %; 48 molecules, R_c = 0.55 nm,
    α = 1.5–2.5 nm⁻¹: 7–8 % (the example trajectory's setting).
    Accuracy at a given R_c degrades for α ≳ 2.5 nm⁻¹.
    Fennell & Gezelter recommend α ≈ 0.2 Å⁻¹ with R_c = 9–12 Å (their §IV, Figs. 5–8).

    **Switch (optional).** `switch_width=w` multiplies each pair term by the quintic switch
    S(r) of `switch_c2` over [R_c − w, R_c]. The DSF pair term is only C¹ at R_c (its second
    derivative jumps), so every crossing of the cutoff in an MD step is a small random energy
    error; the switch makes it C² and removes that energy diffusion (docs/water-validation.md).
    It changes forces only for R_c − w < r < R_c.

    **Arguments:** `alpha` (inverse length Quantity, default 0.2 Å⁻¹), `cutoff` (length
    Quantity), `switch_width` (length Quantity or `None`, 0 < w < R_c). Static, not fitted.

    ??? cite
        C. J. Fennell and J. D. Gezelter, "Is the Ewald summation still necessary? Pairwise
        alternatives to the accepted standard for long-range electrostatics",
        J. Chem. Phys. 124, 234104 (2006).
    """

    alpha: float = eqx.field(static=True)
    real_cutoff: float = eqx.field(static=True)
    switch_width: float | None = eqx.field(static=True, default=None)

    def __init__(self, alpha: Any, cutoff: Any, switch_width: Any = None):
        self.alpha = _float(alpha, "1/nm", "alpha")
        self.real_cutoff = _float(cutoff, "nm", "cutoff")
        if switch_width is None:
            self.switch_width = None
        else:
            self.switch_width = _float(switch_width, "nm", "switch_width")
            if not 0 < self.switch_width < self.real_cutoff:
                raise ValueError(
                    f"switch_width must lie in (0, cutoff = {self.real_cutoff} nm), got "
                    f"{self.switch_width} nm"
                )

    @property
    def cutoff(self) -> float:
        return self.real_cutoff

    def coulomb(self, positions, charges, system, pairs):
        a, rc = self.alpha, self.real_cutoff
        erfc_rc = math.erfc(a * rc)
        shift = erfc_rc / rc
        slope = erfc_rc / rc**2 + 2 * a / math.sqrt(math.pi) * math.exp(-((a * rc) ** 2)) / rc
        r, mask = pairs.distances(rc)
        qq = charges[pairs.i] * charges[pairs.j]
        pair = qq * (erfc(a * r) / r - shift + slope * (r - rc))
        if self.switch_width is not None:
            pair = pair * switch_c2(r, rc - self.switch_width, rc)
        e_pair = pairs.weight * jnp.sum(jnp.where(mask, pair, 0.0))
        # self term over "molecular" charges: Σ q_i² + 2 Σ_excl q_i q_j (= Σ_mol Q_mol² when all
        # intramolecular pairs are excluded), so an isolated neutral molecule has U = 0.
        sq = jnp.sum(charges**2)
        top = system.topology
        if top is not None and top.exclusions.shape[0] > 0:
            ei, ej = top.exclusions[:, 0], top.exclusions[:, 1]
            sq = sq + 2 * jnp.sum(charges[ei] * charges[ej])
        e_self = -(erfc_rc / (2 * rc) + a / math.sqrt(math.pi)) * sq
        return COULOMB * (e_pair + e_self)
