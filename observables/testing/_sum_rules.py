"""Known answers: sum rules, exact correlation functions and values, detailed balance, and
the calibration of reported error bars."""

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

import observables as ob

from ._report import CheckReport, describe, finish, name_of

__all__ = [
    "check_ideal_gas_rdf",
    "check_coordination_numbers",
    "check_vdos_modes",
    "check_correlation_function",
    "check_value",
    "check_detailed_balance",
    "check_error_calibration",
]


def check_ideal_gas_rdf(
    rdf: ob.RDF, trajectory: ob.Trajectory, *, n_sigma: float = 5.0
) -> CheckReport:
    r"""The total $g(r)$ of an ideal gas is 1: the normalisation sum rule of an RDF.

    On frames of independent, uniformly placed atoms (`strategies.ideal_gas()`), the
    shell-volume-weighted mean $\bar g = \sum_i g_i V_i / \sum_i V_i$ over the bins is 1 up to
    counting noise. Its standard deviation is $1/\sqrt{n}$, $n$ the expected number of pairs
    within $r_\max$ over all frames, $n = F\,\tfrac12 N(N-1)\,\tfrac43\pi r_\max^3 / V$. A
    wrong pair normalisation (by $N^2$ instead of $N(N-1)$, a wrong shell volume, distances
    without periodic images) moves $\bar g$ away from 1.

    **Arguments:** `rdf`: an observable returning a total $g(r)$ on uniform bins (an `RDF`
    with `pair=None` and a histogram kernel: a smooth kernel spills weight across the ends
    of the range); `trajectory`: an ideal-gas
    trajectory with independent frames; `n_sigma`: tolerance in standard deviations.

    **Returns:** a `CheckReport` with the deviation $|\bar g - 1|/\sigma$; raises
    `PropertyError` beyond `n_sigma`.
    """
    if getattr(rdf, "pair", None) is not None:
        raise ValueError("check_ideal_gas_rdf needs the total RDF (pair=None)")
    res = rdf(trajectory)
    g = np.asarray(res.y_magnitude, dtype=np.float64)
    edges = _edges(res)
    shells = edges[1:] ** 3 - edges[:-1] ** 3
    g_mean = float(np.sum(g * shells) / np.sum(shells))
    n, volume = trajectory.n_atoms, np.asarray(trajectory.volume, dtype=np.float64)
    sphere = 4.0 / 3.0 * np.pi * (edges[-1] ** 3 - edges[0] ** 3)
    expected_pairs = float(np.sum(0.5 * n * (n - 1) * sphere / volume))
    sigma = 1.0 / np.sqrt(expected_pairs)
    return finish(
        CheckReport(
            "ideal-gas normalisation g(r) = 1",
            name_of(rdf),
            abs(g_mean - 1.0) / sigma,
            n_sigma,
            f"|mean g - 1| / sigma (mean g = {g_mean:.5f}, sigma = {sigma:.2g})",
            describe(trajectory),
        )
    )


def _edges(res) -> np.ndarray:
    centers = np.asarray(res.x.m_as("nm"), dtype=np.float64)
    half = 0.5 * (centers[1] - centers[0]) if len(centers) > 1 else float(centers[0])
    return np.append(centers - half, centers[-1] + half)


def check_coordination_numbers(
    rdf: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    shells: Sequence[tuple[float, int]],
    *,
    rtol: float = 1e-6,
) -> CheckReport:
    r"""Integrating $g(r)$ counts the neighbours of a known structure, shell by shell.

        The running coordination number $n(r) =
    ho' \sum_{i} g_i\,\Delta V_i$ (exact shell
        volumes $\Delta V_i$, partner density $
    ho' = (N-1)/V$ of a total RDF) is evaluated at
        the bin edge nearest to the midpoint between consecutive shells and compared with the
        cumulative neighbour count. Exact for a perfect lattice (`strategies.simple_cubic_lattice`)
        and a histogram RDF whose range reaches past the midpoint before the last shell given.

        **Arguments:** `shells`: (radius in nm, number of neighbours) of consecutive shells
        (the last one only bounds the range); `rtol`: largest accepted relative deviation.

        **Returns:** a `CheckReport` with the worst relative deviation over the shells; raises
        `PropertyError` beyond `rtol`.
    """
    res = rdf(trajectory)
    edges = _edges(res)
    g = np.asarray(res.y_magnitude, dtype=np.float64)
    volume = float(np.mean(np.asarray(trajectory.volume, dtype=np.float64)))
    running = (trajectory.n_atoms - 1) / volume * np.cumsum(g * 4 / 3 * np.pi * np.diff(edges**3))
    worst, where = 0.0, ""
    expected = 0
    for (r_in, count), (r_out, _) in zip(shells[:-1], shells[1:], strict=True):
        expected += count
        k = int(np.argmin(np.abs(edges[1:] - 0.5 * (r_in + r_out))))
        deviation = abs(running[k] - expected) / expected
        if deviation >= worst:
            worst, where = deviation, f"n({edges[k + 1]:.4g} nm) = {running[k]:.6g} vs {expected}"
    return finish(
        CheckReport(
            "coordination numbers (sum rule)",
            name_of(rdf),
            worst,
            rtol,
            f"max |n(r) - count| / count (worst {where})",
            describe(trajectory),
        )
    )


def check_vdos_modes(
    vdos: ob.AbstractObservable, trajectory: ob.Trajectory, *, rtol: float = 1e-6
) -> CheckReport:
    r"""The VDOS counts $3N$ modes: $\int_0^{\nu_\mathrm{Nyquist}} g(\nu)\,d\nu = 3N$.

    The integral is the trapezoid rule over the result's axis, in the result's own units (a
    density in 1/`x_unit`, so the integral is a number). Exact (to rounding) for a VDOS
    normalised by $C(0)$ on the grid from 0 to the Nyquist frequency; a missing $1/2\pi$ or a
    wrong number of atoms breaks it.

    **Returns:** a `CheckReport` with the relative deviation of the integral from $3N$;
    raises `PropertyError` beyond `rtol`.
    """
    res = vdos(trajectory)
    x, y = np.asarray(res.x_magnitude), np.asarray(res.y_magnitude)
    integral = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))
    integral *= float(ob.ureg.Quantity(1.0, f"({res.x_unit})*({res.y_unit})").m_as(""))
    modes = 3 * trajectory.n_atoms
    return finish(
        CheckReport(
            "VDOS sum rule (3N modes)",
            name_of(vdos),
            abs(integral - modes) / modes,
            rtol,
            f"|integral - 3N| / 3N (integral {integral:.6g}, 3N = {modes})",
            describe(trajectory),
        )
    )


def check_correlation_function(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    exact: Callable[[ob.Quantity], ob.Quantity],
    *,
    tolerance: float = 0.1,
) -> CheckReport:
    r"""A time-correlation function matches a known one.

    The correlation function is the result's `correlation` at lag times `time` (a
    `TransportResult`, e.g. from `SelfDiffusion`), or else the result itself, a curve whose
    axis is the lag time. It is compared with `exact(time)` at every lag:
    deviation $= \max_t |C(t) - C_\mathrm{exact}(t)| / |C_\mathrm{exact}(0)|$. With an
    unbiased estimator (normalised by the number of time origins at each lag) only
    sampling noise separates the two; a biased estimator (normalised by the number of
    frames) falls short by the factor $(1 - t/t_\mathrm{total})$.

    **Arguments:** `exact`: lag times (a time `Quantity`) → correlation `Quantity` (any
    compatible unit); `tolerance`: largest accepted deviation (a few times the sampling
    noise of the estimate, which the caller knows from the system's size).

    **Returns:** a `CheckReport`; raises `PropertyError` beyond `tolerance`.
    """
    res = observable(trajectory)
    if hasattr(res, "correlation_magnitude"):
        time, unit = res.time, res.correlation_unit
        measured = np.asarray(res.correlation_magnitude, dtype=np.float64)
    else:
        time, unit = res.x, res.y_unit
        measured = np.asarray(res.y_magnitude, dtype=np.float64)
    target = np.asarray(exact(time).m_as(unit), dtype=np.float64)
    target = target.reshape(target.shape + (1,) * (measured.ndim - target.ndim))
    target = np.broadcast_to(target, measured.shape)
    scale = float(np.max(np.abs(target[0])))
    diff = np.abs(measured - target)
    worst = int(np.argmax(np.max(diff.reshape(len(diff), -1), axis=1)))
    return finish(
        CheckReport(
            "correlation function = exact",
            name_of(observable),
            float(np.max(diff)) / scale,
            tolerance,
            f"max |C - C_exact| / |C_exact(0)| (worst at lag {worst} of {len(diff)})",
            describe(trajectory),
        )
    )


def check_value(
    observable: ob.AbstractObservable,
    trajectory: ob.Trajectory,
    expected: ob.Quantity,
    *,
    n_sigma: float = 5.0,
    rtol: float = 0.0,
) -> CheckReport:
    r"""The observable's value agrees with a known answer within its reported error bar.

    deviation $= \max |y - y_e| / \sqrt{\sigma^2 + (\mathrm{rtol}\,y_e)^2}$ ($y_e$ exact),
    $\sigma$ the result's standard error (`error`), `rtol` an allowance for a known
    systematic error (discretisation, a finite window). A factor slip (fs read as ps,
    a missing $2\pi$) gives a deviation of thousands.

    **Arguments:** `expected`: the exact value, a `Quantity` in any unit compatible with the
    observable's `y_unit`; `n_sigma`: tolerance; `rtol`: relative systematic allowance (needed
    when the result has no error bar).

    **Returns:** a `CheckReport`; raises `PropertyError` beyond `n_sigma`.
    """
    res = observable(trajectory)
    y = np.asarray(res.y_magnitude, dtype=np.float64)
    target = np.asarray(expected.m_as(res.y_unit), dtype=np.float64)
    sigma2 = (rtol * target) ** 2
    if res.error_magnitude is not None:
        sigma2 = sigma2 + np.asarray(res.error_magnitude, dtype=np.float64) ** 2
    if np.any(sigma2 <= 0):
        raise ValueError("check_value: the result has no error bar; give rtol > 0")
    z = float(np.max(np.abs(y - target) / np.sqrt(sigma2)))
    return finish(
        CheckReport(
            "value = known answer",
            name_of(observable),
            z,
            n_sigma,
            f"|y - exact| / sigma (y = {np.round(y, 6).tolist()}, exact = "
            f"{np.round(target, 6).tolist()} {res.y_unit})",
            describe(trajectory),
        )
    )


def check_detailed_balance(
    correction: ob.AbstractQuantumCorrection,
    temperature: float,
    *,
    omega_max: float = 400.0,
    rtol: float = 1e-10,
) -> CheckReport:
    r"""A quantum-corrected spectrum obeys detailed balance:
    $S(-\omega) = e^{-\beta\hbar\omega} S(\omega)$.

    Applies `correction.corrected` to an even classical spectrum (a Lorentzian pair on a
    Gaussian background) on a grid symmetric about 0, `omega_max` rad/ps wide, at
    `temperature` (K), and measures the largest relative violation, with
    $\beta\hbar\omega$ computed here from `HBAR` and `BOLTZMANN`.

    **Returns:** a `CheckReport`; raises `PropertyError` beyond `rtol` (the `Classical`
    correction, which is symmetric, fails it by design).
    """
    omega = jnp.linspace(-omega_max, omega_max, 401)
    a = np.abs(np.asarray(omega))
    classical = jnp.asarray(1.0 / (1.0 + ((a - 0.4 * omega_max) / 20.0) ** 2) + 0.3 * np.exp(-a))
    quantum = np.asarray(correction.corrected(omega, classical, temperature), dtype=np.float64)
    x = np.asarray(omega, dtype=np.float64) * ob.HBAR / (ob.BOLTZMANN * temperature)
    expected = np.exp(-x) * quantum
    deviation = float(np.max(np.abs(quantum[::-1] - expected) / np.abs(expected)))
    return finish(
        CheckReport(
            "detailed balance S(-w) = exp(-b hbar w) S(w)",
            name_of(correction),
            deviation,
            rtol,
            "max relative violation",
            f"|omega| <= {omega_max} rad/ps at {temperature} K",
        )
    )


def check_error_calibration(
    observable: ob.AbstractObservable,
    replicas: Sequence[ob.Trajectory],
    expected: Any,
    *,
    factor: float = 2.0,
) -> CheckReport:
    r"""Reported error bars are calibrated: over independent replicas, the z-scores
    $z = (y - y_\mathrm{exact})/\sigma$ have a root mean square near 1.

    **Arguments:** `replicas`: independent trajectories of the same system (e.g. drawn from
    a physical strategy with different seeds; at least 10 for a meaningful test, the rms of
    $R$ z-scores scatters by about $1/\sqrt{2R}$); `expected`: the exact value, a `Quantity`
    compatible with `y_unit`; `factor`: the accepted band is $1/\mathrm{factor} \le
    \mathrm{rms}\,z \le \mathrm{factor}$. Error bars from $B$ blocks are themselves
    uncertain: $z$ then follows Student's t with $B-1$ degrees of freedom, whose rms is
    $\sqrt{(B-1)/(B-3)}$ (1.41 for 5 blocks), inside the default band.

    **Returns:** a `CheckReport` with deviation $|\ln \mathrm{rms}\,z|$ and tolerance
    $\ln \mathrm{factor}$; raises `PropertyError` outside the band (error bars too small or
    too large).
    """
    z = []
    for trajectory in replicas:
        res = observable(trajectory)
        if res.error_magnitude is None:
            raise ValueError("check_error_calibration: the observable reports no error bar")
        target = np.asarray(expected.m_as(res.y_unit))
        z.append((np.asarray(res.y_magnitude) - target) / np.asarray(res.error_magnitude))
    rms = float(np.sqrt(np.mean(np.square(z))))
    return finish(
        CheckReport(
            "error bars calibrated (rms z = 1)",
            name_of(observable),
            abs(float(np.log(rms))),
            float(np.log(factor)),
            f"|ln rms z| (rms z = {rms:.3g} over {len(z)} replicas)",
            describe(replicas[0]),
        )
    )
