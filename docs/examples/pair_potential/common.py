"""Shared set-up of the two-density pair-potential demonstration (`make_reference.py`
writes the data; `learn_pair.py` fits them, `ibi_two_densities.py` inverts them,
`compare.py` plots and scores both)."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from observables import RDF, GaussianKernel, Quantity
from spectrinv.datasets import Dataset
from spectrinv.potentials import ForceShifted, LennardJones, TabulatedPair

HERE = Path(__file__).resolve().parent
SIGMA = 0.3405  # nm, the planted truth
EPS = float(Quantity(120.0, "K * molar_gas_constant").m_as("kJ/mol"))  # kJ/mol
MASS = Quantity(39.948, "Da")
TEMPERATURE = Quantity(120.0, "K")
STATES = {"low": 0.72, "high": 0.84}  # ρσ³
R_MIN, CUTOFF, N_KNOTS = 0.28, 0.8, 26  # nm; knots every 0.02 nm


def mass_density(rho_star: float) -> Quantity:
    return (rho_star * MASS / Quantity(SIGMA, "nm") ** 3).to("kg/m**3")


def rdf() -> RDF:
    """The estimator of the references: Gaussian kernel 0.005 nm, 80 bins to 0.8 nm."""
    return RDF(Quantity(0.8, "nm"), 80, kernel=GaussianKernel(Quantity(0.005, "nm")))


def g_data(state: str, suffix: str = "") -> Dataset:
    return Dataset.from_csv(
        HERE / f"ref_{state}{suffix}.csv",
        x="r",
        y="g",
        uncertainty="g_err",
        x_unit="nm",
        y_unit="dimensionless",
        quantity="rdf",
        name=f"planted g(r), {state} density",
    )


def p_data(state: str, suffix: str = "") -> Dataset:
    return Dataset.from_csv(
        HERE / f"ref_{state}_pressure{suffix}.csv",
        x="T",
        y="P",
        uncertainty="P_err",
        x_unit="K",
        y_unit="bar",
        quantity="pressure",
        name=f"planted pressure, {state} density",
    )


def knots() -> np.ndarray:
    return R_MIN + (CUTOFF - R_MIN) / N_KNOTS * np.arange(N_KNOTS)


def truth() -> LennardJones:
    return LennardJones(
        Quantity(SIGMA, "nm"),
        Quantity(EPS, "kJ/mol"),
        Quantity(CUTOFF, "nm"),
        truncation=ForceShifted(),
    )


def soft_start() -> TabulatedPair:
    """u₀ = ε (σ/r)¹² on the knots: purely repulsive, a quarter of the LJ repulsion."""
    k = knots()
    return TabulatedPair(
        Quantity(EPS * (SIGMA / k) ** 12, "kJ/mol"), Quantity(R_MIN, "nm"), Quantity(CUTOFF, "nm")
    )


def pmf_start(state: str) -> TabulatedPair:
    """The potential of mean force −k_BT ln g(r) of the `state` reference on the knots, with a
    steep wall u_edge + 10 k_BT ((r_edge/r)¹² − 1) below the first knot where g > 0.01 (the
    start of IBI; `learn_pair.py` starts from the ρσ³ = 0.72 one)."""
    kt = float(Quantity(TEMPERATURE.m_as("K"), "K * molar_gas_constant").m_as("kJ/mol"))
    k = knots()
    g = g_data(state)
    gk = np.interp(k, np.asarray(g.x), np.asarray(g.y))
    edge = int(np.argmax(gk > 0.01))
    u = -kt * np.log(np.maximum(gk, 1e-3))
    u[:edge] = u[edge] + 10 * kt * ((k[edge] / k[:edge]) ** 12 - 1)
    return TabulatedPair(Quantity(u, "kJ/mol"), Quantity(R_MIN, "nm"), Quantity(CUTOFF, "nm"))


def well(pair, r=None) -> tuple[float, float]:
    """(depth kJ/mol, position nm) of the minimum of `pair` on a fine grid in 0.33-0.79 nm."""
    r = np.linspace(0.33, 0.79, 4601) if r is None else r
    u = np.asarray(pair.pair_energy(jnp.asarray(r)))
    i = int(np.argmin(u))
    return float(u[i]), float(r[i])
