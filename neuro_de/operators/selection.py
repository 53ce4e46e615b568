r"""One-to-one survivor selection with its rules for NaN and infinite fitness, shared by the
DE family (trial against parent) and PSO (moved particle against its personal best)."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["Selection", "candidate_utility", "one_to_one", "parent_utility"]


class Selection(NamedTuple):
    r"""The outcome of :func:`one_to_one` for every pair :math:`i`.

    Attributes:
        selected: :math:`f(u_i) \le f(x_i)`: the candidate replaces the incumbent.
        improved: :math:`f(u_i) < f(x_i)`: a success (strictly better).
        improvement: :math:`f(x_i) - f(u_i)` where ``improved`` (+inf against a NaN/inf
            incumbent), 0 elsewhere (float64).
        nonfinite: 0-d int64 count of candidates with a NaN or infinite evaluation.
    """

    selected: torch.Tensor
    improved: torch.Tensor
    improvement: torch.Tensor
    nonfinite: torch.Tensor


def parent_utility(evals: torch.Tensor, *, sign: float) -> torch.Tensor:
    """Minimisation-oriented float64 fitness of incumbents: ``sign * evals`` (``sign`` -1
    for a maximisation problem), NaN as +inf so that it never wins."""
    f = evals.to(torch.float64)
    if sign != 1.0:
        f = f * sign
    return torch.nan_to_num(f, nan=float("inf"))


def candidate_utility(evals: torch.Tensor, *, sign: float) -> torch.Tensor:
    """Minimisation-oriented float64 fitness of candidates, every NaN or infinite
    evaluation turned into NaN, which compares false with anything: a non-finite
    candidate is never selected and never a success."""
    f = evals.to(torch.float64)
    if sign != 1.0:
        f = f * sign
    nan = float("nan")
    return torch.nan_to_num(f, nan=nan, posinf=nan, neginf=nan)


def one_to_one(parent: torch.Tensor, candidate: torch.Tensor) -> Selection:
    r"""DE's one-to-one selection (Storn & Price 1997): the candidate replaces its parent
    when :math:`f(u_i) \le f(x_i)` (ties move the population across plateaus) and is a
    success when :math:`f(u_i) < f(x_i)`.

    Args:
        parent: ``(N,)`` :func:`parent_utility` of the incumbents.
        candidate: ``(N,)`` :func:`candidate_utility` of the candidates.
    """
    selected = candidate <= parent
    improved = candidate < parent
    improvement = torch.where(improved, parent - candidate, 0.0)
    return Selection(selected, improved, improvement, candidate.isnan().sum())
