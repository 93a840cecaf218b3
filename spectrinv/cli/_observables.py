"""`spectrinv spectrum | transport | rdf`: observables of a trajectory file, as CSV + PNG.

Each command reads any trajectory `observables.io.read_trajectory` accepts, computes one
observable with explicit science options, writes `OUT.csv` and `OUT.png`, and prints a
summary. Per-frame signals missing from the file (dipoles, polarizabilities) can be read
from an `.npz` (one array) or a whitespace-separated column file with `--dipoles FILE
--dipole-unit UNIT` / `--polarizabilities FILE --polarizability-unit UNIT`.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any

import numpy as np

import observables as ob
from observables import Quantity, axis_scale

from ._common import (
    CLIError,
    add_trajectory_args,
    check_output_folder,
    parse_quantity,
)
from ._stream import add_stream_args, compute, has_atoms, read_frames

__all__ = ["add_commands"]


# ------------------------------------------------------------------------ option parsing
_CORRECTIONS = {
    "harmonic": ob.Harmonic,
    "standard": ob.Standard,
    "schofield": ob.Schofield,
    "classical": ob.Classical,
}


def _window(spec: str) -> ob.AbstractWindow:
    """'hann', 'hann:1ps', 'gaussian:50fs', 'exponential:0.2ps', 'none'."""
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    if name == "none":
        return ob.NoWindow()
    if name == "hann":
        return ob.Hann(parse_quantity(arg) if arg else None)
    if name in ("gaussian", "exponential"):
        if not arg:
            raise CLIError(f"window {name!r} needs a time, e.g. '{name}:100fs'")
        q = parse_quantity(arg)
        return ob.Gaussian(q) if name == "gaussian" else ob.Exponential(q)
    raise CLIError(f"unknown window {spec!r}; use none, hann[:T], gaussian:SIGMA, exponential:TAU")


def _load_signal(path: str, unit: str | None, shape: tuple[int, ...], what: str) -> Quantity:
    """Per-frame signal from an .npz (single array, or key `what`) or a column text file."""
    if unit is None:
        raise CLIError(f"--{what} needs --{what[:-1] if what.endswith('s') else what}-unit")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as data:
            keys = data.files
            if len(keys) != 1:
                raise CLIError(f"{p.name} holds {keys}; expected exactly one array")
            arr = np.asarray(data[keys[0]], dtype=np.float64)
    else:
        try:
            arr = np.loadtxt(p, ndmin=2)
        except ValueError as err:
            raise CLIError(f"{p.name} is not a numeric column file: {err}") from err
    n_values = int(np.prod(shape))
    if arr.ndim == 2 and arr.shape[1] == n_values + 1:
        arr = arr[:, 1:]  # a leading time/frame column
    try:
        arr = arr.reshape((-1,) + shape)
    except ValueError as err:
        raise CLIError(f"{p.name}: cannot read {arr.shape} as frames of {shape}") from err
    return Quantity(arr, unit)


def _spectral_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {"window": _window(args.window), "x_unit": args.x_unit}
    if args.max_lag is not None:
        kw["max_lag"] = args.max_lag
    if args.max_frequency is not None:
        kw["max_frequency"] = args.max_frequency
    return kw


def _check_output(args: argparse.Namespace) -> None:
    """Refuse, before any work, an `--out` prefix whose folder is an existing file."""
    if args.out:
        check_output_folder(Path(args.out).parent, f"--out {args.out}")


def _output(args: argparse.Namespace, default: str) -> Path:
    out = Path(args.out or default)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _reference_spectrum(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(x in cm⁻¹, n·α in cm⁻¹, label) of a bundled IR dataset (`spectrinv.datasets`)."""
    from ..datasets import DatasetError, dataset_files, load_dataset

    try:
        csv_path, _ = dataset_files(name)
    except DatasetError as err:
        raise CLIError(str(err)) from None
    try:
        ds = load_dataset(name, y="n_alpha")
    except DatasetError:
        raise CLIError(
            f"{name} has no n_alpha column: it is not an IR absorption dataset"
        ) from None
    ds = ds.to(x_unit="1/cm", y_unit="1/cm")
    where = f"{csv_path.parent.name}/{csv_path.stem}"
    return np.asarray(ds.x), np.asarray(ds.y), f"experiment: {ds.name} ({where})"


# ------------------------------------------------------------------------------ spectrum
def _cmd_spectrum(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_output(args)
    reference = None
    if args.compare:  # check before any work is done
        if args.kind != "ir":
            raise CLIError("--compare works with --kind ir (bundled IR datasets)")
        reference = _reference_spectrum(args.compare)
    traj = read_frames(args, extra_inputs=bool(args.dipoles or args.polarizabilities))
    if args.dipoles:
        traj = traj.replace(dipole=_load_signal(args.dipoles, args.dipole_unit, (3,), "dipoles"))
    if args.polarizabilities:
        pol = _load_signal(
            args.polarizabilities, args.polarizability_unit, (3, 3), "polarizabilities"
        )
        traj = traj.replace(polarizability=pol)
    kw = _spectral_kwargs(args)
    if args.kind in ("ir", "raman") and args.temperature is None:
        raise CLIError(f"--kind {args.kind} needs --temperature, e.g. --temperature '298.15 K'")
    if args.volume is not None and args.kind != "ir":
        raise CLIError(f"--volume is for --kind ir, not --kind {args.kind}")
    correction = _CORRECTIONS[args.correction]()
    if args.kind == "ir":
        obs = ob.IRSpectrum(
            args.temperature, quantum_correction=correction, volume=args.volume, **kw
        )
    elif args.kind == "vdos":
        obs = ob.VDOS(**kw)
    else:
        obs = ob.RamanSpectrum(args.temperature, quantum_correction=correction, **kw)
    spectrum = compute(
        obs, traj, args, f"computing the {args.kind} spectrum of {traj.n_frames} frames"
    )
    if args.kind == "raman":
        spectrum = spectrum.as_dict()[args.raman_component]
    out = _output(args, f"{Path(args.trajectory).stem}_{args.kind}")
    spectrum.to_csv(out.with_suffix(".csv"))
    fig, ax = plt.subplots(figsize=(7, 4))
    spectrum.plot(ax=ax, label=f"{args.kind.upper()} from {Path(args.trajectory).name}")
    if reference is not None:
        x_exp, y_exp, label = reference
        scale = axis_scale(args.x_unit) / axis_scale("1/cm")  # x_exp is in cm⁻¹
        ax.plot(x_exp * scale, y_exp, "k--", lw=1, label=label)
        ax.set_xlim(0, 1.15 * float(np.max(x_exp * scale)))
        _print_ir_comparison(spectrum, x_exp, y_exp)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    plt.close(fig)
    x = spectrum.x.m
    y = np.asarray(spectrum.y.m)
    atoms = f" x {traj.n_atoms} atoms" if has_atoms(traj) else ""
    print(f"{args.kind} spectrum of {traj.n_frames} frames{atoms}")
    print(f"  axis {x[0]:.4g} .. {x[-1]:.4g} {spectrum.x.units:~P}, {len(x)} points")
    for lo, hi, band in _BANDS.get(args.kind, ()):
        sel = (x >= lo) & (x <= hi) if args.x_unit == "1/cm" else np.zeros_like(x, dtype=bool)
        if sel.any():
            print(f"  {band:12s} peak at {x[sel][np.argmax(y[sel])]:.0f} cm⁻¹")
    print(f"  wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")
    return 0


#: Windows (cm⁻¹) in which to report peaks of water-like spectra.
_BANDS = {
    "ir": ((300.0, 1000.0, "libration"), (1400.0, 1900.0, "bend"), (2800.0, 4200.0, "OH stretch")),
    "vdos": (
        (300.0, 1000.0, "libration"),
        (1400.0, 1900.0, "bend"),
        (2800.0, 4200.0, "OH stretch"),
    ),
}


def _print_ir_comparison(spectrum: ob.Spectrum, x_exp: np.ndarray, y_exp: np.ndarray) -> None:
    x = spectrum.to("1/cm").x.m
    y = np.asarray(spectrum.y.m_as("1/cm"))
    print("  band        model peak   experiment peak   model/exp height")
    for lo, hi, band in _BANDS["ir"]:
        sm, se = (x >= lo) & (x <= hi), (x_exp >= lo) & (x_exp <= hi)
        if sm.any() and se.any():
            im, ie = np.argmax(y[sm]), np.argmax(y_exp[se])
            print(
                f"  {band:12s} {x[sm][im]:8.0f}     {x_exp[se][ie]:8.0f} cm⁻¹       "
                f"{y[sm][im] / y_exp[se][ie]:.2f}"
            )


# ----------------------------------------------------------------------------- transport
def _cmd_transport(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_output(args)
    traj = read_frames(args)
    kw: dict[str, Any] = {"n_blocks": args.blocks}
    if args.max_lag is not None:
        kw["max_lag"] = args.max_lag
    if args.kind == "diffusion":
        species = tuple(args.species) if args.species else None
        if args.method == "einstein":
            obs = ob.EinsteinDiffusion(species, **kw)
        else:
            obs = ob.SelfDiffusion(species, **kw)
        unit = "m**2/s"
    else:
        if args.temperature is None:
            raise CLIError(f"--kind {args.kind} needs --temperature")
        if args.method == "einstein":
            raise CLIError(f"--method einstein is available for diffusion only, not {args.kind}")
        if args.kind == "viscosity":
            obs, unit = ob.ShearViscosity(args.temperature, **kw), "mPa*s"
        elif args.kind == "thermal-conductivity":
            obs, unit = ob.ThermalConductivity(args.temperature, **kw), "W/(m*K)"
        else:
            obs, unit = ob.IonicConductivity(args.temperature, **kw), "S/m"
    result = compute(obs, traj, args, f"computing {args.kind} from {traj.n_frames} frames")
    out = _output(args, f"{Path(args.trajectory).stem}_{args.kind}")
    t = result.time.m_as("ps")
    running = np.asarray(result.running.m_as(unit)).reshape(len(t), -1)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["lag_time [ps]"] + [f"running {args.kind} [{unit}]"] * running.shape[1])
        w.writerows(np.column_stack([t, running]).tolist())
    fig, ax = plt.subplots(figsize=(6, 4))
    result.plot(ax=ax, unit=unit)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    plt.close(fig)
    value = np.atleast_1d(result.value.m_as(unit))
    error = np.atleast_1d(result.error.m_as(unit))
    names = args.species or ["all atoms"]
    for name, v, e in zip(names, value, error, strict=False):
        pretty = f"{Quantity(1, unit).units:~P}"
        print(f"{args.kind} ({name}): {v:.4g} ± {e:.2g} {pretty}  [{result.method}]")
    print(f"  wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")
    return 0


# ----------------------------------------------------------------------------------- rdf
def _cmd_rdf(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_output(args)
    traj = read_frames(args)
    pair = None
    if args.pair:
        a, sep, b = args.pair.partition("-")
        if not sep or not a or not b:
            raise CLIError(f"--pair takes two species joined by '-', e.g. O-H, got {args.pair!r}")
        pair = (a, b)
    r_max = args.r_max
    if r_max is None:  # the largest allowed: half the shortest width in any frame
        box = traj.box if isinstance(traj, ob.Trajectory) else traj.box()
        if box is None:
            raise CLIError("the trajectory has no box; an RDF needs periodic boundaries")
        box = np.asarray(box, dtype=np.float64)
        if box.shape[-2:] != (3, 3):
            box = box[..., :, None] * np.eye(3)
        widths = ob.perpendicular_widths(box)
        r_max = Quantity(0.5 * float(np.min(widths)), "nm")
    in_memory = traj.n_frames if isinstance(traj, ob.Trajectory) else args.chunk_frames
    _check_bins(args.bins, min(traj.n_frames, in_memory))
    rdf = ob.RDF(r_max, bins=args.bins, pair=pair)
    res = compute(rdf, traj, args, f"computing g(r) over {traj.n_frames} frames")
    out = _output(args, f"{Path(args.trajectory).stem}_rdf")
    r = res.bin_centers.m_as("angstrom")
    g = np.asarray(res.g)
    n = np.asarray(res.coordination_number())
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["r [angstrom]", "g(r)", "coordination number n(r)"])
        w.writerows(np.column_stack([r, g, n]).tolist())
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(r, g)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel("r [Å]")
    ax.set_ylabel(f"g{'_' + args.pair if args.pair else ''}(r)")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    plt.close(fig)
    i = int(np.argmax(g))
    which = f" pair {args.pair}" if pair else ""
    print(f"g(r) of {traj.n_frames} frames x {traj.n_atoms} atoms{which}")
    print(f"  first maximum g = {g[i]:.3f} at r = {r[i]:.3f} Å")
    print(f"  wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}")
    return 0


def _check_bins(bins: int, n_frames: int) -> None:
    """Refuse, before any computation, a bin count that is not positive or whose per-frame
    histograms (float64, plus the overflow slot and the outputs) would not fit in memory."""
    if bins < 1:
        raise CLIError(f"--bins {bins}: the number of bins must be at least 1 (e.g. 200)")
    need = 8.0 * (bins + 1) * (n_frames + 8)
    try:
        have = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        have = 16e9
    if need > 0.5 * have:
        raise CLIError(
            f"--bins {bins} needs about {_bytes(need)} for {n_frames} frames, more than half "
            f"of this machine's {_bytes(have)} of memory; use fewer bins (e.g. 200 to 2000)"
        )


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


# ------------------------------------------------------------------------------ parsers
def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `spectrum`, `transport` and `rdf` to the subcommand parsers."""
    p = sub.add_parser("spectrum", help="IR / Raman / VDOS spectrum of a trajectory")
    add_trajectory_args(p)
    p.add_argument("--kind", choices=("ir", "raman", "vdos"), required=True)
    p.add_argument("--temperature", type=parse_quantity, help="e.g. '298.15 K' (IR, Raman)")
    p.add_argument(
        "--correction",
        choices=sorted(_CORRECTIONS),
        default="harmonic",
        help="quantum correction factor (default harmonic)",
    )
    p.add_argument(
        "--window", default="hann", help="none | hann[:T] | gaussian:SIGMA | exponential:TAU"
    )
    p.add_argument("--max-lag", type=parse_quantity, help="longest correlation time, e.g. '1 ps'")
    p.add_argument("--max-frequency", type=parse_quantity, help="e.g. '4500 1/cm'")
    p.add_argument("--x-unit", default="1/cm", help="axis unit: 1/cm, THz, meV (default 1/cm)")
    p.add_argument("--raman-component", choices=("iso", "aniso", "vv", "vh"), default="vv")
    p.add_argument("--dipoles", help="per-frame dipoles (.npz or columns mx my mz)")
    p.add_argument("--dipole-unit", help="unit of --dipoles, e.g. debye or 'e*angstrom'")
    p.add_argument(
        "--volume",
        type=parse_quantity,
        help="cell volume for --kind ir, e.g. '27 nm**3' (default: the mean box volume; "
        "needed for a dipole series without a box, such as a .xvg)",
    )
    p.add_argument("--polarizabilities", help="per-frame 3x3 polarizabilities (.npz or 9 columns)")
    p.add_argument("--polarizability-unit", help="unit of --polarizabilities, e.g. angstrom**3")
    p.add_argument("--compare", help="bundled IR dataset to overlay, e.g. water_segelstein_298K")
    p.add_argument("--out", help="output path prefix (writes .csv and .png)")
    add_stream_args(p)
    p.set_defaults(func=_cmd_spectrum)

    p = sub.add_parser(
        "transport", help="diffusion / viscosity / conductivity (Green–Kubo, Einstein)"
    )
    add_trajectory_args(p)
    p.add_argument(
        "--kind",
        required=True,
        choices=("diffusion", "viscosity", "conductivity", "thermal-conductivity"),
    )
    p.add_argument("--method", choices=("green-kubo", "einstein"), default="green-kubo")
    p.add_argument("--temperature", type=parse_quantity, help="e.g. '298.15 K' (not for diffusion)")
    p.add_argument("--species", nargs="+", help="diffusion of these species only (one value each)")
    p.add_argument("--max-lag", type=parse_quantity, help="correlation window, e.g. '2 ps'")
    p.add_argument("--blocks", type=int, default=5, help="blocks for the error bar (default 5)")
    p.add_argument("--out", help="output path prefix (writes .csv and .png)")
    add_stream_args(p)
    p.set_defaults(func=_cmd_transport)

    p = sub.add_parser("rdf", help="radial distribution function g(r) and coordination number")
    add_trajectory_args(p)
    p.add_argument("--r-max", type=parse_quantity, help="default: half the shortest box width")
    p.add_argument("--bins", type=int, default=200)
    p.add_argument("--pair", help="partial g_ab(r), e.g. O-O or O-H (species names)")
    p.add_argument("--out", help="output path prefix (writes .csv and .png)")
    add_stream_args(p)
    p.set_defaults(func=_cmd_rdf)
