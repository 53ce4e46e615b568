"""Hierarchical-clustering suppression of NE-SGD (Zhang et al. 2020, Algorithm 2; spec A.5,
A.12.5): hand-computed cases, exact cluster counts, metrics, senses and bad input."""

import itertools

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster
from scipy.cluster.hierarchy import linkage as scipy_linkage
from scipy.spatial.distance import pdist

from neuro_de.operators.suppression import (
    SuppressionResult,
    agglomerative_clusters,
    code_distances,
    suppress,
)

A = [1, 1, 1, 1, 0, 0, 0, 0]
# Ten codes: rows 0-3 are identical (distance 0), rows 4 and 5 differ in one bit, every
# other pair is at Hamming distance >= 4. Clustering into 6 merges the four identical
# codes (three merges at 0) and rows 4-5 (one merge at 1): 10 - 4 = 6 clusters, whatever
# the linkage, and only the cluster {0, 1, 2, 3} has more than 3 members.
CODES = torch.tensor(
    [A, A, A, A,
     [0, 0, 0, 0, 1, 1, 1, 1],
     [0, 0, 0, 0, 1, 1, 1, 0],
     [1, 0, 1, 0, 1, 0, 1, 0],
     [0, 1, 0, 1, 0, 1, 0, 1],
     [1, 1, 0, 0, 1, 1, 0, 0],
     [0, 0, 1, 1, 0, 0, 1, 1]]
)
ACC = torch.tensor([0.90, 0.80, 0.85, 0.95, 0.50, 0.60, 0.70, 0.40, 0.30, 0.20])
EXPECTED_LABELS = [0, 0, 0, 0, 1, 1, 2, 3, 4, 5]


def same_partition(a: torch.Tensor, b) -> bool:
    a = torch.as_tensor(a).reshape(-1)
    b = torch.as_tensor(np.asarray(b)).reshape(-1)
    return bool(torch.equal(a[:, None] == a[None], b[:, None] == b[None]))


@pytest.mark.parametrize("linkage", ["average", "single", "complete"])
@pytest.mark.parametrize("metric", ["hamming", "euclidean"])
def test_hand_computed_case(linkage, metric):
    acc = ACC.clone()
    result = suppress(CODES, acc, n_clusters=6, linkage=linkage, metric=metric)
    assert isinstance(result, SuppressionResult)
    assert result.clusters.tolist() == EXPECTED_LABELS
    assert int(result.clusters.unique().numel()) == 6
    # only the lowest-fitness member of the four identical codes (row 1: 0.80) is scaled
    assert result.suppressed.tolist() == [i == 1 for i in range(10)]
    expected = ACC.clone()
    expected[1] = 0.80 * 1e-2
    torch.testing.assert_close(result.utilities, expected)
    # the input is never modified, and the result is a new tensor
    assert torch.equal(acc, ACC)
    assert result.utilities.data_ptr() != acc.data_ptr()


def test_clusters_of_at_most_min_size_are_untouched():
    codes = CODES[1:]  # three identical codes left: no crowded cluster
    result = suppress(codes, ACC[1:], n_clusters=5)
    assert not bool(result.suppressed.any())
    assert torch.equal(result.utilities, ACC[1:])
    # with min_size=1 the pair {rows 4, 5} (the merge at distance 1) is crowded as well
    result = suppress(CODES, ACC, n_clusters=6, min_size=1)
    assert result.suppressed.nonzero().squeeze(1).tolist() == [1, 4]
    # factor is a parameter
    result = suppress(CODES, ACC, n_clusters=6, factor=0.5)
    assert float(result.utilities[1]) == pytest.approx(0.40)


def test_ties_for_the_minimum_suppress_the_first_only():
    acc = torch.tensor([0.8, 0.8, 0.9, 0.8, 0.5, 0.6, 0.7, 0.4, 0.3, 0.2])
    result = suppress(CODES, acc, n_clusters=6)
    assert result.suppressed.nonzero().squeeze(1).tolist() == [0]


def test_exactly_n_clusters_even_with_ties():
    # all 16 codes of length 4: every distance ties with many others; scipy's
    # fcluster(maxclust) returns fewer clusters than asked on such data
    codes = torch.tensor(list(itertools.product([0, 1], repeat=4)))
    codes = torch.cat([codes, codes[:4]])  # and some duplicates
    n = codes.shape[0]
    scipy_short = 0
    for linkage in ("average", "single", "complete"):
        z = scipy_linkage(pdist(codes.numpy(), "hamming"), linkage)
        for k in range(1, n + 1):
            for metric in ("hamming", "euclidean"):
                labels = agglomerative_clusters(codes, k, linkage=linkage, metric=metric)
                assert sorted(labels.unique().tolist()) == list(range(k))
            scipy_short += int(len(np.unique(fcluster(z, t=k, criterion="maxclust"))) < k)
    assert scipy_short > 0  # the reason for the own loop


@pytest.mark.parametrize("linkage", ["single", "complete"])
def test_hamming_and_euclidean_agree_for_single_and_complete(linkage):
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        codes = torch.randint(0, 2, (14, 6), generator=gen)
        utilities = torch.rand(14, generator=gen)
        for k in (2, 4, 7, 10):
            h = suppress(codes, utilities, n_clusters=k, linkage=linkage, metric="hamming")
            e = suppress(codes, utilities, n_clusters=k, linkage=linkage, metric="euclidean")
            assert torch.equal(h.clusters, e.clusters)
            assert torch.equal(h.suppressed, e.suppressed)
            assert torch.equal(h.utilities, e.utilities)


def test_distances():
    codes = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0]])
    ham = code_distances(codes, metric="hamming")
    assert ham.dtype == torch.float64
    assert ham.tolist() == [[0, 2, 0], [2, 0, 2], [0, 2, 0]]
    torch.testing.assert_close(code_distances(codes, metric="euclidean"), ham.sqrt())


@pytest.mark.parametrize("linkage", ["average", "single", "complete"])
def test_partition_matches_scipy_without_ties(linkage):
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        codes = torch.randn(12, 3, generator=gen, dtype=torch.float64)
        z = scipy_linkage(codes.numpy(), linkage, metric="euclidean")
        for k in (1, 3, 5, 8, 12):
            ours = agglomerative_clusters(codes, k, linkage=linkage, metric="euclidean")
            assert same_partition(ours, fcluster(z, t=k, criterion="maxclust"))


def test_min_sense_ranks_the_suppressed_one_last():
    # losses: the crowded cluster's worst (row 2, 0.04) divided by 1e-2 would be 4.0,
    # still ahead of row 9's 5.0; "rank last" puts it behind every other individual
    loss = torch.tensor([0.01, 0.02, 0.04, 0.03, 1.0, 2.0, 3.0, 4.0, 0.5, 5.0])
    result = suppress(CODES, loss, n_clusters=6, higher_is_better=False)
    assert result.suppressed.nonzero().squeeze(1).tolist() == [2]
    assert int(result.utilities.argmax()) == 2
    assert float(result.utilities[2]) > float(loss.max())
    unchanged = ~result.suppressed
    assert torch.equal(result.utilities[unchanged], loss[unchanged])
    # the literal mirror of Eq. (8) is available and never improves a loss
    scaled = suppress(CODES, loss, n_clusters=6, higher_is_better=False, mode="scale")
    assert float(scaled.utilities[2]) == pytest.approx(4.0)


def test_negative_utilities_are_never_improved():
    utilities = ACC - 1.0  # all negative, maximised: x 1e-2 would move them up, toward 0
    result = suppress(CODES, utilities, n_clusters=6)
    assert bool((result.utilities <= utilities).all())
    i = int(result.suppressed.nonzero())
    assert i == 1
    assert float(result.utilities[i]) < float(utilities.min())  # ranks last
    with pytest.raises(ValueError, match="improve a negative utility"):
        suppress(CODES, utilities, n_clusters=6, mode="scale")
    # mixed signs under max: also "rank last"
    mixed = ACC - 0.5
    result = suppress(CODES, mixed, n_clusters=6)
    assert bool((result.utilities <= mixed).all())
    assert int(result.utilities.argmin()) == 1


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_random_cases_never_improve_anyone(higher_is_better):
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        codes = torch.randint(0, 2, (11, 5), generator=gen)
        u = torch.randn(11, generator=gen, dtype=torch.float64) * 10
        r = suppress(codes, u, n_clusters=5, higher_is_better=higher_is_better)
        worse = (r.utilities <= u) if higher_is_better else (r.utilities >= u)
        assert bool(worse.all())
        assert torch.equal(r.utilities[~r.suppressed], u[~r.suppressed])
        counts = torch.bincount(r.clusters, minlength=5)
        assert int(r.suppressed.sum()) == int((counts > 3).sum())
        if r.suppressed.any():  # "rank last": behind every unsuppressed individual
            s, o = r.utilities[r.suppressed], r.utilities[~r.suppressed]
            assert bool(s.max() < o.min()) if higher_is_better else bool(s.min() > o.max())


def test_nan_counts_as_worst_and_dtypes():
    acc = ACC.clone()
    acc[3] = float("nan")
    result = suppress(CODES, acc, n_clusters=6)
    assert result.suppressed.nonzero().squeeze(1).tolist() == [3]
    assert bool(result.utilities[3].isnan())
    assert torch.equal(result.utilities[:3], ACC[:3])
    assert suppress(CODES, ACC, n_clusters=6).utilities.dtype == torch.float32
    ints = suppress(CODES, torch.arange(10), n_clusters=6)
    assert ints.utilities.dtype == torch.float64
    assert ints.clusters.dtype == torch.int64 and ints.suppressed.dtype == torch.bool
    # bool codes work as well
    assert suppress(CODES.bool(), ACC, n_clusters=6).clusters.tolist() == EXPECTED_LABELS


def test_bad_input():
    with pytest.raises(ValueError, match="n_clusters"):
        suppress(CODES, ACC, n_clusters=0)
    with pytest.raises(ValueError, match="n_clusters"):
        suppress(CODES, ACC, n_clusters=11)
    with pytest.raises(TypeError, match="n_clusters"):
        suppress(CODES, ACC, n_clusters=2.5)
    with pytest.raises(ValueError, match="2-D"):
        suppress(CODES[0], ACC[:1], n_clusters=1)
    with pytest.raises(ValueError, match="one entry per code"):
        suppress(CODES, ACC[:9], n_clusters=6)
    with pytest.raises(ValueError, match="one entry per code"):
        suppress(CODES, ACC[:, None], n_clusters=6)
    with pytest.raises(ValueError, match="linkage"):
        suppress(CODES, ACC, n_clusters=6, linkage="ward")
    with pytest.raises(ValueError, match="metric"):
        suppress(CODES, ACC, n_clusters=6, metric="cosine")
    for factor in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="factor"):
            suppress(CODES, ACC, n_clusters=6, factor=factor)
    with pytest.raises(ValueError, match="min_size"):
        suppress(CODES, ACC, n_clusters=6, min_size=-1)
    with pytest.raises(ValueError, match="mode"):
        suppress(CODES, ACC, n_clusters=6, mode="divide")
    with pytest.raises(TypeError, match="codes"):
        suppress(CODES.tolist(), ACC, n_clusters=6)
    with pytest.raises(ValueError, match="NaN"):
        suppress(torch.tensor([[0.0, float("nan")], [1.0, 0.0]]), ACC[:2], n_clusters=1)
