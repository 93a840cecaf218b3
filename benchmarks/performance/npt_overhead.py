"""Cost of the Monte Carlo barostat: JaxMDBackend NVT vs NPT steps/s on the same system.

Both runs use the same Langevin integrator; NPT adds `MonteCarloBarostat` with a volume
move every `--frequency` steps (each move: one list rebuild and one energy and force
evaluation in the trial box). After a warm-up run of each (compilation, and list
capacities that fit the fluctuating box), the two backends are timed alternately, each
continuing its own run, `--repeats` times, best of each, so a shared machine affects both
alike. A chunk whose list overflowed is redone (as in any run), so a timed run in which
that happens counts twice; best-of reports the run without one. Systems (float32): fcc LJ argon
(r_c = 2.5σ, Δt = 4 fs, 120 K, atomic scaling) and SPC/Fw water (DSF α = 2 nm⁻¹,
r_c = 0.9 nm, Δt = 0.5 fs, 298 K, molecular scaling). Reports the ratio NPT/NVT steps/s.

    python -m benchmarks.performance.npt_overhead --lj 4000 --water 216
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from observables import Quantity
from spectrinv.backends import JaxMDBackend, Langevin, MonteCarloBarostat, Positions
from spectrinv.potentials import DampedShiftedForce, LennardJones, System, spc_fw, water_box

from .._harness import alternate, load
from . import md as MD  # fcc start, float32 cast

SIGMA, _f32, fcc = MD.SIGMA, MD._f32, MD.fcc


def lj_case(n_atoms):
    pos, length = fcc(n_atoms)
    system = System(
        box=jnp.full(3, length, jnp.float32),
        species=jnp.zeros(len(pos), jnp.int32),
        masses=jnp.full(len(pos), 39.948, jnp.float32),
    )
    lj = LennardJones(
        Quantity(SIGMA, "nm"), Quantity(0.99774, "kJ/mol"), Quantity(2.5 * SIGMA, "nm")
    )
    thermostat = Langevin(Quantity(4, "fs"), Quantity(120, "K"), Quantity(2, "1/ps"))
    return _f32(lj), system, np.asarray(pos, np.float32), thermostat, "atomic"


def water_case(n_molecules):
    elec = DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.9, "nm"))
    model = _f32(spc_fw(elec))
    pos, system = water_box(n_molecules, key=jax.random.PRNGKey(1), model=model)
    thermostat = Langevin(Quantity(0.5, "fs"), Quantity(298, "K"), Quantity(5, "1/ps"))
    return model, _f32(system), np.asarray(pos, np.float32), thermostat, "molecular"


def compare(name, case, n_steps, frequency, repeats):
    model, system, pos, thermostat, scaling = case
    barostat = MonteCarloBarostat(
        Quantity(1, "bar"), frequency=frequency, scaling=scaling, adapt=False
    )
    backends = {
        "NVT": JaxMDBackend(thermostat, chunk_steps=n_steps),
        "NPT": JaxMDBackend(thermostat, barostat=barostat, chunk_steps=n_steps),
    }
    states = {}
    for label, backend in backends.items():
        st = backend.init(
            model,
            system,
            Quantity(pos, "nm"),
            temperature=Quantity(100, "K"),
            key=jax.random.key(0),
        )
        _, states[label] = backend.sample(
            model, system, st, jax.random.key(1), n_steps, stride=n_steps, record=(Positions(),)
        )

    def continue_run(label):
        """Each call continues `label`'s run by n_steps; round r uses key 2 + r."""
        rounds = iter(range(repeats))

        def run():
            _, states[label] = backends[label].sample(
                model,
                system,
                states[label],
                jax.random.key(2 + next(rounds)),
                n_steps,
                stride=n_steps,
                record=(Positions(),),
            )
            return states[label].positions

        return run

    best = alternate({label: continue_run(label) for label in backends}, repeats, warmup=0)
    nvt, npt = n_steps / best["NVT"], n_steps / best["NPT"]
    print(
        f"{name}: NVT {nvt:.1f} steps/s, NPT (move every {frequency} steps) {npt:.1f} steps/s, "
        f"NPT/NVT {npt / nvt:.3f}; load {load():.2f}",
        flush=True,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lj", type=int, nargs="*", default=[4000])
    p.add_argument("--water", type=int, nargs="*", default=[216])
    p.add_argument("--lj-steps", type=int, default=500)
    p.add_argument("--water-steps", type=int, default=500)
    p.add_argument("--frequency", type=int, default=25)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"CPU: {os.cpu_count()} cores, jax {jax.__version__}, backend {jax.default_backend()}")
    for n in args.lj:
        compare(f"LJ {n} atoms", lj_case(n), args.lj_steps, args.frequency, args.repeats)
    for n in args.water:
        compare(
            f"SPC/Fw {n} molecules", water_case(n), args.water_steps, args.frequency, args.repeats
        )


if __name__ == "__main__":
    main()
