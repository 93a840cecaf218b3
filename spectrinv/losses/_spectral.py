r"""Shape losses for spectra: Wasserstein-1 distance and band positions.

Both compare where the intensity is rather than how much there is, so they are insensitive
to an overall intensity scale (e.g. the charges of a dipole model) and give useful gradients
when model and experimental bands do not overlap yet (a pointwise MSE between two
non-overlapping peaks has almost no gradient with respect to their positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pint
from jaxtyping import Array, Float

from ._base import LossError, as_scalar, check_name
from ._curve import AbstractCurveLoss, curve_reference
from ._grid import cumulative_trapezoid, trapezoid
from ._normalisation import AreaNormalised
from ._prediction import curve_of, is_concrete
from ._reference import Reference
from ._units import convert_pair

__all__ = [
    "Wasserstein1",
    "PeakPosition",
    "band_centroid",
    "check_windows",
    "windowed_model_curve",
    "per_window",
    "band_names_for",
]


class Wasserstein1(AbstractCurveLoss):
    r"""Wasserstein-1 (earth mover's) distance between two spectra as distributions over x.

    Both curves are taken on the experimental grid over the compared range, negative values
    are clipped to zero ($y^+ = \max(y, 0)$; their gradient is then zero), and each is divided
    by its area, giving densities $p$, $q$ with $\int p = \int q = 1$. With the cumulative
    distributions $P(x) = \int_{x_0}^{x} p$, $Q(x) = \int_{x_0}^{x} q$ (trapezoid rule),

    $$ W_1 = \int |P(x) - Q(x)|\,dx \quad(\text{trapezoid over the experimental grid}), $$

    the 1-D closed form of the optimal-transport distance. **Units:** the x unit (e.g. cm⁻¹):
    for two copies of one band shifted by Δ, $W_1 = |Δ|$. Differentiable w.r.t. the model's y
    (through the interpolation, the normalisation and $|\cdot|$, whose derivative at 0 is
    taken as 0). Either curve with zero area in the range raises an error.

    **Arguments:** `reference`: a curve `Reference`; `name`: the key in `terms` (default
    `"w1"`). No `normalisation`: area normalisation is part of the definition.

    ??? cite
        S. S. Vallender, "Calculation of the Wasserstein distance between probability
        distributions on the line", Theory Probab. Appl. 18, 784 (1973) (W₁ in 1-D is the
        L¹ distance of the distribution functions); C. Villani, *Optimal Transport: Old
        and New*, Springer (2009).
    """

    reference: Reference
    name: str = eqx.field(static=True)

    def __init__(self, reference: Reference, *, name: str = "w1"):
        self.reference = curve_reference(reference, "Wasserstein1")
        self.name = check_name(name)
        ref_y = np.maximum(np.asarray(self.reference.y), 0.0)
        AreaNormalised().check(np.asarray(self.reference.x), ref_y)

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        x, model, exp, mask = self._curves(prediction)
        area = AreaNormalised()
        p = area(x, jnp.maximum(model, 0.0), mask)
        q = area(x, jnp.maximum(exp, 0.0), mask)
        cdf_p = cumulative_trapezoid(p, x, mask)
        cdf_q = cumulative_trapezoid(q, x, mask)
        return trapezoid(jnp.abs(cdf_p - cdf_q), x, mask), {}


def band_centroid(
    x: Float[Array, " point"],
    y: Float[Array, " point"],
    lo: float,
    hi: float,
    *,
    resolution: int,
    subtract_baseline: bool,
) -> Float[Array, ""]:
    r"""Centroid $\int u\,w(u)\,du / \int w(u)\,du$ of the band in the window `[lo, hi]`.

    The curve is linearly interpolated onto `resolution` uniform points $u$ spanning the
    window; $w = \max(y - b, 0)$ with $b$ the straight line through the curve's values at the
    window edges (`subtract_baseline`) or $b = 0$. Trapezoid rule. Same units as `x`. When
    (almost: less than 10⁻⁶ of the window's area) no part of the curve lies above the
    baseline, the band has left the window through the edge where the curve is higher, and
    the value returned is half a window beyond that edge (lo − (hi − lo)/2 or
    hi + (hi − lo)/2): a position loss then rises, with no gradient from this band, and
    the history shows where the band went; widen the window. (The centroid of the tail or
    background left in the window says nothing about where the band is: for a flat
    background it is the window's middle, a spurious optimum a fit fell into.)
    NumPy arrays in, NumPy out (used for the experiment when the loss is built); JAX arrays
    in, JAX out (the model, inside `jit`): the same formula for both.
    """
    u, w = _band_weights(x, y, lo, hi, resolution, subtract_baseline)
    xp = np if isinstance(w, np.ndarray) else jnp
    norm = _trapz(w, u, xp)
    if not subtract_baseline:
        return _trapz(u * w, u, xp) / xp.where(norm > 0, norm, 1.0)
    # (almost) nothing above the baseline: the band has left the window through the edge
    # where the curve is higher, and only a tail or background (with round-off) remains,
    # whose centroid says nothing about where the band is (a flat background's is the
    # window's middle, a fit's spurious optimum). Report half a window beyond that edge.
    yu = xp.interp(u, x.astype(y.dtype), y)
    norm0 = _trapz(xp.abs(yu), u, xp)
    above = norm > _ABOVE_BASELINE * norm0
    centroid = _trapz(u * w, u, xp) / xp.where(above, norm, 1.0)
    half = 0.5 * (hi - lo)
    outside = xp.where(yu[0] >= yu[-1], lo - half, hi + half)
    return xp.where(above, centroid, outside)


#: the least area above the baseline, relative to the window's whole area, for the
#: baseline-subtracted centroid to be used (below it, the band has left the window)
_ABOVE_BASELINE = 1e-6


def _trapz(f, u, xp):
    return xp.sum(0.5 * (f[1:] + f[:-1]) * (u[1:] - u[:-1]))


def _band_weights(x, y, lo, hi, resolution, subtract_baseline):
    xp = np if isinstance(y, np.ndarray) and isinstance(x, np.ndarray) else jnp
    u = xp.linspace(lo, hi, resolution, dtype=y.dtype)
    yu = xp.interp(u, x.astype(y.dtype), y)
    if subtract_baseline:
        yu = yu - (yu[0] + (yu[-1] - yu[0]) * (u - lo) / (hi - lo))
    return u, xp.maximum(yu, 0.0)


class PeakPosition(AbstractCurveLoss):
    r"""Positions of bands, model vs experiment.

    In each window $[a_k, b_k]$ the band position is the **centroid** of the band above a
    linear baseline through the window edges,

    $$ \bar x_k = \frac{\int_{a_k}^{b_k} x\, w(x)\,dx}{\int_{a_k}^{b_k} w(x)\,dx}, \qquad
       w = \max(y - b, 0), $$

    computed the same way for the model and the experiment (both linearly interpolated onto
    `resolution` uniform points spanning the window, trapezoid rule), and the loss is

    $$ L = \frac1K \sum_k (\bar x_k^\text{model} - \bar x_k^\text{exp})^2 \;[\text{x unit}^2]
       \quad\text{or, with } \texttt{relative=True},\quad
       \frac1K \sum_k \Big(\frac{\bar x_k^\text{model} - \bar x_k^\text{exp}}
       {\bar x_k^\text{exp}}\Big)^2 . $$

    **Why the centroid:** it is a smooth (rational) function of the intensities, so its
    gradient exists everywhere and has no free parameter, and it is independent of the
    intensity scale. The arg-max is piecewise constant (zero gradient); a soft-argmax
    $\sum x e^{y/T}/\sum e^{y/T}$ needs a temperature $T$ matched to the intensity scale and
    tends to the window centre for broad bands. The centroid equals the maximum only for
    symmetric bands: for an asymmetric band (the O–H stretch of water) it lies on the side
    of the longer tail, for model and experiment alike, so compare the windows' centroids,
    not a centroid with a tabulated maximum. Choose windows that contain one band each,
    for the model too, from the starting parameters on: a model band that has left its
    window is reported half a window beyond the edge it left through (see
    `band_centroid`), which raises the loss but no longer pulls the band back.

    `terms` reports each band's model and experimental position (x unit) as
    `<name>/<band>_model` and `<name>/<band>_exp`, bands named `peak_1`, `peak_2`, ... or
    by `band_names`.

    **Arguments:**

    - `reference`: a curve `Reference` (the windows must lie inside its data, after its
      `x_range`; its `clip` plays no part).
    - `windows`: a sequence of `(lo, hi)` Quantities (or Quantities of two values), inside
      the dataset's range and each holding at least 3 experimental points.
    - `band_names`: names of the windows (default `peak_1`, ...).
    - `relative`: compare relative shifts (dimensionless) instead of squared shifts.
    - `subtract_baseline`: subtract the line through the window edges (default True).
    - `resolution`: interpolation points per window (default 512).
    - `name`: the key in `terms` (default `"peak_position"`).

    ??? cite
        Band centroids are first spectral moments: R. G. Gordon, "Molecular motion in
        infrared and Raman spectra", J. Chem. Phys. 43, 1307 (1965).
    """

    reference: Reference
    windows: tuple[tuple[float, float], ...] = eqx.field(static=True)
    band_names: tuple[str, ...] = eqx.field(static=True)
    exp_positions: Float[Array, " band"]
    relative: bool = eqx.field(static=True)
    subtract_baseline: bool = eqx.field(static=True)
    resolution: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        reference: Reference,
        *,
        windows: Sequence[Any],
        band_names: Sequence[str] | None = None,
        relative: bool = False,
        subtract_baseline: bool = True,
        resolution: int = 512,
        name: str = "peak_position",
    ):
        ref = self.reference = curve_reference(reference, "PeakPosition")
        self.name = check_name(name)
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise ValueError(f"resolution must be an int >= 8, got {resolution!r}")
        self.resolution = resolution
        self.relative = bool(relative)
        self.subtract_baseline = bool(subtract_baseline)
        x, y = np.asarray(ref.x), np.asarray(ref.y)
        self.windows = check_windows(windows, x, y, ref, resolution, self.subtract_baseline)
        self.band_names = band_names_for(band_names, len(self.windows))
        self.exp_positions = per_window(
            band_centroid, x, y, self.windows, resolution, self.subtract_baseline
        )

    def positions(self, prediction: Any) -> Float[Array, " band"]:
        """The model's band positions (x unit), `[band]`."""
        xm, ym = windowed_model_curve(self.reference, self.windows, prediction, "PeakPosition")
        return per_window(
            band_centroid, xm, ym, self.windows, self.resolution, self.subtract_baseline
        )

    def evaluate(self, prediction: Any) -> tuple[Float[Array, ""], dict[str, Array]]:
        pm = self.positions(prediction)
        pe = self.exp_positions.astype(pm.dtype)
        d = (pm - pe) / pe if self.relative else pm - pe
        diag = {}
        for k, band in enumerate(self.band_names):
            diag[f"{band}_model"] = as_scalar(pm[k])
            diag[f"{band}_exp"] = as_scalar(pe[k])
        return jnp.mean(d**2), diag


def per_window(
    measure: Any,
    x: Any,
    y: Any,
    windows: tuple[tuple[float, float], ...],
    resolution: int,
    subtract_baseline: bool,
) -> Float[Array, " band"]:
    """`measure(x, y, lo, hi, resolution=..., subtract_baseline=...)` (`band_centroid`,
    `band_intensity`) of every window, stacked `[band]` (NumPy or JAX curves)."""
    return jnp.stack(
        [
            measure(x, y, lo, hi, resolution=resolution, subtract_baseline=subtract_baseline)
            for lo, hi in windows
        ]
    )


def windowed_model_curve(
    ref: Reference, windows: tuple[tuple[float, float], ...], prediction: Any, who: str
) -> tuple[Array, Array]:
    """The model curve `(x, y)` in the reference's units, refused (eagerly, or with
    `eqx.error_if` under `jit`) when it does not cover every window."""
    where = f"{who} ({ref.description})"
    xm, ym = curve_of(
        prediction, x_unit=ref.x_unit, y_unit=ref.y_unit, model_x=ref.model_x, where=where
    )
    xm = xm.astype(ym.dtype)
    lo_all = min(w[0] for w in windows)
    hi_all = max(w[1] for w in windows)
    if is_concrete(xm):
        if float(xm[0]) > lo_all or float(xm[-1]) < hi_all:
            raise LossError(
                f"{where}: the windows span [{lo_all:g}, {hi_all:g}] {ref.x_unit}, but the "
                f"model covers only [{float(xm[0]):g}, {float(xm[-1]):g}] {ref.x_unit}"
            )
    else:
        xm = eqx.error_if(
            xm,
            (xm[0] > lo_all) | (xm[-1] < hi_all),
            f"{where}: the model does not cover the windows [{lo_all:g}, {hi_all:g}] {ref.x_unit}",
        )
    return xm, ym


def band_names_for(band_names: Sequence[str] | None, n: int) -> tuple[str, ...]:
    """`band_names` checked (n distinct names), or `peak_1`, ..., `peak_n`."""
    if band_names is None:
        return tuple(f"peak_{k + 1}" for k in range(n))
    names = tuple(check_name(b) for b in band_names)
    if len(names) != n or len(set(names)) != len(names):
        raise ValueError(f"band_names must be {n} distinct names, got {names!r}")
    return names


def check_windows(
    windows: Any,
    x: np.ndarray,
    y: np.ndarray,
    ref: Reference,
    resolution: int,
    subtract_baseline: bool,
    who: str = "PeakPosition",
) -> tuple[tuple[float, float], ...]:
    """The windows as `(lo, hi)` floats in the reference's x unit, each inside the data,
    holding >= 3 experimental points and a band above the baseline."""
    if _is_pair_quantity(windows) or (
        isinstance(windows, tuple | list)
        and len(windows) == 2
        and not isinstance(windows[0], tuple | list)
        and not _is_pair_quantity(windows[0])
    ):
        windows = [windows]  # a single (lo, hi) window
    windows = list(windows)
    if not windows:
        raise ValueError(f"{who} needs at least one window (lo, hi)")
    xu, label = ref.x_unit, ref.description
    converted = []
    for k, w in enumerate(windows):
        lo, hi = convert_pair(w, xu, f"{who} window {k + 1}")
        if lo < x[0] or hi > x[-1]:
            raise LossError(
                f"{who}: window {k + 1} [{lo:g}, {hi:g}] {xu} lies outside "
                f"{label}, which covers [{x[0]:g}, {x[-1]:g}] {xu}"
            )
        n_in = int(np.sum((x >= lo) & (x <= hi)))
        if n_in < 3:
            raise LossError(
                f"{who}: window {k + 1} [{lo:g}, {hi:g}] {xu} holds {n_in} point(s) "
                f"of {label}; widen it to at least 3 points"
            )
        u, wts = _band_weights(x, y, lo, hi, resolution, subtract_baseline)
        if not _trapz(wts, u, np) > 0:
            raise LossError(
                f"{who}: {label} has no band above the baseline in window "
                f"{k + 1} [{lo:g}, {hi:g}] {xu}"
            )
        converted.append((lo, hi))
    return tuple(converted)


def _is_pair_quantity(w: Any) -> bool:
    return isinstance(w, pint.Quantity) and np.ndim(w.magnitude) == 1
