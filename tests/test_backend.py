"""JaxMDBackend: NVE energy conservation, Langevin / Nosé–Hoover temperature, neighbour-list
overflow recovery (compression), triclinic cells, replicas, float32, recorders, bad input;
OpenMMBackend agreement with jax-md for Lennard-Jones."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _systems import ARGON, EPS, SIGMA, AllPairs, argon

from observables import BOLTZMANN, Quantity, UnitError
from spectrinv.backends import (
    Dipole,
    JaxMDBackend,
    Langevin,
    NoseHooverChain,
    OpenMMBackend,
    Polarizability,
    Positions,
    Stress,
    Velocities,
    VelocityVerlet,
    energy_drift,
    total_energy,
)
from spectrinv.potentials import ForceShifted, LennardJones, System


@pytest.mark.slow
def test_nve_energy_conservation_float64():
    """Velocity Verlet, force-shifted LJ, 108 atoms, Δt = 4 fs, 8 ps after 4 ps equilibration.

    An 8 ps run cannot resolve a drift of 1e-5/ns (that is an energy change of 1e-7 of |E|
    against fluctuations of ~1e-5), so this test asserts that the measured drift is
    consistent with |drift| < 1e-5/ns within 3 standard errors, and that the fluctuations
    are small. `test_nve_drift_long` (slow, 200 ps) resolves the drift itself.
    """
    pos, system, lj = argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(180, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 1000, stride=25)
    traj, state = backend.sample(lj, system, state, jax.random.key(1), 2000, stride=25)
    assert traj.positions.shape == (80, 108, 3) and traj.positions.dtype == jnp.float64
    np.testing.assert_allclose(float(traj.timestep), 0.1)
    energy, _ = total_energy(lj, system, traj)
    drift = energy_drift(energy, Quantity(0.1, "ps"))
    assert drift.relative_std < 3e-5
    assert abs(drift.per_ns) < 1e-5 + 3 * drift.stderr, drift
    assert drift.stderr < 5e-4
    # the state's energy (from its neighbour list) equals a fresh all-pairs evaluation
    np.testing.assert_allclose(
        state.potential_energy, lj.energy(state.positions, system, None), rtol=1e-12
    )


@pytest.mark.slow
def test_nve_drift_long():
    """200 ps NVE at Δt = 2 fs: relative energy drift below 1e-5 per ns.

    Measured (108 atoms, float64, 2-core Xeon, 2026-11-22, `pytest -m slow -s -k
    nve_drift_long`): +2.0e-6 ± 1.3e-6 per ns (`energy_drift`: least-squares slope of 20
    block means), i.e. |drift| + 3σ = 5.9e-6 < 1e-5.
    """
    pos, system, lj = argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(2, "fs")), chunk_steps=5000)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(180, "K"), key=jax.random.key(0)
    )
    _, state = backend.sample(lj, system, state, jax.random.key(1), 5000, stride=100)
    traj, _ = backend.sample(lj, system, state, jax.random.key(1), 100000, stride=100)
    energy, _ = total_energy(lj, system, traj)
    drift = energy_drift(energy, Quantity(float(traj.timestep), "ps"))
    print(f"NVE relative drift per ns: {drift.per_ns:.3e} +- {drift.stderr:.1e}")
    assert drift.bounded_by(1e-5), drift


@pytest.mark.slow  # 15 s; tests/test_cell_list.py overflows and reallocates under compression
def test_neighbor_overflow_recovered_under_compression():
    """Two replicas: replica 0 at rest, replica 1 imploding (velocities towards the box
    centre), which overflows its neighbour list mid-chunk. The backend must notice the
    overflow of that replica, reallocate from the post-overflow positions and redo the chunk,
    giving exactly the trajectories of an all-pairs (no neighbour list) run; the final
    energy from the list equals a fresh all-pairs computation. 32 atoms per replica (2×2×2
    fcc, r_c = 0.6 nm)."""
    pos, system, lj = argon(n=2, a=0.62, cutoff=0.6)
    vel = -1.5 * (pos - pos.mean(0))  # nm/ps, converging flow
    backend = JaxMDBackend(VelocityVerlet(Quantity(2, "fs")), chunk_steps=150)
    both_pos = Quantity(np.stack([pos, pos]), "nm")
    both_vel = Quantity(np.stack([np.zeros_like(vel), vel]), "nm/ps")
    state = backend.init(lj, system, both_pos, velocities=both_vel)
    cap0 = state.neighbors.max_occupancy
    traj, final = backend.sample(lj, system, state, jax.random.key(0), 300, stride=10)
    assert traj.positions.shape == (2, 30, 32, 3)
    assert final.neighbors.max_occupancy > cap0, "the test must provoke an overflow"
    assert not bool(jnp.any(final.neighbors.did_buffer_overflow))

    ref_pot = AllPairs(lj)
    ref_state = backend.init(ref_pot, system, both_pos, velocities=both_vel)
    ref, _ = backend.sample(ref_pot, system, ref_state, jax.random.key(0), 300, stride=10)
    np.testing.assert_allclose(traj.positions, ref.positions, rtol=0, atol=1e-9)
    fresh = jax.vmap(lambda p: lj.energy(p, system, None))(final.positions)
    np.testing.assert_allclose(final.potential_energy, fresh, rtol=1e-12)


@pytest.mark.slow  # statistical; canonical sampling is checked by default on the harmonic trap
def test_langevin_reaches_target_temperature():
    pos, system, lj = argon()
    target = 120.0
    backend = JaxMDBackend(
        Langevin(Quantity(5, "fs"), Quantity(target, "K"), Quantity(5.0, "1/ps"))
    )
    state = backend.init(lj, system, Quantity(pos, "nm"))  # starts at rest (0 K)
    traj, _ = backend.sample(lj, system, state, jax.random.key(2), 2000, stride=10)
    kinetic = total_energy(lj, system, traj)[1].m
    temps = 2 * np.asarray(kinetic) / (3 * system.n_atoms * BOLTZMANN)
    second_half = temps[len(temps) // 2 :]
    # ~5 ps at γ = 5/ps: ~50 independent samples of a 7.8 % per-frame spread -> ~1 % error
    assert abs(second_half.mean() - target) < 0.04 * target
    assert temps[0] < 0.5 * target  # it really heated up from rest


@pytest.mark.slow  # a long validation (> 4 s)
def test_nose_hoover_chain_temperature_and_conserved_quantity():
    pos, system, lj = argon()
    target = 100.0
    nhc = NoseHooverChain(Quantity(4, "fs"), Quantity(target, "K"), Quantity(0.5, "ps"))
    backend = JaxMDBackend(nhc)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(150, "K"), key=jax.random.key(5)
    )
    n_dof = 3 * system.n_atoms - 3
    conserved = []
    temps = []
    for _ in range(6):
        traj, state = backend.sample(lj, system, state, jax.random.key(0), 500, stride=500)
        kin = state.kinetic_energy(system.masses)
        temps.append(2 * float(kin) / (n_dof * BOLTZMANN))
        extra = nhc.conserved_extra(jax.tree.map(lambda x: x, state), n_dof)
        conserved.append(float(state.potential_energy + kin + extra))
    conserved = np.asarray(conserved)
    assert np.ptp(conserved) / abs(conserved.mean()) < 2e-4
    assert abs(np.mean(temps[2:]) - target) < 0.15 * target


def test_triclinic_run_equals_orthorhombic_description():
    """The cube L and the sheared cell a=(L,0,0), b=(L,L,0), c=(0,0,L) are the same lattice.
    Positions re-wrapped into the sheared cell give the same energy and forces with the
    triclinic neighbour list, and along a triclinic run the list-based energies equal an
    all-pairs evaluation in the orthorhombic description. 32 atoms (2×2×2 fcc, L = 1.32
    nm): the sheared cell's smallest width is L/√2, so r_c = 0.45 nm."""
    pos, system, lj = argon(n=2, a=0.66, cutoff=0.45)
    length = float(system.box[0])
    cell = jnp.asarray([[length, 0, 0], [length, length, 0], [0, 0, length]], jnp.float64)
    s = pos @ np.linalg.inv(np.asarray(cell))
    shift = (np.floor(s)) @ np.asarray(cell)
    tri = eqx.tree_at(lambda x: x.box, system, cell)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    key = jax.random.key(3)
    st_t = backend.init(
        lj, tri, Quantity(pos - shift, "nm"), temperature=Quantity(90, "K"), key=key
    )
    ortho = eqx.filter_jit(jax.vmap(jax.value_and_grad(lambda p: lj.energy(p, system, None))))
    e0, g0 = ortho(jnp.asarray(pos)[None])
    np.testing.assert_allclose(st_t.potential_energy, e0[0], rtol=1e-12)
    np.testing.assert_allclose(st_t.forces, -g0[0], atol=1e-9)
    traj, final = backend.sample(lj, tri, st_t, key, 100, stride=50)
    assert traj.is_triclinic
    e1, g1 = ortho(final.positions[None])
    np.testing.assert_allclose(final.potential_energy, e1[0], rtol=1e-12)
    np.testing.assert_allclose(final.forces, -g1[0], atol=1e-9)


@pytest.mark.slow  # 11 s; float32 inputs are run in many other files
def test_float32_follows_input_dtype():
    pos, system, lj = argon(n=2, cutoff=0.55)  # 32 atoms
    system32 = System(
        box=system.box.astype(jnp.float32),
        species=system.species,
        masses=system.masses.astype(jnp.float32),
    )
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj,
        system32,
        Quantity(pos.astype(np.float32), "nm"),
        temperature=Quantity(90, "K"),
        key=jax.random.key(0),
    )
    traj, state = backend.sample(lj, system32, state, jax.random.key(0), 250, stride=25)
    assert traj.positions.dtype == jnp.float32 and traj.velocities.dtype == jnp.float32
    assert state.forces.dtype == jnp.float32
    energy = total_energy(lj, system32, traj)[0].m
    assert np.std(energy) / abs(np.mean(energy)) < 1e-3


def test_recorders_stress_dipole_polarizability():
    """Stress: tr(W)/3 = −V dU/dV (finite difference of a uniform scaling); the kinetic part
    is Σ m v⊗v / V. Dipole: any callable `(positions, system) -> [3]`."""
    pos, system, lj = argon(n=2, cutoff=0.55)  # 32 atoms
    charges = jnp.where(jnp.arange(system.n_atoms) % 2 == 0, 0.1, -0.1)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(0)
    )

    def polarizability(r, s):  # any callable (positions, system) -> [3, 3]
        return jnp.einsum("ia,ib->ab", r, r) * 1e-3

    record = (
        Positions(),
        Velocities(),
        Stress(),
        Dipole(lambda r, s: charges @ r),
        Polarizability(polarizability),
    )
    traj, state = backend.sample(lj, system, state, jax.random.key(0), 20, stride=10, record=record)
    assert traj.stress.shape == (2, 3, 3) and traj.dipole.shape == (2, 3)
    np.testing.assert_allclose(traj.dipole[-1], charges @ traj.positions[-1], rtol=1e-12)
    np.testing.assert_allclose(
        traj.polarizability[-1], polarizability(traj.positions[-1], system), rtol=1e-12
    )
    x = traj.positions[-1]
    v = traj.velocities[-1]
    volume = float(jnp.prod(system.box))

    def u_scaled(f):
        return lj.energy(x * f, eqx.tree_at(lambda s: s.box, system, system.box * f), None)

    h = 1e-6
    du_dv = (u_scaled(1 + h) - u_scaled(1 - h)) / (2 * h) / (3 * volume)
    kin = jnp.einsum("i,ia,ib->ab", system.masses, v, v) / volume
    virial_p = (jnp.trace(traj.stress[-1]) - jnp.trace(kin)) / 3
    np.testing.assert_allclose(virial_p, -du_dv, rtol=1e-6)
    np.testing.assert_allclose(traj.stress[-1], traj.stress[-1].T, atol=1e-9)


def test_bad_input_errors():
    pos, system, lj = argon()
    with pytest.raises(UnitError, match="timestep"):
        VelocityVerlet(Quantity(1e-15, "m"))
    with pytest.raises(UnitError):
        VelocityVerlet(2.0)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    bad = pos.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        backend.init(lj, system, Quantity(bad, "nm"))
    with pytest.raises(UnitError):
        backend.init(lj, system, pos)
    long_cut = LennardJones(SIGMA, EPS, Quantity(0.9, "nm"))
    with pytest.raises(ValueError, match="half the smallest perpendicular width"):
        backend.init(long_cut, system, Quantity(pos, "nm"))
    state = backend.init(lj, system, Quantity(pos, "nm"))
    with pytest.raises(ValueError, match="multiple of stride"):
        backend.sample(lj, system, state, jax.random.key(0), 15, stride=10)
    with pytest.raises(TypeError, match="AbstractIntegrator"):
        JaxMDBackend("verlet")


openmm = pytest.importorskip("openmm")


def _two_species_lj(truncation):
    return LennardJones(
        Quantity([3.4, 3.0], "angstrom"),
        Quantity([0.99, 0.5], "kJ/mol"),
        Quantity(0.8, "nm"),
        truncation=truncation,
    )


@pytest.mark.parametrize("truncation", [None, ForceShifted()], ids=["shifted", "force_shifted"])
@pytest.mark.parametrize("platform", ["Reference", "CPU"])
def test_openmm_matches_jaxmd_energy_and_forces(truncation, platform, rng):
    """Same configuration, cutoff and shift: OpenMM (CustomNonbondedForce) equals jax-md.
    Reference platform (double): ~1e-15 relative; CPU platform (mixed precision): ~1e-6."""
    pos, system, _ = argon()
    pos = pos + rng.normal(scale=0.02, size=pos.shape)
    system = eqx.tree_at(lambda s: s.species, system, jnp.asarray(np.arange(108) % 2, jnp.int32))
    lj = _two_species_lj(truncation)
    backend = OpenMMBackend(VelocityVerlet(Quantity(2, "fs")), platform=platform)
    e_mm, f_mm = backend.energy_and_forces(lj, system, pos)
    e_jx, g_jx = jax.value_and_grad(lj.energy)(jnp.asarray(pos), system)
    tol = 1e-12 if platform == "Reference" else 2e-5
    np.testing.assert_allclose(e_mm, e_jx, rtol=tol)
    np.testing.assert_allclose(f_mm, -g_jx, rtol=0, atol=tol * np.abs(g_jx).max())


def test_openmm_explicit_pair_matrix_matches_jaxmd(rng):
    """Per-pair σ/ε matrices (not Lorentz–Berthelot) go through OpenMM's table lookups."""
    pos, system, _ = argon()
    pos = pos + rng.normal(scale=0.02, size=pos.shape)
    system = eqx.tree_at(lambda s: s.species, system, jnp.asarray(np.arange(108) % 2, jnp.int32))
    lj = LennardJones(
        Quantity([[3.4, 3.3], [3.3, 3.0]], "angstrom"),
        Quantity([[0.99, 0.6], [0.6, 0.5]], "kJ/mol"),
        Quantity(0.8, "nm"),
    )
    backend = OpenMMBackend(VelocityVerlet(Quantity(2, "fs")), platform="Reference")
    e_mm, f_mm = backend.energy_and_forces(lj, system, pos)
    e_jx, g_jx = jax.value_and_grad(lj.energy)(jnp.asarray(pos), system)
    np.testing.assert_allclose(e_mm, e_jx, rtol=1e-12)
    np.testing.assert_allclose(f_mm, -g_jx, rtol=0, atol=1e-12 * np.abs(g_jx).max())


def test_openmm_and_jaxmd_nve_trajectories_agree():
    """Velocity Verlet in both engines from the same state: identical short trajectories."""
    pos, system, lj = argon()
    key = jax.random.key(4)
    jx = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    mm = OpenMMBackend(VelocityVerlet(Quantity(4, "fs")), platform="Reference")
    st = jx.init(lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=key)
    st_mm = mm.init(lj, system, Quantity(pos, "nm"), velocities=Quantity(st.velocities, "nm/ps"))
    np.testing.assert_allclose(st_mm.potential_energy, st.potential_energy, rtol=1e-12)
    tr_jx, _ = jx.sample(lj, system, st, key, 50, stride=25)
    tr_mm, _ = mm.sample(lj, system, st_mm, key, 50, stride=25)
    assert tr_mm.positions.shape == tr_jx.positions.shape
    np.testing.assert_allclose(tr_mm.positions, tr_jx.positions, atol=1e-8)
    np.testing.assert_allclose(tr_mm.velocities, tr_jx.velocities, atol=1e-8)


def test_run_is_differentiable_wrt_parameters():
    """`JaxMDBackend.run` (the pure counterpart of `sample`) can be differentiated: the
    gradient of a trajectory loss w.r.t. ε through 20 NVE steps matches finite differences
    and the neighbour list did not overflow."""
    pos, system, lj = argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(0)
    )

    def loss(eps):
        pot = eqx.tree_at(lambda p: p.epsilon, lj, eps)
        traj, _, overflowed = backend.run(pot, system, state, jax.random.key(0), 20, stride=10)
        ke = 0.5 * jnp.sum(system.masses[:, None] * traj.velocities**2, axis=(1, 2))
        return jnp.mean(ke), overflowed

    value_and_grad = jax.jit(jax.value_and_grad(loss, has_aux=True))
    (value, overflowed), grad = value_and_grad(lj.epsilon)
    assert not bool(overflowed)
    h = 1e-6
    forward = jax.jit(loss)  # one compiled forward run for both finite-difference points
    fd = (forward(lj.epsilon + h)[0] - forward(lj.epsilon - h)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_state_reused_with_another_box_and_parameters():
    """A state carried over to a different box gets a fresh neighbour list, and forces are
    recomputed for changed parameters (as in a fit loop)."""
    pos, system, lj = argon(n=2, cutoff=0.55)  # 32 atoms
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(lj, system, Quantity(pos, "nm"))
    bigger = eqx.tree_at(lambda s: s.box, system, system.box * 1.05)
    softer = eqx.tree_at(lambda p: p.epsilon, lj, lj.epsilon * 0.5)
    _, final = backend.sample(softer, bigger, state, jax.random.key(0), 25, stride=25)
    np.testing.assert_allclose(
        final.potential_energy, softer.energy(final.positions, bigger, None), rtol=1e-12
    )
    # velocity Verlet from rest: v(Δt) = Δt (F(0) + F(Δt)) / 2m must use the new forces
    _, one = backend.sample(softer, bigger, state, jax.random.key(0), 1, stride=1)
    f0 = -jax.grad(softer.energy)(jnp.asarray(pos), bigger)
    expected = 0.004 * (f0 + one.forces) / (2 * ARGON)
    np.testing.assert_allclose(one.velocities, expected, rtol=1e-10, atol=1e-14)


def test_md_state_reads_its_fields_as_quantities():
    """`init` takes quantities and the state's fields are plain arrays (for jit);
    `state.quantity(name)` gives them back as quantities that `init` accepts, in any unit."""
    pos, system, lj = argon()
    backend = JaxMDBackend(VelocityVerlet(Quantity(4, "fs")))
    state = backend.init(
        lj, system, Quantity(pos, "nm"), temperature=Quantity(90, "K"), key=jax.random.key(0)
    )
    positions = state.quantity("positions")
    np.testing.assert_allclose(positions.to("angstrom").magnitude, 10 * pos, rtol=1e-14)
    velocities = state.quantity("velocities")
    np.testing.assert_allclose(velocities.to("m/s").magnitude, 1e3 * state.velocities)
    energy = state.quantity("potential_energy")
    np.testing.assert_array_equal(energy.m_as("kJ/mol"), state.potential_energy)
    assert state.quantity("forces").check("[energy] / [length] / [substance]")
    again = backend.init(lj, system, positions, velocities=velocities)
    np.testing.assert_array_equal(again.velocities, state.velocities)
    assert state.neighbor_capacity == state.neighbors.max_occupancy > 0
    with pytest.raises(ValueError, match="unknown field.*positions"):
        state.quantity("position")
    with pytest.raises(ValueError, match="fixed box"):
        state.quantity("box")
