"""Vectorised sampling of mutually distinct random indices for DE mutation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["sample_distinct", "sample_distinct_from_rows"]


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


def sample_distinct_from_rows(
    pool_size: int | Sequence[int],
    k: int,
    *,
    num_rows: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""DE's index draw: for every row :math:`i = 0, \dots, n-1`, ``k`` mutually distinct
    indices, all different from :math:`i`; column ``j`` is uniform over
    :math:`\{0, \dots, P_j - 1\}` minus :math:`i` and the earlier columns (``pool_size``
    gives :math:`P_j`, one size for all columns or one per column, non-decreasing, each
    :math:`\ge n`; e.g. population columns, then one from population ∪ archive).

    A partial Fisher-Yates shuffle of every row at once, free of host syncs: row :math:`i`
    of a ``(n, P_{max})`` table holds :math:`i` at position 0 and the other values after
    it, in order. Column ``j`` picks the entry at a position :math:`p_j` uniform in
    :math:`[j + 1, P_j)`, and the entry at position :math:`j + 1` moves to :math:`p_j`, so
    positions :math:`[j + 2, P_{j+1})` hold exactly the values still admissible for the
    next column (the pools grow, so the values at or past :math:`P_j` never moved). That is
    sequential sampling without replacement, exactly; it costs one gather and one scatter
    of ``n`` entries per column, plus one draw of all positions
    (:math:`p_j = j + 1 + (w \bmod (P_j - 1 - j))`, ``w`` a random 63-bit word, so the
    modulo bias is below :math:`P_j / 2^{63}`).

    Args:
        pool_size: :math:`P` or ``k`` non-decreasing sizes :math:`P_j`, each at least
            ``num_rows``.
        k: Indices per row.
        num_rows: :math:`n`.
        generator: Random generator.
        device: Device of the result.

    Returns:
        A ``(num_rows, k)`` ``int64`` tensor.
    """
    pools = (int(pool_size),) * k if isinstance(pool_size, int) else tuple(map(int, pool_size))
    dev = device if isinstance(device, torch.device) else torch.device(device or "cpu")
    base, widths, starts = _draw_constants(pools, k, int(num_rows), dev)
    if k == 0:
        return torch.empty((num_rows, 0), dtype=torch.int64, device=device)
    table = base.clone()
    positions = torch.empty((num_rows, k), dtype=torch.int64, device=device)
    positions.random_(generator=generator).remainder_(widths).add_(starts)
    # the (n, 1) columns of `positions` and table columns 1..k-1 as views, a few operations
    # whatever k is (the table's views read it as it is when they are used, after the
    # earlier scatters)
    at_columns = positions.t().unsqueeze(2).unbind(0)
    movers = table.narrow(1, 1, k - 1).t().unsqueeze(2).unbind(0) if k > 1 else ()
    picks = []
    for j, at in enumerate(at_columns):
        picks.append(table.gather(1, at))
        if j + 1 < k:  # the entry at position j + 1 moves into the slot just emptied
            table.scatter_(1, at, movers[j])
    return torch.cat(picks, dim=1)


_DRAW_CONSTANTS: dict[tuple, tuple] = {}
_BASE_TABLES: dict[tuple[int, torch.device], torch.Tensor] = {}


def _base_table(num_rows: int, width: int, device: torch.device) -> torch.Tensor:
    """The first ``width`` columns (a view) of an ``(n, W)`` table whose row ``i`` is
    ``i, 0, ..., i-1, i+1, ..., W - 1``; ``W`` at least doubles when a wider one is asked
    for, so that pools growing one by one (an archive filling up) make few tables."""
    key = (num_rows, device)
    table = _BASE_TABLES.get(key)
    if table is None or table.shape[1] < width:
        full = max(width, 2 * table.shape[1]) if table is not None else width
        with torch.inference_mode(False):  # an ordinary tensor, usable in and out of it
            pos = torch.arange(full, device=device).unsqueeze(0)
            rows = torch.arange(num_rows, device=device).unsqueeze(1)
            table = torch.where(pos == 0, rows, pos - (pos <= rows).to(torch.int64))
        _BASE_TABLES[key] = table
    return table[:, :width]


def _draw_constants(pools: tuple[int, ...], k: int, num_rows: int, device: torch.device):
    """For :func:`sample_distinct_from_rows`, checked once per ``(pools, k, num_rows,
    device)`` and cached: the ``(n, P_max)`` base table whose row ``i`` is
    ``i, 0, ..., i-1, i+1, ..., P_max - 1``, and per column ``j`` the number
    ``P_j - 1 - j`` of admissible positions and the first one, ``j + 1``."""
    key = (pools, k, num_rows, device)
    found = _DRAW_CONSTANTS.get(key)
    if found is not None:
        return found
    if len(pools) != k:
        raise ValueError(f"`pool_size` gives {len(pools)} pools for k={k} columns.")
    if any(p < num_rows or p - 1 - j < 1 for j, p in enumerate(pools)):
        raise ValueError(
            f"Cannot draw {k} indices distinct from each other and from the row among pools "
            f"{list(pools)} for {num_rows} rows; increase the population size."
        )
    if any(b < a for a, b in zip(pools, pools[1:], strict=False)):
        raise ValueError(
            f"`pool_size` must not decrease from one column to the next, got {list(pools)}; "
            f"put the columns drawn from the larger pools last."
        )
    width = pools[-1] if pools else num_rows
    base = _base_table(num_rows, width, device)
    with torch.inference_mode(False):  # ordinary tensors, usable in and out of it
        widths = torch.tensor([p - 1 - j for j, p in enumerate(pools)], device=device)
        starts = torch.arange(1, len(pools) + 1, device=device)
    found = _DRAW_CONSTANTS[key] = (base, widths, starts)
    if len(_DRAW_CONSTANTS) > 4096:  # pools change while an archive fills: bounded
        _DRAW_CONSTANTS.pop(next(iter(_DRAW_CONSTANTS)))
    return found
