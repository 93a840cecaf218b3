"""`AdjointSegments`: the discrete adjoint as `Truncated`'s per-segment pathwise gradient.

`Truncated` runs its NVE segments as the replicas of one batch. With
`checkpoint=AdjointSegments()` that batch is differentiated by `Adjoint`'s discrete
adjoint of velocity Verlet (`adjoint_shares`) instead of back-propagation through the
scan: the same derivative of the same discrete segments (to rounding), with memory that
does not grow with `segment_steps` beyond the recorded signals and one anchor per
`anchor_every` steps.
"""

from __future__ import annotations

import equinox as eqx
import numpy as np

from observables import Quantity

from ._adjoint import _DEFAULT_TOLERANCE, Adjoint, adjoint_shares, reconstruction_tolerance

__all__ = ["AdjointSegments"]


class AdjointSegments(eqx.Module):
    """Differentiate each `Truncated` segment with the discrete adjoint (`Adjoint`) instead
    of checkpointed BPTT: pass it as `Truncated(..., checkpoint=AdjointSegments())`.

    The segments are NVE velocity-Verlet runs, exactly what `Adjoint` differentiates: a
    forward pass stores the recorded signals and an anchor (r, v, F) every `anchor_every`
    steps, and the backward pass reconstructs each segment backwards in time while
    accumulating its adjoint (see `Adjoint` for the equations). The result is the
    derivative of the same discrete segments as BPTT, to rounding, and each segment's
    share of the pathwise gradient comes out separately (one copy of the parameters per
    segment), as with BPTT.

    **Memory:** the differentiated program holds one step's adjoint state instead of a
    tape of the segment (BPTT stores every step without checkpoints, √T block boundaries
    plus one block with `SqrtCheckpoint`); what still grows with `segment_steps` is the
    recorded signals the loss needs (`frames × replicas × atoms × 3` per signal) and the
    anchors (72 bytes per atom each in float64). Measured numbers are in
    `Truncated`'s docstring. **Time:** about that of BPTT without checkpoints (a backward
    step is one force VJP); `SqrtCheckpoint` recomputes each step once more.

    **Arguments:**
    - `anchor_every`: steps between anchors within a segment (default `None`: `Adjoint`'s
      default, 1000 steps in float64 and 100 in float32, so a segment shorter than that
      has its start as the only anchor);
    - `max_reconstruction_error`: largest tolerated RMS position error of the time-reversed
      reconstruction on arrival at an anchor (length `Quantity`, default 1e-4 nm; `None`
      disables the check). Beyond it `ReconstructionError` is raised.

    Extra `Truncated` diagnostics with it: `reconstruction_error` (nm) and
    `reconstruction_error_velocity` (relative), the largest over anchors and segments.
    """

    anchor_every: int | None = eqx.field(static=True)
    max_reconstruction_error: float | None = eqx.field(static=True)

    def __init__(
        self,
        anchor_every: int | None = None,
        max_reconstruction_error: Quantity | None = _DEFAULT_TOLERANCE,
    ):
        if anchor_every is not None and (
            isinstance(anchor_every, bool)
            or not isinstance(anchor_every, int | np.integer)
            or anchor_every < 1
        ):
            raise ValueError(f"anchor_every must be a positive integer, got {anchor_every!r}")
        self.anchor_every = None if anchor_every is None else int(anchor_every)
        self.max_reconstruction_error = reconstruction_tolerance(max_reconstruction_error)

    def adjoint(self, segment_steps: int, stride: int) -> Adjoint:
        """The `Adjoint` that differentiates one batch of segments."""
        tol = self.max_reconstruction_error
        return Adjoint(
            segment_steps,
            stride,
            anchor_every=self.anchor_every,
            max_reconstruction_error=None if tol is None else Quantity(tol, "nm"),
        )

    def pathwise(self, objective, params, static, nve, system, starts, key, n_steps, stride):
        """Per-segment pathwise shares for `Truncated`: `(loss, observed, per_segment,
        shares, diagnostics)`, `shares` per leaf `[segment, ...]` = (1/n)·∂L/∂O·∂o_i/∂θ
        (their sum is the pathwise gradient)."""
        loss, observed, per_segment, shares, _, diagnostics = adjoint_shares(
            self.adjoint(n_steps, stride),
            objective,
            params,
            static,
            backend=nve,
            system=system,
            state=starts,
            key=key,
        )
        extra = {
            k: diagnostics[k] for k in ("reconstruction_error", "reconstruction_error_velocity")
        }
        return loss, observed, per_segment, shares, extra
