"""Polarizability models for Raman: total cell polarizability α (nm³, polarizability volume).

Bond polarizabilities (`BondPolarizability`) and interacting atomic point polarizabilities
(`DipoleInducedDipole`).

A model is an equinox module `model(positions, system) -> α [3, 3]` in internal units
(positions nm; α is the polarizability *volume* α/(4πε₀) in nm³, the convention of
`Trajectory.polarizability`), jit/vmap/grad safe, so a backend can record it per frame.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from observables import Quantity, to_magnitude

from ._base import System, minimum_image
from ._electrostatics import _safe_norm

__all__ = ["AbstractPolarizabilityModel", "BondPolarizability", "DipoleInducedDipole"]


def _leaf(q: Any, unit: str, name: str) -> Array:
    return jnp.asarray(to_magnitude(q, unit, name), dtype=float)


class AbstractPolarizabilityModel(eqx.Module):
    """`(positions [atom, 3] nm, system) -> α [3, 3] nm³` (symmetric)."""

    @abc.abstractmethod
    def __call__(
        self, positions: Float[Array, "atom 3"], system: System
    ) -> Float[Array, "3 3"]: ...


class BondPolarizability(AbstractPolarizabilityModel):
    r"""Bond-polarizability model (Wolkenstein; Long, *The Raman Effect*, 2002, §5.9):

    $$\boldsymbol\alpha = \sum_{b\in\text{bonds}} \Big[\alpha_\perp(r_b)\,\mathbf 1
    + \big(\alpha_\parallel(r_b) - \alpha_\perp(r_b)\big)\,
    \hat{\mathbf u}_b\hat{\mathbf u}_b^T\Big],$$

    $$\alpha_\parallel(r) = \alpha_\parallel^0 + \alpha_\parallel'(r - r_0),\qquad
    \alpha_\perp(r) = \alpha_\perp^0 + \alpha_\perp'(r - r_0),$$

    with û_b the unit vector along bond b (`topology.bonds`, minimum image) and r_b its
    length. The isotropic invariant is ᾱ = Σ_b (α∥ + 2α⊥)/3 and the anisotropy of one bond
    is α∥ - α⊥. The bond-length derivatives α∥', α⊥' carry the Raman intensity of the
    stretching modes; the angular dependence carries the bend and librations.

    All bonds share one parameter set (e.g. the O–H bonds of water). There are no
    defaults: parameters depend on the molecule and must be chosen (or fitted) by the
    user. For orientation, the gas-phase mean polarizability of water is 1.47 Å³, i.e.
    α∥⁰ + 2α⊥⁰ ≈ 2.2 Å³ per O–H bond if the molecule is described by its two bonds only.

    **Arguments** (pint Quantities): `alpha_parallel`, `alpha_perpendicular` (volume,
    e.g. Å³; SI C·m²/V is converted), `d_alpha_parallel`, `d_alpha_perpendicular`
    (volume/length, e.g. Å²), `r0` (length). All are fittable leaves.
    """

    alpha_parallel: Float[Array, ""]
    alpha_perpendicular: Float[Array, ""]
    d_alpha_parallel: Float[Array, ""]
    d_alpha_perpendicular: Float[Array, ""]
    r0: Float[Array, ""]

    def __init__(
        self,
        alpha_parallel: Any,
        alpha_perpendicular: Any,
        d_alpha_parallel: Any,
        d_alpha_perpendicular: Any,
        r0: Any,
    ):
        self.alpha_parallel = _leaf(alpha_parallel, "polarizability", "alpha_parallel")
        self.alpha_perpendicular = _leaf(
            alpha_perpendicular, "polarizability", "alpha_perpendicular"
        )
        self.d_alpha_parallel = _leaf(d_alpha_parallel, "nm**2", "d_alpha_parallel")
        self.d_alpha_perpendicular = _leaf(d_alpha_perpendicular, "nm**2", "d_alpha_perpendicular")
        self.r0 = _leaf(r0, "nm", "r0")

    def bond_tensors(self, positions, system) -> Float[Array, "bond 3 3"]:
        """Per-bond polarizability tensors (nm³)."""
        if system.topology is None:
            raise ValueError("BondPolarizability needs a System with a Topology (bonds)")
        b = system.topology.bonds
        dr = minimum_image(positions[b[:, 1]] - positions[b[:, 0]], system.box)
        r, _ = _safe_norm(dr, jnp.ones(b.shape[0], bool))
        u = dr / r[:, None]
        a_par = self.alpha_parallel + self.d_alpha_parallel * (r - self.r0)
        a_perp = self.alpha_perpendicular + self.d_alpha_perpendicular * (r - self.r0)
        eye = jnp.eye(3, dtype=positions.dtype)
        return (
            a_perp[:, None, None] * eye
            + (a_par - a_perp)[:, None, None] * u[:, :, None] * u[:, None, :]
        )

    def __call__(self, positions, system):
        return jnp.sum(self.bond_tensors(positions, system), axis=0)


_INTERACTIONS = ("molecule", "all")


def _number(x: Any, name: str) -> Array:
    if isinstance(x, Quantity):
        return _leaf(x, "dimensionless", name)
    return jnp.asarray(x, dtype=float)


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _cluster_polarizability(
    positions: Float[Array, "n 3"],
    alpha: Float[Array, " n"],
    valid: Bool[Array, " n"],
    box: Array | None,
    thole_a: Array | None,
) -> Float[Array, "3 3"]:
    """α (nm³) of one cluster of mutually interacting point dipoles; `valid` false marks
    padding atoms, which neither polarise nor interact."""
    n = positions.shape[0]
    dtype = positions.dtype
    one = jnp.ones((), dtype)
    dr = minimum_image(positions[None, :, :] - positions[:, None, :], box)  # r_j - r_i
    pair = valid[:, None] & valid[None, :] & ~jnp.eye(n, dtype=bool)
    r2 = jnp.where(pair, jnp.sum(dr * dr, axis=-1), one)  # guard r = 0 (self, padding)
    r3 = r2 * jnp.sqrt(r2)
    rr = dr[..., :, None] * dr[..., None, :] / r2[..., None, None]
    # s_i = sqrt(α_i); padding gets α = 1 inside the guards and s = 0 in the relay matrix
    s_safe = jnp.sqrt(jnp.where(valid, alpha, one))
    s = jnp.where(valid, s_safe, jnp.zeros((), dtype))
    if thole_a is None:
        lam3 = lam5 = one
    else:
        x = thole_a * r3 / (s_safe[:, None] * s_safe[None, :])  # a u³
        lam3 = -jnp.expm1(-x)
        lam5 = lam3 - x * jnp.exp(-x)
        lam3, lam5 = lam3[..., None, None], lam5[..., None, None]
    eye3 = jnp.eye(3, dtype=dtype)
    t = (3 * lam5 * rr - lam3 * eye3) / r3[..., None, None]
    t = jnp.where(pair[..., None, None], t, jnp.zeros((), dtype))  # [n, n, 3, 3]
    # relay matrix in the symmetric scaled form 1 - S T S (S = diag √α): B = S⁻¹(1 - STS)S⁻¹
    sts = (s[:, None] * s[None, :])[..., None, None] * t
    relay = jnp.eye(3 * n, dtype=dtype) - sts.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    rhs = (s[:, None, None] * eye3).reshape(3 * n, 3)  # S E, E the stacked 3×3 identities
    y = jnp.linalg.solve(relay, rhs)  # (1 - STS)⁻¹ S E
    return jnp.sum(s[:, None, None] * y.reshape(n, 3, 3), axis=0)  # Eᵀ S y = Σ_ij A_ij


# jitted so that eager calls compile once per shape instead of dispatching op by op (inlined
# when the caller is traced)
_cluster_jit = jax.jit(_cluster_polarizability)
_clusters_jit = jax.jit(jax.vmap(_cluster_polarizability, in_axes=(0, 0, 0, None, None)))


class DipoleInducedDipole(AbstractPolarizabilityModel):
    r"""Dipole-induced-dipole (DID) model: interacting atomic point polarizabilities
    (Applequist), optionally Thole-damped.

    Each atom i carries an isotropic polarizability volume α_i (one value per species). An
    external field E induces μ_i = α_i (E + Σ_{j≠i} T_ij μ_j), so with the relay matrix

    $$\mathbf B_{ii} = \alpha_i^{-1}\mathbf 1,\qquad \mathbf B_{ij} = -\mathbf T_{ij}
    \ (i\ne j),\qquad \mathbf A = \mathbf B^{-1}\ (3N\times 3N),$$

    the total polarizability is the sum of all 3×3 blocks,
    $\boldsymbol\alpha = \sum_{ij}\mathbf A_{ij}$. The dipole field tensor, in
    polarizability-volume units (no 4πε₀), is

    $$\mathbf T_{ij} = \frac{3\lambda_5\,\hat{\mathbf r}\hat{\mathbf r}^T
    - \lambda_3\,\mathbf 1}{r^3},\qquad \mathbf r = \mathbf r_j - \mathbf r_i,$$

    with λ3 = λ5 = 1 undamped (Applequist, `thole_a=None`) or, with Thole damping,
    u = r/(α_i α_j)^{1/6} and a = `thole_a`,

    $$\lambda_3 = 1 - e^{-a u^3},\qquad \lambda_5 = 1 - (1 + a u^3)\,e^{-a u^3},$$

    the factors of the smeared dipole density ρ(u) = (3a/4π) e^{-a u³} (λ3 is the fraction
    of it within u). Large a damps less; a → ∞ is the undamped model.
    The solve uses the equivalent symmetric form A = S (1 − S T S)⁻¹ S with
    S = diag(√α_i) (`jnp.linalg.solve` against the stacked identities, no explicit
    inverse), which is dimensionless and stays finite when some α_i → 0.

    **Polarization catastrophe.** Undamped, the relay matrix loses positive definiteness at
    short range: for two atoms α∥ = (α₁ + α₂ + 4α₁α₂/r³)/(1 − 4α₁α₂/r⁶) diverges at
    r⁶ = 4α₁α₂ and is unphysical (negative) inside it. Nothing in the model detects this;
    keep the undamped model for atoms well apart (or polarizabilities small against r³).
    With damping, the two-atom relay matrix tends to [[1, a], [a, 1]] (per Cartesian
    direction) as r → 0 and its coupling never exceeds a at any distance, so a dimer is
    free of the catastrophe at every distance iff a < 1 (many atoms: not guaranteed).

    **Interactions** (`interactions`):

    - `"molecule"` (default): only atoms of the same molecule (`topology.molecule`)
      interact, through the minimum image of their separation; α is the sum of the
      molecular tensors (`molecule_tensors`), each an independent small solve, so the
      cost is linear in the number of molecules. Molecules of equal size stored
      contiguously (atoms k·m … k·m + k − 1 form molecule m, as `water_topology` builds
      them) are reshaped and solved in one batch; any other layout is padded to the
      largest molecule (padding atoms have α = 0 and drop out exactly).
      The layout is read from `topology.molecule` when it is concrete. When the `System`
      is traced (e.g. `eqx.filter_jit(model)(positions, system)` or inside a backend run), pass
      `molecule_size` (atoms per molecule, equal-size contiguous layout); the layout is
      then checked at run time (`eqx.error_if`). Mixed molecule sizes need a concrete
      topology (close over the `System`).
    - `"all"`: every pair of atoms in the cell interacts, with the minimum image (plain
      differences without a box): one dense 3N×3N solve, O(N³) time and O(N²) memory, for
      small cells and clusters only. With a box this is the nearest-image interaction,
      not a lattice (Ewald) sum of dipole tensors: α jumps when a pair separation crosses
      half a box width. Without a box it is the exact cluster polarizability.

    **Arguments:**

    - `alpha`: `[n_species]` polarizability volumes (volume Quantity, e.g.
      `Quantity([1.0, 0.4], "angstrom**3")`, illustrative numbers; SI C·m²/V is
      converted), indexed by `system.species`. Fittable leaf (nm³). Must be positive and
      finite. There are no defaults.
    - `thole_a`: Thole parameter a (dimensionless number or Quantity, positive, fittable
      leaf), or `None` for the undamped Applequist model.
    - `interactions`: `"molecule"` or `"all"`.
    - `molecule_size`: atoms per molecule for a traced `System` with `"molecule"`.

    **Returns** (`__call__`): α `[3, 3]` in nm³ (polarizability volume α/(4πε₀)),
    symmetric up to round-off.

    **Timings** (the 2-core CPU VM, shared with two other busy processes; `jax.jit`, one
    frame, best of 20 calls; Thole-damped; `OPENBLAS_NUM_THREADS=1`):

    | | float32 | float64 | `jax.grad` (α_s, a, positions), f32 / f64 |
    |---|---|---|---|
    | `"molecule"`, 216 waters (648 atoms) | 0.30 ms | 0.27 ms | 0.8–0.9 / 0.9–1.0 ms |
    | `"all"`, 64 waters (192 atoms, 576×576 solve) | 4.0–4.5 ms | 6.2–6.4 ms | 11 / 28 ms |

    Without `OPENBLAS_NUM_THREADS=1` the `"all"` solve (LAPACK through scipy's OpenBLAS)
    ran at ~200 ms per call in some runs on that loaded machine (BLAS threads competing for
    the two cores); the `"molecule"` variant was unaffected. Measured with
    `OPENBLAS_NUM_THREADS=1 python -m benchmarks.performance.polarizability_did` (α = (0.9, 0.4) Å³,
    illustrative; a = 0.5; a rerun on the same loaded machine gave 0.28 / 0.27 ms and
    4.6 / 8.2 ms).

    ??? cite
        J. Applequist, J. R. Carl, K.-K. Fung, "Atom dipole interaction model for molecular
        polarizability. Application to polyatomic molecules and determination of atom
        polarizabilities", J. Am. Chem. Soc. 94, 2952 (1972);
        B. T. Thole, "Molecular polarizabilities calculated with a modified dipole
        interaction", Chem. Phys. 59, 341 (1981);
        P. Th. van Duijnen, M. Swart, "Molecular and atomic polarizabilities: Thole's model
        revisited", J. Phys. Chem. A 102, 2399 (1998).
    """

    alpha: Float[Array, " species"]
    thole_a: Float[Array, ""] | None
    interactions: str = eqx.field(static=True)
    molecule_size: int | None = eqx.field(static=True)

    def __init__(
        self,
        alpha: Any,
        thole_a: Any = None,
        *,
        interactions: str = "molecule",
        molecule_size: int | None = None,
    ):
        value = np.asarray(to_magnitude(alpha, "polarizability", "alpha"), dtype=float)
        if value.ndim != 1 or value.size == 0:
            raise ValueError(
                f"alpha must be a [n_species] vector of polarizability volumes, got shape "
                f"{value.shape}; wrap a single species as a list, e.g. Quantity([1.0], 'Å**3')"
            )
        if not np.all(np.isfinite(value) & (value > 0)):
            raise ValueError(f"alpha must be positive and finite, got {value.tolist()} nm³")
        self.alpha = jnp.asarray(value)
        if thole_a is None:
            self.thole_a = None
        else:
            a = _number(thole_a, "thole_a")
            if a.ndim != 0 or not (np.isfinite(float(a)) and float(a) > 0):
                raise ValueError(
                    f"thole_a must be a positive finite scalar (or None for no damping), got "
                    f"{np.asarray(a).tolist()}"
                )
            self.thole_a = a
        if interactions not in _INTERACTIONS:
            raise ValueError(
                f"interactions must be one of {_INTERACTIONS}, got {interactions!r}: "
                "'molecule' couples atoms within each molecule, 'all' every pair in the cell"
            )
        self.interactions = interactions
        if molecule_size is not None and (
            isinstance(molecule_size, bool)
            or not isinstance(molecule_size, int | np.integer)
            or molecule_size < 1
        ):
            raise ValueError(f"molecule_size must be a positive int or None, got {molecule_size!r}")
        self.molecule_size = None if molecule_size is None else int(molecule_size)

    def _atomic_alpha(self, positions, system) -> Array:
        """Per-atom α_i (nm³) in the dtype of `positions`, after the checks that can be
        made outside jit."""
        n = system.n_atoms
        if positions.shape != (n, 3):
            raise ValueError(
                f"positions must have shape ({n}, 3) for this system, got {positions.shape}"
            )
        n_species = self.alpha.shape[0]
        if system.species_names is not None and len(system.species_names) != n_species:
            raise ValueError(
                f"alpha has {n_species} values but the system has species "
                f"{system.species_names}; give one polarizability per species"
            )
        if not _is_traced(system.species):
            top = int(np.max(np.asarray(system.species))) if n else -1
            if top >= n_species:
                raise ValueError(
                    f"system.species uses index {top} but alpha has only {n_species} values"
                )
        if not _is_traced(positions) and not np.all(np.isfinite(np.asarray(positions))):
            raise ValueError("positions contain NaN or inf")
        return self.alpha.astype(positions.dtype)[system.species]

    def _layout(self, system) -> tuple[int, np.ndarray | None, Array | None]:
        """`(k, table, bad)`: molecule size k of an equal-size contiguous layout (table None)
        or the padded `[molecule, k]` atom index table (padding index n_atoms); `bad` a
        traced flag for the run-time check of a traced layout (else None)."""
        if system.topology is None:
            raise ValueError(
                "DipoleInducedDipole(interactions='molecule') needs a System with a Topology "
                "(molecule assignment); use interactions='all' for one cluster without one"
            )
        mol = system.topology.molecule
        n = system.n_atoms
        k = self.molecule_size
        if _is_traced(mol):
            if k is None:
                raise ValueError(
                    "DipoleInducedDipole(interactions='molecule') got a traced "
                    "topology.molecule, so the molecule layout is unknown at trace time: pass "
                    "molecule_size (e.g. 3 for water built by water_topology), or close over "
                    "the System instead of passing it through jit"
                )
            if n % k:
                raise ValueError(f"molecule_size={k} does not divide the {n} atoms")
            blocks = mol.reshape(-1, k)
            heads = jnp.sort(blocks[:, 0])
            bad = jnp.any(blocks != blocks[:, :1]) | jnp.any(heads[1:] == heads[:-1])
            return k, None, bad
        mol = np.asarray(mol)
        ids, inverse, sizes = np.unique(mol, return_inverse=True, return_counts=True)
        equal = sizes.min() == sizes.max()
        if equal:
            kk = int(sizes[0])
            equal = bool(np.all(inverse.reshape(-1, kk) == inverse.reshape(-1, kk)[:, :1]))
        if k is not None and not (equal and kk == k):
            raise ValueError(
                f"molecule_size={k} but topology.molecule is not {n // max(k, 1)} contiguous "
                f"molecules of {k} atoms (sizes {sorted(set(sizes.tolist()))})"
            )
        if equal:
            return kk, None, None
        kmax = int(sizes.max())
        table = np.full((len(ids), kmax), n)
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank = np.arange(n) - starts[inverse[order]]
        table[inverse[order], rank] = order
        return kmax, table, None

    def molecule_tensors(self, positions, system) -> Float[Array, "molecule 3 3"]:
        """Polarizability (nm³) of each molecule, the molecules not interacting with one
        another (`interactions="molecule"`): one row per molecule, in storage order for
        equal-size contiguous molecules, by sorted molecule id otherwise."""
        alpha = self._atomic_alpha(positions, system)
        k, table, bad = self._layout(system)
        if bad is not None:
            positions = eqx.error_if(
                positions,
                bad,
                f"topology.molecule is not contiguous molecules of molecule_size={k} atoms",
            )
        thole = None if self.thole_a is None else self.thole_a.astype(positions.dtype)
        if table is None:
            pos_m = positions.reshape(-1, k, 3)
            alpha_m = alpha.reshape(-1, k)
            valid = jnp.ones(alpha_m.shape, bool)
        else:
            pad = jnp.concatenate([positions, positions[:1]], axis=0)  # a harmless padding row
            pos_m = pad[table]
            alpha_m = jnp.concatenate([alpha, alpha[:1]])[table]
            valid = jnp.asarray(table < system.n_atoms)
        return _clusters_jit(pos_m, alpha_m, valid, system.box, thole)

    def __call__(self, positions, system):
        if self.interactions == "molecule":
            return jnp.sum(self.molecule_tensors(positions, system), axis=0)
        alpha = self._atomic_alpha(positions, system)
        thole = None if self.thole_a is None else self.thole_a.astype(positions.dtype)
        valid = jnp.ones(alpha.shape, bool)
        return _cluster_jit(positions, alpha, valid, system.box, thole)
