"""The fitting loop: targets (observable + dataset loss + state point + gradient strategy),
optax updates with bounds and learning-rate schedules, iterate averaging, an early stop
and gradient-noise control, checkpoints with exact resume, history and before/after plots,
the TOML configuration that `spectrinv fit` runs, and the parameters' uncertainty and
identifiability (standard errors, correlations, stiff and sloppy combinations); a smoothness
prior for tabulated potentials and iterative Boltzmann inversion as a structure-based
baseline."""

from ._checkpoint import CheckpointError as CheckpointError
from ._config import (
    FitConfig as FitConfig,
    load_config as load_config,
    parse_config as parse_config,
)
from ._config_schema import ConfigError as ConfigError, ConfigWarning as ConfigWarning
from ._convergence import (
    IterateAverage as IterateAverage,
    StopWhen as StopWhen,
    learning_rate_schedule as learning_rate_schedule,
)
from ._fit import FitResult as FitResult, default_optimizer as default_optimizer, fit as fit
from ._ibi import (
    IBIResult as IBIResult,
    IBIStatePoint as IBIStatePoint,
    PressureRamp as PressureRamp,
    ibi_update as ibi_update,
    iterative_boltzmann_inversion as iterative_boltzmann_inversion,
)
from ._params import (
    Interval as Interval,
    internal_magnitude as internal_magnitude,
    parameter_names as parameter_names,
    with_parameters as with_parameters,
)
from ._plots import plot_uncertainty as plot_uncertainty
from ._prior import SmoothnessPrior as SmoothnessPrior
from ._refine import refine as refine
from ._refine_result import RefinedFit as RefinedFit
from ._sensitivity import (
    fit_uncertainty as fit_uncertainty,
    identifiability as identifiability,
    parameter_units as parameter_units,
)
from ._target import Target as Target
from ._uncertainty import (
    ParameterUncertainty as ParameterUncertainty,
    parameter_uncertainty as parameter_uncertainty,
)
