"""Conformance checks: jit and vmap change nothing; gradients match finite differences;
float32 agrees with float64."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import observables as ob

from ._report import CheckReport, describe, finish, name_of, relative_deviation

__all__ = ["check_transforms", "check_gradient", "check_dtypes"]


def _call(observable, trajectory):
    return observable(trajectory)


#: One compiled function per (observable, trajectory shapes): reused across calls.
_batched = eqx.filter_jit(eqx.filter_vmap(_call, in_axes=(None, 0)))


def check_transforms(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    other: ob.Trajectory | None = None,
    *,
    rtol: float = 1e-9,
) -> CheckReport:
    """Eager evaluation and `jit∘vmap` over replicas give the same result.

    One compiled call covers both transformations (a plain `jit` is the one-replica case);
    the comparison is made replica by replica, so batching that mixes replicas fails.

    **Arguments:**

    - `observable`: any `AbstractObservable`.
    - `trajectory`, `other`: two trajectories with the same fields and shapes (replicas);
      `other` defaults to `trajectory` with its array fields scaled by 1.01 (so the two
      replicas differ).
    - `rtol`: largest accepted relative difference, max |a - b| / max |a| per array of the
      result (values, axis, error bars).

    **Returns:** a `CheckReport` (deviation: the worst relative difference between each
    replica's eager result and its slice of the batched one); raises `PropertyError` if it
    exceeds `rtol` or if the eager result is not finite.
    """
    if other is None:
        other = jax.tree.map(
            lambda x: x * 1.01 if eqx.is_inexact_array(x) and x.ndim >= 2 else x, trajectory
        )
    shapes = [jax.tree.map(jnp.shape, t) for t in (trajectory, other)]
    if shapes[0] != shapes[1]:
        raise ValueError(
            "check_transforms: the two replicas must have the same fields and shapes (a vmap "
            f"batches them); got {shapes[0]} and {shapes[1]}"
        )
    eager = [observable(t) for t in (trajectory, other)]
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), trajectory, other)
    batched = _batched(observable, batch)
    deviation = 0.0
    for i, ref in enumerate(eager):
        replica = jax.tree.map(lambda x, i=i: x[i], batched)
        deviation = max(deviation, relative_deviation(ref, replica))
    if not np.all(np.isfinite(np.asarray(eager[0].y_magnitude))):
        deviation = float("inf")
    return finish(
        CheckReport(
            "eager = jit∘vmap",
            name_of(observable),
            deviation,
            rtol,
            "max relative difference",
            describe(trajectory),
        )
    )


def check_gradient(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    field: str,
    *,
    seed: int = 0,
    step: float = 1e-6,
    rtol: float = 1e-5,
) -> CheckReport:
    """The gradient of the values with respect to a trajectory field matches a central
    finite difference.

    Along a random direction `d` (normal, the shape of the field) and for random weights `w`
    (the shape of the values), compares the autodiff derivative of
    L(h) = Σ w · y(field + h d) at h = 0 with (L(η) - L(-η)) / 2η, η = `step` × max |field|
    (`step` itself for a field of zeros, in internal units).
    Needs float64 (`jax.config.update("jax_enable_x64", True)`) for the default tolerance.

    **Arguments:**

    - `field`: the trajectory field the values depend on smoothly (`"positions"` for a
      smooth RDF, `"velocities"` for a VDOS, `"dipole"` for an IR spectrum, ...).
    - `seed`: seed of the direction and weights; `step`: relative finite-difference step;
      `rtol`: largest accepted |autodiff - fd| / |fd|.

    **Returns:** a `CheckReport`; raises `PropertyError` when the two derivatives differ by
    more than `rtol`, or when the gradient is identically zero while the finite difference
    is not.
    """
    x0 = getattr(trajectory, field)
    if x0 is None:
        raise ob.TrajectoryError(f"check_gradient: the trajectory has no {field}")
    rng = np.random.default_rng(seed)
    direction = jnp.asarray(rng.normal(size=x0.shape), dtype=x0.dtype)
    weights = jnp.asarray(
        rng.normal(size=np.shape(observable(trajectory).y_magnitude)), dtype=x0.dtype
    )

    def loss(h):
        moved = eqx.tree_at(lambda t: getattr(t, field), trajectory, x0 + h * direction)
        return jnp.sum(weights * observable(moved).y_magnitude)

    grad = float(jax.grad(loss)(jnp.zeros((), x0.dtype)))
    eta = step * (float(jnp.max(jnp.abs(x0))) or 1.0)  # an all-zero field: step itself
    fd = float(loss(jnp.asarray(eta, x0.dtype))) - float(loss(jnp.asarray(-eta, x0.dtype)))
    fd /= 2 * eta
    deviation = abs(grad - fd) / abs(fd) if fd != 0 else (0.0 if grad == 0 else float("inf"))
    if grad == 0.0 and fd != 0.0 or not np.isfinite(grad):
        deviation = float("inf")
    return finish(
        CheckReport(
            f"gradient w.r.t. {field} = finite difference",
            name_of(observable),
            deviation,
            rtol,
            f"|autodiff - fd| / |fd| (autodiff {grad:.6g}, fd {fd:.6g})",
            describe(trajectory),
            {"autodiff": grad, "fd": fd},
        )
    )


def check_dtypes(
    observable: ob.AbstractObservable, trajectory: ob.Trajectory, *, rtol: float = 1e-4
) -> CheckReport:
    """float32 and float64 inputs give the same values to `rtol`.

    The trajectory's floating arrays are cast to float32 and to float64 (float64 needs
    `jax_enable_x64`); the values `y` of the two results are compared as
    max |y32 - y64| / max |y64|.

    **Returns:** a `CheckReport`; raises `PropertyError` when the difference exceeds `rtol`
    or the float32 result is not float32 (a silent promotion).
    """

    def cast(dtype):
        return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, trajectory)

    y64 = observable(cast(jnp.float64)).y_magnitude
    y32 = observable(cast(jnp.float32)).y_magnitude
    deviation = relative_deviation(y64, y32)
    measure = "max |y32 - y64| / max |y64|"
    if jnp.asarray(y32).dtype != jnp.float32:
        deviation, measure = float("inf"), f"float32 input gave {jnp.asarray(y32).dtype} values"
    return finish(
        CheckReport(
            "float32 = float64", name_of(observable), deviation, rtol, measure, describe(trajectory)
        )
    )
