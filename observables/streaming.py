"""Observables of trajectory files larger than memory, read a chunk of frames at a time.

```python
from observables import RDF, VDOS, Quantity
from observables.streaming import NpzFrames, stream

frames = NpzFrames("run.npz")                      # or several parts: NpzFrames("a.npz", "b.npz")
g = stream(RDF(Quantity(1.0, "nm"), bins=200), frames, chunk_frames=500)
dos = stream(VDOS(max_lag=Quantity(1, "ps")), frames)
```

`stream(observable, source)` returns what `observable(trajectory)` returns on the whole
trajectory, error bars included, while peak memory stays that of one chunk (plus the
correlation window for time correlations). Sources: `NpzFrames` (files of
`Trajectory.to_npz`, compressed or not, one or several parts of one run) and
`MDAnalysisFrames` (any format `observables.io.read_mdanalysis` reads). See the user guide's
trajectory page, "Trajectories larger than memory".
"""

from ._frames import AbstractFrameSource as AbstractFrameSource, NpzFrames as NpzFrames
from ._frames_mdanalysis import MDAnalysisFrames as MDAnalysisFrames
from ._lag_sums import LagSums as LagSums
from ._streaming import stream as stream

__all__ = ["AbstractFrameSource", "NpzFrames", "MDAnalysisFrames", "LagSums", "stream"]
