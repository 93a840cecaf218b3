"""Pieces of the fitting loop: evaluating the targets at one step, the history rows
(JSON numbers, per-parameter gradient noise, the printed progress line) and the checkpoint
payload."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..gradients import GradientWarning, tree_norm
from ._checkpoint import leaves_to_numpy, restore, to_numpy_tree
from ._md import init_state, saved_box
from ._params import flat_parameters

__all__ = ["evaluate", "float_dict", "payload", "print_row", "read_history"]


def float_dict(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        a = np.asarray(v)
        if a.dtype.kind in "biuf" or a.dtype == bool:
            out[k] = a.item() if a.ndim == 0 else a.tolist()
    return out


def _diagnostics(name: str, diagnostics: dict) -> dict:
    """A strategy's diagnostics as JSON numbers; the per-parameter gradient noise
    (`grad_stderr`, `grad_snr`: pytrees like the gradient) by parameter name. Warns
    (`GradientWarning`) when a parameter's gradient is below its noise (SNR < 1)."""
    per_parameter = {k: diagnostics[k] for k in ("grad_stderr", "grad_snr") if k in diagnostics}
    out = float_dict({k: v for k, v in diagnostics.items() if k not in per_parameter})
    for k, v in per_parameter.items():
        out[k] = float_dict(flat_parameters(v))
    noisy = [p for p, snr in out.get("grad_snr", {}).items() if np.all(np.asarray(snr) < 1)]
    if noisy:
        warnings.warn(
            f"target {name!r}: the gradient of {', '.join(noisy)} is smaller than its standard "
            "error (signal-to-noise < 1); the step follows noise — use more segments, "
            "replicas or frames",
            GradientWarning,
            stacklevel=4,
        )
    return out


def evaluate(targets, params, static, configs, caches, key_step, prior=None):
    potential = eqx.combine(params, static)
    total, grads = 0.0, None
    row: dict = {"targets": {}}
    observed, new_configs, new_caches = {}, {}, {}
    for i, t in enumerate(targets):
        cfg = configs[t.name]
        state = init_state(t, potential, cfg)
        res = t.gradient(
            t.objective,
            params,
            static,
            backend=t.backend,
            system=t.system,
            state=state,
            key=jax.random.fold_in(key_step, i),
            cache=caches.get(t.name),
        )
        loss = float(res.loss)
        total += loss
        g = res.grad
        grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
        terms = {}
        term_fn = getattr(t.objective.loss, "terms", None)
        if callable(term_fn):
            terms = float_dict(term_fn(res.observed))
        row["targets"][t.name] = {
            "loss": loss,
            "terms": terms,
            "grad": float_dict(flat_parameters(res.grad)),
            "diagnostics": _diagnostics(t.name, res.diagnostics),
        }
        observed[t.name] = res.observed
        new_configs[t.name] = {
            "positions": np.asarray(res.state.positions),
            "velocities": np.asarray(res.state.velocities),
            "neighbor_capacity": max(state.neighbor_capacity, res.state.neighbor_capacity),
            **saved_box(res.state),
        }
        new_caches[t.name] = res.cache
    if prior is not None:
        value, g = jax.value_and_grad(lambda p: prior(eqx.combine(p, static)))(params)
        total += float(value)
        grads = g if grads is None else jax.tree.map(jnp.add, grads, g)
        row["prior"] = float(value)
    row = {"loss": total, "grad_norm": float(tree_norm(grads)), **row}
    return total, grads, row, observed, new_configs, new_caches


def _portable(cache):
    """A gradient cache as it is checkpointed: `cache.portable()` when the strategy defines
    it (e.g. `ReweightingCache` drops its neighbour lists), on the host. Reference
    parameters held by the cache (`cache.params`, the fit's parameter partition) are kept as
    their array leaves only, so a potential class of the user's own (which a checkpoint may
    not name: loading it would import code) checkpoints like the package's; `restore_cache`
    puts them back into the fit's parameter structure."""
    portable = getattr(cache, "portable", None)
    cache = portable() if callable(portable) else cache
    if isinstance(cache, eqx.Module) and getattr(cache, "params", None) is not None:
        cache = eqx.tree_at(lambda c: c.params, cache, list(leaves_to_numpy(cache.params)))
    return to_numpy_tree(cache)


def restore_cache(cache, params):
    """Inverse of the parameter part of `_portable`: a cache whose `params` were saved as
    leaves gets them back in the structure of `params` (the fit's parameter partition)."""
    if isinstance(cache, eqx.Module) and isinstance(getattr(cache, "params", None), list):
        saved = restore(params, cache.params, "reference parameters of a gradient cache")
        return eqx.tree_at(lambda c: c.params, cache, saved, is_leaf=lambda x: x is None)
    return cache


def payload(
    fingerprint, step, params, opt_state, configs, caches, initial, final=None, convergence=None
):
    caches = {name: _portable(c) for name, c in caches.items()}
    return {
        "fingerprint": fingerprint,
        "step": step,
        "params": leaves_to_numpy(params),
        "opt_state": leaves_to_numpy(opt_state),
        "configurations": configs,
        "caches": caches,
        "initial": initial,
        "final": final,
        "convergence": convergence,
    }


def read_history(path: Path, n_rows: int) -> list[dict]:
    """The first `n_rows` rows of the history (a crash may have left one row beyond the
    checkpoint, or a half-written line); the file is rewritten to match the checkpoint."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    rows = rows[:n_rows]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _with_units(values: dict, units: dict[str, str]) -> str:
    """`name = value unit, ...` for the scalar parameters (internal units)."""
    return ", ".join(
        f"{k} = {v:.6g}" + (f" {units[k]}" if units.get(k) else "")
        for k, v in values.items()
        if np.isscalar(v)
    )


def print_row(row: dict, units: dict[str, str] | None = None) -> None:
    """One line per step: loss, gradient norm, each target's loss and terms, and the
    parameters with their (internal) units where `units` (`{name: unit}`) knows them."""
    units = units or {}
    tag = "final" if row.get("final") else f"step {row['step']:4d}"
    params = _with_units(row["params"], units)
    if "params_avg" in row and not row.get("final"):
        params += f"  (average: {_with_units(row['params_avg'], units)})"
    if row.get("stopped_early"):
        tag += " (stopped early)"
    parts = []
    for name, t in row["targets"].items():
        extra = ", ".join(
            f"{k}={v:.5g}" for k, v in t["terms"].items() if isinstance(v, float | int)
        )
        parts.append(f"{name}: {t['loss']:.5g}" + (f" ({extra})" if extra else ""))
    print(
        f"{tag}  loss {row['loss']:.6g}  |grad| {row['grad_norm']:.3g}  [{'; '.join(parts)}]  "
        f"{params}  ({row['wall_time_s']:.1f} s)",
        flush=True,
    )
