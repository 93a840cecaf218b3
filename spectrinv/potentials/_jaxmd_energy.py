r"""`JaxMDEnergy`: any jax-md energy function as a spectrinv potential with fittable, unit-
carrying parameters.

jax-md energies are unitless: an energy function takes positions in *some* length unit and
returns an energy in *some* energy unit, and its parameters (σ, ε, …) are numbers in those
units. `JaxMDEnergy` makes the units explicit and converts at the boundary:

- the user declares `length_unit` and `energy_unit` (pint strings, e.g. `"angstrom"`,
  `"eV"`; an energy may be molar or per particle);
- every parameter is a `Quantity` whose dimension is a power of length times a power of
  energy (a length, an energy, an energy·length⁶, a pure number given as
  `Quantity(x, "")`, …). It is stored as a leaf in the package's internal units
  (nm^a (kJ/mol)^b) and converted to `length_unit^a energy_unit^b` at every call;
- positions (nm) are divided by the length of one `length_unit` in nm before the call; the
  energy returned is multiplied by one `energy_unit` in kJ/mol.

So a fit sees σ in nm and ε in kJ/mol exactly as for `LennardJones`, and gradients are in
the same units.

**Two ways to give the energy.**

1. A jax-md *factory* (the default constructor): a function such as
   `jax_md.energy.lennard_jones_neighbor_list` or `jax_md.energy.stillinger_weber`, called
   as `factory(displacement, box, **options, **params)` when its second parameter is
   named `box` or `box_size`, else `factory(displacement, **options, **params)`. The
   adapter builds `displacement` and `box` from the `System` it is evaluated on (in
   `length_unit`: `space.periodic(edges)` for an orthorhombic box, `space.periodic_general`
   with real coordinates for a triclinic one, `space.free()` without a box), so the box
   always matches the simulation. The factory may return the energy function or a
   `(neighbor_fn, energy_fn)` pair (the `*_neighbor_list` factories); `neighbor_fn` is not
   used. The factory is called again each time the energy is traced, with the current
   (possibly traced) parameters — which is what makes parameters that jax-md fixes at
   construction (Stillinger–Weber's σ, λ, …) differentiable.
2. A built energy function, `JaxMDEnergy.from_energy_fn(energy_fn, ...)`: called as
   `energy_fn(R, neighbor=nbrs, **params)` (or `energy_fn(R, **params)`), for jax-md
   energies that take their parameters as call-time keyword arguments (the pair
   potentials built by `smap.pair` / `smap.pair_neighbor_list`). The box it was built with
   is the caller's responsibility: it must be the system's box in `length_unit`. jax-md
   energies take `**kwargs`, so parameter names cannot be checked: a misspelt one is
   ignored by jax-md (its gradient is then zero).

**Neighbour lists.** With `neighbor_list=True` (the default when a `cutoff` is given) the
energy function receives the package's list: a jax-md `NeighborList` in `Dense` format
whose padded slots hold `n_atoms`, listing every pair within `cutoff` + skin. Dense lists
are what jax-md's many-body energies (Stillinger–Weber, EDIP, EAM, Tersoff) require; jax-md
pair energies built with the default `OrderedSparse` format read the format from the list
they are given and work with it too. The jax-md energy applies its own cutoff, so `cutoff`
must be **at least** the range of the jax-md energy (in `length_unit` that is e.g.
`r_cutoff` of `lennard_jones_neighbor_list` or `cutoff` of `stillinger_weber`); a shorter
one silently misses pairs and is the caller's error. Overflow: inside `JaxMDBackend` an
overflowed list is grown and the chunk redone before any force from it is used; a list
passed directly to `energy` that has overflowed is refused with a `ValueError` when its
flag is concrete (outside `jit`).

**Gradient safety.** jax-md's stock pair energies divide by distances before masking
padded slots, so their reverse-mode parameter gradients are NaN on a padded list (an empty
slot gathers an atom's own position: r = 0, and the backward pass computes 0·∞). In the
factory form the adapter builds the displacement function, and it returns a vector
max(1 µm, 10⁴ cutoffs) long (beyond any cutoff, where jax-md energies are finite) wherever
the two positions are identical (only a padded slot or an atom paired with itself gives
that). Energies and forces are unchanged and parameter gradients are finite. A built
`energy_fn` (`from_energy_fn`) keeps its own displacement function and may still give NaN
parameter gradients on padded lists; use the factory form to fit parameters.

**Known issue.** Under XLA's lowest backend optimisation level
(`--xla_backend_optimization_level=0`, used by the test suite for fast compilation),
`Truncated` and `Reweighting` through jax-md's Lennard-Jones gave non-finite parameter
gradients in their batched runs (BPTT did not); with XLA's default flags they are finite
and give the package `LennardJones`'s loss and ∂L/∂ε. The cause inside the compiled jax-md
energy is not identified.

??? cite
    S. S. Schoenholz and E. D. Cubuk, "JAX, M.D.: A framework for differentiable physics",
    NeurIPS 33 (2020).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from observables import Quantity, UnitError, ureg

from ._base import AbstractPotential, System
from ._param_units import as_cutoff, as_energy, as_length

__all__ = ["JaxMDEnergy"]


def _unit(name: str, value: Any, kind: str) -> str:
    """Check a declared jax-md unit string (`kind` 'length' or 'energy')."""
    if not isinstance(value, str):
        raise UnitError(
            f"JaxMDEnergy needs {name} as a unit string (jax-md is unitless), got {value!r}; "
            f"e.g. {name}={'angstrom' if kind == 'length' else 'eV'!r}"
        )
    try:
        q = Quantity(1.0, value)
    except Exception as exc:  # pint raises several error types for unknown units
        raise UnitError(f"JaxMDEnergy {name} {value!r} is not a unit pint knows ({exc})") from None
    (as_length if kind == "length" else as_energy)(q, name)
    return value


def _powers(q: Any, name: str) -> tuple[int, int]:
    """(a, b) with dim(q) = length^a · energy^b (energy molar, per particle or as K)."""
    if not isinstance(q, Quantity):
        raise UnitError(
            f"JaxMDEnergy parameter {name!r} was given without units ({type(q).__name__}); "
            f"give a Quantity (Quantity(x, '') for a pure number)"
        )
    dims = dict(q.dimensionality)
    if set(dims) == {"[temperature]"} and dims["[temperature]"] == 1:
        return 0, 1  # an energy given as ε/k_B
    b = dims.pop("[mass]", 0)
    ok = dims.pop("[time]", 0) == -2 * b and dims.pop("[substance]", 0) in (0, -b)
    a = dims.pop("[length]", 0) - 2 * b
    if not ok or dims or int(a) != a or int(b) != b:
        raise UnitError(
            f"JaxMDEnergy parameter {name!r} has unit {q.units:~P} ({q.dimensionality}), "
            "which is not a power of length times a power of energy; pass it in jax-md units "
            "through options= instead"
        )
    return int(a), int(b)


def _unit_string(length: str, energy: str, a: int, b: int) -> str:
    parts = [f"({length})**{a}" if a else "", f"({energy})**{b}" if b else ""]
    return " * ".join(p for p in parts if p) or "dimensionless"


def _second_parameter(fn: Callable) -> str | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    return params[1].name if len(params) > 1 else None


def _takes_positional(fn: Callable) -> bool:
    try:
        ps = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in kinds or p.kind is inspect.Parameter.VAR_POSITIONAL for p in ps)


def _check_accepts(fn: Callable, names: list[str], what: str, named: bool = False) -> None:
    """Raise a one-line TypeError if `fn` cannot take keyword arguments `names`; with
    `named`, each must be a named parameter (not swallowed by `**kwargs`)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins / C functions: cannot check, the call will tell
    ps = sig.parameters.values()
    if not named and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ps):
        return
    known = {p.name for p in ps if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TypeError(
            f"{what} {getattr(fn, '__name__', fn)!r} has no keyword argument(s) {unknown}; "
            f"its signature is {sig}"
        )


class JaxMDEnergy(AbstractPotential):
    """A jax-md energy function with unit-carrying, fittable parameters (module docstring).

    **Arguments:**
    - `factory`: a jax-md energy factory, e.g. `jax_md.energy.lennard_jones_neighbor_list`;
    - `params`: `{name: Quantity}`, the fittable parameters, passed to the factory by name;
      each must be a named parameter of the factory (a name only `**kwargs` would take is
      refused: jax-md passes those to the neighbour list, where a typo is silently
      ignored). Stored in nm^a (kJ/mol)^b (see the module docstring);
    - `length_unit`, `energy_unit`: the units the jax-md energy works in (unit strings);
    - `cutoff`: length Quantity, the range of the energy (at least the jax-md energy's own
      cutoff), or `None` for no neighbour list (all pairs);
    - `options`: `{name: value}` passed to the factory, in jax-md units (not fitted):
      species, `r_onset`/`r_cutoff`, `cutoff`, flags; Python floats are passed as arrays of
      the positions' dtype (jax-md would otherwise make them float32); arrays (e.g.
      `species`) are stored as hashable copies and passed back as arrays;
    - `neighbor_list`: whether the energy takes `neighbor=` (default: `cutoff` is given).

    **Fields:** `params` (a dict of float arrays in internal units: the fit parameters).
    """

    params: dict[str, Float[Array, "..."]]
    fn: Callable = eqx.field(static=True)
    prebuilt: bool = eqx.field(static=True)
    options: tuple[tuple[str, Any], ...] = eqx.field(static=True)
    to_jaxmd: tuple[tuple[str, float], ...] = eqx.field(static=True)
    length_nm: float = eqx.field(static=True)
    energy_kjmol: float = eqx.field(static=True)
    units: tuple[str, str] = eqx.field(static=True)
    range_nm: float | None = eqx.field(static=True)
    neighbor_list: bool = eqx.field(static=True)

    def __init__(
        self,
        factory: Callable,
        params: dict[str, Any],
        *,
        length_unit: str,
        energy_unit: str,
        cutoff: Any = None,
        options: dict[str, Any] | None = None,
        neighbor_list: bool | None = None,
        _prebuilt: bool = False,
    ):
        what = "energy_fn" if _prebuilt else "factory"
        if not callable(factory):
            raise TypeError(
                f"JaxMDEnergy {what} must be callable (e.g. jax_md.energy."
                f"lennard_jones_neighbor_list), got {type(factory).__name__}"
            )
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise TypeError(f"JaxMDEnergy params must be a dict {{name: Quantity}}, got {params!r}")
        options = {} if options is None else dict(options)
        clash = sorted(set(options) & set(params))
        if clash:
            raise ValueError(f"JaxMDEnergy: {clash} given both as params and as options")
        length_unit = _unit("length_unit", length_unit, "length")
        energy_unit = _unit("energy_unit", energy_unit, "energy")
        self.units = (length_unit, energy_unit)
        self.length_nm = float(as_length(Quantity(1.0, length_unit), "length_unit"))
        self.energy_kjmol = float(as_energy(Quantity(1.0, energy_unit), "energy_unit"))
        leaves, factors = {}, []
        for name, q in params.items():
            a, b = _powers(q, name)
            internal = _unit_string("nm", "kJ/mol", a, b)
            value = np.asarray(_to(q, internal, name), dtype=float)
            if not np.all(np.isfinite(value)):
                raise ValueError(f"JaxMDEnergy parameter {name!r} must be finite, got {q}")
            leaves[name] = jnp.asarray(value)
            jaxmd = _unit_string(length_unit, energy_unit, a, b)
            factors.append((name, float(_to(Quantity(1.0, internal), jaxmd, name))))
        self.params = leaves
        self.to_jaxmd = tuple(factors)
        self.fn = factory
        self.prebuilt = bool(_prebuilt)
        self.options = tuple(sorted((k, _freeze(v)) for k, v in options.items()))
        self.range_nm = None if cutoff is None else as_cutoff(cutoff)
        self.neighbor_list = (cutoff is not None) if neighbor_list is None else bool(neighbor_list)
        if self.neighbor_list and cutoff is None:
            raise ValueError("JaxMDEnergy neighbor_list=True needs a cutoff (length Quantity)")
        if _prebuilt:
            _check_accepts(factory, list(params), what)
        else:
            if not _takes_positional(factory):
                raise TypeError(
                    f"JaxMDEnergy factory {getattr(factory, '__name__', factory)!r} must take "
                    "the displacement function as its first argument (a jax-md energy "
                    "factory); for a built energy_fn(R, ...) use JaxMDEnergy.from_energy_fn"
                )
            _check_accepts(factory, list(options), what)
            _check_accepts(factory, list(params), what, named=True)

    @classmethod
    def from_energy_fn(
        cls,
        energy_fn: Callable,
        params: dict[str, Any],
        *,
        length_unit: str,
        energy_unit: str,
        cutoff: Any = None,
        neighbor_list: bool | None = None,
    ) -> JaxMDEnergy:
        """A built jax-md energy `energy_fn(R, neighbor=..., **params)` whose parameters are
        call-time keyword arguments (pair energies from `smap.pair*`). It must have been
        built with the system's box in `length_unit`."""
        return cls(
            energy_fn,
            params,
            length_unit=length_unit,
            energy_unit=energy_unit,
            cutoff=cutoff,
            neighbor_list=neighbor_list,
            _prebuilt=True,
        )

    @property
    def cutoff(self) -> float | None:
        return self.range_nm if self.neighbor_list else None

    def jaxmd_params(self) -> dict[str, Array]:
        """The parameters in the jax-md units (`length_unit`, `energy_unit`)."""
        return {name: self.params[name] * f for name, f in self.to_jaxmd}

    def energy(self, positions, system: System, neighbors=None):
        # jax-md is written for standard dtype promotion (a local setting; nothing global)
        with jax.numpy_dtype_promotion("standard"):
            return self._energy(positions, system, neighbors)

    def _energy(self, positions, system, neighbors):
        dtype = positions.dtype
        r = positions / jnp.asarray(self.length_nm, dtype)
        kwargs = {k: v.astype(dtype) for k, v in self.jaxmd_params().items()}
        if self.prebuilt:
            fn, call = self.fn, kwargs
        else:
            fn, call = self._build(system, dtype, kwargs), {}
        if self.neighbor_list:
            if neighbors is None:
                raise ValueError(
                    "this JaxMDEnergy needs a neighbour list (neighbor_list=True); pass one "
                    "or build it with neighbor_list=False"
                )
            _refuse_overflow(neighbors)
            e = fn(r, neighbor=neighbors, **call)
        else:
            e = fn(r, **call)
        return jnp.asarray(e, dtype) * jnp.asarray(self.energy_kjmol, dtype)

    def _build(self, system: System, dtype, kwargs: dict[str, Array]) -> Callable:
        with jax.numpy_dtype_promotion("standard"):
            from jax_md import space

        if system.box is None:
            displacement, _ = space.free()
            box = None
        else:
            box = system.box.astype(dtype) / jnp.asarray(self.length_nm, dtype)
            if box.ndim == 1:
                displacement, _ = space.periodic(box)
            else:  # jax-md's cell matrix has the cell vectors as columns
                box = box.T
                displacement, _ = space.periodic_general(box, fractional_coordinates=False)
        far = max(1e3, 1e4 * (self.range_nm or 0.0)) / self.length_nm  # ≥ 1 µm
        displacement = _nonzero(displacement, far)
        # Python floats as arrays of the positions' dtype: jax-md turns a Python float
        # into float32 (`util.maybe_downcast`), which would cost float64 runs 1e-8 accuracy
        options = {k: _thaw(v, dtype) for k, v in self.options}
        args = (
            (displacement, box)
            if _second_parameter(self.fn) in ("box", "box_size")
            else (displacement,)
        )
        try:
            out = self.fn(*args, **options, **kwargs)
        except TypeError as exc:  # e.g. a parameter name swallowed by **neighbor_kwargs
            raise TypeError(
                f"JaxMDEnergy factory {getattr(self.fn, '__name__', self.fn)!r} refused the "
                f"arguments {sorted(options) + sorted(kwargs)}: {exc}"
            ) from None
        if isinstance(out, tuple):
            out = out[-1]
        if not callable(out):
            raise TypeError(
                f"JaxMDEnergy factory {getattr(self.fn, '__name__', self.fn)!r} returned "
                f"{type(out).__name__}, not an energy function or (neighbor_fn, energy_fn)"
            )
        return out


class _Frozen(eqx.Module):
    """A hashable copy of an array option (static fields must be hashable)."""

    values: tuple = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: str = eqx.field(static=True)


def _freeze(value: Any) -> Any:
    if isinstance(value, np.ndarray | jax.Array):
        a = np.asarray(value)
        return _Frozen(tuple(a.ravel().tolist()), a.shape, a.dtype.name)
    return value


def _thaw(value: Any, dtype: Any) -> Any:
    if isinstance(value, _Frozen):
        a = np.asarray(value.values, dtype=value.dtype).reshape(value.shape)
        return jnp.asarray(a, dtype if np.issubdtype(a.dtype, np.floating) else a.dtype)
    if isinstance(value, float):
        return jnp.asarray(value, dtype)
    return value


def _to(q: Any, unit: str, name: str) -> Any:
    """Magnitude of `q` in `unit`, allowing one factor N_A (molar vs per particle) or R."""
    from observables import to_magnitude

    return to_magnitude(q, ureg.Unit(unit), f"JaxMDEnergy parameter {name!r}")


def _refuse_overflow(neighbors: Any) -> None:
    flag = getattr(neighbors, "did_buffer_overflow", None)
    if flag is None or isinstance(flag, jax.core.Tracer):
        return
    if bool(np.any(np.asarray(flag))):
        raise ValueError(
            "the neighbour list passed to JaxMDEnergy has overflowed (it misses pairs); "
            "reallocate it (jax-md: neighbor_fn.allocate(R)) or let JaxMDBackend manage it"
        )


def _nonzero(displacement: Callable, far: float) -> Callable:
    """`displacement` with the result for identical positions (padded neighbour slots and
    self pairs) replaced by a vector of length `far` (keeps reverse-mode gradients finite)."""

    def safe(ra, rb, **kwargs):
        dr = displacement(ra, rb, **kwargs)
        # tested before the periodic wrap: ra − rb of one position is exactly 0, while the
        # wrapped value may be rounded to ±1e-17 by a contracted (fused) multiply-add
        zero = jnp.all(ra - rb == 0, axis=-1, keepdims=True) | jnp.all(
            dr == 0, axis=-1, keepdims=True
        )
        away = jnp.zeros_like(dr).at[..., 0].set(far)
        return jnp.where(zero, away, dr)

    return safe
