r"""Transport coefficients: Green–Kubo integrals, the Einstein (MSD) route, Yeh–Hummer.

Every observable here is an `eqx.Module` whose `__call__(trajectory)` returns a
`TransportResult`: the coefficient in the observable's `y_unit` with its block-averaged error
bar, the running integral, the correlation and the lag-time axis (a pytree of plain arrays:
jit/vmap/grad safe; quantities through `value`, `error`, `running`, ...). `max_lag` is an
`int` number of frames or a time `Quantity` for every one of them (a time is rounded to
the nearest frame, with a `LagWarning` when it is off the frame grid).

Green–Kubo coefficients (M. S. Green, *J. Chem. Phys.* **22**, 398 (1954); R. Kubo,
*J. Phys. Soc. Jpn.* **12**, 570 (1957); M. P. Allen & D. J. Tildesley, *Computer Simulation
of Liquids*, 2nd ed., Oxford University Press (2017), §2.7):

- `SelfDiffusion`: $D = \frac13 \int_0^\infty \langle v_i(0)\cdot v_i(t)\rangle\,dt$
- `ShearViscosity`: $\eta = \frac{V}{k_B T} \int_0^\infty
  \langle P_{\alpha\beta}(0) P_{\alpha\beta}(t)\rangle\,dt$
- `ThermalConductivity`: $\lambda = \frac{1}{3 V k_B T^2} \int_0^\infty
  \langle J_q(0)\cdot J_q(t)\rangle\,dt$
- `IonicConductivity`: $\sigma = \frac{1}{3 V k_B T} \int_0^\infty
  \langle J_e(0)\cdot J_e(t)\rangle\,dt$

The Einstein alternative `EinsteinDiffusion` fits $\mathrm{MSD}(t) \simeq 6 D t + c$.
`yeh_hummer_correction` gives the finite-size correction of $D$ in a periodic cubic box
(I.-C. Yeh & G. Hummer, *J. Phys. Chem. B* **108**, 15873 (2004)).

Internal units (nm, ps, g/mol, kJ/mol, e, K) are used inside; physical output units are
reached with the Avogadro constant where the internal energy unit is molar.
"""

from ._collective import (
    IonicConductivity,
    ShearViscosity,
    ThermalConductivity,
    traceless_shear_components,
)
from ._diffusion import YEH_HUMMER_XI, EinsteinDiffusion, SelfDiffusion, yeh_hummer_correction
from ._green_kubo import (
    AbstractCutoff,
    FirstZeroCrossing,
    FixedCutoff,
    FullWindow,
    MinimumVariancePlateau,
    running_integral,
)
from ._helfand import EinsteinHelfand, helfand_moment
from ._msd import mean_squared_displacement
from ._transport_base import AbstractGreenKubo
from ._transport_result import TransportResult

__all__ = [
    "AbstractCutoff",
    "FullWindow",
    "FixedCutoff",
    "FirstZeroCrossing",
    "MinimumVariancePlateau",
    "TransportResult",
    "running_integral",
    "mean_squared_displacement",
    "AbstractGreenKubo",
    "SelfDiffusion",
    "EinsteinDiffusion",
    "EinsteinHelfand",
    "helfand_moment",
    "ShearViscosity",
    "ThermalConductivity",
    "IonicConductivity",
    "traceless_shear_components",
    "yeh_hummer_correction",
    "YEH_HUMMER_XI",
]
