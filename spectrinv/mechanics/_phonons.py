r"""Phonon frequencies, band structures and densities of states from `ForceConstants`.

**Frequencies.** $\nu_s(q) = \operatorname{sign}(\omega_s^2)\sqrt{|\omega_s^2|}/2\pi$ with
$\omega_s^2(q)$ the eigenvalues of the dynamical matrix $D(q)$ sorted ascending (an unstable
mode, $\omega^2 < 0$, gets a negative frequency, as in phonopy). Reported in THz and cm⁻¹
($\tilde\nu = \nu/c$; 1 THz = 33.356 cm⁻¹).

**Degeneracies and losses.** Eigenvalues are continuous in the potential's parameters θ,
but a single sorted branch is not differentiable where branches are degenerate or cross
(Γ, X, L of diamond: the derivative of a member of a degenerate group depends on the
direction of the perturbation, and `jax.grad` returns one member of that set). Losses are
safe when they are symmetric within every degenerate group: a loss on the *sorted*
ω² (or ν) against targets that give every member of a degenerate group the same value (as
experiments at high-symmetry points do) depends only on the group's sum, whose gradient
is well defined (d Σ_{s∈g} ω²_s = Σ_{s∈g} ⟨e_s|dD|e_s⟩ = tr(P_g dD) for the projector
P_g on the group). Prefer ω² to ν near ν = 0 (dν/dω² diverges at the acoustic modes at
Γ). Invariants of D(q) (tr Dᵏ) are smooth everywhere. Between symmetry points, where
branches of different symmetry cross, compare whole sorted spectra, not one branch.

**Density of states.** With a Gaussian of width σ on a uniform Γ-centred mesh of
$N_q$ wavevectors,

$$ g(\nu) = \frac{1}{N_q}\sum_{q,s}\frac{1}{\sigma\sqrt{2\pi}}
   e^{-(\nu-\nu_s(q))^2/2\sigma^2},\qquad \int g\,d\nu = 3n, $$

the number of branches (n atoms in the cell), in THz⁻¹ per cell. Differentiable in θ
(every branch enters symmetrically).

**Band paths** come from seekpath (Hinuma et al. 2017), with the special points of the
crystal's Bravais lattice, rotated into the frame of the given cell and expressed in the
given cell's reduced coordinates.

??? cite
    Y. Hinuma, G. Pizzi, Y. Kumagai, F. Oba and I. Tanaka, "Band structure diagram paths
    based on crystallography", Comput. Mater. Sci. 128, 140 (2017);
    A. Togo and I. Tanaka, "First principles phonon calculations in materials science",
    Scr. Mater. 108, 1 (2015).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import seekpath
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ..potentials import System
from ._force_constants import ForceConstants, reduced_q

__all__ = [
    "BandPath",
    "band_path",
    "phonon_frequencies",
    "phonon_bands",
    "phonon_dos",
    "q_mesh",
    "frequencies_from_squared",
    "CM1_PER_THZ",
]

#: cm⁻¹ per THz (1e12 / c, c in cm/s): 33.356.
CM1_PER_THZ: float = float(Quantity(1.0, "THz").to("1/cm", "sp").magnitude)

_squared_jit = eqx.filter_jit(lambda fc, q: fc.squared_frequencies(q))


def frequencies_from_squared(w2: Float[Array, "..."]) -> Float[Array, "..."]:
    """ν = sign(ω²)·√|ω²| / 2π in THz from ω² in (rad/ps)² (plain arrays, jit-safe; the
    derivative is infinite at ω² = 0, so losses near the acoustic modes use ω²)."""
    return jnp.sign(w2) * jnp.sqrt(jnp.abs(w2)) / (2.0 * jnp.pi)


def phonon_frequencies(fc: ForceConstants, q: Any, unit: str = "THz") -> Quantity:
    """Phonon frequencies at wavevectors `q`, sorted ascending per wavevector.

    **Arguments:** `fc` from `force_constants`; `q`: `[3]` or `[k, 3]` reduced coordinates
    (units of the reciprocal cell vectors, e.g. X = [0.5, 0, 0.5] for the fcc primitive
    cell); `unit`: `"THz"` (default) or any frequency or wavenumber unit (e.g. `"1/cm"`).

    **Returns:** `Quantity` `[..., 3n]`; negative values are unstable modes (ω² < 0). For
    gradients use `fc.squared_frequencies(q)` (plain ω² in (rad/ps)²) inside `jax.grad`
    (module docstring: degenerate branches).
    """
    arr = reduced_q(q)
    nu = np.asarray(frequencies_from_squared(_squared_jit(fc, jnp.asarray(arr))))
    return Quantity(nu, "THz").to(unit, "sp")


def q_mesh(mesh: Any) -> np.ndarray:
    """Uniform Γ-centred mesh `[N₁N₂N₃, 3]` in reduced coordinates, q = (i₁/N₁, i₂/N₂,
    i₃/N₃) folded into [−1/2, 1/2)."""
    size = tuple(int(n) for n in np.ravel(mesh))
    if len(size) != 3 or min(size) < 1 or not np.allclose(np.ravel(mesh), size):
        raise ValueError(f"mesh must be three positive integers, got {mesh!r}")
    q = np.array(list(np.ndindex(*size)), dtype=float) / np.asarray(size, dtype=float)
    return q - np.floor(q + 0.5)


def phonon_dos(
    fc: ForceConstants,
    frequencies: Any,
    width: Any = None,
    mesh: Any = (16, 16, 16),
) -> Quantity:
    """Phonon density of states g(ν) on a q-mesh with Gaussian broadening (module
    docstring), normalised to ∫g dν = 3n states per cell.

    **Arguments:** `fc`; `frequencies`: the grid `[f]` (frequency `Quantity`, e.g.
    THz); `width`: the Gaussian σ (frequency `Quantity`, default 0.1 THz); `mesh`: Γ-centred
    mesh size (default 16³).

    **Returns:** `Quantity` `[f]` in 1/THz. For a differentiable version, apply the same
    sum to `fc.squared_frequencies(q_mesh(mesh))` inside `jax.grad`.
    """
    grid = np.asarray(to_magnitude(frequencies, "THz", "frequencies"), dtype=float)
    sigma = 0.1 if width is None else float(to_magnitude(width, "THz", "width"))
    if not sigma > 0:
        raise ValueError(f"width must be positive, got {width}")
    w2 = _squared_jit(fc, jnp.asarray(q_mesh(mesh)))
    nu = np.asarray(frequencies_from_squared(w2)).ravel()
    z = (grid[:, None] - nu[None, :]) / sigma
    g = np.exp(-0.5 * z * z).sum(-1) / (sigma * np.sqrt(2.0 * np.pi) * w2.shape[0])
    return Quantity(g, "1/THz")


@dataclasses.dataclass(frozen=True)
class BandPath:
    """A path through the Brillouin zone for a band-structure plot.

    **Fields:** `q`: `[k, 3]` reduced coordinates of the given cell; `distance`: `[k]`
    cumulative path length (1/nm, 2π included; a jump between disconnected segments adds
    nothing); `labels`: `((index, name), ...)` of the special points ("Γ", "X", ...).
    """

    q: np.ndarray
    distance: Quantity
    labels: tuple[tuple[int, str], ...]


def band_path(positions: Any, system: System, reference_distance: Any = None) -> BandPath:
    """The standard band path of the crystal (seekpath, Hinuma et al. 2017).

    **Arguments:** `positions` `[atom, 3]` (length `Quantity` or nm) and `system` of the
    cell (periodic box, `species` tell atoms apart); `reference_distance`: target spacing
    of the q-points (`Quantity`, inverse length; default 0.25 nm⁻¹).

    **Returns:** a `BandPath` in the reduced coordinates of *this* cell (seekpath's points
    refer to its standardised primitive cell; they are rotated back and converted, so a
    conventional cell gets the same physical wavevectors and folded bands).
    """
    if system.box is None:
        raise ValueError("a band path needs a periodic crystal: system.box is None")
    if isinstance(positions, Quantity):
        positions = positions.m_as("nm")
    cell = np.asarray(system.box_matrix, dtype=float)
    frac = np.asarray(positions, dtype=float) @ np.linalg.inv(cell)
    step = (
        0.25
        if reference_distance is None
        else float(to_magnitude(reference_distance, "1/nm", "reference_distance"))
    )
    numbers = np.asarray(system.species, dtype=int) + 1
    # seekpath works in Å and Å⁻¹ (2π included)
    res = seekpath.get_explicit_k_path((cell * 10.0, frac, numbers), reference_distance=step / 10.0)
    k_cart = np.asarray(res["explicit_kpoints_abs"]) @ np.asarray(res["rotation_matrix"])
    q = k_cart @ (cell * 10.0).T / (2.0 * np.pi)
    names = res["explicit_kpoints_labels"]
    labels = tuple((i, "Γ" if s == "GAMMA" else s) for i, s in enumerate(names) if s)
    dist = Quantity(10.0 * np.asarray(res["explicit_kpoints_linearcoord"]), "1/nm")
    return BandPath(q=q, distance=dist, labels=labels)


def phonon_bands(fc: ForceConstants, path: BandPath, unit: str = "THz") -> Quantity:
    """Frequencies along a `BandPath`, `[k, 3n]` `Quantity` (sorted at each q-point)."""
    return phonon_frequencies(fc, path.q, unit)
