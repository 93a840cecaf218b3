r"""`Reweighting`: DiffTRe gradients of equilibrium averages by Boltzmann reweighting.

**Estimator.** For a time-independent observable $O$ (a frame average: an RDF, a density,
a pressure, a mean energy, ...) the canonical average at parameters $\theta$ is estimated
from $F$ frames $x_i$ sampled once at reference parameters $\theta_0$:

$$
\langle O\rangle_\theta \approx \sum_{i=1}^{F} w_i\, o_i(\theta), \qquad
w_i = \frac{e^{-\beta[U_\theta(x_i) - U_{\theta_0}(x_i)]}}
           {\sum_j e^{-\beta[U_\theta(x_j) - U_{\theta_0}(x_j)]}},
\qquad \beta = \frac{1}{k_B T},
$$

with $o_i(\theta)$ = `observe(trajectory[i])`, the frame's signals evaluated at $\theta$.
The weights are a softmax (evaluated with log-sum-exp, so large energy differences do not
overflow). The loss is `loss(⟨O⟩_θ)` and its gradient is taken by autodiff of this
expression — no differentiation through the MD integrator at all:

$$
\frac{\partial \langle O\rangle_\theta}{\partial\theta} =
\sum_i w_i\,\frac{\partial o_i}{\partial\theta}
-\beta \sum_i w_i\,(o_i - \langle O\rangle_\theta)\,\frac{\partial U_\theta(x_i)}{\partial\theta},
$$

which at $\theta = \theta_0$ is $\langle \partial O/\partial\theta\rangle - \beta\,
\mathrm{cov}(O, \partial U/\partial\theta)$ (Thaler & Zavadlav 2021).

**Parameter-dependent signals.** The explicit term $\partial o_i/\partial\theta$ is nonzero
when a signal the observable reads is computed from the potential: the pressure tensor
(`Stress`: the virial scales with the energy), the heat flux, a potential energy. Such
signals come from recorders that declare `uses_potential = True`
(`spectrinv.backends.AbstractRecorder`). For every recorder of `objective.record` that does,
the signal is recomputed for each reference frame at the current $\theta$ inside the
differentiated function (a recorder `Frame` rebuilt from the stored positions, velocities
and neighbour list, with energy and forces at $\theta$), and `observe` is evaluated on
those frames; this needs the frames' velocities (`Reweighting.__call__` records them
itself). Observables that read only $\theta$-independent signals (positions, velocities, a
fixed dipole model) are evaluated once per reference and cached. A user with a
$\theta$-dependent observable therefore only has to record it with a recorder that
declares `uses_potential` (a custom recorder defaults to `True`, which is always
correct). Both energies are evaluated with the same JAX potential (`potential.energy`),
never with the sampling engine's reported energies, so the energy difference has no
engine-vs-JAX offset; the sampling engine can therefore be any NVT backend, including the
sampling-only `OpenMMBackend`.

**Isothermal-isobaric (NPT) frames.** With a `MonteCarloBarostat` on the backend (or a
trajectory whose frames carry one box each) the frames come from
$p(x, V) \propto e^{-\beta[U_{\theta_0}(x, V) + PV]}$ at the external pressure $P$. The
$PV$ term is the same at $\theta$ and $\theta_0$ and cancels from the weights, which
become $w_i \propto e^{-\beta[U_\theta(x_i, V_i) - U_{\theta_0}(x_i, V_i)]}$ with every
energy evaluated in its frame's own box $V_i$ (and neighbour lists built per box). The
estimator and its gradient are otherwise those above; a per-frame density
$\rho_i = M/(N_A V_i)$ has no explicit $\theta$ dependence, so at $\theta_0$
$d\langle\rho\rangle/d\theta = -\beta\,\mathrm{cov}(\rho, \partial U/\partial\theta)$.
Only the isotropic `MonteCarloBarostat` is accepted; the narrowest frame box must be wider
than twice the cutoff.

**Effective sample size.** $N_\mathrm{eff} = (\sum_i w_i)^2 / \sum_i w_i^2$; the
diagnostic `ess` is the ratio $N_\mathrm{eff}/F \in (0, 1]$. While it stays at or above
`ess_threshold` the cached reference is reused; below it (or without a cache) a new
reference trajectory is sampled at the current parameters.

**Requirements.** `observe` must be a *frame average*, `observe(traj) ==
mean_i observe(traj[i])`: RDFs, densities, static structure factors, mean energies.
Dynamical observables (correlation functions, spectra, transport coefficients) need
several consecutive frames and cannot be reweighted frame by frame — use `BPTT`, `Adjoint`
or `Truncated` for those. Nonlinear functions of averages (fluctuation formulas such as a
variance) are not frame averages either: reweight the underlying averages and put the
nonlinearity into `loss`. Both are detected on the first reference and raise `ValueError`.
The backend's integrator must be thermostatted (`Langevin`, `NoseHooverChain`); the
reweighting temperature is the thermostat's. A barostat (NPT) is allowed (above).

**Cost and memory.** A gradient that reuses the reference costs about three energy
evaluations per frame (forward plus reverse) instead of a backward pass through every MD
step; recomputing a parameter-dependent signal adds its recorder (for `Stress`, one
strain derivative of the energy) and its derivative per frame. Frames are processed
`batch_size` at a time (vmapped) under `lax.map` with
`jax.checkpoint`, so reverse mode stores only each batch's inputs. With a neighbour-list
potential on a periodic system, a jax-md `Dense` list with the potential's cutoff is built
for every reference frame once and kept in the cache (memory `F × N × capacity` int32, e.g.
1000 frames of 500 LJ atoms ≈ 150 MB); a potential with `cutoff=None` (or `box=None`) is
evaluated over all pairs.

??? cite
    ```bibtex
    @article{thaler2021difftre,
      title   = {Learning neural network potentials from experimental data via
                 Differentiable Trajectory Reweighting},
      author  = {Thaler, Stephan and Zavadlav, Julija},
      journal = {Nature Communications},
      volume  = {12},
      pages   = {6884},
      year    = {2021},
      doi     = {10.1038/s41467-021-27241-4}
    }
    @article{zwanzig1954,
      title   = {High-temperature equation of state by a perturbation method.
                 I. Nonpolar gases},
      author  = {Zwanzig, Robert W.},
      journal = {The Journal of Chemical Physics},
      volume  = {22},
      pages   = {1420--1426},
      year    = {1954}
    }
    ```
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from observables import BOLTZMANN, Quantity, Trajectory, to_internal

from ..backends import (
    AbstractBackend,
    MDState,
    Positions,
    Velocities,
)
from ..potentials import System
from ._base import (
    AbstractGradient,
    GradientResult,
    Objective,
    backend_temperature,
    check_gradient,
    error_bar_warnings_off,
    gradient_snr,
)
from ._frames import TRACE_ERRORS, per_frame_observables
from ._reweighting_cache import ReweightingCache
from ._reweighting_frames import (
    check_recomputable,
    checked_barostat,
    cutoff_of,
    energies_jit,
    estimate_jit,
    frame_boxes,
    frame_lists,
    merge_replicas,
    potential_recorders,
    recorded_signals_jit,
    with_signals,
)
from ._reweighting_grad_error import reweighted_gradient_error

__all__ = ["Reweighting", "ReweightingCache"]


class Reweighting(AbstractGradient):
    r"""DiffTRe: gradients of equilibrium averages by reweighting a reference trajectory.

    See the module docstring for the estimator; in short
    $\langle O\rangle_\theta \approx \sum_i w_i o_i$ with
    $w = \mathrm{softmax}(-\beta[U_\theta(x_i) - U_{\theta_0}(x_i)])$, differentiated through
    the weights and through the $o_i$ of signals whose recorder `uses_potential` (e.g. the
    pressure from `Stress`), which are recomputed at $\theta$. No gradient crosses the MD
    run, so any NVT backend works
    (`JaxMDBackend(Langevin(...))`, `JaxMDBackend(NoseHooverChain(...))`,
    `OpenMMBackend(...)`), as does one with a `MonteCarloBarostat` (NPT: each frame's
    energy in its own box, module docstring), and a gradient that reuses the reference
    costs a few energy evaluations per frame.

    **Arguments:**
    - `n_frames`: frames per reference trajectory (per replica for a batched state);
    - `stride`: MD steps between frames (pick about the decorrelation time of $O$ and
      $\partial U/\partial\theta$);
    - `equilibration_steps`: steps run and discarded before each new reference (default 0);
    - `ess_threshold`: resample when $N_\mathrm{eff}/F$ at the current parameters drops below
      it (default 0.6, in (0, 1]);
    - `batch_size`: frames per vectorised energy / observable evaluation (bounds memory);
    - `capacity_multiplier`: headroom of the per-frame neighbour lists;
    - `n_blocks`: contiguous blocks of reference frames for the standard error of the
      reweighted average (default 10; `None`: no error bar). Every
      `observables.AbstractResult` in the average gets it as its `error_magnitude`:
      $\sigma^2 = \frac{B}{B-1}\sum_b \big(\sum_{i\in b} w_i (o_i - \bar o)\big)^2$,
      the block standard error of a weighted mean (equal weights: $s/\sqrt B$ of the
      block means), not differentiated; unreliable when $N_\mathrm{eff} \ll F$
      (`spectrinv.gradients._reweighting_frames`).

    **Call:** `Reweighting(...)(objective, params, static, backend=..., system=...,
    state=..., key=..., cache=None) -> GradientResult`. `objective.observe` must be a frame
    average (time-independent observable; module docstring). Pass the returned `cache` to
    the next call to reuse the reference. The returned `state` is the backend state after
    sampling, or the input `state` when the reference was reused.

    **Diagnostics:** `grad_norm`; `ess` ($N_\mathrm{eff}/F$ at the current parameters, for
    the reference actually used); `ess_previous` (that of the cached reference before it was
    replaced, `nan` if there was none); `resampled` (bool); `n_frames` (frames in the
    reference); with `n_blocks` set, `grad_stderr` (block error of the gradient as a
    weighted mean of per-frame terms: `spectrinv.gradients._reweighting_grad_error`) and
    `grad_snr` = |grad| / `grad_stderr`.

    Also usable piecewise: `reference(...)` builds a `ReweightingCache` from any trajectory
    (e.g. one read from a file) and `estimate(...)` evaluates loss and gradient on a fixed
    cache.

    ??? cite
        S. Thaler, J. Zavadlav, Nat. Commun. 12, 6884 (2021) (DiffTRe);
        R. W. Zwanzig, J. Chem. Phys. 22, 1420 (1954) (free-energy perturbation).
    """

    n_frames: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    equilibration_steps: int = eqx.field(static=True, default=0)
    ess_threshold: float = eqx.field(static=True, default=0.6)
    batch_size: int = eqx.field(static=True, default=32)
    capacity_multiplier: float = eqx.field(static=True, default=1.25)
    n_blocks: int | None = eqx.field(static=True, default=10)

    def __check_init__(self):
        for name in ("n_frames", "stride", "equilibration_steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"Reweighting {name} must be an int, got {v!r}")
        if self.n_frames < 2:
            raise ValueError(f"Reweighting n_frames must be >= 2, got {self.n_frames}")
        if self.stride < 1 or self.batch_size < 1:
            raise ValueError(
                f"Reweighting stride and batch_size must be >= 1, got {self.stride}, "
                f"{self.batch_size}"
            )
        if self.equilibration_steps < 0:
            raise ValueError(
                f"Reweighting equilibration_steps must be >= 0, got {self.equilibration_steps}"
            )
        if not 0.0 < float(self.ess_threshold) <= 1.0:
            raise ValueError(
                f"Reweighting ess_threshold must be in (0, 1], got {self.ess_threshold}; "
                "0.6 is a common choice (lower reuses references longer but noisier)."
            )
        nb = self.n_blocks
        if nb is not None and (
            isinstance(nb, bool) or not isinstance(nb, int | np.integer) or nb < 2
        ):
            raise ValueError(
                f"Reweighting n_blocks must be an int >= 2 (blocks for the error bar) or None, "
                f"got {nb!r}"
            )
        if not float(self.capacity_multiplier) >= 1.0:
            raise ValueError(f"capacity_multiplier must be >= 1, got {self.capacity_multiplier}")

    # ----------------------------------------------------------------------- reference
    def reference(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        system: System,
        trajectory: Trajectory,
        temperature: Quantity,
    ) -> ReweightingCache:
        """Build a `ReweightingCache` from frames sampled at `eqx.combine(params, static)`.

        **Arguments:** `trajectory`: frames from the canonical ensemble of that potential at
        `temperature` (a temperature `Quantity`, e.g. `Quantity(120, "K")`), or from the
        isothermal-isobaric one with a box per frame (`trajectory.box` `[frame, ...]`, as
        a barostat run records it; energies are then evaluated in each frame's box); any
        source (a backend, a file). Checks that `objective.observe` is a frame average. The signals
        of recorders in `objective.record` that use the potential (e.g. `Stress`) are
        computed here from the frames' positions and velocities at `params` (a recorded
        copy is replaced), so the trajectory needs velocities but not those signals.

        **Returns:** the cache (per-frame observables, reference energies, neighbour lists).
        """
        _check_objective(objective)
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"trajectory must be a Trajectory, got {type(trajectory).__name__}")
        t = float(to_internal(temperature, "temperature", "temperature"))
        if not t > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if trajectory.n_atoms != system.n_atoms:
            raise ValueError(
                f"the trajectory has {trajectory.n_atoms} atoms but the system has {system.n_atoms}"
            )
        recorders = potential_recorders(objective.record)
        check_recomputable(recorders, trajectory)
        potential = eqx.combine(params, static)
        positions = trajectory.positions
        boxes = frame_boxes(trajectory, system)  # None for one fixed box (NVT)
        neighbors = frame_lists(potential, system, positions, boxes, self)
        if recorders:  # parameter-dependent signals, (re)computed here at θ₀ like in estimate
            signals = recorded_signals_jit(
                params, static, system, recorders, trajectory, neighbors, self.batch_size, boxes
            )
            trajectory = with_signals(trajectory, signals)
        observed = per_frame_observables(objective.observe, trajectory, self.batch_size)
        energies = energies_jit(
            params, static, system, positions, neighbors, self.batch_size, boxes
        )
        bad = ~np.isfinite(np.asarray(energies))
        if np.any(bad):
            raise FloatingPointError(
                f"reference energy of frame {int(np.argmax(bad))} is not finite; the frames "
                "overlap atoms (check the trajectory or the potential's repulsive core)"
            )
        return ReweightingCache(
            trajectory=trajectory,
            observed=observed,
            energies=energies,
            params=params,
            neighbors=neighbors,
            temperature=t,
            cutoff=cutoff_of(potential, system),
        )

    # ------------------------------------------------------------------------ estimate
    def estimate(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        system: System,
        cache: ReweightingCache,
    ) -> GradientResult:
        """Loss, gradient and reweighted average at `params` from a fixed `cache` (no MD).

        **Returns:** a `GradientResult` with `state=None`, the same `cache`, and
        diagnostics `grad_norm`, `ess`, `n_frames`, `resampled=False`, and with `n_blocks`
        set `grad_stderr` / `grad_snr` (class docstring).
        """
        _check_objective(objective)
        if not isinstance(cache, ReweightingCache):
            raise TypeError(
                f"cache must be a ReweightingCache (from a previous Reweighting call or "
                f"Reweighting.reference), got {type(cache).__name__}"
            )
        potential = eqx.combine(params, static)
        boxes = frame_boxes(cache.trajectory, system)
        if cache.neighbors is None and cache.cutoff is not None:
            # a cache restored from a checkpoint (`portable`): rebuild the frames' lists
            reference = eqx.combine(cache.params, static)
            lists = frame_lists(reference, system, cache.trajectory.positions, boxes, self)
            cache = eqx.tree_at(lambda c: c.neighbors, cache, lists, is_leaf=lambda x: x is None)
        if cutoff_of(potential, system) != cache.cutoff:
            raise ValueError(
                f"the potential's cutoff ({cutoff_of(potential, system)}) differs from the one "
                f"the cached neighbour lists were built for ({cache.cutoff}); build a new "
                "reference"
            )
        recorders = potential_recorders(objective.record)
        check_recomputable(recorders, cache.trajectory)
        beta = 1.0 / (BOLTZMANN * cache.temperature)
        frames = (cache.trajectory, cache.neighbors)
        try:
            with error_bar_warnings_off():  # observe sees one frame at a time
                observe, traj, nbrs = objective.observe if recorders else None, *frames
                loss, grad, observed, ess, per_frame, w = estimate_jit(
                    params, static, observe, objective.loss, recorders, cache.observed, traj,
                    cache.energies, nbrs, system, beta, self.batch_size, self.n_blocks, boxes,
                )  # fmt: skip
                if self.n_blocks is not None:
                    stderr, _ = reweighted_gradient_error(
                        params, static, system, observe, objective.loss, recorders, per_frame,
                        w, traj, nbrs, beta, self.batch_size, self.n_blocks, boxes,
                    )  # fmt: skip
        except TRACE_ERRORS as err:
            raise ValueError(
                f"observe must be traceable by JAX when it reads a parameter-dependent signal "
                f"({', '.join(r.field for r in recorders)}), since Reweighting recomputes it "
                f"at the current parameters inside the gradient: {type(err).__name__}"
            ) from err
        norm = check_gradient(loss, grad, what="Reweighting")
        diagnostics = dict(grad_norm=norm, ess=float(ess), n_frames=cache.n_frames, resampled=False)
        if self.n_blocks is not None:
            diagnostics.update(grad_stderr=stderr, grad_snr=gradient_snr(grad, stderr))
        return GradientResult(
            loss=loss,
            grad=grad,
            observed=observed,
            state=None,
            diagnostics=diagnostics,
            cache=cache,
        )

    # ---------------------------------------------------------------------------- call
    def __call__(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        backend: AbstractBackend,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        cache: ReweightingCache | None = None,
    ) -> GradientResult:
        barostat = checked_barostat(backend)
        _check_objective(objective)
        integrator = getattr(backend, "integrator", None)
        if getattr(integrator, "ensemble", "NVT") != "NVT":
            raise ValueError(
                f"Reweighting needs canonical (NVT) samples, but {type(backend).__name__} runs "
                f"{type(integrator).__name__} ({integrator.ensemble}); use a thermostat, e.g. "
                "JaxMDBackend(Langevin(dt, T, friction)) or NoseHooverChain(dt, T, tau)."
            )
        temperature = backend_temperature(backend)  # raises for a backend without one
        potential = eqx.combine(params, static)
        ess_previous = math.nan
        if cache is not None:
            if not isinstance(cache, ReweightingCache):
                raise TypeError(
                    f"cache must be None or the ReweightingCache returned by a previous "
                    f"Reweighting call, got {type(cache).__name__}"
                )
            replicas = state.positions.shape[0] if getattr(state, "batched", False) else 1
            usable = (
                cache.temperature == temperature
                and cache.trajectory.n_atoms == system.n_atoms
                and cache.cutoff == cutoff_of(potential, system)
                and cache.n_frames >= self.n_frames * replicas  # n_frames may have grown
            )
            if usable:
                result = self.estimate(objective, params, static, system=system, cache=cache)
                ess_previous = result.diagnostics["ess"]
                if ess_previous >= self.ess_threshold:
                    diagnostics = dict(result.diagnostics, ess_previous=ess_previous)
                    return dataclasses.replace(result, state=state, diagnostics=diagnostics)
        key_eq, key_run = jax.random.split(key)
        if self.equilibration_steps:
            _, state = backend.sample(
                potential,
                system,
                state,
                key_eq,
                self.equilibration_steps,
                stride=self.equilibration_steps,
                record=(Positions(),),
            )
        record = objective.record
        if potential_recorders(record) and "velocities" not in [r.field for r in record]:
            record = record + (Velocities(),)  # to rebuild the frames the recorders see
        trajectory, state = backend.sample(
            potential,
            system,
            state,
            key_run,
            self.n_frames * self.stride,
            stride=self.stride,
            record=record,
        )
        if getattr(state, "batched", False):
            trajectory = merge_replicas(trajectory, box_per_frame=barostat is not None)
        cache = self.reference(
            objective,
            params,
            static,
            system=system,
            trajectory=trajectory,
            temperature=Quantity(temperature, "K"),
        )
        result = self.estimate(objective, params, static, system=system, cache=cache)
        diagnostics = dict(result.diagnostics, resampled=True, ess_previous=ess_previous)
        return dataclasses.replace(result, state=state, diagnostics=diagnostics)


# ------------------------------------------------------------------------------ helpers
def _check_objective(objective):
    if not isinstance(objective, Objective):
        raise TypeError(
            f"objective must be a spectrinv.gradients.Objective(observe, loss), got "
            f"{type(objective).__name__}"
        )
