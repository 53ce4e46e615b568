"""The best and worst solutions a :class:`~evotorch.Problem` has seen, carried through a
checkpoint.

EvoTorch's ``Problem.evaluate`` keeps the best and worst solutions ever evaluated (the
``best`` / ``worst`` / ``best_eval`` / ``worst_eval`` status items) when
``problem.stores_solution_stats`` is on. EvoTorch has no public way to save or restore
them, so :func:`solution_stats_state` and :func:`load_solution_stats` read and write the
problem's attributes (``_best``, ``_worst``, ``_best_evals``, ``_worst_evals``): a resumed
run then logs the numbers the uninterrupted one would have. That is the one place neuro_de
reads EvoTorch's private attributes, for exact resume; the evaluation itself is EvoTorch's
own (an earlier fast path that re-implemented its bookkeeping was dropped: at network scale
its saving is far below the run-to-run noise, docs/design.md).
"""

from __future__ import annotations

import torch
from evotorch import Problem, Solution, SolutionBatch

__all__ = ["solution_stats_state", "load_solution_stats"]


def _solution_in(one: SolutionBatch, values: torch.Tensor, evals: torch.Tensor) -> Solution:
    """The :class:`~evotorch.Solution` of the empty one-row batch ``one``, holding copies of
    ``values`` and ``evals`` (the whole evaluation row, extra evaluation data included)."""
    one.access_values(keep_evals=True)[0].copy_(values)
    one.access_evals()[0].copy_(evals)
    return Solution(one, 0)


def solution_stats_state(problem: Problem) -> dict | None:
    """The problem's best/worst bookkeeping as plain tensors (``None`` before any is kept)."""
    best = getattr(problem, "_best", None)
    if best is None:
        return None

    def pack(solutions):
        return [None if s is None else [s.values.clone(), s.evals.clone()] for s in solutions]

    return {
        "best": pack(best),
        "worst": pack(problem._worst),
        "best_evals": problem._best_evals.clone(),
        "worst_evals": problem._worst_evals.clone(),
    }


def load_solution_stats(problem: Problem, stats: dict | None) -> None:
    """Restore what :func:`solution_stats_state` returned (``None``: nothing to restore)."""
    if stats is None or not hasattr(problem, "_best"):
        return

    def unpack(packed):
        return [
            None if item is None
            else _solution_in(SolutionBatch(problem, popsize=1, empty=True), item[0], item[1])
            for item in packed
        ]

    problem._best = unpack(stats["best"])
    problem._worst = unpack(stats["worst"])
    problem._best_evals = stats["best_evals"].to(problem.device)
    problem._worst_evals = stats["worst_evals"].to(problem.device)
