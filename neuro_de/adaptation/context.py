r"""What the components of a DE generation read: the :class:`Generation` they sample for
and the :class:`Outcome` they learn from.

A generation of :class:`~neuro_de.algorithms.DifferentialEvolution` runs

1. ``ids = selector.select(generation)`` (a strategy per individual),
2. ``F, CR = parameters.sample(generation)`` (``generation.strategy_ids`` is set by then),
3. mutation, crossover, bound repair and evaluation of the trials,
4. one-to-one selection, then ``selector.update(outcome)`` and
   ``parameters.update(outcome)``.

Components draw their random numbers with :meth:`Generation.uniform` /
:meth:`Generation.normal` (or any torch function given ``generation.generator``): that is
the problem's seeded generator, whose state the algorithm's ``state_dict`` saves, so a user
rule is bit-reproducible under a seed and resumes exactly with no further work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Generation", "Outcome"]


@dataclass
class Generation:
    """One generation as the components see it before the trials are built.

    Attributes:
        index: Generations completed before this one (0 for the first).
        popsize: Number of individuals :math:`N`.
        num_strategies: Size of the strategy pool.
        utility: ``(N,)`` float64 parent fitness oriented for minimisation (NaN as +inf).
        generator: The problem's random generator (``None``: torch's global one).
        device: The problem's device (where every per-individual tensor lives).
        strategy_ids: ``(N,)`` int64 strategy of each individual, set once the selector
            has chosen (``None`` before).
    """

    index: int
    popsize: int
    num_strategies: int
    utility: torch.Tensor
    generator: torch.Generator | None
    device: torch.device
    strategy_ids: torch.Tensor | None = None

    def uniform(self, *shape: int) -> torch.Tensor:
        """Float64 uniforms in ``[0, 1)``; default shape ``(popsize,)``."""
        shape = shape or (self.popsize,)
        return torch.rand(shape, generator=self.generator, device=self.device,
                          dtype=torch.float64)

    def normal(self, *shape: int) -> torch.Tensor:
        """Float64 standard normals; default shape ``(popsize,)``."""
        shape = shape or (self.popsize,)
        return torch.randn(shape, generator=self.generator, device=self.device,
                           dtype=torch.float64)


@dataclass
class Outcome:
    r"""What one generation's selection decided, for every individual :math:`i`.

    Attributes:
        generation: The :class:`Generation` the trials were built in.
        strategy_ids: ``(N,)`` int64 strategy that made trial :math:`u_i`.
        F: ``(N,)`` float64 scale factor the trial used.
        CR: ``(N,)`` float64 crossover rate drawn for it (strategies without crossover
            ignore it).
        selected: ``(N,)`` bool, :math:`f(u_i) \le f(x_i)`: the trial replaced its parent.
        improved: ``(N,)`` bool, :math:`f(u_i) < f(x_i)`: a *success* (strictly better).
        improvement: ``(N,)`` float64 :math:`f(x_i) - f(u_i)` where ``improved`` (``+inf``
            against a NaN/inf parent), 0 elsewhere.
        nonfinite: How many trials evaluated to NaN or :math:`\pm\infty` (never selected).
    """

    generation: Generation
    strategy_ids: torch.Tensor
    F: torch.Tensor
    CR: torch.Tensor
    selected: torch.Tensor
    improved: torch.Tensor
    improvement: torch.Tensor
    nonfinite: int
