r"""Strategy selectors: which mutation strategy each individual uses in a generation.

A selector has a small interface: :meth:`~StrategySelector.select` gives an ``(N,)`` int64
strategy id per individual, :meth:`~StrategySelector.update` learns from the generation's
:class:`~neuro_de.adaptation.Outcome`, :attr:`~StrategySelector.probabilities` are the
current :math:`p_k` (logged as ``p/<key>``), and ``state_dict`` / ``load_state_dict``
carry its state through a checkpoint.

Built-ins: :class:`FixedStrategies` (fixed probabilities, e.g. Fan & Lampinen's TDE mix)
and :class:`StrategyLearner` (SaDE's learned probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .context import Generation, Outcome

__all__ = ["FixedStrategies", "SAMPLINGS", "StrategyLearner", "StrategySelector",
           "draw_strategies"]

SAMPLINGS = ("sus", "roulette")


def draw_strategies(
    probabilities: torch.Tensor, n: int, *, sus: bool, generator=None, device=None
) -> torch.Tensor:
    r"""``n`` strategy ids drawn with ``probabilities``.

    ``sus``: stochastic universal sampling (Baker 1987; SaDE): ``n`` equally spaced
    pointers :math:`(u + j)/n` into the cumulative probabilities, one uniform :math:`u`,
    then the ids shuffled so that no individual is tied to a strategy; each strategy gets
    the floor or the ceiling of its expected count. Otherwise (roulette) ``n`` independent
    draws.
    """
    p = probabilities.to(device=device, dtype=torch.float64)
    cumulative = torch.cumsum(p, 0)
    if sus:
        u = torch.rand(1, generator=generator, device=device, dtype=torch.float64)
        pointers = (u + torch.arange(n, device=device, dtype=torch.float64)) / n
    else:
        pointers = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    pointers = pointers * cumulative[-1]  # probabilities that sum to 1 up to rounding
    ids = torch.searchsorted(cumulative, pointers, right=True).clamp_(max=p.shape[0] - 1)
    if sus:
        ids = ids[torch.randperm(n, generator=generator, device=device)]
    return ids


class StrategySelector:
    """Base of strategy selectors. Subclasses implement :meth:`select` and, if they learn,
    :meth:`update` and the state methods.

    Args:
        num_strategies: Size of the pool, when known at construction (the algorithm checks
            it, or sets it through :meth:`setup`).
    """

    def __init__(self, num_strategies: int | None = None):
        self.num_strategies = None if num_strategies is None else int(num_strategies)

    def setup(self, *, num_strategies: int, popsize: int, device) -> None:
        """Called once by the algorithm before the first generation."""
        if self.num_strategies is not None and self.num_strategies != num_strategies:
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_strategies} strategies, the "
                f"pool has {num_strategies}."
            )
        self.num_strategies = int(num_strategies)

    def select(self, generation: Generation) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, outcome: Outcome) -> None:
        """Learn from a generation's outcome (nothing, by default)."""

    @property
    def probabilities(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FixedStrategies(StrategySelector):
    r"""Strategies drawn independently with fixed probabilities (uniform by default).

    Args:
        probabilities: One weight per strategy, each >= 0 and not all 0; ``None``: uniform.
            The weights are divided by their sum, so they need not add up to 1:
            ``(1, 1, 2)`` means 25%, 25% and 50%. This is intended (weights are a natural
            way to write them), so no warning is given when the sum is not 1.
    """

    def __init__(self, probabilities: Sequence[float] | None = None):
        super().__init__(None if probabilities is None else len(probabilities))
        self._given = None
        if probabilities is not None:
            p = torch.as_tensor([float(v) for v in probabilities], dtype=torch.float64)
            if (p.numel() == 0 or not bool(torch.isfinite(p).all()) or bool((p < 0).any())
                    or float(p.sum()) <= 0):
                raise ValueError(
                    "Strategy probabilities must be finite, >= 0 and not all 0, got "
                    f"{p.tolist()}."
                )
            self._given = p / p.sum()
        self._p = self._given

    def setup(self, *, num_strategies: int, popsize: int, device) -> None:
        super().setup(num_strategies=num_strategies, popsize=popsize, device=device)
        p = self._given
        if p is None:
            p = torch.full((num_strategies,), 1.0 / num_strategies, dtype=torch.float64)
        self._p = p.to(device)

    @property
    def probabilities(self) -> torch.Tensor:
        return self._p

    def select(self, generation: Generation) -> torch.Tensor:
        if generation.num_strategies == 1:
            return torch.zeros(generation.popsize, dtype=torch.int64, device=generation.device)
        return draw_strategies(self._p, generation.popsize, sus=False,
                               generator=generation.generator, device=generation.device)


class StrategyLearner(StrategySelector):
    r"""SaDE's strategy selection: probabilities learned from successes over a learning
    period (Qin, Huang & Suganthan, IEEE TEVC 2009, Sec. IV-A).

    For the generations :math:`g-LP, \dots, g-1` of the sliding window, with
    :math:`ns_{k}` the number of trials of strategy :math:`k` that succeeded (strictly better
    than their parent) and :math:`nf_{k}` the number that did not:

    .. math::
        S_k = \frac{\sum ns_k}{\sum ns_k + \sum nf_k} + \epsilon, \qquad
        p_k = \frac{S_k}{\sum_j S_j}

    During the first :math:`LP` generations all :math:`p_k = 1/K`; afterwards the
    probabilities are recomputed every generation. A strategy not used in the window gets
    :math:`S_k = \epsilon`.

    Args:
        num_strategies: :math:`K` (optional: the algorithm sets it from its pool).
        learning_period: :math:`LP` (SaDE: 50; the seed paper's queue of size :math:`H`).
        epsilon: :math:`\epsilon` (SaDE: 0.01), keeps every strategy alive.
        sampling: ``"sus"`` (stochastic universal sampling, as in SaDE) or ``"roulette"``.
        adapt: If False, probabilities stay uniform (an ablation switch).
    """

    def __init__(
        self,
        num_strategies: int | None = None,
        *,
        learning_period: int = 50,
        epsilon: float = 0.01,
        sampling: str = "sus",
        adapt: bool = True,
    ):
        if num_strategies is not None and num_strategies < 1:
            raise ValueError(f"`num_strategies` must be >= 1, got {num_strategies}.")
        if isinstance(learning_period, bool) or not isinstance(learning_period, int) or (
            learning_period < 1
        ):
            raise ValueError(f"`learning_period` must be >= 1 (an int), got {learning_period!r}.")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0, got {epsilon}.")
        if sampling not in SAMPLINGS:
            raise ValueError(f"`sampling` must be one of {SAMPLINGS}, got {sampling!r}.")
        super().__init__(num_strategies)
        self.learning_period = int(learning_period)
        self.epsilon = float(epsilon)
        self.sampling = sampling
        self.adapt = bool(adapt)
        self.generations = 0
        if num_strategies is not None:
            self._allocate(int(num_strategies), None)

    def _allocate(self, k: int, device) -> None:
        self._p = torch.full((k,), 1.0 / k, dtype=torch.float64, device=device)
        # window[g, 0] failures, window[g, 1] successes per strategy
        self._window = torch.zeros((self.learning_period, 2, k), dtype=torch.int64,
                                   device=device)

    def setup(self, *, num_strategies: int, popsize: int, device) -> None:
        known = self.num_strategies is not None
        super().setup(num_strategies=num_strategies, popsize=popsize, device=device)
        if not known:
            self._allocate(num_strategies, device)
        self._p, self._window = self._p.to(device), self._window.to(device)

    @property
    def probabilities(self) -> torch.Tensor:
        r"""The current :math:`p_k` (float64)."""
        return self._p

    @probabilities.setter
    def probabilities(self, value) -> None:
        self._p = torch.as_tensor(value, dtype=torch.float64).to(self._p.device).clone()

    @property
    def successes(self) -> torch.Tensor:
        """``(LP, K)`` successes per window generation and strategy."""
        return self._window[:, 1]

    @property
    def failures(self) -> torch.Tensor:
        """``(LP, K)`` failures per window generation and strategy."""
        return self._window[:, 0]

    def sample(self, n: int, *, generator=None) -> torch.Tensor:
        """A strategy id for each of ``n`` individuals, by the current probabilities."""
        return draw_strategies(self._p, n, sus=self.sampling == "sus", generator=generator,
                               device=self._p.device)

    def select(self, generation: Generation) -> torch.Tensor:
        return draw_strategies(self._p, generation.popsize, sus=self.sampling == "sus",
                               generator=generation.generator, device=generation.device)

    def record(self, strategy_ids, success) -> None:
        """Count one generation's successes/failures per strategy; update the probabilities."""
        k = self._p.shape[0]
        ids = torch.as_tensor(strategy_ids).to(device=self._p.device, dtype=torch.int64)
        won = torch.as_tensor(success).to(device=self._p.device, dtype=torch.int64)
        row = self.generations % self.learning_period
        self.generations += 1
        self._window[row] = torch.bincount(ids * 2 + won, minlength=2 * k).reshape(k, 2).T
        if self.adapt and self.generations >= self.learning_period:
            totals = self._window.sum(0).to(torch.float64)
            used = totals.sum(0)
            s = torch.where(used > 0, totals[1] / used.clamp(min=1), 0.0) + self.epsilon
            self._p = s / s.sum()

    def update(self, outcome: Outcome) -> None:
        self.record(outcome.strategy_ids, outcome.improved)

    def window_success_rate(self) -> torch.Tensor:
        """Per-strategy success rate over the current window (NaN where unused)."""
        totals = self._window.sum(0).to(torch.float64)
        return totals[1] / totals.sum(0)

    def state_dict(self) -> dict:
        return {
            "probabilities": self._p.clone(),
            "successes": self._window[:, 1].clone(),
            "failures": self._window[:, 0].clone(),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        dev = self._p.device
        self._p = torch.as_tensor(state["probabilities"], dtype=torch.float64).to(dev).clone()
        self._window[:, 1] = torch.as_tensor(state["successes"]).to(dev)
        self._window[:, 0] = torch.as_tensor(state["failures"]).to(dev)
        self.generations = int(state["generations"])
