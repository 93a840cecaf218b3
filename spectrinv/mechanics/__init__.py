"""Mechanical properties of crystals from a potential: static elastic constants by automatic
differentiation (homogeneous Lagrangian strain, with internal relaxation) and harmonic
lattice dynamics (force constants, dynamical matrix, phonon bands and density of states)."""

from ._elastic import (
    GPA_PER_INTERNAL as GPA_PER_INTERNAL,
    StrainHessian as StrainHessian,
    cubic_constants as cubic_constants,
    deformation_gradient as deformation_gradient,
    elastic_constants as elastic_constants,
    elastic_constants_internal as elastic_constants_internal,
    strain_hessian as strain_hessian,
    voigt_strain as voigt_strain,
)
from ._force_constants import ForceConstants as ForceConstants, force_constants as force_constants
from ._phonons import (
    CM1_PER_THZ as CM1_PER_THZ,
    BandPath as BandPath,
    band_path as band_path,
    frequencies_from_squared as frequencies_from_squared,
    phonon_bands as phonon_bands,
    phonon_dos as phonon_dos,
    phonon_frequencies as phonon_frequencies,
    q_mesh as q_mesh,
)
