"""MD throughput: JaxMDBackend vs a bare jax-md loop vs OpenMM, Lennard-Jones fcc argon.

For each size (atoms = 4 n³ for an fcc n×n×n start at ρ* = 0.8442, σ = 0.3405 nm,
ε = 0.99774 kJ/mol, r_c = 2.5σ, skin 0.1 nm, Δt = 4 fs, float32 for the JAX engines):

- `bare jax-md`: `energy.lennard_jones_neighbor_list` + `simulate.nve` in a `lax.fori_loop`
  with `nbrs.update` each step and one overflow check at the end (the jax-md README loop);
- `JaxMDBackend`: `sample(n_steps, stride=100)` recording positions every 100 steps;
- `OpenMM CPU`: `OpenMMBackend` (CustomNonbondedForce, velocity Verlet), all CPU threads;
- `OpenMM NBForce`: a plain OpenMM `NonbondedForce` (cutoff, no shift: same forces, hence the
  same dynamics) with `VerletIntegrator` — OpenMM's optimised LJ kernel, the fair reference
  for what OpenMM CPU can do (the `OpenMMBackend` custom force is slower on CPU).

Flexible water (SPC/Fw, `spectrinv.potentials.spc_fw` with damped-shifted-force
electrostatics, α = 2 nm⁻¹, r_c = 0.9 nm; `water_box` lattice start at 0.997 g/cm³, 298 K,
Δt = 0.5 fs, float32, velocity Verlet): JaxMDBackend only — there is no bare jax-md
equivalent of the model (bonds/angles/exclusions/DSF) and `OpenMMBackend` supports pair
potentials only. The warm-up (compile) run also relaxes the lattice start; velocities are
then rescaled to 298 K before the timed runs.

Reports steps/s, atom-steps/s, ns/day and the overhead ratio (JaxMDBackend steps/s ÷ bare
jax-md steps/s; 1.0 means no overhead); the relative energy change of JaxMDBackend over each
timed run (float32 energy conservation, NVE); and the 1-minute load average before each
measurement (the machine may be shared). Compilation is excluded (one warm-up run first);
each number is the best of `--repeats` timed runs.

Usage: `python -m benchmarks.performance.md --quick --json out.json` (LJ 500, 864; water 216) or
`--sizes 4000 32000 --steps 200 40 --water 216 4096 --water-steps 200 20`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity
from spectrinv.backends import JaxMDBackend, OpenMMBackend, Positions, VelocityVerlet
from spectrinv.potentials import DampedShiftedForce, LennardJones, System, spc_fw, water_box

with jax.numpy_dtype_promotion("standard"):
    from jax_md import energy as jmd_energy, partition, simulate, space

from .._harness import best_time, load

SIGMA, EPS, MASS = 0.3405, 0.99774, 39.948
DT_PS, SKIN = 0.004, 0.1
REPEATS = 3  # best of 3 timed runs (the machine may be shared); --repeats changes it
WATER_DT_PS, WATER_T_K = 0.0005, 298.0
WATER_ALPHA_NM, WATER_CUTOFF_NM = 2.0, 0.9


def ns_per_day(steps_per_s: float, dt_ps: float) -> float:
    return steps_per_s * dt_ps * 86400 / 1000


def fcc(n_atoms: int):
    n = round((n_atoms / 4) ** (1 / 3))
    if 4 * n**3 != n_atoms:
        raise SystemExit(f"size {n_atoms} is not 4 n^3 (fcc); try 500, 864, 4000, 32000")
    a = (4 / 0.8442) ** (1 / 3) * SIGMA
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return ((g[:, None, :] + basis[None]) * a).reshape(-1, 3).astype(np.float32), n * a


def velocities(n_atoms: int, kelvin: float = 90.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(n_atoms, 3)) * np.sqrt(0.0083144626 * kelvin / MASS)
    return (v - v.mean(0)).astype(np.float32)


def bench_bare(pos, length, vel, n_steps):
    with jax.numpy_dtype_promotion("standard"):
        disp, shift = space.periodic(jnp.float32(length))
        nfn, efn = jmd_energy.lennard_jones_neighbor_list(
            disp,
            jnp.float32(length),
            sigma=SIGMA,
            epsilon=EPS,
            r_onset=2.0,
            r_cutoff=2.5,
            dr_threshold=SKIN,
            format=partition.Dense,
        )
        init, apply = simulate.nve(efn, shift, DT_PS)
        nbrs = nfn.allocate(jnp.asarray(pos))
        state = init(jax.random.key(0), jnp.asarray(pos), 0.0, mass=MASS, neighbor=nbrs)
        state = state.set(momentum=jnp.asarray(vel) * MASS)

        @jax.jit
        def run(state, nbrs):
            def body(i, carry):
                st, nb = carry
                st = apply(st, neighbor=nb)
                return st, nb.update(st.position)

            return jax.lax.fori_loop(0, n_steps, body, (state, nbrs))

        elapsed = best_time(lambda: run(state, nbrs), REPEATS)
        _, nb = run(state, nbrs)
    assert not bool(nb.did_buffer_overflow), "bare jax-md neighbour list overflowed"
    return n_steps / elapsed


def _ours(pos, length, vel):
    n = len(pos)
    system = System(
        box=jnp.full(3, length, jnp.float32),
        species=jnp.zeros(n, jnp.int32),
        masses=jnp.full(n, MASS, jnp.float32),
    )
    lj = LennardJones(Quantity(SIGMA, "nm"), Quantity(EPS, "kJ/mol"), Quantity(2.5 * SIGMA, "nm"))
    return system, lj


def bench_ours(pos, length, vel, n_steps):
    system, lj = _ours(pos, length, vel)
    backend = JaxMDBackend(
        VelocityVerlet(Quantity(DT_PS, "ps")), skin=Quantity(SKIN, "nm"), chunk_steps=n_steps
    )
    state = backend.init(lj, system, Quantity(pos, "nm"), velocities=Quantity(vel, "nm/ps"))
    stride = min(100, n_steps)
    key = jax.random.key(0)

    def sample():
        return backend.sample(lj, system, state, key, n_steps, stride=stride, record=(Positions(),))

    elapsed = best_time(lambda: sample()[0].positions, REPEATS)
    _, final = sample()  # the same run (same state and key) as each timed one
    return n_steps / elapsed, _relative_energy_change(state, final, system)


def _total_energy(state, system) -> float:
    return float(state.potential_energy) + float(state.kinetic_energy(system.masses))


def _relative_energy_change(start, end, system) -> tuple[float, float]:
    """(E_end − E_start) / |E_start| and (E_end − E_start) / K_start of an NVE run (float32
    conservation check; the second is meaningful also where E is close to zero)."""
    e0 = _total_energy(start, system)
    de = _total_energy(end, system) - e0
    return de / abs(e0), de / float(start.kinetic_energy(system.masses))


def bench_openmm(pos, length, vel, n_steps):
    system, lj = _ours(pos, length, vel)
    backend = OpenMMBackend(VelocityVerlet(Quantity(DT_PS, "ps")), platform="CPU")
    state = backend.init(
        lj,
        system,
        Quantity(pos.astype(float), "nm"),
        velocities=Quantity(vel.astype(float), "nm/ps"),
    )
    key = jax.random.key(0)
    backend.sample(lj, system, state, key, min(50, n_steps), stride=min(50, n_steps))
    elapsed = best_time(
        lambda: backend.sample(lj, system, state, key, n_steps, stride=n_steps), REPEATS, warmup=0
    )
    return n_steps / elapsed


def bench_openmm_nbforce(pos, length, vel, n_steps):
    """Plain OpenMM `NonbondedForce` LJ (cutoff 2.5σ, no shift) + `VerletIntegrator`, CPU."""
    import openmm as mm

    n = len(pos)
    sys_ = mm.System()
    sys_.setDefaultPeriodicBoxVectors(
        mm.Vec3(length, 0, 0), mm.Vec3(0, length, 0), mm.Vec3(0, 0, length)
    )
    nb = mm.NonbondedForce()
    nb.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(2.5 * SIGMA)
    nb.setUseDispersionCorrection(False)
    for _ in range(n):
        sys_.addParticle(MASS)
        nb.addParticle(0.0, SIGMA, EPS)
    sys_.addForce(nb)
    integ = mm.VerletIntegrator(DT_PS)
    ctx = mm.Context(sys_, integ, mm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(pos.astype(float))
    ctx.setVelocities(vel.astype(float))
    integ.step(min(50, n_steps))

    def run():
        integ.step(n_steps)
        return ctx.getState(getPositions=True)

    return n_steps / best_time(run, REPEATS, warmup=0)


def _f32(tree):
    return jax.tree.map(
        lambda x: (
            x.astype(jnp.float32)
            if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)
            else x
        ),
        tree,
    )


def bench_water(n_molecules, n_steps):
    """SPC/Fw + DSF water, JaxMDBackend velocity Verlet, float32: (steps/s, (ΔE/|E|, ΔE/K))."""
    model = _f32(
        spc_fw(
            DampedShiftedForce(Quantity(WATER_ALPHA_NM, "1/nm"), Quantity(WATER_CUTOFF_NM, "nm"))
        )
    )
    pos, system = water_box(n_molecules, key=jax.random.PRNGKey(1), model=model)
    system = _f32(system)
    backend = JaxMDBackend(
        VelocityVerlet(Quantity(WATER_DT_PS, "ps")), skin=Quantity(SKIN, "nm"), chunk_steps=n_steps
    )
    key = jax.random.key(0)
    state = backend.init(
        model,
        system,
        Quantity(np.asarray(pos, np.float32), "nm"),
        temperature=Quantity(WATER_T_K, "K"),
        key=key,
    )
    stride = min(100, n_steps)
    # warm-up (compile) run; it also relaxes the lattice start a little. Then back to 298 K.
    _, state = backend.sample(
        model, system, state, key, n_steps, stride=stride, record=(Positions(),)
    )
    ke = float(state.kinetic_energy(system.masses))
    target = 0.5 * (3 * system.n_atoms - 3) * 0.0083144626 * WATER_T_K
    state = eqx.tree_at(
        lambda s: s.velocities, state, state.velocities * np.float32(np.sqrt(target / ke))
    )

    def sample():
        return backend.sample(
            model, system, state, key, n_steps, stride=stride, record=(Positions(),)
        )

    elapsed = best_time(lambda: sample()[0].positions, REPEATS, warmup=0)
    _, final = sample()  # the same run (same state and key) as each timed one
    return n_steps / elapsed, _relative_energy_change(state, final, system)


def energy_drift(n_atoms, n_chunks, chunk):
    """float32 NVE energy conservation of JaxMDBackend on the LJ benchmark system: total
    energy read every `chunk` steps for `n_chunks` chunks; returns a dict with the relative
    change over the run, the drift per ns from a linear fit over the second half (after the
    fcc-melting transient) and the RMS fluctuation, all relative to |E|."""
    pos, length = fcc(n_atoms)
    system, lj = _ours(pos, length, None)
    backend = JaxMDBackend(VelocityVerlet(Quantity(DT_PS, "ps")), chunk_steps=chunk)
    state = backend.init(
        lj, system, Quantity(pos, "nm"), velocities=Quantity(velocities(n_atoms), "nm/ps")
    )
    energies = [_total_energy(state, system)]
    key = jax.random.key(0)
    for _ in range(n_chunks):
        _, state = backend.sample(
            lj, system, state, key, chunk, stride=chunk, record=(Positions(),)
        )
        energies.append(_total_energy(state, system))
    e = np.asarray(energies)
    t_ps = np.arange(len(e)) * chunk * DT_PS
    half = len(e) // 2
    slope = np.polyfit(t_ps[half:], e[half:], 1)[0]
    scale = abs(e.mean())
    return {
        "atoms": n_atoms,
        "steps": n_chunks * chunk,
        "ps": float(t_ps[-1]),
        "rel_change": float((e[-1] - e[0]) / abs(e[0])),
        "fit_drift_per_ns": float(slope * 1000 / scale),
        "rel_rms_fluctuation": float(e.std() / scale),
    }


def _per_size(values, sizes, name):
    if len(values) == 1:
        return values * len(sizes)
    if len(values) != len(sizes):
        raise SystemExit(f"--{name}: give one value or one per size ({len(sizes)})")
    return values


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 32000], help="LJ atoms")
    parser.add_argument(
        "--steps", type=int, nargs="+", default=[500], help="timed LJ steps (one, or per size)"
    )
    parser.add_argument("--water", type=int, nargs="*", default=[216, 4096], help="molecules")
    parser.add_argument(
        "--water-steps", type=int, nargs="+", default=[200], help="timed water steps"
    )
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed runs (best is kept)")
    parser.add_argument("--quick", action="store_true", help="LJ 500, 864; water 216; 300 steps")
    parser.add_argument("--no-openmm", action="store_true")
    parser.add_argument(
        "--drift",
        type=int,
        nargs=3,
        metavar=("ATOMS", "CHUNKS", "CHUNK"),
        help="only measure float32 NVE energy drift (LJ, energy every CHUNK steps)",
    )
    parser.add_argument("--json", type=str, default=None, help="write results to this file")
    return parser.parse_args(argv)


def _lj_row(n_atoms, n_steps, openmm: bool) -> dict:
    """Steps/s of each engine on the fcc LJ system (and the float32 NVE energy change)."""
    pos, length = fcc(n_atoms)
    vel = velocities(n_atoms)
    row = {"system": "LJ", "atoms": n_atoms, "steps": n_steps, "dt_ps": DT_PS, "load": {}}
    row["load"]["bare"] = load()
    row["bare_jaxmd_steps_per_s"] = bench_bare(pos, length, vel, n_steps)
    row["load"]["ours"] = load()
    ours, drift = bench_ours(pos, length, vel, n_steps)
    row["jaxmdbackend_steps_per_s"] = ours
    row["jaxmdbackend_rel_energy_change"] = drift
    if openmm:
        try:
            row["load"]["openmm"] = load()
            row["openmm_cpu_steps_per_s"] = bench_openmm(pos, length, vel, n_steps)
            row["load"]["openmm_nbforce"] = load()
            row["openmm_nbforce_steps_per_s"] = bench_openmm_nbforce(pos, length, vel, n_steps)
        except ImportError:
            row["openmm_cpu_steps_per_s"] = None
    row["overhead_ratio"] = row["jaxmdbackend_steps_per_s"] / row["bare_jaxmd_steps_per_s"]
    return row


def _water_row(n_mol, n_steps) -> dict:
    """Steps/s of JaxMDBackend on SPC/Fw water (and the float32 NVE energy change)."""
    row = {"system": "SPC/Fw", "atoms": 3 * n_mol, "molecules": n_mol, "steps": n_steps}
    row["dt_ps"] = WATER_DT_PS
    row["load"] = {"ours": load()}
    ours, drift = bench_water(n_mol, n_steps)
    row["jaxmdbackend_steps_per_s"] = ours
    row["jaxmdbackend_rel_energy_change"] = drift
    return row


def _print_table(rows) -> None:
    header = (
        f"{'system':<7} {'atoms':>7} {'engine':<15} {'steps/s':>10} {'atom-steps/s':>13} "
        f"{'ns/day':>8} {'load':>5}\n" + "-" * 72
    )
    print(header)
    for row in rows:
        for name, key, lkey in [
            ("bare jax-md", "bare_jaxmd_steps_per_s", "bare"),
            ("JaxMDBackend", "jaxmdbackend_steps_per_s", "ours"),
            ("OpenMMBackend", "openmm_cpu_steps_per_s", "openmm"),
            ("OpenMM NBForce", "openmm_nbforce_steps_per_s", "openmm_nbforce"),
        ]:
            value = row.get(key)
            if value is None:
                continue
            print(
                f"{row['system']:<7} {row['atoms']:>7} {name:<15} {value:>10.2f} "
                f"{value * row['atoms']:>13.3e} {ns_per_day(value, row['dt_ps']):>8.3f} "
                f"{row['load'].get(lkey, float('nan')):>5.2f}"
            )
        if "overhead_ratio" in row:
            print(
                f"{row['system']:<7} {row['atoms']:>7} overhead ratio (JaxMDBackend / bare) = "
                f"{row['overhead_ratio']:.3f}"
            )
        de_e, de_k = row["jaxmdbackend_rel_energy_change"]
        print(
            f"{row['system']:<7} {row['atoms']:>7} JaxMDBackend float32 NVE over "
            f"{row['steps']} steps ({row['steps'] * row['dt_ps']:g} ps): dE/|E| = {de_e:+.2e}, "
            f"dE/K = {de_k:+.2e}"
        )


def main(argv=None):
    global REPEATS
    args = _parse(argv)
    REPEATS = args.repeats
    if args.drift:
        out = energy_drift(*args.drift)
        print(json.dumps(out))
        return [out]
    if args.quick:
        sizes, steps, waters, wsteps = [500, 864], [300, 300], [216], [300]
    else:
        sizes, waters = args.sizes, args.water
        steps = _per_size(args.steps, sizes, "steps")
        wsteps = _per_size(args.water_steps, waters, "water-steps")

    rows = []
    for n_atoms, n_steps in zip(sizes, steps, strict=True):
        rows.append(_lj_row(n_atoms, n_steps, openmm=not args.no_openmm))
        print(json.dumps(rows[-1]), flush=True)
    for n_mol, n_steps in zip(waters, wsteps, strict=True):
        rows.append(_water_row(n_mol, n_steps))
        print(json.dumps(rows[-1]), flush=True)
    _print_table(rows)
    meta = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "dtype": "float32",
        "timestep_ps": DT_PS,
        "water_timestep_ps": WATER_DT_PS,
        "water_electrostatics": f"DSF alpha={WATER_ALPHA_NM}/nm rc={WATER_CUTOFF_NM} nm",
        "repeats": REPEATS,
        "cpu_count": os.cpu_count(),
        "cutoff_sigma": 2.5,
        "skin_nm": SKIN,
    }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
