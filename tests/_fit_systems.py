"""A fit whose gradient is known: a noisy quadratic bowl, no MD.

`Bowl` is a potential with two parameters `a`, `b` (a harmonic trap of stiffness a + b,
kJ mol⁻¹ nm⁻²; only its parameters matter here). `NoisyBowl` is a gradient strategy that
ignores the trajectory: its loss is the quadratic bowl

    L(θ) = ½ Σ_i ((θ_i − m_i) / m_i)²,    minimum m = `minimum`,

and its gradient is the mean over `n_segments` units of ∇L + σ ξ_j / m (ξ_j standard
normal, drawn from the key, σ = `noise`), so the gradient noise has standard error
σ / (m √n) per parameter, reported as `grad_stderr` / `grad_snr` like the real strategies
(std over units with n − 1, divided by √n). `quadratic_target` builds a `Target` on
two atoms in a trap (Langevin backend, no box), so a `fit` step costs milliseconds.

Import from the tests as `from _fit_systems import ...`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin
from spectrinv.fit import Target
from spectrinv.gradients import AbstractGradient, GradientResult, Objective, tree_norm
from spectrinv.potentials import AbstractPotential, System

#: Starting values of the bowl's parameters, and the minimum the fake strategy pulls to.
START = {"a": 100.0, "b": 50.0}
MINIMUM = (120.0, 40.0)


class Bowl(AbstractPotential):
    """U = ½ (a + b) Σ_i |r_i|² (kJ/mol): a trap with two fittable parameters."""

    a: jax.Array
    b: jax.Array

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        return 0.5 * (self.a + self.b) * jnp.sum(positions**2)


def bowl() -> Bowl:
    return Bowl(jnp.asarray(START["a"]), jnp.asarray(START["b"]))


@eqx.filter_jit
def _bowl_loss_and_units(params, static, minimum, noise, n, key):
    """(L(θ), per-unit gradients [n] per leaf) of the noisy bowl."""

    def theta(p):
        pot = eqx.combine(p, static)
        return jnp.stack([pot.a, pot.b])

    m = jnp.asarray(minimum)

    def loss(p):
        return 0.5 * jnp.sum(((theta(p) - m) / m) ** 2)

    def unit(p, xi):
        return loss(p) + noise * jnp.sum(xi * theta(p) / m)

    xi = jax.random.normal(key, (n, 2))
    units = jax.vmap(jax.grad(unit), in_axes=(None, 0))(params, xi)
    return loss(params), units


class NoisyBowl(AbstractGradient):
    """Test-only strategy: the noisy quadratic bowl of the module docstring."""

    n_segments: int = eqx.field(static=True)
    noise: float = eqx.field(static=True, default=0.05)
    minimum: tuple = eqx.field(static=True, default=MINIMUM)

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        loss, units = _bowl_loss_and_units(
            params, static, self.minimum, self.noise, self.n_segments, key
        )
        n = self.n_segments
        grad = jax.tree.map(lambda u: jnp.mean(u, axis=0), units)
        stderr = jax.tree.map(lambda u: jnp.std(u, axis=0, ddof=1) / jnp.sqrt(n), units)
        snr = jax.tree.map(lambda g, e: jnp.abs(g) / e, grad, stderr)
        diagnostics = {
            "grad_norm": tree_norm(grad),
            "grad_stderr": stderr,
            "grad_snr": snr,
            "n_segments": n,
        }
        observed = jnp.stack([eqx.combine(params, static).a, eqx.combine(params, static).b])
        return GradientResult(loss, grad, observed, state, diagnostics)


def _identity(x):
    return x


def _zero(x):
    return jnp.zeros(())


def quadratic_target(strategy: AbstractGradient, name: str = "bowl") -> Target:
    """A `Target` on two atoms in the `Bowl` trap whose gradient comes from `strategy`."""
    system = System(box=None, species=jnp.zeros(2, jnp.int32), masses=jnp.full(2, 40.0))
    positions = Quantity(jnp.array([[0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]]), "nm")
    backend = JaxMDBackend(Langevin(Quantity(2, "fs"), Quantity(100, "K"), Quantity(5, "1/ps")))
    objective = Objective(_identity, _zero)
    return Target(name, objective, system, positions, backend, strategy, Quantity(100, "K"))
