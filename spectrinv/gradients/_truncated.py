"""`Truncated`: BPTT through many short NVE segments started from NVT samples, plus the
initial-ensemble term.

Estimator. Start configurations x_i (i = 1…n) are drawn from the thermostatted chain,
`decorrelation_steps` apart; from each, an NVE segment of `segment_steps` steps gives a
trajectory τ_i and a per-segment observation o_i = observe(τ_i). The estimate is
O = (1/n) Σ_i o_i and the loss L(O). Its θ-derivative has two parts:

- **pathwise**: ∂L/∂O · (1/n) Σ_i ∂o_i/∂θ at fixed start states (BPTT through each segment;
  gradients never cross a segment boundary: start states enter as constants);
- **initial ensemble**: the start states are distributed as p_θ(x) ∝ exp(−βU_θ(x)), so
  d⟨o⟩/dθ also contains −β cov(o, ∂U_θ/∂θ) (the likelihood-ratio / reweighting term,
  as in reweighting). With s_i = ⟨∂L/∂O, o_i⟩ and g_i = ∂U_θ(x_i)/∂θ the term added to the
  gradient is −β · n/(n−1) · [mean_i(s_i g_i) − mean_i(s_i) mean_i(g_i)] (the unbiased
  sample covariance). Velocities are taken as Maxwell–Boltzmann, independent of θ (exact
  with `fresh_velocities=True`; the chain's own velocities satisfy it up to the O(Δt²)
  error of the Langevin integrator).

The sum is an unbiased estimate of dL/dθ for the ensemble of NVT-started NVE segments
(to first order in the statistical error of O), whatever the segment length; without the
second term it is biased (e.g. for any equilibrium observable whose value does not depend
on the segment, the pathwise term alone misses the change of the distribution).
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from observables import BOLTZMANN, from_internal

from ..backends import (
    AbstractDifferentiableBackend,
    MDState,
    Positions,
    Velocities,
    VelocityVerlet,
)
from ..potentials import AbstractPotential, System
from ._base import (
    AbstractGradient,
    GradientResult,
    Objective,
    backend_temperature,
    check_gradient,
    gradient_spread,
    tree_mean,
    tree_norm,
)
from ._bptt import (
    AbstractCheckpoint,
    SqrtCheckpoint,
    _check_steps,
    redo_on_overflow,
    require_differentiable,
)
from ._segment_adjoint import AdjointSegments
from ._truncated_kernels import (
    _ensemble_term,
    _forward,
    _pathwise,
    maxwell_boltzmann,
    remove_com_velocity,
)

__all__ = ["Truncated"]


class Truncated(AbstractGradient):
    """Gradient of a dynamical loss from many short NVE segments started from decorrelated
    NVT samples, with the initial-ensemble (reweighting) term.

    From the (unbatched) NVT `state`, `n_segments` start states `decorrelation_steps` apart
    are drawn with `backend.sample` (no gradient); they are run together (a batch with the
    segment as replica axis) for `segment_steps` NVE steps with velocity Verlet at the
    thermostat's time step (`segment_backend`), recording every `stride` steps. Per-segment
    observations o_i = `objective.observe(trajectory_i)` are averaged, O = mean_i o_i, and the
    loss is `objective.loss(O)`. The gradient is the pathwise BPTT gradient through each
    segment (start states are constants: gradients never cross a segment) plus, when
    `initial_ensemble` (default), the initial-ensemble term
    −β·cov_i(⟨∂L/∂O, o_i⟩, ∂U_θ(x_i)/∂θ) (unbiased sample covariance, β = 1/(k_B T) in
    mol/kJ) that accounts for the start states being Boltzmann-distributed under U_θ
    (module docstring).

    **Arguments:**
    - `n_segments`: number of segments (≥ 2 with the ensemble term);
    - `segment_steps`: NVE steps per segment (≈ one correlation time of the observable;
      a multiple of `stride`);
    - `stride`: steps between recorded frames within a segment;
    - `decorrelation_steps`: NVT steps between successive start states (default
      `segment_steps`); make it longer than the configurational correlation time, or the
      segments are not independent (the estimate stays consistent but noisier);
    - `initial_ensemble`: add the initial-ensemble term (default `True`);
    - `checkpoint`: how each segment's pathwise gradient is stored: a checkpoint policy
      of the BPTT through the segment's scan (default `SqrtCheckpoint()`; `NoCheckpoint()`,
      `BlockCheckpoint(steps)`, `RecursiveCheckpoint()`), or `AdjointSegments()`: the
      discrete adjoint of the NVE segments (`Adjoint`), whose memory does not grow with
      `segment_steps` apart from the recorded signals (see **Memory**). All give the same
      gradient (BPTT and adjoint: the same 15 significant digits for 32 LJ atoms in float64,
      `pytest tests/test_truncated_adjoint.py -m slow -k bptt_gradient -s`);
    - `remove_com`: subtract each start state's mass-weighted centre-of-mass velocity
      V = Σ_i m_i v_i / Σ_i m_i before its NVE segment. Default `None`: yes for a periodic
      system (`system.box` set), no otherwise. A Langevin thermostat does not conserve
      momentum, so its states carry a random COM velocity (variance k_BT/Σm per
      component); NVE conserves it, and a segment started with it drifts as a whole:
      every lag of the VACF gains |V|², so a Green–Kubo D read at t_c gains |V|² t_c / 3,
      on average k_BT t_c / Σm (a relative bias ∝ 1/N), and position-based observables
      (MSD) drift too. Periodic potentials are translation invariant, so
      removing V changes nothing else (the segments then sample the NVE ensemble at zero
      momentum, 3N − 3 kinetic degrees of freedom). Keep it off (`False`, or a
      non-periodic system) for a potential with an external field (a trap), where the
      COM motion is part of the canonical dynamics.

    - `fresh_velocities`: draw each start state's velocities afresh from the
      Maxwell–Boltzmann distribution at the thermostat temperature instead of taking the
      chain's (default `False`). The initial-ensemble term assumes θ-independent
      Maxwell–Boltzmann velocities, but a finite-step Langevin (BAOAB) chain gives a
      harmonic mode of angular frequency ω the full-step velocity variance
      (k_BT/m)(1 − (ωΔt)²/4), which depends on θ through ω (measured for a CO-like Morse
      bond at Δt = 1 fs, ωΔt = 0.34: ⟨μv∥²⟩/k_BT = 0.968 ± 0.011). Fresh velocities
      remove that deviation; nothing is lost for start states further apart than the
      velocity relaxation time 1/γ. Worth it for stiff modes (ωΔt ≳ 0.3).

    **Memory** (`checkpoint`): XLA temporary memory of the compiled program that
    differentiates one batch of 3 segments of 32 LJ atoms (float64, all pairs, frames
    every 2 steps, VACF loss; `tests/test_truncated_adjoint.py`, run
    `pytest tests/test_truncated_adjoint.py -m slow -k memory -s`): BPTT without
    checkpoints 12.3 MiB at 16 steps and 42.9 MiB at 64 steps (it stores every step);
    `AdjointSegments()` 0.58 MiB for its reverse pass at both lengths (one step's adjoint
    state), plus the VJP of the loss with respect to the recorded signals, 0.11 and
    0.28 MiB (this part, and the recorded frames themselves, grow with the segment in
    every method).

    **Returns** (`__call__`): `GradientResult` with `state` the NVT state after the last
    decorrelation run (= the last start state, so the next call continues the Markov
    chain), and `diagnostics = {"grad_norm", "segment_grad_norms" [n_segments],
    "ensemble_term_norm", "n_segments", "grad_stderr", "grad_snr"}` (with
    `AdjointSegments` also `"reconstruction_error"`, `"reconstruction_error_velocity"`),
    and `observed` the segment mean (`unit_mean`: an observable result's error bar is the
    spread of the per-segment values / √n_segments). `grad_stderr` (same
    structure as `grad`) is the standard error of the mean of the per-segment gradients
    u_i = ∂L/∂O · ∂o_i/∂θ − β n/(n−1) (s_i − s̄)(g_i − ḡ) of the *linearised* loss (a
    loss of an average is not an average of losses; mean_i u_i is exactly the returned
    gradient), `grad_snr` = |grad| / `grad_stderr` element-wise.
    `segment_grad_norms[i]` is the norm of segment i's pathwise contribution
    (1/n)·∂L/∂O·∂o_i/∂θ, obtained in the same backward pass by giving each segment its
    own copy of the parameters (a `vmap` over segments; the pathwise gradient is their
    sum). A segment whose norm is orders of magnitude above
    the others signals chaotic divergence: shorten the segments. Cost of that `vmap`: the
    neighbour-list rebuild test becomes a `select` (rebuilt every step), measured ≈1.45×
    the time of the same segments run as one batch (108 LJ atoms, 16 × 100 steps, CPU);
    the gradient is the same to ~1e-15.

    **Requirements:** a differentiable backend (`JaxMDBackend`) with a thermostat
    (`Langevin` or `NoseHooverChain`); `VelocityVerlet` raises `ValueError` (the start
    states must be canonical), other backends `TypeError`. With `parallel=Sharded()` the
    segments (the replicas of the NVE batch) are split over the devices; `n_segments` must
    then be a multiple of the number of devices. Neighbour-list overflow in a segment
    discards the gradient, grows the list and redoes the segments (as in `BPTT`).

    **When to use which strategy:** `BPTT` for one run shorter than the correlation time
    (exact, the reference); `Truncated` for dynamical observables (VACF, IR / Raman
    spectra, transport) of a chaotic system, whose gradient through a long run explodes
    (LJ: |∇L| ~1e-3 after 200 steps of 0.005 τ, ~1e3 after 1000, ~1e30 after 5000;
    measured with this package); `Reweighting` for static observables (RDF, density).

    **Truncation bias:** the pathwise term only sees how θ changes the dynamics *within* a
    segment; a correlation function's lags beyond `segment_steps` are not represented, and
    the sensitivity of the dynamics carried across segment boundaries (through the start
    states' dependence on earlier dynamics) is replaced by the equilibrium
    initial-ensemble term. For an observable computed within a segment (lags ≤ segment
    length) the estimator is unbiased for the NVT-started segment ensemble; what is lost
    are correlations longer than a segment. Choose `segment_steps` ≳ the decay time of
    the correlation that matters, and short enough that the pathwise gradient does not
    explode. The covariance term has variance ∝ 1/n_segments and grows with the system
    size (∂U/∂θ is extensive): use many segments.

    ??? cite
        S. Thaler, J. Zavadlav, "Learning neural network potentials from experimental data
        via Differentiable Trajectory Reweighting", Nat. Commun. 12, 6884 (2021) (the
        ensemble gradient −β cov(O, ∂U/∂θ)); L. Metz, C. D. Freeman, S. S. Schoenholz,
        T. Kachman, "Gradients are not all you need", arXiv:2111.05803 (2021) (exploding
        gradients through chaotic dynamics and truncation).
    """

    n_segments: int = eqx.field(static=True)
    segment_steps: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    decorrelation_steps: int = eqx.field(static=True)
    initial_ensemble: bool = eqx.field(static=True)
    remove_com: bool | None = eqx.field(static=True)
    fresh_velocities: bool = eqx.field(static=True)
    checkpoint: AbstractCheckpoint | AdjointSegments

    def __init__(
        self,
        n_segments: int,
        segment_steps: int,
        *,
        stride: int = 1,
        decorrelation_steps: int | None = None,
        initial_ensemble: bool = True,
        checkpoint: AbstractCheckpoint | AdjointSegments | None = None,
        remove_com: bool | None = None,
        fresh_velocities: bool = False,
    ):
        if isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer):
            raise ValueError(f"n_segments must be a positive integer, got {n_segments!r}")
        if n_segments < (2 if initial_ensemble else 1):
            raise ValueError(
                f"n_segments = {n_segments}: the initial-ensemble term is a covariance over "
                "segments and needs n_segments >= 2 (use many, e.g. 32+)"
            )
        self.n_segments = int(n_segments)
        self.segment_steps, self.stride = _check_steps(segment_steps, stride, "segment_steps")
        if decorrelation_steps is None:
            decorrelation_steps = self.segment_steps
        self.decorrelation_steps, _ = _check_steps(decorrelation_steps, 1, "decorrelation_steps")
        self.initial_ensemble = bool(initial_ensemble)
        if remove_com is not None and not isinstance(remove_com, bool):
            raise TypeError(f"remove_com must be True, False or None, got {remove_com!r}")
        self.remove_com = remove_com
        if not isinstance(fresh_velocities, bool):
            raise TypeError(f"fresh_velocities must be True or False, got {fresh_velocities!r}")
        self.fresh_velocities = fresh_velocities
        checkpoint = SqrtCheckpoint() if checkpoint is None else checkpoint
        if not isinstance(checkpoint, AbstractCheckpoint | AdjointSegments):
            raise TypeError(
                "checkpoint must be an AbstractCheckpoint (BPTT through each segment) or "
                f"AdjointSegments() (discrete adjoint), got {type(checkpoint).__name__}"
            )
        self.checkpoint = checkpoint

    def _removes_com(self, system: System) -> bool:
        if self.remove_com is None:
            return system.box is not None
        return self.remove_com

    # ------------------------------------------------------------------ building blocks
    @staticmethod
    def segment_backend(backend: AbstractDifferentiableBackend) -> AbstractDifferentiableBackend:
        """The NVE backend of the segments: `backend` (its neighbour-list settings and
        parallelism) with velocity Verlet at the thermostat's time step."""
        return backend.with_integrator(
            VelocityVerlet(from_internal(backend.integrator.timestep, "time"))
        )

    def start_states(
        self,
        potential: AbstractPotential,
        *,
        backend: AbstractDifferentiableBackend,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
    ) -> tuple[MDState, MDState]:
        """Draw the segments' start states (what `__call__` does first, with the same key).

        **Returns:** `(starts, nvt_state)`: `starts` an `MDState` batched over segments
        `[segment, atom, 3]` for `segment_backend(backend)` (positions and velocities of the
        NVT chain every `decorrelation_steps` steps, a fresh neighbour list); `nvt_state`
        the chain's state after the last one.
        """
        backend = require_differentiable(backend, "Truncated")
        temperature = backend_temperature(backend)
        if temperature <= 0:
            raise ValueError(
                f"Truncated needs a positive thermostat temperature, got {temperature}"
            )
        if state.batched:
            raise ValueError(
                "Truncated samples its segments from one NVT chain: give an unbatched state "
                f"([atom, 3]), got positions of shape {tuple(state.positions.shape)}"
            )
        traj, nvt_state = backend.sample(
            potential,
            system,
            state,
            key,
            self.n_segments * self.decorrelation_steps,
            stride=self.decorrelation_steps,
            record=(Positions(), Velocities()),
        )
        # Allocate the segments' list with at least the chain's capacity, so that repeated
        # calls (a fit) keep the same array shapes and reuse the compiled segment run.
        capacity = None if state.neighbors is None else state.neighbor_capacity
        velocities = jax.lax.stop_gradient(traj.velocities)
        if self.fresh_velocities:
            velocities = maxwell_boltzmann(
                jax.random.fold_in(key, 2), velocities, system.masses, temperature
            )
        if self._removes_com(system):
            velocities = remove_com_velocity(velocities, system.masses)
        starts = self.segment_backend(backend).init(
            potential,
            system,
            from_internal(jax.lax.stop_gradient(traj.positions), "length"),
            velocities=from_internal(velocities, "velocity"),
            neighbor_capacity=capacity,
        )
        return starts, nvt_state

    def _pathwise(self, objective, params, static, nve, system, starts, key):
        """Per-segment pathwise shares by the discrete adjoint or by BPTT:
        `(loss, observed, per_segment, shares, starts, extra diagnostics)` (`starts` with
        the list BPTT ran with, grown after an overflow)."""
        if isinstance(self.checkpoint, AdjointSegments):
            out = self.checkpoint.pathwise(
                objective, params, static, nve, system, starts, key, self.segment_steps, self.stride
            )
            loss, observed, per_segment, shares, extra = out
            return loss, observed, per_segment, shares, starts, extra
        blocks = self.checkpoint.blocks(self.segment_steps, self.stride)

        def attempt(st):
            loss, observed, per_segment, final_pos, overflowed, grads = _pathwise(
                objective,
                params,
                static,
                nve,
                system,
                st,
                key,
                self.segment_steps,
                self.stride,
                blocks,
            )
            return (loss, observed, per_segment, grads), final_pos, overflowed

        potential = eqx.combine(params, static)
        (loss, observed, per_segment, shares), starts = redo_on_overflow(
            nve, potential, system, starts, attempt, "Truncated"
        )
        return loss, observed, per_segment, shares, starts, {}

    def observe(
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
    ) -> PyTree:
        """The segments' mean observation that `__call__` returns with the same arguments
        (same start states and segments), from a forward-only run: about a third of the
        cost of the gradient. Used for finite-difference sensitivities."""
        backend = require_differentiable(backend, "Truncated")
        potential = eqx.combine(params, static)
        starts, _ = self.start_states(
            potential, backend=backend, system=system, state=state, key=key
        )
        nve = self.segment_backend(backend)
        run_key = jax.random.fold_in(key, 1)

        def attempt(st):
            return _forward(
                objective,
                params,
                static,
                nve,
                system,
                st,
                run_key,
                self.segment_steps,
                self.stride,
            )

        observed, _ = redo_on_overflow(nve, potential, system, starts, attempt, "Truncated")
        return observed

    # ------------------------------------------------------------------------- call
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
        backend = require_differentiable(backend, "Truncated")
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a gradients.Objective, got {type(objective)}")
        temperature = backend_temperature(backend)
        potential = eqx.combine(params, static)
        starts, nvt_state = self.start_states(
            potential, backend=backend, system=system, state=state, key=key
        )
        nve = self.segment_backend(backend)
        run_key = jax.random.fold_in(key, 1)
        loss, observed, per_segment, seg_grads, starts, extra = self._pathwise(
            objective, params, static, nve, system, starts, run_key
        )
        segment_norms = jax.vmap(tree_norm)(seg_grads)
        n = self.n_segments
        # per-segment gradients of the linearised loss: n × the pathwise share (+ the share
        # of the covariance term); their mean is the returned gradient
        per_unit = jax.tree.map(lambda g: n * g, seg_grads)
        if self.initial_ensemble:
            beta = 1.0 / (BOLTZMANN * temperature)
            shares = _ensemble_term(
                objective, params, static, system, starts, observed, per_segment, beta
            )
            term_norm = float(tree_norm(tree_mean(shares)))
            per_unit = jax.tree.map(lambda a, b: a + b, per_unit, shares)
        else:
            term_norm = 0.0
        grad = tree_mean(per_unit)
        norm = check_gradient(loss, grad, what="Truncated")
        return GradientResult(
            loss=loss,
            grad=grad,
            observed=observed,
            state=nvt_state,
            diagnostics={
                "grad_norm": norm,
                "segment_grad_norms": np.asarray(segment_norms),
                "ensemble_term_norm": term_norm,
                "n_segments": self.n_segments,
                **extra,
                **gradient_spread(per_unit, grad),
            },
        )
