"""The p-best pick of current-to-pbest/1: its rank law and the engine's draw from it."""

from __future__ import annotations

import pytest
import torch
from evotorch import Problem

from neuro_de.algorithms import SHADE
from neuro_de.operators import p_best_rank_law, sample_p_best


def test_rank_law_by_hand():
    # a point range: always the best 2 of 10, each half the time
    assert p_best_rank_law(10, 0.2, 0.2) == pytest.approx([0.5, 0.5])
    # N = 10, p ~ U[0.1, 0.3]: round(10 p) is 1 on [0.1, 0.15), 2 on [0.15, 0.25), 3 after
    mass = {1: 0.25, 2: 0.5, 3: 0.25}
    expected = [sum(m / c for c, m in mass.items() if c > r) for r in range(3)]
    assert p_best_rank_law(10, 0.1, 0.3) == pytest.approx(expected)
    assert sum(p_best_rank_law(100, 0.02, 0.2)) == pytest.approx(1.0)


@pytest.mark.parametrize("n,lo,hi", [(100, 0.02, 0.2), (7, 2 / 7, 2 / 7), (30, 0.05, 0.5)])
def test_rank_law_equals_the_two_stage_draw(n, lo, hi):
    # the definition: p ~ U[lo, hi], c = max(1, round(p N)), rank uniform in 0 .. c - 1
    g = torch.Generator().manual_seed(0)
    m = 400_000
    p = lo + (hi - lo) * torch.rand(m, generator=g, dtype=torch.float64)
    count = (p * n).round().clamp(min=1)
    rank = (torch.rand(m, generator=g, dtype=torch.float64) * count).long()
    freq = torch.bincount(rank).double() / m
    law = torch.tensor(p_best_rank_law(n, lo, hi), dtype=torch.float64)
    assert freq.shape == law.shape
    assert float((freq - law).abs().max()) < 5 * float(law.max() / m) ** 0.5


def test_picks_follow_the_law_on_the_sorted_population():
    """sample_p_best (the picks SHADE's generation uses) against the rank law, on a
    population in random order."""
    n = 50
    problem = Problem("min", lambda x: x.pow(2).sum(-1), solution_length=3,
                      initial_bounds=(-1, 1), vectorized=True, seed=0)
    searcher = SHADE(problem, popsize=n)
    utility = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    order = torch.argsort(utility)
    rank_of = torch.empty(n, dtype=torch.int64)
    rank_of[order] = torch.arange(n)
    g = torch.Generator().manual_seed(2)
    picks = torch.cat([sample_p_best(utility, searcher._p_best_cdf, generator=g)
                       for _ in range(4000)])
    freq = torch.bincount(rank_of[picks], minlength=n).double() / picks.numel()
    law = torch.zeros(n, dtype=torch.float64)
    raw = p_best_rank_law(n, 2.0 / n, 0.2)
    law[: len(raw)] = torch.tensor(raw, dtype=torch.float64)
    assert float(freq[len(raw):].sum()) == 0.0  # never outside the best p_max N
    assert float((freq - law).abs().max()) < 5 * float(law.max() / picks.numel()) ** 0.5
