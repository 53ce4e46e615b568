"""Classic differential evolution (Storn & Price 1997)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import FixedParameters
from .differential_evolution import DifferentialEvolution

__all__ = ["DE"]


class DE(DifferentialEvolution):
    r"""Differential evolution with a fixed strategy, :math:`F` and :math:`CR`.

    Each generation every parent :math:`x_i` gets a mutant :math:`v_i` from the strategy
    (default DE/rand/1: :math:`v_i = x_{r_1} + F (x_{r_2} - x_{r_3})`), a trial :math:`u_i` by
    binomial crossover with rate :math:`CR` and a forced :math:`j_{rand}`, and the trial
    replaces the parent when :math:`f(u_i) \le f(x_i)`.

    Reference: R. Storn, K. Price, J. Global Optim. 11:341-359, 1997.

    Args:
        problem: A single-objective EvoTorch problem (minimised or maximised).
        popsize: Population size :math:`N` (optional when ``init_population`` is given).
        init_population: Optional ``(N, d)`` starting individuals (e.g. network snapshots).
        strategy: A registered name (``"rand/1"``, ``"best/1"``, ``"rand/2"``,
            ``"current-to-best/1"``, ``"trigonometric"``, ...), a callable, a list (chosen
            uniformly per individual) or a ``{strategy: probability}`` mapping, e.g. Fan &
            Lampinen's TDE ``{"trigonometric": 0.05, "rand/1": 0.95}``.
        F: Scale factor, or a ``(low, high)`` pair for dither (a fresh
            :math:`F_i \sim U(low, high)` per individual and generation).
        CR: Crossover rate in [0, 1].
        bounds_handling: ``"clip"`` (default), ``"midpoint"`` or ``"none"``; used only if the
            problem has hard bounds.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        strategy="rand/1",
        F: float | tuple[float, float] = 0.5,
        CR: float = 0.9,
        bounds_handling: str = "clip",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            strategies=strategy,
            parameters=FixedParameters(F=tuple(F) if isinstance(F, list) else F, CR=CR),
            archive_rate=1.0,
            bounds_handling=bounds_handling,
        )
