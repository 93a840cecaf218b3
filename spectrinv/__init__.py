"""spectrinv: refine interatomic potentials so that MD reproduces experiment."""

__version__ = "0.1.0.dev0"
