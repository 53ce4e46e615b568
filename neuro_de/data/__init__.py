"""Data sets by name (MNIST, Fashion-MNIST, CIFAR, image folders, bundled digits) and splits.

``load_dataset("digits")`` needs no files and no network. The other sets are read from a
local ``root`` in torchvision's layout (default ``$NEURO_DE_DATA``); nothing is downloaded
unless ``download=True`` is passed.
"""

from .datasets import (
    BUNDLED_ROOT,
    DATA_ENV_VAR,
    DIGITS_SPLIT_SEED,
    DIGITS_TEST_FRACTION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetInfo,
    ImageTensorDataset,
    available_datasets,
    check_compatible,
    dataset_info,
    digits_split_indices,
    imagefolder_transform,
    load_dataset,
    to_tensors,
)
from .idx import read_idx
from .mnist1d import (
    MNIST1D_DEFAULT_SEED,
    MNIST1D_LENGTH,
    SignalInfo,
    SignalTensorDataset,
    load_mnist1d,
    mnist1d_arrays,
    mnist1d_cache_path,
)
from .splits import DataSplits, load_splits, split_sizes, train_heldout_split

__all__ = [
    "MNIST1D_DEFAULT_SEED",
    "MNIST1D_LENGTH",
    "SignalInfo",
    "SignalTensorDataset",
    "load_mnist1d",
    "mnist1d_arrays",
    "mnist1d_cache_path",
    "BUNDLED_ROOT",
    "DATA_ENV_VAR",
    "DIGITS_SPLIT_SEED",
    "DIGITS_TEST_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DatasetInfo",
    "ImageTensorDataset",
    "DataSplits",
    "available_datasets",
    "check_compatible",
    "dataset_info",
    "digits_split_indices",
    "imagefolder_transform",
    "load_dataset",
    "load_splits",
    "read_idx",
    "split_sizes",
    "to_tensors",
    "train_heldout_split",
]
