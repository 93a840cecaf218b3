"""Every observable follows one protocol and one set of argument conventions.

For every concrete observable exported by `observables`:

- `obs(traj)` returns an `AbstractResult` whose units are the ones the observable declares
  (`obs.x_unit`, `obs.y_unit`) before seeing a trajectory;
- eager == jit == jit∘vmap (same numbers, same pytree structure);
- the gradient of a linear functional of the values with respect to the input the
  observable is differentiable in matches a central finite difference;
- `max_lag` as an int number of frames and as the same time give the same numbers;
- the symmetries every observable has: time reversal, relabelling of atoms, a rotation of
  the whole system, and a change of the unit system of the input.

The property checks come from `observables.testing`, the module users test their own
observables with.
"""

import inspect
import warnings
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import observables as ob
import observables.testing as ot
from observables import Quantity as Q

N_FRAMES, N_ATOMS = 64, 6
DT_FS = 1.0


def make_traj(seed: int) -> ob.Trajectory:
    rng = np.random.default_rng(seed)
    vel = rng.normal(size=(N_FRAMES, N_ATOMS, 3))
    pos = 0.4 + 0.2 * rng.uniform(size=(1, N_ATOMS, 3)) + 0.001 * np.cumsum(vel, axis=0)
    return ob.Trajectory(
        Q(pos, "nm"),
        velocities=Q(vel, "nm/ps"),
        masses=Q([16.0, 1.0, 1.0] * 2, "Da"),
        charges=Q([-0.8, 0.4, 0.4] * 2, "e"),
        species=np.array([0, 1, 1, 0, 1, 1]),
        box=Q([1.5, 1.5, 1.5], "nm"),
        timestep=Q(DT_FS, "fs"),
        dipole=Q(rng.normal(size=(N_FRAMES, 3)), "e*nm"),
        polarizability=Q(rng.normal(size=(N_FRAMES, 3, 3)), "angstrom**3"),
        stress=Q(rng.normal(size=(N_FRAMES, 3, 3)), "bar"),
        heat_flux=Q(rng.normal(size=(N_FRAMES, 3)), "kJ/mol*nm/ps"),
        charge_current=Q(rng.normal(size=(N_FRAMES, 3)), "e*nm/ps"),
        potential_energy=Q(rng.normal(size=N_FRAMES), "kJ/mol"),
    )


T = Q(300, "K")
#: name -> (observable, the trajectory field its result is differentiable in)
OBSERVABLES = {
    "IRSpectrum": (ob.IRSpectrum(T, max_lag=16), "dipole"),
    "IRSpectrum-derivative": (
        ob.IRSpectrum(T, max_lag=16, source=ob.FromDipoleDerivative()),
        "charge_current",
    ),
    "RamanSpectrum": (ob.RamanSpectrum(T, max_lag=16), "polarizability"),
    "VDOS": (ob.VDOS(max_lag=16), "velocities"),
    "SelfDiffusion": (ob.SelfDiffusion(n_blocks=2), "velocities"),
    "EinsteinDiffusion": (ob.EinsteinDiffusion(n_blocks=2), "positions"),
    "ShearViscosity": (ob.ShearViscosity(T, n_blocks=2), "stress"),
    "ThermalConductivity": (ob.ThermalConductivity(T, n_blocks=2), "heat_flux"),
    "IonicConductivity": (ob.IonicConductivity(T, n_blocks=2), "charge_current"),
    "EinsteinHelfand": (
        ob.EinsteinHelfand(ob.ShearViscosity(T, n_blocks=2)),
        "stress",
    ),
    "Pressure": (ob.Pressure(n_blocks=2), "stress"),
    "RDF": (ob.RDF(Q(0.7, "nm"), bins=20), "positions"),
    "RDF-smooth": (
        ob.RDF(Q(0.7, "nm"), bins=20, kernel=ob.GaussianKernel(Q(0.02, "nm"))),
        "positions",
    ),
    "PotentialEnergy": (ob.PotentialEnergy(3, n_blocks=2), "potential_energy"),
    "EnthalpyOfVaporization": (
        ob.EnthalpyOfVaporization(T, Q(2.0, "kJ/mol"), 3, n_blocks=2),
        "potential_energy",
    ),
    "Density": (ob.Density(n_blocks=2), "masses"),
    "DielectricConstant": (ob.DielectricConstant(T, n_blocks=2), "dipole"),
    "DielectricConstant-frame-average": (
        ob.DielectricConstant(T, subtract_mean=False, n_blocks=2),
        "dipole",
    ),
    "ADF": (ob.ADF(Q(0.35, "nm"), bins=18), "positions"),
    "ADF-smooth": (
        ob.ADF(Q(0.35, "nm"), bins=18, kernel=ob.AngularGaussianKernel(Q(10.0, "degree"))),
        "positions",
    ),
}


def leaves(x):
    return [np.asarray(v) for v in jax.tree.leaves(eqx.filter(x, eqx.is_array))]


def test_every_exported_observable_is_in_the_suite():
    """A new observable exported from `observables` must join this suite."""
    exported = {
        cls
        for _, cls in inspect.getmembers(ob, inspect.isclass)
        if issubclass(cls, ob.AbstractObservable) and not inspect.isabstract(cls)
    }
    exported = {c for c in exported if not getattr(c, "__abstractmethods__", None)}
    covered = {type(obs) for obs, _ in OBSERVABLES.values()}
    assert exported - covered == set(), f"not in the conformance suite: {exported - covered}"


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_result_protocol_and_declared_units(name):
    obs, _ = OBSERVABLES[name]
    res = obs(make_traj(0))
    assert isinstance(res, ob.AbstractResult)
    assert isinstance(obs.y_unit, str) and obs.units() == (obs.x_unit, obs.y_unit)
    assert ob.ureg.Unit(res.y_unit) == ob.ureg.Unit(obs.y_unit)
    if obs.x_unit is None:  # a value
        assert res.x_magnitude is None and res.x is None
    else:  # a curve on a 1-D axis in x_unit
        assert ob.ureg.Unit(res.x_unit) == ob.ureg.Unit(obs.x_unit)
        assert res.x_magnitude.shape == res.y_magnitude.shape == (len(res.x_magnitude),)
    if obs.x_grid() is not None:
        np.testing.assert_allclose(res.x_magnitude, obs.x_grid(), rtol=1e-12)
    assert res.y.units == ob.ureg.Unit(res.y_unit)
    np.testing.assert_array_equal(np.asarray(obs.quantity(make_traj(0)).magnitude), res.y_magnitude)
    if res.error_magnitude is not None:
        assert res.error_magnitude.shape == res.y_magnitude.shape
        assert np.all(np.asarray(res.error_magnitude) >= 0)


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_eager_equals_jit_of_vmap(name):
    """jit(vmap(obs)) over a batch of two trajectories equals obs on each, eagerly."""
    obs, _ = OBSERVABLES[name]
    ot.check_transforms(obs, make_traj(0), make_traj(1), rtol=1e-9)


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_gradient_matches_central_finite_difference(name):
    """d/dh of sum(w * y(x + h d)) at h = 0: autodiff vs (L(h) - L(-h)) / 2h."""
    obs, field = OBSERVABLES[name]
    report = ot.check_gradient(obs, make_traj(0), field, seed=7, rtol=1e-5)
    if name in ("RDF", "ADF"):  # histograms are piecewise constant in the positions
        assert report.values == {"autodiff": 0.0, "fd": 0.0}
        return
    assert report.values["autodiff"] != 0.0, f"{name}: gradient is identically zero"


#: A proper rotation (about the axis (1, 2, 2)/3 by 0.7 rad), from Rodrigues' formula.
_AXIS = np.array([1.0, 2.0, 2.0]) / 3.0
_K = np.array([[0, -_AXIS[2], _AXIS[1]], [_AXIS[2], 0, -_AXIS[0]], [-_AXIS[1], _AXIS[0], 0]])
ROTATION = np.eye(3) + np.sin(0.7) * _K + (1 - np.cos(0.7)) * _K @ _K


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_symmetries_and_unit_covariance(name):
    """Time reversal, a relabelling of the atoms that keeps species, masses and charges, a
    rotation of the whole system (box included), and the same trajectory written in Å, fs
    and kg/mol leave every observable unchanged, error bars included. (60 frames: whole
    numbers of blocks for 2, 3, 4 and 5 blocks, so that reversed time drops no other frames.)"""
    obs, _ = OBSERVABLES[name]
    traj = make_traj(0)[:60]
    ot.check_time_reversal(obs, traj, rtol=1e-9)
    ot.check_permutation_invariance(obs, traj, [3, 5, 4, 0, 2, 1], rtol=1e-9)
    ot.check_rotation_invariance(obs, traj, ROTATION, rtol=1e-9)
    ot.check_unit_covariance(obs, traj, length="angstrom", time="fs", mass="kg/mol", rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_float32_agrees_with_float64(name):
    """The same trajectory in float32 and float64: values agree to 1e-4 relative and float32
    stays float32 (measured: 1e-8 to 4e-7 on this trajectory)."""
    obs, _ = OBSERVABLES[name]
    ot.check_dtypes(obs, make_traj(0), rtol=1e-4)


@pytest.mark.parametrize("name", sorted(OBSERVABLES))
def test_a_missing_input_is_a_trajectory_error_naming_it(name):
    """Without the field it reads, every observable raises `TrajectoryError` naming it."""
    obs, field = OBSERVABLES[name]
    drop = {field: None}
    if field == "charge_current":  # IonicConductivity / FromDipoleDerivative fall back to q·v
        drop["charges"] = None
    traj = make_traj(0).replace(**drop)
    with pytest.raises(ob.TrajectoryError, match=field if field != "charge_current" else "charges"):
        obs(traj)


# ---------------------------------------------------------------------- max_lag: one meaning
#: factories taking max_lag, for every observable with a correlation window
WINDOWED = {
    "IRSpectrum": lambda lag: ob.IRSpectrum(T, max_lag=lag),
    "RamanSpectrum": lambda lag: ob.RamanSpectrum(T, max_lag=lag),
    "VDOS": lambda lag: ob.VDOS(max_lag=lag),
    "SelfDiffusion": lambda lag: ob.SelfDiffusion(max_lag=lag, n_blocks=2),
    "EinsteinDiffusion": lambda lag: ob.EinsteinDiffusion(max_lag=lag, n_blocks=2),
    "ShearViscosity": lambda lag: ob.ShearViscosity(T, max_lag=lag, n_blocks=2),
    "ThermalConductivity": lambda lag: ob.ThermalConductivity(T, max_lag=lag, n_blocks=2),
    "IonicConductivity": lambda lag: ob.IonicConductivity(T, max_lag=lag, n_blocks=2),
    "EinsteinHelfand": lambda lag: ob.EinsteinHelfand(ob.SelfDiffusion(max_lag=lag, n_blocks=2)),
}


#: Thermal/IonicConductivity and EinsteinHelfand resolve the window through the same
#: `AbstractGreenKubo` code as ShearViscosity; their arguments are checked below.
@pytest.mark.parametrize(
    "name",
    ["IRSpectrum", "RamanSpectrum", "VDOS", "SelfDiffusion", "EinsteinDiffusion", "ShearViscosity"],
)
def test_max_lag_in_frames_or_as_a_time_means_the_same(name):
    """20 frames, 20 fs (on the grid: no warning) and 20.3 fs (off the grid: a warning naming
    the 20 frames used) give the same numbers."""
    make, traj = WINDOWED[name], make_traj(0)
    by_frames = leaves(make(20)(traj))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_time = leaves(make(Q(20 * DT_FS, "fs"))(traj))
    with pytest.warns(ob.LagWarning, match=r"using the nearest, 20 frames = 0\.02 ps"):
        off_grid = leaves(make(Q(20.3 * DT_FS, "fs"))(traj))
    for a, b, c in zip(by_frames, by_time, off_grid, strict=True):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(c, a)


@pytest.mark.parametrize("name", sorted(WINDOWED))
def test_bad_max_lag_is_refused_at_construction(name):
    make = WINDOWED[name]
    with pytest.raises(ValueError, match="at least 1 frame"):
        make(0)
    with pytest.raises(TypeError, match="int number of frames"):
        make(True)
    with pytest.raises(ob.UnitError):
        make(Q(1, "nm"))


# ------------------------------------------------------ the loss side reads only the protocol
class _MeanSquareResult(ob.AbstractResult):
    """A result type the losses have never heard of (a value)."""

    y_magnitude: jax.Array
    x_magnitude: ClassVar[None] = None
    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "nm**2"
    error_magnitude: ClassVar[None] = None
    density: ClassVar[bool] = False


class _MeanSquare(ob.AbstractObservable):
    """A new observable: mean square position (nm²), no registration anywhere."""

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "nm**2"

    def __call__(self, trajectory):
        return _MeanSquareResult(jnp.mean(trajectory.positions**2))


class _ProfileResult(ob.AbstractResult):
    """A curve in ångström, on the observable's fixed grid."""

    y_magnitude: jax.Array
    x_magnitude: jax.Array
    x_unit: ClassVar[str] = "angstrom"
    y_unit: ClassVar[str] = "dimensionless"
    error_magnitude: ClassVar[None] = None
    density: ClassVar[bool] = False


def test_a_new_observable_works_with_the_losses_without_registration():
    from spectrinv.losses import LossError, observable_units
    from spectrinv.losses._prediction import as_curve, curve_of, value_of

    traj = make_traj(0)
    obs = _MeanSquare()
    assert observable_units(obs) == (None, "nm**2", None)
    res = obs(traj)
    expected = float(jnp.mean(traj.positions**2))
    assert float(value_of(res, y_unit="nm**2", where="t")) == pytest.approx(expected)
    assert float(value_of(res, y_unit="angstrom**2", where="t")) == pytest.approx(100 * expected)
    assert as_curve(res) is None  # a value has no curve to plot
    with pytest.raises(LossError, match="prediction is a value"):
        curve_of(res, x_unit="nm", y_unit="nm**2", model_x=None, where="t")
    profile = _ProfileResult(jnp.ones(4), jnp.arange(4.0))
    x, y = curve_of(profile, x_unit="nm", y_unit="dimensionless", model_x=None, where="t")
    np.testing.assert_allclose(x, np.arange(4.0) / 10)
    with pytest.raises(ob.UnitError, match="y in dimensionless"):
        curve_of(profile, x_unit="nm", y_unit="1/cm", model_x=None, where="t")
    with pytest.raises(LossError, match="prediction is a curve"):
        value_of(profile, y_unit="dimensionless", where="t")
    # every bundled observable, Raman included, declares its units to the losses
    for name, (observable, _) in OBSERVABLES.items():
        x_unit, y_unit, grid = observable_units(observable)
        assert (x_unit is None) == (observable.x_unit is None), name
        assert ob.ureg.Unit(y_unit) == ob.ureg.Unit(observable.y_unit), name
