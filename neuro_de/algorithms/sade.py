"""SaDE: self-adaptive differential evolution (Qin, Huang & Suganthan 2009)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import SaDEParameters, StrategyLearner
from .differential_evolution import DifferentialEvolution, resolve_strategies

__all__ = ["SaDE", "SADE_STRATEGIES"]

#: SaDE's pool (Qin et al. 2009): DE/rand/1/bin, DE/rand-to-best/2/bin (= current-to-best/2),
#: DE/rand/2/bin, DE/current-to-rand/1 (no crossover).
SADE_STRATEGIES = ("rand/1", "current-to-best/2", "rand/2", "current-to-rand/1")


class SaDE(DifferentialEvolution):
    r"""Self-adaptive DE with strategy learning (Qin, Huang & Suganthan, IEEE TEVC 2009).

    * Strategy :math:`k` is chosen with probability :math:`p_k` (stochastic universal
      sampling). After the first :math:`LP` generations,
      :math:`S_k = \frac{\sum ns_k}{\sum ns_k + \sum nf_k} + \epsilon`,
      :math:`p_k = S_k / \sum_j S_j` over the last :math:`LP` generations.
    * :math:`F_i \sim N(0.5, 0.3)` per individual (not truncated, as in the paper).
    * :math:`CR_{k,i} \sim N(CRm_k, 0.1)` clipped to [0, 1], :math:`CRm_k` the median of the
      successful CRs of strategy :math:`k` over the last :math:`LP` generations (0.5 at first).

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Population size (>= 6 for the default pool, which needs rand/2).
        init_population: Optional ``(N, d)`` starting individuals.
        strategies: The pool (default :data:`SADE_STRATEGIES`).
        learning_period: :math:`LP` (default 50).
        epsilon: :math:`\epsilon` (default 0.01).
        F_mean, F_std: Parameters of the normal F draw.
        CR_std: Standard deviation of the CR draw.
        sampling: ``"sus"`` (default, as in SaDE) or ``"roulette"``.
        CR_range: Admissible CR (default [0, 1]); the median memory starts at its middle.
        F_range: Optional admissible F; ``None`` (default) leaves the normal draw unclipped,
            as in the paper, a ``(low, high)`` pair clips it (small steps for a network).
        bounds_handling: ``"clip"``, ``"midpoint"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        strategies=SADE_STRATEGIES,
        learning_period: int = 50,
        epsilon: float = 0.01,
        F_mean: float = 0.5,
        F_std: float = 0.3,
        CR_std: float = 0.1,
        sampling: str = "sus",
        CR_range: tuple[float, float] = (0.0, 1.0),
        F_range: tuple[float, float] | None = None,
        bounds_handling: str = "clip",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        strategies, _ = resolve_strategies(list(strategies))
        rule = SaDEParameters(
            F_mean=F_mean, F_std=F_std, CR_std=CR_std, learning_period=learning_period,
            clip_F=F_range is not None, F_range=(0.0, 2.0) if F_range is None else F_range,
            CR_range=CR_range,
        )
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            strategies=strategies,
            selector=StrategyLearner(len(strategies), learning_period=learning_period,
                                     epsilon=epsilon, sampling=sampling),
            parameters=rule,
            archive_rate=1.0,
            bounds_handling=bounds_handling,
        )
