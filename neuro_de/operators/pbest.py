r"""The p-best pick of current-to-pbest/1 (JADE, Zhang & Sanderson 2009; SHADE, Tanabe &
Fukunaga 2013).

For each individual, :math:`p_i \sim U[p_{min}, p_{max}]` (JADE: one fixed :math:`p`) and
a parent drawn uniformly from the best :math:`c_i = \max(1, \mathrm{round}(p_i N))`.
:math:`p_i` is used for nothing else, so only the rank of the pick matters, and its law is
fixed: :math:`P(rank = r) = \sum_{c > r} P(c_i = c) / c`. :func:`sample_p_best` draws the
rank from that law directly (one uniform and a search in its cumulative table), which is
the same distribution as drawing :math:`p_i` and then the pick.
"""

from __future__ import annotations

import itertools
import math

import torch

__all__ = ["p_best_rank_cdf", "p_best_rank_law", "sample_p_best"]


def p_best_rank_law(popsize: int, p_min: float, p_max: float) -> list[float]:
    r""":math:`P(rank = r)`, :math:`r = 0, 1, \dots`, of a p-best pick: :math:`p \sim
    U[p_{min}, p_{max}]`, :math:`c = \max(1, \mathrm{round}(p N))`, then a rank uniform in
    :math:`0 .. c - 1`, so :math:`P(rank = r) = \sum_{c > r} P(c) / c`, with :math:`P(c)`
    the length of :math:`\{p \in [p_{min}, p_{max}] : c(p) = c\}` over
    :math:`p_{max} - p_{min}` (all mass on one count when the range is a point)."""
    n = int(popsize)

    def count(p: float) -> int:
        return max(1, int(math.floor(p * n + 0.5)))

    c_max = count(p_max)
    mass = [0.0] * (c_max + 1)  # mass[c] = P(count = c)
    if p_max <= p_min:
        mass[count(p_min)] = 1.0
    else:
        for c in range(count(p_min), c_max + 1):
            low = -math.inf if c == 1 else (c - 0.5) / n  # count 1 also takes round(pN) = 0
            high = (c + 0.5) / n
            mass[c] = max(0.0, min(high, p_max) - max(low, p_min)) / (p_max - p_min)
    law, tail = [0.0] * c_max, 0.0
    for r in range(c_max - 1, -1, -1):
        tail += mass[r + 1] / (r + 1)
        law[r] = tail
    return law


def p_best_rank_cdf(popsize: int, p_min: float, p_max: float) -> list[float]:
    """The cumulative :func:`p_best_rank_law`, its last entry +inf, so that
    ``searchsorted(cdf, u, right=True)`` maps ``u ~ U[0, 1)`` to a rank that is always in
    range (rounding can leave the true total a hair below 1)."""
    cdf = list(itertools.accumulate(p_best_rank_law(popsize, p_min, p_max)))
    cdf[-1] = math.inf
    return cdf


def sample_p_best(
    utility: torch.Tensor, cdf: torch.Tensor, *, generator=None, n: int | None = None
) -> torch.Tensor:
    """``n`` (default ``len(utility)``) p-best picks: rows of the parents, the parent of rank
    ``searchsorted(cdf, u, right=True)`` in the order of ``utility`` (lowest first, ties
    by row), ``cdf`` from :func:`p_best_rank_cdf` as a float64 tensor."""
    n = utility.shape[0] if n is None else n
    order = torch.argsort(utility, stable=True)
    u = torch.rand(n, generator=generator, device=utility.device, dtype=torch.float64)
    ranks = torch.searchsorted(cdf.to(utility.device), u, right=True)
    return order[ranks.clamp_(max=cdf.shape[0] - 1)]
