"""`spectrinv fit CONFIG` and `spectrinv quickstart`: fits from the command line.

Both switch JAX to float64 (the configs' default precision) before anything is built; the
library itself never flips global JAX configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ._common import CLIError, check_output_folder, progress

__all__ = ["QUICKSTART", "add_commands"]

#: The TOML configuration `spectrinv quickstart` runs (shipped inside `spectrinv.fit`).
QUICKSTART = Path(__file__).resolve().parents[1] / "fit" / "quickstart.toml"


def _run(config_path: Path, args: argparse.Namespace, label: str) -> int:
    if args.out:  # before the config builds anything (a water box is minimised)
        check_output_folder(Path(args.out), f"--out {args.out}")
    import jax

    jax.config.update("jax_enable_x64", True)
    from ..fit import CheckpointError, ConfigError, load_config

    try:
        with progress(f"building the targets of {config_path.name}"):
            config = load_config(config_path)
    except ConfigError as err:
        raise CLIError(str(err)) from None
    if args.steps is not None:
        if args.steps < 0:
            raise CLIError(f"--steps must be >= 0, got {args.steps}")
        import dataclasses

        config = dataclasses.replace(config, steps=args.steps)
    if getattr(args, "check", False):
        return _check(config, label)
    out = Path(args.out or config.output)
    check_output_folder(out, f"--out {out}" if args.out else f"[fit] output {out}")
    names = ", ".join(t.name for t in config.targets)
    print(
        f"{label}: {len(config.targets)} target(s) ({names}), {config.steps} steps, "
        f"output in {out}/",
        flush=True,
    )
    try:
        result = config.run(out, resume=not args.restart)
    except CheckpointError as err:
        raise CLIError(str(err)) from None
    summary = json.loads((out / "fit.json").read_text())  # written by fit(); fail if missing
    first, last = result.history[0], result.history[-1]
    if summary.get("stopped_early"):
        print(
            f"stopped early after {summary['steps_run']} of {summary['steps']} steps: "
            f"{summary['stop_reason']}"
        )
    averaging = summary.get("averaging")
    if averaging and averaging["iterates"]:
        print(
            f"final parameters: the {averaging['kind']} average of {averaging['iterates']} "
            f"iterates from step {averaging['start']} on"
        )
    print(f"loss: {first['loss']:.6g} -> {last['loss']:.6g}")
    print(_parameter_lines(result.potential, first["params"], last["params"]))
    for target in first["targets"]:
        terms0 = first["targets"][target]["terms"]
        terms1 = last["targets"][target]["terms"]
        for key, v0 in terms0.items():
            if isinstance(v0, float | int) and key in terms1:
                print(f"  {key}: {v0:.6g} -> {terms1[key]:.6g}")
    if result.uncertainty is not None:
        print(result.uncertainty)
    elif "error" in summary.get("uncertainty", {}):
        print(f"parameter uncertainty not computed: {summary['uncertainty']['error']}")
    if config.refine:
        k, n = config.refine["references"], config.refine["passes"]
        print(f"refining from independent references ({n} pass(es) of {k})", flush=True)
        print(config.refine_fit(result, out))
        print(f"refined answer and errors: {out / 'refine.json'}")
    print(f"history: {out / 'history.jsonl'}; plots: {out}/*.png; summary: {out / 'fit.json'}")
    return 0


def _parameter_lines(potential, first: dict, last: dict) -> str:
    """`  name = first -> last unit`, one line per parameter (internal units; an array
    parameter prints its values as lists)."""
    from ..fit import parameter_units

    units = parameter_units(potential, list(first))
    lines = []
    for (name, a), unit in zip(first.items(), units, strict=True):
        b = last[name]
        values = f"{a:.6g} -> {b:.6g}" if np.isscalar(a) else f"{_fmt(a)} -> {_fmt(b)}"
        lines.append(f"  {name} = {values}" + (f" {unit}" if unit else ""))
    return "\n".join(lines)


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in np.ravel(values)) + "]"


def _check(config, label: str) -> int:
    """`--check`: the identifiability analysis at the starting parameters, no fit."""
    from ..fit import identifiability

    names = ", ".join(t.name for t in config.targets)
    print(
        f"{label} --check: which parameter combinations {len(config.targets)} target(s) "
        f"({names}) constrain at the starting parameters (no fit)",
        flush=True,
    )
    unc = identifiability(
        config.potential, config.targets, trainable=config.trainable, seed=config.seed
    )
    print(unc)
    free = [unc.direction(k) for k in range(len(unc.names)) if unc.unconstrained[k]]
    poor = [
        unc.direction(k) for k in range(len(unc.names)) if unc.status(k) == "poorly constrained"
    ]
    if free:
        print("NOT constrained by these targets: " + "; ".join(free))
    if poor:
        print("poorly constrained (relative 1σ > 100 %): " + "; ".join(poor))
    if not free and not poor:
        print(f"every parameter combination is constrained ({', '.join(unc.names)})")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    return _run(Path(args.config), args, f"fit {args.config}")


def _cmd_quickstart(args: argparse.Namespace) -> int:
    if args.show_config:
        sys.stdout.write(QUICKSTART.read_text())
        return 0
    return _run(QUICKSTART, args, "quickstart (SPC/Fw water vs experimental IR spectrum)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output folder (default: the config's [fit] output)")
    p.add_argument("--steps", type=int, help="number of optimiser steps (overrides the config)")
    p.add_argument(
        "--restart",
        action="store_true",
        help="ignore an existing checkpoint in the output folder and start afresh",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `fit` and `quickstart` to the subcommand parsers."""
    p = sub.add_parser(
        "fit",
        help="fit a potential to experimental data (TOML config); resumes from its checkpoint",
    )
    p.add_argument("config", help="TOML configuration (see docs/fitting.md)")
    _add_common(p)
    p.add_argument(
        "--check",
        action="store_true",
        help="do not fit: report which parameters (combinations) the targets constrain at "
        "the starting parameters (one sensitivity evaluation), then exit",
    )
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "quickstart",
        help="a real fit on bundled data: SPC/Fw water force constants vs the experimental "
        "IR spectrum (a few minutes on a laptop CPU)",
    )
    _add_common(p)
    p.add_argument("--show-config", action="store_true", help="print the config and exit")
    p.set_defaults(func=_cmd_quickstart)
