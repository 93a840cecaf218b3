"""Experimental datasets: the bundled ones, users' own files, and baselines for spectra.

A dataset is a `Table` (y against x: a spectrum, a property against temperature) or
`LabelledValues` (named scalars: elastic constants, transport coefficients); both are
`Dataset`s, and `Dataset(...)`, `Dataset.from_arrays`, the file readers and `load_dataset`
return the right one.

```python
from spectrinv.datasets import load_dataset, list_datasets, Dataset, LinearBaseline

ir = load_dataset("ir/water_segelstein_298K")          # Table: n*alpha(wavenumber), 1/cm
si = load_dataset("solids/silicon_elastic_mcskimin1953")   # LabelledValues: C11, C12, C44
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
from ._dataset import Dataset as Dataset
from ._describe import describe as describe, summary_rows as summary_rows
from ._errors import DatasetError as DatasetError
from ._files import (
    bundled_files as bundled_files,
    data_dir as data_dir,
    data_path as data_path,
)
from ._jcamp import JCAMP_UNITS as JCAMP_UNITS
from ._labelled import LabelledValues as LabelledValues
from ._registry import (
    dataset_files as dataset_files,
    dataset_metadata as dataset_metadata,
    list_datasets as list_datasets,
    load_dataset as load_dataset,
)
from ._table import Table as Table
