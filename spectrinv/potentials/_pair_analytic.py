"""Analytic pair potentials: Lennard-Jones, Morse, Buckingham."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import check_dimensionality, ureg

from ._mixing import AbstractMixing, LorentzBerthelot
from ._pair import AbstractPairPotential, pair_parameter, pick
from ._param_units import as_cutoff, as_energy, as_length
from ._truncation import AbstractTruncation, Shifted

__all__ = ["Buckingham", "LennardJones", "Morse"]


class LennardJones(AbstractPairPotential):
    """φ(r) = 4ε[(σ/r)¹² − (σ/r)⁶], cut off at r_c (energy-shifted by default).

    **Arguments:** `sigma` (length), `epsilon` (energy: molar, per particle, or ε/k_B as a
    temperature, e.g. `Quantity(119.8, "K")` = 0.99607 kJ/mol), each a scalar,
    a per-species vector (mixed with `mixing`, default Lorentz–Berthelot) or a symmetric
    matrix; `cutoff` (length); `truncation` (`Shifted()`, `ForceShifted()`, `Truncated()`).

    **Fields:** `sigma` (nm), `epsilon` (kJ/mol) — the fit parameters; each `[]`,
    `[species]` or `[species, species]` as given.
    """

    sigma: Float[Array, "..."]
    epsilon: Float[Array, "..."]
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
        self.sigma = pair_parameter(as_length(sigma, "sigma"), "sigma")
        self.epsilon = pair_parameter(as_energy(epsilon, "epsilon"), "epsilon")
        self.r_cut = as_cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        sigma = pick(self._matrix("sigma", dtype), si, sj)
        eps = pick(self._matrix("epsilon", dtype), si, sj)
        x = (sigma / r) ** 2
        x3 = x * x * x
        return 4.0 * eps * (x3 * x3 - x3)


class Morse(AbstractPairPotential):
    """φ(r) = D [(1 − e^{−a(r − r₀)})² − 1] (zero at infinity, minimum −D at r₀).

    **Arguments:** `well_depth` D (energy; a temperature means D/k_B), `stiffness` a
    (1/length), `r0` (length), each a scalar, a per-species vector (mixed) or a matrix;
    `cutoff`; `truncation` (`Shifted()`).
    """

    well_depth: Float[Array, "..."]
    stiffness: Float[Array, "..."]
    r0: Float[Array, "..."]
    mixing: AbstractMixing

    def __init__(self, well_depth, stiffness, r0, cutoff, *, truncation=None, mixing=None):
        depth = as_energy(well_depth, "well_depth")
        self.well_depth = pair_parameter(depth, "well_depth")
        check_dimensionality(stiffness, "1/nm", "stiffness")
        a = np.asarray(stiffness.m_as("1/nm"), dtype=float)
        self.stiffness = pair_parameter(a, "stiffness")
        self.r0 = pair_parameter(as_length(r0, "r0"), "r0")
        self.r_cut = as_cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        d = pick(self._matrix("well_depth", dtype), si, sj)
        a = pick(self._matrix("stiffness", dtype), si, sj)
        r0 = pick(self._matrix("r0", dtype), si, sj)
        e = jnp.exp(-a * (r - r0))
        return d * ((1.0 - e) ** 2 - 1.0)


class Buckingham(AbstractPairPotential):
    """φ(r) = A e^{−r/ρ} − C / r⁶.

    Beware the "Buckingham catastrophe": φ → −∞ as r → 0, so configurations must stay out of
    the unphysical inner region (start from a sensible structure, small time steps).

    **Arguments:** `a` (energy; a temperature means A/k_B), `rho` (length), `c`
    (energy·length⁶); scalars, per-species vectors (mixed) or matrices; `cutoff`;
    `truncation` (`Shifted()`).
    """

    a: Float[Array, "..."]
    rho: Float[Array, "..."]
    c: Float[Array, "..."]
    mixing: AbstractMixing

    def __init__(self, a, rho, c, cutoff, *, truncation=None, mixing=None):
        self.a = pair_parameter(as_energy(a, "a"), "a")
        self.rho = pair_parameter(as_length(rho, "rho"), "rho")
        c_molar = (
            c * ureg.avogadro_constant if c.dimensionality == ureg("J*m**6").dimensionality else c
        )
        check_dimensionality(c_molar, "kJ/mol*nm**6", "c")
        self.c = pair_parameter(np.asarray(c_molar.m_as("kJ/mol*nm**6"), dtype=float), "c")
        self.r_cut = as_cutoff(cutoff)
        self.truncation = Shifted() if truncation is None else truncation
        self.mixing = LorentzBerthelot() if mixing is None else mixing

    def _phi(self, r, si, sj, dtype):
        a = pick(self._matrix("a", dtype), si, sj)
        rho = pick(self._matrix("rho", dtype), si, sj)
        c = pick(self._matrix("c", dtype), si, sj)
        r2 = r * r
        return a * jnp.exp(-r / rho) - c / (r2 * r2 * r2)
