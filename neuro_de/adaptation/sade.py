r"""SaDE's strategy learning and CR median memory (Qin, Huang & Suganthan 2009).

Both live on the host (NumPy arrays) and update with one compiled kernel per generation
(:mod:`neuro_de.host.kernels`); their tensors (``probabilities``, ``means``, the
window counts) are CPU tensors sharing that memory.
"""

from __future__ import annotations

import numpy as np
import torch

from ..host import as_host, host_dtype, host_view, uniforms
from ..host.kernels import learner_record, median_window_record, strategy_draw

__all__ = ["StrategyLearner", "MedianCRMemory"]

SAMPLINGS = ("sus", "roulette")


class StrategyLearner:
    r"""Strategy selection probabilities learned from successes over a learning period.

    For the generations :math:`g-LP, \dots, g-1` of the sliding window, with
    :math:`ns_{k}` the number of trials of strategy :math:`k` that succeeded (strictly better
    than their parent) and :math:`nf_{k}` the number that did not:

    .. math::
        S_k = \frac{\sum ns_k}{\sum ns_k + \sum nf_k} + \epsilon, \qquad
        p_k = \frac{S_k}{\sum_j S_j}

    During the first :math:`LP` generations all :math:`p_k = 1/K`; afterwards the
    probabilities are recomputed every generation (SaDE, 2009, Sec. IV-A). A strategy not
    used in the window gets :math:`S_k = \epsilon`.

    Args:
        num_strategies: :math:`K`.
        learning_period: :math:`LP` (SaDE: 50; the seed paper's queue of size :math:`H`).
        epsilon: :math:`\epsilon` (SaDE: 0.01), keeps every strategy alive.
        sampling: ``"sus"`` (stochastic universal sampling, as in SaDE) or ``"roulette"``.
        adapt: If False, probabilities stay uniform (an ablation switch).
    """

    def __init__(
        self,
        num_strategies: int,
        *,
        learning_period: int = 50,
        epsilon: float = 0.01,
        sampling: str = "sus",
        adapt: bool = True,
    ):
        if num_strategies < 1:
            raise ValueError(f"`num_strategies` must be >= 1, got {num_strategies}.")
        if learning_period < 1:
            raise ValueError(f"`learning_period` must be >= 1, got {learning_period}.")
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be > 0, got {epsilon}.")
        if sampling not in SAMPLINGS:
            raise ValueError(f"`sampling` must be one of {SAMPLINGS}, got {sampling!r}.")
        self.num_strategies = int(num_strategies)
        self.learning_period = int(learning_period)
        self.epsilon = float(epsilon)
        self.sampling = sampling
        self.adapt = bool(adapt)
        self._p = np.full(num_strategies, 1.0 / num_strategies)
        # window[g, 0] failures, window[g, 1] successes per strategy, and their running
        # totals over the window (integer counts, exact in float64)
        self._window = np.zeros((learning_period, 2, num_strategies), np.int64)
        self._totals = np.zeros((2, num_strategies), np.float64)
        self.generations = 0

    @property
    def probabilities(self) -> torch.Tensor:
        r"""The current :math:`p_k` (a float64 CPU tensor sharing the learner's memory)."""
        return host_view(self._p)

    @probabilities.setter
    def probabilities(self, value) -> None:
        self._p[:] = as_host(value, np.float64)

    @property
    def successes(self) -> torch.Tensor:
        """``(LP, K)`` successes per window generation and strategy (a view)."""
        return host_view(self._window[:, 1])

    @property
    def failures(self) -> torch.Tensor:
        """``(LP, K)`` failures per window generation and strategy (a view)."""
        return host_view(self._window[:, 0])

    def draw(self, u: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Strategy ids into ``out`` (int64, length ``n``) from ``n`` uniforms ``u``."""
        strategy_draw(self._p, self.sampling == "sus", u, out)
        return out

    def sample(self, n: int, *, generator=None) -> torch.Tensor:
        """Assign a strategy id to each of ``n`` individuals, by the current probabilities
        (an int64 CPU tensor)."""
        out = np.empty(n, np.int64)
        return torch.from_numpy(self.draw(uniforms(n, generator), out))

    def record(self, strategy_ids, success) -> None:
        """Count one generation's successes/failures per strategy; update the probabilities."""
        row = self.generations % self.learning_period
        self.generations += 1
        learner_record(
            self._window, self._totals, row, as_host(strategy_ids, np.int64),
            as_host(success, np.bool_), self._p, self.epsilon,
            self.adapt and self.generations >= self.learning_period,
        )

    def window_success_rate(self) -> torch.Tensor:
        """Per-strategy success rate over the current window (NaN where unused)."""
        ns, total = self._totals[1], self._totals.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return torch.from_numpy(ns / total)

    def state_dict(self) -> dict:
        return {
            "probabilities": torch.tensor(self._p),
            "successes": torch.tensor(self._window[:, 1]),
            "failures": torch.tensor(self._window[:, 0]),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        self._p[:] = as_host(state["probabilities"], np.float64)
        self._window[:, 1] = as_host(state["successes"], np.int64)
        self._window[:, 0] = as_host(state["failures"], np.int64)
        self._totals[:] = self._window.sum(0)
        self.generations = int(state["generations"])


class MedianCRMemory:
    r"""SaDE's CR adaptation: :math:`CR_{k,i} \sim N(CRm_k, 0.1)`, with :math:`CRm_k` the
    median of the CR values that made strategy :math:`k` succeed in the last :math:`LP`
    generations.

    :math:`CRm_k` starts at ``init`` (0.5) and is kept fixed during the first :math:`LP`
    generations; afterwards it is recomputed every generation from the window (the median of
    an even count is the mean of the two middle values). A strategy with no success in the
    window keeps its previous :math:`CRm_k`.
    """

    def __init__(
        self,
        num_strategies: int,
        popsize: int,
        *,
        learning_period: int = 50,
        init: float = 0.5,
        dtype: torch.dtype = torch.float32,
    ):
        self.learning_period = int(learning_period)
        np_dtype = host_dtype(dtype)
        self._means = np.full(num_strategies, float(init), np_dtype)
        self._values = np.full((learning_period, popsize), np.nan, np_dtype)
        self._ids = np.full((learning_period, popsize), -1, np.int64)
        self.generations = 0

    @property
    def means(self) -> torch.Tensor:
        r"""The current :math:`CRm_k` (a CPU tensor sharing the memory's storage)."""
        return host_view(self._means)

    @property
    def host_means(self) -> np.ndarray:
        return self._means

    def record(self, strategy_ids, cr, success) -> None:
        row = self.generations % self.learning_period
        self.generations += 1
        median_window_record(
            self._values, self._ids, row, as_host(cr, self._values.dtype),
            as_host(strategy_ids, np.int64), as_host(success, np.bool_), self._means,
            self.generations >= self.learning_period,
        )

    def state_dict(self) -> dict:
        return {
            "means": torch.tensor(self._means),
            "values": torch.tensor(self._values),
            "ids": torch.tensor(self._ids),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        self._means[:] = as_host(state["means"], self._means.dtype)
        self._values[:] = as_host(state["values"], self._values.dtype)
        self._ids[:] = as_host(state["ids"], np.int64)
        self.generations = int(state["generations"])
