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
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp

from observables import PER_FRAME_FIELDS, Trajectory

from ..backends import AbstractRecorder, Frame, pad_frames, unpad_frames

__all__ = [
    "potential_recorders",
    "check_recomputable",
    "energies_jit",
    "recorded_signals_jit",
    "with_signals",
    "estimate_jit",
    "merge_replicas",
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


def _frame_names(trajectory: Trajectory, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    names = [f for f in PER_FRAME_FIELDS if getattr(trajectory, f) is not None or f in extra]
    if trajectory.box_per_frame:
        names.append("box")
    return tuple(names)


def frame_energies(potential, system, positions, neighbors, batch_size: int):
    """`[frame]` energies U(x_i) (kJ/mol), `batch_size` frames at a time; checkpointed so
    reverse mode keeps only each batch's inputs."""
    n = positions.shape[0]
    size = min(batch_size, n)
    xs = pad_frames((positions, neighbors), n, size)

    def batch(args):
        pos, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda p: potential.energy(p, system, None))(pos)
        return jax.vmap(lambda p, nb: potential.energy(p, system, nb))(pos, nbrs)

    u = jax.lax.map(jax.checkpoint(batch), xs)
    return unpad_frames(u, n)


def frame_energies_and_observations(
    potential, system, observe, recorders, trajectory, neighbors, batch_size: int
):
    """`[frame]` energies U_θ(x_i) and `observe` of every frame with the signals of
    `recorders` recomputed by `potential` (θ), `batch_size` frames at a time (vmapped,
    checkpointed under `lax.map`)."""
    n = trajectory.n_frames
    size = min(batch_size, n)
    recomputed = tuple(r.field for r in recorders)
    names = _frame_names(trajectory)
    out_names = _frame_names(trajectory, recomputed)
    cached = {f: getattr(trajectory, f) for f in names if f not in recomputed}

    def one(fields, nbrs):
        pos, vel = fields["positions"], fields["velocities"]
        energy, grad = jax.value_and_grad(lambda x: potential.energy(x, system, nbrs))(pos)
        frame = Frame(pos, vel, -grad, energy, nbrs, system)
        fields = dict(fields, **{r.field: r(frame, potential) for r in recorders})
        one_frame = eqx.tree_at(
            lambda t: [getattr(t, f) for f in out_names],
            trajectory,
            [fields[f][None] for f in out_names],
            is_leaf=lambda x: x is None,
        )
        return energy, observe(one_frame)

    def batch(args):
        fields, nbrs = args
        if nbrs is None:
            return jax.vmap(lambda f: one(f, None))(fields)
        return jax.vmap(one)(fields, nbrs)

    out = jax.lax.map(jax.checkpoint(batch), pad_frames((cached, neighbors), n, size))
    return unpad_frames(out, n)


@eqx.filter_jit
def recorded_signals_jit(params, static, system, recorders, trajectory, neighbors, batch_size):
    """`{field: [frame, ...]}`: the signals of `recorders` for every frame of `trajectory`,
    computed by `eqx.combine(params, static)` from rebuilt `Frame`s (compiled)."""
    potential = eqx.combine(params, static)
    n = trajectory.n_frames
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
def energies_jit(params, static, system, positions, neighbors, batch_size):
    """`frame_energies` of `eqx.combine(params, static)`, compiled."""
    return frame_energies(eqx.combine(params, static), system, positions, neighbors, batch_size)


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
):
    """Loss, its gradient, the reweighted average and N_eff/F at `params`.

    Without `recorders` the cached per-frame `observed` values are reweighted; with them the
    observations are recomputed at `params` (see the module docstring)."""
    n = energies0.shape[0]

    def total(p):
        potential = eqx.combine(p, static)
        if recorders:
            u, obs = frame_energies_and_observations(
                potential, system, observe, recorders, trajectory, neighbors, batch_size
            )
        else:
            u = frame_energies(potential, system, trajectory.positions, neighbors, batch_size)
            obs = observed
        log_w = -beta * (u - energies0)
        log_w = log_w - jax.scipy.special.logsumexp(log_w)
        w = jnp.exp(log_w)
        average = jax.tree.map(lambda o: weighted_mean(o, w), obs)
        ess = 1.0 / (jnp.sum(w * w) * n)
        return loss_fn(average), (average, ess)

    (loss, (average, ess)), grad = eqx.filter_value_and_grad(total, has_aux=True)(params)
    return loss, grad, average, ess


def weighted_mean(o, w):
    """Σ_i w_i o_i over the leading axis for inexact leaves (w normalised); other leaves
    (integers, static values) are taken from the first frame."""
    if not eqx.is_array(o):
        return o
    if not jnp.issubdtype(o.dtype, jnp.inexact):
        return o[0]
    return jnp.tensordot(w.astype(o.dtype), o, axes=1)


def merge_replicas(trajectory: Trajectory) -> Trajectory:
    """A batched backend trajectory (leading replica axis on every leaf) as one trajectory
    whose frames are those of all replicas, replica by replica (the backends keep the box
    fixed, so the box is that of replica 0)."""
    fields = {}
    for f in dataclasses.fields(trajectory):
        v = getattr(trajectory, f.name)
        if v is None or f.name == "species_names":
            continue
        if f.name in PER_FRAME_FIELDS:
            fields[f.name] = v.reshape((-1,) + v.shape[2:])
        else:
            fields[f.name] = v[0]
    positions = fields.pop("positions")
    box = fields.pop("box", None)
    timestep = fields.pop("timestep")
    return Trajectory.from_internal(
        positions, box=box, timestep=timestep, species_names=trajectory.species_names, **fields
    )
