"""The compiled host kernels of the bookkeeping, checked by hand, against SciPy and torch,
and by the laws of their draws; and the engine's host and torch paths against each other."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from evotorch import Problem
from scipy.special import ndtri as scipy_ndtri

import neuro_de.operators.crossover as cx
from neuro_de.algorithms import DE, SHADE, SaDE, SAShadeTriEnsin
from neuro_de.host import UniformBlock, as_host, host_rows_view
from neuro_de.host.kernels import (
    archive_plan,
    copy_rows,
    distinct_columns,
    draw_normal_clipped,
    draw_truncated,
    midpoint_crossover,
    ndtri,
    p_best_picks,
    selection,
    shuffle_in_place,
    strategy_draw,
    utility,
)


def test_ndtri_matches_scipy_over_the_whole_range():
    p = np.concatenate([
        np.logspace(-300, -1, 400), np.linspace(0.01, 0.99, 400), 1 - np.logspace(-16, -1, 200),
    ])
    ours = np.array([ndtri(v) for v in p])
    ref = scipy_ndtri(p)
    assert np.allclose(ours, ref, rtol=1e-12, atol=0)
    assert ndtri(0.0) == -math.inf and ndtri(1.0) == math.inf and ndtri(0.5) == 0.0


def test_normal_clipped_and_truncated_draws_by_hand():
    u = np.array([0.5, 0.975, 0.0, 0.999999])
    out = np.empty(4)
    draw_normal_clipped(np.full(4, 0.4), 0.1, 0.0, 1.0, u, out)
    assert out[0] == pytest.approx(0.4)
    assert out[1] == pytest.approx(0.4 + 0.1 * 1.959963984540054)
    assert out[2] == 0.0  # u = 0: -inf, clipped
    assert out[3] == pytest.approx(min(1.0, 0.4 + 0.1 * 4.753424308822899))
    # truncated Cauchy: u = 1/2 gives the median of Cauchy(loc, s) given F > 0
    loc, s = 0.3, 0.1
    draw_truncated(np.array([loc]), s, 0.0, 1.0, True, np.array([0.5]), out[:1])
    theta0 = math.atan((0.0 - loc) / s)
    assert out[0] == pytest.approx(loc + s * math.tan(0.5 * (theta0 + math.pi / 2)))
    draw_truncated(np.array([loc]), s, 0.0, 1.0, True, np.array([0.0]), out[:1])
    assert out[0] == 1.0  # u = 0: +inf, capped at high
    # truncated normal: u = 0 gives the lower tail's far end... of the conditioned law: the
    # top, capped; far below the bound it still gives a valid value
    draw_truncated(np.array([-50.0]), 0.1, 0.0, math.inf, False, np.array([0.3]), out[:1])
    assert out[0] == pytest.approx(1e-8)


def test_shuffle_and_strategy_draw():
    values = np.arange(6)
    shuffle_in_place(values, np.array([0.0, 0.99, 0.0, 0.5, 0.0, 0.0]))
    # i = 5..1 swaps positions i and floor(u_i (i + 1)): 5-0, 4-0, 3-2, 2-0, 1-1
    assert values.tolist() == [3, 1, 4, 2, 5, 0]
    rng = np.random.default_rng(0)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    out = np.empty(100, np.int64)
    strategy_draw(p, True, rng.random(100), out)
    assert np.bincount(out, minlength=4).tolist() == [10, 20, 30, 40]  # SUS: exact counts
    counts = np.zeros(4)
    for _ in range(300):
        strategy_draw(p, False, rng.random(100), out)
        counts += np.bincount(out, minlength=4)
    assert np.allclose(counts / counts.sum(), p, atol=0.01)  # roulette: in expectation


@pytest.mark.parametrize("pools", [[8, 8, 8], [8, 8, 13], [12]])
def test_distinct_columns_constraints_and_law(pools):
    n = 8
    rng = np.random.default_rng(1)
    out = np.empty((n, len(pools)), np.int64)
    counts: dict[tuple, int] = {}
    trials = 6000
    for _ in range(trials):
        distinct_columns(np.array(pools), rng.random((len(pools), n)), out)
        for i in range(n):
            row = out[i].tolist()
            assert i not in row and len(set(row)) == len(row)
            assert all(0 <= v < p for v, p in zip(row, pools, strict=True))
        key = tuple(out[0].tolist())  # row 0's ordered tuple
        counts[key] = counts.get(key, 0) + 1
    # every admissible ordered tuple of row 0 is equally likely
    admissible = [
        t for t in itertools.product(*(range(p) for p in pools))
        if 0 not in t and len(set(t)) == len(t)
    ]
    assert set(counts) == set(admissible)
    expected = trials / len(admissible)
    freq = np.array([counts[t] for t in admissible])
    assert np.abs(freq - expected).max() < 5 * math.sqrt(expected) + 1


def test_p_best_picks_read_the_sorted_population():
    util = np.array([5.0, 1.0, np.inf, 3.0, 2.0])
    cdf = np.array([0.5, np.inf])  # rank 0 below 1/2, rank 1 above
    out = np.empty(4, np.int64)
    p_best_picks(util, cdf, np.array([0.1, 0.7, 0.49, 0.5]), out)
    assert out.tolist() == [1, 4, 1, 4]


def test_archive_plan_fit_and_overflow():
    slots, survivors = np.empty(3, np.int64), np.empty(3, np.int64)
    assert archive_plan(2, 6, np.arange(3), np.zeros(3), slots, survivors) == 3
    assert slots.tolist() == [2, 3, 4] and survivors.tolist() == [0, 1, 2]
    # full archive of 4, 3 newcomers: u = 0 picks position j each time: labels 0, 1, 2
    # (three members) are deleted, and all newcomers survive into their slots
    written = archive_plan(4, 4, np.arange(3), np.zeros(3), slots, survivors)
    assert written == 3 and slots.tolist() == [0, 1, 2] and survivors.tolist() == [0, 1, 2]
    # u close to 1 picks the last position each time: labels 6, then 0, then 1 (the
    # shuffle moved them there) are deleted: members 0 and 1 make room for newcomers 0, 1
    written = archive_plan(4, 4, np.arange(3), np.full(3, 0.999), slots, survivors)
    assert written == 2 and slots[:2].tolist() == [0, 1] and survivors[:2].tolist() == [0, 1]


def test_selection_by_hand():
    parent = np.array([1.0, 1.0, np.inf, 2.0, 5.0])
    evals = np.array([0.5, 1.0, 7.0, np.nan, -np.inf], np.float32)
    rows, success, weights = np.empty(5, np.int64), np.empty(5, np.bool_), np.empty(5)
    replaced, nonfinite = selection(parent, evals, 1.0, rows, success, weights)
    # a tie replaces without success; a finite trial beats a NaN parent (weight inf); NaN
    # and -inf trials are non-finite: never win
    assert (replaced, nonfinite) == (3, 2)
    assert rows[:3].tolist() == [0, 1, 2]
    assert success.tolist() == [True, False, True, False, False]
    assert weights[0] == 0.5 and weights[1] == 0.0 and weights[2] == math.inf
    # maximisation: the sign flips the evaluations
    replaced, _ = selection(np.array([-1.0]), np.array([2.0]), -1.0, rows, success, weights)
    assert replaced == 1 and weights[0] == 1.0


def test_utility_maps_nonfinite_to_inf():
    out = np.empty(4)
    utility(np.array([1.0, np.nan, -np.inf, 2.0]), -1.0, out)
    assert out.tolist() == [-1.0, math.inf, math.inf, -2.0]


def test_copy_rows_equals_index_copy():
    g = torch.Generator().manual_seed(0)
    dst, src = torch.rand(6, 5, generator=g), torch.rand(6, 5, generator=g)
    expected = dst.clone()
    expected.index_copy_(0, torch.tensor([4, 0]), src.index_select(0, torch.tensor([1, 3])))
    copy_rows(host_rows_view(dst), np.array([4, 0, 9]), host_rows_view(src),
              np.array([1, 3, 9]), 2)
    assert torch.equal(dst, expected)
    assert host_rows_view(dst.t()) is None and host_rows_view(dst.double()) is not None
    assert host_rows_view(dst.to(torch.bfloat16)) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tensor_bounds", [False, True])
def test_midpoint_crossover_is_bit_identical_to_the_torch_passes(dtype, tensor_bounds, monkeypatch):
    g = torch.Generator().manual_seed(5)
    n, d = 20, 300
    parents = (torch.rand(n, d, generator=g, dtype=dtype) * 1.9 - 0.95)
    mutants = parents + 0.5 * torch.randn(n, d, generator=g, dtype=dtype)
    mutants[1, 2], mutants[2, 3], mutants[3, 4] = math.inf, -math.inf, math.nan
    lo, hi = (-1.0, 1.0) if not tensor_bounds else (
        torch.full((d,), -1.0, dtype=dtype) + 0.1 * torch.rand(d, generator=g, dtype=dtype),
        torch.full((d,), 1.0, dtype=dtype),
    )
    cr = torch.rand(n, generator=g)
    state = g.get_state()
    host = cx.binomial_crossover(parents, mutants, cr, generator=g, midpoint_bounds=(lo, hi),
                                 midpoint_check=False)
    monkeypatch.setattr(cx, "_host_midpoint", lambda *a: False)  # the torch passes
    g.set_state(state)
    torch_path = cx.binomial_crossover(parents, mutants, cr, generator=g,
                                       midpoint_bounds=(lo, hi), midpoint_check=False)
    assert torch.equal(host.nan_to_num(7.0), torch_path.nan_to_num(7.0))
    assert torch.equal(host.isnan(), torch_path.isnan())
    # the kernel itself, by hand: taken inside, taken outside (midpoint), not taken, NaN
    x = np.array([[0.5, 0.5, 0.5, 0.5]], np.float32)
    v = np.array([[0.9, 3.0, 3.0, np.nan]], np.float32)
    m = np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)
    out = np.empty_like(x)
    midpoint_crossover(x, v, m, np.array([-1.0], np.float32), np.array([1.0], np.float32),
                       np.array([0.5], np.float32), out)
    assert out[0, :3].tolist() == [pytest.approx(0.9), 0.75, 0.5] and np.isnan(out[0, 3])


def test_uniform_block_reproduces_with_the_generator():
    block = UniformBlock((3, 4), "cpu")
    g = torch.Generator().manual_seed(9)
    first = block.draw(g).copy()
    g.manual_seed(9)
    assert np.array_equal(block.draw(g), first)
    assert first.shape == (3, 4) and (first >= 0).all() and (first < 1).all()
    assert as_host(torch.tensor([1, 2])).tolist() == [1, 2]


def _problem(seed=0, dtype=torch.float32):
    return Problem("min", lambda x: (x * x).sum(-1), solution_length=12,
                   initial_bounds=(-5.0, 5.0), bounds=(-5.0, 5.0), vectorized=True, seed=seed,
                   dtype=dtype)


@pytest.mark.parametrize("make", [DE, SaDE, SHADE, SAShadeTriEnsin])
def test_engine_row_copies_host_and_torch_paths_agree(make):
    """The compiled row copies (CPU) and torch's index copies give the same run."""
    host, plain = make(_problem(), popsize=12), make(_problem(), popsize=12)
    plain._h_rows = None  # the torch path of the selection's copies
    plain._h_parent_evals = plain._h_trial_evals = None  # evaluations copied, not viewed
    if plain._archive is not None:
        plain._archive._host_data = None  # and of the archive's
    for _ in range(12):
        host.step()
        plain.step()
        assert torch.equal(host._values, plain._values)
        assert torch.equal(host._evals, plain._evals)
    if host._archive is not None:
        assert host._archive.count == plain._archive.count
        assert torch.equal(host._archive.members, plain._archive.members)


def test_engine_works_for_a_dtype_numpy_lacks():
    searcher = SHADE(_problem(dtype=torch.bfloat16), popsize=10)
    searcher.run(5)
    assert searcher.population.values.dtype == torch.bfloat16
    assert bool(torch.isfinite(searcher.population.evals).all())


def test_grouped_path_draws_pbest_and_archive_per_row():
    """A pool with a mutant-returning strategy is built strategy by strategy; its p-best
    picks and archive column still come from the host draws, row by row."""

    def centroid(ctx):
        return (ctx.x(0) + ctx.x(1)) / 2

    centroid.num_random = 2
    searcher = DE(_problem(seed=2), popsize=12, strategy=[centroid, "current-to-pbest/1"])
    assert searcher._fused is None and searcher._archive is not None
    searcher._h_util[:] = np.arange(12.0)
    searcher._u = np.random.default_rng(0).random((len(searcher._u_rows), 12))
    rows = np.array([1, 5, 7])
    picks = searcher._p_best_picks(rows)
    law = searcher._p_best_cdf
    ranks = [int(np.searchsorted(law, searcher._uniforms("pbest")[r], side="right")) for r in rows]
    assert picks.tolist() == ranks  # utility i at row i: the pick of rank r is row r
    before = searcher._values.clone()
    searcher.run(6)
    assert searcher._archive.count > 0
    assert bool(torch.isfinite(searcher.population.evals).all())
    assert not torch.equal(before, searcher._values)
