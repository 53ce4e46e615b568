"""Corrupted test sets as data sets a network reads: generated from a clean set, or released.

A network trained on normalised tensors (``ImageTensorDataset``) must see a corrupted image
exactly as it saw the clean ones. :func:`raw_images` recovers the 8-bit pixels of a clean
set by undoing its normalisation; a suite corrupts them; :func:`as_dataset` normalises them
back with the same ``DatasetInfo``. Both :class:`CorruptedSets` (generated) and
:class:`ReleasedSets` (the published MNIST-C / CIFAR-10-C files) yield
``(corruption, severity, data set)`` triples, which :func:`~neuro_de.robustness.evaluate.
robustness_errors` reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import DatasetInfo, dataset_info, to_tensors
from ..data.datasets import ImageTensorDataset
from .suite import SEVERITIES, CorruptionSuite

__all__ = ["CorruptedSets", "ReleasedSets", "as_dataset", "raw_images"]

_RANGE_SLACK = 1.0 / 255  # tolerated overshoot of [0, 1] after undoing the normalisation


def raw_images(
    dataset: Dataset, *, info: DatasetInfo | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit pixels and labels of a normalised image data set.

    Undoes ``(x - mean) / std`` with the set's ``DatasetInfo`` and rounds ``255 x`` to
    ``uint8``. For 8-bit data (MNIST, CIFAR) this gives back the stored pixels exactly; for
    other data (e.g. the resized ``digits``) it quantises to 8 bits, as saving an image would.

    Args:
        dataset: Samples ``(C, H, W)`` tensors with ``C`` 1 or 3 and integer labels (an
            :class:`~neuro_de.data.ImageTensorDataset` or a ``Subset`` of one is read in one
            indexing operation).
        info: The normalisation the set was made with (default: :func:`dataset_info`).

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, H, W)`` for one channel or ``(N, H, W, 3)``,
        and ``int64`` ``(N,)``.

    Raises:
        ValueError: Samples that are not ``(1|3, H, W)`` images, or values that fall outside
            ``[0, 1]`` once the normalisation is undone (the set was normalised with other
            statistics than ``info`` says: pass the right ``info``).
    """
    info = dataset_info(dataset) if info is None else info
    x, y = to_tensors(dataset)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"`dataset` samples must be (1, H, W) or (3, H, W) images, got {tuple(x.shape[1:])}."
        )
    c = x.shape[1]
    if len(info.mean) != c or len(info.std) != c:
        raise ValueError(
            f"`info` has {len(info.mean)} channel statistics for {c}-channel images; pass the "
            "DatasetInfo the set was normalised with."
        )
    mean = torch.tensor(info.mean, dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32).view(1, c, 1, 1)
    pixels = x.float() * std + mean
    lo, hi = float(pixels.min()), float(pixels.max())
    if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        raise ValueError(
            f"`dataset` values lie in [{lo:.3g}, {hi:.3g}] after undoing the normalisation "
            f"mean={info.mean}, std={info.std}, not in [0, 1]: the images were normalised with "
            "other statistics, or are not images in [0, 1]; pass the matching `info`."
        )
    raw = pixels.mul(255).round().clamp(0, 255).to(torch.uint8)
    raw = raw[:, 0] if c == 1 else raw.permute(0, 2, 3, 1)
    return raw.contiguous().numpy(), y.to(torch.int64).numpy()


def as_dataset(images: np.ndarray, labels: np.ndarray, info: DatasetInfo) -> ImageTensorDataset:
    """8-bit images ``(N, H, W)`` / ``(N, H, W, C)`` and labels as a data set normalised
    with ``info``'s mean and std (the inverse of :func:`raw_images`)."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)
    c = x.shape[1]
    if c != info.channels:
        raise ValueError(
            f"images have {c} channel(s) but `info` ({info.name!r}) describes {info.channels}."
        )
    mean = torch.tensor(info.mean, dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32).view(1, c, 1, 1)
    x = x.float().div(255).sub(mean).div(std)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    return ImageTensorDataset(x.contiguous(), y, info=info)


class CorruptedSets:
    """The corrupted copies of one clean test set, one per condition of a suite.

    Iterating yields ``(corruption, severity, data set)`` in the suite's order, generating
    each set when it is reached (and reading it from ``cache_dir`` when it is there), so
    only one corrupted copy is in memory at a time.

    Args:
        clean: The clean test set (normalised; see :func:`raw_images`).
        suite: The corruptions; its ``channels`` must match the images.
        info: The clean set's normalisation (default: :func:`dataset_info`).
        cache_dir: Keep the corrupted 8-bit images here (``<cache_dir>/<suite>/...npy``).
        workers: Worker processes for generating.
        progress: Progress bars while generating.

    Raises:
        ValueError: Grey images with an RGB suite or the reverse, images too small.
    """

    def __init__(
        self,
        clean: Dataset,
        suite: CorruptionSuite,
        *,
        info: DatasetInfo | None = None,
        cache_dir: str | os.PathLike | None = None,
        workers: int = 0,
        progress: bool = False,
    ):
        if not isinstance(suite, CorruptionSuite):
            raise TypeError(f"`suite` must be a CorruptionSuite, got {type(suite).__name__}.")
        self.info = dataset_info(clean) if info is None else info
        self.images, self.labels = raw_images(clean, info=self.info)
        if (self.images.ndim == 3) != (suite.channels == 1):
            kind = "grey" if self.images.ndim == 3 else "RGB"
            raise ValueError(
                f"the clean set holds {kind} images but the {suite.name} suite corrupts "
                f"{'grey' if suite.channels == 1 else 'RGB'} ones; use "
                f"CorruptionSuite.{'mnist_c' if kind == 'grey' else 'cifar10_c'}()."
            )
        from .suite import check_images

        check_images(self.images, channels=suite.channels, min_size=suite.min_size,
                     what="clean images")
        self.suite = suite
        self.cache_dir = cache_dir
        self.workers = workers
        self.progress = progress

    def conditions(self) -> list[tuple[str, int]]:
        """The ``(corruption, severity)`` pairs, in order."""
        return self.suite.conditions()

    def __len__(self) -> int:
        return len(self.conditions())

    def images_for(self, corruption: str, severity: int) -> np.ndarray:
        """The corrupted 8-bit images of one condition."""
        return self.suite.corrupt_cached(self.images, corruption, severity,
                                         cache_dir=self.cache_dir, workers=self.workers,
                                         progress=self.progress)

    def __iter__(self) -> Iterator[tuple[str, int, ImageTensorDataset]]:
        for name, severity in self.conditions():
            yield name, severity, as_dataset(self.images_for(name, severity), self.labels,
                                             self.info)


class ReleasedSets:
    """The published MNIST-C or CIFAR-10-C test sets, read from a local folder.

    Args:
        root: For MNIST-C the folder holding ``<corruption>/test_images.npy``; for
            CIFAR-10-C the one holding ``<corruption>.npy`` and ``labels.npy``.
        suite: ``"mnist-c"`` or ``"cifar10-c"``.
        info: The normalisation of the clean data the networks were trained on (e.g.
            ``dataset_info("mnist")``).
        corruptions: Names to read (default: MNIST-C's 15, or CIFAR-10-C's 15 common ones).
        severities: CIFAR-10-C levels (default 1-5); MNIST-C has one level per corruption.

    Raises:
        ValueError: Unknown suite or names; see :mod:`neuro_de.robustness.released` for the
            layout errors (raised at construction, before any evaluation).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        suite: str,
        info: DatasetInfo,
        corruptions: Sequence[str] | None = None,
        severities: Iterable[int] = SEVERITIES,
    ):
        from . import released

        key = str(suite).lower().replace("_", "-")
        if key not in ("mnist-c", "cifar10-c", "cifar-10-c"):
            raise ValueError(f"unknown `suite` {suite!r}; valid: 'mnist-c', 'cifar10-c'.")
        self.suite = "mnist-c" if key == "mnist-c" else "cifar10-c"
        self.root, self.info = root, info
        if self.suite == "mnist-c":
            from .mnist_c import MNIST_C_CORRUPTIONS, MNIST_C_SEVERITY

            names = list(corruptions or MNIST_C_CORRUPTIONS)
            self._conditions = [(n, MNIST_C_SEVERITY.get(n, 0)) for n in names]
        else:
            from .cifar_c import CIFAR_C_COMMON

            names = list(corruptions or CIFAR_C_COMMON)
            levels = tuple(severities)
            for s in levels:
                if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 5:
                    raise ValueError(f"`severities` must be integers in 1-5, got {levels!r}.")
            self._conditions = [(n, s) for n in names for s in levels]
        present = released.released_corruptions(root, suite=self.suite)
        missing = [n for n in names if n not in present]
        if missing:
            raise FileNotFoundError(
                f"{self.suite} under {str(root)!r} lacks {missing}; present: {present}. Pass "
                "`corruptions=` to read a subset."
            )

    def conditions(self) -> list[tuple[str, int]]:
        """The ``(corruption, severity)`` pairs, in order (MNIST-C: its released level)."""
        return list(self._conditions)

    def __len__(self) -> int:
        return len(self._conditions)

    def __iter__(self) -> Iterator[tuple[str, int, ImageTensorDataset]]:
        from . import released

        for name, severity in self._conditions:
            if self.suite == "mnist-c":
                images, labels = released.load_mnist_c(self.root, name)
            else:
                images, labels = released.load_cifar10_c(self.root, name, severity)
            yield name, severity, as_dataset(images, labels, self.info)

