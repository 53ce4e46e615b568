r"""Hierarchical-clustering suppression of crowded niches (NE-SGD, Algorithm 2).

Zhang et al. (2020), *Neuroevolution-based SGD* (arXiv 2012.11184), Sec. II-D, Algorithm 2
and Eqs. (7)-(8): the merged parents and offspring are clustered agglomeratively into ``m``
clusters (``m`` = population size), and in every cluster with more than three members the
fitness of its worst member is scaled, :math:`E^* = E_{\min} \times 10^{-2}`, before the
environmental selection. Only the selection's copy of the fitness changes; the stored
evaluations never do.

The functions are pure and work for any discrete genome (any ``(N, n)`` tensor of codes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "LINKAGES",
    "METRICS",
    "SUPPRESSION_MODES",
    "SuppressionResult",
    "agglomerative_clusters",
    "code_distances",
    "suppress",
]

LINKAGES = ("average", "single", "complete")
METRICS = ("hamming", "euclidean")
SUPPRESSION_MODES = ("auto", "scale", "last")

# Elements of the (rows, N, n) temporary of one chunk of the distance computation.
_CHUNK_ELEMENTS = 1 << 22


class SuppressionResult(NamedTuple):
    """The outcome of :func:`suppress`.

    Attributes:
        utilities: ``(N,)`` suppressed copy of the utilities (the input is never modified);
            the input's floating dtype, float64 for integer input.
        clusters: ``(N,)`` int64 cluster label of every row, ``0 .. n_clusters - 1``,
            numbered in the order of each cluster's lowest row index.
        suppressed: ``(N,)`` bool mask of the suppressed rows (at most one per cluster).
    """

    utilities: torch.Tensor
    clusters: torch.Tensor
    suppressed: torch.Tensor


def _check_codes(codes: torch.Tensor) -> None:
    if not isinstance(codes, torch.Tensor):
        raise TypeError(f"`codes` must be a torch.Tensor, got {type(codes).__name__}.")
    if codes.ndim != 2:
        raise ValueError(
            f"`codes` must be 2-D (N individuals, n genes), got shape {tuple(codes.shape)}."
        )
    if codes.is_floating_point() and not bool(torch.isfinite(codes).all()):
        raise ValueError("`codes` contains NaN or infinite values.")


@torch.no_grad()
def code_distances(codes: torch.Tensor, *, metric: str = "hamming") -> torch.Tensor:
    r"""Pairwise distances between the rows of ``codes``, an ``(N, N)`` float64 tensor.

    * ``"hamming"``: the number of genes in which two codes differ (the text of Sec. II-D).
    * ``"euclidean"``: :math:`\sqrt{\sum_\ell (x_{i\ell} - x_{j\ell})^2}` (Eq. 7), which for
      0/1 codes is :math:`\sqrt{\text{Hamming}}`.

    Both are computed exactly (elementwise, in float64) in row chunks, so equal distances
    compare equal and no Gram-matrix rounding creates spurious ties or breaks real ones.
    """
    _check_codes(codes)
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {METRICS}, got {metric!r}.")
    n_rows, n_genes = codes.shape
    out = torch.empty((n_rows, n_rows), dtype=torch.float64, device=codes.device)
    x = codes if metric == "hamming" else codes.to(torch.float64)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_rows * n_genes))
    for start in range(0, n_rows, step):
        block = x[start : start + step, None, :]
        if metric == "hamming":
            out[start : start + step] = (block != x[None]).sum(dim=-1).to(torch.float64)
        else:
            out[start : start + step] = (block - x[None]).square().sum(dim=-1).sqrt()
    return out


def agglomerative_clusters(
    codes: torch.Tensor,
    n_clusters: int,
    *,
    linkage: str = "average",
    metric: str = "hamming",
) -> torch.Tensor:
    r"""Agglomerative (bottom-up) clustering of the rows of ``codes`` into exactly
    ``n_clusters`` clusters (Zhang et al. 2020, Algorithm 2, with its loop guard read as
    ``while q > m``).

    Every row starts as its own cluster; the two nearest clusters are merged until
    ``n_clusters`` remain. The cluster distance is the ``linkage``:

    * ``"single"``: the smallest distance between members;
    * ``"complete"``: the largest;
    * ``"average"`` (UPGMA): the mean over all member pairs, kept as the exact sum of the
      pairwise distances divided by the product of the sizes (for Hamming distances the sums
      are exact integers, so equal averages compare equal).

    **Ties** are broken deterministically: among the closest pairs, the one whose lowest
    member indices are smallest (lexicographically) merges first, and the merged cluster is
    represented by its lowest row index. Unlike ``scipy.cluster.hierarchy.fcluster(...,
    criterion="maxclust")``, which cuts the dendrogram at a height and returns *fewer*
    clusters than asked when merge heights tie (e.g. four identical codes), this loop stops
    after exactly ``N - n_clusters`` merges, so the result always has ``n_clusters``
    clusters. On data without ties the partition equals scipy's.

    Args:
        codes: ``(N, n)`` codes (any numeric or bool dtype).
        n_clusters: Number of clusters, ``1 <= n_clusters <= N``.
        linkage: ``"average"``, ``"single"`` or ``"complete"``.
        metric: ``"hamming"`` or ``"euclidean"`` (see :func:`code_distances`).

    Returns:
        ``(N,)`` int64 labels in ``0 .. n_clusters - 1`` on ``codes``' device, numbered in
        the order of each cluster's lowest row index.
    """
    _check_codes(codes)
    if linkage not in LINKAGES:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    n_rows = int(codes.shape[0])
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int | np.integer):
        raise TypeError(f"`n_clusters` must be an int, got {n_clusters!r}.")
    if not 1 <= n_clusters <= n_rows:
        raise ValueError(
            f"`n_clusters` must be between 1 and the number of codes ({n_rows}), "
            f"got {n_clusters}."
        )
    dist = code_distances(codes, metric=metric).cpu().numpy()
    # The merge loop runs on the CPU in numpy: N is a merged population (tens of rows), and
    # each merge is a handful of O(N) row updates.
    link = dist.copy()  # single/complete: cluster distances; average: sums of distances
    size = np.ones(n_rows)
    active = np.ones(n_rows, dtype=bool)
    rep = np.arange(n_rows)  # representative (lowest row index) of each row's cluster
    upper = np.triu(np.ones((n_rows, n_rows), dtype=bool), k=1)
    for _ in range(n_rows - int(n_clusters)):
        cluster_dist = link / np.outer(size, size) if linkage == "average" else link
        valid = upper & active[:, None] & active[None, :]
        # argmin returns the first minimum in row-major order: the lowest (i, j), i < j
        flat = int(np.argmin(np.where(valid, cluster_dist, np.inf)))
        i, j = divmod(flat, n_rows)
        if linkage == "single":
            merged = np.minimum(link[i], link[j])
        elif linkage == "complete":
            merged = np.maximum(link[i], link[j])
        else:
            merged = link[i] + link[j]
        link[i, :] = merged
        link[:, i] = merged
        size[i] += size[j]
        active[j] = False
        rep[rep == j] = i
    _, labels = np.unique(rep, return_inverse=True)
    return torch.as_tensor(labels.reshape(-1), dtype=torch.int64, device=codes.device)


def suppress(
    codes: torch.Tensor,
    utilities: torch.Tensor,
    *,
    n_clusters: int,
    linkage: str = "average",
    metric: str = "hamming",
    min_size: int = 3,
    factor: float = 1e-2,
    higher_is_better: bool = True,
    mode: str = "auto",
) -> SuppressionResult:
    r"""Hierarchical-clustering suppression (Zhang et al. 2020, Algorithm 2, Eq. 8).

    The ``N`` codes are clustered into exactly ``n_clusters`` clusters by
    :func:`agglomerative_clusters`. In every cluster with **more than** ``min_size``
    members, the single member with the worst fitness (the lowest for
    ``higher_is_better``, the highest otherwise; NaN counts as the worst; ties go to the
    lowest row index) is suppressed. Clusters of at most ``min_size`` members are untouched.

    How a suppressed utility changes (``mode``):

    * ``"scale"``, the paper's Eq. (8): :math:`E^* = E \times` ``factor`` for
      ``higher_is_better`` and :math:`E / \text{factor}` (its mirror) for a minimised
      fitness. It is only meaningful for a non-negative fitness: on a negative value it
      would move the fitness toward 0, i.e. *improve* it, so ``"scale"`` raises a
      ``ValueError`` when a suppressed utility is negative.
    * ``"last"``, rank last: every suppressed utility is pushed beyond the worst unsuppressed
      one, :math:`E^* = E - \delta` (``higher_is_better``) or :math:`E + \delta`, with
      :math:`\delta = (\max - \min) + \max(|\max|, |\min|, 1)` over the finite utilities.
      The suppressed ones then rank below every other individual (keeping their own order),
      and each is strictly worse than before. This is the reading of spec A.7 row 16 for
      a minimised fitness ("the suppressed one ranks last") and for negative fitness: a
      plain scaling of a loss may leave it ahead of a worse unsuppressed one, and
      scaling a negative fitness would improve it.
    * ``"auto"`` (default): ``"scale"`` when ``higher_is_better`` and every finite utility
      is >= 0 (the paper's case: accuracies), else ``"last"``.

    In every mode a suppressed individual never becomes better than it was. NaN stays NaN.

    Args:
        codes: ``(N, n)`` codes of the merged population (parents and offspring).
        utilities: ``(N,)`` fitness of those codes in the problem's own sense (not modified).
        n_clusters: Number of clusters ``q`` (the paper: the population size ``m``).
        linkage: ``"average"`` (default), ``"single"`` or ``"complete"``.
        metric: ``"hamming"`` (default, the text) or ``"euclidean"`` (Eq. 7).
        min_size: A cluster with more than ``min_size`` members is crowded (paper: 3).
        factor: The suppression factor of Eq. (8), in ``(0, 1)`` (paper: 1e-2).
        higher_is_better: ``True`` for a maximised fitness (``objective_sense="max"``).
        mode: ``"auto"``, ``"scale"`` or ``"last"`` (see above).

    Returns:
        A :class:`SuppressionResult` (suppressed copy, cluster labels, suppressed mask).
    """
    _check_codes(codes)
    if not isinstance(utilities, torch.Tensor):
        raise TypeError(f"`utilities` must be a torch.Tensor, got {type(utilities).__name__}.")
    if utilities.ndim != 1 or utilities.shape[0] != codes.shape[0]:
        raise ValueError(
            f"`utilities` must be 1-D with one entry per code ({codes.shape[0]}), got shape "
            f"{tuple(utilities.shape)}."
        )
    if linkage not in LINKAGES:
        raise ValueError(f"`linkage` must be one of {LINKAGES}, got {linkage!r}.")
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {METRICS}, got {metric!r}.")
    if mode not in SUPPRESSION_MODES:
        raise ValueError(f"`mode` must be one of {SUPPRESSION_MODES}, got {mode!r}.")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"`min_size` must be an int >= 0, got {min_size!r}.")
    if not 0.0 < float(factor) < 1.0:
        raise ValueError(f"`factor` must be in the open interval (0, 1), got {factor}.")

    labels = agglomerative_clusters(codes, n_clusters, linkage=linkage, metric=metric)
    device = utilities.device
    labels = labels.to(device)
    out_dtype = utilities.dtype if utilities.is_floating_point() else torch.float64
    u = utilities.detach().to(torch.float64)
    n_rows = int(u.shape[0])

    # badness: larger is worse; NaN is the worst of all
    badness = -u if higher_is_better else u.clone()
    badness = torch.nan_to_num(badness, nan=float("inf"))
    worst = torch.full((n_clusters,), -float("inf"), dtype=torch.float64, device=device)
    worst = worst.scatter_reduce(0, labels, badness, reduce="amax", include_self=True)
    index = torch.arange(n_rows, device=device)
    candidate = torch.where(badness == worst[labels], index, n_rows)
    first = torch.full((n_clusters,), n_rows, dtype=torch.int64, device=device)
    first = first.scatter_reduce(0, labels, candidate, reduce="amin", include_self=True)
    counts = torch.bincount(labels, minlength=n_clusters)
    rows = first[counts > min_size]
    suppressed = torch.zeros(n_rows, dtype=torch.bool, device=device)
    suppressed[rows] = True

    finite = u[torch.isfinite(u)]
    if mode == "auto":
        mode = "scale" if higher_is_better and bool((finite >= 0).all()) else "last"
    new = u.clone()
    picked = u[rows]
    if mode == "scale":
        if bool((picked < 0).any()):
            raise ValueError(
                "mode='scale' would improve a negative utility (scaling moves it toward 0); "
                "use mode='last' (or 'auto') for fitness that can be negative."
            )
        new[rows] = picked * float(factor) if higher_is_better else picked / float(factor)
    elif rows.numel() > 0:
        if finite.numel() > 0:
            hi, lo = finite.max(), finite.min()
            delta = (hi - lo) + torch.stack([hi.abs(), lo.abs(), hi.new_ones(())]).max()
        else:
            delta = u.new_ones(())
        new[rows] = picked - delta if higher_is_better else picked + delta
    return SuppressionResult(new.to(out_dtype), labels, suppressed)
