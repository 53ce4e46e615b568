"""What a checkpoint of a population algorithm keeps of its problem: the random state the
algorithm draws from, the problem's own state and EvoTorch's kept best and worst
solutions, so that a resumed run continues exactly."""

from __future__ import annotations

from typing import Any

import torch
from evotorch import Problem

from .solution_stats import load_solution_stats, solution_stats_state

__all__ = ["load_problem_state", "problem_state"]


def problem_state(problem: Problem) -> dict[str, Any]:
    """The entries of a checkpoint that belong to ``problem``:

    - ``generator_state``: the problem's generator, or torch's global CPU generator when the
      problem has none (and then ``cuda_rng_state``, every CUDA device's generator);
    - ``problem``: ``problem.state_dict()`` when the problem has one (e.g. the mini-batch
      stream of :class:`~neuro_de.problems.SupervisedNetProblem`);
    - ``solution_stats``: EvoTorch's kept best and worst solutions
      (:func:`~neuro_de.algorithms.solution_stats.solution_stats_state`).
    """
    gen = problem.generator
    state: dict[str, Any] = {
        "generator_state": gen.get_state() if gen is not None else torch.get_rng_state(),
        "cuda_rng_state": (
            torch.cuda.get_rng_state_all() if gen is None and torch.cuda.is_available() else []
        ),
    }
    if hasattr(problem, "state_dict") and callable(problem.state_dict):
        state["problem"] = problem.state_dict()
    state["solution_stats"] = solution_stats_state(problem)
    return state


def load_problem_state(problem: Problem, state: dict[str, Any]) -> None:
    """Restore the entries :func:`problem_state` wrote into ``state`` (a checkpoint that
    lacks ``problem`` or ``solution_stats`` leaves those as they are)."""
    gen = problem.generator
    if gen is not None:
        gen.set_state(state["generator_state"])
    else:
        torch.set_rng_state(state["generator_state"])
        if state.get("cuda_rng_state"):
            torch.cuda.set_rng_state_all(state["cuda_rng_state"])
    if "problem" in state and hasattr(problem, "load_state_dict"):
        problem.load_state_dict(state["problem"])
    load_solution_stats(problem, state.get("solution_stats"))
