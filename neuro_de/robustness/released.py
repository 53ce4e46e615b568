"""Read the released MNIST-C and CIFAR-10-C files from a local folder (nothing is downloaded).

Networks evaluated on the published corrupted sets can be compared with the numbers in the
literature. The two layouts, as released:

- **MNIST-C** (Mu & Gilmer, 2019): ``<root>/<corruption>/test_images.npy`` (``uint8``,
  ``(10000, 28, 28, 1)``), ``test_labels.npy`` (``(10000,)``), and ``train_images.npy`` /
  ``train_labels.npy``; one folder per corruption (:data:`MNIST_C_NAMES`, ``identity``
  being the clean images), each at the one severity MNIST-C ships.
- **CIFAR-10-C** (Hendrycks & Dietterich, 2019): ``<root>/<corruption>.npy`` (``uint8``,
  ``(50000, 32, 32, 3)``: severities 1-5, 10000 images each, stacked in that order) and
  ``<root>/labels.npy`` (``(50000,)``); :data:`CIFAR10_C_NAMES`.

::

    from neuro_de.robustness.released import load_cifar10_c, load_mnist_c

    images, labels = load_mnist_c("~/data/mnist_c", "zigzag")          # (10000, 28, 28)
    images, labels = load_cifar10_c("~/data/CIFAR-10-C", "fog", 3)     # (10000, 32, 32, 3)

Files are read with ``np.load(..., allow_pickle=False, mmap_mode="r")`` and only the part
asked for is copied into memory. Mistakes are reported before any image is read, naming the
argument and the fix: a root that does not exist, a root one level too high or too low
(the corrected root is suggested), an unknown corruption (the valid ones are listed), a
missing file (its expected path is given), a severity outside 1-5, a split other than
``"test"``/``"train"``, arrays of the wrong dtype or shape, labels whose length does not
match the images, and a CIFAR-10-C file that does not split into 5 equal parts.

References:
    N. Mu and J. Gilmer. MNIST-C: A Robustness Benchmark for Computer Vision.
    arXiv:1906.02337, 2019. https://github.com/google-research/mnist-c

    D. Hendrycks and T. Dietterich. Benchmarking Neural Network Robustness to Common
    Corruptions and Perturbations. ICLR 2019. https://github.com/hendrycks/robustness
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CIFAR10_C_NAMES",
    "MNIST_C_NAMES",
    "load_cifar10_c",
    "load_mnist_c",
    "released_corruptions",
]

#: MNIST-C's folder names: its 15 corruptions, then ``identity`` (the clean images).
MNIST_C_NAMES: tuple[str, ...] = (
    "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
    "brightness", "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag",
    "canny_edges", "identity",
)

#: CIFAR-10-C's file names (``<name>.npy``): the 15 common corruptions, then the 4 extra ones.
CIFAR10_C_NAMES: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)

_SEVERITIES = 5
_SPLITS = ("test", "train")
_MNIST_FILES = ("test_images.npy", "test_labels.npy", "train_images.npy", "train_labels.npy")


# ------------------------------------------------------------------ argument checks


def _suite(suite: Any) -> str:
    key = str(suite).strip().lower().replace("_", "-")
    if key in ("mnist-c", "mnistc"):
        return "mnist-c"
    if key in ("cifar10-c", "cifar-10-c", "cifar10c"):
        return "cifar10-c"
    raise ValueError(f"unknown `suite` {suite!r}; valid: 'mnist-c', 'cifar10-c'.")


def _path(root: Any) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"`root` must be a path (str or os.PathLike), got {type(root).__name__}.")
    return Path(os.fspath(root)).expanduser()


def _looks_mnist_c(folder: Path) -> bool:
    return any((folder / name / "test_images.npy").is_file()
               or (folder / name / "train_images.npy").is_file() for name in MNIST_C_NAMES)


def _looks_cifar10_c(folder: Path) -> bool:
    return any((folder / f"{name}.npy").is_file() for name in CIFAR10_C_NAMES)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def _check_root(root: Any, suite: str) -> Path:
    """Return ``root`` as a Path if it has ``suite``'s layout, else raise a helpful error."""
    path = _path(root)
    label = "MNIST-C" if suite == "mnist-c" else "CIFAR-10-C"
    expected = ("<root>/<corruption>/test_images.npy" if suite == "mnist-c"
                else "<root>/<corruption>.npy and <root>/labels.npy")
    if not path.exists():
        raise FileNotFoundError(
            f"`root` {str(path)!r} does not exist; give the {label} folder that holds "
            f"{expected}."
        )
    if path.is_file():
        parent = path.parent.parent if suite == "mnist-c" and path.suffix == ".npy" else path.parent
        raise NotADirectoryError(
            f"`root` {str(path)!r} is a file; give the {label} folder that holds {expected}"
            f" (here probably root={str(parent)!r})."
        )
    looks = _looks_mnist_c if suite == "mnist-c" else _looks_cifar10_c
    if looks(path):
        return path

    # wrong level or wrong suite: say what was found and what to pass instead
    if suite == "mnist-c" and any((path / f).is_file() for f in _MNIST_FILES):
        raise ValueError(
            f"`root` {str(path)!r} is a single MNIST-C corruption folder ({path.name!r}); "
            f"give the folder above it: root={str(path.parent)!r}, corruption={path.name!r}."
        )
    if suite == "cifar10-c" and path.name in CIFAR10_C_NAMES:
        hint = f" (here probably root={str(path.parent)!r})" if looks(path.parent) else ""
        raise ValueError(
            f"`root` {str(path)!r} is named like a CIFAR-10-C corruption, but CIFAR-10-C "
            f"ships one file per corruption: give the folder that holds {expected}{hint}."
        )
    inside = [sub for sub in _subfolders(path) if looks(sub)]
    if inside:
        raise ValueError(
            f"`root` {str(path)!r} holds no {label} files itself, but its subfolder "
            f"{inside[0].name!r} does: pass root={str(inside[0])!r}."
        )
    other = _looks_cifar10_c(path) if suite == "mnist-c" else _looks_mnist_c(path)
    if other:
        right = "load_cifar10_c / suite='cifar10-c'" if suite == "mnist-c" else (
            "load_mnist_c / suite='mnist-c'")
        raise ValueError(
            f"`root` {str(path)!r} has the other suite's layout, not {label}'s; use {right}."
        )
    raise ValueError(
        f"`root` {str(path)!r} has no {label} files: expected {expected} for a corruption "
        f"in {', '.join(MNIST_C_NAMES if suite == 'mnist-c' else CIFAR10_C_NAMES)}."
    )


def _check_name(corruption: Any, suite: str) -> str:
    names = MNIST_C_NAMES if suite == "mnist-c" else CIFAR10_C_NAMES
    other = CIFAR10_C_NAMES if suite == "mnist-c" else MNIST_C_NAMES
    label = "MNIST-C" if suite == "mnist-c" else "CIFAR-10-C"
    if not isinstance(corruption, str):
        raise TypeError(f"`corruption` must be a str, got {type(corruption).__name__}.")
    if corruption in names:
        return corruption
    hint = ""
    key = corruption.strip().lower().replace("-", "_").replace(" ", "_")
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        hint = f" Did you mean {close[0]!r}?"
    elif corruption in other:
        hint = f" ({corruption!r} is a corruption of the other suite.)"
    raise ValueError(
        f"unknown {label} `corruption` {corruption!r}.{hint} Valid: {', '.join(names)}."
    )


def _check_severity(severity: Any) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        raise TypeError(
            f"`severity` must be an int in 1-{_SEVERITIES}, got {severity!r} "
            f"({type(severity).__name__})."
        )
    if not 1 <= int(severity) <= _SEVERITIES:
        raise ValueError(f"`severity` must be in 1-{_SEVERITIES}, got {int(severity)}.")
    return int(severity)


def _check_split(split: Any) -> str:
    if split not in _SPLITS:
        raise ValueError(f"`split` must be 'test' or 'train', got {split!r}.")
    return split


# ------------------------------------------------------------------ reading


def _open(path: Path, what: str) -> np.ndarray:
    """Memory-map a ``.npy`` file (no pickles), with errors that name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected the file {str(path)!r}, which does not exist.")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:  # object arrays, truncated or malformed headers
        raise ValueError(f"{what}: cannot read {str(path)!r} as a plain .npy array "
                         f"({err}).") from err
    except OSError as err:
        raise OSError(f"{what}: cannot read {str(path)!r} ({err}).") from err


def _check_images(images: np.ndarray, path: Path, shapes: str, ok: bool) -> None:
    if images.dtype != np.uint8:
        raise ValueError(
            f"{str(path)!r} holds {images.dtype} values; the released files are uint8 images "
            f"{shapes}. Is this the right file?"
        )
    if not ok:
        raise ValueError(
            f"{str(path)!r} has shape {tuple(images.shape)}; expected uint8 images {shapes}."
        )


def _labels(path: Path, what: str, lengths: tuple[int, ...]) -> np.ndarray:
    labels = _open(path, what)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{str(path)!r} has shape {tuple(labels.shape)} and dtype {labels.dtype}; expected "
            "a 1-D array of integer class labels."
        )
    if len(labels) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise ValueError(
            f"{str(path)!r} holds {len(labels)} labels but the images need {want}: the labels "
            "do not belong to these images."
        )
    return labels


def load_mnist_c(
    root: str | os.PathLike, corruption: str, *, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """Read one corruption of the released MNIST-C.

    Args:
        root: The MNIST-C folder (``mnist_c``), holding ``<corruption>/<split>_images.npy``.
        corruption: A name in :data:`MNIST_C_NAMES` (``"identity"``: the clean images).
        split: ``"test"`` (10000 images) or ``"train"`` (60000).

    Returns:
        ``(images, labels)``: ``np.uint8`` ``(N, 28, 28)`` (the trailing channel dropped)
        and ``np.int64`` ``(N,)``.

    Raises:
        FileNotFoundError: ``root`` or the corruption's files do not exist (the expected path
            is given).
        NotADirectoryError: ``root`` is a file.
        ValueError: ``root`` has the wrong layout (the corrected root is suggested), unknown
            ``corruption`` or ``split``, arrays of the wrong dtype/shape, or labels whose
            length does not match the images.
        TypeError: ``root`` is not a path or ``corruption`` not a str.
    """
    split = _check_split(split)
    name = _check_name(corruption, "mnist-c")
    path = _check_root(root, "mnist-c")
    folder = path / name
    if not folder.is_dir():
        present = released_corruptions(path, suite="mnist-c")
        raise FileNotFoundError(
            f"MNIST-C corruption {name!r}: expected the folder {str(folder)!r}, which does not "
            f"exist under `root`; present: {', '.join(present) or 'none'}."
        )
    image_path = folder / f"{split}_images.npy"
    images = _open(image_path, f"MNIST-C {name!r} ({split})")
    ok = images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 1)
    _check_images(images, image_path, "(N, H, W, 1) or (N, H, W)", ok)
    labels = _labels(folder / f"{split}_labels.npy", f"MNIST-C {name!r} ({split})",
                     (len(images),))
    out = np.array(images[..., 0] if images.ndim == 4 else images, dtype=np.uint8)
    return out, np.array(labels, dtype=np.int64)


def load_cifar10_c(
    root: str | os.PathLike, corruption: str, severity: int
) -> tuple[np.ndarray, np.ndarray]:
    """Read one corruption at one severity of the released CIFAR-10-C.

    Args:
        root: The CIFAR-10-C folder, holding ``<corruption>.npy`` and ``labels.npy``.
        corruption: A name in :data:`CIFAR10_C_NAMES`.
        severity: 1-5; the file's ``k``-th fifth (in order) is severity ``k``.

    Returns:
        ``(images, labels)``: ``np.uint8`` ``(10000, 32, 32, 3)`` and ``np.int64``
        ``(10000,)`` (a fifth of the file's rows; ``labels.npy`` may hold the labels once
        per severity, as released, or once).

    Raises:
        FileNotFoundError: ``root``, the corruption's file or ``labels.npy`` does not exist.
        NotADirectoryError: ``root`` is a file.
        ValueError: ``root`` has the wrong layout (the corrected root is suggested), unknown
            ``corruption``, severity outside 1-5, arrays of the wrong dtype/shape, a file
            whose length is not 5 equal parts, or labels of the wrong length.
        TypeError: ``root`` is not a path, ``corruption`` not a str, ``severity`` not an int.
    """
    severity = _check_severity(severity)
    name = _check_name(corruption, "cifar10-c")
    path = _check_root(root, "cifar10-c")
    image_path = path / f"{name}.npy"
    if not image_path.is_file():
        present = released_corruptions(path, suite="cifar10-c")
        raise FileNotFoundError(
            f"CIFAR-10-C corruption {name!r}: expected the file {str(image_path)!r}, which "
            f"does not exist under `root`; present: {', '.join(present) or 'none'}."
        )
    images = _open(image_path, f"CIFAR-10-C {name!r}")
    ok = images.ndim == 4 and tuple(images.shape[1:]) == (32, 32, 3)
    _check_images(images, image_path, "(5 * N, 32, 32, 3)", ok)
    total = len(images)
    if total == 0 or total % _SEVERITIES:
        raise ValueError(
            f"{str(image_path)!r} holds {total} images, not {_SEVERITIES} equal parts (one "
            "per severity, stacked 1-5): the file is truncated or not a CIFAR-10-C file."
        )
    per = total // _SEVERITIES
    labels = _labels(path / "labels.npy", "CIFAR-10-C labels", (total, per))
    lo, hi = (severity - 1) * per, severity * per
    out = np.array(images[lo:hi], dtype=np.uint8)
    labels = labels[lo:hi] if len(labels) == total else labels
    return out, np.array(labels, dtype=np.int64)


def released_corruptions(root: str | os.PathLike, *, suite: str) -> list[str]:
    """The corruptions present under ``root``, in the suite's order.

    Args:
        root: The MNIST-C or CIFAR-10-C folder.
        suite: ``"mnist-c"`` or ``"cifar10-c"``.

    Returns:
        MNIST-C: the names in :data:`MNIST_C_NAMES` with ``<root>/<name>/test_images.npy``;
        CIFAR-10-C: those in :data:`CIFAR10_C_NAMES` with ``<root>/<name>.npy``.

    Raises:
        ValueError: Unknown ``suite`` or a root of the wrong layout (see
            :func:`load_mnist_c`); FileNotFoundError: ``root`` does not exist.
    """
    key = _suite(suite)
    path = _check_root(root, key)
    if key == "mnist-c":
        return [n for n in MNIST_C_NAMES if (path / n / "test_images.npy").is_file()]
    return [n for n in CIFAR10_C_NAMES if (path / f"{n}.npy").is_file()]
