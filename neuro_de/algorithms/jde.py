r"""jDE: self-adapting control parameters (Brest, Greiner, Bošković, Mernik & Žumer 2006)."""

from __future__ import annotations

import torch
from evotorch import Problem

from ..adaptation import Generation, Outcome, ParameterRule, check_range
from .differential_evolution import DifferentialEvolution

__all__ = ["JDE", "JDEParameters"]


class JDEParameters(ParameterRule):
    r"""jDE's rule: every individual carries its own :math:`F_i` and :math:`CR_i`. Each
    generation, before mutation,

    .. math::
        F_i' = \begin{cases} F_l + u_1 F_u & \text{if } u_2 < \tau_1 \\ F_i & \text{else}
        \end{cases} \qquad
        CR_i' = \begin{cases} u_3 & \text{if } u_4 < \tau_2 \\ CR_i & \text{else}
        \end{cases}

    (:math:`u_j \sim U[0, 1)`), and the new values are *kept* only when the trial they made
    is selected (:math:`f(u_i) \le f(x_i)`); otherwise the individual keeps its old ones.
    With ``F_range = (F_l, F_l + F_u)`` = (0.1, 1.0) and ``CR_range`` = (0, 1) this is the
    paper's setting; a range maps the regenerated values onto it.

    Args:
        tau_F, tau_CR: :math:`\tau_1`, :math:`\tau_2` (0.1 each).
        F_init, CR_init: Starting values (0.5 and 0.9, as in the paper).
        F_range, CR_range: Where regenerated values are drawn (uniformly).
    """

    def __init__(
        self,
        *,
        tau_F: float = 0.1,
        tau_CR: float = 0.1,
        F_init: float = 0.5,
        CR_init: float = 0.9,
        F_range: tuple[float, float] = (0.1, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(F_range=F_range, CR_range=CR_range)
        if not (0 <= tau_F <= 1 and 0 <= tau_CR <= 1):
            raise ValueError(f"`tau_F` and `tau_CR` must be in [0, 1], got {tau_F}, {tau_CR}.")
        self.tau_F, self.tau_CR = float(tau_F), float(tau_CR)
        self.F_init, self.CR_init = float(F_init), float(CR_init)
        self.F: torch.Tensor | None = None  # the individuals' own values
        self.CR: torch.Tensor | None = None

    def setup(self, *, popsize: int, num_strategies: int, device) -> None:
        self.F = torch.full((popsize,), self.F_init, dtype=torch.float64, device=device)
        self.CR = torch.full((popsize,), self.CR_init, dtype=torch.float64, device=device)

    def sample(self, generation: Generation) -> tuple[torch.Tensor, torch.Tensor]:
        u = generation.uniform(4, generation.popsize)
        (f_lo, f_hi), (c_lo, c_hi) = self.F_range, self.CR_range
        F = torch.where(u[1] < self.tau_F, f_lo + u[0] * (f_hi - f_lo), self.F)
        CR = torch.where(u[3] < self.tau_CR, c_lo + u[2] * (c_hi - c_lo), self.CR)
        return F, CR

    def update(self, outcome: Outcome) -> None:
        self.F = torch.where(outcome.selected, outcome.F, self.F)
        self.CR = torch.where(outcome.selected, outcome.CR, self.CR)

    def reindex(self, rows: torch.Tensor) -> None:
        self.F, self.CR = self.F[rows], self.CR[rows]

    def state_dict(self) -> dict:
        return {"F": self.F.clone(), "CR": self.CR.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.F = state["F"].to(self.F.device, torch.float64).clone()
        self.CR = state["CR"].to(self.CR.device, torch.float64).clone()


class JDE(DifferentialEvolution):
    r"""jDE (Brest et al., IEEE TEVC 10(6):646-657, 2006): DE/rand/1/bin whose :math:`F`
    and :math:`CR` are per-individual and self-adapted by :class:`JDEParameters`.

    Args:
        problem: A single-objective EvoTorch problem.
        popsize: Population size (optional with ``init_population``).
        init_population: Optional ``(N, d)`` starting individuals.
        strategy: The mutation strategy (default ``"rand/1"``, the paper's).
        tau_F, tau_CR: Regeneration probabilities (0.1).
        F_range, CR_range: Ranges of regenerated values ((0.1, 1.0) and (0, 1)).
        bounds_handling: ``"clip"``, ``"midpoint"`` or ``"none"``.
    """

    def __init__(
        self,
        problem: Problem,
        *,
        popsize: int | None = None,
        init_population: torch.Tensor | None = None,
        strategy="rand/1",
        tau_F: float = 0.1,
        tau_CR: float = 0.1,
        F_range: tuple[float, float] = (0.1, 1.0),
        CR_range: tuple[float, float] = (0.0, 1.0),
        bounds_handling: str = "clip",
    ):
        """Build the algorithm; the class docstring describes every argument."""
        lo, hi = check_range("F_range", F_range, 0.0, 2.0)
        c_lo, c_hi = check_range("CR_range", CR_range, 0.0, 1.0)
        F_init = min(max(0.5, lo), hi)
        CR_init = min(max(0.9, c_lo), c_hi)
        rule = JDEParameters(tau_F=tau_F, tau_CR=tau_CR, F_init=F_init, CR_init=CR_init,
                             F_range=F_range, CR_range=CR_range)
        super().__init__(problem, popsize=popsize, init_population=init_population,
                         strategies=strategy, parameters=rule, bounds_handling=bounds_handling)
