"""observables: differentiable observables on molecular-dynamics trajectories.

Knows nothing about MD engines: it takes `Trajectory` objects (from any engine, through the
readers in `observables.io`) and returns quantities with declared units.
"""

from ._base import AbstractObservable as AbstractObservable
from ._correlation import (
    block_average as block_average,
)
from ._correlation import (
    correlate as correlate,
)
from ._correlation import (
    correlate_direct as correlate_direct,
)
from ._fourier import SpectralTransform as SpectralTransform
from ._ir import (
    AbstractDipoleSource as AbstractDipoleSource,
)
from ._ir import (
    FromDipole as FromDipole,
)
from ._ir import (
    FromDipoleDerivative as FromDipoleDerivative,
)
from ._ir import (
    IRSpectrum as IRSpectrum,
)
from ._pbc import (
    minimum_image as minimum_image,
)
from ._pbc import (
    perpendicular_widths as perpendicular_widths,
)
from ._pbc import (
    wrap_positions as wrap_positions,
)
from ._quantum import (
    AbstractQuantumCorrection as AbstractQuantumCorrection,
)
from ._quantum import (
    Classical as Classical,
)
from ._quantum import (
    Harmonic as Harmonic,
)
from ._quantum import (
    Schofield as Schofield,
)
from ._quantum import (
    Standard as Standard,
)
from ._raman import RamanSpectra as RamanSpectra
from ._raman import RamanSpectrum as RamanSpectrum
from ._rdf import (
    RDF as RDF,
)
from ._rdf import (
    AbstractRDFKernel as AbstractRDFKernel,
)
from ._rdf import (
    GaussianKernel as GaussianKernel,
)
from ._rdf import (
    Histogram as Histogram,
)
from ._rdf import (
    RDFResult as RDFResult,
)
from ._spectrum import Spectrum as Spectrum
from ._spectrum import SpectrumError as SpectrumError
from ._structure_factor import (
    AbstractRadialWindow as AbstractRadialWindow,
)
from ._structure_factor import (
    Lorch as Lorch,
)
from ._structure_factor import (
    NoRadialWindow as NoRadialWindow,
)
from ._structure_factor import (
    structure_factor_from_rdf as structure_factor_from_rdf,
)
from ._trajectory import Trajectory as Trajectory
from ._trajectory import TrajectoryError as TrajectoryError
from ._transport import (
    YEH_HUMMER_XI as YEH_HUMMER_XI,
)
from ._transport import (
    AbstractCutoff as AbstractCutoff,
)
from ._transport import (
    AbstractGreenKubo as AbstractGreenKubo,
)
from ._transport import (
    EinsteinDiffusion as EinsteinDiffusion,
)
from ._transport import (
    EinsteinHelfand as EinsteinHelfand,
)
from ._transport import (
    FirstZeroCrossing as FirstZeroCrossing,
)
from ._transport import (
    FixedCutoff as FixedCutoff,
)
from ._transport import (
    FullWindow as FullWindow,
)
from ._transport import (
    IonicConductivity as IonicConductivity,
)
from ._transport import (
    MinimumVariancePlateau as MinimumVariancePlateau,
)
from ._transport import (
    SelfDiffusion as SelfDiffusion,
)
from ._transport import (
    ShearViscosity as ShearViscosity,
)
from ._transport import (
    ThermalConductivity as ThermalConductivity,
)
from ._transport import (
    TransportResult as TransportResult,
)
from ._transport import (
    helfand_moment as helfand_moment,
)
from ._transport import (
    mean_squared_displacement as mean_squared_displacement,
)
from ._transport import (
    running_integral as running_integral,
)
from ._transport import (
    traceless_shear_components as traceless_shear_components,
)
from ._transport import (
    yeh_hummer_correction as yeh_hummer_correction,
)
from ._units import (
    INTERNAL_UNITS as INTERNAL_UNITS,
)
from ._units import (
    Quantity as Quantity,
)
from ._units import (
    UnitError as UnitError,
)
from ._units import (
    from_internal as from_internal,
)
from ._units import (
    to_internal as to_internal,
)
from ._units import (
    to_magnitude as to_magnitude,
)
from ._units import (
    ureg as ureg,
)
from ._vdos import VDOS as VDOS
from ._windows import (
    AbstractWindow as AbstractWindow,
)
from ._windows import (
    Exponential as Exponential,
)
from ._windows import (
    Gaussian as Gaussian,
)
from ._windows import (
    Hann as Hann,
)
from ._windows import (
    NoWindow as NoWindow,
)
