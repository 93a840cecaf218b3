"""spectrinv: refine interatomic potentials so that MD reproduces experiment."""

__version__ = "0.1.0.dev0"

from ._progress import show_progress as show_progress
