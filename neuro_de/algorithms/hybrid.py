"""SA-SHADE-tri-ensin, the seed paper's hybrid of SaDE, SHADE, trigonometric mutation and
sinusoidal F."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import (
    SaDEParameters,
    Sinusoidal,
    StrategyLearner,
    SuccessHistoryParameters,
    cauchy_regenerate,
    normal_regenerate,
)
from .differential_evolution import DifferentialEvolution, resolve_strategies

__all__ = ["SAShadeTriEnsin", "PAPER_STRATEGIES"]

#: The seed paper's S1-S4 (Sec. 3.1): rand/1, current-to-best/1 (the paper's S2, one
#: difference pair), rand/2, current-to-rand/1 (S4, K ~ U(0, 1), no crossover).
PAPER_STRATEGIES = ("rand/1", "current-to-best/1", "rand/2", "current-to-rand/1")

_SAMPLERS = {"normal": normal_regenerate, "cauchy": cauchy_regenerate}


class SAShadeTriEnsin(DifferentialEvolution):
    r"""SA-SHADE-tri-ensin (seed paper, Sec. 3.1-3.3 and Table S3).

    Components, each switchable so that each row of the paper's Table 3 ablation is one
    constructor call:

    * ``strategy_adaptation`` (SaDE): strategy :math:`k` drawn with learned probability
      :math:`p_k = S_k / \sum S`, :math:`S_k = ns_k/(ns_k+nf_k) + \epsilon` over a window of
      ``learning_period`` generations (the paper's queue of size H = 5). Off: uniform choice.
    * ``success_history`` (SHADE): one memory :math:`M_F, M_{CR}` of size H per strategy;
      :math:`F \sim D(M_{F,k,r}, 0.1)`, :math:`CR \sim N(M_{CR,k,r}, 0.1)`; Lehmer means
      weighted by :math:`|\Delta f|` (the paper uses the Lehmer mean for both). D is the
      normal distribution as the paper writes (``F_distribution="normal"``; ``"cauchy"`` is
      SHADE's). Off: SaDE's rules, :math:`F \sim N(\mu_F, \sigma_F)` clipped to
      ``F_range`` and :math:`CR \sim N(CRm_k, 0.1)` with median memory (starting at the
      middle of ``CR_range``).
    * ``trigonometric``: adds Fan & Lampinen's trigonometric mutation to the pool.
    * ``sinusoidal``: LSHADE-EpSin's sinusoidal F. Within each cycle of ``sin_horizon``
      generations (:math:`G`; the paper: the generations spent on one mini-batch, 10), in the
      first half (:math:`g \le G/2`) each generation uses, with equal probability, the
      non-adaptive decreasing
      :math:`F = \frac12(\sin(2\pi\nu g + \pi)\frac{G-g}{G} + 1)` (:math:`\nu` = 0.5) or the
      adaptive increasing :math:`F = \frac12(\sin(2\pi\nu_i g)\frac{g}{G} + 1)` with
      :math:`\nu_i` drawn from a per-strategy success-history memory of frequencies. The
      second half uses the F of the other rules. The [0, 1] schedule is mapped linearly onto
      ``F_range``. Set ``sin_horizon`` to the total number of generations for the original
      LSHADE-EpSin schedule over a whole run.

    Parameter ranges: all F are kept in ``F_range`` and CR in ``CR_range``. The generic
    defaults are (0, 1); Table S3 uses F in (0, 0.2) and CR in (0, 0.3) for networks (pass
    them, as the recipes do). Memories start at the middle of each range.

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Population size (>= 6: the pool contains rand/2).
        init_population: Optional ``(N, d)`` starting individuals.
        strategies: The pool before the trigonometric one (default :data:`PAPER_STRATEGIES`;
            pass ``SADE_STRATEGIES`` for SaDE's current-to-best/2 form).
        strategy_adaptation, success_history, trigonometric, sinusoidal: component switches.
        learning_period: SaDE window (default 5 = the paper's H).
        memory_size: H of the success memories (default 5, Table S3).
        epsilon: SaDE's :math:`\epsilon`.
        F_range, CR_range: admissible parameter ranges.
        F_distribution: ``"normal"`` (paper) or ``"cauchy"`` (SHADE).
        cr_mean: ``"lehmer"`` (paper) or ``"arithmetic"`` (SHADE 2013).
        F_scale, CR_scale: spreads of the memory draws (0.1).
        sade_F: ``(mean, std)`` of F when ``success_history=False`` (default: middle of
            ``F_range`` and 0.3 x its width, i.e. SaDE's N(0.5, 0.3) for (0, 1)).
        sin_horizon: :math:`G` of the sinusoidal schedule (default 10).
        sin_freq: the non-adaptive :math:`\nu` (0.5).
        bounds_handling: ``"clip"``, ``"midpoint"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        strategies=PAPER_STRATEGIES,
        strategy_adaptation: bool = True,
        success_history: bool = True,
        trigonometric: bool = True,
        sinusoidal: bool = True,
        learning_period: int = 5,
        memory_size: int = 5,
        epsilon: float = 0.01,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        F_distribution: str = "normal",
        cr_mean: str = "lehmer",
        F_scale: float = 0.1,
        CR_scale: float = 0.1,
        sade_F: tuple[float, float] | None = None,
        sin_horizon: int = 10,
        sin_freq: float = 0.5,
        bounds_handling: str = "clip",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        if F_distribution not in _SAMPLERS:
            raise ValueError(
                f"`F_distribution` must be one of {tuple(_SAMPLERS)}, got {F_distribution!r}."
            )
        pool = list(strategies)
        if trigonometric and "trigonometric" not in pool:
            pool.append("trigonometric")
        resolved, _ = resolve_strategies(pool)
        sampler = _SAMPLERS[F_distribution]
        if success_history:
            rule = SuccessHistoryParameters(
                memory_size=memory_size, F_scale=F_scale, CR_scale=CR_scale, F_sampler=sampler,
                cr_mean=cr_mean, F_range=F_range, CR_range=CR_range,
            )
        else:
            lo, hi = float(F_range[0]), float(F_range[1])
            mean, std = (0.5 * (lo + hi), 0.3 * (hi - lo)) if sade_F is None else sade_F
            rule = SaDEParameters(
                F_mean=mean, F_std=std, learning_period=learning_period, clip_F=True,
                F_range=F_range, CR_range=CR_range,
            )
        if sinusoidal:
            rule = Sinusoidal(rule, horizon=sin_horizon, freq=sin_freq,
                              memory_size=memory_size, freq_sampler=sampler)
        self.components = {
            "strategy_adaptation": bool(strategy_adaptation),
            "success_history": bool(success_history),
            "trigonometric": bool(trigonometric),
            "sinusoidal": bool(sinusoidal),
        }
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            strategies=resolved,
            selector=StrategyLearner(len(resolved), learning_period=learning_period,
                                     epsilon=epsilon, adapt=bool(strategy_adaptation)),
            parameters=rule,
            archive_rate=1.0,
            bounds_handling=bounds_handling,
        )
