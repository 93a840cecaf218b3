"""Which jax versions does jax-md 0.2.29 work with? A compatibility probe (not a benchmark).

For each jax version it makes a fresh virtual environment, installs `jax==V jaxlib==V
jax-md==0.2.29` from PyPI (letting pip pick compatible flax etc.), and runs a small probe in
it: import jax_md, a 256-atom Lennard-Jones NVE run with a Dense neighbour list (float64),
relative energy drift, and whether jax-md's stock LJ gives NaN reverse-mode gradients w.r.t.
sigma (a known issue our potentials avoid). Prints one line per version and writes JSON.

    python -m benchmarks.compat.jaxmd_compat --versions 0.6.2 0.10.2 --json compat.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import json, jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax_md import energy, partition, simulate, space
    out = {"jax": jax.__version__}
    n_side, rho = 4, 0.8442
    n = 4 * n_side**3
    box = (n / rho) ** (1 / 3)
    cell = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    basis = np.array([[0, 0, 0], [.5, .5, 0], [.5, 0, .5], [0, .5, .5]])
    R = jnp.asarray(((cell[:, None] + basis) * box / n_side).reshape(-1, 3))
    disp, shift = space.periodic(box)
    nfn, efn = energy.lennard_jones_neighbor_list(disp, box, r_cutoff=2.5)
    nbrs = nfn.allocate(R)
    init, step = simulate.nve(efn, shift, dt=0.002)
    st = init(jax.random.PRNGKey(0), R, kT=0.72, neighbor=nbrs)
    def total(st, nb):
        return efn(st.position, neighbor=nb) + 0.5 * jnp.sum(st.velocity**2)
    e0 = float(total(st, nbrs))
    @jax.jit
    def body(carry, _):
        st, nb = carry
        nb = nb.update(st.position)
        return (step(st, neighbor=nb), nb), None
    (st, nbrs), _ = jax.lax.scan(body, (st, nbrs), None, length=500)
    out["overflow"] = bool(nbrs.did_buffer_overflow)
    out["rel_drift_500_steps"] = abs(float(total(st, nbrs)) - e0) / abs(e0)
    def e_sigma(s):
        f = energy.lennard_jones_neighbor_list(disp, box, sigma=s, r_cutoff=2.5)[1]
        return f(R, neighbor=nbrs)
    out["grad_sigma_finite"] = bool(jnp.isfinite(jax.grad(e_sigma)(1.0)))
    print("RESULT " + json.dumps(out))
    """
)


def probe(version: str, jaxmd: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        inst = subprocess.run(
            pip + [f"jax=={version}", f"jaxlib=={version}", f"jax-md=={jaxmd}"],
            capture_output=True,
            text=True,
        )
        if inst.returncode != 0:
            return {"jax": version, "status": "install failed", "detail": inst.stderr[-300:]}
        run = subprocess.run(
            [str(venv / "bin" / "python"), "-c", PROBE], capture_output=True, text=True, timeout=900
        )
        lines = [l for l in run.stdout.splitlines() if l.startswith("RESULT ")]
        if run.returncode != 0 or not lines:
            err = (run.stderr.strip().splitlines() or ["?"])[-1]
            return {"jax": version, "status": "probe failed", "detail": err[-300:]}
        return {"status": "works", **json.loads(lines[0][7:])}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--versions",
        nargs="+",
        default=["0.4.38", "0.5.3", "0.6.2", "0.7.2", "0.8.3", "0.9.2", "0.10.2"],
    )
    parser.add_argument("--jax-md", default="0.2.29")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for v in args.versions:
        row = probe(v, args.jax_md)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
