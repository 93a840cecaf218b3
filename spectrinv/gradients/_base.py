"""The gradient-strategy interface: how d(loss)/d(parameters) crosses a trajectory.

A fit asks a strategy for the loss and its gradient with respect to the potential's
parameters. What is differentiated is an `Objective`: a loss of an observable estimated from
simulated trajectories,

    L(θ) = loss(⟨observe(trajectory)⟩_θ),

where ⟨·⟩ is the average over whatever units the strategy simulates (replicas for `BPTT` and
`Adjoint`, short NVE segments for `Truncated`, Boltzmann-reweighted frames for
`Reweighting`). `observe` maps a `Trajectory` to a pytree of plain arrays (an observable's
output: a `Spectrum`, an `RDFResult`, an array); the average of such pytrees over
independent units is the leaf-wise mean, with the error bar of every observable result in
it recomputed as the error of that mean (`unit_mean`), so `observe` must be an
average-like quantity (a correlation function, spectrum, RDF, mean square, ...) for the
estimate to be meaningful.

Parameters are the potential's inexact array leaves selected by the caller:
`params, static = eqx.partition(potential, spec)`; the strategy differentiates with respect
to `params` and returns a gradient with the same structure (`None` where `params` is
`None`).

Every strategy returns a `GradientResult` with diagnostics (gradient norm, effective sample
size, reconstruction error, per-segment norms — whichever apply) and raises
`GradientError` when the gradient is not finite.

**Gradient noise.** Where a strategy averages over n ≥ 2 independent units (segments,
replicas) it also reports `grad_stderr` and `grad_snr` (`gradient_spread`). A loss of an
average is not an average of losses, so the per-unit gradients are those of the
*linearised* loss: u_k = ∂L/∂O|_O · ∂o_k/∂θ (plus the unit's share of any covariance
term), whose mean over k is exactly the returned gradient. `grad_stderr` is the standard
error of that mean, std_k(u_k)/√n (n − 1 in the variance), leaf by leaf and element by
element; `grad_snr` = |grad| / `grad_stderr`. An SNR below ~2 means the sign of that
component is not resolved: use more units.
"""

from __future__ import annotations

import abc
import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree, Scalar

from observables import AbstractResult, ErrorBarWarning, Trajectory

from ..backends import AbstractBackend, AbstractRecorder, MDState, Positions, Velocities
from ..potentials import System

__all__ = [
    "Objective",
    "GradientResult",
    "AbstractGradient",
    "GradientError",
    "GradientWarning",
    "tree_norm",
    "tree_mean",
    "unit_mean",
    "check_gradient",
    "backend_temperature",
    "gradient_spread",
    "gradient_snr",
]


class GradientError(FloatingPointError):
    """The gradient (or the loss) came out NaN or infinite."""


class GradientWarning(UserWarning):
    """The gradient is finite but suspicious (e.g. exploding norm, low sample size)."""


class Objective(eqx.Module):
    """`loss(observe(trajectory))`: what a gradient strategy differentiates.

    **Fields:**
    - `observe`: `Trajectory -> pytree` of plain arrays (jit/vmap/grad safe), e.g. an
      `observables.IRSpectrum` or `observables.RDF` instance;
    - `loss`: `pytree -> scalar` (a plain array), e.g. a `spectrinv.losses` loss;
    - `record`: the recorders the backend must run so that `observe` finds its signals
      (default: positions and velocities).
    """

    observe: Callable[[Trajectory], PyTree]
    loss: Callable[[PyTree], Scalar]
    record: tuple[AbstractRecorder, ...] = eqx.field(static=True, default=None)

    def __post_init__(self):
        if self.record is None:
            object.__setattr__(self, "record", (Positions(), Velocities()))
        object.__setattr__(self, "record", tuple(self.record))
        if "positions" not in [r.field for r in self.record]:
            raise ValueError("Objective.record must include Positions()")


class GradientResult(eqx.Module):
    """What a strategy returns.

    - `loss`: scalar loss value;
    - `grad`: d loss / d params, same structure as `params` (`None` for frozen leaves);
    - `observed`: the estimate ⟨observe⟩ that entered the loss (for plots and history);
    - `state`: the backend state to continue sampling from (`MDState`);
    - `diagnostics`: dict of floats / arrays (`grad_norm` always; `ess`,
      `reconstruction_error`, `segment_grad_norms`, ... where they apply);
    - `cache`: strategy-specific data to pass to the next call (e.g. the reference
      trajectory of `Reweighting`), or `None`.
    """

    loss: Scalar
    grad: PyTree
    observed: PyTree
    state: MDState | None
    diagnostics: dict
    cache: Any = None


class AbstractGradient(eqx.Module):
    """A way of computing `(loss, d loss / d params)` through MD.

    `__call__(objective, params, static, *, backend, system, state, key, cache=None)`
    runs the simulations it needs with `backend` starting from `state` (an `MDState`
    from `backend.init`), evaluates `objective` and returns a `GradientResult`.
    The potential is `eqx.combine(params, static)`.
    """

    @abc.abstractmethod
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
        cache: Any = None,
    ) -> GradientResult: ...

    def observe(
        self,
        objective: Objective,
        params: PyTree,
        static: PyTree,
        *,
        backend: AbstractBackend,
        system: System,
        state: MDState,
        key: PRNGKeyArray,
        cache: Any = None,
    ) -> PyTree:
        """The observation `__call__` estimates with these arguments (its `observed`),
        where the gradient is not needed (sensitivities by finite differences). This
        default calls `__call__`; strategies override it with a cheaper forward-only
        run that draws the same random numbers."""
        return self(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=key,
            cache=cache,
        ).observed


# ----------------------------------------------------------------------------- helpers
def tree_norm(tree: PyTree) -> Scalar:
    """Euclidean norm over all array leaves of a pytree (`None` leaves ignored)."""
    leaves = [jnp.ravel(x) for x in jax.tree.leaves(tree) if eqx.is_array(x)]
    if not leaves:
        return jnp.zeros(())
    return jnp.sqrt(sum(jnp.sum(jnp.abs(x) ** 2) for x in leaves))


def tree_mean(tree: PyTree, axis: int = 0, weights: Array | None = None) -> PyTree:
    """Leaf-wise (weighted) mean of a batched pytree over `axis` (non-array leaves kept)."""

    def mean(x):
        if not eqx.is_array(x):
            return x
        if weights is None:
            return jnp.mean(x, axis=axis)
        w = jnp.asarray(weights, x.dtype)
        w = w.reshape(w.shape + (1,) * (x.ndim - 1 - axis)) if axis == 0 else w
        return jnp.sum(w * x, axis=axis) / jnp.sum(w)

    return jax.tree.map(mean, tree)


def unit_mean(tree: PyTree) -> PyTree:
    """Mean of a pytree batched over n independent units (replicas, segments) on axis 0,
    with the error bars of the observable results in it recomputed for the mean.

    Every array leaf is averaged (`tree_mean`), except the standard error of each
    `observables.AbstractResult` in the tree (its `error_magnitude`): the mean of the
    per-unit errors would be the typical error of *one* unit, not the error of their
    mean. It becomes the spread of the per-unit values,

        σ(ȳ) = std_k(y_k, ddof=1) / √n          (in the result's `y_unit`),

    element by element (`jax.lax.stop_gradient`: errors are not differentiated, as in
    `observables`). Why the spread, and not the per-unit errors combined as
    √(Σ_k σ_k²)/n (which is also the error of a mean of independent units): the spread
    needs no error model and includes every source of variation between units — e.g. the
    start state of a short segment, which a block error computed *within* that segment
    cannot see (its blocks share the start state, so they underestimate its error) — and
    it exists whatever the observable's own error estimate (block errors from two or three
    blocks of a short segment are themselves very noisy). Its cost is n − 1 degrees of
    freedom, a noisy error for a handful of units. A result whose error is `None` (the
    observable was asked for none, e.g. `n_blocks=None`) keeps `None`; with one unit the
    unit's own error is kept. Nested results (the two spectra of a `RamanSpectra`) are
    treated the same way.
    """
    sizes = {x.shape[0] for x in jax.tree.leaves(tree) if eqx.is_array(x) and x.ndim > 0}
    averaged = tree_mean(tree)
    if len(sizes) != 1 or min(sizes) < 2:
        return averaged
    (n,) = sizes
    return _fix_errors(tree, averaged, n)


def _map_results(fn: Callable, tree: PyTree, *rest: PyTree) -> PyTree:
    """`tree` with every `AbstractResult` node r in it (nested ones first) replaced by
    `fn(r, *the nodes at the same place in rest)`; `rest` share the structure of `tree`."""

    def inner(node):
        return lambda x: x is not node and isinstance(x, AbstractResult)

    leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=inner(tree))
    others = [jax.tree_util.tree_flatten(t, is_leaf=inner(t))[0] for t in rest]
    out = [
        _map_results(fn, x, *xs) if isinstance(x, AbstractResult) else x
        for x, *xs in zip(leaves, *others, strict=True)
    ]
    tree = jax.tree_util.tree_unflatten(treedef, out)
    return fn(tree, *rest) if isinstance(tree, AbstractResult) else tree


def _fix_errors(batched: PyTree, averaged: PyTree, n: int) -> PyTree:
    """`averaged` with every result's error replaced by the spread of `batched` / √n."""

    def fix(mean, units):
        if mean.error_magnitude is None:
            return mean
        y = units.y_magnitude
        spread = jax.lax.stop_gradient(jnp.std(y, axis=0, ddof=1) / np.sqrt(n))
        return eqx.tree_at(lambda r: r.error_magnitude, mean, spread.astype(y.dtype))

    return _map_results(fix, averaged, batched)


def zero_errors(tree: PyTree) -> PyTree:
    """`tree` with the error (`error_magnitude`, where not `None`) of every
    `observables.AbstractResult` in it set to zero: for linearising a loss in the
    estimated values only (errors are not differentiated)."""

    def zero(r):
        if r.error_magnitude is None:
            return r
        return eqx.tree_at(lambda x: x.error_magnitude, r, jnp.zeros_like(r.error_magnitude))

    return _map_results(zero, tree)


@contextlib.contextmanager
def error_bar_warnings_off():
    """Context without `ErrorBarWarning`, for observations that cannot carry their own
    error bar by design (one frame, one replica or segment of several)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ErrorBarWarning)
        yield


def quiet_unit_observe(observe: Callable, trajectory: Any) -> Any:
    """`observe(trajectory)` for one unit of several (a replica, a segment) without
    `ErrorBarWarning`: a unit may be too short for its own block error, and the error of
    the units' mean comes from their spread (`unit_mean`)."""
    with error_bar_warnings_off():
        return observe(trajectory)


def gradient_spread(per_unit: PyTree, grad: PyTree) -> dict:
    """`{"grad_stderr", "grad_snr"}` from per-unit gradients stacked on a leading axis
    (`[n, ...]` per leaf, `None` leaves kept): stderr = std(u, ddof=1)/√n element-wise
    and snr = |grad|/stderr (inf where stderr is 0). Both have the structure of `grad`.
    Raises `ValueError` for fewer than 2 units."""
    sizes = {x.shape[0] for x in jax.tree.leaves(per_unit) if eqx.is_array(x)}
    if len(sizes) > 1 or (sizes and min(sizes) < 2):
        raise ValueError(f"gradient_spread needs >= 2 units on a common axis, got {sizes}")

    def stderr(u):
        if not eqx.is_array(u):
            return u
        return jnp.std(u, axis=0, ddof=1) / np.sqrt(u.shape[0])

    se = jax.tree.map(stderr, per_unit)
    return {"grad_stderr": se, "grad_snr": gradient_snr(grad, se)}


def gradient_snr(grad: PyTree, stderr: PyTree) -> PyTree:
    """|grad| / stderr element-wise (inf where stderr is 0; `None` leaves kept)."""

    def snr(g, e):
        if not eqx.is_array(g):
            return g
        return jnp.where(e > 0, jnp.abs(g) / jnp.where(e > 0, e, 1.0), jnp.inf)

    return jax.tree.map(snr, grad, stderr)


def check_gradient(loss: Scalar, grad: PyTree, *, what: str, explode_norm: float = 1e8) -> float:
    """Raise `GradientError` if the loss or any gradient leaf is NaN/inf; warn
    (`GradientWarning`) if the gradient norm exceeds `explode_norm`. Returns the norm."""
    loss_v = float(np.asarray(loss))
    if not math.isfinite(loss_v):
        raise GradientError(f"{what}: the loss is {loss_v}")
    bad = [
        jax.tree_util.keystr(path)
        for path, x in jax.tree_util.tree_leaves_with_path(grad)
        if eqx.is_array(x) and not bool(jnp.all(jnp.isfinite(x)))
    ]
    if bad:
        raise GradientError(
            f"{what}: non-finite gradient in {', '.join(bad)} (loss {loss_v:.6g}). Shorten the "
            "trajectory / segments (chaotic divergence), use Truncated, or check the potential "
            "for r = 0 singularities."
        )
    norm = float(tree_norm(grad))
    if norm > explode_norm:
        warnings.warn(
            f"{what}: gradient norm {norm:.3g} exceeds {explode_norm:.3g}; the gradient through "
            "a chaotic trajectory is exploding — use shorter segments (Truncated) or clip.",
            GradientWarning,
            stacklevel=3,
        )
    return norm


def require_fixed_box(backend: AbstractBackend, strategy: str) -> None:
    """Strategies that differentiate the MD run need a fixed box: a barostat's
    accept/reject step has no derivative (`Reweighting` reweights NPT frames instead)."""
    if getattr(backend, "barostat", None) is not None:
        raise ValueError(
            f"{strategy} does not support a barostat (NPT): run NPT to find the box, then "
            "fit at that fixed box (JaxMDBackend without barostat, System with the new box)."
        )


def backend_temperature(backend: AbstractBackend) -> float:
    """The thermostat temperature (K) of a backend's integrator; error if it has none."""
    t = getattr(getattr(backend, "integrator", None), "temperature", None)
    if t is None:
        raise ValueError(
            f"{type(backend).__name__} with {type(getattr(backend, 'integrator', None)).__name__} "
            "has no temperature: this strategy needs a thermostatted (NVT) backend, e.g. "
            "JaxMDBackend(Langevin(dt, T, friction))"
        )
    return float(t)
