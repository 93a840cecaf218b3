"""Before/after plots of a fit: the loss curve and every target's observable vs its data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..losses import as_curve
from ._target import Target

__all__ = ["plot_fit", "plot_uncertainty"]


def _curve(observed: Any, target: Target) -> tuple[np.ndarray, np.ndarray, str, str] | None:
    """(x, y, x_label, y_label) of an observable's output, in the dataset's units when one
    is given (so model and experiment share axes); `None` for scalars."""
    return as_curve(observed, target.dataset, observable=target.objective.observe)


def plot_fit(
    output_dir: Path,
    targets: Sequence[Target],
    history: list[dict],
    initial: dict | None,
    final: dict | None,
) -> None:
    """Write `loss.png` and `<target>.png` (data, before, after) into `output_dir`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if history:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        steps = [r["step"] for r in history]
        ax.plot(steps, [r["loss"] for r in history], "o-", label="total")
        if len(history[0]["targets"]) > 1:
            for name in history[0]["targets"]:
                ax.plot(steps, [r["targets"][name]["loss"] for r in history], ".--", label=name)
        ax.set_xlabel("fit step")
        ax.set_ylabel("loss")
        if all(r["loss"] > 0 for r in history):
            ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(output_dir / "loss.png", dpi=120)
        plt.close(fig)
    for t in targets:
        before = (initial or {}).get(t.name)
        after = (final or {}).get(t.name)
        if before is None and after is None:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        plotted = False
        for obs, label, style in ((before, "before", "--"), (after, "after", "-")):
            if obs is None:
                continue
            curve = _curve(obs, t)
            if curve is None:
                continue
            x, y, xl, yl = curve
            ax.plot(x, y, style, label=f"model {label}")
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            plotted = True
        if t.dataset is not None and t.dataset.x is not None:
            x_exp = np.asarray(t.dataset.x)
            ax.plot(x_exp, np.asarray(t.dataset.y), "k-", lw=1, label="experiment")
            pad = 0.05 * (x_exp.max() - x_exp.min())
            ax.set_xlim(max(0.0, x_exp.min() - pad), x_exp.max() + pad)  # the compared range
        if not plotted:
            plt.close(fig)
            continue
        ax.set_title(t.name)
        ax.legend()
        fig.tight_layout()
        fig.savefig(output_dir / f"{t.name}.png", dpi=120)
        plt.close(fig)


def plot_uncertainty(uncertainty: Any, path: Path) -> None:
    """Write the 1σ and 2σ error ellipses of every parameter pair to `path` (a PNG).

    Each panel is the marginal Gaussian of two parameters $(\\theta_j, \\theta_k)$ with the
    covariance block $C_{[jk]}$ of `uncertainty` (a `ParameterUncertainty`): the contour
    $\\Delta^\\mathsf{T} C_{[jk]}^{-1}\\Delta = c^2$ with $c^2$ = 2.30 (1σ, 68.3 % of a
    2-D Gaussian) and 6.18 (2σ, 95.4 %), drawn relative to the fitted values
    ($\\delta\\theta/\\theta$, in %) so that every axis is unitless. A pair that involves an
    unconstrained parameter is drawn as a band along the unconstrained direction and
    labelled.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    u = uncertainty
    p = len(u.names)
    if p < 2:
        raise ValueError("error ellipses need at least two parameters")
    scale = np.where(u.values != 0, np.abs(u.values), 1.0)
    cov = u.covariance / scale[:, None] / scale[None, :] * 1e4  # (%)²
    n = p - 1
    fig, axes = plt.subplots(n, n, figsize=(3.2 * n + 0.6, 3.2 * n), squeeze=False)
    t = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(t), np.sin(t)])
    for row in range(n):
        for col in range(n):
            ax = axes[row][col]
            j, k = col, row + 1
            if j >= k:
                ax.axis("off")
                continue
            block = cov[np.ix_([j, k], [j, k])]
            w, v = np.linalg.eigh(block)
            free = not (np.isfinite(u.standard_errors[j]) and np.isfinite(u.standard_errors[k]))
            for c2, style, label in ((2.30, "-", "1σ"), (6.18, "--", "2σ")):
                radii = np.sqrt(c2 * np.clip(w, 0.0, None))
                pts = v @ (radii[:, None] * circle)
                ax.plot(pts[0], pts[1], style, color="C0", label=label)
            ax.plot([0], [0], "k+")
            if free:
                for m in np.flatnonzero(u.unconstrained):
                    d = u.eigenvectors[[j, k], m]
                    if np.abs(d).sum() > 1e-6:
                        ax.axline((0, 0), (float(d[0]), float(d[1])), color="C3", ls=":")
                ax.set_title("unconstrained (dotted)", fontsize=9, color="C3")
            ax.set_xlabel(f"δ{u.names[j]} / {u.names[j]} (%)")
            ax.set_ylabel(f"δ{u.names[k]} / {u.names[k]} (%)")
            ax.axhline(0, color="0.8", lw=0.5)
            ax.axvline(0, color="0.8", lw=0.5)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle(
        f"error ellipses ({u.n_data} compared values; condition number {u.condition_number:.3g})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
