r"""SHADE's success-history memory (Tanabe & Fukunaga 2013) and its weighted means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["MEANS", "SuccessHistoryMemory", "weighted_mean"]

MEANS = ("lehmer", "arithmetic")
# An infinite improvement (a trial beating a NaN/inf parent) weighs this much: it dominates
# its strategy's means, the limit of the weighted mean, without making inf / inf.
_INF_WEIGHT = 1e300


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
    The sums are taken in float64.

    Returns:
        ``(means, has_data)``: ``(num_groups,)`` means (0 where undefined) and a bool mask of
        the groups that had at least one value.
    """
    if kind not in MEANS:
        raise ValueError(f"Mean kind must be one of {MEANS}, got {kind!r}.")
    dt = torch.float64
    v, w = values.to(dt), weights.to(dt)
    groups = groups.to(device=v.device, dtype=torch.int64)
    zeros = torch.zeros(num_groups, dtype=dt, device=values.device)
    count = zeros.scatter_add(0, groups, torch.ones_like(w))
    wv = zeros.scatter_add(0, groups, w * v)
    if kind == "lehmer":
        num, den = zeros.scatter_add(0, groups, w * v * v), wv
    else:
        num, den = wv, zeros.scatter_add(0, groups, w)
    means = torch.where(den != 0, num / torch.where(den != 0, den, 1.0), 0.0).nan_to_num_(0.0)
    return means.to(values.dtype), count > 0


class SuccessHistoryMemory:
    r"""Circular memories of size :math:`H` for one or more parameters, one row per strategy.

    Each generation, for every strategy :math:`k` that produced at least one success, the
    weighted mean of its successful values of each parameter is written at position
    :math:`pos_k`, which then advances: :math:`pos_k \leftarrow (pos_k + 1) \bmod H`.
    Strategies without success leave their rows untouched (SHADE's "no update" rule). The
    parameters of one memory (SHADE: F and CR) share the slot draw and the position, as in
    SHADE.

    Args:
        num_strategies: Number of rows (1 for plain SHADE).
        size: Memory size :math:`H`.
        params: ``{name: (initial value, mean kind)}``, mean kind ``"lehmer"`` (SHADE's rule
            for F) or ``"arithmetic"`` (SHADE 2013's rule for CR). Default: one parameter
            ``"F"`` starting at 0.5 with the Lehmer mean.
        dtype: dtype of the stored means.
        device: Where the memory lives (the problem's device, so draws need no transfer).
    """

    def __init__(
        self,
        num_strategies: int,
        size: int,
        *,
        params: Mapping[str, tuple[float, str]] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Memory size `H` must be an int >= 1, got {size!r}.")
        params = dict(params or {"F": (0.5, "lehmer")})
        for name, (_, kind) in params.items():
            if kind not in MEANS:
                raise ValueError(f"Mean of {name!r} must be one of {MEANS}, got {kind!r}.")
        self.size = int(size)
        self.num_strategies = int(num_strategies)
        self.names = tuple(params)
        self.means = tuple(kind for _, kind in params.values())
        init = torch.tensor([float(v) for v, _ in params.values()], dtype=dtype, device=device)
        #: ``(P, K, H)`` memory cells, parameter by strategy by slot.
        self.values = init.reshape(-1, 1, 1).repeat(1, self.num_strategies, self.size)
        self._positions = torch.zeros(self.num_strategies, dtype=torch.int64, device=device)

    def to(self, device) -> SuccessHistoryMemory:
        """Move the memory to ``device`` (in place); returns it."""
        self.values = self.values.to(device)
        self._positions = self._positions.to(device)
        return self

    def __getitem__(self, name: str) -> torch.Tensor:
        """The ``(num_strategies, H)`` memory of parameter ``name`` (a view)."""
        return self.values[self.names.index(name)]

    def sample_slots(self, n: int, *, generator=None) -> torch.Tensor:
        r"""Random memory slots :math:`r_i \sim U\{0, H-1\}`, one per individual."""
        return torch.randint(0, self.size, (n,), generator=generator, device=self.values.device)

    def cells(self, strategy_ids: torch.Tensor | None, slots: torch.Tensor) -> torch.Tensor:
        r"""The ``(P, n)`` cells :math:`M_{p, k_i, r_i}` of every parameter for strategy ids
        :math:`k_i` (``None``: row 0 for everyone) and slots :math:`r_i`."""
        rows = torch.zeros_like(slots) if strategy_ids is None else strategy_ids
        return self.values[:, rows, slots]

    def update(
        self,
        strategy_ids,
        values: Mapping[str, torch.Tensor] | Sequence[torch.Tensor] | torch.Tensor,
        improvements,
    ) -> tuple[bool, ...]:
        r"""Record one generation's successes.

        The entries may be the successes alone or a whole generation: an entry of weight 0
        (a failure) or NaN (a non-finite trial) counts for nothing, so the caller need not
        select the successful rows first.

        Args:
            strategy_ids: ``(s,)`` strategy of each entry (None for a memory of one
                strategy).
            values: ``{name: (s,) values}`` for every parameter of the memory, a sequence of
                ``(s,)`` vectors, or a ``(P, s)`` tensor, in the memory's order.
            improvements: ``(s,)`` weights: :math:`f(x_i) - f(u_i) > 0` for a success, 0
                (or NaN) for anything else. An infinite one is capped at 1e300.

        Returns:
            For each strategy (row), whether it was updated (a positive total weight).
        """
        dev = self.values.device
        if isinstance(values, Mapping):
            values = [values[n] for n in self.names]
        if isinstance(values, (list, tuple)):
            params = [torch.as_tensor(v, dtype=torch.float64).to(dev) for v in values]
        else:
            params = list(torch.as_tensor(values, dtype=torch.float64).to(dev))
        w = torch.as_tensor(improvements, dtype=torch.float64).to(dev)
        w = torch.where(w > 0, w.clamp(max=_INF_WEIGHT), 0.0)  # NaN and failures: 0
        if strategy_ids is None:
            groups = torch.zeros(w.shape, dtype=torch.int64, device=dev)
        else:
            groups = torch.as_tensor(strategy_ids).to(device=dev, dtype=torch.int64)
        total = torch.zeros(self.num_strategies, dtype=torch.float64, device=dev)
        updated = total.scatter_add(0, groups, w) > 0
        rows = torch.arange(self.num_strategies, device=dev)
        for p, kind in enumerate(self.means):
            means, _ = weighted_mean(params[p], w, groups, self.num_strategies, kind=kind)
            current = self.values[p, rows, self._positions]
            self.values[p, rows, self._positions] = torch.where(
                updated, means.to(self.values.dtype), current
            )
        self._positions = torch.where(updated, (self._positions + 1) % self.size,
                                      self._positions)
        return tuple(bool(u) for u in updated.tolist())

    @property
    def position(self) -> torch.Tensor:
        """The ``(num_strategies,)`` write positions :math:`pos_k` (a new int64 tensor)."""
        return self._positions.clone()

    def state_dict(self) -> dict:
        return {"values": self.values.clone(), "position": self._positions.clone()}

    def load_state_dict(self, state: dict) -> None:
        values = torch.as_tensor(state["values"])
        position = torch.as_tensor(state["position"]).reshape(-1)
        if tuple(values.shape) != tuple(self.values.shape):
            raise ValueError(
                f"Memory state has shape {tuple(values.shape)}, expected "
                f"{tuple(self.values.shape)}: it was saved with other settings."
            )
        self.values.copy_(values)
        self._positions = position.to(device=self.values.device, dtype=torch.int64).clone()
