r"""SaDE's CR median memory (Qin, Huang & Suganthan 2009)."""

from __future__ import annotations

import torch

__all__ = ["MedianCRMemory"]


class MedianCRMemory:
    r"""SaDE's CR adaptation: :math:`CR_{k,i} \sim N(CRm_k, 0.1)`, with :math:`CRm_k` the
    median of the CR values that made strategy :math:`k` succeed in the last :math:`LP`
    generations.

    :math:`CRm_k` starts at ``init`` (0.5) and is kept fixed during the first :math:`LP`
    generations; afterwards it is recomputed every generation from the window (the median of
    an even count is the mean of the two middle values). A strategy with no success in the
    window keeps its previous :math:`CRm_k`.

    Args:
        num_strategies: :math:`K`.
        popsize: The widest generation recorded (a smaller one is padded).
        learning_period: :math:`LP`.
        init: The first :math:`CRm_k`.
        dtype, device: Of the stored values.
    """

    def __init__(
        self,
        num_strategies: int,
        popsize: int,
        *,
        learning_period: int = 50,
        init: float = 0.5,
        dtype: torch.dtype = torch.float32,
        device=None,
    ):
        self.learning_period = int(learning_period)
        self._means = torch.full((num_strategies,), float(init), dtype=dtype, device=device)
        self._values = torch.full((learning_period, popsize), float("nan"), dtype=dtype,
                                  device=device)
        self._ids = torch.full((learning_period, popsize), -1, dtype=torch.int64, device=device)
        self.generations = 0

    @property
    def means(self) -> torch.Tensor:
        r"""The current :math:`CRm_k`."""
        return self._means

    def record(self, strategy_ids, cr, success) -> None:
        """Keep this generation's successful CRs in the window and, after the first
        :math:`LP` generations, recompute the medians."""
        dev = self._values.device
        ids = torch.as_tensor(strategy_ids).to(device=dev, dtype=torch.int64)
        won = torch.as_tensor(success).to(device=dev, dtype=torch.bool)
        cr = torch.as_tensor(cr).to(device=dev, dtype=self._values.dtype)
        n = ids.shape[0]
        row = self.generations % self.learning_period
        self.generations += 1
        self._values[row] = float("nan")
        self._ids[row] = -1
        self._values[row, :n] = torch.where(won, cr, float("nan"))
        self._ids[row, :n] = torch.where(won, ids, -1)
        if self.generations < self.learning_period:
            return
        k = self._means.shape[0]
        strategies = torch.arange(k, device=dev).reshape(k, 1)
        window = torch.where(self._ids.reshape(1, -1) == strategies,
                             self._values.reshape(1, -1), float("nan"))
        medians = torch.nanquantile(window.to(torch.float64), 0.5, dim=1)  # NaN: no success
        self._means = torch.where(medians.isnan(), self._means,
                                  medians.to(self._means.dtype))

    def state_dict(self) -> dict:
        return {
            "means": self._means.clone(),
            "values": self._values.clone(),
            "ids": self._ids.clone(),
            "generations": self.generations,
        }

    def load_state_dict(self, state: dict) -> None:
        dev = self._values.device
        self._means = torch.as_tensor(state["means"]).to(dev, self._means.dtype).clone()
        self._values.copy_(torch.as_tensor(state["values"]))
        self._ids.copy_(torch.as_tensor(state["ids"]))
        self.generations = int(state["generations"])
