"""Composable losses: compare an observable's output with an experimental `Dataset`.

Units are checked once, when a loss is built (the dataset is converted into the
observable's declared output units); calling a loss works on plain arrays and is
jit/grad/vmap safe. Losses carry a weight and a name, add up (`a + b`, `0.5 * a`,
`sum_losses`, `JointLoss`) and report their terms for a fit history (`loss.terms(pred)`).
"""

from ._base import (
    AbstractLoss as AbstractLoss,
    JointLoss as JointLoss,
    LossError as LossError,
    LossSum as LossSum,
    WeightedSum as WeightedSum,
    sum_losses as sum_losses,
)
from ._curve import (
    AbstractCurveLoss as AbstractCurveLoss,
    ChiSquared as ChiSquared,
    MeanSquaredError as MeanSquaredError,
)
from ._normalisation import (
    Absolute as Absolute,
    AbstractNormalisation as AbstractNormalisation,
    AreaNormalised as AreaNormalised,
    PeakNormalised as PeakNormalised,
)
from ._prediction import observable_units as observable_units
from ._scalar import RelativeError as RelativeError
from ._spectral import (
    PeakPosition as PeakPosition,
    Wasserstein1 as Wasserstein1,
    band_centroid as band_centroid,
)
