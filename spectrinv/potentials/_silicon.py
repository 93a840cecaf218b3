r"""Stillinger–Weber potential for silicon, with every parameter a fittable leaf.

$$U = \sum_{i<j}\varepsilon f_2(r_{ij}/\sigma)
    + \sum_i\sum_{j<k}\varepsilon\lambda
      \exp\Big(\frac{\gamma}{r_{ij}/\sigma-a}+\frac{\gamma}{r_{ik}/\sigma-a}\Big)
      \big(\cos\theta_{jik}+\tfrac13\big)^2,$$

$$f_2(x) = A\,(B x^{-p} - x^{-q})\,\exp\big(1/(x-a)\big)\quad (x<a),\ 0\ \text{otherwise}.$$

Both terms vanish with all derivatives at r = aσ. Written from scratch (not
`jax_md.energy.stillinger_weber`) so that ε, σ, a, λ, γ, A, B are array leaves with finite
gradients: every exponent and division is evaluated on a guarded distance outside the cutoff
and on padded neighbour slots (an unguarded division there would give NaN gradients).

??? cite
    F. H. Stillinger and T. A. Weber, "Computer simulation of local order in condensed phases
    of silicon", Phys. Rev. B 31, 5262 (1985).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import Quantity, to_magnitude

from ._base import System
from ._local import AbstractLocalPotential

__all__ = ["StillingerWeber", "EDIP", "diamond_lattice"]


def _leaf(q: Any, unit: str, name: str) -> Array:
    return jnp.asarray(to_magnitude(q, unit, name), dtype=float)


def _number(x: Any, name: str) -> Array:
    if isinstance(x, Quantity):
        return _leaf(x, "dimensionless", name)
    return jnp.asarray(x, dtype=float)


class StillingerWeber(AbstractLocalPotential):
    """Stillinger–Weber silicon (one species).

    **Arguments** (defaults: Stillinger & Weber 1985, Eqs. 2.3–2.5 and the parameters
    quoted with them; their ε is given in cgs units, ≈ 50 kcal/mol; 2.1683 eV is the value
    tabulated in LAMMPS's `Si.sw` and used here; jax-md uses 2.16826 eV, which changes
    energies by 2e-5 relative): `epsilon` = 2.1683 eV (energy Quantity), `sigma` = 2.0951 Å
    (length Quantity), dimensionless `a` = 1.80,
    `lam` (λ) = 21.0, `gamma` (γ) = 1.20, `A` = 7.049556277, `B` = 0.6022245584;
    exponents `p` = 4, `q` = 0 (static).
    `cutoff_margin`: the neighbour-list cutoff is a·σ·(1 + margin) at construction (static),
    so a fit that grows a·σ by up to the margin stays exact.

    Energies kJ/mol, positions nm. With these parameters the diamond lattice at
    a₀ = 5.431 Å has -2ε = -4.3366 eV per atom (the SW fit target).
    """

    epsilon: Float[Array, ""]
    sigma: Float[Array, ""]
    a: Float[Array, ""]
    lam: Float[Array, ""]
    gamma: Float[Array, ""]
    A: Float[Array, ""]
    B: Float[Array, ""]
    p: float = eqx.field(static=True)
    q: float = eqx.field(static=True)
    max_cutoff: float = eqx.field(static=True)

    def __init__(
        self,
        epsilon: Any = None,
        sigma: Any = None,
        a: Any = 1.80,
        lam: Any = 21.0,
        gamma: Any = 1.20,
        A: Any = 7.049556277,
        B: Any = 0.6022245584,
        p: float = 4.0,
        q: float = 0.0,
        cutoff_margin: float = 0.05,
    ):
        epsilon = Quantity(2.1683, "eV") if epsilon is None else epsilon
        sigma = Quantity(2.0951, "angstrom") if sigma is None else sigma
        self.epsilon = _leaf(epsilon, "kJ/mol", "epsilon")  # eV per atom -> kJ/mol
        self.sigma = _leaf(sigma, "nm", "sigma")
        self.a = _number(a, "a")
        self.lam = _number(lam, "lam")
        self.gamma = _number(gamma, "gamma")
        self.A = _number(A, "A")
        self.B = _number(B, "B")
        self.p = float(p)
        self.q = float(q)
        self.max_cutoff = float(self.a * self.sigma) * (1.0 + float(cutoff_margin))

    @property
    def cutoff(self) -> float:
        return self.max_cutoff

    def site_energies(self, dr, mask, idx, system: System):
        """U_i = ε[½ Σ_k f₂(r_ik/σ) + λ Σ_{j<k} (three-body term centred on i)] (kJ/mol)."""
        d2 = jnp.sum(dr * dr, axis=-1)
        rc = self.a * self.sigma
        mask = mask & (d2 < rc * rc)
        r = jnp.sqrt(jnp.where(mask, d2, 0.25 * rc * rc))  # guarded: r = rc/2 outside
        x = r / self.sigma
        inv = 1.0 / (x - self.a)  # finite: x < a on the mask and x = a/2 elsewhere
        # two-body, each pair counted twice in the [i, m] table
        f2 = self.A * (self.B * x ** (-self.p) - x ** (-self.q)) * jnp.exp(inv)
        e2 = 0.5 * jnp.sum(jnp.where(mask, f2, 0.0), axis=-1)
        # three-body around each i: sum over ordered (j, k), j != k, halved
        g = jnp.where(mask, jnp.exp(self.gamma * inv), 0.0)  # [n, m]
        u = dr / r[..., None]
        cos = jnp.einsum("imx,ikx->imk", u, u)
        m = dr.shape[1]
        off_diag = ~jnp.eye(m, dtype=bool)
        h = g[:, :, None] * g[:, None, :] * (cos + 1.0 / 3.0) ** 2
        e3 = 0.5 * self.lam * jnp.sum(jnp.where(off_diag, h, 0.0), axis=(1, 2))
        return self.epsilon * (e2 + e3)


class EDIP(AbstractLocalPotential):
    r"""Environment-dependent interatomic potential (EDIP) for silicon (Justo et al. 1998).

    $$U = \sum_i\Big[\sum_{j\neq i} V_2(r_{ij}, Z_i)
        + \sum_{j<k} g(r_{ij})\,g(r_{ik})\,h(\cos\theta_{jik}, Z_i)\Big],$$

    $$V_2(r, Z) = A\big[(B/r)^\rho - e^{-\beta Z^2}\big]e^{\sigma/(r-a)},\quad
    g(r) = e^{\gamma/(r-a)},$$

    $$h(l, Z) = \lambda\big[1 - e^{-Q(Z)(l+\tau(Z))^2} + \eta Q(Z)(l+\tau(Z))^2\big],\
    Q(Z) = Q_0e^{-\mu Z},\ \tau(Z) = u_1 + u_2\big(u_3e^{-u_4Z} - e^{-2u_4Z}\big),$$

    with the effective coordination $Z_i = \sum_{m\neq i} f(r_{im})$, $f = 1$ for $r < c$,
    $f = \exp(\alpha/(1 - x^{-3}))$ with $x = (r-c)/(a-c)$ for $c < r < a$, 0 beyond $a$.

    **Arguments** (defaults: Justo et al. 1998, Table I; identical to the defaults of
    `jax_md.energy.edip`): energies `A` = 7.9821730 eV, `lam` (λ) = 1.4533108 eV; lengths
    `B` = 1.5075463 Å, `sigma` = 0.5774108 Å, `a` = 3.1213820 Å, `c` = 2.5609104 Å,
    `gamma` = 1.1247945 Å; pure numbers `rho` = 1.2085196, `beta` = 0.0070975,
    `alpha` = 3.1083847, `eta` = 0.2523244, `Q0` = 312.1341346, `mu` = 0.6966326,
    `u1` = -0.165799, `u2` = 32.557, `u3` = 0.286198, `u4` = 0.66. All are fittable leaves;
    the neighbour-list cutoff is a·(1 + `cutoff_margin`) (static). Diamond silicon at
    a₀ = 5.430 Å: -4.650 eV/atom (τ(4) ≈ 1/3 makes h vanish at the tetrahedral angle).

    ??? cite
        J. F. Justo, M. Z. Bazant, E. Kaxiras, V. V. Bulatov and S. Yip, "Interatomic
        potential for silicon defects and disordered phases", Phys. Rev. B 58, 2539 (1998);
        M. Z. Bazant, E. Kaxiras and J. F. Justo, Phys. Rev. B 56, 8542 (1997).
    """

    A: Float[Array, ""]
    B: Float[Array, ""]
    rho: Float[Array, ""]
    beta: Float[Array, ""]
    sigma: Float[Array, ""]
    a: Float[Array, ""]
    c: Float[Array, ""]
    alpha: Float[Array, ""]
    lam: Float[Array, ""]
    gamma: Float[Array, ""]
    eta: Float[Array, ""]
    Q0: Float[Array, ""]
    mu: Float[Array, ""]
    u1: Float[Array, ""]
    u2: Float[Array, ""]
    u3: Float[Array, ""]
    u4: Float[Array, ""]
    max_cutoff: float = eqx.field(static=True)

    def __init__(
        self,
        A: Any = None,
        B: Any = None,
        rho: Any = 1.2085196,
        beta: Any = 0.0070975,
        sigma: Any = None,
        a: Any = None,
        c: Any = None,
        alpha: Any = 3.1083847,
        lam: Any = None,
        gamma: Any = None,
        eta: Any = 0.2523244,
        Q0: Any = 312.1341346,
        mu: Any = 0.6966326,
        u1: Any = -0.165799,
        u2: Any = 32.557,
        u3: Any = 0.286198,
        u4: Any = 0.66,
        cutoff_margin: float = 0.05,
    ):
        def q(x, default, unit):
            return Quantity(default, unit) if x is None else x

        self.A = _leaf(q(A, 7.9821730, "eV"), "kJ/mol", "A")
        self.lam = _leaf(q(lam, 1.4533108, "eV"), "kJ/mol", "lam")
        self.B = _leaf(q(B, 1.5075463, "angstrom"), "nm", "B")
        self.sigma = _leaf(q(sigma, 0.5774108, "angstrom"), "nm", "sigma")
        self.a = _leaf(q(a, 3.1213820, "angstrom"), "nm", "a")
        self.c = _leaf(q(c, 2.5609104, "angstrom"), "nm", "c")
        self.gamma = _leaf(q(gamma, 1.1247945, "angstrom"), "nm", "gamma")
        self.rho = _number(rho, "rho")
        self.beta = _number(beta, "beta")
        self.alpha = _number(alpha, "alpha")
        self.eta = _number(eta, "eta")
        self.Q0 = _number(Q0, "Q0")
        self.mu = _number(mu, "mu")
        self.u1 = _number(u1, "u1")
        self.u2 = _number(u2, "u2")
        self.u3 = _number(u3, "u3")
        self.u4 = _number(u4, "u4")
        self.max_cutoff = float(self.a) * (1.0 + float(cutoff_margin))

    @property
    def cutoff(self) -> float:
        return self.max_cutoff

    def site_energies(self, dr, mask, idx, system: System):
        """U_i = Σ_k V₂(r_ik, Z_i) + Σ_{j<k} g(r_ij) g(r_ik) h(cos θ_jik, Z_i) (kJ/mol)."""
        d2 = jnp.sum(dr * dr, axis=-1)
        a, c = self.a, self.c
        mask = mask & (d2 < a * a)
        r = jnp.sqrt(jnp.where(mask, d2, 0.25 * a * a))  # guarded: r = a/2 outside
        inv = 1.0 / (r - a)
        # coordination Z_i with the smooth cutoff f(r)
        outer = mask & (r > c)
        x = jnp.where(outer, (r - c) / (a - c), 0.5)
        f = jnp.where(outer, jnp.exp(self.alpha / (1.0 - x ** (-3))), 1.0)
        z = jnp.sum(jnp.where(mask, f, 0.0), axis=1)  # [n]
        # two-body, ordered pairs, each with the coordination of its first atom
        v2 = (
            self.A
            * ((self.B / r) ** self.rho - jnp.exp(-self.beta * z[:, None] ** 2))
            * jnp.exp(self.sigma * inv)
        )
        e2 = jnp.sum(jnp.where(mask, v2, 0.0), axis=-1)
        # three-body around each atom
        g = jnp.where(mask, jnp.exp(self.gamma * inv), 0.0)
        u = dr / r[..., None]
        cos = jnp.einsum("imx,ikx->imk", u, u)
        q_z = self.Q0 * jnp.exp(-self.mu * z)[:, None, None]
        tau = (self.u1 + self.u2 * (self.u3 * jnp.exp(-self.u4 * z) - jnp.exp(-2 * self.u4 * z)))[
            :, None, None
        ]
        w = q_z * (cos + tau) ** 2
        h = self.lam * ((1.0 - jnp.exp(-w)) + self.eta * w)
        m = dr.shape[1]
        off_diag = ~jnp.eye(m, dtype=bool)
        e3 = 0.5 * jnp.sum(jnp.where(off_diag, g[:, :, None] * g[:, None, :] * h, 0.0), axis=(1, 2))
        return e2 + e3


def diamond_lattice(cells: int, lattice_constant: Any = None):
    """Diamond-cubic silicon: `(positions [8·cells³, 3] nm, System)` in a cubic box of edge
    `cells`·a₀ (default a₀ = 5.431 Å; mass 28.0855 Da, species 0)."""
    if lattice_constant is None:
        lattice_constant = Quantity(5.431, "angstrom")
    a0 = float(to_magnitude(lattice_constant, "nm", "lattice_constant"))
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    basis = np.concatenate([fcc, fcc + 0.25])
    cells_idx = np.array(list(np.ndindex(cells, cells, cells)), dtype=float)
    pos = (cells_idx[:, None, :] + basis[None]).reshape(-1, 3) * a0
    n = pos.shape[0]
    system = System(
        box=jnp.asarray([cells * a0] * 3),
        species=jnp.zeros(n, dtype=jnp.int32),
        masses=jnp.full(n, 28.0855),
        species_names=("Si",),
    )
    return jnp.asarray(pos), system
