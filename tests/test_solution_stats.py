"""The best/worst bookkeeping of neuro_de.algorithms.solution_stats against EvoTorch's own.

Two identical problems see the same sequence of batches (improvements, ties, NaN rows, a
maximisation sense, extra evaluation data, after-eval hooks): one through EvoTorch's
``Problem.evaluate``, one through ``evaluate_keeping_solution_stats``. Every attribute EvoTorch
keeps and every status item must agree after every evaluation, and the fast path must really
be the one taken (else these comparisons would hold by construction).
"""

from __future__ import annotations

import pytest
import torch
from evotorch import Problem, SolutionBatch

from neuro_de.algorithms import SHADE
from neuro_de.algorithms.solution_stats import (
    _fast_path_applies,
    evaluate_keeping_solution_stats,
)

D = 5


def _problem(sense: str, *, eval_data_length: int = 0, hook: bool = False) -> Problem:
    def f(x):
        sphere = (x**2).sum(-1)
        if eval_data_length:
            extra = torch.stack([x[:, 0], x[:, 1]], dim=1)[:, :eval_data_length]
            return sphere, extra
        return sphere

    problem = Problem(
        sense, f, solution_length=D, initial_bounds=(-1.0, 1.0), vectorized=True,
        eval_data_length=eval_data_length or None,
    )
    if hook:
        problem.after_eval_hook.append(lambda batch: {"hook_mean": float(batch.evals[:, 0].mean())})
    return problem


def _batches(seed: int, n: int = 12):
    """Value tensors of a run that improves, stalls, repeats a row and meets NaN rows."""
    g = torch.Generator().manual_seed(seed)
    scale = 1.0
    out = []
    for k in range(n):
        x = (torch.rand(8, D, generator=g) * 2 - 1) * scale
        if k % 4 == 3:
            x = out[-1].clone()  # the same batch again: ties must not replace the kept best
        if k % 5 == 2:
            x[1] = float("nan")  # a NaN evaluation in the batch
        out.append(x)
        scale *= 0.7 if k % 3 else 1.6  # mostly shrinking, sometimes growing (new worst)
    return out


def _same_solution(a, b):
    assert (a is None) == (b is None)
    if a is not None:
        torch.testing.assert_close(a.values, b.values, equal_nan=True, rtol=0, atol=0)
        torch.testing.assert_close(a.evals, b.evals, equal_nan=True, rtol=0, atol=0)


def _same_status(a: dict, b: dict):
    assert list(a) == list(b)
    for key in a:
        if key in ("best", "worst"):
            _same_solution(a[key], b[key])
        else:
            assert a[key] == pytest.approx(b[key], nan_ok=True, rel=0, abs=0)


@pytest.mark.parametrize("sense", ["min", "max"])
@pytest.mark.parametrize("eval_data_length", [0, 2])
@pytest.mark.parametrize("hook", [False, True])
def test_same_bookkeeping_as_evotorch(sense, eval_data_length, hook):
    reference = _problem(sense, eval_data_length=eval_data_length, hook=hook)
    ours = _problem(sense, eval_data_length=eval_data_length, hook=hook)
    fast_calls = 0
    for values in _batches(seed=3):
        ref_batch = SolutionBatch(reference, popsize=len(values), empty=True)
        ref_batch.set_values(values)
        our_batch = SolutionBatch(ours, popsize=len(values), empty=True)
        our_batch.set_values(values)
        fast_calls += _fast_path_applies(ours, our_batch)
        reference.evaluate(ref_batch)
        evaluate_keeping_solution_stats(ours, our_batch)

        torch.testing.assert_close(ours._best_evals, reference._best_evals, rtol=0, atol=0)
        torch.testing.assert_close(ours._worst_evals, reference._worst_evals, rtol=0, atol=0)
        _same_solution(ours._best[0], reference._best[0])
        _same_solution(ours._worst[0], reference._worst[0])
        _same_status(ours.status, reference.status)
        assert ours._store_solution_stats is True  # restored after the fast evaluation

    assert fast_calls == len(_batches(seed=3)) - 1  # all but the first, which initialises


def test_kept_best_is_a_copy_not_a_view():
    problem = _problem("min")
    for values in _batches(seed=5)[:3]:
        batch = SolutionBatch(problem, popsize=len(values), empty=True)
        batch.set_values(values)
        evaluate_keeping_solution_stats(problem, batch)
    kept = problem._best[0].values.clone()
    batch.access_values()[:] = 123.0  # overwriting the last batch must not touch the kept best
    torch.testing.assert_close(problem._best[0].values, kept, rtol=0, atol=0)


def test_fast_path_declined_where_evotorch_must_decide():
    problem = _problem("min")
    batch = SolutionBatch(problem, popsize=4)
    assert not _fast_path_applies(problem, batch)  # nothing kept yet: EvoTorch initialises
    problem.evaluate(batch)
    assert _fast_path_applies(problem, batch)
    problem._store_solution_stats = False
    assert not _fast_path_applies(problem, batch)  # the user switched the statistics off

    class OwnStats(Problem):
        def _get_best_and_worst(self, batch):
            return {}

    own = OwnStats("min", lambda x: (x**2).sum(-1), solution_length=D, initial_bounds=(-1, 1),
                   vectorized=True)
    own_batch = SolutionBatch(own, popsize=4)
    own.evaluate(own_batch)
    own._best = [None]
    assert not _fast_path_applies(own, own_batch)

    multi = Problem(["min", "max"], lambda x: torch.stack([x.sum(-1), x.prod(-1)], dim=1),
                    solution_length=D, initial_bounds=(-1, 1), vectorized=True)
    multi_batch = SolutionBatch(multi, popsize=4)
    multi.evaluate(multi_batch)
    assert not _fast_path_applies(multi, multi_batch)


def test_search_status_matches_a_shadow_problem():
    """A SHADE run's logged best/worst equal what EvoTorch's tracking makes of every batch the
    run evaluated (the parents once, then each generation's trials)."""
    problem = Problem("min", lambda x: (x**2).sum(-1), solution_length=D,
                      initial_bounds=(-1.0, 1.0), vectorized=True, seed=11)
    shadow = Problem("min", lambda x: (x**2).sum(-1), solution_length=D,
                     initial_bounds=(-1.0, 1.0), vectorized=True)
    seen = []
    problem.after_eval_hook.append(lambda batch: seen.append(batch.values.clone()) or {})
    searcher = SHADE(problem, popsize=10)
    for _ in range(15):
        searcher.step()
        for values in seen:
            b = SolutionBatch(shadow, popsize=len(values), empty=True)
            b.set_values(values)
            shadow.evaluate(b)
        seen.clear()
        assert searcher.status["best_eval"] == shadow.status["best_eval"]
        assert searcher.status["worst_eval"] == shadow.status["worst_eval"]
        _same_solution(searcher.status["best"], shadow.status["best"])
