"""What a target of a fit configuration measures and how: its observable (with the signals to
record), its loss against the dataset, and its gradient strategy."""

from __future__ import annotations

import warnings
from typing import Any

from observables import (
    RDF,
    AbstractObservable,
    Density,
    DielectricConstant,
    EnthalpyOfVaporization,
    FromDipole,
    FromDipoleDerivative,
    GaussianKernel,
    Hann,
    IRSpectrum,
    PotentialEnergy,
    Pressure,
    Quantity,
    SelfDiffusion,
    ShearViscosity,
    UnitError,
)

from ..backends import (
    Energy,
    Positions,
    PotentialDipole,
    PotentialDipoleCurrent,
    Stress,
    Velocities,
)
from ..gradients import BPTT, AbstractGradient, Reweighting, Truncated
from ..losses import (
    Absolute,
    AbstractLoss,
    AreaNormalised,
    BandIntensity,
    ChiSquared,
    MeanSquaredError,
    PeakNormalised,
    PeakPosition,
    Reference,
    RelativeError,
    Wasserstein1,
    observable_units,
)
from ._config_schema import (
    CHI2_KEYS,
    GRADIENT_KEYS,
    LOSS_TERM_KEYS,
    LOSSES,
    ConfigError,
    ConfigWarning,
    check_keys,
    choice,
    integer,
    quantity,
    require,
    steps,
)

__all__ = [
    "build_observable",
    "build_loss",
    "build_losses",
    "build_gradient",
    "warn_if_intensities_from_dipole",
]

_NORMALISATIONS = {"absolute": Absolute, "area": AreaNormalised, "peak": PeakNormalised}


def _lag_frames(opts: dict, frame_time: Quantity, where: str) -> int | None:
    """`max_lag` (a time) as a number of frames: observables inside a differentiated run
    see a traced time step, so lags are given to them in frames."""
    if "max_lag" not in opts:
        return None
    lag = quantity(opts["max_lag"], "[time]", f"{where} max_lag")
    return max(1, int(round(float((lag / frame_time).m_as("")))))


def build_observable(
    kind: str, opts: dict, temperature: Quantity, model_kind: str, frame_time: Quantity, where: str
) -> tuple[AbstractObservable, tuple]:
    """`(observable, recorders)` of an `observable = "..."` entry and its options."""
    w = f"{where} [observable_options]"
    lag = _lag_frames(opts, frame_time, w)
    if kind == "ir":
        check_keys(opts, {"max_lag", "source"}, w)
        if model_kind != "water":
            raise ConfigError(f"{where}: observable 'ir' needs a model with charges (water)")
        # Hann window over the whole correlation length (max_lag); the dipole is the
        # model's own (its charges and any fitted charge flux); by default its time
        # derivative, whose spectrum carries no leakage of the dipole's slow drift
        source = choice(opts.get("source", "dipole_derivative"), set(_IR_SOURCES), f"{w} source")
        signal, recorder = _IR_SOURCES[source]
        obs = IRSpectrum(temperature, window=Hann(), max_lag=lag, source=signal())
        return obs, (Positions(), recorder())
    if kind == "rdf":
        check_keys(opts, {"r_max", "bins", "width"}, w)
        r_max = quantity(opts.get("r_max", "0.8 nm"), "[length]", f"{w} r_max")
        width = quantity(opts.get("width", "0.005 nm"), "[length]", f"{w} width")
        bins = integer(opts.get("bins", 80), f"{w} bins")
        if bins > _MAX_BINS:  # every frame's histogram is differentiated through
            raise ConfigError(
                f"{w} bins = {bins}: bins of {(r_max / bins).m:.2g} {r_max.units:~} are far "
                "finer than any g(r) needs and would take memory for each recorded frame; use "
                f"at most {_MAX_BINS}"
            )
        return RDF(r_max, bins, kernel=GaussianKernel(width)), (Positions(),)
    if kind == "pressure":
        # a value in bar (compared at the target's temperature); the virial needs the
        # potential, so Reweighting recomputes it at the current parameters
        check_keys(opts, {"blocks"}, w)
        blocks = integer(opts.get("blocks", 5), f"{w} blocks", 2)
        return Pressure(n_blocks=blocks), (Positions(), Velocities(), Stress())
    if kind == "density":
        # a frame average of M / (N_A V_k) over NPT frames (each in its own box): the
        # target's pressure puts a barostat on its backend (see _config_npt)
        check_keys(opts, {"blocks"}, w)
        blocks = integer(opts.get("blocks", 5), f"{w} blocks", 2)
        return Density(n_blocks=blocks), (Positions(),)
    if kind in _THERMO:
        return _thermo_observable(kind, opts, temperature, model_kind, w)
    # transport observables take max_lag as a time (they convert it with the trajectory's
    # time step, which works under a traced time step too)
    lag_time = quantity(opts["max_lag"], "[time]", f"{w} max_lag") if "max_lag" in opts else None
    if kind == "self_diffusion":
        check_keys(opts, {"max_lag"}, w)
        return SelfDiffusion(max_lag=lag_time), (Positions(), Velocities())
    check_keys(opts, {"max_lag"}, w)
    return ShearViscosity(temperature, max_lag=lag_time), (Positions(), Stress())


#: What an IR target correlates, and the recorder that supplies it: the model's dipole M, or
#: its time derivative dM/dt (free of the slow drift of M that the dipole spectrum's ω²
#: spreads over all frequencies on short segments).
_IR_SOURCES = {
    "dipole": (FromDipole, PotentialDipole),
    "dipole_derivative": (FromDipoleDerivative, PotentialDipoleCurrent),
}


def warn_if_intensities_from_dipole(t: dict, observable: AbstractObservable, where: str) -> None:
    """A `ConfigWarning` when an IR target fits band intensities from the dipole: on short
    segments that form overestimates them (measured for water: +6 % to +16 % per band on
    1 ps segments, +10 % to +30 % on 0.25 ps)."""
    if not (isinstance(observable, IRSpectrum) and isinstance(observable.source, FromDipole)):
        return
    kinds = [t.get("loss")] + [term.get("loss") for term in t.get("losses", [])]
    if "band_intensity" in kinds:
        warnings.warn(
            f"{where}: band intensities computed from the dipole are biased upward on short "
            "segments (its slow drift leaks into every band); set [targets.observable_options] "
            'source = "dipole_derivative"',
            ConfigWarning,
            stacklevel=2,
        )


#: The most RDF bins a config may ask for (a bin of 1e-5 nm at r_max = 1 nm).
_MAX_BINS = 100_000

_THERMO = {"potential_energy", "enthalpy_of_vaporization", "dielectric_constant"}


def _thermo_observable(
    kind: str, opts: dict, temperature: Quantity, model_kind: str, w: str
) -> tuple[AbstractObservable, tuple]:
    """Static thermodynamic targets (frame averages, so `Reweighting` reweights them)."""
    blocks = integer(opts.get("blocks", 5), f"{w} blocks", 2)
    per_molecule = 3 if model_kind == "water" else 1
    if kind == "dielectric_constant":
        check_keys(opts, {"blocks"}, w)
        if model_kind != "water":
            raise ConfigError(f"{w}: 'dielectric_constant' needs a model with charges (water)")
        # the <M> = 0 form: a frame average (the fluctuation form is not reweightable)
        obs = DielectricConstant(temperature, subtract_mean=False, n_blocks=blocks)
        return obs, (Positions(), PotentialDipole())
    # the energy depends on the parameters: the Energy recorder uses the potential
    record = (Positions(), Velocities(), Energy())
    if kind == "potential_energy":
        check_keys(opts, {"blocks"}, w)
        return PotentialEnergy(per_molecule, n_blocks=blocks), record
    check_keys(opts, {"blocks", "gas_energy"}, w)
    if "gas_energy" not in opts and model_kind == "water":
        raise ConfigError(
            f"{w}: 'enthalpy_of_vaporization' of a molecular model needs gas_energy, the mean "
            "potential energy of one isolated molecule at the target's temperature (e.g. "
            'gas_energy = "3.7 kJ/mol")'
        )
    gas = quantity(opts.get("gas_energy", "0 kJ/mol"), "[energy]/[substance]", f"{w} gas_energy")
    obs = EnthalpyOfVaporization(temperature, gas, per_molecule, n_blocks=blocks)
    return obs, record


def _ranges(t: dict, key: str, where: str) -> list[tuple[Quantity, Quantity]] | None:
    """`[[lo, hi], ...]` quantity pairs (wavenumbers when the unit has `cm`, else lengths)."""
    pairs = t.get(key)
    if pairs is None:
        return None
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ConfigError(f"{where} {key}: a list of [lower, upper] quantity pairs")
    return [
        tuple(quantity(v, "1/[length]" if "cm" in v else "[length]", f"{where} {key}") for v in p)
        for p in pairs
    ]


def _weight(t: dict, where: str) -> float:
    weight = t.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ConfigError(f"{where}: weight must be a number >= 0, got {weight!r}")
    return float(weight)


def _normalisation(t: dict, kind: str, where: str):
    if "normalisation" not in t:
        return None
    if kind != "mse":
        raise ConfigError(
            f"{where}: normalisation applies to loss 'mse' only, not {kind!r}; remove it"
        )
    name = choice(t["normalisation"], set(_NORMALISATIONS), f"{where} normalisation")
    return _NORMALISATIONS[name]()


def _chi2_options(t: dict, kind: str, where: str) -> dict[str, Any]:
    """`relative_uncertainty` and `include_simulation_error` of a χ² target."""
    options: dict[str, Any] = {}
    for key in CHI2_KEYS:
        if key in t and kind != "chi2":
            raise ConfigError(
                f"{where}: {key} applies to loss 'chi2' only, not {kind!r}; remove it"
            )
    if "relative_uncertainty" in t:
        r = t["relative_uncertainty"]
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r < float("inf"):
            raise ConfigError(f"{where}: relative_uncertainty must be a number > 0, got {r!r}")
        options["relative_uncertainty"] = float(r)
    if "include_simulation_error" in t:
        flag = t["include_simulation_error"]
        if not isinstance(flag, bool):
            raise ConfigError(f"{where}: include_simulation_error must be true or false")
        options["include_simulation_error"] = flag
    return options


def _reference(
    t: dict, kind: str, dataset: Any, observable: AbstractObservable, temperature: Any, where: str
) -> Reference:
    """The `Reference` a loss of `kind` compares with: the whole curve for band positions, the
    value at the state point `at` (default: the temperature) for a value observable, else the
    curve restricted to `x_range`."""
    if kind in ("peak_position", "band_intensity"):
        return Reference(dataset, observable)
    if kind == "relative_error" or observable_units(observable)[0] is None:
        at = t.get("at")
        at = temperature if at is None else quantity(at, "[temperature]", f"{where} at")
        return Reference(dataset, observable, at=at)
    x_range = _ranges(t, "x_range", where)
    return Reference(dataset, observable, x_range=x_range[0] if x_range else None)


def _loss_kind(t: dict, ref_of: Any, dataset: Any, where: str) -> str:
    """The named loss, or the default: χ² when the compared data have uncertainties."""
    if "loss" in t:
        return choice(t["loss"], LOSSES, f"{where} loss")
    if ref_of("chi2").uncertainty is None:
        raise ConfigError(
            f"{where}: no loss given, and dataset {dataset.name!r} has no uncertainty where it "
            "is compared, so there is no default (chi2 needs one); name one: loss = "
            f"{' | '.join(repr(k) for k in sorted(LOSSES))} (chi2 with relative_uncertainty = "
            "0.05 assumes a relative 1σ)"
        )
    return "chi2"


def build_loss(
    t: dict, dataset: Any, observable: AbstractObservable, temperature: Quantity, where: str
) -> AbstractLoss:
    """The target's loss: a `Reference` (dataset vs observable) compared by the chosen metric,
    times the target's `weight` (default 1). Without `loss`, χ² when the dataset has
    uncertainties where it is compared (else a `ConfigError` asking for one)."""
    weight = _weight(t, where)

    def ref_of(kind: str) -> Reference:
        return _reference(t, kind, dataset, observable, temperature, where)

    kind = t.get("loss", "chi2")
    try:
        kind = _loss_kind(t, ref_of, dataset, where)
        normalisation = _normalisation(t, kind, where)
        chi2_options = _chi2_options(t, kind, where)
        ref = ref_of(kind)
        if kind == "peak_position":
            windows = _ranges(t, "windows", where)
            if not windows:
                raise ConfigError(f"{where}: loss 'peak_position' needs windows = [[lo, hi], ...]")
            loss = PeakPosition(ref, windows=windows)
        elif kind == "band_intensity":
            windows = _ranges(t, "windows", where)
            if not windows:
                raise ConfigError(f"{where}: loss 'band_intensity' needs windows = [[lo, hi], ...]")
            loss = BandIntensity(ref, windows=windows)
        elif kind == "relative_error":
            loss = RelativeError(ref)
        elif kind == "mse":
            loss = MeanSquaredError(ref, normalisation=normalisation)
        elif kind == "chi2":
            loss = ChiSquared(ref, **chi2_options)
        else:
            loss = Wasserstein1(ref)
    except ConfigError:
        raise
    except (UnitError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{where}: loss {kind!r} cannot compare {type(observable).__name__} "
            f"with dataset {dataset.name!r}: {err}"
        ) from None
    return loss if weight == 1.0 else weight * loss


def build_losses(
    t: dict, dataset: Any, observable: AbstractObservable, temperature: Quantity, where: str
) -> AbstractLoss:
    """The target's loss: `build_loss` of the target's own keys, or, with `[[targets.losses]]`
    tables, the sum of one loss per table (each with its own `loss`, `weight`, `windows`,
    `x_range`, ...), all against the same dataset and simulation."""
    terms = t.get("losses")
    if terms is None:
        return build_loss(t, dataset, observable, temperature, where)
    own = sorted(k for k in LOSS_TERM_KEYS if k in t)
    if own:
        raise ConfigError(
            f"{where}: {', '.join(own)} belong in the [[targets.losses]] tables when the "
            "target has them; move them there"
        )
    if not isinstance(terms, list) or not terms or not all(isinstance(x, dict) for x in terms):
        raise ConfigError(f"{where} losses: a list of tables ([[targets.losses]]), at least one")
    total = None
    kinds = []
    for k, term in enumerate(terms):
        w = f"{where} [[losses]] {k + 1}"
        check_keys(term, LOSS_TERM_KEYS, w)
        kind = choice(require(term, "loss", w), LOSSES, f"{w} loss")
        if kind in kinds:
            raise ConfigError(f"{w}: loss {kind!r} appears twice; give each kind once")
        kinds.append(kind)
        loss = build_loss(term, dataset, observable, temperature, w)
        total = loss if total is None else total + loss
    return total


def build_gradient(t: dict, timestep: Quantity, where: str) -> AbstractGradient:
    """The gradient strategy of a `[targets.gradient]` table (durations in time units)."""
    kind = choice(require(t, "kind", where), set(GRADIENT_KEYS), f"{where} kind")
    check_keys(t, GRADIENT_KEYS[kind], where)
    stride = integer(t.get("stride", 1), f"{where} stride")
    if kind == "truncated":
        return Truncated(
            n_segments=integer(require(t, "segments", where), f"{where} segments"),
            segment_steps=steps(
                require(t, "segment_length", where), timestep, f"{where} segment_length", stride
            ),
            stride=stride,
            decorrelation_steps=steps(
                require(t, "decorrelation", where), timestep, f"{where} decorrelation"
            ),
            initial_ensemble=bool(t.get("initial_ensemble", True)),
        )
    if kind == "bptt":
        return BPTT(
            steps(require(t, "length", where), timestep, f"{where} length", stride), stride=stride
        )
    return Reweighting(
        n_frames=integer(require(t, "frames", where), f"{where} frames"),
        stride=stride,
        ess_threshold=float(t.get("ess_threshold", 0.6)),
    )
