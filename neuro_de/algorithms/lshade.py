r"""L-SHADE: SHADE with linear population size reduction (Tanabe & Fukunaga, CEC 2014)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import Generation, Outcome, SuccessHistoryParameters
from .differential_evolution import DifferentialEvolution, PopulationSchedule

__all__ = ["LSHADE", "LSHADEParameters", "LinearPopulationReduction"]


class LinearPopulationReduction(PopulationSchedule):
    r"""L-SHADE's linear population size reduction (LPSR): after each generation,

    .. math::
        N_{G+1} = \mathrm{round}\left(\frac{N_{min} - N_{init}}{MAX\_NFE}\, NFE
        + N_{init}\right)

    with :math:`NFE` the evaluations spent so far; the worst individuals are removed.

    Args:
        initial: :math:`N_{init}`.
        minimum: :math:`N_{min}` (4 in L-SHADE).
        max_evaluations: :math:`MAX\_NFE`, the run's budget of evaluations.
    """

    def __init__(self, initial: int, minimum: int, max_evaluations: int):
        if not (1 <= minimum <= initial):
            raise ValueError(f"Need 1 <= minimum <= initial, got minimum={minimum}, "
                             f"initial={initial}.")
        if isinstance(max_evaluations, bool) or not isinstance(max_evaluations, int) or (
            max_evaluations < 1
        ):
            raise ValueError(f"`max_evaluations` must be an int >= 1, got {max_evaluations!r}.")
        self.initial, self.minimum = int(initial), int(minimum)
        self.max_evaluations = max_evaluations

    def size(self, evaluations: int, popsize: int) -> int:
        slope = (self.minimum - self.initial) / self.max_evaluations
        return max(self.minimum, min(popsize, round(slope * evaluations + self.initial)))


class LSHADEParameters(SuccessHistoryParameters):
    r"""SHADE 1.1's success history with L-SHADE's terminal value: when every successful
    CR of strategy :math:`k` is 0 (:math:`\max S_{CR} = 0`), or the cell being overwritten
    already holds it, the new cell is the terminal value :math:`\perp`, and an individual
    that draws a :math:`\perp` cell gets :math:`CR = 0` (Tanabe & Fukunaga 2014). Both
    memories use the weighted Lehmer mean."""

    def __init__(self, **kwargs):
        kwargs.setdefault("cr_mean", "lehmer")
        super().__init__(**kwargs)
        self.terminal: torch.Tensor | None = None

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        super().setup(popsize=popsize, num_strategies=num_strategies, device=device)
        self.terminal = torch.zeros((num_strategies, self.memory_size), dtype=torch.bool,
                                    device=device)

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        slots = self.memory.sample_slots(generation.popsize, generator=generation.generator)
        F, CR = self.sample_at(generation, slots)
        return F, torch.where(self.terminal[generation.strategy_ids, slots], 0.0, CR)

    def update(self, outcome: Outcome) -> None:
        k = self.terminal.shape[0]
        rows = torch.arange(k, device=self.terminal.device)
        position = self.memory.position
        updated = torch.tensor(self.memory.update(outcome.strategy_ids, (outcome.F, outcome.CR),
                                                  outcome.improvement),
                               device=self.terminal.device)
        won = outcome.improvement > 0
        max_cr = torch.full((k,), -1.0, dtype=torch.float64, device=won.device).scatter_reduce(
            0, outcome.strategy_ids, torch.where(won, outcome.CR, -1.0), reduce="amax")
        was = self.terminal[rows, position]
        self.terminal[rows, position] = torch.where(updated, was | (max_cr <= 0), was)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "terminal": self.terminal.clone()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.terminal.copy_(state["terminal"])


class LSHADE(DifferentialEvolution):
    r"""L-SHADE (Tanabe & Fukunaga, CEC 2014): SHADE 1.1 (Lehmer means for F and CR, the
    terminal CR value) with linear population size reduction from :math:`N_{init}` to
    :math:`N_{min}` over ``max_evaluations``; the archive's capacity follows
    :math:`\mathrm{round}(r^{arc} N)`. DE/current-to-pbest/1/bin with a fixed :math:`p`.

    Paper settings (the defaults): :math:`N_{init} = 18 D` (when neither ``popsize`` nor
    ``init_population`` is given), :math:`N_{min} = 4`, :math:`H = 6`,
    :math:`r^{arc} = 2.6`, :math:`p = 0.11`, memories starting at 0.5.

    Args:
        problem: A single-objective EvoTorch problem.
        max_evaluations: The run's budget of evaluations (the reduction is scheduled over
            it); the run should stop there (``searcher.evaluations``).
        popsize: :math:`N_{init}`.
        init_population: Optional ``(N_init, d)`` starting individuals.
        min_popsize: :math:`N_{min}`.
        memory_size: :math:`H`.
        archive_rate: :math:`r^{arc}`.
        p: The p-best rate.
        F_range, CR_range: Admissible ranges (the memories start at their middles).
        bounds_handling: ``"midpoint"`` (default), ``"clip"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        max_evaluations: int | None = None,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        min_popsize: int = 4,
        memory_size: int = 6,
        archive_rate: float = 2.6,
        p: float = 0.11,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        bounds_handling: str = "midpoint",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        if max_evaluations is None:
            raise ValueError("LSHADE needs `max_evaluations`, the budget of evaluations its "
                             "population reduction is scheduled over.")
        if popsize is None and init_population is None:
            popsize = 18 * int(problem.solution_length)
        initial = popsize if popsize is not None else int(init_population.shape[0])
        if isinstance(initial, bool) or not isinstance(initial, int) or initial < min_popsize:
            raise ValueError(
                f"LSHADE needs an integer `popsize` >= min_popsize={min_popsize}, got {initial!r}."
            )
        rule = LSHADEParameters(memory_size=memory_size, F_range=F_range, CR_range=CR_range)
        super().__init__(
            problem, popsize=popsize, init_population=init_population,
            strategies="current-to-pbest/1", parameters=rule, archive_rate=archive_rate,
            p_best=(p, p), bounds_handling=bounds_handling,
            population_schedule=LinearPopulationReduction(initial, min_popsize,
                                                          max_evaluations),
        )
