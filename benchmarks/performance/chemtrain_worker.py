"""chemtrain side of `benchmarks/performance/chemtrain_difftre.py`; runs inside the chemtrain venv.

Not meant to be run by hand: `chemtrain_difftre.py` starts it as
`<chemtrain python> chemtrain_worker.py IN.json OUT.json`, where `IN.json` holds the
problem (Lennard-Jones argon parameters, the fcc start, the RDF target, and the path of an
`.npz` with the reference trajectory that our `Reweighting` used) and `OUT.json` receives
the timings and the checks. It imports only chemtrain, jax and jax-md (chemtrain pins
`jax<=0.4.37`, so it cannot share the project's venv; see the main script's docstring for
how to create that venv).

What it does, with chemtrain's public building blocks (the ones its `Difftre` trainer
wires together in `add_statepoint`):

- coordinates: fractional, `space.periodic_general(box)` (see the comment in `main`);
- potential: force-shifted LJ, u(r) = φ(r) − φ(r_c) − (r − r_c) φ'(r_c) for r < r_c, on a
  jax-md `Dense` neighbour list (r_c + skin), parameters `{"sigma", "epsilon"}`;
- simulator: `chemtrain.ensemble.templates.init_nvt_langevin_simulator_template`
  (jax-md `nvt_langevin`, BAOAB), 2000 steps of equilibration from the fcc lattice;
- `MD forward`: `init_first_traj(..., num_runs=1)` from
  `chemtrain.ensemble.reweighting.init_pot_reweight_propagation_fns`, `frames` printouts
  every `stride` steps (no further equilibration), plus chemtrain's per-frame aux energies;
- RDF: `jax_md_mod.custom_quantity.init_rdf` (the compute function chemtrain's
  `init_radial_distribution_target` builds) on `rdf_discretization(r_max, bins)`, whose
  Gaussian width is one bin (= our 0.01 nm), ensemble average
  `chemtrain.quantity.observables.init_traj_mean_fn`;
- loss: `chemtrain.learn.difftre.init_default_loss_fn` with the loss function
  Σ (g − g_target)² (chemtrain's default would be the mean, i.e. ours ÷ bins);
- `grad`: `jax.jit(jax.value_and_grad(loss))` of the DiffTRe loss from
  `init_difftre_gradient_and_propagation(..., wrapped=False)` on a fixed reference;
- `step`: the function the `Difftre` trainer calls per update
  (`init_difftre_gradient_and_propagation(...)`, wrapped: ESS check + loss + gradient).

Note on cost: chemtrain runs its simulations under `vmap` (one chain here) and evaluates
per-frame quantities under `vmap` too, so jax-md's conditional neighbour-list rebuild
(`lax.cond`) becomes a `select` that rebuilds the list every MD step and every frame
(0.03 ms vs 5.3 ms per update for these 256 atoms on the benchmark machine).

Both are timed on chemtrain's own reference trajectory (best of `repeats`, after one
warm-up call) and evaluated once more on *our* reference frames (same positions for both
codes), so the two gradients can be compared frame for frame.
"""

import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np


# `_load` and `_best` repeat `benchmarks/_harness.py`'s `load` and `best_time`: this worker
# runs by path in chemtrain's own venv, outside the `benchmarks` package.
def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def _best(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # warm-up (compile)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def _lj_template(pair_displacement, r_c):
    """chemtrain's `energy_fn_template`: force-shifted LJ over a Dense neighbour list (the
    potential of our `LennardJones(truncation=ForceShifted())`)."""

    def energy_fn_template(params):
        sigma, eps = params["sigma"], params["epsilon"]

        def phi(r):
            x3 = (sigma / r) ** 6
            return 4.0 * eps * (x3 * x3 - x3)

        def dphi(r):
            x3 = (sigma / r) ** 6
            return 24.0 * eps * (x3 - 2.0 * x3 * x3) / r

        def energy_fn(position, neighbor=None, **unused):
            n = position.shape[0]
            idx = neighbor.idx
            dr = pair_displacement(position, position[jnp.minimum(idx, n - 1)])
            r2 = jnp.sum(dr * dr, axis=-1)
            inside = (idx < n) & (r2 > 0) & (r2 < r_c * r_c)
            r = jnp.sqrt(jnp.where(inside, r2, r_c * r_c))  # no 0/0 in the padded slots
            u = phi(r) - phi(r_c) - (r - r_c) * dphi(r_c)
            return 0.5 * jnp.sum(jnp.where(inside, u, 0.0))

        return energy_fn

    return energy_fn_template


def _timing(sampling, n_frames: int, steps: int, dt: float):
    """chemtrain's `TimingClass` for `n_frames` frames every `steps` steps of `dt` ps."""
    return sampling.TimingClass(
        t_equilib_start=jnp.zeros((0,)),
        t_production_start=jnp.arange(n_frames) * steps * dt,
        t_production_end=(jnp.arange(n_frames) + 1) * steps * dt,
        timesteps_per_printout=steps,
        time_step=dt,
    )


def _float(x) -> float:
    return float(np.asarray(x))


def _result(t_md, t_grad, t_step, traj, loss_own, grad_own, loss_ours, grad_ours) -> dict:
    """Timings (s), chemtrain's loss and gradient on its own and on our reference frames,
    versions and devices."""
    import chemtrain
    import jax_md

    return dict(
        md_forward_s=t_md,
        grad_s=t_grad,
        step_s=t_step,
        load=_load(),
        own=dict(
            loss=_float(loss_own),
            dsigma=_float(grad_own["sigma"]),
            depsilon=_float(grad_own["epsilon"]),
            mean_energy=_float(jnp.mean(traj.aux["energy"])),
            mean_kT=_float(jnp.mean(traj.aux["kT"])),
        ),
        on_our_frames=dict(
            loss=_float(loss_ours),
            dsigma=_float(grad_ours["sigma"]),
            depsilon=_float(grad_ours["epsilon"]),
        ),
        versions=dict(
            chemtrain=getattr(chemtrain, "__version__", _dist_version("chemtrain")),
            jax=jax.__version__,
            jaxlib=_dist_version("jaxlib"),
            jax_md=getattr(jax_md, "__version__", _dist_version("jax-md")),
            python=platform.python_version(),
        ),
        devices=[str(d) for d in jax.devices()],
        dtype=str(traj.trajectory.position.dtype),
    )


def _equilibrated(p, shift, neighbor_fn, lattice, energy_fn_template, params, key):
    """chemtrain's Langevin simulator and its state after the untimed equilibration (a list
    reallocated for the liquid)."""
    from chemtrain.ensemble import sampling, templates

    dt, kt = float(p["dt"]), float(p["kT"])
    state_kwargs = {"kT": kt}
    mass = jnp.float32(p["mass"])
    nbrs = neighbor_fn.allocate(lattice)
    init_state, simulator_template = templates.init_nvt_langevin_simulator_template(
        shift, nbrs=nbrs, dt=dt, kT=kt, gamma=float(p["friction"])
    )
    state = init_state(
        key,
        lattice,
        energy_fn_template(params),
        init_sim_kwargs={"mass": mass, "neighbor": nbrs},
    )

    # equilibration (untimed): 2000 steps, then a list sized for the liquid
    equilibrate = jax.jit(
        sampling.trajectory_generator_init(
            simulator_template,
            energy_fn_template,
            _timing(sampling, 1, int(p["equilibration_steps"]), dt),
            vmap_batch=1,
        )
    )
    eq = equilibrate(params, state, **state_kwargs)
    if bool(eq.overflow):
        raise RuntimeError("neighbour list overflowed during equilibration")
    sim = eq.sim_state.sim_state
    state = sampling.SimulatorState(sim_state=sim, nbrs=neighbor_fn.allocate(sim.position))
    return state, simulator_template


def _difftre_fns(p, displacement, box_l, reweight_fns, energy_fn_template):
    """chemtrain's DiffTRe loss + gradient on a fixed reference (`wrapped=False`, jitted),
    its wrapped update step, and the RDF target: Σ (g − g_target)²."""
    from chemtrain.learn import difftre
    from chemtrain.quantity import observables
    from jax_md_mod import custom_quantity

    bin_centers, bin_bounds, width = custom_quantity.rdf_discretization(
        float(p["r_max"]), int(p["bins"]), 0.0
    )
    target = jnp.asarray(p["target"], jnp.float32)
    rdf_params = custom_quantity.RDFParams(target, bin_centers, bin_bounds, width)

    def quantities():  # init_difftre_gradient_and_propagation mutates the dict it gets
        return {"rdf": custom_quantity.init_rdf(displacement, rdf_params, reference_box=box_l)}

    loss_fn = difftre.init_default_loss_fn(
        {"rdf": observables.init_traj_mean_fn("rdf")},
        {"rdf": lambda g, g_target: jnp.sum((g - g_target) ** 2)},
    )
    targets = {"rdf": {"target": target, "gamma": 1.0}}
    loss_only, _, _ = difftre.init_difftre_gradient_and_propagation(
        reweight_fns, loss_fn, quantities(), energy_fn_template, wrapped=False
    )
    grad_fn = jax.jit(jax.value_and_grad(loss_only, has_aux=True))
    step_fn = difftre.init_difftre_gradient_and_propagation(
        reweight_fns, loss_fn, quantities(), energy_fn_template
    )
    return grad_fn, step_fn, targets


def main(path_in: str, path_out: str) -> None:
    from chemtrain.ensemble import reweighting, sampling
    from jax_md import partition, space
    from jax_md_mod import custom_quantity

    with open(path_in) as fh:
        p = json.load(fh)
    ref = np.load(p["trajectory"])
    box_l = float(ref["box"])
    # fractional coordinates (jax-md's `periodic_general` default). With real coordinates
    # (box 2.29 nm, float32) the jitted, vmapped self distances in chemtrain's `init_rdf`
    # came out up to 1.2e-7 nm, above its self-pair mask `r > 1e-7`, so self pairs landed
    # in bin 0 (g_0 ≈ 15 per such atom; eagerly they are exactly 0). Fractional differences
    # of identical points are exactly 0.
    lattice = jnp.asarray(ref["lattice"] / box_l, jnp.float32)
    ours = jnp.asarray(np.mod(ref["positions"] / box_l, 1.0), jnp.float32)  # wrapped frames
    frames, stride, repeats = int(p["frames"]), int(p["stride"]), int(p["repeats"])
    r_c, skin, kt, dt = float(p["cutoff"]), float(p["skin"]), float(p["kT"]), float(p["dt"])

    # periodic_general: chemtrain's RDF passes `box=` to the metric
    displacement, shift = space.periodic_general(box_l, fractional_coordinates=True)
    neighbor_fn = partition.neighbor_list(
        displacement,
        box_l,
        r_cutoff=r_c,
        dr_threshold=skin,
        capacity_multiplier=1.25,
        fractional_coordinates=True,
        format=partition.NeighborListFormat.Dense,
    )
    pair_displacement = space.map_neighbor(displacement)

    energy_fn_template = _lj_template(pair_displacement, r_c)
    params = {
        "sigma": jnp.asarray(p["sigma"], jnp.float32),
        "epsilon": jnp.asarray(p["epsilon"], jnp.float32),
    }
    key = jax.random.PRNGKey(int(p["seed"]))
    state_kwargs = {"kT": kt}

    state, simulator_template = _equilibrated(
        p, shift, neighbor_fn, lattice, energy_fn_template, params, key
    )

    timings = _timing(sampling, frames, stride, dt)
    init_first_traj, compute_weights, propagate, safe_propagate = (
        reweighting.init_pot_reweight_propagation_fns(
            energy_fn_template,
            simulator_template,
            neighbor_fn,
            timings,
            state_kwargs,
            reweight_ratio=float(p["reweight_ratio"]),
            energy_batch_size=int(p["energy_batch"]),
            safe_propagation=False,
        )
    )
    t_md = _best(lambda: init_first_traj(key, params, state, num_runs=1), repeats)
    traj = init_first_traj(key, params, state, num_runs=1)
    if bool(traj.overflow):
        raise RuntimeError("neighbour list overflowed in the reference trajectory")

    reweight_fns = (compute_weights, propagate, safe_propagate)
    grad_fn, step_fn, targets = _difftre_fns(
        p, displacement, box_l, reweight_fns, energy_fn_template
    )

    t_grad = _best(lambda: grad_fn(params, traj, state_kwargs, targets)[1], repeats)
    t_step = _best(lambda: step_fn(params, traj, state_kwargs, targets)[2], repeats)
    (loss_own, _), grad_own = grad_fn(params, traj, state_kwargs, targets)
    after, *_ = step_fn(params, traj, state_kwargs, targets)
    if not bool(jnp.all(after.trajectory.position == traj.trajectory.position)):
        raise RuntimeError("chemtrain recomputed the reference during the timed step")

    # the same gradient on our reference frames: swap in the positions, recompute aux energies
    swapped = traj.replace(trajectory=traj.trajectory.set(position=ours))
    aux = sampling.quantity_traj(
        swapped,
        {"energy": custom_quantity.energy_wrapper(energy_fn_template)},
        params,
        int(p["energy_batch"]),
    )
    swapped = swapped.replace(aux=dict(swapped.aux, energy=aux["energy"]))
    (loss_ours, pred), grad_ours = grad_fn(params, swapped, state_kwargs, targets)
    _, n_eff = compute_weights(params, swapped)

    out = _result(t_md, t_grad, t_step, traj, loss_own, grad_own, loss_ours, grad_ours)
    out["on_our_frames"].update(
        energies=np.asarray(aux["energy"], float).tolist(),
        g=np.asarray(pred["rdf"], float).tolist(),
        n_eff=_float(n_eff),
    )
    with open(path_out, "w") as fh:
        json.dump(out, fh, indent=2)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(
            "usage: chemtrain_worker.py IN.json OUT.json (run by chemtrain_difftre.py)"
        )
    main(sys.argv[1], sys.argv[2])
