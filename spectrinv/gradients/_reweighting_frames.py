r"""The differentiated core of `Reweighting`: per-frame energies at the current parameters,
the signals of recorders that use the potential recomputed at those parameters, and the
reweighted average.

For a frame $x_i$ (positions, velocities) sampled at $\theta_0$ the reweighted estimate of
$\langle O\rangle_\theta$ needs $U_\theta(x_i)$ and $o_i(\theta) = O(x_i;\theta)$. When
$O$ reads only $\theta$-independent signals (positions, velocities, a dipole model) the
$o_i$ are the cached reference values; when it reads a signal that a recorder computes from
the potential (`AbstractRecorder.uses_potential`, e.g. `Stress`), the signal is recomputed
here for every frame with the potential at $\theta$, inside the differentiated function, so
that autodiff yields the explicit term $\sum_i w_i\,\partial o_i/\partial\theta$ of the
estimator as well as the weight term.

**Standard error of a reweighted average.** The $F$ frames are cut into $B$ contiguous blocks
$b$ (a remainder at the end joins no block; the estimate itself uses every frame). With the
normalised weights $w_i$ and the estimate $\bar o = \sum_i w_i o_i$, each block contributes
$d_b = \sum_{i \in b} w_i (o_i - \bar o)$, and

$$ \sigma_{\bar o}^2 = \frac{B}{B-1} \sum_b d_b^2 , $$

the linearised (delta-method) variance of a ratio estimator with blocks as independent
units. With equal weights it is the block standard error $s/\sqrt B$ of the block means
(`observables._blocks`). Blocks must be longer than the correlation time of $o$. The
estimate is unreliable when the effective sample size is small ($N_\mathrm{eff} \ll F$: a
few frames carry the weight, and the blocks holding them decide the spread). It is not
differentiated (`lax.stop_gradient`) and goes into the error leaf of every
`observables.AbstractResult` of the average (`error_magnitude`), so a `ChiSquared` loss
adds it to the data's uncertainty.

Reference: W. G. Cochran, *Sampling Techniques*, 3rd ed. (Wiley, 1977), §6.4 (variance of
a ratio estimator); H. Flyvbjerg & H. G. Petersen, *J. Chem. Phys.* **91**, 461 (1989).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from observables import PER_FRAME_FIELDS, AbstractResult, Trajectory

from ..backends import (
    AbstractRecorder,
    Frame,
    MonteCarloBarostat,
    frame_neighbors,
    pad_frames,
    unpad_frames,
)

__all__ = [
    "potential_recorders",
    "check_recomputable",
    "frame_boxes",
    "in_frame_box",
    "energies_jit",
    "recorded_signals_jit",
    "with_signals",
    "estimate_jit",
    "frame_observation_fn",
    "merge_replicas",
    "weighted_block_error",
    "weighted_mean",
    "checked_barostat",
    "frame_lists",
    "cutoff_of",
    "with_reweighted_errors",
]


def potential_recorders(record: tuple[AbstractRecorder, ...]) -> tuple[AbstractRecorder, ...]:
    """The recorders of `record` whose signal depends on the potential."""
    return tuple(r for r in record if getattr(type(r), "uses_potential", True))


def check_recomputable(recorders: tuple[AbstractRecorder, ...], trajectory: Trajectory) -> None:
    """Raise `ValueError` if the frames lack what rebuilding a recorder `Frame` needs."""
    if not recorders:
        return
    fields = ", ".join(repr(r.field) for r in recorders)
    for name, hint in (("positions", "Positions()"), ("velocities", "Velocities()")):
        if getattr(trajectory, name) is None:
            raise ValueError(
                f"Reweighting recomputes the parameter-dependent signal(s) {fields} at the "
                f"current parameters from the reference frames, which needs their {name}; "
                f"record {hint} as well (add it to Objective.record)"
            )


def frame_boxes(trajectory: Trajectory, system) -> Array | None:
    """The frames' own boxes (nm) in the shape of `system.box` (`[frame, 3]` edges or
    `[frame, 3, 3]` rows), or `None` when the trajectory has one fixed box (NVT).

    Isothermal-isobaric frames (a barostat run) carry one box each; the energy of frame
    $i$ is then $U_\theta(x_i, V_i)$, evaluated in that box. Raises `ValueError` for
    per-frame boxes the system cannot hold (a triclinic frame box for an orthorhombic
    `system.box`, or a non-periodic system)."""
    if not trajectory.box_per_frame:
        return None
    if system.box is None:
        raise ValueError(
            "the frames carry one box each (NPT) but system.box is None; give the system a "
            "periodic box"
        )
    boxes = jnp.asarray(trajectory.box, system.box.dtype)
    if system.box.ndim == 1 and boxes.ndim == 3:
        off = np.asarray(boxes) * (1.0 - np.eye(3))
        if np.any(off != 0):
            raise ValueError(
                "the frames' boxes are triclinic but system.box holds 3 edges; give the "
                "system a [3, 3] cell to reweight triclinic NPT frames"
            )
        return jnp.diagonal(boxes, axis1=1, axis2=2)
    if system.box.ndim == 2 and boxes.ndim == 2:
        return jax.vmap(jnp.diag)(boxes)
    return boxes


def in_frame_box(system, box):
    """`system` in one frame's box (`box` in the shape of `system.box`; `None`: unchanged)."""
    if box is None:
        return system
    return eqx.tree_at(lambda s: s.box, system, box)


def _frame_names(trajectory: Trajectory, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    names = [f for f in PER_FRAME_FIELDS if getattr(trajectory, f) is not None or f in extra]
    if trajectory.box_per_frame:
        names.append("box")
    return tuple(names)


def frame_energies(potential, system, positions, neighbors, batch_size: int, boxes=None):
    """`[frame]` energies U(x_i) (kJ/mol), `batch_size` frames at a time; checkpointed so
    reverse mode keeps only each batch's inputs. `boxes`: per-frame boxes (NPT frames,
    `frame_boxes`), each frame evaluated in its own."""
    n = positions.shape[0]
    size = min(batch_size, n)
    if boxes is not None:

        def batch_npt(args):
            pos, nbrs, box = args
            return jax.vmap(
                lambda p, nb, b: potential.energy(p, in_frame_box(system, b), nb),
                in_axes=(0, None if nbrs is None else 0, 0),
            )(pos, nbrs, box)

        xs = pad_frames((positions, neighbors, boxes), n, size)
        return unpad_frames(jax.lax.map(jax.checkpoint(batch_npt), xs), n)
    xs = pad_frames((positions, neighbors), n, size)

    def batch(args):
        pos, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda p: potential.energy(p, system, None))(pos)
        return jax.vmap(lambda p, nb: potential.energy(p, system, nb))(pos, nbrs)

    u = jax.lax.map(jax.checkpoint(batch), xs)
    return unpad_frames(u, n)


def frame_observation_fn(system, observe, recorders, trajectory):
    """`(one, cached)`: `one(potential, fields, nbrs) -> (U(x), observe(frame))` for one
    frame whose signals of `recorders` are recomputed by `potential`, and the cached
    per-frame fields (`[frame]` leading axis) it is mapped over."""
    recomputed = tuple(r.field for r in recorders)
    names = _frame_names(trajectory)
    out_names = _frame_names(trajectory, recomputed)
    cached = {f: getattr(trajectory, f) for f in names if f not in recomputed}

    def one(potential, fields, nbrs):
        pos, vel = fields["positions"], fields["velocities"]
        here = system
        if "box" in fields:  # NPT frames: this frame's box, in the shape of system.box
            box = fields["box"].astype(system.box.dtype)
            if box.ndim > system.box.ndim:
                box = jnp.diagonal(box)
            elif box.ndim < system.box.ndim:
                box = jnp.diag(box)
            here = in_frame_box(system, box)
        energy, grad = jax.value_and_grad(lambda x: potential.energy(x, here, nbrs))(pos)
        frame = Frame(pos, vel, -grad, energy, nbrs, here)
        fields = dict(fields, **{r.field: r(frame, potential) for r in recorders})
        one_frame = eqx.tree_at(
            lambda t: [getattr(t, f) for f in out_names],
            trajectory,
            [fields[f][None] for f in out_names],
            is_leaf=lambda x: x is None,
        )
        return energy, observe(one_frame)

    return one, cached


def frame_energies_and_observations(
    potential, system, observe, recorders, trajectory, neighbors, batch_size: int
):
    """`[frame]` energies U_θ(x_i) and `observe` of every frame with the signals of
    `recorders` recomputed by `potential` (θ), `batch_size` frames at a time (vmapped,
    checkpointed under `lax.map`)."""
    n = trajectory.n_frames
    size = min(batch_size, n)
    one, cached = frame_observation_fn(system, observe, recorders, trajectory)

    def batch(args):
        fields, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda f: one(potential, f, None))(fields)
        return jax.vmap(lambda f, nb: one(potential, f, nb))(fields, nbrs)

    out = jax.lax.map(jax.checkpoint(batch), pad_frames((cached, neighbors), n, size))
    return unpad_frames(out, n)


@eqx.filter_jit
def recorded_signals_jit(
    params, static, system, recorders, trajectory, neighbors, batch_size, boxes=None
):
    """`{field: [frame, ...]}`: the signals of `recorders` for every frame of `trajectory`,
    computed by `eqx.combine(params, static)` from rebuilt `Frame`s (compiled); `boxes`:
    per-frame boxes of NPT frames (`frame_boxes`)."""
    potential = eqx.combine(params, static)
    n = trajectory.n_frames
    if boxes is not None:

        def one_npt(pos, vel, nbrs, box):
            here = in_frame_box(system, box)
            energy, grad = jax.value_and_grad(lambda x: potential.energy(x, here, nbrs))(pos)
            frame = Frame(pos, vel, -grad, energy, nbrs, here)
            return {r.field: r(frame, potential) for r in recorders}

        def batch_npt(args):
            pos, vel, nbrs, box = args
            axes = (0, 0, None if nbrs is None else 0, 0)
            return jax.vmap(one_npt, in_axes=axes)(pos, vel, nbrs, box)

        xs = (trajectory.positions, trajectory.velocities, neighbors, boxes)
        out = jax.lax.map(batch_npt, pad_frames(xs, n, min(batch_size, n)))
        return unpad_frames(out, n)
    xs = (trajectory.positions, trajectory.velocities, neighbors)

    def one(pos, vel, nbrs):
        energy, grad = jax.value_and_grad(lambda x: potential.energy(x, system, nbrs))(pos)
        frame = Frame(pos, vel, -grad, energy, nbrs, system)
        return {r.field: r(frame, potential) for r in recorders}

    def batch(args):
        pos, vel, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda p, v: one(p, v, None))(pos, vel)
        return jax.vmap(one)(pos, vel, nbrs)

    out = jax.lax.map(batch, pad_frames(xs, n, min(batch_size, n)))
    return unpad_frames(out, n)


def with_signals(trajectory: Trajectory, signals: dict) -> Trajectory:
    """`trajectory` with the per-frame fields in `signals` set (added or replaced)."""
    names = list(signals)
    return eqx.tree_at(
        lambda t: [getattr(t, f) for f in names],
        trajectory,
        [signals[f] for f in names],
        is_leaf=lambda x: x is None,
    )


@eqx.filter_jit
def energies_jit(params, static, system, positions, neighbors, batch_size, boxes=None):
    """`frame_energies` of `eqx.combine(params, static)`, compiled."""
    potential = eqx.combine(params, static)
    return frame_energies(potential, system, positions, neighbors, batch_size, boxes)


@eqx.filter_jit
def estimate_jit(
    params,
    static,
    observe,
    loss_fn,
    recorders,
    observed,
    trajectory,
    energies0,
    neighbors,
    system,
    beta,
    batch_size,
    n_blocks=None,
    boxes=None,
):
    """Loss, its gradient, the reweighted average, N_eff/F, the per-frame observations
    and the normalised weights at `params`.

    Without `recorders` the cached per-frame `observed` values are reweighted; with them the
    observations are recomputed at `params` (see the module docstring). `boxes`: per-frame
    boxes of NPT frames (`frame_boxes`; the recomputed frames read theirs from the
    trajectory)."""
    n = energies0.shape[0]

    def total(p):
        potential = eqx.combine(p, static)
        if recorders:
            u, obs = frame_energies_and_observations(
                potential, system, observe, recorders, trajectory, neighbors, batch_size
            )
        else:
            u = frame_energies(
                potential, system, trajectory.positions, neighbors, batch_size, boxes
            )
            obs = observed
        log_w = -beta * (u - energies0)
        log_w = log_w - jax.scipy.special.logsumexp(log_w)
        w = jnp.exp(log_w)
        average = jax.tree.map(lambda o: weighted_mean(o, w), obs)
        if n_blocks is not None:
            average = with_reweighted_errors(average, obs, w, n_blocks)
        ess = 1.0 / (jnp.sum(w * w) * n)
        return loss_fn(average), (average, ess, obs, w)

    (loss, aux), grad = eqx.filter_value_and_grad(total, has_aux=True)(params)
    average, ess, obs, w = aux
    return loss, grad, average, ess, obs, w


def weighted_mean(o, w):
    """Σ_i w_i o_i over the leading axis for inexact leaves (w normalised); other leaves
    (integers, static values) are taken from the first frame."""
    if not eqx.is_array(o):
        return o
    if not jnp.issubdtype(o.dtype, jnp.inexact):
        return o[0]
    return jnp.tensordot(w.astype(o.dtype), o, axes=1)


def weighted_block_error(o, w, n_blocks: int):
    """Standard error of `Σ_i w_i o_i` (`o` `[frame, ...]`, `w` normalised `[frame]`) from
    `n_blocks` contiguous blocks (module docstring), without gradient."""
    o, w = jax.lax.stop_gradient(o), jax.lax.stop_gradient(w.astype(o.dtype))
    mean = jnp.tensordot(w, o, axes=1)
    length = o.shape[0] // n_blocks
    dev = (o - mean)[: length * n_blocks] * w[: length * n_blocks].reshape(
        (-1,) + (1,) * (o.ndim - 1)
    )
    d = dev.reshape((n_blocks, length) + o.shape[1:]).sum(axis=1)
    return jax.lax.stop_gradient(jnp.sqrt(n_blocks / (n_blocks - 1) * jnp.sum(d * d, axis=0)))


def with_reweighted_errors(average, observed, w, n_blocks: int):
    """`average` with the error leaf of every `AbstractResult` in it set to the weighted
    block standard error of its values (`observed`: the per-frame results, `[frame]`
    leading axis). Blocks: `min(n_blocks, F)`; fewer than 2 frames leave it unchanged."""
    n = w.shape[0]
    blocks = min(n_blocks, n)
    if blocks < 2:
        return average
    is_result = lambda x: isinstance(x, AbstractResult)  # noqa: E731

    def attach(avg, per_frame):
        if not is_result(avg) or per_frame.y_magnitude is None:
            return avg
        err = weighted_block_error(per_frame.y_magnitude, w, blocks)
        try:
            return eqx.tree_at(lambda r: r.error_magnitude, avg, err, is_leaf=lambda x: x is None)
        except (ValueError, TypeError, AttributeError):  # error is not a replaceable leaf
            return avg

    return jax.tree.map(attach, average, observed, is_leaf=is_result)


def merge_replicas(trajectory: Trajectory, box_per_frame: bool = False) -> Trajectory:
    """A batched backend trajectory (leading replica axis on every leaf) as one trajectory
    whose frames are those of all replicas, replica by replica. With a fixed box the box is
    that of replica 0; `box_per_frame` (a barostat run) keeps every frame's own box."""
    fields = {}
    for f in dataclasses.fields(trajectory):
        v = getattr(trajectory, f.name)
        if v is None or f.name == "species_names":
            continue
        if f.name in PER_FRAME_FIELDS or (box_per_frame and f.name == "box"):
            fields[f.name] = v.reshape((-1,) + v.shape[2:])
        else:
            fields[f.name] = v[0]
    positions = fields.pop("positions")
    box = fields.pop("box", None)
    timestep = fields.pop("timestep")
    return Trajectory.from_internal(
        positions, box=box, timestep=timestep, species_names=trajectory.species_names, **fields
    )


def checked_barostat(backend) -> MonteCarloBarostat | None:
    """The backend's barostat, `None` without one; a barostat other than the isotropic
    `MonteCarloBarostat` is refused (its frames' weights are not those of this estimator)."""
    barostat = getattr(backend, "barostat", None)
    if barostat is not None and not isinstance(barostat, MonteCarloBarostat):
        raise ValueError(
            f"Reweighting supports NPT frames from the isotropic MonteCarloBarostat only, not "
            f"{type(barostat).__name__}"
        )
    return barostat


def frame_lists(potential, system, positions, boxes, rw):
    """Per-frame neighbour lists (`None`: all pairs), each in its frame's box for NPT, with
    the capacity multiplier and batch size of the `Reweighting` `rw`."""
    extra = {} if boxes is None else {"boxes": boxes}  # NVT: the call as before
    return frame_neighbors(
        potential,
        system,
        positions,
        capacity_multiplier=rw.capacity_multiplier,
        batch_size=rw.batch_size,
        **extra,
    )


def cutoff_of(potential, system) -> float | None:
    """The cutoff (nm) neighbour lists are built for; `None`: all pairs (no cutoff or box)."""
    if potential.cutoff is None or system.box is None:
        return None
    return float(potential.cutoff)
