"""Angular distribution function: brute-force agreement, gradients, invariances, normalisation,
the ideal-gas limit and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.spatial.transform
from hypothesis import given, strategies as st

import observables as ob
from observables import Quantity as Q

F, N, L = 3, 30, 1.1  # frames, atoms, box edge (nm)
RC, BINS = 0.42, 36
NAMES = np.array(["A", "B"])


def _traj(pos, species, box=L):
    return ob.Trajectory(
        Q(pos, "nm"), box=Q([box] * 3, "nm"), species=NAMES[species], timestep=Q(1.0, "fs")
    )


def _random(seed, n=N, frames=F, box=L):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, box, (frames, n, 3)), rng.integers(0, 2, n)


def _brute(pos, species, codes, box=L, rc=RC, bins=BINS):
    """Loop over frames and central atoms; every ordered neighbour pair by numpy broadcasting;
    θ from arccos; minimum image by rounding in the cubic box."""
    counts, total = np.zeros(bins), 0
    for frame in pos:
        for i in range(len(frame)):
            if codes is not None and species[i] != codes[1]:
                continue
            d = frame - frame[i]
            d -= box * np.round(d / box)
            r = np.linalg.norm(d, axis=1)
            near = (r < rc) & (np.arange(len(frame)) != i)
            j_ok = near & (True if codes is None else species == codes[0])
            k_ok = near & (True if codes is None else species == codes[2])
            for j in np.flatnonzero(j_ok):
                ks = np.flatnonzero(k_ok & (np.arange(len(frame)) != j))
                cos = d[ks] @ d[j] / (r[ks] * r[j])
                theta = np.arccos(np.clip(cos, -1.0, 1.0))
                idx = np.minimum((theta / (np.pi / bins)).astype(int), bins - 1)
                np.add.at(counts, idx, 1.0)
                total += len(ks)
    return counts / (total * np.pi / bins), total


@pytest.mark.parametrize("triple", [None, ("A", "A", "A"), ("A", "B", "B"), ("B", "A", "A")])
def test_histogram_matches_brute_force_loop(triple):
    pos, species = _random(0)
    adf = ob.ADF(Q(RC, "nm"), bins=BINS, triple=triple, max_neighbors=20)
    res = adf(_traj(pos, species))
    codes = None if triple is None else tuple(int(np.flatnonzero(NAMES == s)[0]) for s in triple)
    ref, total = _brute(pos, species, codes)
    assert total > 100  # enough triples for the comparison to mean something
    np.testing.assert_allclose(np.asarray(res.p), ref, rtol=0, atol=1e-6 * ref.max())
    n_center = (species == codes[1]).sum() if codes else N
    assert float(res.triples_per_center) == pytest.approx(total / F / n_center, rel=1e-12)
    np.testing.assert_allclose(res.x_magnitude, adf.x_grid(), rtol=1e-12)
    assert res.bin_centers.units == ob.ureg.degree and res.y.check("1/[]") is not None


def test_water_like_angle_and_collinear_triples_are_exact():
    """Three atoms: one angle of 104.52° (counted twice, as both orders); a collinear triple
    (θ = π) lands in the last bin."""
    theta = np.deg2rad(104.52)
    o = np.array([1.0, 1.0, 1.0])
    h1 = o + 0.1 * np.array([1.0, 0.0, 0.0])
    h2 = o + 0.1 * np.array([np.cos(theta), np.sin(theta), 0.0])
    res = ob.ADF(Q(0.2, "nm"), bins=180, triple=("B", "A", "B"), n_blocks=None)(
        _traj(np.stack([o, h1, h2])[None], np.array([0, 1, 1]), box=3.0)
    )
    p = np.asarray(res.p)
    assert np.flatnonzero(p).tolist() == [104] and p[104] == pytest.approx(180 / np.pi)
    line = np.stack([o, o + [0.1, 0, 0], o - [0.1, 0, 0]])[None]
    res = ob.ADF(Q(0.2, "nm"), bins=180, triple=("B", "A", "B"), n_blocks=None)(
        _traj(line, np.array([0, 1, 1]), box=3.0)
    )
    assert np.flatnonzero(np.asarray(res.p)).tolist() == [179]


def test_ideal_gas_gives_half_sine():
    """Uncorrelated positions: P(θ) = sin(θ)/2 within the statistical noise."""
    pos, species = _random(1, n=400, frames=2, box=2.0)
    res = ob.ADF(Q(0.3, "nm"), bins=12, max_neighbors=24, n_blocks=None)(
        _traj(pos, species, box=2.0)
    )
    edges = np.linspace(0.0, np.pi, 13)
    expected = (np.cos(edges[:-1]) - np.cos(edges[1:])) / 2 / (np.pi / 12)  # bin averages
    np.testing.assert_allclose(np.asarray(res.p), expected, atol=0.025)


def test_smooth_gradient_matches_finite_differences():
    pos, species = _random(2)
    adf = ob.ADF(
        Q(RC, "nm"),
        bins=BINS,
        triple=("A", "A", "B"),
        kernel=ob.AngularGaussianKernel(Q(4.0, "degree")),
        max_neighbors=20,
    )
    traj = _traj(pos, species)
    rng = np.random.default_rng(3)
    direction = jnp.asarray(rng.normal(size=pos.shape))
    w = jnp.asarray(rng.normal(size=BINS))

    def loss(h):
        t = eqx.tree_at(lambda t: t.positions, traj, traj.positions + h * direction)
        return jnp.sum(w * adf(t).p)

    grad = float(jax.grad(loss)(0.0))
    h = 1e-6
    fd = (float(loss(h)) - float(loss(-h))) / (2 * h)
    assert abs(fd) > 1e-3
    assert grad == pytest.approx(fd, rel=1e-6)
    # and it is the histogram as the width goes to zero (up to the edges' share)
    sharp = ob.ADF(Q(RC, "nm"), bins=BINS, max_neighbors=20).__call__(traj).p
    smooth = ob.ADF(
        Q(RC, "nm"),
        bins=BINS,
        max_neighbors=20,
        kernel=ob.AngularGaussianKernel(Q(1e-7, "degree")),
    )(traj).p
    np.testing.assert_allclose(np.asarray(smooth), np.asarray(sharp), atol=1e-6)


#: a cluster well inside a big box: no periodic image within the cutoff, so rigid rotations
#: about the box centre are symmetries
_CLUSTER_BOX = 4.0
_ADF_SMOOTH = ob.ADF(
    Q(0.45, "nm"),
    bins=30,
    triple=("A", "B", "A"),
    kernel=ob.AngularGaussianKernel(Q(3.0, "degree")),
    max_neighbors=12,
    n_blocks=None,
)
_ADF_SHARP = ob.ADF(Q(0.45, "nm"), bins=30, max_neighbors=12, n_blocks=None)


def _cluster(seed):
    rng = np.random.default_rng(seed)
    pos = _CLUSTER_BOX / 2 + rng.uniform(-0.3, 0.3, (1, 12, 3))
    return pos, np.r_[np.zeros(6, int), np.ones(6, int)][rng.permutation(12)]


@given(st.integers(0, 2**31 - 1))
def test_rotation_and_permutation_invariance(seed):
    pos, species = _cluster(seed)
    base = np.asarray(_ADF_SMOOTH(_traj(pos, species, box=_CLUSTER_BOX)).p)
    rot = scipy.spatial.transform.Rotation.random(random_state=seed).as_matrix()
    centre = _CLUSTER_BOX / 2
    turned = (pos - centre) @ rot.T + centre
    np.testing.assert_allclose(
        np.asarray(_ADF_SMOOTH(_traj(turned, species, box=_CLUSTER_BOX)).p),
        base,
        atol=1e-10 * (1 + base.max()),
    )
    perm = np.random.default_rng(seed + 1).permutation(12)
    np.testing.assert_allclose(
        np.asarray(_ADF_SMOOTH(_traj(pos[:, perm], species[perm], box=_CLUSTER_BOX)).p),
        base,
        atol=1e-10 * (1 + base.max()),
    )


@given(st.integers(0, 2**31 - 1))
def test_histogram_integrates_to_one(seed):
    pos, species = _cluster(seed)
    res = _ADF_SHARP(_traj(pos, species, box=_CLUSTER_BOX))
    assert float(jnp.sum(res.p)) * np.pi / 30 == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.asarray(res.p) >= 0)


def test_bad_input():
    pos, species = _random(0)
    traj = _traj(pos, species)
    with pytest.raises(ValueError, match="exceeds half the shortest perpendicular width"):
        ob.ADF(Q(0.6, "nm"))(traj)
    with pytest.raises(ValueError, match="unknown species 'C'"):
        ob.ADF(Q(RC, "nm"), triple=("C", "A", "A"))(traj)
    with pytest.raises(TypeError, match="AngularGaussianKernel"):
        ob.ADF(Q(RC, "nm"), kernel=ob.GaussianKernel(Q(0.01, "nm")))
    with pytest.raises(TypeError, match="angle Quantity"):
        ob.AngularGaussianKernel(0.05)
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        ob.ADF(Q(RC, "nm"), bins=0)
    with pytest.raises(ValueError, match="triple must be None"):
        ob.ADF(Q(RC, "nm"), triple=("A", "A"))
    with pytest.raises(ob.UnitError):
        ob.ADF(Q(0.4, "ps"))
    with pytest.raises(ob.TrajectoryError, match="periodic box"):
        ob.ADF(Q(RC, "nm"))(traj.replace(box=None))
    with pytest.raises(Exception, match="raise max_neighbors"):
        ob.ADF(Q(RC, "nm"), max_neighbors=2)(traj)
