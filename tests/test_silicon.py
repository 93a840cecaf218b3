"""Stillinger–Weber silicon."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import jit_energy as _energy

from observables import Quantity, UnitError
from spectrinv.potentials import EDIP, StillingerWeber, diamond_lattice

with jax.numpy_dtype_promotion("standard"):  # jax-md is written for standard promotion
    from jax_md import energy as jmd_energy, partition, space

EV = 96.48533212331  # kJ/mol per eV


@pytest.fixture(scope="module")
def crystal():
    return diamond_lattice(2)


@pytest.fixture(scope="module")
def distorted(crystal):
    pos, system = crystal
    return pos + 0.01 * jax.random.normal(jax.random.PRNGKey(0), pos.shape), system


def test_diamond_lattice_energy_per_atom(crystal):
    pos, system = crystal
    e = float(_energy(StillingerWeber(), pos, system)) / pos.shape[0] / EV
    assert e == pytest.approx(-4.3366, abs=1e-4)  # -2ε at a0 = 5.431 Å


def test_matches_jax_md_stillinger_weber(distorted):
    pos, system = distorted
    box_a = np.asarray(system.box) * 10
    with jax.numpy_dtype_promotion("standard"):
        disp, _ = space.periodic(box_a)
        ref = jax.jit(jmd_energy.stillinger_weber(disp))(pos * 10)  # eV, Å
    sw = StillingerWeber(epsilon=Quantity(2.16826, "eV"))  # jax-md's ε (50 kcal/mol)
    assert float(_energy(sw, pos, system)) / EV == pytest.approx(float(ref), rel=1e-8)


def test_forces_and_parameter_gradients_match_finite_differences(distorted):
    """Through a Dense neighbour list with padded slots: -F and dU/dθ (7 leaves) vs FD."""
    pos, system = distorted
    sw = StillingerWeber()
    with jax.numpy_dtype_promotion("standard"):
        disp, _ = space.periodic(system.box)
        nbr = partition.neighbor_list(
            disp, system.box, sw.cutoff, capacity_multiplier=1.5, format=partition.Dense
        ).allocate(pos)
    assert bool(jnp.any(nbr.idx == pos.shape[0])), "test needs padded slots"
    params, static = eqx.partition(sw, eqx.is_inexact_array)

    @eqx.filter_jit
    def energy(p, x):
        return eqx.combine(p, static).energy(x, system, nbr)

    @eqx.filter_jit
    def value_and_grads(p, x):
        return jax.value_and_grad(energy, argnums=(0, 1))(p, x)

    e0, (gp, gx) = value_and_grads(params, pos)
    assert float(e0) == pytest.approx(float(_energy(sw, pos, system)), rel=1e-12)
    rng = np.random.default_rng(1)
    h = 1e-6
    for _ in range(3):
        d = jnp.asarray(rng.normal(size=pos.shape))
        d = d / jnp.linalg.norm(d)
        fd = (energy(params, pos + h * d) - energy(params, pos - h * d)) / (2 * h)
        assert float(jnp.sum(gx * d)) == pytest.approx(float(fd), rel=1e-7, abs=1e-6)
    leaves, treedef = jax.tree.flatten(params)
    assert len(leaves) == 7
    for k, (leaf, g) in enumerate(zip(leaves, jax.tree.leaves(gp), strict=True)):
        assert bool(jnp.isfinite(g)), k
        h = 1e-6 * abs(float(leaf))
        up = jax.tree.unflatten(treedef, [x + h if i == k else x for i, x in enumerate(leaves)])
        dn = jax.tree.unflatten(treedef, [x - h if i == k else x for i, x in enumerate(leaves)])
        fd = (energy(up, pos) - energy(dn, pos)) / (2 * h)
        assert float(g) == pytest.approx(float(fd), rel=1e-5, abs=1e-3), k


def test_edip_diamond_energy_and_jax_md_agreement():
    pos, system = diamond_lattice(2, Quantity(5.430, "angstrom"))
    e = float(_energy(EDIP(), pos, system)) / pos.shape[0] / EV
    assert e == pytest.approx(-4.650, abs=2e-4)  # Justo et al. 1998: E_coh = 4.650 eV
    # jax-md's EDIP is exact only while every neighbour is inside c (its three-body Z uses
    # f(r_ik) times the neighbour count), so compare on a small distortion
    small = pos + 0.002 * jax.random.normal(jax.random.PRNGKey(0), pos.shape)
    with jax.numpy_dtype_promotion("standard"):
        disp, _ = space.periodic(np.asarray(system.box) * 10)
        ref = jax.jit(jmd_energy.edip(disp))(small * 10)
    assert float(_energy(EDIP(), small, system)) / EV == pytest.approx(float(ref), rel=1e-8)


def test_edip_forces_and_parameter_gradients(distorted):
    """Distortion puts some neighbours in the smooth-cutoff shell c < r < a."""
    pos, system = distorted
    model = EDIP()
    with jax.numpy_dtype_promotion("standard"):
        disp, _ = space.periodic(system.box)
        nbr = partition.neighbor_list(
            disp, system.box, model.cutoff, capacity_multiplier=1.5, format=partition.Dense
        ).allocate(pos)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    @eqx.filter_jit
    def energy(p, x):
        return eqx.combine(p, static).energy(x, system, nbr)

    @eqx.filter_jit
    def value_and_grads(p, x):
        return jax.value_and_grad(energy, argnums=(0, 1))(p, x)

    e0, (gp, gx) = value_and_grads(params, pos)
    assert float(e0) == pytest.approx(float(_energy(model, pos, system)), rel=1e-12)
    d = jnp.asarray(np.random.default_rng(2).normal(size=pos.shape))
    d = d / jnp.linalg.norm(d)
    h = 1e-6
    fd = (energy(params, pos + h * d) - energy(params, pos - h * d)) / (2 * h)
    assert float(jnp.sum(gx * d)) == pytest.approx(float(fd), rel=1e-6, abs=1e-6)
    leaves, treedef = jax.tree.flatten(params)
    assert len(leaves) == 17
    for k, (leaf, g) in enumerate(zip(leaves, jax.tree.leaves(gp), strict=True)):
        assert bool(jnp.isfinite(g)), k
        h = 1e-6 * abs(float(leaf))
        up = jax.tree.unflatten(treedef, [x + h if i == k else x for i, x in enumerate(leaves)])
        dn = jax.tree.unflatten(treedef, [x - h if i == k else x for i, x in enumerate(leaves)])
        fd = (energy(up, pos) - energy(dn, pos)) / (2 * h)
        assert float(g) == pytest.approx(float(fd), rel=1e-5, abs=1e-3), k


def test_units_required():
    with pytest.raises(UnitError, match="sigma"):
        StillingerWeber(sigma=2.0951)
    with pytest.raises(UnitError, match="epsilon"):
        StillingerWeber(epsilon=Quantity(2.1683, "angstrom"))
