"""Vectorised sampling of mutually distinct random indices for DE mutation."""

from __future__ import annotations

import torch

__all__ = ["sample_distinct"]


def sample_distinct(
    num_rows: int,
    pool_size: int,
    k: int,
    *,
    exclude: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Draw, for each row, ``k`` distinct indices uniformly from a pool minus exclusions.

    Row ``i`` receives ``k`` mutually distinct integers drawn uniformly without replacement
    from :math:`\{0, \dots, \text{pool\_size}-1\} \setminus E_i`, where :math:`E_i` is the
    set of values in ``exclude[i]`` (duplicates allowed; values outside the pool are ignored).

    The draw is exact and loop-free over rows. With a large pool, column ``j`` is drawn
    uniformly and redrawn where it collides with an exclusion or an earlier column
    (sequential sampling without replacement). With a small pool, the ``j``-th index is an
    integer :math:`u` uniform in :math:`[0, \text{pool\_size} - |E_i| - j)`, mapped to the
    :math:`u`-th element of the complement by stepping over the excluded values (the earlier
    picks included) in ascending order. Python loops run only over ``k`` and the number of
    exclusions (plus rare redraws), never over rows.

    Args:
        num_rows: Number of rows (individuals) to sample for.
        pool_size: Size of the pool ``{0, ..., pool_size - 1}``.
        k: Number of distinct indices per row.
        exclude: Optional ``(num_rows, e)`` integer tensor of values each row must avoid
            (e.g. the row's own index ``i``, or an earlier pick).
        generator: Random generator (the problem's, so that a seed reproduces a run).
        device: Device of the result.

    Returns:
        A ``(num_rows, k)`` ``int64`` tensor.

    Raises:
        ValueError: If some row has fewer than ``k`` admissible values.
    """
    if k < 0 or num_rows < 0:
        raise ValueError(f"`k` and `num_rows` must be non-negative, got k={k}, rows={num_rows}.")
    if exclude is None:
        exclude = torch.empty((num_rows, 0), dtype=torch.int64, device=device)
    else:
        exclude = exclude.to(device=device, dtype=torch.int64)
        if exclude.ndim == 1:
            exclude = exclude.unsqueeze(1)
    device = exclude.device
    e = exclude.shape[1]
    # Every row has at least pool_size - e admissible values, so when that many are plenty
    # the (host-syncing) count of the admissible values below is not needed.
    if pool_size - e >= 4 * (k + 1):
        # Rejection compares draws with the exclusions for equality only: out-of-pool and
        # duplicate exclusions change nothing, so they need no clean-up.
        return _sequential_rejection(num_rows, pool_size, k, exclude, generator, device)
    # De-duplicate exclusions per row and push out-of-pool values to a sentinel that never
    # triggers a step (the sentinel is >= any admissible value).
    sentinel = pool_size + k + e + 1
    excl = torch.where((exclude >= 0) & (exclude < pool_size), exclude, sentinel)
    excl, _ = torch.sort(excl, dim=1)
    if excl.shape[1] > 1:
        dup = torch.zeros_like(excl, dtype=torch.bool)
        dup[:, 1:] = excl[:, 1:] == excl[:, :-1]
        excl = torch.where(dup, sentinel, excl)
        excl, _ = torch.sort(excl, dim=1)
    num_excluded = (excl < sentinel).sum(dim=1)
    available = pool_size - num_excluded
    if num_rows > 0 and int(available.min()) < k:
        raise ValueError(
            f"Cannot draw {k} distinct indices from a pool of {pool_size} minus "
            f"{int(num_excluded.max())} excluded values; increase the population size."
        )
    if pool_size - excl.shape[1] >= 4 * (k + 1):
        return _sequential_rejection(num_rows, pool_size, k, excl, generator, device)
    return _stepping(num_rows, k, excl, available, generator, device)


def _sequential_rejection(num_rows, pool_size, k, excl, generator, device):
    """Column j is drawn uniformly from the pool and redrawn, for the rows where it hits an
    exclusion or an earlier column, until it hits none: sequential sampling without
    replacement, exact. Used when the pool is large next to ``k`` + exclusions, so redraws are
    rare (the expected number of passes per column is below 4/3)."""
    e = excl.shape[1]
    # forbidden values of each row: the exclusions, then the columns drawn so far
    forbidden = torch.empty((num_rows, e + k), dtype=torch.int64, device=device)
    forbidden[:, :e] = excl
    for j in range(k):
        col = torch.randint(0, pool_size, (num_rows,), generator=generator, device=device)
        seen = forbidden[:, : e + j]
        if seen.shape[1]:
            bad = (col[:, None] == seen).any(dim=1)
            while bool(bad.any()):
                redraw = torch.randint(
                    0, pool_size, (num_rows,), generator=generator, device=device
                )
                col = torch.where(bad, redraw, col)
                bad = (col[:, None] == seen).any(dim=1)
        forbidden[:, e + j] = col
    return forbidden[:, e:].contiguous()


def _stepping(num_rows, k, excl, available, generator, device):
    """Draw u uniform in [0, available - j) and step over the sorted excluded values."""
    out = torch.empty((num_rows, k), dtype=torch.int64, device=device)
    taken = excl
    for j in range(k):
        u = torch.rand(num_rows, generator=generator, device=device, dtype=torch.float64)
        idx = (u * (available - j).to(torch.float64)).to(torch.int64)
        # guard the measure-zero case u * m rounding up to m
        idx = torch.minimum(idx, available - j - 1)
        for c in range(taken.shape[1]):
            idx = idx + (idx >= taken[:, c]).to(torch.int64)
        out[:, j] = idx
        if j + 1 < k:
            taken, _ = torch.sort(torch.cat([taken, idx.unsqueeze(1)], dim=1), dim=1)
    return out
