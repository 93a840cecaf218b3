"""Import-path fix shared by the benchmark scripts; import it before anything else.

`benchmarks/observables.py` shares its name with the `observables` package, and Python puts
a script's own folder first on `sys.path`, so every script here would import that file
instead of the package. This drops the folder from the path and puts the checkout this
folder lives in first (so the benchmarks measure this tree's code).
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))
