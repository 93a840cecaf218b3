r"""Potential energy per molecule and the enthalpy of vaporisation, frame averages in kJ/mol.

**Potential energy per molecule.** With $U_f$ the total potential energy of frame $f$
(`Trajectory.potential_energy`, kJ mol⁻¹: energy of the whole cell per mole of cells) and
$N_\mathrm{mol} = N_\mathrm{atoms}/n_\mathrm{atoms/mol}$ molecules in the cell,

$$ u = \frac{1}{F}\sum_f \frac{U_f}{N_\mathrm{mol}} \quad (\mathrm{kJ\,mol^{-1}}
   \text{ per mole of molecules}). $$

For a flexible model $U$ includes the intramolecular terms; for a monatomic fluid
$n_\mathrm{atoms/mol} = 1$ and $u$ is the configurational energy per atom.

**Enthalpy of vaporisation.** For a liquid in equilibrium with an ideal vapour at the same
temperature $T$,

$$ \Delta H_\mathrm{vap} = E_\mathrm{gas} - \langle U\rangle_\mathrm{liq}/N_\mathrm{mol}
   + RT , $$

with $E_\mathrm{gas}$ the mean potential energy of one isolated molecule at $T$ (0 for an
atom; for a flexible molecule its intramolecular energy, e.g. from a single-molecule run, or
the minimum energy plus $\tfrac12 k_BT$ per vibrational mode in the harmonic limit). The
kinetic energies of the two phases cancel (classical, same $T$); $RT = p V_\mathrm{gas}$
per mole for the ideal vapour, and $p V_\mathrm{liq}$ is neglected (for water at 25 °C,
3.2 kPa × 18 cm³/mol ≈ 0.06 J/mol). Corrections for polarisation, vibrational quantum
effects and non-ideality of the vapour are not applied (Horn et al. 2004 list them).

Both are frame averages (linear in $U_f$), so `spectrinv.gradients.Reweighting`
reweights them; their per-frame energy depends on the potential's parameters, which is
why the recorder that fills `potential_energy` must declare `uses_potential` (the
explicit term $\langle\partial U/\partial\theta\rangle$ of the gradient).

**Error bar.** Block standard error of the per-frame values (`observables._value`).

References: M. P. Allen & D. J. Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017),
§2.4; W. L. Jorgensen et al., *J. Chem. Phys.* **79**, 926 (1983) (ΔH_vap = −E_inter + RT);
H. W. Horn et al., *J. Chem. Phys.* **120**, 9665 (2004) (ΔH_vap with E_gas and corrections).
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import numpy as np

from ._base import AbstractObservable
from ._blocks import check_n_blocks
from ._trajectory import Trajectory, TrajectoryError
from ._units import BOLTZMANN, Quantity, to_internal
from ._value import ValueResult, check_finite_frames, frame_average

__all__ = ["PotentialEnergy", "EnthalpyOfVaporization"]


def _atoms_per_molecule(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"atoms_per_molecule must be an int >= 1, got {n!r}")
    return int(n)


def _per_molecule_energies(trajectory: Trajectory, atoms_per_molecule: int, what: str):
    """`[frame]` potential energy per molecule, kJ/mol, with the input checks."""
    if not isinstance(trajectory, Trajectory):
        raise TypeError(f"{what} expects a Trajectory, got {type(trajectory).__name__}")
    trajectory.require("potential_energy")
    try:
        n_atoms = trajectory.n_atoms
    except TrajectoryError:
        raise TrajectoryError(
            f"{what} needs the number of atoms (positions or masses) to count molecules"
        ) from None
    if n_atoms % atoms_per_molecule:
        raise ValueError(
            f"{what}: {n_atoms} atoms are not a whole number of molecules of "
            f"{atoms_per_molecule} atoms; check atoms_per_molecule"
        )
    energy = trajectory.potential_energy
    check_finite_frames(energy, what, "potential energy")
    return energy / (n_atoms // atoms_per_molecule)


class PotentialEnergy(AbstractObservable):
    r"""Frame-averaged potential energy per molecule $\langle U\rangle/N_\mathrm{mol}$, kJ/mol.

    See the module docstring for the definition and units. Reads
    `trajectory.potential_energy` (`[frame]`, record it with `spectrinv.backends.Energy()`)
    and the number of atoms.

    **Arguments:** `atoms_per_molecule` (default 1: per atom); `n_blocks`: blocks for the
    standard error (default 5; `None` for none).

    **Returns:** a `ValueResult` in kJ/mol (jit/grad safe). Missing energies raise
    `TrajectoryError`; non-finite ones (outside `jit`) or an atom count that is not a
    multiple of `atoms_per_molecule` raise `ValueError`.
    """

    atoms_per_molecule: int = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "kJ/mol"

    def __init__(self, atoms_per_molecule: int = 1, n_blocks: int | None = 5):
        self.atoms_per_molecule = _atoms_per_molecule(atoms_per_molecule)
        self.n_blocks = check_n_blocks(n_blocks)

    def __call__(self, trajectory: Trajectory) -> ValueResult:
        """The mean potential energy per molecule of `trajectory`, kJ/mol."""
        u = _per_molecule_energies(trajectory, self.atoms_per_molecule, "PotentialEnergy")
        return frame_average(u, self.n_blocks, self.y_unit, "PotentialEnergy")


class EnthalpyOfVaporization(AbstractObservable):
    r"""$\Delta H_\mathrm{vap} = E_\mathrm{gas} - \langle U\rangle/N_\mathrm{mol} + RT$ in kJ/mol.

    See the module docstring for the approximations (ideal vapour, $pV_\mathrm{liq}$
    neglected, no quantum or polarisation corrections).

    **Arguments:** `temperature` (a `Quantity`, the liquid's and the vapour's); `gas_energy`:
    mean potential energy of one isolated molecule at that temperature (a `Quantity`,
    energy per mole, default 0 for atoms); `atoms_per_molecule` (default 1); `n_blocks`
    (default 5; `None` for no error bar).

    **Returns:** a `ValueResult` in kJ/mol (jit/grad safe); its error is the block error of
    the liquid's energy (`gas_energy` is taken as exact).
    """

    temperature: float = eqx.field(static=True)
    gas_energy: float = eqx.field(static=True)
    atoms_per_molecule: int = eqx.field(static=True)
    n_blocks: int | None = eqx.field(static=True)

    x_unit: ClassVar[None] = None
    y_unit: ClassVar[str] = "kJ/mol"

    def __init__(
        self,
        temperature: Quantity,
        gas_energy: Quantity | None = None,
        atoms_per_molecule: int = 1,
        n_blocks: int | None = 5,
    ):
        t = float(to_internal(temperature, "temperature", "temperature"))
        if not t > 0:
            raise ValueError(f"temperature must be positive (absolute), got {temperature}")
        self.temperature = t
        e = 0.0 if gas_energy is None else float(to_internal(gas_energy, "energy", "gas_energy"))
        if not np.isfinite(e):
            raise ValueError(f"gas_energy must be finite, got {gas_energy}")
        self.gas_energy = e
        self.atoms_per_molecule = _atoms_per_molecule(atoms_per_molecule)
        self.n_blocks = check_n_blocks(n_blocks)

    def __call__(self, trajectory: Trajectory) -> ValueResult:
        """ΔH_vap from the liquid `trajectory`, kJ/mol."""
        what = "EnthalpyOfVaporization"
        u = _per_molecule_energies(trajectory, self.atoms_per_molecule, what)
        dh = self.gas_energy + BOLTZMANN * self.temperature - u
        return frame_average(dh, self.n_blocks, self.y_unit, what)
