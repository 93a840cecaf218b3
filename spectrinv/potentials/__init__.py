"""Energy models with parameters as pytrees, plus dipole and polarizability models."""

from ._base import (
    AbstractPotential as AbstractPotential,
    System as System,
    Topology as Topology,
)
