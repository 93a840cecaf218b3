"""Tests for the structure observables: RDF (histogram and smooth), coordination, S(q).

Analytic cases (ideal gas, simple-cubic / fcc lattices in orthorhombic and triclinic cells),
cross-checks against MDAnalysis and freud, hypothesis properties, finite-difference
gradients, and bad input.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import observables.testing as ot
from observables import (
    RDF,
    GaussianKernel,
    Histogram,
    Lorch,
    NoRadialWindow,
    Quantity,
    RDFResult,
    Trajectory,
    TrajectoryError,
    UnitError,
    minimum_image,
    perpendicular_widths,
    wrap_positions,
)

NM = "nm"


def _traj(positions, box, species=None, unit=NM):
    return Trajectory(
        Quantity(np.asarray(positions, dtype=np.float64), unit),
        box=Quantity(np.asarray(box, dtype=np.float64), unit),
        timestep=Quantity(1.0, "ps"),
        species=species,
    )


def _simple_cubic(n, a):
    g = np.arange(n) * a
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)


def _fcc(n, a):
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]) * a
    return (_simple_cubic(n, a)[:, None, :] + basis[None]).reshape(-1, 3)


def _shells(res):
    """Coordination numbers at the outer edge of each bin (plain numpy)."""
    return np.asarray(res.coordination_number())


def _within(res, r):
    """Running coordination number at the largest bin edge <= r."""
    k = np.searchsorted(np.asarray(res.edges)[1:], r, side="right") - 1
    assert k >= 0
    return _shells(res)[k]


# ---------------------------------------------------------------------- analytic cases
def test_ideal_gas_tends_to_one(rng):
    n, length, frames, bins = 100, 2.0, 40, 20
    traj = _traj(rng.random((frames, n, 3)) * length, [length] * 3)
    res = RDF(Quantity(1.0, NM), bins)(traj)
    g = np.asarray(res.g)
    shell = np.asarray(res.shell_volumes)
    # expected ordered-pair counts per bin; each unordered pair is counted twice, so the
    # Poisson variance of the ordered count is 2x its mean
    expected = frames * n * (n - 1) * shell / length**3
    z = (g - 1.0) / np.sqrt(2.0 / expected)
    assert np.max(np.abs(z)) < 4.5, z
    assert np.mean(z**2) < 2.0
    # running coordination at r_max = (N-1)/V * 4/3 pi r_max^3 within 1 %
    n_expected = (n - 1) / length**3 * 4 / 3 * np.pi * 1.0**3
    assert _shells(res)[-1] == pytest.approx(n_expected, rel=0.01)
    # S(q) of an ideal gas is 1 (within noise) away from q = 0
    s = res.structure_factor(Quantity([10.0, 20.0, 40.0], "1/nm"))
    np.testing.assert_allclose(np.asarray(s), 1.0, atol=0.05)


def test_simple_cubic_coordination():
    a, n = 0.3, 5
    pos = _simple_cubic(n, a)
    res = RDF(Quantity(n * a / 2, NM), 73)(_traj(pos[None], [n * a] * 3))
    assert _within(res, a - 1e-3) == pytest.approx(0.0, abs=1e-12)
    assert _within(res, a + 0.011) == pytest.approx(6.0, rel=1e-12)
    assert _within(res, np.sqrt(2) * a - 1e-3) == pytest.approx(6.0, rel=1e-12)
    assert _within(res, np.sqrt(2) * a + 0.011) == pytest.approx(18.0, rel=1e-12)  # + 12
    assert _within(res, np.sqrt(3) * a + 0.011) == pytest.approx(26.0, rel=1e-12)  # + 8


@pytest.mark.parametrize("kernel", [Histogram(), GaussianKernel(Quantity(1e-4, NM))])
def test_fcc_coordination_orthorhombic_and_triclinic(kernel):
    a = 0.4
    # conventional cubic cell, 3x3x3 (108 atoms)
    pos_c = _fcc(3, a)
    res_c = RDF(Quantity(0.6, NM), 61, kernel=kernel)(_traj(pos_c[None], [3 * a] * 3))
    # primitive rhombohedral (triclinic) cell, 4x4x4 (64 atoms)
    prim = 0.5 * a * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]])
    m = 4
    ijk = _simple_cubic(m, 1.0)
    pos_t = ijk @ prim
    box_t = m * prim
    limit = 0.5 * float(np.min(perpendicular_widths(jnp.asarray(box_t))))
    assert limit == pytest.approx(a * m / np.sqrt(3) / 2)
    res_t = RDF(Quantity(0.46, NM), 47, kernel=kernel)(_traj(pos_t[None], box_t))
    for res in (res_c, res_t):
        assert _within(res, a / np.sqrt(2) - 1e-3) == pytest.approx(0.0, abs=1e-9)
        assert _within(res, a / np.sqrt(2) + 0.011) == pytest.approx(12.0, rel=1e-9)
        assert _within(res, a - 1e-3) == pytest.approx(12.0, rel=1e-9)
        assert _within(res, a + 0.011) == pytest.approx(18.0, rel=1e-9)
        g = np.asarray(res.g)
        assert np.all(g >= 0) and np.sum(g > 1e-9) >= 2  # only the lattice shells are occupied


def test_same_lattice_triclinic_equals_orthorhombic(rng):
    """A unimodular change of cell vectors describes the same periodic system."""
    length = 1.5
    cube = np.eye(3) * length
    sheared = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]]) @ cube  # rows a, a+b, b+c
    r_max = 0.5 * float(np.min(perpendicular_widths(jnp.asarray(sheared))))
    assert r_max == pytest.approx(length / (2 * np.sqrt(3)))
    pos = rng.random((2, 24, 3)) * length
    pos_t = np.asarray(wrap_positions(jnp.asarray(pos), jnp.asarray(sheared)))
    assert not np.allclose(pos, pos_t)  # the wrap really moved atoms
    rdf = RDF(Quantity(r_max, NM), 25)
    g_o = rdf(_traj(pos, cube)).g
    g_t = rdf(_traj(pos_t, sheared)).g
    assert np.sum(np.asarray(g_o)) > 0
    np.testing.assert_allclose(np.asarray(g_t), np.asarray(g_o), rtol=1e-10, atol=1e-12)


def test_minimum_image_exact_within_half_width(rng):
    """Brute force over 5^3 images: rounding finds the shortest image when it is < w/2."""
    box = jnp.asarray([[1.0, 0, 0], [0.6, 0.9, 0], [-0.4, 0.45, 0.8]])
    half_width = 0.5 * float(jnp.min(perpendicular_widths(box)))
    d = jnp.asarray(rng.normal(size=(400, 3)) * 2.0)
    img = np.asarray(minimum_image(d, box))
    np.testing.assert_allclose(  # an image: differs from d by a lattice vector
        (np.asarray(d) - img) @ np.linalg.inv(np.asarray(box)),
        np.round((np.asarray(d) - img) @ np.linalg.inv(np.asarray(box))),
        atol=1e-9,
    )
    shifts = _simple_cubic(5, 1.0) - 2.0
    all_images = img[:, None, :] + shifts[None] @ np.asarray(box)
    shortest = np.min(np.linalg.norm(all_images, axis=-1), axis=1)
    mine = np.linalg.norm(img, axis=-1)
    inside = shortest < half_width
    assert inside.sum() > 20 and (~inside).sum() > 20
    np.testing.assert_allclose(mine[inside], shortest[inside], rtol=1e-12)
    assert np.all(mine >= shortest - 1e-12)  # never shorter than the true minimum


def test_varying_box_is_frame_average(rng):
    """With a box that changes per frame each frame is normalised by its own volume."""
    boxes = np.array([[1.5, 1.5, 1.5], [1.6, 1.55, 1.7]])
    pos = rng.random((2, 24, 3)) * boxes[:, None, :]
    rdf = RDF(Quantity(0.75, NM), 25)
    g_both = np.asarray(rdf(_traj(pos, boxes)).g)
    g_each = [np.asarray(rdf(_traj(pos[i : i + 1], boxes[i])).g) for i in range(2)]
    np.testing.assert_allclose(g_both, 0.5 * (g_each[0] + g_each[1]), rtol=1e-12)


def test_structure_factor_matches_debye_sum(rng):
    """S(q) from a finely binned g(r) equals the windowed Debye sum over pairs within R."""
    n, length, r_max = 64, 1.6, 0.8
    pos = rng.random((2, n, 3)) * length
    traj = _traj(pos, [length] * 3)
    res = RDF(Quantity(r_max, NM), 800)(traj)
    q = np.array([3.0, 8.0, 15.0])
    for window, w in ((Lorch(), lambda r: np.sinc(r / r_max)), (NoRadialWindow(), np.ones_like)):
        s = np.asarray(res.structure_factor(Quantity(q, "1/nm"), window))
        ref = []
        rr = np.linspace(0, r_max, 20001)[1:]
        rho = n / length**3
        for qq in q:
            total = 0.0
            for f in range(2):
                d = pos[f][:, None] - pos[f][None]
                d -= length * np.round(d / length)
                r = np.linalg.norm(d, axis=-1)[~np.eye(n, dtype=bool)]
                r = r[r < r_max]
                total += np.sum(w(r) * np.sinc(qq * r / np.pi)) / (n - 1)
            background = np.trapezoid(4 * np.pi * rr**2 * w(rr) * np.sinc(qq * rr / np.pi), rr)
            ref.append(1 + total / 2 - rho * background)
        np.testing.assert_allclose(s, ref, atol=2e-3)


# --------------------------------------------------------------- independent tools
def _mda_dims(box):
    a, b, c = np.asarray(box) * 10.0

    def ang(x, y):
        return np.degrees(np.arccos(x @ y / np.linalg.norm(x) / np.linalg.norm(y)))

    return np.array([*np.linalg.norm([a, b, c], axis=1), ang(b, c), ang(a, c), ang(a, b)])


BOXES = {
    "orthorhombic": np.diag([2.0, 1.9, 2.2]),
    # lower-triangular rows: the canonical orientation both MDAnalysis and freud use
    "triclinic": np.array([[2.0, 0, 0], [0.4, 1.9, 0], [-0.3, 0.5, 2.1]]),
}


@pytest.fixture(scope="module")
def shared_frames():
    rng = np.random.default_rng(7)
    frames, n = 4, 150
    species = np.where(np.arange(n) < 60, "A", "B")
    out = {}
    for name, box in BOXES.items():
        pos = rng.random((frames, n, 3)) @ box
        # exactly representable in float32, so all three tools see the same numbers
        out[name] = (pos.astype(np.float32).astype(np.float64), box, species)
    return out


@pytest.mark.parametrize("cell", list(BOXES))
@pytest.mark.parametrize("pair", [None, ("A", "A"), ("A", "B"), (1, 0)])
def test_matches_mdanalysis(shared_frames, cell, pair):
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.analysis.rdf import InterRDF
    from MDAnalysis.coordinates.memory import MemoryReader

    pos, box, species = shared_frames[cell]
    frames, n, _ = pos.shape
    r_max, bins = 0.8, 40
    g = np.asarray(RDF(Quantity(r_max, NM), bins, pair=pair)(_traj(pos, box, species)).g)

    u = mda.Universe.empty(n, trajectory=True)
    dims = np.tile(_mda_dims(box), (frames, 1))
    u.load_new((pos * 10.0).astype(np.float32), format=MemoryReader, dimensions=dims)
    names = ("A", "B")
    sel = lambda s: u.atoms[species == (s if isinstance(s, str) else names[s])]  # noqa: E731
    g1, g2 = (u.atoms, u.atoms) if pair is None else (sel(pair[0]), sel(pair[1]))
    same = pair is None or pair[0] == pair[1]
    # mapping: ours == InterRDF with the self pair excluded for a == b (N_a (N_a - 1) pairs)
    kw = dict(exclusion_block=(1, 1)) if same else {}
    ref = InterRDF(g1, g2, nbins=bins, range=(0.0, r_max * 10.0), **kw).run()
    has = ref.results.count > 0
    assert has.sum() > bins // 2
    np.testing.assert_allclose(g[has], ref.results.rdf[has], rtol=1e-6)
    np.testing.assert_allclose(
        ref.results.bins / 10.0,
        np.asarray(RDF(Quantity(r_max, NM), bins).bin_centers.m_as(NM)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("cell", list(BOXES))
@pytest.mark.parametrize("pair", [None, ("A", "B")])
def test_matches_freud(shared_frames, cell, pair):
    freud = pytest.importorskip("freud")
    pos, box, species = shared_frames[cell]
    frames, n, _ = pos.shape
    r_max, bins = 0.8, 40
    res = RDF(Quantity(r_max, NM), bins, pair=pair)(_traj(pos, box, species))
    g = np.asarray(res.g)

    fbox = freud.box.Box.from_matrix(box.T)  # freud takes cell vectors as columns
    if pair is None:
        # finite_size: N (N-1) / V pairs, self pairs excluded (no query_points)
        ref = freud.density.RDF(bins, r_max, normalization_mode="finite_size")
        n_pairs = n * (n - 1)
        for f in range(frames):
            ref.compute((fbox, fbox.wrap(pos[f])), reset=False)
    else:
        # exact: N_A N_B / V with A as query points and B as points
        ref = freud.density.RDF(bins, r_max, normalization_mode="exact")
        a, b = species == pair[0], species == pair[1]
        n_pairs = int(a.sum() * b.sum())
        for f in range(frames):
            ref.compute(
                (fbox, fbox.wrap(pos[f][b])), query_points=fbox.wrap(pos[f][a]), reset=False
            )
    counts = np.asarray(ref.bin_counts, dtype=np.float64)
    has = counts > 0
    assert has.sum() > bins // 2
    # freud accumulates exact integer counts but normalises in float32 (its shell volumes
    # r_{k+1}^3 - r_k^3 lose ~1e-6 to cancellation). Apply freud's own normalisation in
    # float64 to its counts for the 1e-6 check, and check its float32 output at float32 level.
    volume = abs(np.linalg.det(box))
    shell = 4 / 3 * np.pi * np.diff(np.asarray(res.edges) ** 3)
    g_freud64 = counts / (frames * shell * n_pairs / volume)
    np.testing.assert_allclose(g[has], g_freud64[has], rtol=1e-6)
    np.testing.assert_allclose(g[has], np.asarray(ref.rdf)[has], rtol=2e-5)
    # freud's running n(r) is counts / N_query; ours is the same in the total case
    if pair is None:
        np.testing.assert_allclose(_shells(res), np.asarray(ref.n_r), rtol=2e-5)


# ------------------------------------------------------------------- hypothesis properties
N_PROP, F_PROP, L_PROP = 24, 2, 1.5
SPECIES_PROP = np.array([0, 1] * (N_PROP // 2))


@st.composite
def configurations(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return rng.random((F_PROP, N_PROP, 3)) * L_PROP, rng


def _prop_traj(pos, species=SPECIES_PROP, unit=NM, scale=1.0):
    return Trajectory(
        Quantity(pos * scale, unit),
        box=Quantity(np.array([L_PROP] * 3) * scale, unit),
        timestep=Quantity(1.0, "ps"),
        species=species,
        species_names=("X", "Y"),
    )


RDF_PROP = RDF(Quantity(L_PROP / 2, NM), 25)
RDF_SMOOTH = RDF(Quantity(L_PROP / 2, NM), 25, kernel=GaussianKernel(Quantity(0.02, NM)))


@given(configurations())
def test_permutation_invariance(cfg):
    pos, rng = cfg
    perm = rng.permutation(N_PROP)  # each atom keeps its species
    for rdf in (RDF_PROP, RDF_SMOOTH, RDF(Quantity(0.7, NM), 25, pair=("X", "Y"))):
        ot.check_permutation_invariance(rdf, _prop_traj(pos), perm, rtol=1e-10)


@given(configurations(), st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3))
def test_translation_and_wrapping_invariance(cfg, shift):
    pos, rng = cfg
    for rdf in (RDF_SMOOTH, RDF_PROP):  # shift everything, wrap into the box
        ot.check_translation_invariance(rdf, _prop_traj(pos), Quantity(shift, NM), rtol=1e-8)
    g0 = np.asarray(RDF_SMOOTH(_prop_traj(pos)).g)
    h0 = np.asarray(RDF_PROP(_prop_traj(pos)).g)
    images = pos + L_PROP * rng.integers(-3, 4, size=pos.shape)  # random periodic images
    np.testing.assert_allclose(
        np.asarray(RDF_SMOOTH(_prop_traj(images)).g), g0, rtol=1e-8, atol=1e-8
    )
    np.testing.assert_allclose(np.asarray(RDF_PROP(_prop_traj(images)).g), h0, rtol=1e-8, atol=1e-8)


@given(configurations())
def test_unit_consistency_angstrom_vs_nm(cfg):
    pos, _ = cfg
    g_nm = RDF_SMOOTH(_prop_traj(pos)).g
    rdf_a = RDF(
        Quantity(10 * L_PROP / 2, "angstrom"), 25, kernel=GaussianKernel(Quantity(0.2, "angstrom"))
    )
    g_a = rdf_a(_prop_traj(pos, unit="angstrom", scale=10.0)).g
    np.testing.assert_allclose(np.asarray(g_a), np.asarray(g_nm), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        rdf_a.bin_centers.m_as(NM), RDF_SMOOTH.bin_centers.m_as(NM), rtol=1e-12
    )


@given(configurations())
def test_smooth_nonnegative_and_converges_to_histogram(cfg):
    pos, _ = cfg
    traj = _prop_traj(pos)
    g_hist = np.asarray(RDF_PROP(traj).g)
    errors = []
    for width in (0.02, 0.003, 1e-7):
        g = np.asarray(
            RDF(Quantity(L_PROP / 2, NM), 25, kernel=GaussianKernel(Quantity(width, NM)))(traj).g
        )
        assert np.all(g >= 0)
        errors.append(np.sum(np.abs(g - g_hist)))
    assert errors[-1] < 1e-3 * max(1.0, np.sum(g_hist))  # only pairs within ~1e-6 nm of an edge
    assert errors[2] <= errors[1] + 1e-12 and errors[1] <= errors[0] + 1e-12


@given(configurations(), st.sampled_from(["histogram", "smooth"]))
def test_partials_sum_to_total(cfg, mode):
    pos, _ = cfg
    traj = _prop_traj(pos)
    kernel = Histogram() if mode == "histogram" else GaussianKernel(Quantity(0.02, NM))
    total = RDF(Quantity(0.7, NM), 25, kernel=kernel)(traj).g
    counts = {0: int(np.sum(SPECIES_PROP == 0)), 1: int(np.sum(SPECIES_PROP == 1))}
    acc = 0.0
    for a in (0, 1):
        for b in ("X", "Y"):
            ib = ("X", "Y").index(b)
            n_ab = counts[a] * counts[ib] - (counts[a] if a == ib else 0)
            acc = acc + n_ab * np.asarray(
                RDF(Quantity(0.7, NM), 25, pair=(a, b), kernel=kernel)(traj).g
            )
    np.testing.assert_allclose(
        acc / (N_PROP * (N_PROP - 1)), np.asarray(total), rtol=1e-10, atol=1e-12
    )


# ---------------------------------------------------------------------- jit and gradients
def test_jit_matches_eager_and_float32(rng):
    box = jnp.asarray(np.diag([1.5, 1.6, 1.7]))
    pos = jnp.asarray(rng.random((2, 24, 3)) * 1.5)
    rdf = RDF(Quantity(0.7, NM), 25, kernel=GaussianKernel(Quantity(0.02, NM)))

    # the box is an argument: a concrete box closed over by a jitted function trips
    # Trajectory's concrete-value checks (Trajectory.volume becomes a tracer)
    def f(p, b):
        return rdf(Trajectory.from_internal(p, box=b, timestep=1.0)).g

    eager = f(pos, box)
    np.testing.assert_allclose(np.asarray(jax.jit(f)(pos, box)), np.asarray(eager), rtol=1e-12)
    g32 = f(pos.astype(jnp.float32), box.astype(jnp.float32))
    assert g32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(g32), np.asarray(eager), rtol=2e-4, atol=2e-4)


def test_traced_box_r_max_check_runs_under_jit(rng):
    pos = jnp.asarray(rng.random((1, 24, 3)))
    rdf = RDF(Quantity(0.6, NM), 25)

    @jax.jit
    def f(box):
        return rdf(Trajectory.from_internal(pos, box=box, timestep=1.0)).g

    assert np.all(np.isfinite(np.asarray(f(jnp.asarray([1.3, 1.3, 1.3])))))
    with pytest.raises(Exception, match="r_max exceeds"):
        f(jnp.asarray([1.0, 1.0, 1.0])).block_until_ready()


def test_gradient_matches_finite_differences(rng):
    n, length = 24, 1.5
    box = jnp.asarray([length] * 3)
    pos = jnp.asarray(rng.random((2, n, 3)) * length)
    # same settings and shapes as RDF_SMOOTH: the forward evaluations reuse its compilation
    rdf = RDF(Quantity(0.75, NM), 25, kernel=GaussianKernel(Quantity(0.02, NM)))
    target = jnp.linspace(0.5, 1.5, 25)

    def loss(p):
        g = rdf(Trajectory.from_internal(p, box=box, timestep=1.0)).g
        return jnp.sum((g - target) ** 2)

    grad = jax.grad(loss)(pos)
    assert float(jnp.max(jnp.abs(grad))) > 1e-3  # a real, non-zero gradient
    eps = 1e-6
    for _ in range(4):
        v = jnp.asarray(rng.normal(size=pos.shape))
        fd = (loss(pos + eps * v) - loss(pos - eps * v)) / (2 * eps)
        np.testing.assert_allclose(float(jnp.sum(grad * v)), float(fd), rtol=1e-6, atol=1e-9)


def test_result_object(rng):
    traj = _traj(rng.random((2, 24, 3)) * 1.5, [1.5] * 3)
    rdf = RDF(Quantity(6.0, "angstrom"), 25, r_min=Quantity(0.1, NM))
    res = rdf(traj)
    assert isinstance(res, RDFResult)
    assert res.bin_centers.units == Quantity(1.0, NM).units
    np.testing.assert_allclose(np.asarray(res.bin_edges.m_as(NM))[[0, -1]], [0.1, 0.6])
    np.testing.assert_allclose(res.bin_centers.m_as(NM), rdf.bin_centers.m_as(NM))
    assert float(res.number_density) == pytest.approx(24 / 1.5**3)
    assert float(res.partner_density) == pytest.approx(23 / 1.5**3)
    assert rdf.quantity(traj).units == Quantity(1, "dimensionless").units


# ------------------------------------------------------------------------------ bad input
def test_r_max_too_large_names_the_limit(rng):
    traj = _traj(rng.random((1, 24, 3)), [[1.0, 0, 0], [0.5, 1.0, 0], [0, 0, 1.0]])
    limit = 0.5 / np.sqrt(1.25)  # half of V / |a x c| for this cell
    with pytest.raises(ValueError, match=rf"r_max = 0\.5 nm exceeds .* {limit:.6g} nm"):
        RDF(Quantity(0.5, NM), 25)(traj)
    RDF(Quantity(0.44, NM), 25)(traj)  # just inside is fine


def test_bad_input(rng):
    pos = Quantity(rng.random((1, 10, 3)), NM)
    no_box = Trajectory(pos, box=None, timestep=Quantity(1.0, "ps"))
    with pytest.raises(TrajectoryError, match="periodic box"):
        RDF(Quantity(0.4, NM), 10)(no_box)
    traj = _traj(rng.random((1, 24, 3)), [1.0] * 3, species=["O"] * 12 + ["H"] * 12)
    with pytest.raises(ValueError, match=r"unknown species 'N'.*\('O', 'H'\)"):
        RDF(Quantity(0.4, NM), 10, pair=("O", "N"))(traj)
    with pytest.raises(ValueError, match="out of range"):
        RDF(Quantity(0.4, NM), 10, pair=(0, 2))(traj)
    with pytest.raises(TrajectoryError, match="needs species"):
        RDF(Quantity(0.4, NM), 10, pair=("O", "O"))(_traj(rng.random((1, 10, 3)), [1.0] * 3))
    with pytest.raises(ValueError, match="at least two atoms"):
        RDF(Quantity(0.4, NM), 25)(_traj(rng.random((1, 1, 3)), [1.0] * 3))
    with pytest.raises(ValueError, match="has no atoms"):
        RDF(Quantity(0.4, NM), 25, pair=(0, 0))(
            _traj(rng.random((1, 4, 3)), [1.0] * 3, species=np.array([1, 1, 1, 1]))
        )
    for bins in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="bins must be a positive integer"):
            RDF(Quantity(0.4, NM), bins)
    with pytest.raises(UnitError, match="GaussianKernel width was given without units"):
        GaussianKernel(0.01)
    with pytest.raises(UnitError, match="r_max was given without units"):
        RDF(0.4, 10)
    with pytest.raises(UnitError, match="cannot be converted"):
        RDF(Quantity(0.4, "ps"), 10)
    with pytest.raises(ValueError, match="positive length"):
        GaussianKernel(Quantity(0.0, NM))
    with pytest.raises(ValueError, match="larger than r_min"):
        RDF(Quantity(0.4, NM), 10, r_min=Quantity(0.5, NM))
    with pytest.raises(UnitError):
        RDF(Quantity(0.4, NM), 25)(traj).structure_factor(10.0)
