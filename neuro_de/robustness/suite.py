r"""Corruption suites: named corruptions at severities, applied reproducibly to uint8 images.

A :class:`CorruptionSuite` maps corruption names to functions
``fn(image, severity, rng) -> image`` (``np.uint8`` in, ``np.uint8`` of the same shape out)
and says which severities of each it runs. Two are built in:

- :meth:`CorruptionSuite.mnist_c`: MNIST-C's 15 corruptions for grey images (Mu & Gilmer,
  2019; :mod:`neuro_de.robustness.mnist_c`), each at the severity the released data set
  uses, or at severities you choose;
- :meth:`CorruptionSuite.cifar10_c`: the 15 (+ 4 extra) corruptions of CIFAR-10-C /
  ImageNet-C for RGB images (Hendrycks & Dietterich, 2019;
  :mod:`neuro_de.robustness.cifar_c`), at severities 1-5.

Any mapping of your own functions makes a suite too (``CorruptionSuite({"invert": fn},
channels=1)``).

**Determinism.** Image ``i`` of a set corrupted by ``c`` at severity ``s`` under the suite's
``seed`` is computed with its own generator,

.. math::
    \text{rng}_{i,c,s} = \texttt{default\_rng}(\texttt{SeedSequence}([\text{seed},
    \operatorname{crc32}(c), s, i])),

so it depends only on ``(i, c, s, seed)``: not on the order, the chunking, the number of
worker processes, or which other images are corrupted in the same call. A corrupted test
set can therefore be generated in parallel, cached on disk and regenerated bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CorruptionFn", "CorruptionSuite", "SEVERITIES", "check_images"]

#: ``fn(image, severity, rng) -> corrupted image`` (uint8 in, uint8 of the same shape out).
CorruptionFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

#: The severities every built-in corruption defines.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

_CHUNK = 256  # images per task of a worker process


def check_images(images: Any, *, channels: int, min_size: int, what: str = "images") -> None:
    """Raise a clear error unless ``images`` is a uint8 batch the suite can corrupt.

    Args:
        images: ``np.uint8`` array ``(N, H, W)`` for grey suites (``channels == 1``) or
            ``(N, H, W, 3)`` for RGB suites.
        channels: 1 or 3.
        min_size: The smallest side the suite's corruptions accept.
        what: The argument's name in the message.

    Raises:
        TypeError: Not a NumPy array, or not ``uint8`` (the message says how to convert).
        ValueError: Wrong number of dimensions or channels, or images smaller than
            ``min_size``.
    """
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"`{what}` must be a NumPy uint8 array, got {type(images).__name__}; for a torch "
            "tensor of values in [0, 1] pass (t * 255).round().to(torch.uint8).numpy()."
        )
    if images.dtype != np.uint8:
        hint = (" Values in [0, 1]: pass (x * 255).round().astype(np.uint8)."
                if images.dtype.kind == "f" else "")
        raise TypeError(
            f"`{what}` must hold uint8 pixel values 0-255 (as the released MNIST-C and "
            f"CIFAR-10-C files do), got dtype {images.dtype}.{hint}"
        )
    layout = "(N, H, W)" if channels == 1 else f"(N, H, W, {channels})"
    ok = images.ndim == 3 if channels == 1 else (images.ndim == 4 and images.shape[-1] == channels)
    if not ok:
        extra = ""
        if channels == 1 and images.ndim == 4 and images.shape[-1] == 1:
            extra = " Drop the channel axis: images[..., 0]."
        elif channels == 1 and images.ndim == 4 and images.shape[1] == 1:
            extra = " Drop the channel axis: images[:, 0]."
        elif channels == 3 and images.ndim == 4 and images.shape[1] == 3:
            extra = " Move channels last: images.transpose(0, 2, 3, 1)."
        elif channels == 3 and images.ndim == 3:
            extra = " This suite is for RGB images; use CorruptionSuite.mnist_c() for grey ones."
        raise ValueError(
            f"`{what}` must have shape {layout} for this suite, got {tuple(images.shape)}.{extra}"
        )
    if images.shape[1] < min_size or images.shape[2] < min_size:
        raise ValueError(
            f"`{what}` are {images.shape[1]}x{images.shape[2]}; this suite's corruptions need "
            f"images of at least {min_size}x{min_size} (upsample them first)."
        )


def _severity_map(
    names: Sequence[str], severities: Mapping[str, Iterable[int]] | Iterable[int]
) -> dict[str, tuple[int, ...]]:
    if isinstance(severities, Mapping):
        missing = [n for n in names if n not in severities]
        unknown = [k for k in severities if k not in names]
        if unknown:
            raise ValueError(
                f"`severities` names corruptions the suite does not run: {unknown}; the suite's "
                f"corruptions are {list(names)}."
            )
        if missing:
            raise ValueError(f"`severities` gives no severity for {missing}.")
        raw = {n: severities[n] for n in names}
    else:
        levels = severities
        if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
            levels = (int(levels),)
        levels = tuple(levels)
        raw = dict.fromkeys(names, levels)
    out = {}
    for name, levels in raw.items():
        if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
            levels = (int(levels),)
        levels = tuple(levels)
        if not levels:
            raise ValueError(f"`severities` for {name!r} is empty; give levels in 1-5.")
        for s in levels:
            _check_severity(s)
        if len(set(levels)) != len(levels):
            raise ValueError(f"`severities` for {name!r} repeats a level: {levels}.")
        out[name] = tuple(int(s) for s in levels)
    return out


def _check_severity(severity: Any) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not (
        1 <= severity <= 5
    ):
        raise ValueError(f"`severity` must be an integer in 1-5, got {severity!r}.")
    return int(severity)


def _corrupt_chunk(
    suite: CorruptionSuite, images: np.ndarray, name: str, severity: int, start: int
) -> np.ndarray:
    fn = suite.corruptions[name]
    out = np.empty_like(images)
    for k in range(len(images)):
        result = fn(images[k], severity, suite.rng(name, severity, start + k))
        if result.shape != images[k].shape or result.dtype != np.uint8:
            raise RuntimeError(
                f"corruption {name!r} returned {result.dtype} {tuple(result.shape)} for a uint8 "
                f"{tuple(images[k].shape)} image; a corruption must return uint8 of the same "
                "shape."
            )
        out[k] = result
    return out


class CorruptionSuite:
    """Named corruptions, each run at its severities, applied reproducibly.

    Args:
        corruptions: Name -> ``fn(image, severity, rng)``; ``image`` is one ``np.uint8``
            image ``(H, W)`` (``channels=1``) or ``(H, W, 3)``, the result a new uint8 array
            of the same shape; every random number must come from ``rng``. For
            ``workers > 1`` the functions must be picklable (defined at module level).
        severities: The levels (1-5) each corruption runs at: one sequence for all, or a
            mapping name -> levels. Default all five.
        channels: 1 (grey images ``(N, H, W)``) or 3 (RGB ``(N, H, W, 3)``).
        min_size: The smallest image side the corruptions accept.
        seed: The suite's seed (see the module docstring).
        name: A label for reports and cache file names.

    Raises:
        ValueError: Empty ``corruptions``, severities outside 1-5, ``channels`` not 1 or 3.
        TypeError: A corruption that is not callable, a non-integer seed.
    """

    def __init__(
        self,
        corruptions: Mapping[str, CorruptionFn],
        *,
        severities: Mapping[str, Iterable[int]] | Iterable[int] = SEVERITIES,
        channels: int = 1,
        min_size: int = 8,
        seed: int = 0,
        name: str = "custom",
    ):
        if not isinstance(corruptions, Mapping) or not corruptions:
            raise ValueError("`corruptions` must be a non-empty mapping name -> function.")
        for key, fn in corruptions.items():
            if not isinstance(key, str) or not callable(fn):
                raise TypeError(
                    f"`corruptions` must map names (str) to functions fn(image, severity, "
                    f"rng); got {key!r}: {fn!r}."
                )
        if channels not in (1, 3):
            raise ValueError(f"`channels` must be 1 (grey) or 3 (RGB), got {channels!r}.")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"`seed` must be a non-negative integer, got {seed!r}.")
        self.corruptions: dict[str, CorruptionFn] = dict(corruptions)
        self.severities = _severity_map(list(self.corruptions), severities)
        self.channels = int(channels)
        self.min_size = int(min_size)
        self.seed = int(seed)
        self.name = str(name)

    # ------------------------------------------------------------------ the built-in suites

    @classmethod
    def mnist_c(
        cls,
        *,
        corruptions: Sequence[str] | None = None,
        severities: Mapping[str, Iterable[int]] | Iterable[int] | None = None,
        seed: int = 0,
    ) -> CorruptionSuite:
        """MNIST-C's corruptions for grey images (Mu & Gilmer, 2019).

        Args:
            corruptions: A subset of the 15 names (default all, in Table S4's order).
            severities: Default: each at the severity the released MNIST-C uses
                (:data:`~neuro_de.robustness.mnist_c.MNIST_C_SEVERITY`); or levels 1-5.
            seed: The suite's seed.
        """
        from .mnist_c import MNIST_C_CORRUPTIONS, MNIST_C_SEVERITY

        chosen = _subset(MNIST_C_CORRUPTIONS, corruptions, suite="MNIST-C")
        if severities is None:
            severities = {n: (MNIST_C_SEVERITY[n],) for n in chosen}
        return cls(chosen, severities=severities, channels=1, min_size=8, seed=seed,
                   name="mnist-c")

    @classmethod
    def cifar10_c(
        cls,
        *,
        corruptions: Sequence[str] | None = None,
        severities: Mapping[str, Iterable[int]] | Iterable[int] = SEVERITIES,
        seed: int = 0,
    ) -> CorruptionSuite:
        """CIFAR-10-C's corruptions for RGB images (Hendrycks & Dietterich, 2019).

        Args:
            corruptions: A subset of the 19 names; default the 15 common ones
                (:data:`~neuro_de.robustness.cifar_c.CIFAR_C_COMMON`), which mCE averages.
            severities: Default 1-5.
            seed: The suite's seed.
        """
        from .cifar_c import CIFAR_C_COMMON, CIFAR_C_CORRUPTIONS

        chosen = _subset(CIFAR_C_CORRUPTIONS, corruptions or CIFAR_C_COMMON, suite="CIFAR-10-C")
        return cls(chosen, severities=severities, channels=3, min_size=32, seed=seed,
                   name="cifar10-c")

    @classmethod
    def named(cls, name: str, **kwargs: Any) -> CorruptionSuite:
        """``"mnist-c"`` or ``"cifar10-c"`` with the options of that constructor."""
        key = str(name).lower().replace("_", "-")
        makers = {"mnist-c": cls.mnist_c, "cifar10-c": cls.cifar10_c, "cifar-10-c": cls.cifar10_c}
        if key not in makers:
            raise ValueError(f"unknown corruption suite {name!r}; valid: 'mnist-c', 'cifar10-c'.")
        return makers[key](**kwargs)

    # ------------------------------------------------------------------ facts

    def conditions(self) -> list[tuple[str, int]]:
        """Every ``(corruption, severity)`` the suite runs, in order."""
        return [(n, s) for n in self.corruptions for s in self.severities[n]]

    def __repr__(self) -> str:
        return (f"CorruptionSuite({self.name!r}, {len(self.corruptions)} corruptions, "
                f"{len(self.conditions())} conditions, seed={self.seed})")

    def check(self, corruption: str, severity: int) -> tuple[str, int]:
        """Validate a ``(corruption, severity)`` pair; return it normalised.

        Raises:
            ValueError: A name the suite does not hold (the valid ones are listed) or a
                severity outside 1-5.
        """
        if corruption not in self.corruptions:
            raise ValueError(
                f"unknown corruption {corruption!r} for the {self.name} suite; valid: "
                f"{', '.join(self.corruptions)}."
            )
        return corruption, _check_severity(severity)

    def rng(self, corruption: str, severity: int, index: int) -> np.random.Generator:
        """The generator image ``index`` is corrupted with (see the module docstring)."""
        key = zlib.crc32(corruption.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence([self.seed, key, severity, index]))

    # ------------------------------------------------------------------ corrupting

    def corrupt_image(
        self, image: np.ndarray, corruption: str, severity: int, *, index: int = 0
    ) -> np.ndarray:
        """One image ``(H, W)`` or ``(H, W, 3)``, corrupted as image ``index`` of a set."""
        if not isinstance(image, np.ndarray):
            check_images(image, channels=self.channels, min_size=self.min_size, what="image")
        return self.corrupt(image[None], corruption, severity, start=index)[0]

    def corrupt(
        self,
        images: np.ndarray,
        corruption: str,
        severity: int,
        *,
        start: int = 0,
        workers: int = 0,
        progress: bool = False,
    ) -> np.ndarray:
        """Corrupt a batch of images: image ``k`` is treated as image ``start + k`` of the set.

        Args:
            images: ``np.uint8`` ``(N, H, W)`` (grey suites) or ``(N, H, W, 3)`` (RGB).
            corruption: One of the suite's names.
            severity: 1-5.
            start: Index of ``images[0]`` in the whole set (for the per-image generator).
            workers: Worker processes (0 or 1: this process). The result is identical for
                any number of workers.
            progress: Show a progress bar.

        Returns:
            A new ``np.uint8`` array of the same shape.

        Raises:
            TypeError, ValueError: See :func:`check_images` and :meth:`check`.
        """
        corruption, severity = self.check(corruption, severity)
        check_images(images, channels=self.channels, min_size=self.min_size)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"`workers` must be an integer >= 0, got {workers!r}.")
        n = len(images)
        starts = list(range(0, n, _CHUNK))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"{corruption} s{severity}", unit="img", leave=False)
        out = np.empty_like(images)
        try:
            if workers > 1 and n > _CHUNK:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    futures = [pool.submit(_corrupt_chunk, self, images[i:i + _CHUNK],
                                           corruption, severity, start + i) for i in starts]
                    for i, fut in zip(starts, futures, strict=True):
                        out[i:i + _CHUNK] = fut.result()
                        if bar is not None:
                            bar.update(min(_CHUNK, n - i))
            else:
                for i in starts:
                    out[i:i + _CHUNK] = _corrupt_chunk(self, images[i:i + _CHUNK], corruption,
                                                       severity, start + i)
                    if bar is not None:
                        bar.update(min(_CHUNK, n - i))
        finally:
            if bar is not None:
                bar.close()
        return out

    def corrupt_cached(
        self,
        images: np.ndarray,
        corruption: str,
        severity: int,
        *,
        cache_dir: str | os.PathLike | None = None,
        workers: int = 0,
        progress: bool = False,
    ) -> np.ndarray:
        """:meth:`corrupt` a whole set, reading or writing ``cache_dir`` when given.

        The cache file is named after the suite, the corruption, the severity, the seed and
        a fingerprint of the clean images (so another data set never reads it), and is
        written atomically (a temporary file renamed into place). It is read with
        ``allow_pickle=False``.
        """
        corruption, severity = self.check(corruption, severity)
        check_images(images, channels=self.channels, min_size=self.min_size)
        if cache_dir is None:
            return self.corrupt(images, corruption, severity, workers=workers, progress=progress)
        path = self.cache_path(cache_dir, images, corruption, severity)
        if path.exists():
            cached = np.load(path, allow_pickle=False)
            if cached.shape == images.shape and cached.dtype == np.uint8:
                return cached
        out = self.corrupt(images, corruption, severity, workers=workers, progress=progress)
        from ..checkpoint import _atomic_write

        buf = io.BytesIO()
        np.save(buf, out, allow_pickle=False)
        _atomic_write(path, lambda fh: fh.write(buf.getvalue()))
        return out

    def cache_path(
        self, cache_dir: str | os.PathLike, images: np.ndarray, corruption: str, severity: int
    ) -> Path:
        """Where :meth:`corrupt_cached` keeps ``images`` corrupted by ``corruption``."""
        digest = hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest()[:12]
        return (Path(cache_dir) / self.name
                / f"{corruption}-s{severity}-seed{self.seed}-{len(images)}x{digest}.npy")


def _subset(
    available: Mapping[str, CorruptionFn], names: Sequence[str] | None, *, suite: str
) -> dict[str, CorruptionFn]:
    if names is None:
        return dict(available)
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"unknown {suite} corruption(s) {unknown}; valid: {', '.join(available)}."
        )
    if not names:
        raise ValueError(f"`corruptions` is empty; name at least one {suite} corruption.")
    return {n: available[n] for n in names}
