"""Experimental datasets: the bundled ones, users' own files, and baselines for spectra.

```python
from spectrinv.datasets import load_dataset, list_datasets, Dataset, LinearBaseline

ir = load_dataset("ir/water_segelstein_298K")          # n*alpha(wavenumber), 1/cm
mine = Dataset.from_csv("ftir.csv", x="wavenumber", y="A", x_unit="1/cm",
                        y_unit="dimensionless")
```
"""

from ._baseline import (
    AbstractBaseline as AbstractBaseline,
    LinearBaseline as LinearBaseline,
    NoBaseline as NoBaseline,
    PolynomialBaseline as PolynomialBaseline,
)
from ._dataset import Dataset as Dataset, DatasetError as DatasetError
from ._describe import describe as describe, summary_rows as summary_rows
from ._files import (
    bundled_files as bundled_files,
    data_dir as data_dir,
    data_path as data_path,
)
from ._jcamp import JCAMP_UNITS as JCAMP_UNITS
from ._registry import (
    dataset_files as dataset_files,
    dataset_metadata as dataset_metadata,
    list_datasets as list_datasets,
    load_dataset as load_dataset,
)
