"""How a gradient crosses a trajectory: BPTT with checkpointing, discrete adjoint,
truncated segments with the initial-ensemble term, trajectory reweighting (DiffTRe)."""

from ._adjoint import Adjoint as Adjoint, ReconstructionError as ReconstructionError
from ._base import (
    AbstractGradient as AbstractGradient,
    GradientError as GradientError,
    GradientResult as GradientResult,
    GradientWarning as GradientWarning,
    Objective as Objective,
    backend_temperature as backend_temperature,
    check_gradient as check_gradient,
    tree_mean as tree_mean,
    tree_norm as tree_norm,
    unit_mean as unit_mean,
)
from ._bptt import (
    BPTT as BPTT,
    AbstractCheckpoint as AbstractCheckpoint,
    BlockCheckpoint as BlockCheckpoint,
    NoCheckpoint as NoCheckpoint,
    RecursiveCheckpoint as RecursiveCheckpoint,
    SqrtCheckpoint as SqrtCheckpoint,
)
from ._reweighting import Reweighting as Reweighting, ReweightingCache as ReweightingCache
from ._segment_adjoint import AdjointSegments as AdjointSegments
from ._truncated import Truncated as Truncated
