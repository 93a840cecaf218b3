"""Charge-flux dipole surface of flexible water: `ChargeFluxDipole`, `FlexibleWater.dipole`
/ `with_dipole` / `dipole_moment`, the `PotentialDipole` recorder and the `[model.dipole]`
table of a fit configuration.

Expected values are computed here by hand with NumPy (charges q⁰ + bond and angle fluxes,
M = Σ q r, the analytic dipole derivatives along a bond stretch and the H–O–H angle) or by
central finite differences; configurations are only parsed and built (no MD)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from observables import Quantity, UnitError
from spectrinv.backends import Dipole, Frame, PotentialDipole, PotentialDipoleCurrent
from spectrinv.fit import ConfigError
from spectrinv.fit._config import _trainable_and_bounds
from spectrinv.fit._config_model import build_model
from spectrinv.fit._config_objective import build_observable
from spectrinv.potentials import (
    ChargeFluxDipole,
    LennardJones,
    spc_fw,
    water_system,
)

R0 = 0.1012  # nm (SPC/Fw)
THETA0 = math.radians(113.24)
J_R = 3.0  # e/nm (= 0.3 e/Å)
J_T = 0.12  # e/rad
EDGE = 1.2  # nm


def _flux(j_r: float = J_R, j_t: float | None = J_T, **kw) -> ChargeFluxDipole:
    return ChargeFluxDipole(
        Quantity(j_r, "e/nm"),
        Quantity(R0, "nm"),
        None if j_t is None else Quantity(j_t, "e"),
        None if j_t is None else Quantity(THETA0, "rad"),
        **kw,
    )


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    """A proper rotation (z·y·x Euler angles)."""
    cz, sz, cy, sy, cx, sx = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ ry @ rx


def _molecule(centre, r1, r2, theta, rot) -> np.ndarray:
    """O at `centre`, H1 at distance r1 along rot·x̂, H2 at r2 at angle θ from H1 (rot·xy)."""
    u1 = rot @ np.array([1.0, 0.0, 0.0])
    u2 = rot @ np.array([np.cos(theta), np.sin(theta), 0.0])
    c = np.asarray(centre, float)
    return np.stack([c, c + r1 * u1, c + r2 * u2])


#: two molecules off their reference geometry, whole (unwrapped); molecule 0 sits at the
#: x = 0 face so that one of its H atoms lies outside the box [0, EDGE)³
GEOMETRY = [
    ((0.03, 0.60, 0.55), 0.1055, 0.0968, math.radians(104.0), _rotation(2.9, 0.2, -0.4)),
    ((0.70, 0.35, 0.90), 0.0991, 0.1032, math.radians(118.5), _rotation(-0.7, 1.1, 0.5)),
]


def _two_molecules():
    whole = np.concatenate([_molecule(*g) for g in GEOMETRY])
    assert whole.min() < 0.0  # an atom outside the box: the model must unwrap
    wrapped = np.mod(whole, EDGE)
    system = water_system(2, Quantity([EDGE] * 3, "nm"))
    return whole, jnp.asarray(wrapped), system


@eqx.filter_jit
def _charges_and_dipole(dip, pos, system):
    """`(charges, M)` of a dipole model, compiled once per model structure (cheaper than
    running the model op by op)."""
    return dip.charges(pos, system), dip(pos, system)


def _numpy_charges(whole: np.ndarray, q_o: float, j_r: float, j_t: float) -> np.ndarray:
    q = []
    for m in range(len(whole) // 3):
        o, h1, h2 = whole[3 * m : 3 * m + 3]
        r1, r2 = np.linalg.norm(h1 - o), np.linalg.norm(h2 - o)
        theta = np.arccos(np.dot(h1 - o, h2 - o) / (r1 * r2))
        d1, d2, da = j_r * (r1 - R0), j_r * (r2 - R0), j_t * (theta - THETA0)
        q_h = -0.5 * q_o
        q += [q_o - d1 - d2 - 2 * da, q_h + d1 + da, q_h + d2 + da]
    return np.array(q)


# 1. charges and dipole against NumPy ------------------------------------------------------


def test_charges_are_base_charges_plus_bond_and_angle_fluxes():
    whole, pos, system = _two_molecules()
    q, m = (np.asarray(x) for x in _charges_and_dipole(_flux(), pos, system))
    np.testing.assert_allclose(q, _numpy_charges(whole, -0.82, J_R, J_T), rtol=0, atol=1e-13)
    # the fluxes really moved charge (the test is not passing on q⁰ alone) ...
    assert np.max(np.abs(q - np.tile([-0.82, 0.41, 0.41], 2))) > 0.02
    # ... and every molecule stays neutral
    np.testing.assert_allclose(q.reshape(2, 3).sum(axis=1), 0.0, atol=1e-14)
    # the dipole is Σ q r over the whole molecules, wherever the atoms were wrapped
    np.testing.assert_allclose(m, q @ whole, rtol=0, atol=1e-13)


def test_explicit_base_charges_replace_the_system_charges():
    whole, pos, system = _two_molecules()
    q0 = np.tile([-0.7, 0.35, 0.35], 2)
    q, m = _charges_and_dipole(_flux(charges=Quantity(q0, "e")), pos, system)
    expected = _numpy_charges(whole, -0.7, J_R, J_T)
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(m, expected @ whole, rtol=0, atol=1e-13)


def test_zero_fluxes_give_the_point_charge_dipole():
    whole, pos, system = _two_molecules()
    q0 = np.tile([-0.82, 0.41, 0.41], 2)
    for dip in (_flux(0.0, 0.0), _flux(0.0, None)):
        q, m = _charges_and_dipole(dip, pos, system)
        np.testing.assert_allclose(q, q0, rtol=0, atol=1e-15)
        np.testing.assert_allclose(m, q0 @ whole, rtol=0, atol=1e-13)


def test_angle_flux_in_charge_per_degree_is_converted_to_per_radian():
    dip = ChargeFluxDipole(
        Quantity(0.3, "e/angstrom"),
        Quantity(1.0, "angstrom"),
        Quantity(0.01, "e/degree"),
        Quantity(110.0, "degree"),
    )
    assert float(dip.bond_flux) == pytest.approx(3.0, rel=1e-12)
    assert float(dip.r0) == pytest.approx(0.1, rel=1e-12)
    assert float(dip.angle_flux) == pytest.approx(0.01 * 180 / math.pi, rel=1e-12)
    assert float(dip.theta0) == pytest.approx(110 * math.pi / 180, rel=1e-12)


# 2. dipole derivatives along a bond stretch and the bend angle ----------------------------


_ROT = _rotation(0.4, -1.2, 2.2)
_CENTRE = np.array([0.31, -0.22, 0.57])
_FLUX = _flux()  # built outside the trace (its constructor checks values eagerly)


@jax.jit
def _molecule_dipole(params):
    """M of one isolated molecule (charge-flux model) as a function of (r1, r2, θ)."""
    r1, r2, theta = params
    rot = jnp.asarray(_ROT)
    u1 = rot @ jnp.array([1.0, 0.0, 0.0])
    u2 = rot @ jnp.stack([jnp.cos(theta), jnp.sin(theta), jnp.zeros(())])
    c = jnp.asarray(_CENTRE)
    return _FLUX(jnp.stack([c, c + r1 * u1, c + r2 * u2]), water_system(1, None))


_molecule_dipole_jacobian = jax.jit(jax.jacfwd(_molecule_dipole))


@pytest.mark.parametrize(
    "r1, r2, theta",
    [(R0, R0, THETA0), (0.1063, 0.0975, math.radians(101.0))],
    ids=["reference", "distorted"],
)
def test_dipole_derivatives_along_the_bond_and_the_angle(r1, r2, theta):
    """Isolated molecule O, H1 = O + r1 u1, H2 = O + r2 u2(θ), q_H = q⁰_H + j_r(r - r0) +
    j_θ(θ - θ0), q_O = -(q_H1 + q_H2). By hand:
      ∂M/∂r1 = (q_H1 + j_r r1) u1,   ∂M/∂r2 = (q_H2 + j_r r2) u2,
      ∂M/∂θ  = q_H2 r2 e⊥ + j_θ (r1 u1 + r2 u2)   (H2 moves along e⊥ = ∂u2/∂θ)."""
    p = np.array([r1, r2, theta])
    jac = np.asarray(_molecule_dipole_jacobian(jnp.asarray(p)))  # [3 (xyz), 3 (coords)]

    u1 = _ROT @ np.array([1.0, 0.0, 0.0])
    u2 = _ROT @ np.array([np.cos(theta), np.sin(theta), 0.0])
    e_perp = _ROT @ np.array([-np.sin(theta), np.cos(theta), 0.0])
    dqa = J_T * (theta - THETA0)
    q_h1 = 0.41 + J_R * (r1 - R0) + dqa
    q_h2 = 0.41 + J_R * (r2 - R0) + dqa
    np.testing.assert_allclose(jac[:, 0], (q_h1 + J_R * r1) * u1, rtol=0, atol=1e-13)
    np.testing.assert_allclose(jac[:, 1], (q_h2 + J_R * r2) * u2, rtol=0, atol=1e-13)
    expected_theta = q_h2 * r2 * e_perp + J_T * (r1 * u1 + r2 * u2)
    np.testing.assert_allclose(jac[:, 2], expected_theta, rtol=0, atol=1e-13)
    # the flux terms are there: a point-charge dipole would give q⁰_H u1 and q⁰_H r2 e⊥
    assert np.linalg.norm(jac[:, 0]) > 0.41 + 0.5 * J_R * R0
    assert np.linalg.norm(jac[:, 2] - q_h2 * r2 * e_perp) > 0.5 * J_T * R0
    # and a central finite difference of the model agrees with the forward-mode Jacobian
    h = 1e-6
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        plus, minus = _molecule_dipole(jnp.asarray(p + e)), _molecule_dipole(jnp.asarray(p - e))
        fd = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
        np.testing.assert_allclose(fd, jac[:, k], rtol=0, atol=1e-8)
    if r1 == R0 and r2 == R0 and theta == THETA0:
        # no flux at the reference geometry: the point-charge dipole
        m = np.asarray(_molecule_dipole(jnp.asarray(p)))
        np.testing.assert_allclose(m, 0.41 * R0 * (u1 + u2), rtol=0, atol=1e-14)


# 3. gradients of FlexibleWater.dipole_moment w.r.t. the fitted parameters -------------------


def _model(q_o=-0.82, j_r=J_R, j_t=J_T, model=None):
    """SPC/Fw with a charge-flux dipole; the values go in as leaves of `model` (built
    outside any trace: traceable)."""
    model = spc_fw().with_dipole(_flux()) if model is None else model
    return eqx.tree_at(
        lambda m: (m.charge_oxygen, m.dipole.bond_flux, m.dipole.angle_flux),
        model,
        tuple(jnp.asarray(v, float) for v in (q_o, j_r, j_t)),
    )


@eqx.filter_jit
def _dipole_moment(model, pos, system):
    return model.dipole_moment(pos, system)


def test_dipole_moment_uses_the_models_own_charges():
    whole, pos, system = _two_molecules()  # system charges: q_O = -0.82
    model = _model(q_o=-0.7)
    expected = _numpy_charges(whole, -0.7, J_R, J_T) @ whole
    np.testing.assert_allclose(_dipole_moment(model, pos, system), expected, rtol=0, atol=1e-13)
    # without a dipole model: point charges of the model (not those of the system)
    plain = model.with_dipole(None)
    assert plain.dipole is None
    expected = np.tile([-0.7, 0.35, 0.35], 2) @ whole
    np.testing.assert_allclose(_dipole_moment(plain, pos, system), expected, rtol=0, atol=1e-13)


def test_dipole_moment_gradients_match_central_finite_differences():
    whole, pos, system = _two_molecules()
    w = jnp.array([0.3, -1.1, 0.7])
    base = _model()

    @jax.jit
    def scalar(j_r, j_t, q_o):
        m = _model(q_o, j_r, j_t, model=base).dipole_moment(pos, system)
        return m @ w + 5.0 * jnp.sum(m**2)  # linear + quadratic: non-trivial second order

    args = (jnp.asarray(J_R), jnp.asarray(J_T), jnp.asarray(-0.8))
    grad = jax.jit(jax.grad(scalar, argnums=(0, 1, 2)))(*args)
    h = 1e-5
    for k in range(3):
        plus = [float(a) + (h if i == k else 0.0) for i, a in enumerate(args)]
        minus = [float(a) - (h if i == k else 0.0) for i, a in enumerate(args)]
        fd = float(scalar(*map(jnp.asarray, plus))) - float(scalar(*map(jnp.asarray, minus)))
        fd /= 2 * h
        assert abs(fd) > 1e-4  # every parameter moves the dipole here
        assert float(grad[k]) == pytest.approx(fd, rel=1e-7, abs=1e-10)

    # the same gradient through the model's own leaves (as a fit takes it), by name
    model = _model(-0.8)

    def of_model(mdl):
        m = mdl.dipole_moment(pos, system)
        return m @ w + 5.0 * jnp.sum(m**2)

    g = eqx.filter_jit(eqx.filter_grad(of_model))(model)
    np.testing.assert_allclose(
        [g.dipole.bond_flux, g.dipole.angle_flux, g.charge_oxygen], grad, rtol=1e-12
    )


# 4. the PotentialDipole recorder ---------------------------------------------------------------


def _frame(pos, system) -> Frame:
    zeros = jnp.zeros_like(pos)
    return Frame(pos, zeros, zeros, jnp.asarray(0.0), None, system)


def test_potential_dipole_recorder_equals_dipole_of_the_models_charges():
    whole, pos, system = _two_molecules()
    model = _model(q_o=-0.76)
    frame = _frame(pos, system)
    got = eqx.filter_jit(PotentialDipole())(frame, model)
    base = Quantity(np.tile([-0.76, 0.38, 0.38], 2), "e")
    reference = eqx.filter_jit(Dipole(_flux(charges=base)))(frame, None)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-14)
    np.testing.assert_allclose(got, _numpy_charges(whole, -0.76, J_R, J_T) @ whole, atol=1e-13)
    assert PotentialDipole.uses_potential and PotentialDipole.field == "dipole"
    # a point-charge dipole of the system's charges (-0.82) differs: the recorder did not
    # fall back on them
    assert np.max(np.abs(np.asarray(got) - np.tile([-0.82, 0.41, 0.41], 2) @ whole)) > 1e-3


def test_potential_dipole_current_is_the_dipole_derivative_along_the_velocities():
    """dM/dt = (∂M/∂r)·v: against central differences of the dipole along v; with charge
    flux it differs from Σ q v (the charges change too), without flux it equals Σ q v."""
    _, pos, system = _two_molecules()
    v = jnp.asarray(np.random.default_rng(3).normal(size=pos.shape))
    frame = Frame(pos, v, jnp.zeros_like(pos), jnp.asarray(0.0), None, system)
    model = _model(q_o=-0.76)
    got = np.asarray(eqx.filter_jit(PotentialDipoleCurrent())(frame, model))
    h = 1e-6
    fd = (
        np.asarray(model.dipole_moment(pos + h * v, system))
        - np.asarray(model.dipole_moment(pos - h * v, system))
    ) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-9)
    q = np.asarray(model.dipole.charges(pos, _with_model_charges(model, system)))
    assert np.max(np.abs(got - q @ np.asarray(v))) > 1e-2
    plain = spc_fw()  # point charges: Σ q v exactly
    got_plain = np.asarray(eqx.filter_jit(PotentialDipoleCurrent())(frame, plain))
    q0 = np.asarray(plain.charges(system))
    np.testing.assert_allclose(got_plain, q0 @ np.asarray(v), rtol=1e-12, atol=1e-12)
    assert (
        PotentialDipoleCurrent.field == "charge_current" and PotentialDipoleCurrent.uses_potential
    )
    lj = LennardJones(Quantity(0.3, "nm"), Quantity(0.5, "kJ/mol"), Quantity(0.5, "nm"))
    with pytest.raises(TypeError, match="dipole_moment"):
        PotentialDipoleCurrent()(frame, lj)


def _with_model_charges(model, system):
    """`system` with the model's own charges (what `dipole_moment` gives the dipole)."""
    return eqx.tree_at(
        lambda s: s.charges, system, model.charges(system), is_leaf=lambda x: x is None
    )


def test_potential_dipole_recorder_refuses_a_potential_without_a_dipole():
    _, pos, system = _two_molecules()
    lj = LennardJones(Quantity(0.3, "nm"), Quantity(0.5, "kJ/mol"), Quantity(0.5, "nm"))
    with pytest.raises(TypeError, match="LennardJones"):
        PotentialDipole()(_frame(pos, system), lj)


def test_ir_and_dielectric_targets_record_the_potentials_dipole():
    t = Quantity(298, "K")
    ir_dipole = {"max_lag": "0.1 ps", "source": "dipole"}
    for kind, opts in (("ir", ir_dipole), ("dielectric_constant", {})):
        _, record = build_observable(kind, opts, t, "water", Quantity(1, "fs"), "test")
        assert any(isinstance(r, PotentialDipole) for r in record), kind
        assert not any(isinstance(r, Dipole) for r in record), kind
    # by default an IR target records the time derivative of the potential's own dipole
    _, record = build_observable("ir", {"max_lag": "0.1 ps"}, t, "water", Quantity(1, "fs"), "")
    assert any(isinstance(r, PotentialDipoleCurrent) for r in record)


# 5. bad input ------------------------------------------------------------------------------


def test_bad_charge_flux_input_is_refused():
    r0 = Quantity(R0, "nm")
    with pytest.raises(ValueError, match="theta0"):
        ChargeFluxDipole(Quantity(1.0, "e/nm"), r0, angle_flux=Quantity(0.1, "e"))
    with pytest.raises(ValueError, match="angle_flux"):
        ChargeFluxDipole(Quantity(1.0, "e/nm"), r0, theta0=Quantity(110, "degree"))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bond_flux"):
            ChargeFluxDipole(Quantity(bad, "e/nm"), r0)
        with pytest.raises(ValueError, match="angle_flux"):
            ChargeFluxDipole(Quantity(1.0, "e/nm"), r0, Quantity(bad, "e"), Quantity(110, "degree"))
    with pytest.raises(UnitError) as err:
        ChargeFluxDipole(Quantity(0.3, "nm"), r0)
    assert "nm" in str(err.value) and "e/nm" in str(err.value) and "bond_flux" in str(err.value)
    with pytest.raises(UnitError, match="r0"):
        ChargeFluxDipole(Quantity(1.0, "e/nm"), Quantity(0.1, "e"))
    with pytest.raises(TypeError, match="AbstractDipoleModel"):
        spc_fw().with_dipole(PotentialDipole())
    with pytest.raises(TypeError, match="str"):
        spc_fw().with_dipole("charge_flux")


def test_charge_flux_without_topology_or_charges_is_refused():
    _, pos, system = _two_molecules()
    no_charges = eqx.tree_at(lambda s: s.charges, system, None)
    with pytest.raises(ValueError, match="charges"):
        _flux().charges(pos, no_charges)


# 6. the [model.dipole] table of a fit configuration -----------------------------------------


def _build(**extra):
    t = {"kind": "spc_fw", "cutoff": "0.5 nm", **extra}
    return build_model(t, "cfg [model]", jnp.float64)[0]


def test_config_dipole_table_builds_a_charge_flux_model():
    table = {"kind": "charge_flux", "bond_flux": "0.3 e/angstrom", "angle_flux": "0.1 e"}
    model = _build(dipole=table)
    d = model.dipole
    assert isinstance(d, ChargeFluxDipole) and d.base_charges is None
    assert float(d.bond_flux) == pytest.approx(3.0, rel=1e-12)  # e/nm
    assert float(d.angle_flux) == pytest.approx(0.1, rel=1e-12)  # e/rad
    # reference geometry defaults: the model's own r0 and θ0
    assert float(d.r0) == pytest.approx(0.1012, rel=1e-12)
    assert float(d.theta0) == pytest.approx(math.radians(113.24), rel=1e-12)
    assert d.bond_flux.dtype == jnp.float64
    # given explicitly, in other units; q-SPC/Fw takes its own defaults
    table = {
        "kind": "charge_flux",
        "bond_flux": "-2 e/nm",
        "r0": "0.98 angstrom",
        "theta0": "104.5 degree",
        "angle_flux": "0.2 e/rad",
    }
    model = _build(kind="q_spc_fw", dipole=table)
    d = model.dipole
    assert float(d.bond_flux) == -2.0 and float(d.r0) == pytest.approx(0.098, rel=1e-12)
    assert float(d.theta0) == pytest.approx(math.radians(104.5), rel=1e-12)
    assert float(d.angle_flux) == pytest.approx(0.2, rel=1e-12)
    d = _build(kind="q_spc_fw", dipole={"kind": "charge_flux"}).dipole
    assert float(d.r0) == pytest.approx(0.1, rel=1e-12)
    assert float(d.theta0) == pytest.approx(math.radians(112.0), rel=1e-12)
    assert float(d.bond_flux) == 0.0 and float(d.angle_flux) == 0.0
    assert _build().dipole is None


def test_config_tail_correction():
    assert _build(tail_correction=True).tail_correction is True
    assert _build(tail_correction=False).tail_correction is False
    assert _build().tail_correction is False
    with pytest.raises(ConfigError, match="tail_correction"):
        _build(tail_correction="yes")


def test_config_dipole_parameters_and_bounds_take_charge_per_length():
    dip = {"kind": "charge_flux", "bond_flux": "0.3 e/angstrom", "angle_flux": "0.1 e"}
    model = _build(
        dipole=dip,
        parameters={
            "dipole.bond_flux": "0.5 e/angstrom",
            "dipole.angle_flux": "0.001 e/degree",
            "dipole.theta0": "100 degree",
        },
    )
    assert float(model.dipole.bond_flux) == pytest.approx(5.0, rel=1e-12)
    assert float(model.dipole.angle_flux) == pytest.approx(0.001 * 180 / math.pi, rel=1e-12)
    assert float(model.dipole.theta0) == pytest.approx(math.radians(100.0), rel=1e-12)

    fit_t = {
        "trainable": ["dipole.bond_flux", "dipole.angle_flux", "charge_oxygen"],
        "bounds": {"dipole.bond_flux": ["-1 e/angstrom", "0.2 e/angstrom"]},
    }
    trainable, bounds = _trainable_and_bounds(fit_t, model, "cfg")
    assert trainable == fit_t["trainable"]
    assert bounds["dipole.bond_flux"].lower == pytest.approx(-10.0, rel=1e-12)
    assert bounds["dipole.bond_flux"].upper == pytest.approx(2.0, rel=1e-12)

    with pytest.raises(ConfigError) as err:
        _build(dipole=dip, parameters={"dipole.bond_flux": "0.1 nm"})
    msg = str(err.value)
    assert "dipole.bond_flux" in msg and "nm" in msg and "e/angstrom" in msg
    with pytest.raises(ConfigError) as err:
        _trainable_and_bounds({"bounds": {"dipole.bond_flux": ["0 nm", "1 nm"]}}, model, "cfg")
    msg = str(err.value)
    assert "dipole.bond_flux" in msg and "nm" in msg and "e/angstrom" in msg
    with pytest.raises(ConfigError, match="dipole.angle_flux"):
        _build(dipole=dip, parameters={"dipole.angle_flux": "0.1 e/nm"})
    # without a [model.dipole] table there is no such parameter
    with pytest.raises(ConfigError, match="dipole.bond_flux"):
        _build(parameters={"dipole.bond_flux": "0.5 e/angstrom"})


@pytest.mark.parametrize(
    "dipole, words",
    [
        ({"kind": "charge_flux", "bond_flux": "0.3 e/angstrom", "flux": "1 e/nm"}, "flux"),
        ({"kind": "bond_charge_flux", "bond_flux": "0.3 e/angstrom"}, "kind"),
        ({"bond_flux": "0.3 e/angstrom"}, "kind"),
        ({"kind": "charge_flux", "bond_flux": "0.3 nm"}, "bond_flux"),
        ({"kind": "charge_flux", "angle_flux": "0.1 e/nm"}, "angle_flux"),
        ({"kind": "charge_flux", "r0": "0.1 e"}, "r0"),
        ("charge_flux", "table"),
    ],
    ids=["unknown-key", "other-kind", "no-kind", "flux-unit", "angle-unit", "r0-unit", "string"],
)
def test_bad_dipole_tables_are_refused(dipole, words):
    with pytest.raises(ConfigError, match=words):
        _build(dipole=dipole)


def test_charge_scale_scales_the_base_charges_only():
    """q = s q⁰ + Δq: the fluxes are not scaled, and each molecule stays neutral."""
    whole, pos, system = _two_molecules()
    s = 0.87
    q, m = (np.asarray(x) for x in _charges_and_dipole(_flux(charge_scale=s), pos, system))
    flux_only = _numpy_charges(whole, -0.82, J_R, J_T) - np.tile([-0.82, 0.41, 0.41], 2)
    expected = s * np.tile([-0.82, 0.41, 0.41], 2) + flux_only
    np.testing.assert_allclose(q, expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(m, expected @ whole, rtol=0, atol=1e-13)
    np.testing.assert_allclose(q.reshape(2, 3).sum(axis=1), 0.0, atol=1e-14)
    assert (
        float(_build(dipole={"kind": "charge_flux", "charge_scale": 0.9}).dipole.charge_scale)
        == 0.9
    )
    for bad in ("0.9", True, float("nan")):
        with pytest.raises(ConfigError, match="charge_scale"):
            _build(dipole={"kind": "charge_flux", "charge_scale": bad})
    with pytest.raises(ValueError, match="charge_scale"):
        _flux(charge_scale=float("inf"))


@settings(max_examples=15, deadline=None)
@given(
    s=st.floats(0.5, 1.5),
    j_r=st.floats(0.0, 6.0),
    j_t=st.floats(-0.3, 0.3),
)
def test_dipole_is_linear_in_charge_scale_and_fluxes(s, j_r, j_t):
    """M(s, j_r, j_θ) = s·M₀ + j_r·M_r + j_θ·M_θ with basis dipoles from three models: what
    lets a dipole surface be refitted on fixed trajectories (the forces do not depend on
    it)."""
    _, pos, system = _two_molecules()

    def m(scale, bond, angle):
        return np.asarray(
            _charges_and_dipole(_flux(bond, angle, charge_scale=scale), pos, system)[1]
        )

    m0 = m(1.0, 0.0, 0.0)
    m_r, m_t = m(1.0, 1.0, 0.0) - m0, m(1.0, 0.0, 1.0) - m0
    np.testing.assert_allclose(
        m(s, j_r, j_t), s * m0 + j_r * m_r + j_t * m_t, rtol=1e-12, atol=1e-13
    )
