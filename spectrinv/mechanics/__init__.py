"""Mechanical properties of crystals from a potential: static elastic constants by automatic
differentiation (homogeneous Lagrangian strain, with internal relaxation)."""

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
