"""Losses: compare an observable's output with an experimental dataset.

A `Reference` holds what is compared — the dataset, converted once into the units of the
observable's output, the compared range and the model grid — and every loss takes one:

```python
ref = Reference(water, IRSpectrum(T), x_range=(Quantity(1000, "1/cm"), Quantity(4000, "1/cm")))
loss = 1e6 * MeanSquaredError(ref, normalisation=AreaNormalised()) + Wasserstein1(ref)
```

Units are checked when the `Reference` is built; calling a loss works on plain arrays and is
jit/grad/vmap safe. Where the data carry uncertainties, `ChiSquared` weighs the residuals by
the experimental and the simulation errors combined in quadrature. Losses combine with `+`
and scalar weights into a `LossSum`, which reports its terms for a fit history
(`loss.terms(prediction)`).
"""

from ._band_intensity import BandIntensity as BandIntensity, band_intensity as band_intensity
from ._base import (
    AbstractLoss as AbstractLoss,
    LossError as LossError,
    LossSum as LossSum,
)
from ._chi2 import ChiSquared as ChiSquared
from ._curve import (
    AbstractCurveLoss as AbstractCurveLoss,
    MeanSquaredError as MeanSquaredError,
)
from ._normalisation import (
    Absolute as Absolute,
    AbstractNormalisation as AbstractNormalisation,
    AreaNormalised as AreaNormalised,
    PeakNormalised as PeakNormalised,
)
from ._prediction import as_curve as as_curve, observable_units as observable_units
from ._reference import Reference as Reference
from ._scalar import RelativeError as RelativeError
from ._spectral import (
    PeakPosition as PeakPosition,
    Wasserstein1 as Wasserstein1,
    band_centroid as band_centroid,
)
