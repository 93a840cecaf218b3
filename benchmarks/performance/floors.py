"""How far the hot paths are from their floors: measured time vs the time the necessary
arithmetic and memory traffic would take at this machine's measured peak rates.

The machine's two ceilings are measured first, in JAX on the same device:
- `peak flop/s`: a jitted square matrix product (2 n³ flops, n = 2048), float32 and float64;
- `bandwidth`: a jitted triad `a·x + y` over 2²⁵ elements (read 2 arrays, write 1).

For each hot path the script counts, by hand and per unit of work, the **necessary** flops and
bytes (what any implementation of the same algorithm must do; what ours does on top — e.g.
visiting every pair twice in a dense neighbour list — is listed separately), and prints

    floor = max(flops / peak flop/s, bytes / bandwidth),   efficiency = floor / measured time.

The matmul and triad ceilings are not reachable by irregular, list-based code, so for the
pair kernels the script also times one gather of the neighbour positions through the list
(`positions[idx]`, `gather` column): the irregular access every such kernel makes at least
once (ours makes it once forward and scatters once in the reverse pass).

Hot paths (float32 unless stated; Lennard-Jones fcc argon perturbed by 0.01 nm noise,
ρ* = 0.8442, r_c = 2.5σ = 0.851 nm, skin 0.1 nm, jax-md `Dense` lists):
- `LJ energy+forces`: `jax.value_and_grad(LennardJones.energy)` with a list. Necessary per
  *pair* (i < j): displacement with minimum image (9 flops), r² (5), 1/r² (1), LJ energy and
  force scalar from 1/r² (7), force vector on both atoms (12) = 34 flops; bytes: one
  neighbour index (4 B) per pair plus positions in and forces out (2 × 12 B per atom, float32).
  Ours visits each pair twice (dense list: ½ Σ_i Σ_j) and evaluates energy and gradient by
  reverse-mode autodiff.
- `neighbour rebuild`: one cell-list rebuild (`NeighborList.update` of
  `spectrinv.backends._cell_list`, as the backend calls it); the note gives the time of
  jax-md's own dense `partition.neighbor_list` update (Cartesian, `space.periodic`, same
  positions, r_list and capacity multiplier) and the ratio. Necessary: the candidates in
  the 27 cells around each atom's cell (cells of edge
  ≥ r_list = r_c + skin): 27 ρ ℓ³ candidates per atom with ℓ = L / floor(L / r_list),
  9 flops each (displacement, r², compare); bytes: the list written (4 B per entry of the
  `[atom, capacity]` array) plus positions read. Sorting atoms into cells (N log N) is
  neglected.
- `water energy+forces`: SPC/Fw with damped-shifted-force electrostatics
  (`spc_fw(DampedShiftedForce(2/nm, 0.9 nm))`), `jax.value_and_grad`, 216 molecules in a
  1.86 nm box (`water_box`). Necessary per atom pair within R_c: displacement (9), r² (5),
  √ and 1/r (2), erfc(αr) and exp(−α²r²) (≈ 25 each as polynomial + exp), DSF shift terms
  (6), force vector on both atoms (12) ≈ 85 flops; O–O pairs add the LJ 34; bonds/angles
  neglected. Bytes as for LJ.
- `RDF histogram`: `observables.RDF` on 100 frames of 1000 atoms, 150 bins, r_max 1.5 nm
  (float64, as in `observables_vs_peers.py`). Necessary per pair (i < j) and frame:
  displacement with minimum image (9), r² (5), compare with r_max² and bin index (√, ×, floor:
  4) = 18 flops; bytes: positions read (24 B per atom and frame); the histogram is tiny.

Usage: `python -m benchmarks.performance.floors [--json out.json] [--quick]`. Compilation is
excluded (one warm-up call); each time is the best of `--repeats`. The 1-minute load average is
printed (a shared machine lowers the measured ceilings and raises the times alike).
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

with jax.numpy_dtype_promotion("standard"):  # jax-md needs standard promotion to import
    from jax_md import partition, space

import observables as ob
from observables import Quantity
from spectrinv.backends import JaxMDBackend, VelocityVerlet
from spectrinv.backends._neighbors import jaxmd_context as _jaxmd_context
from spectrinv.potentials import (
    DampedShiftedForce,
    ForceShifted,
    LennardJones,
    System,
    spc_fw,
    water_box,
)

from .._harness import best_time, load

SIGMA, EPS, MASS, SKIN = 0.3405, 0.99774, 39.948, 0.1


def best(fn, *args, repeats: int = 5, inner: int = 1) -> float:
    """Best wall time of `inner` back-to-back calls (seconds per call), after a warm-up."""
    return best_time(lambda: fn(*args), repeats, inner=inner)


# ---------------------------------------------------------------------------- ceilings
def ceilings(quick: bool) -> dict:
    n = 1024 if quick else 2048
    out = {}
    for dtype in (jnp.float32, jnp.float64):
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        mm = jax.jit(lambda x: x @ x)
        out[f"peak_flops_{jnp.dtype(dtype).name}"] = 2 * n**3 / best(mm, a, repeats=3)
    m = 1 << (22 if quick else 25)
    x = jnp.ones(m, jnp.float32)
    y = jnp.ones(m, jnp.float32)
    triad = jax.jit(lambda x, y: 1.0001 * x + y)
    out["bandwidth"] = 3 * 4 * m / best(triad, x, y, repeats=5)
    return out


# ---------------------------------------------------------------------------- systems
def lj_system(n_atoms: int, dtype):
    n = round((n_atoms / 4) ** (1 / 3))
    a = (4 / 0.8442) ** (1 / 3) * SIGMA
    g = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = ((g[:, None, :] + basis[None]) * a).reshape(-1, 3)
    pos = pos + 0.01 * np.random.default_rng(0).normal(size=pos.shape)
    length = n * a
    system = System(
        box=jnp.full(3, length, dtype),
        species=jnp.zeros(n_atoms, jnp.int32),
        masses=jnp.full(n_atoms, MASS, dtype),
    )
    lj = LennardJones(
        Quantity(SIGMA, "nm"),
        Quantity(EPS, "kJ/mol"),
        Quantity(2.5 * SIGMA, "nm"),
        truncation=ForceShifted(),
    )
    lj = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, lj)
    backend = JaxMDBackend(VelocityVerlet(Quantity(4.0, "fs")), skin=Quantity(SKIN, "nm"))
    state = backend.init(lj, system, Quantity(pos.astype(dtype), "nm"))
    return system, lj, backend, state, length


def _pairs_within(pos: np.ndarray, box: float, r: float) -> int:
    d = pos[:, None, :] - pos[None, :, :]
    d -= box * np.round(d / box)
    r2 = np.sum(d * d, axis=-1)
    return int((np.count_nonzero(r2 < r * r) - len(pos)) // 2)


def gather_time(positions, idx) -> float:
    """Time of one gather of the neighbour positions `positions[idx]` (`[atom, slots, 3]`):
    the irregular memory access every list-based pair kernel needs at least once."""
    return best(jax.jit(lambda r, i: r[i]), positions, idx, repeats=5, inner=10)


def row(name, work, flops, nbytes, seconds, ceil, dtype_name, note="", gather=float("nan")):
    peak = ceil[f"peak_flops_{dtype_name}"]
    floor = max(flops / peak, nbytes / ceil["bandwidth"])
    bound = "compute" if flops / peak >= nbytes / ceil["bandwidth"] else "memory"
    return dict(
        path=name,
        work=work,
        flops=flops,
        bytes=nbytes,
        measured_s=seconds,
        floor_s=floor,
        bound=bound,
        efficiency=floor / seconds,
        achieved_gflops=flops / seconds / 1e9,
        gather_s=gather,
        note=note,
        load=load(),
    )


# ------------------------------------------------------------------------- hot paths
def lj_forces(n_atoms: int, dtype, ceil) -> dict:
    system, lj, backend, state, length = lj_system(n_atoms, dtype)
    nb = state.neighbors
    vg = jax.jit(lambda r, nb: jax.value_and_grad(lj.energy)(r, system, nb))
    seconds = best(vg, state.positions, nb, repeats=5, inner=10)
    pairs = _pairs_within(np.asarray(state.positions, float), length, lj.cutoff)
    itemsize = jnp.dtype(dtype).itemsize
    flops = 34 * pairs
    nbytes = 4 * pairs + 2 * 3 * itemsize * n_atoms
    note = f"{pairs} pairs < r_c; dense list {nb.idx.shape[1]} slots/atom (each pair twice)"
    name = jnp.dtype(dtype).name
    gather = gather_time(state.positions, jnp.minimum(nb.idx, n_atoms - 1))
    return row(
        f"LJ energy+forces {name}",
        f"{n_atoms} atoms",
        flops,
        nbytes,
        seconds,
        ceil,
        name,
        note,
        gather,
    )


def neighbour_rebuild(n_atoms: int, ceil) -> dict:
    from spectrinv.backends._neighbors import fractional as _fractional

    dtype = jnp.float32
    system, lj, backend, state, length = lj_system(n_atoms, dtype)
    nb = state.neighbors

    def rebuild(r, nb):
        with _jaxmd_context():
            return nb.update(_fractional(r, system.box))

    seconds = best(jax.jit(rebuild), state.positions, nb, repeats=5)
    r_list = lj.cutoff + SKIN
    with _jaxmd_context():
        displacement, _ = space.periodic(jnp.float32(length))
        fns = partition.neighbor_list(
            displacement,
            jnp.float32(length),
            r_list,
            dr_threshold=0.0,
            capacity_multiplier=backend.capacity_multiplier,
            format=partition.Dense,
        )
        wrapped = jnp.mod(state.positions, jnp.float32(length))
        peer = fns.allocate(wrapped)
        peer_s = best(jax.jit(lambda r, nb: nb.update(r)), wrapped, peer, repeats=5)
    cell = length / max(1, int(length // r_list))
    rho = n_atoms / length**3
    candidates = n_atoms * 27 * rho * cell**3
    flops = 9 * candidates
    nbytes = 4 * nb.idx.size + 12 * n_atoms
    note = (
        f"{candidates / n_atoms:.0f} candidates/atom ({length / cell:.0f}³ cells); jax-md's "
        f"dense update {peer_s * 1e3:.3g} ms = {peer_s / seconds:.1f}× ours"
    )
    return row(
        "neighbour rebuild (cell list)",
        f"{n_atoms} atoms",
        flops,
        nbytes,
        seconds,
        ceil,
        "float32",
        note,
    )


def water_forces(n_molecules: int, ceil) -> dict:
    dtype = jnp.float32
    model = spc_fw(DampedShiftedForce(Quantity(2.0, "1/nm"), Quantity(0.9, "nm")))
    model = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, model)
    pos, system = water_box(n_molecules, key=jax.random.PRNGKey(1), model=model)
    system = jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, system)
    backend = JaxMDBackend(VelocityVerlet(Quantity(0.5, "fs")), skin=Quantity(SKIN, "nm"))
    state = backend.init(model, system, Quantity(np.asarray(pos, np.float32), "nm"))
    nb = state.neighbors
    vg = jax.jit(lambda r, nb: jax.value_and_grad(model.energy)(r, system, nb))
    seconds = best(vg, state.positions, nb, repeats=5, inner=5)
    length = float(np.asarray(system.box)[0])
    p = np.asarray(state.positions, float)
    all_pairs = _pairs_within(p, length, 0.9)
    oxygens = p[np.asarray(system.species) == 0]
    oo_pairs = _pairs_within(oxygens, length, float(model.cutoff))
    flops = 85 * all_pairs + 34 * oo_pairs
    nbytes = 4 * all_pairs + 2 * 12 * len(p)
    note = f"{all_pairs} atom pairs < 0.9 nm, {oo_pairs} O–O LJ pairs"
    gather = gather_time(state.positions, jnp.minimum(nb.idx, len(p) - 1))
    return row(
        "water energy+forces (SPC/Fw, DSF)",
        f"{n_molecules} molecules",
        flops,
        nbytes,
        seconds,
        ceil,
        "float32",
        note,
        gather,
    )


def rdf_histogram(quick: bool, ceil) -> dict:
    n_side, n_frames = (6, 20) if quick else (10, 100)
    n = n_side**3
    length = n_side * 0.34
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid * 0.34)[None] + 0.03 * rng.normal(size=(n_frames, n, 3))
    traj = ob.Trajectory(
        Quantity(pos, "nm"), box=Quantity(np.full(3, length), "nm"), timestep=Quantity(1.0, "ps")
    )
    r_max = min(1.5, 0.49 * length)
    rdf = ob.RDF(Quantity(r_max, "nm"), 150)
    seconds = best(lambda t: rdf(t), traj, repeats=3)
    pairs = n_frames * n * (n - 1) // 2
    flops = 18 * pairs
    nbytes = 24 * n * n_frames
    return row(
        "RDF histogram float64",
        f"{n} atoms × {n_frames} frames",
        flops,
        nbytes,
        seconds,
        ceil,
        "float64",
        f"{pairs:.3g} pair distances",
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--json", help="write the rows and the machine here")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    ceil = ceilings(args.quick)
    print(
        f"# {platform.processor() or platform.machine()} x{os.cpu_count()} CPUs, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}; load {load():.2f}"
    )
    print(
        f"# ceilings: {ceil['peak_flops_float32'] / 1e9:.1f} GFLOP/s float32, "
        f"{ceil['peak_flops_float64'] / 1e9:.1f} GFLOP/s float64 (matmul); "
        f"{ceil['bandwidth'] / 1e9:.1f} GB/s (triad)"
    )
    sizes = (500,) if args.quick else (500, 4000)
    rows = []
    for n in sizes:
        for dtype in (jnp.float32, jnp.float64):
            rows.append(lj_forces(n, dtype, ceil))
        rows.append(neighbour_rebuild(n, ceil))
    rows.append(water_forces(64 if args.quick else 216, ceil))
    rows.append(rdf_histogram(args.quick, ceil))
    header = (
        f"{'hot path':36s} {'work':24s} {'measured':>10s} {'floor':>10s} {'bound':>8s} "
        f"{'eff.':>7s} {'GFLOP/s':>8s} {'gather':>9s}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['path']:36s} {r['work']:24s} {r['measured_s'] * 1e3:8.3f}ms "
            f"{r['floor_s'] * 1e3:8.4f}ms {r['bound']:>8s} {100 * r['efficiency']:6.2f}% "
            f"{r['achieved_gflops']:8.2f} {r['gather_s'] * 1e3:7.3f}ms  {r['note']}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                dict(ceilings=ceil, rows=rows, machine=platform.uname()._asdict()), fh, indent=1
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
