r"""The external archive of JADE and SHADE (Zhang & Sanderson 2009; Tanabe & Fukunaga 2013)."""

from __future__ import annotations

import torch

from ..operators.rows import copy_rows

__all__ = ["Archive"]


class Archive:
    r"""External archive of parents beaten by their trials.

    Beaten parents are appended; when the archive would exceed its capacity, random members
    (old or new) are deleted until it fits, as in JADE and SHADE: the members and the
    newcomers together keep a uniformly random subset of ``capacity`` of them.

    Args:
        capacity: Maximum number of members (SHADE: the population size).
        dim: Length of a member vector.
        device, dtype: Of the storage, when it is allocated here.
        storage: Optional ``(capacity, dim)`` tensor to hold the members (for example the
            rows that follow the population in one block, so that an index into
            population ∪ archive is one gather); allocated when not given.
    """

    def __init__(
        self,
        capacity: int,
        dim: int,
        *,
        device=None,
        dtype=torch.float32,
        storage: torch.Tensor | None = None,
    ):
        if capacity < 0:
            raise ValueError(f"Archive capacity must be >= 0, got {capacity}.")
        self.capacity = int(capacity)
        if storage is None:
            storage = torch.empty((self.capacity, dim), device=device, dtype=dtype)
        elif tuple(storage.shape) != (self.capacity, dim):
            raise ValueError(
                f"Archive `storage` must have shape ({self.capacity}, {dim}), got "
                f"{tuple(storage.shape)}."
            )
        #: ``(capacity, dim)`` storage; the first :attr:`count` rows are the members.
        self.data = storage
        self.count = 0

    @property
    def members(self) -> torch.Tensor:
        """The ``(count, d)`` current members (a view)."""
        return self.data[: self.count]

    def add(
        self, rows: torch.Tensor, *, generator=None, index: torch.Tensor | None = None
    ) -> None:
        """Insert the beaten parents ``rows`` (``(k, d)``), or ``rows[index]`` when ``index``
        is given (only the newcomers that stay are then gathered).

        On overflow a uniformly random ``(count + k - capacity)``-subset of the members and
        newcomers is deleted (the first entries of a random permutation drawn from
        ``generator``); the surviving newcomers fill the deleted members' slots and the free
        tail, and nothing else moves.
        """
        dev = self.data.device
        if index is None:
            index = torch.arange(rows.shape[0], device=dev)
        index = index.to(device=dev, dtype=torch.int64).reshape(-1)
        k = index.shape[0]
        if k == 0 or self.capacity == 0:
            return
        total = self.count + k
        if total <= self.capacity:
            slots = torch.arange(self.count, total, device=dev)
        else:
            order = torch.randperm(total, generator=generator, device=dev)
            deleted = torch.zeros(total, dtype=torch.bool, device=dev)
            deleted[order[: total - self.capacity]] = True
            free = torch.arange(self.count, self.capacity, device=dev)
            slots = torch.cat([deleted[: self.count].nonzero().squeeze(1), free])
            index = index[~deleted[self.count :]]
        copy_rows(self.data, slots, rows, index.to(rows.device))
        self.count = min(self.capacity, total)

    def shrink(self, capacity: int, *, generator=None) -> None:
        """Lower the capacity (L-SHADE's archive follows the population size): a uniformly
        random subset of ``capacity`` members stays, moved to the first rows of the
        storage; the storage itself is not reallocated (see :attr:`data`)."""
        capacity = max(0, int(capacity))
        if capacity > self.capacity:
            raise ValueError(f"`shrink` lowers the capacity ({self.capacity}), got {capacity}.")
        if self.count > capacity:
            keep = torch.randperm(self.count, generator=generator, device=self.data.device)
            kept = self.data.index_select(0, keep[:capacity].sort().values)
            self.data[:capacity] = kept
            self.count = capacity
        self.capacity = capacity

    def state_dict(self) -> dict:
        return {"data": self.members.clone(), "count": self.count, "capacity": self.capacity}

    def load_state_dict(self, state: dict) -> None:
        count = int(state["count"])
        if count > self.data.shape[0]:
            raise ValueError(
                f"Archive state holds {count} members, more than the storage's "
                f"{self.data.shape[0]} rows: it was saved with other settings."
            )
        self.capacity = int(state.get("capacity", self.capacity))
        self.count = count
        self.data[:count] = state["data"].to(self.data)
