"""Before/after plots of a fit: the loss curve and every target's observable vs its data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..losses import as_curve
from ._target import Target

__all__ = ["plot_fit"]


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
