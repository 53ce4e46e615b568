"""EvoTorch's best/worst bookkeeping in a neuro_de run: the status a run logs is what
EvoTorch's own tracking makes of every batch the run evaluated, and it survives a
``state_dict`` round trip (``neuro_de.algorithms.solution_stats``)."""

from __future__ import annotations

import torch
from evotorch import Problem, SolutionBatch

from neuro_de.algorithms import SHADE

D = 5


def _same_solution(a, b):
    assert (a is None) == (b is None)
    if a is not None:
        torch.testing.assert_close(a.values, b.values, equal_nan=True, rtol=0, atol=0)
        torch.testing.assert_close(a.evals, b.evals, equal_nan=True, rtol=0, atol=0)


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


def test_best_and_worst_survive_a_state_dict_round_trip():
    def make():
        problem = Problem("min", lambda x: (x**2).sum(-1), solution_length=D,
                          initial_bounds=(-1.0, 1.0), vectorized=True, seed=3)
        return SHADE(problem, popsize=10)

    searcher = make()
    searcher.run(8)
    state = searcher.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    searcher.run(5)
    resumed.run(5)
    # the worst was seen before the checkpoint: only a restored state logs it
    for key in ("best_eval", "worst_eval"):
        assert resumed.status[key] == searcher.status[key]
    _same_solution(resumed.status["best"], searcher.status["best"])
    _same_solution(resumed.status["worst"], searcher.status["worst"])
