r"""`stream(observable, source)`: an observable of a trajectory file larger than memory.

The file is read a chunk of frames at a time (`observables.streaming.NpzFrames`,
`MDAnalysisFrames`) and the observable is accumulated, so that peak memory does not grow with
the number of frames. The result is the one the in-memory call `observable(trajectory)`
returns on the whole trajectory, up to floating-point rounding (the same definitions,
normalisations and block error bars), with these strategies:

- **`RDF`**: the volume-weighted pair counts $V_f c_{k,f}$ of each chunk's frames are summed,
  per block and in total, with $1/V_f$; normalised once at the end. Memory: one chunk.
- **`VDOS`, `SelfDiffusion`**: per-atom correlations. Their lag sums $S(\tau)$, $\tau \le
  K$, are accumulated chunk by chunk (`observables._lag_sums`: each pair of frames is
  counted with the chunk that holds its later frame, keeping the last $K$ frames), for the
  whole run and for each error-bar block, then turned into the spectrum or the Green–Kubo
  integral exactly as in memory. Memory: $(K + \text{chunk}) \times$ atoms × 3 values, so
  give an explicit `max_lag`: the defaults (a quarter of the run for a spectrum, half a
  block for a transport coefficient) grow with the run.
- **observables of per-frame signals** (`IRSpectrum`, `RamanSpectrum`, `ShearViscosity`,
  `ThermalConductivity`, `IonicConductivity`, `DielectricConstant`, ...): their input is a
  few numbers per frame, so only those signals (and the box) are read, chunk by chunk, and
  the observable runs in memory on them. A current computed from atoms (the charge current
  $\sum_i q_i \mathbf v_i$ of `FromDipoleDerivative` / `IonicConductivity`, when the file
  stores charges and velocities but no `charge_current`) is computed chunk by chunk.

Not available in streaming mode: `EinsteinDiffusion` (the mean squared displacement needs
per-atom positions at all lags) and `subtract_mean=True` for `SelfDiffusion` (a per-atom
mean over the run); both raise a one-line error. Results are not differentiable (the file
is read outside `jit`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from ._base import AbstractObservable
from ._blocks import usable_blocks
from ._diffusion import SelfDiffusion, _per_species, _species_weights
from ._frames import AbstractFrameSource, check_chunk_frames
from ._ir import FromDipoleDerivative, IRSpectrum
from ._lag_sums import LagSums
from ._rdf import RDF, rdf_from_sums, weighted_counts
from ._result import AbstractResult
from ._trajectory import Trajectory, TrajectoryError
from ._trajectory_fields import SIGNALS
from ._transport_base import green_kubo_from_correlation
from ._vdos import VDOS

__all__ = ["stream"]


def stream(
    observable: AbstractObservable, source: AbstractFrameSource, *, chunk_frames: int = 1000
) -> AbstractResult:
    """`observable` of the trajectory in `source`, read `chunk_frames` frames at a time.

    **Arguments:** `observable`: an `RDF`, `VDOS`, `SelfDiffusion`, or an observable of
    per-frame signals (`IRSpectrum`, `RamanSpectrum`, `ShearViscosity`,
    `ThermalConductivity`, `IonicConductivity`, `DielectricConstant`, ...); `source`: an
    `NpzFrames` or `MDAnalysisFrames`; `chunk_frames`: frames per chunk (a positive int;
    for correlations, a chunk at least as long as `max_lag` keeps the extra work below 3×).

    **Returns:** the result `observable(trajectory)` would return (module docstring), up
    to rounding: `tests/test_streaming.py` requires 1e-12 relative in float64, values and
    error bars. A histogram `RDF` can differ by one pair count where a distance lies within
    rounding of a bin edge.
    """
    chunk_frames = check_chunk_frames(chunk_frames)
    if not isinstance(source, AbstractFrameSource):
        raise TypeError(
            f"source must be a frame source (NpzFrames, MDAnalysisFrames), got "
            f"{type(source).__name__}"
        )
    if isinstance(observable, RDF):
        return _rdf(observable, source, chunk_frames)
    if isinstance(observable, VDOS):
        return _vdos(observable, source, chunk_frames)
    if isinstance(observable, SelfDiffusion):
        return _self_diffusion(observable, source, chunk_frames)
    name = type(observable).__name__
    if name == "EinsteinDiffusion":
        raise ValueError(
            "EinsteinDiffusion is not available in streaming mode (the MSD needs every "
            "atom's positions at all lags); use SelfDiffusion (Green–Kubo) instead"
        )
    if not isinstance(observable, AbstractObservable):
        raise TypeError(f"stream needs an observable, got {name}")
    return observable(_signals(observable, source, chunk_frames))


# ------------------------------------------------------------------------------ signals
def _signals(observable: Any, source: AbstractFrameSource, chunk_frames: int) -> Trajectory:
    """A trajectory holding only the file's per-frame signals (and box, per-atom data)."""
    fields = [n for n in SIGNALS if n in source.fields]
    needs_current = (
        isinstance(observable, IRSpectrum) and isinstance(observable.source, FromDipoleDerivative)
    ) or type(observable).__name__ == "IonicConductivity"
    current = boxes = template = None
    if needs_current and "charge_current" not in fields and "velocities" in source.fields:
        source.require("charges")
        parts, box_parts = [], []
        for chunk in source.chunks(chunk_frames, ("velocities",)):
            q = chunk.charges.astype(chunk.velocities.dtype)
            parts.append(np.asarray(jnp.einsum("i,fid->fd", q, chunk.velocities)))
            if chunk.box_per_frame:
                box_parts.append(np.asarray(chunk.box))
            template = chunk
        current = np.concatenate(parts)
        boxes = np.concatenate(box_parts) if box_parts else template.box
    if not fields and current is None:
        raise TrajectoryError(
            f"{source.name} has no per-frame signal ({', '.join(SIGNALS)}) for "
            f"{type(observable).__name__}; streaming computes it from those signals only"
        )
    if fields:
        traj = source.frames(fields, chunk_frames)
        if current is not None:
            traj = traj._replace_internal(charge_current=current)
        return traj
    return Trajectory.from_internal(
        box=boxes,
        timestep=template.timestep,
        charge_current=current,
        charges=template.charges,
        masses=template.masses,
        species=template.species,
        species_names=template.species_names,
    )


# ---------------------------------------------------------------------------------- RDF
def _rdf(rdf: RDF, source: AbstractFrameSource, chunk_frames: int):
    source.require("positions")
    n = source.n_frames
    n_blocks = usable_blocks(n, rdf.n_blocks, 1, "RDF")
    block_len = n // n_blocks if n_blocks else 0
    total = block_sums = None
    inv_volume = 0.0
    weights = None
    pos = 0
    for chunk in source.chunks(chunk_frames, ("positions",)):
        if chunk.box is None:
            raise TrajectoryError(f"the RDF needs a periodic box, but {source.name} has none")
        dtype = chunk.positions.dtype
        positions, boxes = rdf._boxes_checked(chunk, dtype)
        if weights is None:
            weights = rdf._weights(chunk, dtype)
            kernel, r_min, width, support = _rdf_settings(rdf, dtype)
        cv, volumes = weighted_counts(
            kernel, positions, boxes, *weights, r_min, width, bins=rdf.bins, support=support
        )
        cv, volumes = np.asarray(cv, dtype=np.float64), np.asarray(volumes, dtype=np.float64)
        m = cv.shape[0]
        total = cv.sum(axis=0) if total is None else total + cv.sum(axis=0)
        inv_volume += float(np.sum(1.0 / volumes))
        if n_blocks:
            if block_sums is None:
                block_sums = np.zeros((n_blocks, rdf.bins))
            idx = (pos + np.arange(m)) // block_len
            inside = idx < n_blocks
            np.add.at(block_sums, idx[inside], cv[inside])
        pos += m
    per_block = None if block_sums is None else jnp.asarray(block_sums / block_len, dtype=dtype)
    return rdf_from_sums(
        jnp.asarray(total / n, dtype=dtype),
        per_block,
        jnp.asarray(inv_volume / n, dtype=dtype),
        *weights,
        r_min,
        width,
        bins=rdf.bins,
        n_atoms=source.n_atoms,
    )


def _rdf_settings(rdf: RDF, dtype):
    import jax

    def dtype_of(x):
        return np.asarray(x, dtype=dtype)

    kernel = jax.tree_util.tree_map(
        lambda x: dtype_of(x) if isinstance(x, float) else x, rdf.kernel
    )
    return kernel, dtype_of(rdf.r_min), dtype_of(rdf.bin_width), rdf.kernel.support(rdf.bin_width)


# --------------------------------------------------------------------------------- VDOS
def _vdos(vdos: VDOS, source: AbstractFrameSource, chunk_frames: int):
    source.require("velocities", "masses")
    n, dt = source.n_frames, source.timestep
    k = vdos.transform.sizes(n, dt)[0]
    n_blocks = usable_blocks(n, vdos.n_blocks, k + 1, "VDOS")
    acc = LagSums(n, k, n_blocks, reduce=lambda p: p.sum(axis=(0, 1)))
    first = source.first_chunk(1, ("velocities",))
    dtype = first.velocities.dtype
    weights = np.sqrt(np.asarray(first.masses, dtype=np.float64))[None, :, None]
    for v in source.arrays(chunk_frames, "velocities"):
        acc.add(v * weights)
    corr, blocks = acc.correlation(vdos.transform.unbiased)
    corr = jnp.asarray(corr, dtype=dtype)
    blocks = None if blocks is None else jnp.asarray(blocks, dtype=dtype)
    timestep = jnp.asarray(dt, dtype=dtype)
    omega, spec, c0, block_spectra = vdos.transform.from_correlation(corr, blocks, timestep, n)
    return vdos._from_spectrum(omega, spec, c0, block_spectra, source.n_atoms, n, timestep)


# -------------------------------------------------------------------------- diffusion
def _self_diffusion(obs: SelfDiffusion, source: AbstractFrameSource, chunk_frames: int):
    if obs.subtract_mean:
        raise ValueError(
            "SelfDiffusion(subtract_mean=True) is not available in streaming mode (it needs "
            "each atom's mean velocity over the whole run first); use subtract_mean=False"
        )
    source.require("velocities")
    first = source.first_chunk(1, ("velocities",))
    probe = _LengthView(first, source.n_frames)
    n_lags, last, blocks = obs._prepare(probe)
    n = source.n_frames
    acc = LagSums(n, n_lags - 1, obs.n_blocks if blocks else None, reduce=lambda p: p.sum(axis=1))
    for v in source.arrays(chunk_frames, "velocities"):
        acc.add(v)
    corr, block_corr = acc.correlation(unbiased=True)
    dtype = first.velocities.dtype
    w = _species_weights(obs.species, first, dtype)
    corr = _per_species(jnp.asarray(corr, dtype=dtype), w)
    if block_corr is not None:
        block_corr = jnp.stack([_per_species(jnp.asarray(b, dtype=dtype), w) for b in block_corr])
    parts = green_kubo_from_correlation(obs, first, corr, block_corr, last)
    return obs._result(*parts, timestep=first.timestep)


class _LengthView:
    """A chunk that reports the whole run's frame count (for the window and block checks)."""

    def __init__(self, chunk: Trajectory, n_frames: int):
        self._chunk, self.n_frames = chunk, n_frames

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chunk, name)
