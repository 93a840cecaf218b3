r"""`gas_phase_energy`: the potential energy of one isolated molecule at a temperature, in the
harmonic limit, for the enthalpy of vaporisation.

$$ E_\mathrm{gas}(T) \approx U_\mathrm{min} + \tfrac12 (3n - 6)\, k_B T , $$

with $U_\mathrm{min}$ the energy of the molecule relaxed in isolation (FIRE, all pairs, the
same potential as the liquid, so that constant terms such as an electrostatic self-energy
cancel in $\Delta H_\mathrm{vap}$) and $3n - 6$ vibrational modes of a non-linear molecule of
$n$ atoms, each contributing $\tfrac12 k_BT$ of potential energy classically (equipartition).
It is exact for a potential quadratic in Cartesian displacements and close for harmonic bonds
and angles (curvilinear coordinates: relative corrections of order $k_BT/(k_\theta)$,
below 1 % for SPC/Fw at 298 K); anharmonic (Morse) bonds add a positive correction of order
$k_BT/D_e$ per bond. Measured for SPC/Fw at 298.15 K: 3.718 kJ/mol here, against 3.64 ±
0.24 kJ/mol from a 20 ps Langevin run of one molecule (`tests/test_gas_phase.py`, slow).

Reference: W. L. Jorgensen et al., *J. Chem. Phys.* **79**, 926 (1983); H. W. Horn et al.,
*J. Chem. Phys.* **120**, 9665 (2004).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from observables import BOLTZMANN, Quantity, from_internal, to_internal

from ..potentials import AbstractPotential, System
from ._minimize import fire_minimize

__all__ = ["gas_phase_energy"]


def gas_phase_energy(
    potential: AbstractPotential,
    system: System,
    positions: Any,
    temperature: Quantity,
    *,
    steps: int = 4000,
) -> Quantity:
    r"""$U_\mathrm{min} + \tfrac12(3n-6)k_BT$ of ONE molecule (kJ/mol, see module docs).

    **Arguments:** `potential`; `system` and `positions` (a `Quantity`, `[n, 3]`, a whole
    molecule; `n` ≥ 3) of a single molecule, e.g. `water_box(1, ..., model=potential)`;
    `temperature` (a `Quantity`); `steps`: FIRE steps of the relaxation.

    **Returns:** the energy as a `Quantity` in kJ/mol (pass it as `gas_energy` to
    `observables.EnthalpyOfVaporization`). A non-finite relaxed energy raises `ValueError`.
    """
    t = float(to_internal(temperature, "temperature", "temperature"))
    if not t > 0:
        raise ValueError(f"temperature must be positive (absolute), got {temperature}")
    x = jnp.asarray(to_internal(positions, "length", "positions"))
    if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 3 or x.shape[0] != system.n_atoms:
        raise ValueError(
            f"positions must be [n, 3] for the system's {system.n_atoms} atoms of one "
            f"non-linear molecule (n >= 3), got shape {tuple(x.shape)}"
        )
    relaxed = fire_minimize(potential, system, x, steps=steps)
    u_min = float(eqx.filter_jit(lambda p, s, r: p.energy(r, s))(potential, system, relaxed))
    if not np.isfinite(u_min):
        raise ValueError(f"the relaxed molecule's energy is not finite ({u_min})")
    n = x.shape[0]
    return from_internal(u_min + 0.5 * (3 * n - 6) * BOLTZMANN * t, "energy")
