"""NPT with `MonteCarloBarostat`: the ideal-gas volume distribution (exact), ⟨P_inst⟩ = P
for a Lennard-Jones liquid, neighbour lists that follow a shrinking box, molecular scaling,
replicas, and bad input.

The 80 ps Lennard-Jones runs (and OpenMM's for comparison) are marked `slow`; a 24 ps run
checks the same pressure in the default suite with a wider error bar."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, EPS, SIGMA, AllPairs, fcc
from pint import Quantity
from scipy import stats

from observables import BOLTZMANN, to_internal
from spectrinv.backends import (
    JaxMDBackend,
    Langevin,
    MonteCarloBarostat,
    Positions,
    Stress,
    VelocityVerlet,
)
from spectrinv.backends._barostat import molecule_centres
from spectrinv.backends._chunk import volume_move
from spectrinv.backends._neighbors import LIST_ORIGIN
from spectrinv.backends._state import batch_state
from spectrinv.potentials import AbstractPotential, ForceShifted, LennardJones, System
from spectrinv.potentials._base import Topology, neighbor_pairs

BAR = float(to_internal(Quantity(1, "bar"), "pressure", "p"))


class IdealGas(AbstractPotential):
    """U = 0 and no cutoff (no neighbour list)."""

    @property
    def cutoff(self):
        return None

    def energy(self, positions, system, neighbors=None):
        return jnp.zeros((), positions.dtype)


def gas_system(n, box, molecule=None):
    topology = None
    if molecule is not None:
        empty = jnp.zeros((0, 2), jnp.int32)
        topology = Topology(
            bonds=empty,
            angles=jnp.zeros((0, 3), jnp.int32),
            molecule=jnp.asarray(molecule, jnp.int32),
            exclusions=empty,
        )
    return System(
        box=jnp.asarray(box, float),
        species=jnp.zeros(n, jnp.int32),
        masses=jnp.full(n, ARGON),
        topology=topology,
    )


def langevin(temperature=300.0, dt=2.0):
    return Langevin(Quantity(dt, "fs"), Quantity(temperature, "K"), Quantity(5, "1/ps"))


def block_sem(x, n_blocks=20):
    blocks = np.array_split(np.asarray(x), n_blocks)
    return np.std([b.mean() for b in blocks], ddof=1) / np.sqrt(n_blocks)


def volumes(traj):
    assert np.asarray(traj.box).shape[-2:] == (3, 3)  # NPT frames carry [3, 3] cells
    return np.asarray(traj.volume)


@pytest.mark.parametrize(
    "scaling, molecule, units",
    [("atomic", None, 4), ("molecular", [0, 0, 1, 1, 2, 2], 3)],
)
def test_ideal_gas_volume_is_gamma_distributed(scaling, molecule, units):
    """For U = 0, p(V) ∝ V^N exp(−βPV): Gamma(N + 1, k_BT/P), N atoms or molecules."""
    n = 4 if molecule is None else len(molecule)
    pressure = 200.0  # bar
    kt = BOLTZMANN * 300.0
    scale = kt / (pressure * BAR)  # nm³
    system = gas_system(n, np.full(3, scale ** (1 / 3) * 2.0), molecule)
    baro = MonteCarloBarostat(
        Quantity(pressure, "bar"), frequency=1, scaling=scaling, volume_step=0.2, adapt=False
    )
    backend = JaxMDBackend(langevin(), barostat=baro, chunk_steps=20000)
    pos = np.random.default_rng(0).uniform(0, 1, (n, 3))
    state = backend.init(IdealGas(), system, Quantity(pos, "nm"))
    traj, state = backend.sample(IdealGas(), system, state, jax.random.key(3), 40000, stride=4)
    v = volumes(traj)[500:]
    exact = stats.gamma(units + 1, scale=scale)
    assert abs(v.mean() - exact.mean()) < 4 * block_sem(v), (v.mean(), exact.mean())
    assert abs(v.var() / exact.var() - 1) < 0.15
    # thinned samples (the ln V chain decorrelates within ~25 moves here)
    assert stats.kstest(v[::25], exact.cdf).pvalue > 1e-3
    assert 0.3 < float(state.barostat.acceptance) < 0.95
    # a wrong Jacobian (N instead of N + 1) would be rejected by the mean at this length
    wrong = stats.gamma(units, scale=scale)
    assert abs(v.mean() - wrong.mean()) > 4 * block_sem(v)


def lj_liquid_npt(backend_type, equilibration=4000, steps=16000, **options):
    """108 LJ argon atoms, NPT at 100 K and 800 bar: `equilibration` steps discarded, `steps`
    sampled (Δt = 4 fs, volume moves every 5 steps), frames every 10 steps."""
    pos, length = fcc(3, 0.5718)
    system = gas_system(len(pos), np.full(3, length))
    lj = LennardJones(SIGMA, EPS, Quantity(0.55, "nm"), truncation=ForceShifted())
    baro = MonteCarloBarostat(Quantity(800, "bar"), frequency=5, scaling="atomic")
    backend = backend_type(langevin(100.0, 4.0), barostat=baro, **options)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(100, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), equilibration, stride=10)
    record = (Positions(), Stress()) if backend_type is JaxMDBackend else (Positions(),)
    traj, _ = backend.sample(lj, system, state, jax.random.key(2), steps, stride=10, record=record)
    return traj, len(pos)


@pytest.fixture(scope="module")
def jaxmd_lj_npt():
    return lj_liquid_npt(JaxMDBackend, chunk_steps=2000)


@pytest.mark.slow
def test_short_lj_liquid_run_holds_the_set_pressure():
    """A 24 ps version of the test below (2000 steps discarded, 4000
    sampled): ⟨P_inst⟩ = 800 bar within 4 block errors of ~20 bar, a liquid density. A
    barostat that ignored ΔU, mixed up pressure units or flipped the sign of PΔV moves the
    pressure by far more than that."""
    traj, n = lj_liquid_npt(JaxMDBackend, 2000, 4000, chunk_steps=2000)
    p = np.trace(np.asarray(traj.stress), axis1=1, axis2=2) / 3 / BAR
    sem = block_sem(p)
    assert sem < 60, sem  # the check below must be able to fail
    assert abs(p.mean() - 800) < 4 * sem, (p.mean(), sem)
    rho = n * ARGON / (volumes(traj).mean() * 602.214)  # g/cm³
    assert 1.0 < rho < 1.6  # a liquid, not a gas


@pytest.mark.slow
def test_lj_liquid_mean_virial_pressure_equals_set_pressure(jaxmd_lj_npt):
    """In the isothermal-isobaric ensemble ⟨P_inst⟩ = P exactly (virial + kinetic)."""
    traj, n = jaxmd_lj_npt
    p = np.trace(np.asarray(traj.stress), axis1=1, axis2=2) / 3 / BAR
    sem = block_sem(p)
    assert sem < 60, sem  # the check below must be able to fail
    assert abs(p.mean() - 800) < 4 * sem, (p.mean(), sem)
    rho = n * ARGON / (volumes(traj).mean() * 602.214)  # g/cm³
    assert 1.0 < rho < 1.6  # a liquid, not a gas


@pytest.mark.slow
def test_openmm_samples_the_same_npt_volume(jaxmd_lj_npt):
    """OpenMM's own MonteCarloBarostat (steps uniform in V, self-tuned) and ours (steps in
    ln V) sample one ensemble: the mean volumes agree within their combined error."""
    from spectrinv.backends import OpenMMBackend

    ours = volumes(jaxmd_lj_npt[0])
    theirs = volumes(lj_liquid_npt(OpenMMBackend, properties={"Threads": "1"})[0])
    combined = np.hypot(block_sem(ours), block_sem(theirs))
    print(
        f"NPT volume: jax-md {ours.mean():.3f} +- {block_sem(ours):.3f}, OpenMM "
        f"{theirs.mean():.3f} +- {block_sem(theirs):.3f} nm3"
    )
    assert combined < 0.01 * ours.mean()  # resolves a 1 % density difference
    assert abs(ours.mean() - theirs.mean()) < 4 * combined, (ours.mean(), theirs.mean())


@pytest.mark.slow
def test_lists_follow_a_box_that_shrinks_past_the_cell_margin():
    """A dilute gas under high pressure: the box shrinks by far more than the cells'
    margin; the lists are reallocated and the energies stay exact (vs all pairs)."""
    pos, length = fcc(3, 0.9)  # 108 atoms in 2.7 nm: 4 cells of ≥ 0.55 nm · 1.05
    system = gas_system(len(pos), np.full(3, length))
    lj = LennardJones(SIGMA, EPS, Quantity(0.45, "nm"), truncation=ForceShifted())
    baro = MonteCarloBarostat(Quantity(3000, "bar"), frequency=2, volume_step=0.05)
    backend = JaxMDBackend(langevin(150.0, 4.0), barostat=baro, chunk_steps=500)
    state = backend.init(
        lj,
        system,
        Quantity(pos, "nm"),
        temperature=Quantity(150, "K"),
        key=jax.random.key(0),
        neighbor_capacity=40,  # room for the dense state: only the cells must be redone
    )
    cells = LIST_ORIGIN[state.neighbors.update_fn][2].shape
    traj, state = backend.sample(lj, system, state, jax.random.key(1), 1000, stride=50)
    v = volumes(traj)
    assert v[-1] < 0.55 * length**3  # widths shrank by > 18 %: the 4 cells became invalid
    assert cells == (4, 4, 4)
    assert max(LIST_ORIGIN[state.neighbors.update_fn][2].shape) < 4  # cells reallocated
    box = state.barostat.box
    here = System(box=box, species=system.species, masses=system.masses)
    reference = AllPairs(lj).energy(state.positions, here)
    np.testing.assert_allclose(state.potential_energy, reference, rtol=1e-10)
    # the list holds every pair within the cutoff in the current box
    dr, mask, idx = neighbor_pairs(state.positions, here, state.neighbors)
    listed = np.sum(np.asarray(mask) & (np.sum(np.asarray(dr) ** 2, -1) < 0.45**2))
    frac = np.asarray(state.positions) / np.asarray(box)
    d = frac[:, None] - frac[None]
    d = (d - np.round(d)) * np.asarray(box)
    r2 = np.sum(d * d, -1)
    assert listed == np.sum((r2 < 0.45**2) & (r2 > 0))


def test_triclinic_cell_keeps_its_shape_and_replicas_have_their_own_box():
    h = np.array([[2.0, 0.0, 0.0], [0.6, 1.9, 0.0], [0.3, 0.4, 2.1]])
    system = gas_system(4, h)
    baro = MonteCarloBarostat(Quantity(200, "bar"), frequency=1, scaling="atomic")
    backend = JaxMDBackend(langevin(), barostat=baro)
    pos = np.random.default_rng(1).uniform(0, 1.5, (2, 4, 3))
    state = backend.init(IdealGas(), system, Quantity(pos, "nm"))
    traj, state = backend.sample(IdealGas(), system, state, jax.random.key(0), 200, stride=10)
    boxes = np.asarray(state.barostat.box)
    assert boxes.shape == (2, 3, 3)
    for b in boxes:
        ratio = b[np.abs(h) > 0] / h[np.abs(h) > 0]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert not np.allclose(boxes[0], boxes[1])
    assert np.asarray(traj.box).shape == (2, 20, 3, 3)
    np.testing.assert_allclose(np.asarray(traj.box)[:, -1], boxes)


def test_molecular_move_keeps_molecules_rigid_and_scales_their_centres():
    molecule = [0, 0, 0, 1, 1, 1]
    system = gas_system(6, np.full(3, 2.0), molecule)
    pos = np.array(
        [[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [1.95, 0.15, 0.1]]  # split across the boundary
        + [[1.0, 1.0, 1.0], [1.1, 1.05, 1.0], [1.0, 1.1, 0.95]]
    )
    baro = MonteCarloBarostat(Quantity(1, "bar"), scaling="molecular", volume_step=0.2)
    backend = JaxMDBackend(langevin(), barostat=baro)
    state = batch_state(backend.init(IdealGas(), system, Quantity(pos, "nm")))
    new = volume_move(baro, backend.integrator, IdealGas(), system, state, jax.random.key(5), 0.1)
    assert int(new.barostat.accepted[0]) == 1  # U = 0 and P ≈ 0: this expansion is accepted
    s = float(new.barostat.box[0, 0] / state.barostat.box[0, 0])
    assert s != 1.0
    old, moved = np.asarray(state.positions[0]), np.asarray(new.positions[0])
    for m in (slice(0, 3), slice(3, 6)):
        np.testing.assert_allclose(moved[m] - moved[m][0], old[m] - old[m][0], atol=1e-12)
    centres, n_mol = molecule_centres(state.positions[0], system, state.barostat.box[0])
    np.testing.assert_allclose(moved - old, (s - 1) * np.asarray(centres), atol=1e-12)
    assert int(n_mol) == 2
    # the first molecule's centre accounts for the minimum image (x near 0, not near 0.75)
    assert abs(float(centres[0, 0]) - 0.0833333) < 1e-6


def test_npt_state_needs_a_barostat_and_bad_input_is_refused():
    system = gas_system(4, np.full(3, 2.0))
    pos = Quantity(np.random.default_rng(0).uniform(0, 2, (4, 3)), "nm")
    with pytest.raises(ValueError, match="thermostatted integrator"):
        JaxMDBackend(
            VelocityVerlet(Quantity(1, "fs")), barostat=MonteCarloBarostat(Quantity(1, "bar"))
        )
    with pytest.raises(ValueError, match="without units"):
        MonteCarloBarostat(1.0)
    with pytest.raises(ValueError, match="frequency"):
        MonteCarloBarostat(Quantity(1, "bar"), frequency=0)
    with pytest.raises(ValueError, match="scaling"):
        MonteCarloBarostat(Quantity(1, "bar"), scaling="isotropic")
    with pytest.raises(ValueError, match="volume_step"):
        MonteCarloBarostat(Quantity(1, "bar"), volume_step=0.5)
    with pytest.raises(ValueError, match="unit nm .* kJ/mol/nm³"):
        MonteCarloBarostat(Quantity(1, "nm"))
    with pytest.raises(TypeError, match="MonteCarloBarostat"):
        JaxMDBackend(langevin(), barostat="1 bar")
    molecular = JaxMDBackend(
        langevin(), barostat=MonteCarloBarostat(Quantity(1, "bar"), scaling="molecular")
    )
    with pytest.raises(ValueError, match="topology"):
        molecular.init(IdealGas(), system, pos)
    npt = JaxMDBackend(langevin(), barostat=MonteCarloBarostat(Quantity(1, "bar")))
    with pytest.raises(ValueError, match="periodic"):
        npt.init(IdealGas(), System(None, system.species, system.masses), pos)
    state = npt.init(IdealGas(), system, pos)
    nvt = JaxMDBackend(langevin())
    with pytest.raises(ValueError, match="NPT run"):
        nvt.sample(IdealGas(), system, state, jax.random.key(0), 10)
    # a fixed-box state continues under a barostat from system.box
    fixed = nvt.init(IdealGas(), system, pos)
    traj, after = npt.sample(IdealGas(), system, fixed, jax.random.key(0), 50, stride=25)
    assert int(after.barostat.attempted) == 2
    assert np.asarray(traj.box).shape == (2, 3, 3)  # not read as one triclinic cell
    np.testing.assert_allclose(float(traj.volume[-1]), np.prod(after.barostat.box), rtol=1e-12)


def test_three_orthorhombic_replicas_are_not_one_triclinic_cell():
    """`[3, 3]` of three replicas' edges has the shape of one cell matrix: volumes and
    the recorded boxes must still be per replica."""
    system = gas_system(4, np.full(3, 2.0))
    baro = MonteCarloBarostat(Quantity(200, "bar"), frequency=1, scaling="atomic")
    backend = JaxMDBackend(langevin(), barostat=baro)
    pos = np.random.default_rng(2).uniform(0, 2, (3, 4, 3))
    state = backend.init(IdealGas(), system, Quantity(pos, "nm"))
    traj, state = backend.sample(IdealGas(), system, state, jax.random.key(0), 300, stride=100)
    edges = np.asarray(state.barostat.box)
    assert edges.shape == (3, 3) and np.all(edges[:, :1] == edges)  # cubic, per replica
    assert np.asarray(traj.box).shape == (3, 3, 3, 3)
    np.testing.assert_allclose(np.asarray(traj.volume)[:, -1], np.prod(edges, -1), rtol=1e-12)
    assert len(np.unique(edges[:, 0])) == 3
    # the ideal-gas law holds per replica on average: ln V moves were weighed per replica
    assert np.all(np.asarray(state.barostat.accepted) > 0)


def test_gradient_strategies_refuse_a_barostat():
    """Trajectory-differentiating strategies refuse NPT (`Reweighting` accepts it:
    tests/test_reweighting_npt.py)."""
    from spectrinv.gradients import BPTT, Adjoint

    npt = JaxMDBackend(langevin(), barostat=MonteCarloBarostat(Quantity(1, "bar")))
    system = gas_system(4, np.full(3, 2.0))
    for strategy in (BPTT(n_steps=10), Adjoint(n_steps=10)):
        with pytest.raises((ValueError, TypeError), match="barostat|NVE|VelocityVerlet"):
            strategy(None, None, None, backend=npt, system=system, state=None, key=None)
