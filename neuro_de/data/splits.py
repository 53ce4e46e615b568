"""Explicit, seeded train / held-out / test splits.

The held-out split, used for every selection decision (early stopping, greedy soups,
choosing among evolved networks), is carved from the *training* data; the test split is
only ever used to report the final numbers.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset, Subset

from .datasets import load_dataset

__all__ = ["DataSplits", "load_splits", "split_sizes", "train_heldout_split"]


class DataSplits(NamedTuple):
    """Training data, held-out data (from the training split), and test data."""

    train: Dataset
    heldout: Dataset
    test: Dataset


def split_sizes(n: int, heldout_fraction: float) -> tuple[int, int]:
    """``(n_train, n_heldout)`` with ``n_heldout = floor(heldout_fraction * n + 0.5)``.

    Raises:
        ValueError: If the fraction is not in (0, 1) or either part would be empty.
    """
    numeric = isinstance(heldout_fraction, (int, float)) and not isinstance(heldout_fraction, bool)
    if not numeric or not 0.0 < heldout_fraction < 1.0:  # also rejects NaN
        raise ValueError(
            f"`heldout_fraction` must be in (0, 1) (e.g. 0.1 for 10%), got {heldout_fraction!r}."
        )
    k = math.floor(heldout_fraction * n + 0.5)
    if k < 1 or k > n - 1:
        raise ValueError(
            f"`heldout_fraction={heldout_fraction}` of {n} samples leaves an empty "
            f"{'held-out' if k < 1 else 'training'} part; use a fraction between "
            f"{1 / n:.3g} and {1 - 1 / n:.3g}."
        )
    return n - k, k


def train_heldout_split(
    dataset: Dataset, heldout_fraction: float, *, seed: int
) -> tuple[Subset, Subset]:
    """Splits a training set into training and held-out parts, reproducibly.

    A permutation of ``range(len(dataset))`` is drawn from a ``torch.Generator`` seeded
    with ``seed``; its first ``floor(heldout_fraction * n + 0.5)`` indices form the
    held-out part. Both index lists are sorted. The parts are disjoint and cover the data.

    Args:
        dataset: Training data (never the test set).
        heldout_fraction: Fraction of samples held out, in (0, 1).
        seed: Seed of the permutation (required, so a split is always reproducible).

    Returns:
        ``(train, heldout)`` as :class:`torch.utils.data.Subset` of ``dataset``.

    Raises:
        ValueError: On a bad fraction or a data set too small to split.
    """
    n = len(dataset)
    _, k = split_sizes(n, heldout_fraction)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    heldout = torch.sort(perm[:k]).values.tolist()
    train = torch.sort(perm[k:]).values.tolist()
    return Subset(dataset, train), Subset(dataset, heldout)


def load_splits(
    name: str,
    *,
    heldout_fraction: float = 0.1,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = False,
    **load_kwargs: Any,
) -> DataSplits:
    """Loads a data set as ``(train, heldout, test)``.

    The held-out part is carved from the training split with :func:`train_heldout_split`;
    the test split is the data set's official one (for ``digits``, its fixed seeded split).

    Args:
        name: A name accepted by :func:`~neuro_de.data.load_dataset`.
        heldout_fraction: Fraction of the training split held out, in (0, 1).
        seed: Seed of the held-out split.
        root: Data root (see :func:`~neuro_de.data.load_dataset`).
        download: Passed to :func:`~neuro_de.data.load_dataset`.
        **load_kwargs: Other options of :func:`~neuro_de.data.load_dataset`.

    Returns:
        A :class:`DataSplits` named tuple.
    """
    split_sizes(1_000_000, heldout_fraction)  # validate before loading anything
    full_train = load_dataset(name, root=root, train=True, download=download, **load_kwargs)
    test = load_dataset(name, root=root, train=False, download=download, **load_kwargs)
    train, heldout = train_heldout_split(full_train, heldout_fraction, seed=seed)
    return DataSplits(train, heldout, test)
