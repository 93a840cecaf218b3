"""observables: differentiable observables on molecular-dynamics trajectories.

Knows nothing about MD engines: it takes `Trajectory` objects (from any engine, through the
readers in `observables.io`). Every observable is called the same way,
`observable(trajectory)`, and returns an `AbstractResult` (`Spectrum`, `RamanSpectra`,
`RDFResult`, `TransportResult`, `PressureResult`, `ValueResult`) with its axis, values,
units and, where estimated, standard errors; `observable.x_unit` / `observable.y_unit`
declare those units in advance.
"""

from ._adf import ADF as ADF
from ._adf_kernels import AngularGaussianKernel as AngularGaussianKernel
from ._adf_result import ADFResult as ADFResult
from ._base import AbstractObservable as AbstractObservable
from ._blocks import ErrorBarWarning as ErrorBarWarning
from ._correlation import (
    block_average as block_average,
    correlate as correlate,
    correlate_direct as correlate_direct,
)
from ._density import Density as Density
from ._dielectric import DielectricConstant as DielectricConstant
from ._energy import (
    EnthalpyOfVaporization as EnthalpyOfVaporization,
    PotentialEnergy as PotentialEnergy,
)
from ._fourier import SpectralTransform as SpectralTransform
from ._ir import (
    AbstractDipoleSource as AbstractDipoleSource,
    FromDipole as FromDipole,
    FromDipoleDerivative as FromDipoleDerivative,
    IRSpectrum as IRSpectrum,
)
from ._lags import LagWarning as LagWarning
from ._pbc import (
    minimum_image as minimum_image,
    perpendicular_widths as perpendicular_widths,
    wrap_positions as wrap_positions,
)
from ._pressure import Pressure as Pressure, PressureResult as PressureResult
from ._quantum import (
    AbstractQuantumCorrection as AbstractQuantumCorrection,
    Classical as Classical,
    Harmonic as Harmonic,
    Schofield as Schofield,
    Standard as Standard,
    beta_hbar_omega as beta_hbar_omega,
)
from ._raman import RamanSpectra as RamanSpectra, RamanSpectrum as RamanSpectrum
from ._rdf import RDF as RDF
from ._rdf_kernels import (
    AbstractRDFKernel as AbstractRDFKernel,
    GaussianKernel as GaussianKernel,
    Histogram as Histogram,
)
from ._rdf_result import RDFResult as RDFResult
from ._result import AbstractResult as AbstractResult
from ._spectrum import (
    Spectrum as Spectrum,
    SpectrumError as SpectrumError,
    axis_label as axis_label,
    axis_scale as axis_scale,
)
from ._structure_factor import (
    AbstractRadialWindow as AbstractRadialWindow,
    Lorch as Lorch,
    NoRadialWindow as NoRadialWindow,
    structure_factor_from_rdf as structure_factor_from_rdf,
)
from ._trajectory import (
    PER_FRAME_FIELDS as PER_FRAME_FIELDS,
    Trajectory as Trajectory,
    TrajectoryError as TrajectoryError,
)
from ._transport import (
    YEH_HUMMER_XI as YEH_HUMMER_XI,
    AbstractCutoff as AbstractCutoff,
    AbstractGreenKubo as AbstractGreenKubo,
    EinsteinDiffusion as EinsteinDiffusion,
    EinsteinHelfand as EinsteinHelfand,
    FirstZeroCrossing as FirstZeroCrossing,
    FixedCutoff as FixedCutoff,
    FullWindow as FullWindow,
    IonicConductivity as IonicConductivity,
    MinimumVariancePlateau as MinimumVariancePlateau,
    SelfDiffusion as SelfDiffusion,
    ShearViscosity as ShearViscosity,
    ThermalConductivity as ThermalConductivity,
    TransportResult as TransportResult,
    helfand_moment as helfand_moment,
    mean_squared_displacement as mean_squared_displacement,
    running_integral as running_integral,
    traceless_shear_components as traceless_shear_components,
    yeh_hummer_correction as yeh_hummer_correction,
)
from ._units import (
    BOLTZMANN as BOLTZMANN,
    EPSILON0 as EPSILON0,
    HBAR as HBAR,
    INTERNAL_UNITS as INTERNAL_UNITS,
    SPEED_OF_LIGHT as SPEED_OF_LIGHT,
    Quantity as Quantity,
    UnitError as UnitError,
    check_dimensionality as check_dimensionality,
    from_internal as from_internal,
    to_internal as to_internal,
    to_magnitude as to_magnitude,
    ureg as ureg,
)
from ._value import ValueResult as ValueResult
from ._vdos import VDOS as VDOS
from ._windows import (
    AbstractWindow as AbstractWindow,
    Exponential as Exponential,
    Gaussian as Gaussian,
    Hann as Hann,
    NoWindow as NoWindow,
)
