"""`DatasetError`: the one exception type for invalid datasets and data files."""

__all__ = ["DatasetError"]


class DatasetError(ValueError):
    """Raised for an invalid dataset or data file (missing column, NaN, unsorted x, ...)."""
