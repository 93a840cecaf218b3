"""Run a `spectrinv fit` TOML config through the Python API, working around a current gap.

`spectrinv fit CONFIG` writes a checkpoint after every step; with `kind = "reweighting"` the
strategy's cache holds jax-md neighbour lists whose static fields are closures
(`update_fn`, `cell_list_fn`), which `pickle` cannot store, so the CLI stops after the first
step ("Can't pickle local object 'neighbor_list.<locals>.neighbor_list_fn'"). This script
loads the same config, wraps each `Reweighting` strategy so that its cache keeps only the
list's arrays (the reweighted estimate uses `idx` only), and runs the same `fit`. For the
other strategies it is the same as the CLI.

Usage (from the repository root):
`python docs/examples/lj_rdf/run_config.py docs/examples/lj_rdf/fit_reweighting.toml OUT [STEPS]`
"""

from __future__ import annotations

import dataclasses
import sys

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402

from spectrinv.fit import load_config  # noqa: E402
from spectrinv.gradients import AbstractGradient, Reweighting  # noqa: E402


class PicklableReweighting(AbstractGradient):
    """`Reweighting` whose returned cache holds neighbour lists without closures."""

    inner: Reweighting

    @property
    def stride(self) -> int:
        return self.inner.stride

    def __call__(self, objective, params, static, *, backend, system, state, key, cache=None):
        res = self.inner(
            objective,
            params,
            static,
            backend=backend,
            system=system,
            state=state,
            key=key,
            cache=cache,
        )
        c = res.cache
        if c is not None and c.neighbors is not None:
            nb = dataclasses.replace(c.neighbors, update_fn=None, cell_list_fn=None)
            c = eqx.tree_at(lambda x: x.neighbors, c, nb)
            res = dataclasses.replace(res, cache=c)
        return res


def picklable(config):
    targets = [
        eqx.tree_at(lambda t: t.gradient, t, PicklableReweighting(t.gradient))
        if isinstance(t.gradient, Reweighting)
        else t
        for t in config.targets
    ]
    return dataclasses.replace(config, targets=targets)


def main() -> None:
    config = picklable(load_config(sys.argv[1]))
    if len(sys.argv) > 3:
        config = dataclasses.replace(config, steps=int(sys.argv[3]))
    result = config.run(sys.argv[2])
    print("final potential:", result.potential)
    print("loss", result.initial_loss, "->", result.final_loss)


if __name__ == "__main__":
    main()
