r"""JADE: adaptive DE with an optional external archive (Zhang & Sanderson 2009)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import Generation, Outcome, ParameterRule, cauchy_regenerate, normal_clipped
from .differential_evolution import DifferentialEvolution

__all__ = ["JADE", "JADEParameters"]


class JADEParameters(ParameterRule):
    r"""JADE's parameter adaptation: :math:`CR_i \sim N(\mu_{CR}, 0.1)` clipped to
    ``CR_range``; :math:`F_i \sim \mathrm{Cauchy}(\mu_F, 0.1)`, regenerated while
    :math:`\le` the low end of ``F_range`` and capped at its high end. After selection,
    with :math:`S_F, S_{CR}` the values of the successful (strictly better) trials,

    .. math::
        \mu_{CR} \leftarrow (1 - c)\,\mu_{CR} + c\,\mathrm{mean}_A(S_{CR}), \qquad
        \mu_F \leftarrow (1 - c)\,\mu_F + c\,\frac{\sum S_F^2}{\sum S_F}

    (nothing changes in a generation without success).

    Args:
        c: Learning rate (0.1).
        F_init, CR_init: :math:`\mu_F`, :math:`\mu_{CR}` at start (default: the middle of
            each range, 0.5 for (0, 1) as in the paper).
        F_scale, CR_scale: Spreads of the draws (0.1).
        F_range, CR_range: Admissible ranges.
    """

    def __init__(
        self,
        *,
        c: float = 0.1,
        F_init: float | None = None,
        CR_init: float | None = None,
        F_scale: float = 0.1,
        CR_scale: float = 0.1,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(F_range=F_range, CR_range=CR_range)
        if not 0 <= c <= 1:
            raise ValueError(f"`c` must be in [0, 1], got {c}.")
        self.c, self.F_scale, self.CR_scale = float(c), float(F_scale), float(CR_scale)
        mu_F = 0.5 * sum(self.F_range) if F_init is None else float(F_init)
        mu_CR = 0.5 * sum(self.CR_range) if CR_init is None else float(CR_init)
        self.mu = torch.tensor([mu_F, mu_CR], dtype=torch.float64)  # (mu_F, mu_CR)

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        self.mu = self.mu.to(device)

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        n, gen = generation.popsize, generation.generator
        F = cauchy_regenerate(self.mu[0].expand(n), self.F_scale, low=self.F_range[0],
                              high=self.F_range[1], generator=gen)
        CR = normal_clipped(self.mu[1].expand(n), self.CR_scale, low=self.CR_range[0],
                            high=self.CR_range[1], generator=gen)
        return F, CR

    def update(self, outcome: Outcome) -> None:
        won = outcome.improved.to(torch.float64)
        count = won.sum()
        F, CR = outcome.F * won, outcome.CR * won
        lehmer_F = (F * F).sum() / F.sum()
        mean_CR = CR.sum() / count
        new = torch.stack([lehmer_F, mean_CR])
        self.mu = torch.where(count > 0, (1 - self.c) * self.mu + self.c * new, self.mu)

    def status(self, strategy_keys) -> dict[str, float]:
        return {"mu_F": float(self.mu[0]), "mu_CR": float(self.mu[1])}

    def status_keys(self) -> tuple[str, ...]:
        return ("mu_F", "mu_CR")

    def state_dict(self) -> dict:
        return {"mu": self.mu.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.mu = state["mu"].to(self.mu.device, torch.float64).clone()


class JADE(DifferentialEvolution):
    r"""JADE (Zhang & Sanderson, IEEE TEVC 13(5):945-958, 2009): DE/current-to-pbest/1/bin
    with the optional external archive,
    :math:`v_i = x_i + F_i (x_{pbest} - x_i) + F_i (x_{r_1} - \tilde x_{r_2})`,
    :math:`x_{pbest}` uniform among the best :math:`\max(1, \mathrm{round}(pN))` parents,
    :math:`\tilde x_{r_2}` from population ∪ archive; parameters by
    :class:`JADEParameters`. Beaten parents enter the archive (capacity :math:`N`, random
    deletion when full).

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Population size (optional with ``init_population``).
        init_population: Optional ``(N, d)`` starting individuals.
        p: The greediness :math:`p` (0.05; the paper recommends 5-20 %).
        c: The learning rate (0.1).
        archive: Whether to keep the external archive (JADE with archive, the default).
        F_range, CR_range: Admissible ranges.
        bounds_handling: ``"midpoint"`` (default, JADE's repair), ``"clip"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        p: float = 0.05,
        c: float = 0.1,
        archive: bool = True,
        F_range: tuple[float, float] = (0.0, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        bounds_handling: str = "midpoint",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        rule = JADEParameters(c=c, F_range=F_range, CR_range=CR_range)
        super().__init__(
            problem, popsize=popsize, init_population=init_population,
            strategies="current-to-pbest/1", parameters=rule,
            archive_rate=1.0 if archive else 0.0, p_best=(p, p), bounds_handling=bounds_handling,
        )
