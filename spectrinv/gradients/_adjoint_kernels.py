"""The jitted kernels of the discrete adjoint (`Adjoint`): the reverse pass over one anchor
interval, the initial-force term, and the reconstruction checks."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..backends import Frame, NeighborListOverflowError


# ----------------------------------------------------------------------------- backward
def inv_mass(system, dtype):
    return (1.0 / system.masses)[..., None].astype(dtype)


def force_fn(static, system, nbrs):
    """`F(r, params)` for batched positions `[replica, atom, 3]` with the lists `nbrs`;
    `params` carry a leading replica axis (one copy per replica, so that the VJP gives
    each replica's parameter cotangent separately)."""

    def forces(r, p):
        def one(ri, pi, nb):
            return -jax.grad(eqx.combine(pi, static).energy)(ri, system, nb)

        if nbrs is None:
            return jax.vmap(lambda ri, pi: one(ri, pi, None))(r, p)
        return jax.vmap(one)(r, p, nbrs)

    return forces


def record_fn(static, system, record, nbrs):
    """Recorded signals `{field: [replica, ...]}` of one frame as a function of
    `(r, v, params)` (params per replica, as in `force_fn`); forces and energy in the
    `Frame` are recomputed (and differentiated)."""

    def signals(r, v, p):
        def one(ri, vi, pi, nb):
            pot = eqx.combine(pi, static)
            e, g = jax.value_and_grad(pot.energy)(ri, system, nb)
            frame = Frame(ri, vi, -g, e, nb, system)
            return {rec.field: rec(frame, pot) for rec in record}

        if nbrs is None:
            return jax.vmap(lambda ri, vi, pi: one(ri, vi, pi, None))(r, v, p)
        return jax.vmap(one)(r, v, p, nbrs)

    return signals


def overflowed(nbrs):
    if nbrs is None:
        return jnp.zeros((), bool)
    return jnp.any(nbrs.did_buffer_overflow != 0)


def raise_if_overflow(flag, step):
    if bool(flag):
        raise NeighborListOverflowError(
            f"Adjoint: the neighbour list rebuilt at the anchor of step {step} overflows "
            "(capacity of the forward run's final list); raise the backend's "
            "capacity_multiplier"
        )


def add(a, b):
    return jax.tree.map(lambda x, y: x + y, a, b)


@eqx.filter_jit
def half_kick(system, v, f, dt):
    """u_{1/2} = v + (Δt/2) F/m at an anchor."""
    return v + (0.5 * dt) * f * inv_mass(system, v.dtype)


@jax.jit
def recon_errors(r_rec, u_rec, r_ref, u_ref):
    e_r = jnp.sqrt(jnp.mean(jnp.sum((r_rec - r_ref) ** 2, axis=-1)))
    e_u = jnp.sqrt(jnp.mean(jnp.sum((u_rec - u_ref) ** 2, axis=-1))) / jnp.sqrt(
        jnp.mean(jnp.sum(u_ref**2, axis=-1))
    )
    return e_r, e_u


@eqx.filter_jit
def backward_interval(
    params,
    static,
    backend,
    system,
    record,
    r_top,
    v_top,
    f_top,
    nbrs,
    ref,
    lam,
    mu,
    theta_bar,
    sig_bar,
    stride,
    n_frames,
):
    """Reverse one anchor interval of `n_frames * stride` steps from the later anchor
    `(r_top, v_top)` with forces `f_top` (positions n = m, …, m − K + 1), accumulating the
    adjoint; `nbrs` (built at `ref`) is checked and rebuilt by the forward rule.

    Returns `(r, u, λ, μ, θ̄, nbrs, ref, overflowed)` with `r`, `u` the reconstructed
    r_{m−K} and u_{m−K+1/2}."""
    dtype = r_top.dtype
    inv_m = inv_mass(system, dtype)
    dt = backend.integrator.timestep
    a = 0.5 * dt
    u_top = v_top + a * f_top * inv_m  # u_{m+1/2}

    def position(carry, cot):
        """Process position n: carry holds r_n, u_{n+1/2}, λ_{n+1}, μ_{n+1/2}, θ̄."""
        r, u, lam, mu, tb, nb, ref = carry
        nb, ref = backend.checked_neighbors(system, r, nb, ref)
        # one linearisation of F at r_n serves the reconstruction and both half kicks
        f, f_vjp = jax.vjp(force_fn(static, system, nb), r, params)
        v = u - a * f * inv_m
        if cot is None:
            c = (dt * mu) * inv_m
        else:  # recorded step: the recorders' VJP adds to the cotangents of r_n, v_n, θ
            _, rec_vjp = jax.vjp(record_fn(static, system, record, nb), r, v, params)
            r_rec, v_rec, th_rec = rec_vjp(cot)
            c = (dt * mu + a * v_rec) * inv_m
        jr, jth = f_vjp(c)
        lam = lam + jr
        tb = add(tb, jth)
        if cot is None:
            mu = dt * lam + mu
        else:
            lam = lam + r_rec
            tb = add(tb, th_rec)
            mu = dt * lam + mu + v_rec
        u_prev = v - a * f * inv_m
        r_prev = r - dt * u_prev
        return (r_prev, u_prev, lam, mu, tb, nb, ref)

    def frame(carry, cot):
        carry = position(carry, cot)
        if stride > 1:
            carry, _ = jax.lax.scan(
                lambda c, _: (position(c, None), None), carry, None, length=stride - 1
            )
        return carry, None

    carry = (r_top, u_top, lam, mu, theta_bar, nbrs, ref)
    carry, _ = jax.lax.scan(frame, carry, sig_bar, length=n_frames, reverse=True)
    r, u, lam, mu, tb, nb, ref = carry
    return r, u, lam, mu, tb, nb, ref, overflowed(nb)


@eqx.filter_jit
def initial_term(params, static, backend, system, r0, nbrs, ref, mu, theta_bar, dt):
    """θ̄ += (∂_θ F(r_0))ᵀ M⁻¹ (Δt/2) μ_{1/2}: the initial forces' dependence on θ.
    Returns `(θ̄, F(r_0), overflowed)`."""
    nbrs, _ = backend.checked_neighbors(system, r0, nbrs, ref)
    f0, f_vjp = jax.vjp(lambda p: force_fn(static, system, nbrs)(r0, p), params)
    (jth,) = f_vjp((0.5 * dt) * mu * inv_mass(system, r0.dtype))
    return add(theta_bar, jth), f0, overflowed(nbrs)
