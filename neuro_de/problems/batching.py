"""A seeded, resumable stream of minibatch indices, and fetching those samples.

The stream is what makes a run of :class:`~neuro_de.problems.SupervisedNetProblem`
reproducible and resumable: which samples form minibatch ``k`` is a pure function of
``(seed, k)``, independent of PyTorch's global random state, and the whole state of
the stream is three integers.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

__all__ = ["MinibatchStream", "fetch_samples", "dataset_labels", "dataset_labels_max"]

# Mixing constant (the 64-bit golden ratio) used to derive one generator seed per epoch.
_GOLDEN = 0x9E3779B97F4A7C15
_MASK63 = (1 << 63) - 1


class MinibatchStream:
    r"""An endless, seeded stream of minibatches of sample indices.

    The data set of ``num_samples`` items is shuffled once per *epoch* with a
    permutation drawn from a private :class:`torch.Generator` seeded with
    :math:`s_e = (s \cdot \varphi + e) \bmod 2^{63}` (``s`` the stream's seed, ``e`` the
    epoch, :math:`\varphi` the 64-bit golden-ratio constant), and cut into
    :math:`\lfloor n / b \rfloor` consecutive minibatches of exactly ``batch_size``
    indices (the incomplete tail of each epoch is dropped, so every minibatch has the same
    shape; different epochs drop different samples). Minibatch ``k`` of the stream is thus
    a pure function of ``(seed, k)``: the global RNG is never touched, and
    :meth:`state_dict` is three integers.

    Args:
        num_samples: Size of the data set (``n``).
        batch_size: Samples per minibatch (``b``), ``1 <= b <= n``.
        seed: Seed of the stream. ``None`` draws one from the operating system's entropy
            (recorded in :meth:`state_dict`, so even an unseeded run can be resumed).

    Raises:
        ValueError: If ``num_samples`` or ``batch_size`` is not a positive integer, or
            ``batch_size > num_samples``.
    """

    def __init__(self, num_samples: int, batch_size: int, *, seed: int | None = None):
        _check_positive_int(num_samples, "num_samples")
        _check_positive_int(batch_size, "batch_size")
        if batch_size > num_samples:
            raise ValueError(
                f"`batch_size` ({batch_size}) is larger than the data set ({num_samples} "
                f"samples); pass batch_size <= {num_samples}."
            )
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.seed = int(secrets.randbits(62)) if seed is None else int(seed)
        self.epoch = 0
        self.position = 0  # index of the next minibatch inside the current epoch
        self._perm: torch.Tensor | None = None
        self._perm_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        """Number of minibatches in one epoch, ``floor(num_samples / batch_size)``."""
        return self.num_samples // self.batch_size

    @property
    def batches_drawn(self) -> int:
        """How many minibatches the stream has produced so far."""
        return self.epoch * self.batches_per_epoch + self.position

    def _permutation(self, epoch: int) -> torch.Tensor:
        if self._perm is None or self._perm_epoch != epoch:
            gen = torch.Generator(device="cpu")
            gen.manual_seed((self.seed * _GOLDEN + epoch) & _MASK63)
            self._perm = torch.randperm(self.num_samples, generator=gen)
            self._perm_epoch = epoch
        return self._perm

    def peek(self) -> torch.Tensor:
        """Indices of the next minibatch, without advancing the stream."""
        perm = self._permutation(self.epoch)
        start = self.position * self.batch_size
        return perm[start : start + self.batch_size].clone()

    def next(self) -> torch.Tensor:
        """Return the indices (a CPU ``int64`` tensor) of the next minibatch and advance."""
        out = self.peek()
        self.position += 1
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
        return out

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        return self.next()

    def state_dict(self) -> dict[str, int]:
        """The stream's complete state: seed, epoch, position, and the batch geometry."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a state produced by :meth:`state_dict` (of a stream of the same shape).

        Raises:
            ValueError: If the state was recorded for another data-set size or batch size.
        """
        for key in ("num_samples", "batch_size"):
            if key in state and int(state[key]) != getattr(self, key):
                raise ValueError(
                    f"Cannot load a minibatch-stream state recorded with {key}={state[key]} "
                    f"into a stream with {key}={getattr(self, key)}; build the problem with the "
                    "same data set and batch_size as the run being resumed."
                )
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._perm = None
        self._perm_epoch = -1

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_perm"] = None  # recomputed on demand; keeps pickles small
        state["_perm_epoch"] = -1
        return state

    def __repr__(self) -> str:
        return (
            f"MinibatchStream(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"seed={self.seed}, epoch={self.epoch}, position={self.position})"
        )


def _check_positive_int(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _tensor_storage(dataset: Dataset) -> tuple[Sequence[torch.Tensor], torch.Tensor | None] | None:
    """``(tensors, index_map)`` when ``dataset`` is a ``TensorDataset``-like data set (anything
    with a ``.tensors`` pair) or a chain of ``Subset``s over one, else ``None``.

    ``index_map`` maps the data set's indices to rows of the tensors (``None``: identity).
    """
    index_map = None
    base = dataset
    while isinstance(base, Subset):
        idx = torch.as_tensor(base.indices, dtype=torch.int64)
        index_map = idx if index_map is None else idx[index_map]
        base = base.dataset
    tensors = getattr(base, "tensors", None)
    if (
        isinstance(tensors, (tuple, list))
        and len(tensors) >= 2
        and all(isinstance(t, torch.Tensor) for t in tensors[:2])
        and len(tensors[0]) == len(tensors[1])
        and (index_map is not None or len(tensors[0]) == len(dataset))
    ):
        return tensors, index_map
    return None


def fetch_samples(
    dataset: Dataset, indices: torch.Tensor, *, num_workers: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather the ``(inputs, labels)`` of ``dataset`` at ``indices`` as two stacked tensors.

    A ``TensorDataset`` (anything with a ``.tensors`` pair), or a chain of ``Subset``s over
    one, is indexed directly (one gather per tensor); any other
    map-style data set is read item by item, through a ``DataLoader`` with ``num_workers``
    worker processes when ``num_workers > 0``.
    """
    storage = _tensor_storage(dataset)
    if storage is not None:
        tensors, index_map = storage
        rows = indices if index_map is None else index_map[indices]
        return tensors[0][rows], tensors[1][rows]
    idx = [int(i) for i in indices]
    if num_workers > 0:
        from torch.utils.data import DataLoader

        loader = DataLoader(Subset(dataset, idx), batch_size=len(idx), num_workers=num_workers)
        x, y = next(iter(loader))[:2]
        return x, torch.as_tensor(y)
    xs, ys = [], []
    for i in idx:
        item = dataset[i]
        xs.append(torch.as_tensor(item[0]))
        ys.append(torch.as_tensor(item[1]))
    return torch.stack(xs), torch.stack(ys)


def dataset_labels(dataset: Dataset) -> torch.Tensor | None:
    """Every label of ``dataset`` when it is cheap to know, else ``None``.

    Cheap: tensor storage (a ``TensorDataset``) or a ``targets`` attribute (as torchvision
    data sets have), directly or under a chain of ``Subset``s.
    """
    storage = _tensor_storage(dataset)
    if storage is not None:
        tensors, index_map = storage
        labels: Any = tensors[1]
    else:
        index_map = None
        base = dataset
        while isinstance(base, Subset):  # a Subset of a torchvision data set
            idx = torch.as_tensor(base.indices, dtype=torch.int64)
            index_map = idx if index_map is None else idx[index_map]
            base = base.dataset
        labels = getattr(base, "targets", None)
    if labels is None:
        return None
    try:
        labels = torch.as_tensor(labels)
        if index_map is not None:
            labels = labels[index_map]
    except (TypeError, ValueError, RuntimeError, IndexError):
        return None
    if labels.ndim == 0 or len(labels) != len(dataset):
        return None
    return labels


def dataset_labels_max(dataset: Dataset) -> int | None:
    """The largest label of ``dataset`` when it is cheap to know (tensor storage or
    a ``targets`` attribute, as torchvision data sets have), else ``None``."""
    storage = _tensor_storage(dataset)
    if storage is not None:
        tensors, index_map = storage
        labels = tensors[1] if index_map is None else tensors[1][index_map]
    else:
        labels = getattr(dataset, "targets", None)
    if labels is None:
        return None
    try:
        labels = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        return None
    if labels.numel() == 0 or labels.is_floating_point() or labels.ndim != 1:
        return None
    return int(labels.max())
