"""SHADE: success-history based adaptive DE (Tanabe & Fukunaga 2013)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import SuccessHistoryParameters
from .differential_evolution import DifferentialEvolution

__all__ = ["SHADE"]


class SHADE(DifferentialEvolution):
    r"""Success-history based parameter adaptation for DE (Tanabe & Fukunaga, CEC 2013).

    Memories :math:`M_F, M_{CR}` of size :math:`H` (all 0.5 at start). Per individual:
    :math:`r_i \sim U\{1..H\}`, :math:`CR_i \sim N(M_{CR,r_i}, 0.1)` clipped to [0, 1],
    :math:`F_i \sim \mathrm{Cauchy}(M_{F,r_i}, 0.1)` redrawn while :math:`\le 0` and set to 1
    if :math:`> 1`; :math:`p_i \sim U[2/N, 0.2]`; mutation current-to-pbest/1 with an external
    archive of beaten parents (:math:`|A| = N`, random deletion when full). After selection,
    with weights :math:`w_k = \Delta f_k / \sum \Delta f`:

    .. math::
        M_{F,k} = \frac{\sum w F^2}{\sum w F}, \qquad
        M_{CR,k} = \sum w\, CR \;\; (\text{or } \tfrac{\sum w CR^2}{\sum w CR})

    at the memory position :math:`k`, which then advances cyclically; nothing changes in a
    generation without success. SHADE 2013 uses the arithmetic mean for CR
    (``cr_mean="arithmetic"``, the default); SHADE 1.1, L-SHADE and the seed paper use the
    Lehmer mean (``cr_mean="lehmer"``).

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Population size (>= 4).
        init_population: Optional ``(N, d)`` starting individuals.
        memory_size: :math:`H` (default 100 = SHADE 2013's choice for N = 100).
        archive_rate: Archive capacity as a multiple of N (default 1.0).
        p_max: Upper end of :math:`p_i` (default 0.2); the lower end is 2/N.
        cr_mean: ``"arithmetic"`` or ``"lehmer"``.
        F_scale, CR_scale: Spreads of the F and CR draws (0.1).
        F_range, CR_range: Admissible F and CR (default (0, 1): SHADE's truncation); the
            memories start at the middle of each range (0.5 for SHADE's). A trained
            network wants small steps, e.g. ``F_range=(0, 0.2), CR_range=(0, 0.3)``.
        bounds_handling: ``"midpoint"`` (default, SHADE's repair), ``"clip"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        memory_size: int = 100,
        archive_rate: float = 1.0,
        p_max: float = 0.2,
        cr_mean: str = "arithmetic",
        F_scale: float = 0.1,
        CR_scale: float = 0.1,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        bounds_handling: str = "midpoint",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        if isinstance(p_max, bool) or not isinstance(p_max, (int, float)) or not (
            0 < p_max <= 1
        ):
            raise ValueError(f"`p_max` must be a number in (0, 1], got {p_max!r}.")
        rule = SuccessHistoryParameters(
            memory_size=memory_size, F_scale=F_scale, CR_scale=CR_scale, cr_mean=cr_mean,
            F_range=F_range, CR_range=CR_range,
        )
        super().__init__(
            problem,
            popsize=popsize,
            init_population=init_population,
            strategies="current-to-pbest/1",
            parameters=rule,
            archive_rate=archive_rate,
            p_best=(None, p_max),
            bounds_handling=bounds_handling,
        )
