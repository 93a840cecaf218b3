"""`Adjoint`: the discrete adjoint of velocity Verlet, with time-reversed reconstruction.

Memory that does not grow with the trajectory length (apart from the recorded signals the
loss needs and a few KB per anchor), at about the cost of BPTT in time.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from observables import Quantity, to_internal

from ..backends import (
    AbstractDifferentiableBackend,
    MDState,
    NeighborListOverflowError,
    VelocityVerlet,
)
from ..potentials import System
from ._adjoint_kernels import (
    backward_interval,
    half_kick,
    initial_term,
    raise_if_overflow,
    recon_errors,
)
from ._base import (
    AbstractGradient,
    GradientError,
    GradientResult,
    Objective,
    check_gradient,
    gradient_spread,
    quiet_unit_observe,
    tree_mean,
    unit_mean,
)
from ._bptt import require_differentiable

__all__ = ["Adjoint", "ReconstructionError"]


#: default `Adjoint.max_reconstruction_error`
_DEFAULT_TOLERANCE = Quantity(1e-4, "nm")


class ReconstructionError(GradientError):
    """The time-reversed reconstruction of the trajectory drifted from a stored anchor by
    more than `Adjoint.max_reconstruction_error`: the gradient would be unreliable."""


def reconstruction_tolerance(value) -> float | None:
    """`max_reconstruction_error` (a length; a bare number is nm) in nm, or `None` (no
    check); a negative or NaN tolerance raises `ValueError`."""
    if value is None:
        return None
    tol = float(to_internal(value, "length", "max_reconstruction_error"))
    if not tol >= 0:
        raise ValueError(f"max_reconstruction_error must be >= 0, got {value}")
    return tol


class Adjoint(AbstractGradient):
    r"""Discrete adjoint of velocity Verlet (NVE) with time-reversed state reconstruction.

    **What is differentiated.** The exact derivative of the *discrete* trajectory that
    `JaxMDBackend.run` produces (so it agrees with `jax.grad` through `run`, i.e. plain BPTT,
    to rounding), for

    $$ L(\theta) = \mathrm{loss}\big(\langle \mathrm{observe}(\mathrm{traj}_\theta)\rangle\big), $$

    where the trajectory holds the signals of `objective.record`, one frame every `stride`
    steps (frame $k$ = state after $(k+1)\,$`stride` steps), and ⟨·⟩ is the leaf-wise mean
    over replicas for a batched state (`[replica, atom, 3]`; `unit_mean`, which gives an
    observable result's error bar as the spread of the replicas / √R) and the identity
    otherwise.

    **Forward.** `n_steps` velocity-Verlet steps storing only the recorded signals and
    *anchors* $(r, v, F)$ every `anchor_every` steps (`[replica, atom, 3]` each, 72 bytes
    per atom in float64; the forces come free with the forward state and spare a force
    evaluation and a neighbour rebuild per anchor in the backward pass). The cotangents
    $\bar s_k = \partial L/\partial s_k$ of the recorded signals come from one `jax.vjp`
    of `loss ∘ observe`.

    **Backward (the discrete adjoint).** With $a = \Delta t/2$, half-step velocities
    $u_{n+1/2} = v_n + a M^{-1}F(r_n)$, $r_{n+1} = r_n + \Delta t\,u_{n+1/2}$,
    $v_{n+1} = u_{n+1/2} + a M^{-1}F(r_{n+1})$, and recorder contributions
    $(\bar r^{\rm rec}_n, \bar v^{\rm rec}_n, \bar\theta^{\rm rec}_n)$ (the VJP of the
    recorders at recorded steps, zero elsewhere), the adjoint variables
    $\lambda_n = \mathrm dL/\mathrm dr_n$ and $\mu_{n+1/2} = \mathrm dL/\mathrm du_{n+1/2}$
    obey, for $n = T, \dots, 0$ (with $\lambda_{T+1} = \mu_{T+1/2} = 0$),

    $$ c_n = M^{-1}\big(\kappa_n\,\mu_{n+1/2} + a\,\bar v^{\rm rec}_n\big),\quad
       \kappa_n = \Delta t\ (n \ge 1),\ a\ (n = 0), $$
    $$ \lambda_n = \lambda_{n+1} + (\partial_r F_n)^{\!\top} c_n + \bar r^{\rm rec}_n,\qquad
       \bar\theta \mathrel{+}= (\partial_\theta F_n)^{\!\top} c_n + \bar\theta^{\rm rec}_n, $$
    $$ \mu_{n-1/2} = \Delta t\,\lambda_n + \mu_{n+1/2} + \bar v^{\rm rec}_n . $$

    Each force $F(r_n)$ enters two half kicks; one `jax.vjp(F, r_n, θ)` per step gives both
    $F(r_n)$ (for the reconstruction) and the product with the summed cotangent $c_n$. The
    $n = 0$ term carries the dependence of the initial forces on θ (`run` recomputes them).
    The states are reconstructed backwards by reversing the integrator from the later anchor:
    $r_n = r_{n+1} - \Delta t\,u_{n+1/2}$, $v_n = u_{n+1/2} - a M^{-1}F(r_n)$,
    $u_{n-1/2} = v_n - a M^{-1} F(r_n)$.

    **Re-anchoring and reversibility limits.** Velocity Verlet is time reversible in exact
    arithmetic, but rounding errors grow like $e^{\lambda t}$ in a chaotic system (largest
    Lyapunov exponent λ ≈ 3/τ for a Lennard-Jones liquid): we measured RMS
    reconstruction errors of 1e-14 (float64) / 9e-6 (float32) after 200 steps, 1e-8 /
    0.56 σ after 1000 steps (Δt = 0.005 τ), and total failure after 5000 steps in both. So
    the reconstruction restarts from the stored anchor at the start of every interval
    (`anchor_every` steps), and the error found on arrival at the earlier anchor is reported
    (`reconstruction_error`, RMS over atoms and replicas, nm; max over anchors;
    `reconstruction_error_velocity` the same for the half-step velocities relative to
    their RMS). Measured here (108-atom LJ argon, 90 K, Δt = 4 fs ≈ 0.0019 τ, RMS
    position error on return after one interval of K steps): float64 — K = 100: ~1e-16 nm,
    K = 1000: 6e-15 nm, K = 2000: 2e-13 nm, K = 5000: 7e-9 nm; float32 — K = 100:
    3e-8 nm, K = 1000: 4e-6 nm, K = 2000: 1.3e-4 nm (growth ×30 per 1000 steps, so a
    float32 adjoint needs short anchor intervals). If the error exceeds
    `max_reconstruction_error` a `ReconstructionError` is raised (a silently wrong gradient
    is worse than none): use a smaller `anchor_every` or float64.

    **Cost** (500-atom LJ, float64, idle 2-core CPU, default anchors): a whole call takes
    ≈ 2.9 × the forward run at 10³ and 10⁴ steps (`benchmarks/performance/gradients.py`;
    a backward step is one force VJP, reverse over reverse, ≈ 2.5 × a forward step); peak
    memory grows by 1 % from 10³ to 10⁴ steps (plain BPTT runs out of memory at 10³ steps
    with a 6 GB limit). See docs/benchmarks.md.

    **Neighbour lists.** The backward pass carries the forward run's final list (largest
    capacity, valid at the final positions) through all intervals and rebuilds it for the
    reconstructed positions by the forward rule (rebuild when an atom moved more than
    skin/2 since the last build), so it rebuilds about as often as the forward run (a
    rebuild costs ≈ 20 force evaluations for 500 atoms on a CPU). The lists differ
    from the forward ones only in when they are rebuilt (a list covering r_c + skin gives the
    same forces, up to summation order). An overflow (sticky flag checked per interval) makes
    the interval be redone with a larger list (`NeighborListOverflowError` after the
    backend's `max_reallocations`).

    **Arguments:**
    - `n_steps`: steps per call (a multiple of `stride`);
    - `stride`: steps between recorded frames;
    - `anchor_every`: steps between anchors (rounded down to a multiple of `stride`, at
      least `stride`). Default `None`: 1000 steps for float64 positions, 100 for float32
      (reconstruction errors measured above: ≈ 1e-14 nm and ≈ 3e-8 nm on return). Memory
      O(`n_steps`/`anchor_every`) anchors; fewer, longer intervals also save a little
      time (one compiled call per interval);
    - `max_reconstruction_error`: largest tolerated RMS position error of the reconstruction
      on arrival at an anchor (length Quantity; default 1e-4 nm; `None` disables the check,
      the diagnostic is still reported).

    **Returns** (from `__call__`): a `GradientResult` with diagnostics `grad_norm`,
    `reconstruction_error` (nm), `reconstruction_error_velocity` (relative), `n_anchors`,
    `n_steps`, and for R ≥ 2 replicas `grad_stderr` / `grad_snr`: the standard error of
    the mean of the per-replica gradients u_r = ∂L/∂O · ∂o_r/∂θ of the *linearised* loss
    (mean_r u_r is exactly the returned gradient; the backward pass differentiates one
    copy of the parameters per replica to get them) and |grad| / stderr, both with the
    structure of `grad`; `state` is the final forward state.

    Only a differentiable backend (`JaxMDBackend`) with `VelocityVerlet` is supported (the
    reversal needs a time-reversible, deterministic integrator); anything else raises
    `TypeError`. With `parallel=Sharded()` the replicas of a batched state are split over
    the devices in both passes.

    ??? cite
        L. S. Pontryagin et al., *The Mathematical Theory of Optimal Processes* (1962) —
        the continuous adjoint; for the discrete adjoint of symplectic integrators:
        J. M. Sanz-Serna, "Symplectic Runge–Kutta schemes for adjoint equations, automatic
        differentiation, optimal control, and more", SIAM Review 58, 3 (2016).
    """

    n_steps: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    anchor_every: int | None = eqx.field(static=True)
    max_reconstruction_error: float | None = eqx.field(static=True)

    def __init__(
        self,
        n_steps: int,
        stride: int = 1,
        anchor_every: int | None = None,
        max_reconstruction_error: Quantity | None = _DEFAULT_TOLERANCE,
    ):
        n_steps, stride = int(n_steps), int(stride)
        if stride < 1 or n_steps < stride or n_steps % stride:
            raise ValueError(
                f"n_steps ({n_steps}) must be a positive multiple of stride ({stride})"
            )
        self.n_steps = n_steps
        self.stride = stride
        if anchor_every is None:
            self.anchor_every = None
        else:
            anchor_every = int(anchor_every)
            if anchor_every < 1:
                raise ValueError(f"anchor_every must be >= 1, got {anchor_every}")
            self.anchor_every = self._round(anchor_every)
        self.max_reconstruction_error = reconstruction_tolerance(max_reconstruction_error)

    def _round(self, steps: int) -> int:
        return max(self.stride, (steps // self.stride) * self.stride)

    def anchor_interval(self, dtype: jnp.dtype) -> int:
        """Steps between anchors for positions of `dtype` (`anchor_every`, or the
        default for that precision)."""
        if self.anchor_every is not None:
            return self.anchor_every
        return self._round(1000 if jnp.dtype(dtype) == jnp.float64 else 100)

    # ------------------------------------------------------------------------------ call
    def __call__(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        backend: AbstractDifferentiableBackend,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        cache: None = None,
    ) -> GradientResult:
        backend = require_differentiable(backend, "Adjoint")
        if not isinstance(backend.integrator, VelocityVerlet):
            raise TypeError(
                f"Adjoint needs a backend with VelocityVerlet(...) (time-reversible NVE), got "
                f"{type(backend.integrator).__name__}; for thermostatted dynamics use BPTT or "
                "Truncated"
            )
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be an Objective, got {type(objective).__name__}")
        loss, observed, _, shares, st, diagnostics = adjoint_shares(
            self, objective, params, static, backend=backend, system=system, state=state, key=key
        )
        n_rep = st.positions.shape[0]
        # shares[r] = (1/R) ∂L/∂O · ∂o_r/∂θ: R × it is replica r's gradient of the
        # linearised loss, and their mean the gradient
        per_unit = jax.tree.map(lambda g: n_rep * g, shares)
        grad = tree_mean(per_unit)
        norm = check_gradient(loss, grad, what="Adjoint")
        diagnostics = dict(grad_norm=norm, **diagnostics)
        if n_rep >= 2:
            diagnostics.update(gradient_spread(per_unit, grad))
        return GradientResult(
            loss=loss,
            grad=grad,
            observed=observed,
            state=st if state.batched else backend.unbatch(st),
            diagnostics=diagnostics,
            cache=None,
        )

    def _forward(self, backend, potential, system, st, key, record, lengths):
        """The forward run in anchor intervals: `(final_state, anchors, signals)`, anchors
        `(r, v, F)` at every interval boundary (the start state's forces may be stale, e.g.
        from other parameters: `None`, recomputed at the end of the backward pass)."""
        anchors = [(st.positions, st.velocities, None)]
        chunks = []
        for length in lengths:
            st, frames = backend.run_chunk(
                potential,
                system,
                st,
                key,
                record,
                length // self.stride,
                self.stride,
                what="Adjoint forward pass",
            )
            anchors.append((st.positions, st.velocities, st.forces))
            chunks.append(frames)
        fields = [r.field for r in record]
        signals = {f: jnp.concatenate([c[f] for c in chunks], axis=0) for f in fields}
        return st, anchors, signals

    def _backward(self, backend, params, static, system, record, st, anchors, sig_bar, lengths):
        """The adjoint pass over the anchor intervals, latest first: `(θ̄, err_r, err_u)`
        with θ̄ `[replica, ...]` per leaf, each replica's share of the gradient (the
        kernels differentiate one copy of the parameters per replica).

        The final forward list (largest capacity, no overflow, valid at the final positions
        with its reference positions) is carried through the whole backward pass and
        rebuilt by the forward rule only: no extra rebuild per anchor."""
        potential = eqx.combine(params, static)
        n_rep = st.positions.shape[0]
        params = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_rep,) + x.shape), params)
        carry = dict(
            nbrs=st.neighbors,
            ref=st.reference_positions,
            lam=jnp.zeros_like(st.positions),
            mu=jnp.zeros_like(st.positions),
            theta_bar=jax.tree.map(jnp.zeros_like, params),
        )
        dt = backend.integrator.timestep
        err_r, err_u = 0.0, 0.0
        frame_end = self.n_steps // self.stride
        starts = np.cumsum([0] + lengths)
        for j in reversed(range(len(lengths))):
            frames_here = lengths[j] // self.stride
            sig_bar_here = {f: v[frame_end - frames_here : frame_end] for f, v in sig_bar.items()}
            frame_end -= frames_here
            r_rec, u_rec, carry = _reverse_interval(
                backend,
                potential,
                params,
                static,
                system,
                record,
                anchors[j + 1],
                carry,
                sig_bar_here,
                self.stride,
                frames_here,
                int(starts[j + 1]),
            )
            # arrival at the earlier anchor: compare with the stored state, then re-anchor
            r_anchor, v_anchor, f_anchor = anchors[j]
            if f_anchor is None:  # the start state: forces recomputed (and θ's initial term)
                carry["theta_bar"], f_anchor, bad = initial_term(
                    params,
                    static,
                    backend,
                    system,
                    r_anchor,
                    carry["nbrs"],
                    carry["ref"],
                    carry["mu"],
                    carry["theta_bar"],
                    dt,
                )
                raise_if_overflow(bad, 0)
            u_anchor = half_kick(system, v_anchor, f_anchor, dt)
            e_r, e_u = recon_errors(r_rec, u_rec, r_anchor, u_anchor)
            err_r, err_u = max(err_r, float(e_r)), max(err_u, float(e_u))
            tol = self.max_reconstruction_error
            if tol is not None and not err_r <= tol:
                raise ReconstructionError(
                    f"Adjoint: the time-reversed reconstruction arrived at the anchor of step "
                    f"{int(starts[j])} with an RMS position error of {err_r:.3g} nm (> "
                    f"max_reconstruction_error = {tol:.3g} nm) after {lengths[j]} reverse steps "
                    f"in {jnp.dtype(r_rec.dtype).name}: chaotic growth of rounding errors. Use "
                    f"a smaller anchor_every (now {self.anchor_interval(r_rec.dtype)}) or "
                    "float64 positions."
                )
        return carry["theta_bar"], err_r, err_u


def adjoint_shares(adjoint, objective, params, static, *, backend, system, state, key):
    """`adjoint`'s forward run from `state` and its discrete adjoint, for a checked
    differentiable backend with `VelocityVerlet` (what `Adjoint.__call__` does before
    averaging; `Truncated` runs its segments through it as replicas).

    **Returns** `(loss, observed, per_replica, shares, final_state, diagnostics)`:
    `observed` the replica mean (`unit_mean`), `per_replica` the observations
    `[replica, ...]` (`None` for an unbatched `state`), `shares` per parameter leaf
    `[replica, ...]` with replica r's share (1/R)·∂L/∂O·∂o_r/∂θ (their sum is the
    gradient), `final_state` batched, `diagnostics` the reconstruction errors, anchors and
    steps."""
    record = tuple(objective.record)
    potential = eqx.combine(params, static)
    st = backend.prepare(potential, system, state)
    k_anchor = adjoint.anchor_interval(st.positions.dtype)
    lengths = [k_anchor] * (adjoint.n_steps // k_anchor)
    if adjoint.n_steps % k_anchor:
        lengths.append(adjoint.n_steps % k_anchor)
    st, anchors, signals = adjoint._forward(backend, potential, system, st, key, record, lengths)
    loss, observed, per_replica, sig_bar = _loss_and_cotangent(
        objective, backend, system, signals, adjoint.stride, state.batched
    )
    shares, err_r, err_u = adjoint._backward(
        backend, params, static, system, record, st, anchors, sig_bar, lengths
    )
    diagnostics = dict(
        reconstruction_error=err_r,
        reconstruction_error_velocity=err_u,
        n_anchors=len(anchors),
        n_steps=adjoint.n_steps,
    )
    return loss, observed, per_replica, shares, st, diagnostics


def _reverse_interval(
    backend, potential, params, static, system, record, top, carry, sig_bar, stride, n_frames, end
):
    """`backward_interval` from the anchor `top = (r, v, F)`, redone with a larger list
    (built at the anchor) after an overflow. Returns `(r_rec, u_rec, new carry)`."""
    r_top, v_top, f_top = top
    nbrs, ref = carry["nbrs"], carry["ref"]
    for attempt in range(backend.max_reallocations + 1):
        out = backward_interval(
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
            carry["lam"],
            carry["mu"],
            carry["theta_bar"],
            sig_bar,
            stride,
            n_frames,
        )
        r_rec, u_rec, lam, mu, theta_bar, nbrs_new, ref_new, overflow = out
        if not bool(overflow):
            new = dict(nbrs=nbrs_new, ref=ref_new, lam=lam, mu=mu, theta_bar=theta_bar)
            return r_rec, u_rec, new
        if attempt == backend.max_reallocations:
            raise NeighborListOverflowError(
                f"Adjoint backward pass: neighbour list still overflows after "
                f"{backend.max_reallocations} reallocations in the interval ending at "
                f"step {end}"
            )
        nbrs = backend.grow_neighbors(potential, system, nbrs, r_top, r_top)
        ref = r_top
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------ forward
@eqx.filter_jit
def _loss_and_cotangent(objective, backend, system, signals, stride, batched):
    """`(loss, observed, per_replica, ∂loss/∂signals)` with ⟨·⟩ the mean over replicas
    (`unit_mean`) when batched; `per_replica` the observations `[replica, ...]` (`None`
    when not batched)."""

    def objective_of(sig):
        traj = backend.build_trajectory(sig, system, stride, batched=batched)
        if batched:
            per_replica = jax.vmap(lambda t: quiet_unit_observe(objective.observe, t))(traj)
            obs = unit_mean(per_replica)
        else:
            per_replica, obs = None, objective.observe(traj)
        return objective.loss(obs), (obs, per_replica)

    loss, vjp_loss, (observed, per_replica) = jax.vjp(objective_of, signals, has_aux=True)
    (sig_bar,) = vjp_loss(jnp.ones_like(loss))
    return loss, observed, per_replica, sig_bar
