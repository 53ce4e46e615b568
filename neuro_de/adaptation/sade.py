r"""SaDE's strategy learning and CR median memory (Qin, Huang & Suganthan 2009)."""

from __future__ import annotations

import torch

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
        device=None,
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
        self.probabilities = torch.full(
            (num_strategies,), 1.0 / num_strategies, dtype=torch.float64, device=device
        )
        # window[g, 0] failures, window[g, 1] successes per strategy; two views name them
        self._window = torch.zeros(
            (learning_period, 2, num_strategies), dtype=torch.int64, device=device
        )
        self.failures = self._window[:, 0]
        self.successes = self._window[:, 1]
        self._totals = torch.zeros((2, num_strategies), dtype=torch.float64, device=device)
        self.generations = 0
        self._pointers: torch.Tensor | None = None  # SUS pointer offsets 0..n-1, cached

    def sample(self, n: int, *, generator=None) -> torch.Tensor:
        """Assign a strategy id to each of ``n`` individuals, by the current probabilities."""
        p = self.probabilities
        if self.sampling == "roulette":
            return torch.multinomial(p, n, replacement=True, generator=generator)
        # Stochastic universal sampling: n equally spaced pointers, one random offset; the
        # assignments are then permuted so that no individual is tied to a strategy.
        offset = torch.rand((), generator=generator, device=p.device, dtype=p.dtype)
        if self._pointers is None or self._pointers.shape[0] != n:
            with torch.inference_mode(False):  # a cached ordinary tensor
                self._pointers = torch.arange(n, device=p.device, dtype=p.dtype) / n
        pointers = torch.add(self._pointers, offset, alpha=1.0 / n)  # (offset + j) / n
        ids = torch.searchsorted(torch.cumsum(p, 0), pointers, right=True)
        ids = ids.clamp_(max=self.num_strategies - 1)
        perm = torch.randperm(n, generator=generator, device=p.device)
        return ids.index_select(0, perm)

    def record(self, strategy_ids: torch.Tensor, success: torch.Tensor) -> None:
        """Count one generation's successes/failures per strategy; update the probabilities."""
        k = self.num_strategies
        row = self.generations % self.learning_period
        # bin s * K + id: the first K bins count failures, the next K successes; no host sync
        codes = torch.add(strategy_ids, success, alpha=k)
        counts = torch.bincount(codes, minlength=2 * k).view(2, k)
        # the window's totals, kept current: add the new row, drop the one it overwrites
        # (integer counts, held in float64: exactly the sum over the window)
        window_row = self._window[row]
        self._totals.add_(counts).sub_(window_row)
        window_row.copy_(counts)
        self.generations += 1
        if self.adapt and self.generations >= self.learning_period:
            total = self._totals.sum(0).clamp_(min=1)
            s = torch.div(self._totals[1], total).add_(self.epsilon)  # 0 + eps when unused
            self.probabilities = s.div_(s.sum())

    def window_success_rate(self) -> torch.Tensor:
        """Per-strategy success rate over the current window (NaN where unused)."""
        ns = self.successes.sum(0).to(torch.float64)
        total = ns + self.failures.sum(0).to(torch.float64)
        return ns / total

    def state_dict(self) -> dict:
        return {
            "probabilities": self.probabilities.clone(),
            "successes": self.successes.clone(),
            "failures": self.failures.clone(),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        self.probabilities = state["probabilities"].clone().to(self.probabilities.device)
        self.successes.copy_(state["successes"])
        self.failures.copy_(state["failures"])
        self._totals.copy_(self._window.sum(0))
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
        device=None,
        dtype=torch.float32,
    ):
        self.learning_period = int(learning_period)
        self.means = torch.full((num_strategies,), float(init), device=device, dtype=dtype)
        self.values = torch.full(
            (learning_period, popsize), float("nan"), device=device, dtype=dtype
        )
        self.ids = torch.full((learning_period, popsize), -1, device=device, dtype=torch.int64)
        self._twice_ids = torch.arange(num_strategies, device=device, dtype=torch.float64) * 2
        self._strategy_offsets = torch.arange(num_strategies, device=device) << 31
        self._one_zero = torch.tensor([[1], [0]], device=device)
        self._nan = torch.tensor(float("nan"), device=device, dtype=dtype)
        self._no_id = torch.tensor(-1, device=device)
        self.generations = 0

    def record(self, strategy_ids: torch.Tensor, cr: torch.Tensor, success: torch.Tensor) -> None:
        row = self.generations % self.learning_period
        cr = cr if cr.dtype == self.values.dtype else cr.to(self.values.dtype)
        strategy_ids = strategy_ids if strategy_ids.dtype == torch.int64 else strategy_ids.long()
        torch.where(success, cr, self._nan, out=self.values[row])  # written in place
        torch.where(success, strategy_ids, self._no_id, out=self.ids[row])
        self.generations += 1
        if self.generations >= self.learning_period:
            self._update_medians()

    def _update_medians(self) -> None:
        """:math:`CRm_k` = median of strategy k's successful CRs in the window, for every k
        at once: the successes sorted by ``(k, CR)`` in one sort, then the middle one or two
        of each strategy's block. A strategy without success in the window keeps its
        :math:`CRm_k`.

        The sort key is exact: for float32 CRs (in [0, 1], so their bit patterns order like
        their values) the integer ``k * 2**31 + bits(CR)``, which sorts faster than floats;
        otherwise the float64 ``2k + CR``.
        """
        flat_ids = self.ids.view(-1)
        hits = flat_ids >= 0
        ids = torch.masked_select(flat_ids, hits)  # the successes, in window order
        m = ids.shape[0]
        if m == 0:  # no success in the window: every CRm_k stays
            return
        cr = torch.masked_select(self.values.view(-1), hits)
        integer = cr.dtype == torch.float32
        if integer:  # abs_ turns a clipped -0.0 into +0.0, whose bits sort first
            key = cr.abs_().view(torch.int32).to(torch.int64).add_(ids, alpha=1 << 31)
        else:
            key = cr.to(torch.float64).add_(ids, alpha=2)
        key = key.sort().values
        counts = torch.bincount(ids, minlength=self.means.shape[0])
        # block k is key[start_k : start_k + count_k]; its middle ones are at
        # start_k + (count_k - 1) // 2 and start_k + count_k // 2, i.e. (b - 1) // 2 and
        # b // 2 with b = 2 start_k + count_k
        b = counts.cumsum(0).mul_(2).sub_(counts)
        # (b - 1) // 2 and b // 2 (a shift is a floor division, also of -1), one gather
        middle = key.index_select(
            0, torch.sub(b, self._one_zero).bitwise_right_shift_(1).clamp_(0, m - 1).view(-1)
        ).view(2, -1)
        if integer:
            middle = middle.sub_(self._strategy_offsets).to(torch.int32).view(torch.float32)
            med = middle.to(torch.float64).sum(0).mul_(0.5)
        else:
            med = middle.sum(0).mul_(0.5).sub_(self._twice_ids)
        self.means = torch.where(counts > 0, med.to(self.means.dtype), self.means)

    def state_dict(self) -> dict:
        return {
            "means": self.means.clone(),
            "values": self.values.clone(),
            "ids": self.ids.clone(),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        self.means = state["means"].clone().to(self.means.device)
        self.values.copy_(state["values"])
        self.ids.copy_(state["ids"])
        self.generations = int(state["generations"])
