"""A fit of a potential class the user wrote (not one of the package's) checkpoints and
resumes bitwise with a `Reweighting` target, whose cache holds the reference parameters:
the checkpoint keeps their arrays only and never names the user's class (loading would
have to import it)."""

from __future__ import annotations

import json
import zipfile

import jax.numpy as jnp
import numpy as np
import pytest

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin, Positions
from spectrinv.fit import Target, fit
from spectrinv.gradients import Objective, Reweighting
from spectrinv.potentials import AbstractPairPotential, ForceShifted, LennardJones, fcc_lattice


class WrappedLJ(AbstractPairPotential):
    """A user's own pair potential: Lennard-Jones held one level down (`lj.epsilon`)."""

    lj: LennardJones

    def __init__(self, lj: LennardJones):
        self.lj = lj
        self.r_cut = lj.r_cut
        self.truncation = lj.truncation

    def _phi(self, r, si, sj, dtype):
        return self.lj._phi(r, si, sj, dtype)


def _observe(traj):
    # mean squared distance from the box centre: depends on ε through the reweighting
    return jnp.mean(jnp.sum((traj.positions - 0.5) ** 2, axis=-1))


def _loss(observed):
    return (observed - 0.3) ** 2


def _fit(folder, steps, progress=None):
    pos, system = fcc_lattice(2, Quantity(1409.5, "kg/m**3"), Quantity(39.948, "Da"))
    lj = LennardJones(
        Quantity(3.405, "angstrom"), Quantity(0.8, "kJ/mol"), Quantity(0.55, "nm"),
        truncation=ForceShifted(),
    )  # fmt: skip
    backend = JaxMDBackend(Langevin(Quantity(5, "fs"), Quantity(85, "K"), Quantity(5, "1/ps")))
    target = Target(
        "centre",
        Objective(_observe, _loss, (Positions(),)),
        system,
        pos,
        backend,
        Reweighting(n_frames=8, stride=5, ess_threshold=0.99, batch_size=8),
        Quantity(85, "K"),
        equilibration_steps=20,
    )
    return fit(
        WrappedLJ(lj),
        [target],
        trainable=["lj.epsilon"],
        steps=steps,
        seed=1,
        output_dir=folder,
        progress=progress if progress is not None else False,
        plots=False,
        uncertainty=False,
    )


def test_user_potential_with_reweighting_cache_resumes_bitwise(tmp_path):
    ref = _fit(tmp_path / "a", 2)

    class Crash(Exception):
        pass

    def crash(row):
        if row["step"] == 1:
            raise Crash

    with pytest.raises(Crash):
        _fit(tmp_path / "b", 2, progress=crash)
    with zipfile.ZipFile(tmp_path / "b" / "checkpoint.npz") as archive:
        structure = archive.read("structure.npy")
    assert b"WrappedLJ" not in structure  # the user's class is never named
    res = _fit(tmp_path / "b", 2)
    assert [r["loss"] for r in res.history] == [r["loss"] for r in ref.history]
    assert np.asarray(res.potential.lj.epsilon) == np.asarray(ref.potential.lj.epsilon)
    assert res.potential.lj.epsilon != 0.8  # it moved
    assert json.loads((tmp_path / "b" / "fit.json").read_text())["final_parameters"]
