"""The `spectrinv` command line.

    spectrinv info TRAJ                  summary of a trajectory file
    spectrinv datasets [NAME]            list bundled datasets / show one
    spectrinv spectrum TRAJ --kind ir|raman|vdos [...]
    spectrinv transport TRAJ --kind diffusion|viscosity|conductivity [...]
    spectrinv rdf TRAJ [...]
    spectrinv fit CONFIG [--out DIR]     fit a potential to experimental data (resumable)
    spectrinv quickstart                 a real fit on bundled data (water IR)

Errors in the input (missing files, wrong units, malformed trajectories) are reported as
one line on stderr with exit status 2; no traceback.
"""

from ._common import CLIError as CLIError, parse_quantity as parse_quantity
from ._main import build_parser as build_parser, main as main
