r"""Integrated band intensities, model vs experiment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._base import as_scalar, check_name
from ._curve import AbstractCurveLoss, curve_reference
from ._reference import Reference
from ._spectral import (
    _band_weights,
    _trapz,
    band_names_for,
    check_windows,
    per_window,
    windowed_model_curve,
)

__all__ = ["BandIntensity", "band_intensity"]


def band_intensity(
    x: Float[Array, " point"],
    y: Float[Array, " point"],
    lo: float,
    hi: float,
    *,
    resolution: int,
    subtract_baseline: bool,
) -> Float[Array, ""]:
    r"""Integrated intensity $\int_{lo}^{hi} w(x)\,dx$ of the band in `[lo, hi]` (units of
    y times x): the curve linearly interpolated onto `resolution` uniform points spanning
    the window, $w = y$ or, with `subtract_baseline`, $w = \max(y - b, 0)$ with $b$ the line
    through the curve's values at the window edges. Trapezoid rule. NumPy in, NumPy out;
    JAX in, JAX out."""
    u, w = _band_weights(x, y, lo, hi, resolution, subtract_baseline)
    return _trapz(w, u, np if isinstance(w, np.ndarray) else jnp)


class BandIntensity(AbstractCurveLoss):
    r"""Integrated intensities of bands, relative to experiment.

    In each window $[a_k, b_k]$ the integrated intensity $I_k = \int_{a_k}^{b_k} y\,dx$ is
    computed the same way for the model and the experiment (both linearly interpolated
    onto `resolution` uniform points spanning the window, trapezoid rule; with
    `subtract_baseline`, of the band above the line through the window edges), and

    $$ L = \frac1K \sum_k \Big(\frac{I_k^\text{model} - I_k^\text{exp}}{I_k^\text{exp}}\Big)^2
       \quad [\text{dimensionless}]. $$

    For an IR spectrum n·α (cm⁻¹) on a wavenumber axis, $I_k$ (cm⁻²) is the integrated
    absorption of the band, which for a harmonic band is proportional to the squared dipole
    derivative along its normal mode: the quantity a charge model's parameters set, nearly
    independently of the band's position and width. It complements `PeakPosition` (where
    the bands are) and a pointwise line-shape loss (their shape).

    `terms` reports each band's integrals (y unit × x unit) as `<name>/<band>_model` and
    `<name>/<band>_exp`, bands named `peak_1`, ... or by `band_names`.

    **Arguments:**

    - `reference`: a curve `Reference`; `windows`: a sequence of `(lo, hi)` Quantities,
      inside the dataset's range and each holding at least 3 experimental points;
    - `band_names`, `subtract_baseline` (default False: the whole area in the window),
      `resolution` (default 512), `name` (default `"band_intensity"`).

    ??? cite
        Integrated absorption and dipole derivatives: E. B. Wilson, J. C. Decius and
        P. C. Cross, *Molecular Vibrations*, McGraw-Hill (1955), ch. 7.
    """

    reference: Reference
    windows: tuple[tuple[float, float], ...] = eqx.field(static=True)
    band_names: tuple[str, ...] = eqx.field(static=True)
    exp_intensities: Float[Array, " band"]
    subtract_baseline: bool = eqx.field(static=True)
    resolution: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        reference: Reference,
        *,
        windows: Sequence[Any],
        band_names: Sequence[str] | None = None,
        subtract_baseline: bool = False,
        resolution: int = 512,
        name: str = "band_intensity",
    ):
        ref = self.reference = curve_reference(reference, "BandIntensity")
        self.name = check_name(name)
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise ValueError(f"resolution must be an int >= 8, got {resolution!r}")
        self.resolution = resolution
        self.subtract_baseline = bool(subtract_baseline)
        x, y = np.asarray(ref.x), np.asarray(ref.y)
        self.windows = check_windows(
            windows, x, y, ref, resolution, self.subtract_baseline, "BandIntensity"
        )
        self.band_names = band_names_for(band_names, len(self.windows))
        self.exp_intensities = per_window(
            band_intensity, x, y, self.windows, resolution, self.subtract_baseline
        )

    def intensities(self, prediction: Any) -> Float[Array, " band"]:
        """The model's integrated band intensities (y unit × x unit), `[band]`."""
        xm, ym = windowed_model_curve(self.reference, self.windows, prediction, "BandIntensity")
        return per_window(
            band_intensity, xm, ym, self.windows, self.resolution, self.subtract_baseline
        )

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        im = self.intensities(prediction)
        ie = self.exp_intensities.astype(im.dtype)
        diag = {}
        for k, band in enumerate(self.band_names):
            diag[f"{band}_model"] = as_scalar(im[k])
            diag[f"{band}_exp"] = as_scalar(ie[k])
        return jnp.mean(((im - ie) / ie) ** 2), diag
