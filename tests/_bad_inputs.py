"""Valid inputs that the bad-input tests mutate: a Lennard-Jones RDF fit configuration with
its g(r) CSV, and a small `.npz` trajectory."""

from __future__ import annotations

import numpy as np

import observables as ob
from observables import Quantity as Q

__all__ = ["_gr_csv", "_npz", "_raw"]


def _raw(fit=None, model=None, **target):
    """A Lennard-Jones RDF fit config (as parsed TOML) with tables/keys replaced."""
    return {
        "fit": {
            "steps": 1,
            "precision": "float64",
            "trainable": ["sigma", "epsilon"],
            **(fit or {}),
        },
        "model": {
            "kind": "lennard_jones",
            "sigma": "3.4 angstrom",
            "epsilon": "120 K",
            "cutoff": "0.55 nm",
            **(model or {}),
        },
        "targets": [
            {
                "name": "rdf",
                "dataset": {
                    "file": "gr.csv",
                    "x": "r",
                    "y": "g",
                    "x_unit": "nm",
                    "y_unit": "dimensionless",
                    "quantity": "rdf",
                },
                "observable": "rdf",
                "loss": "mse",
                "temperature": "90 K",
                "system": {"cells": 2, "density": "1409.5 kg/m**3"},
                "observable_options": {"r_max": "0.55 nm", "bins": 40},
                "gradient": {"kind": "bptt", "length": "0.05 ps"},
                **target,
            }
        ],
    }


def _gr_csv(folder, g_last=1.0):
    r = np.linspace(0.2, 0.53, 34)
    g = np.where(r < 0.33, 0.0, 1.0)
    g[-1] = g_last
    rows = "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(r, g, strict=True))
    (folder / "gr.csv").write_text("r,g\n" + rows)


def _npz(tmp_path):
    rng = np.random.default_rng(0)
    traj = ob.Trajectory(
        Q(rng.uniform(0, 1.0, size=(4, 6, 3)), "nm"),
        species=["O", "H", "H"] * 2,
        box=Q([1.3, 1.3, 1.3], "nm"),
        timestep=Q(2, "fs"),
    )
    path = tmp_path / "t.npz"
    traj.to_npz(path)
    return path
