r"""SHADE's success-history memory and external archive (Tanabe & Fukunaga 2013)."""

from __future__ import annotations

import torch

__all__ = ["SuccessHistoryMemory", "Archive", "weighted_mean"]

MEANS = ("lehmer", "arithmetic")


def weighted_mean(
    values: torch.Tensor,
    weights: torch.Tensor,
    groups: torch.Tensor,
    num_groups: int,
    *,
    kind: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-group weighted means, loop-free (``scatter_add`` over group ids).

    Lehmer: :math:`\sum w v^2 / \sum w v`; arithmetic: :math:`\sum w v / \sum w`, with
    :math:`w_k = \Delta f_k / \sum \Delta f` (the normalisation cancels in both ratios).

    Returns:
        ``(means, has_data)``: ``(num_groups,)`` means (0 where undefined) and a bool mask of
        the groups that had at least one value.
    """
    if kind not in MEANS:
        raise ValueError(f"Mean kind must be one of {MEANS}, got {kind!r}.")
    dt = torch.float64
    v, w = values.to(dt), weights.to(dt)
    zeros = torch.zeros(num_groups, dtype=dt, device=values.device)
    count = zeros.scatter_add(0, groups, torch.ones_like(w))
    wv = zeros.scatter_add(0, groups, w * v)
    if kind == "lehmer":
        num = zeros.scatter_add(0, groups, w * v * v)
        den = wv
    else:
        num = wv
        den = zeros.scatter_add(0, groups, w)
    safe = torch.where(den > 0, den, torch.ones_like(den))
    means = torch.where(den > 0, num / safe, torch.zeros_like(num))
    return means.to(values.dtype), count > 0


class SuccessHistoryMemory:
    r"""A circular memory :math:`M` of size :math:`H`, one row per strategy.

    Each generation, for every strategy :math:`k` that produced at least one success, the
    weighted mean of its successful parameter values is written at position
    :math:`pos_k`, which then advances: :math:`pos_k \leftarrow (pos_k + 1) \bmod H`.
    Strategies without success leave their row untouched (SHADE's "no update" rule).

    Args:
        num_strategies: Number of rows (1 for plain SHADE).
        size: Memory size :math:`H`.
        init: Initial value of every cell (SHADE: 0.5).
        mean: ``"lehmer"`` (SHADE's rule for F) or ``"arithmetic"`` (SHADE 2013's for CR).
        device: Device of the memory.
    """

    def __init__(
        self,
        num_strategies: int,
        size: int,
        *,
        init: float = 0.5,
        mean: str = "lehmer",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if size < 1:
            raise ValueError(f"Memory size `H` must be >= 1, got {size}.")
        if mean not in MEANS:
            raise ValueError(f"`mean` must be one of {MEANS}, got {mean!r}.")
        self.size = int(size)
        self.mean = mean
        self.values = torch.full((num_strategies, size), float(init), device=device, dtype=dtype)
        self.position = torch.zeros(num_strategies, dtype=torch.int64, device=device)

    def sample_slots(self, n: int, *, generator=None) -> torch.Tensor:
        """Random memory slots :math:`r_i \\sim U\\{0, H-1\\}`, one per individual."""
        return torch.randint(0, self.size, (n,), generator=generator, device=self.values.device)

    def locations(self, strategy_ids: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """The memory cells :math:`M_{k_i, r_i}` (distribution centres) for each individual."""
        return self.values[strategy_ids, slots]

    def update(
        self, strategy_ids: torch.Tensor, values: torch.Tensor, improvements: torch.Tensor
    ) -> torch.Tensor:
        """Record the successful ``values`` (with their :math:`\\Delta f`) of one generation.

        Args:
            strategy_ids: ``(s,)`` strategy of each success.
            values: ``(s,)`` the successful parameter values.
            improvements: ``(s,)`` :math:`|f(u_i) - f(x_i)| > 0`, the weights.

        Returns:
            The ``(num_strategies,)`` bool mask of rows that were updated.
        """
        k = self.values.shape[0]
        means, has = weighted_mean(values, improvements, strategy_ids, k, kind=self.mean)
        rows = torch.arange(k, device=self.values.device)
        current = self.values[rows, self.position]
        self.values[rows, self.position] = torch.where(has, means, current)
        self.position = torch.where(has, (self.position + 1) % self.size, self.position)
        return has

    def state_dict(self) -> dict:
        return {"values": self.values.clone(), "position": self.position.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.values.copy_(state["values"])
        self.position.copy_(state["position"])


class Archive:
    r"""External archive of parents beaten by their trials (JADE/SHADE).

    Beaten parents are appended; when the archive would exceed its capacity, random members
    (old or new) are deleted until it fits, as in JADE and SHADE.
    """

    def __init__(self, capacity: int, dim: int, *, device=None, dtype=torch.float32):
        if capacity < 0:
            raise ValueError(f"Archive capacity must be >= 0, got {capacity}.")
        self.capacity = int(capacity)
        self.data = torch.empty((self.capacity, dim), device=device, dtype=dtype)
        self.count = 0

    @property
    def members(self) -> torch.Tensor:
        """The ``(count, d)`` current members (a view)."""
        return self.data[: self.count]

    def add(self, rows: torch.Tensor, *, generator=None) -> None:
        """Insert the ``(k, d)`` beaten parents ``rows``."""
        k = rows.shape[0]
        if k == 0 or self.capacity == 0:
            return
        if self.count + k <= self.capacity:
            self.data[self.count : self.count + k] = rows
            self.count += k
            return
        total = self.count + k
        keep = torch.randperm(total, generator=generator, device=self.data.device)
        keep = keep[: self.capacity]
        keep, _ = torch.sort(keep)
        pool = torch.cat([self.members, rows], dim=0)
        self.data.copy_(pool.index_select(0, keep))
        self.count = self.capacity

    def state_dict(self) -> dict:
        return {"data": self.members.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.data[: self.count] = state["data"]
