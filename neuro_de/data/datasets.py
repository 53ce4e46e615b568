"""Image classification data sets by name, as in-memory tensors where they fit.

One entry point, :func:`load_dataset`, and one record, :class:`DatasetInfo`:

============== ======================================================== =========== ======
name           source                                                   shape       classes
============== ======================================================== =========== ======
digits         scikit-learn ``load_digits`` (bundled, offline)          1x28x28     10
mnist          ``root/MNIST/raw/*-ubyte[.gz]``                          1x28x28     10
fashion-mnist  ``root/FashionMNIST/raw/*-ubyte[.gz]``                   1x28x28     10
cifar10        ``root/cifar-10-batches-py/`` (torchvision layout)       3x32x32     10
cifar100       ``root/cifar-100-python/`` (torchvision layout)          3x32x32     100
imagefolder    ``torchvision.datasets.ImageFolder(root)``               3x224x224   folders
imagenet       ``ImageFolder(root/train)`` or ``ImageFolder(root/val)`` 3x224x224   1000
============== ======================================================== =========== ======

The tensor data sets (all but the image folders) are returned as an
:class:`ImageTensorDataset`: a :class:`torch.utils.data.TensorDataset` of normalised
``float32`` images ``(N, C, H, W)`` and ``int64`` labels, so that indexing costs nothing and
no PIL image is built per item. Normalisation is ``(x / 255 - mean) / std`` per channel,
exactly what ``ToTensor()`` followed by ``Normalize(mean, std)`` computes, with the usual
training-set statistics stored in :class:`DatasetInfo`.

**The bundled default, ``digits``.** The 1,797 real 8x8 handwritten digits of the UCI
"Optical Recognition of Handwritten Digits" set shipped with scikit-learn: the 0..16 grey
levels are scaled to [0, 1], upsampled bilinearly (``align_corners=False``) to 28x28, and
normalised with mean 0.3062 and std 0.3254 (the statistics of the upsampled training
split). They have no official test split: a fixed, stratified split holds out 25% of each
class (rounded half up) as the test set, drawn with a torch generator seeded with 0, which
gives 1,346 training and 451 test images.

**Image folders.** ``imagefolder`` reads ``root/train`` (``train=True``) and ``root/val``
(or ``root/test``) when ``root`` has a ``train/`` sub-folder; otherwise ``root`` itself is
the folder of class folders and serves both values of ``train``. ``imagenet`` always
expects ``root/train`` and ``root/val`` (the usual ImageNet layout after sorting the
validation images into class folders). The default transform is the ImageNet evaluation
one: resize the shorter side to 256, center-crop 224, ``ToTensor``, ``Normalize`` with the
ImageNet statistics; all adjustable.

**Where MNIST-like files are read from.** ``root`` is the folder that *contains*
``MNIST/raw`` (torchvision's layout). When ``root`` is not given, the environment variable
``NEURO_DE_DATA`` is used, and for ``mnist`` without either, the official MNIST files
bundled with the package (:data:`BUNDLED_ROOT`, 11 MB, CC BY-SA 3.0; see its README).
The raw files may be the uncompressed ``*-ubyte`` files torchvision reads or the
``*-ubyte.gz`` files it downloads; the latter are decompressed in memory
(:mod:`neuro_de.data.idx`), so a read-only folder holding only ``.gz`` files works and
nothing is written anywhere. The tensors are identical to torchvision's.

References:
    LeCun, Cortes, Burges. The MNIST database of handwritten digits, 1998.
    Xiao, Rasul, Vollgraf. Fashion-MNIST. arXiv:1708.07747, 2017.
    Krizhevsky. Learning multiple layers of features from tiny images. Tech. report, 2009.
    Alpaydin, Kaynak. Optical Recognition of Handwritten Digits. UCI ML Repository, 1998.
    Deng et al. ImageNet: A large-scale hierarchical image database. CVPR 2009.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from .idx import find_idx_file, read_idx

__all__ = [
    "BUNDLED_ROOT",
    "DATA_ENV_VAR",
    "DIGITS_SPLIT_SEED",
    "DIGITS_TEST_FRACTION",
    "DatasetInfo",
    "ImageTensorDataset",
    "available_datasets",
    "check_compatible",
    "dataset_info",
    "digits_split_indices",
    "imagefolder_transform",
    "load_dataset",
    "to_tensors",
]

#: Environment variable naming the default data root (the folder containing ``MNIST/raw``).
DATA_ENV_VAR = "NEURO_DE_DATA"
#: The folder holding the real MNIST shipped with the package (``BUNDLED_ROOT/MNIST/raw``).
BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"
#: Fraction of each digit class held out as the ``digits`` test set.
DIGITS_TEST_FRACTION = 0.25
#: Seed of the fixed ``digits`` train/test split.
DIGITS_SPLIT_SEED = 0

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model must agree with: input channels, image size, number of classes.

    Attributes:
        name: Canonical data set name.
        channels: Image channels.
        image_size: Side of the (square) images as returned.
        num_classes: Number of classes, or None where only the data can tell (an image
            folder whose root was not given).
        mean: Per-channel mean subtracted by the normalisation.
        std: Per-channel standard deviation divided by the normalisation.
        train_size: Number of training samples, where fixed.
        test_size: Number of test samples, where fixed.
    """

    name: str
    channels: int
    image_size: int
    num_classes: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int | None = None
    test_size: int | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample, ``(channels, image_size, image_size)``."""
        return (self.channels, self.image_size, self.image_size)

    def model_kwargs(self) -> dict[str, Any]:
        """Keywords sizing a model for this data: ``build_model(name, **info.model_kwargs())``."""
        return {
            "in_channels": self.channels,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
        }


_INFOS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", 1, 28, 10, (0.3062,), (0.3254,), 1346, 451),
    "mnist": DatasetInfo("mnist", 1, 28, 10, (0.1307,), (0.3081,), 60000, 10000),
    "fashion-mnist": DatasetInfo("fashion-mnist", 1, 28, 10, (0.2860,), (0.3530,), 60000, 10000),
    "cifar10": DatasetInfo(
        "cifar10", 3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 50000, 10000
    ),
    "cifar100": DatasetInfo(
        "cifar100", 3, 32, 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 50000, 10000
    ),
    "imagefolder": DatasetInfo("imagefolder", 3, 224, None, IMAGENET_MEAN, IMAGENET_STD),
    "imagenet": DatasetInfo("imagenet", 3, 224, 1000, IMAGENET_MEAN, IMAGENET_STD, 1281167, 50000),
}
_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "image-folder": "imagefolder",
}
# torchvision class name (= folder under root) of the MNIST-like sets.
_IDX_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_IDX_STEMS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_CIFAR_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (aliases such as ``"cifar-10"`` also work)."""
    return list(_INFOS)


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a data set name (str), got {type(name).__name__}.")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in _INFOS:
        raise ValueError(
            f"unknown data set {name!r}; valid names are: {', '.join(available_datasets())}."
        )
    return key


class ImageTensorDataset(TensorDataset):
    """A :class:`~torch.utils.data.TensorDataset` of ``(image, label)`` with its info.

    Args:
        images: ``float32`` tensor ``(N, C, H, W)``.
        labels: ``int64`` tensor ``(N,)``.
        info: The :class:`DatasetInfo` the images agree with.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, info: DatasetInfo):
        if images.dim() != 4 or labels.dim() != 1 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} "
                f"and {tuple(labels.shape)}."
            )
        super().__init__(images, labels)
        self.info = info

    @property
    def images(self) -> torch.Tensor:
        """All images, ``(N, C, H, W)``."""
        return self.tensors[0]

    @property
    def targets(self) -> torch.Tensor:
        """All labels, ``(N,)`` (the attribute name torchvision data sets use)."""
        return self.tensors[1]

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        return f"ImageTensorDataset({self.info.name}, n={len(self)}, {shape})"


def _normalized(
    images: torch.Tensor, info: DatasetInfo, *, normalize: bool, scale: float = 255.0
) -> torch.Tensor:
    """``(N, C, H, W)`` raw images -> float32 in [0, 1], then (x - mean) / std."""
    x = images.to(torch.float32).div(scale)
    if normalize:
        c = x.shape[1]
        mean = torch.tensor(info.mean, dtype=torch.float32).view(c, 1, 1)
        std = torch.tensor(info.std, dtype=torch.float32).view(c, 1, 1)
        x = x.sub(mean).div(std)
    return x


def _with_stats(
    info: DatasetInfo, mean: Sequence[float] | None, std: Sequence[float] | None
) -> DatasetInfo:
    """``info`` with the normalisation statistics overridden where given."""
    for arg, value in [("mean", mean), ("std", std)]:
        if value is not None and len(tuple(value)) != info.channels:
            raise ValueError(
                f"`{arg}` needs one value per channel ({info.channels} for {info.name!r}), "
                f"got {tuple(value)!r}."
            )
    if std is not None and any(v <= 0 for v in std):
        raise ValueError(f"`std` must be positive, got {tuple(std)!r}.")
    return replace(
        info,
        mean=info.mean if mean is None else tuple(float(v) for v in mean),
        std=info.std if std is None else tuple(float(v) for v in std),
    )


def _resized(x: torch.Tensor, image_size: int | None) -> torch.Tensor:
    if image_size is None or image_size == x.shape[-1]:
        return x
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"`image_size` must be a positive integer, got {image_size!r}.")
    return F.interpolate(
        x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
    )


# --------------------------------------------------------------------------- digits


def digits_split_indices(
    *, test_fraction: float = DIGITS_TEST_FRACTION, seed: int = DIGITS_SPLIT_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed stratified train/test split of scikit-learn's 1,797 digits.

    From each class, ``floor(test_fraction * n_class + 0.5)`` images, chosen by a
    ``torch.Generator`` seeded with ``seed``, go to the test set.

    Returns:
        ``(train_indices, test_indices)``: sorted ``int64`` indices into ``load_digits()``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}.")
    labels = _digits_raw()[1]
    gen = torch.Generator().manual_seed(seed)
    test = []
    for c in range(10):
        members = torch.nonzero(labels == c).flatten()
        k = math.floor(test_fraction * len(members) + 0.5)
        test.append(members[torch.randperm(len(members), generator=gen)[:k]])
    test_idx = torch.sort(torch.cat(test)).values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[test_idx] = False
    return torch.nonzero(mask).flatten(), test_idx


def _digits_raw() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).to(torch.float32).unsqueeze(1)  # 0..16
    return images, torch.from_numpy(bunch.target).to(torch.int64)


def _load_digits(
    info: DatasetInfo, *, train: bool, normalize: bool, image_size: int | None
) -> ImageTensorDataset:
    images, labels = _digits_raw()
    x = images.div(16.0)
    size = info.image_size if image_size is None else image_size
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"`image_size` must be a positive integer, got {size!r}.")
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = _normalized(x, info, normalize=normalize, scale=1.0)
    train_idx, test_idx = digits_split_indices()
    idx = train_idx if train else test_idx
    return ImageTensorDataset(x[idx], labels[idx], info=replace(info, image_size=size))


# --------------------------------------------------------------------------- roots


def _resolve_root(root: str | os.PathLike | None, name: str) -> Path:
    if root is None:
        env = os.environ.get(DATA_ENV_VAR)
        if not env and name == "mnist" and (BUNDLED_ROOT / "MNIST" / "raw").is_dir():
            return BUNDLED_ROOT  # the real MNIST shipped with the package
        if not env:
            raise ValueError(
                f"load_dataset({name!r}) needs `root`: pass root=... (the folder that "
                f"contains {_layout_hint(name)}) or set the environment variable "
                f"{DATA_ENV_VAR}. The bundled data set 'digits' needs no files."
            )
        root = env
    return Path(root).expanduser()


def _layout_hint(name: str) -> str:
    if name in _IDX_FOLDERS:
        return f"{_IDX_FOLDERS[name]}/raw/"
    if name in _CIFAR_FOLDERS:
        return f"{_CIFAR_FOLDERS[name]}/"
    if name == "imagenet":
        return "train/ and val/, one sub-folder per class"
    return "one sub-folder per class"


def _missing_root_error(root: Path, name: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"`root` {str(root)!r} does not exist. load_dataset({name!r}) reads "
        f"{root / _layout_hint(name)} (pass the folder that contains "
        f"{_layout_hint(name)}); pass download=True to let torchvision download the "
        "data there (needs internet), or use the bundled data set 'digits'."
    )


# --------------------------------------------------------------------------- MNIST-like


def _load_idx_set(
    name: str,
    info: DatasetInfo,
    root: Path,
    *,
    train: bool,
    download: bool,
    normalize: bool,
    image_size: int | None,
) -> ImageTensorDataset:
    folder = _IDX_FOLDERS[name]
    raw = root / folder / "raw"
    stems = _IDX_STEMS[train]
    files = [find_idx_file(raw, s) for s in stems]
    if any(f is None for f in files):
        if download:
            import torchvision

            tv = getattr(torchvision.datasets, folder)(str(root), train=train, download=True)
            images, labels = tv.data, tv.targets
        elif not root.is_dir():
            raise _missing_root_error(root, name)
        else:
            raise FileNotFoundError(_idx_layout_message(name, root, raw, stems))
    else:
        images, labels = read_idx(files[0]), read_idx(files[1])
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise ValueError(
            f"{raw}: images {tuple(images.shape)} and labels {tuple(labels.shape)} do not "
            "match (expected (N, 28, 28) and (N,))."
        )
    x = _normalized(images.unsqueeze(1), info, normalize=normalize)
    x = _resized(x, image_size)
    return ImageTensorDataset(x, labels.to(torch.int64), info=replace(info, image_size=x.shape[-1]))


def _idx_layout_message(name: str, root: Path, raw: Path, stems: Sequence[str]) -> str:
    folder = _IDX_FOLDERS[name]
    missing = [s for s in stems if find_idx_file(raw, s) is None]
    msg = (
        f"`root` {str(root)!r} exists but has no {name} files in the torchvision layout: "
        f"missing {', '.join(f'{s}[.gz]' for s in missing)} in {raw}. "
        f"Pass as `root` the folder that contains {folder}/raw/."
    )
    # Common mistakes: root pointing at MNIST/ or at MNIST/raw/ itself, or the files loose
    # in root (no MNIST/raw/ folder at all).
    if all(find_idx_file(root / "raw", s) is not None for s in stems):
        if root.name == folder:
            msg += f" The files are in {root / 'raw'}: did you mean root={str(root.parent)!r}?"
        else:
            msg += (
                f" The files are in {root / 'raw'}: move that folder to {raw}, or rename "
                f"{root.name!r} to {folder!r} and pass its parent folder as `root`."
            )
    elif all(find_idx_file(root, s) is not None for s in stems):
        if root.name == "raw" and root.parent.name == folder:
            msg += f" The files are in {root}: did you mean root={str(root.parent.parent)!r}?"
        else:
            msg += (
                f" The files are loose in {root}: move them into {raw}/ (the folder "
                f"load_dataset reads), or pass as `root` the folder that contains "
                f"{folder}/raw/."
            )
    return msg + " Or pass download=True to download them (needs internet)."


# --------------------------------------------------------------------------- CIFAR


def _load_cifar(
    name: str,
    info: DatasetInfo,
    root: Path,
    *,
    train: bool,
    download: bool,
    normalize: bool,
    image_size: int | None,
) -> ImageTensorDataset:
    import torchvision

    folder = root / _CIFAR_FOLDERS[name]
    if not download:
        if not root.is_dir():
            raise _missing_root_error(root, name)
        if not folder.is_dir():
            archive = root / _CIFAR_ARCHIVES[name]
            extra = (
                f" The archive {archive} is there: download=True extracts it without downloading."
                if archive.is_file()
                else " Or pass download=True to download it (needs internet)."
            )
            raise FileNotFoundError(
                f"`root` {str(root)!r} exists but has no {folder.name}/ folder "
                f"(torchvision's {name} layout). Pass as `root` the folder that contains "
                f"{folder.name}/.{extra}"
            )
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    try:
        tv = cls(str(root), train=train, download=download)
    except RuntimeError as err:
        raise FileNotFoundError(
            f"torchvision could not read {name} from {folder}: {err} "
            "(files missing or corrupt; pass download=True to fetch them again)."
        ) from err
    images = torch.from_numpy(tv.data).permute(0, 3, 1, 2).contiguous()
    x = _resized(_normalized(images, info, normalize=normalize), image_size)
    labels = torch.as_tensor(tv.targets, dtype=torch.int64)
    return ImageTensorDataset(x, labels, info=replace(info, image_size=x.shape[-1]))


# --------------------------------------------------------------------------- image folders


def imagefolder_transform(
    *,
    image_size: int = 224,
    resize_size: int | None = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable:
    """ImageNet-style evaluation transform: resize, center crop, to tensor, normalise.

    Args:
        image_size: Side of the center crop (the model's input size).
        resize_size: The shorter side is resized to this first (None: no resize).
        mean: Per-channel mean for ``Normalize``.
        std: Per-channel std for ``Normalize``.
    """
    from torchvision import transforms as T

    steps: list[Callable] = []
    if resize_size is not None:
        steps.append(T.Resize(resize_size, antialias=True))
    steps += [T.CenterCrop(image_size), T.ToTensor(), T.Normalize(list(mean), list(std))]
    return T.Compose(steps)


def _load_imagefolder(
    name: str,
    info: DatasetInfo,
    root: Path,
    *,
    train: bool,
    download: bool,
    image_size: int | None,
    transform: Callable | None,
    resize_size: int | None,
) -> Dataset:
    from torchvision.datasets import ImageFolder

    if download:
        raise ValueError(f"{name!r} cannot be downloaded; pass download=False.")
    if not root.is_dir():
        raise _missing_root_error(root, name)
    split = "train" if train else "val"
    if name == "imagenet" or (root / "train").is_dir():
        folder = root / split
        if not folder.is_dir() and not train and (root / "test").is_dir():
            folder = root / "test"
        if not folder.is_dir():
            raise FileNotFoundError(
                f"`root` {str(root)!r} has no {split}/ folder: {name!r} expects "
                f"root/train/<class>/<image> and root/val/<class>/<image>."
            )
    else:
        folder = root  # one folder of class folders: the same data for train and test
    size = info.image_size if image_size is None else image_size
    if transform is None:
        transform = imagefolder_transform(
            image_size=size, resize_size=resize_size, mean=info.mean, std=info.std
        )
    try:
        ds = ImageFolder(str(folder), transform=transform)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{folder} is not an image folder: expected one sub-folder per class holding "
            f"images ({err})."
        ) from err
    ds.info = replace(
        info, image_size=size, num_classes=len(ds.classes), train_size=None, test_size=None
    )
    return ds


# --------------------------------------------------------------------------- entry points


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    train: bool = True,
    download: bool = False,
    normalize: bool = True,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    transform: Callable | None = None,
    resize_size: int | None = 256,
) -> Dataset:
    """Loads a data set's training or test split.

    Args:
        name: One of :func:`available_datasets` (case-insensitive; ``_`` = ``-``).
        root: Folder holding the data in torchvision's layout (for ``mnist``, the folder
            that contains ``MNIST/raw``). Default: ``$NEURO_DE_DATA``, else for ``mnist``
            the bundled copy (:data:`BUNDLED_ROOT`). Unused by ``digits``.
        train: Training split if true, else the test split (``val/`` for image folders).
        download: Let torchvision download missing MNIST/Fashion-MNIST/CIFAR files into
            ``root`` (needs internet). Off by default: nothing is ever downloaded unasked.
        normalize: Standardise with the data set's mean/std (else values in [0, 1], and
            the returned ``info`` records mean 0 and std 1). Tensor data sets only;
            image folders always use their transform.
        mean: Per-channel normalisation mean replacing the data set's own.
        std: Per-channel normalisation std replacing the data set's own.
        image_size: Resize tensor data sets to this side (bilinear, antialiased); for
            image folders the center-crop size (default 224).
        transform: Image folders only: replaces the default transform entirely.
        resize_size: Image folders only: shorter side before cropping (default 256).

    Returns:
        An :class:`ImageTensorDataset` (with ``.info``) for the tensor data sets; a
        ``torchvision.datasets.ImageFolder`` with an added ``.info`` for image folders.

    Raises:
        ValueError: Unknown name (the valid ones are listed), no root given, bad sizes.
        FileNotFoundError: ``root`` does not exist, or lacks the expected files (the
            message says which files, where, and suggests a corrected ``root``).
    """
    key = _canonical(name)
    info = _with_stats(_INFOS[key], mean, std)
    folders = key in ("imagefolder", "imagenet")
    if transform is not None and not folders:
        raise ValueError(f"`transform` applies to image folders only, not to {key!r}.")
    if not normalize and not folders:  # the info records what was subtracted and divided
        info = replace(info, mean=(0.0,) * info.channels, std=(1.0,) * info.channels)
    if key == "digits":
        return _load_digits(info, train=train, normalize=normalize, image_size=image_size)
    path = _resolve_root(root, key)
    if key in _IDX_FOLDERS:
        return _load_idx_set(
            key,
            info,
            path,
            train=train,
            download=download,
            normalize=normalize,
            image_size=image_size,
        )
    if key in _CIFAR_FOLDERS:
        return _load_cifar(
            key,
            info,
            path,
            train=train,
            download=download,
            normalize=normalize,
            image_size=image_size,
        )
    return _load_imagefolder(
        key,
        info,
        path,
        train=train,
        download=download,
        image_size=image_size,
        transform=transform,
        resize_size=resize_size,
    )


def _underlying(dataset: Dataset) -> Dataset:
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    if isinstance(dataset, ConcatDataset) and dataset.datasets:
        return _underlying(dataset.datasets[0])
    return dataset


def dataset_info(
    data: str | Dataset, *, root: str | os.PathLike | None = None, image_size: int | None = None
) -> DatasetInfo:
    """The :class:`DatasetInfo` of a data set name or of a data set object.

    Args:
        data: A name (see :func:`available_datasets`) or a data set. For a data set, its
            ``info`` attribute (looking through ``Subset``/``ConcatDataset``) is used;
            otherwise channels and size come from its first sample and the number of
            classes from its ``classes`` or ``targets`` attribute (None when absent).
        root: For ``"imagefolder"``/``"imagenet"`` names: count the class folders here.
        image_size: For names: the size the data will be loaded at, if not the default.

    Raises:
        ValueError: Unknown name, or a data set whose samples are not ``(C, H, W)`` images.
    """
    if isinstance(data, str):
        key = _canonical(data)
        info = _INFOS[key]
        if image_size is not None:
            info = replace(info, image_size=image_size)
        if key == "imagefolder" and root is not None:
            folder = Path(root) / "train" if (Path(root) / "train").is_dir() else Path(root)
            if folder.is_dir():
                classes = [p for p in folder.iterdir() if p.is_dir()]
                info = replace(info, num_classes=len(classes))
        return info
    base = _underlying(data)
    info = getattr(base, "info", None)
    if isinstance(info, DatasetInfo):
        return info
    if len(data) == 0:
        raise ValueError("cannot infer the shape of an empty data set.")
    x = data[0][0]
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != x.shape[-2]:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"cannot infer a DatasetInfo: samples must be square (C, H, W) tensors, got {shape}."
        )
    num_classes = None
    if getattr(base, "classes", None) is not None:
        num_classes = len(base.classes)
    elif getattr(base, "targets", None) is not None:
        num_classes = int(torch.as_tensor(base.targets).max()) + 1
    return DatasetInfo(
        type(base).__name__,
        x.shape[0],
        x.shape[-1],
        num_classes,
        (0.0,) * x.shape[0],
        (1.0,) * x.shape[0],
    )


def to_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(inputs, labels)`` of a data set as two tensors.

    Fast (one indexing operation) for :class:`~torch.utils.data.TensorDataset` and
    ``Subset`` chains over one; other data sets are read item by item.
    """
    indices = None
    ds = dataset
    while isinstance(ds, Subset):
        idx = torch.as_tensor(ds.indices, dtype=torch.int64)
        indices = idx if indices is None else idx[indices]
        ds = ds.dataset
    if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
        x, y = ds.tensors[0], ds.tensors[1]
        return (x, y) if indices is None else (x[indices], y[indices])
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(list(xs)), torch.as_tensor(ys, dtype=torch.int64)


def _describe(info: DatasetInfo) -> str:
    c, s, k = info.channels, info.image_size, info.num_classes
    return f"data set {info.name!r} ({c}x{s}x{s} images, {k} classes)"


def check_compatible(model: nn.Module, data: str | Dataset | DatasetInfo) -> None:
    """Checks that ``model`` reads ``data``'s images and outputs one logit per class.

    One sample (the data set's first, or zeros of the info's shape) is run through the
    model in eval mode under ``torch.no_grad()``; the model's train/eval mode is restored.

    Args:
        model: A classifier mapping ``(N, C, H, W)`` to ``(N, num_classes)``.
        data: A data set, a :class:`DatasetInfo`, or a data set name.

    Raises:
        ValueError: When the model fails on the input (channels or image size disagree)
            or its output width differs from the number of classes; the message names
            both sides and the fix.
    """
    sample = None
    if isinstance(data, DatasetInfo):
        info = data
    elif isinstance(data, str):
        info = dataset_info(data)
    else:
        info = dataset_info(data)
        sample = data[0][0]
    if sample is None:
        sample = torch.zeros(info.input_shape)
    elif not isinstance(sample, torch.Tensor):
        raise ValueError(
            f"samples of {info.name!r} must be tensors, got {type(sample).__name__} "
            "(add a ToTensor() to the data set's transform)."
        )
    param = next(iter(model.parameters()), None)
    if param is not None:
        sample = sample.to(device=param.device, dtype=param.dtype)
    what = _describe(info)
    mname = type(model).__name__
    hints = []
    for attr, value in [
        ("in_channels", info.channels),
        ("image_size", info.image_size),
        ("num_classes", info.num_classes),
    ]:
        own = getattr(model, attr, None)
        if isinstance(own, int) and value is not None and own != value:
            hints.append(f"{attr}={own} (data: {value})")
    hint = f" The model was built with {', '.join(hints)}." if hints else ""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(sample.unsqueeze(0))
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(
            f"model {mname} cannot read {what}: a {tuple(sample.shape)} input fails with "
            f"{type(err).__name__}: {err}.{hint} Build the model with "
            f"in_channels={info.channels}, image_size={info.image_size}."
        ) from err
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {mname} must output (N, num_classes) logits, got {shape}.")
    if info.num_classes is not None and out.shape[1] != info.num_classes:
        raise ValueError(
            f"model {mname} outputs {out.shape[1]} logits but data set {info.name!r} has "
            f"{info.num_classes} classes.{hint} Build the model with "
            f"num_classes={info.num_classes}."
        )
