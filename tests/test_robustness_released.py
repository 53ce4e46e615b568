"""Reading the released MNIST-C / CIFAR-10-C files (neuro_de.robustness.released).

Tiny file trees with the released layouts (6 images per file) stand in for the real sets.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from neuro_de.robustness.released import (
    CIFAR10_C_NAMES,
    MNIST_C_NAMES,
    load_cifar10_c,
    load_mnist_c,
    released_corruptions,
)

N = 6  # images per MNIST-C file / per CIFAR-10-C severity


def _mnist_tree(root: Path, names=("fog", "zigzag", "identity"), *, train=True) -> Path:
    for i, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True)
        for split, n in (("test", N), ("train", 2 * N)) if train else (("test", N),):
            images = np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28, 1)
            np.save(folder / f"{split}_images.npy", ((images + i) % 256).astype(np.uint8))
            np.save(folder / f"{split}_labels.npy", (np.arange(n) % 10).astype(np.uint8))
    return root


def _cifar_tree(root: Path, names=("fog", "snow", "saturate")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        # every image of severity s is filled with the value 10 * s + index-in-severity
        images = np.zeros((5 * N, 32, 32, 3), np.uint8)
        for s in range(5):
            for j in range(N):
                images[s * N + j] = 10 * (s + 1) + j
        np.save(root / f"{name}.npy", images)
    np.save(root / "labels.npy", np.tile(np.arange(N, dtype=np.uint8), 5))
    return root


@pytest.fixture
def mnist_root(tmp_path):
    return _mnist_tree(tmp_path / "mnist_c")


@pytest.fixture
def cifar_root(tmp_path):
    return _cifar_tree(tmp_path / "CIFAR-10-C")


# ------------------------------------------------------------------ names


def test_names():
    assert len(MNIST_C_NAMES) == 16 and MNIST_C_NAMES[-1] == "identity"
    assert {"shear", "scale", "rotate", "translate", "stripe", "dotted_line", "zigzag",
            "canny_edges"} <= set(MNIST_C_NAMES)
    assert len(CIFAR10_C_NAMES) == 19 and len(set(CIFAR10_C_NAMES)) == 19
    assert CIFAR10_C_NAMES[:3] == ("gaussian_noise", "shot_noise", "impulse_noise")
    assert CIFAR10_C_NAMES[15:] == ("speckle_noise", "gaussian_blur", "spatter", "saturate")


# ------------------------------------------------------------------ MNIST-C reading


def test_load_mnist_c(mnist_root):
    images, labels = load_mnist_c(mnist_root, "zigzag")
    assert images.shape == (N, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (N,) and labels.dtype == np.int64
    expected = ((np.arange(N * 28 * 28).reshape(N, 28, 28) + 1) % 256).astype(np.uint8)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, np.arange(N))
    assert type(images) is np.ndarray and images.flags.writeable  # a copy, not a memmap
    train, train_labels = load_mnist_c(str(mnist_root), "fog", split="train")
    assert train.shape == (2 * N, 28, 28) and train_labels.shape == (2 * N,)


def test_mnist_c_without_channel_axis_and_int64_labels(tmp_path):
    folder = tmp_path / "mnist_c" / "shear"
    folder.mkdir(parents=True)
    np.save(folder / "test_images.npy", np.ones((N, 28, 28), np.uint8))
    np.save(folder / "test_labels.npy", np.arange(N, dtype=np.int64))
    images, labels = load_mnist_c(tmp_path / "mnist_c", "shear")
    assert images.shape == (N, 28, 28) and labels.dtype == np.int64
    labels[0] = 99  # not a view of the file
    assert load_mnist_c(tmp_path / "mnist_c", "shear")[1][0] == 0


def test_released_corruptions(mnist_root, cifar_root):
    assert released_corruptions(mnist_root, suite="mnist-c") == ["fog", "zigzag", "identity"]
    assert released_corruptions(cifar_root, suite="cifar10-c") == ["snow", "fog", "saturate"]
    assert released_corruptions(cifar_root, suite="CIFAR-10-C") == ["snow", "fog", "saturate"]
    with pytest.raises(ValueError, match="unknown `suite` 'imagenet-c'"):
        released_corruptions(cifar_root, suite="imagenet-c")


# ------------------------------------------------------------------ CIFAR-10-C reading


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_load_cifar10_c_slices_per_severity(cifar_root, severity):
    images, labels = load_cifar10_c(cifar_root, "fog", severity)
    assert images.shape == (N, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (N,) and labels.dtype == np.int64
    np.testing.assert_array_equal(images[:, 0, 0, 0], 10 * severity + np.arange(N))
    np.testing.assert_array_equal(labels, np.arange(N))
    assert type(images) is np.ndarray and images.flags.writeable


def test_cifar10_c_labels_stored_once(cifar_root):
    np.save(cifar_root / "labels.npy", np.arange(N, dtype=np.int64))
    images, labels = load_cifar10_c(cifar_root, "snow", np.int64(4))
    assert images.shape == (N, 32, 32, 3)
    np.testing.assert_array_equal(labels, np.arange(N))


# ------------------------------------------------------------------ errors: root


def test_root_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`root` .*nope.* does not exist"):
        load_mnist_c(tmp_path / "nope", "fog")
    with pytest.raises(FileNotFoundError, match=r"`root` .*nope.* does not exist"):
        load_cifar10_c(tmp_path / "nope", "fog", 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        released_corruptions(tmp_path / "nope", suite="mnist-c")


def test_root_not_a_path():
    with pytest.raises(TypeError, match="`root` must be a path"):
        load_cifar10_c(3, "fog", 1)


def test_root_is_the_parent_folder(mnist_root, cifar_root):
    parent = mnist_root.parent  # also holds CIFAR-10-C/ : each suite finds its own
    with pytest.raises(ValueError, match=re.escape(f"pass root={str(mnist_root)!r}")):
        load_mnist_c(parent, "fog")
    with pytest.raises(ValueError, match=re.escape(f"pass root={str(cifar_root)!r}")):
        load_cifar10_c(parent, "fog", 1)
    with pytest.raises(ValueError, match="subfolder 'mnist_c'"):
        released_corruptions(parent, suite="mnist-c")


def test_root_is_a_corruption_folder(mnist_root):
    with pytest.raises(ValueError, match=re.escape(
            f"single MNIST-C corruption folder ('fog'); give the folder above it: "
            f"root={str(mnist_root)!r}")):
        load_mnist_c(mnist_root / "fog", "fog")


def test_root_is_a_file(mnist_root, cifar_root):
    with pytest.raises(NotADirectoryError, match=re.escape(f"root={str(mnist_root)!r}")):
        load_mnist_c(mnist_root / "fog" / "test_images.npy", "fog")
    with pytest.raises(NotADirectoryError, match=re.escape(f"root={str(cifar_root)!r}")):
        load_cifar10_c(cifar_root / "fog.npy", "fog", 2)


def test_root_of_the_other_suite(mnist_root, cifar_root):
    with pytest.raises(ValueError, match="other suite's layout.*load_cifar10_c"):
        load_mnist_c(cifar_root, "fog")
    with pytest.raises(ValueError, match="other suite's layout.*load_mnist_c"):
        load_cifar10_c(mnist_root, "fog", 1)


def test_root_empty(tmp_path):
    with pytest.raises(ValueError, match=r"has no MNIST-C files: expected <root>/<corruption>/"):
        load_mnist_c(tmp_path, "fog")
    with pytest.raises(ValueError, match=r"has no CIFAR-10-C files: expected <root>/<corr"):
        load_cifar10_c(tmp_path, "fog", 1)


# ------------------------------------------------------------------ errors: arguments


def test_unknown_corruption(mnist_root, cifar_root):
    with pytest.raises(ValueError, match=r"unknown MNIST-C `corruption` 'fogg'\. Did you mean "
                                         r"'fog'\?.*Valid: shot_noise, .*identity"):
        load_mnist_c(mnist_root, "fogg")
    with pytest.raises(ValueError, match=r"unknown CIFAR-10-C `corruption` 'zigzag'.*other "
                                         r"suite.*Valid: gaussian_noise,"):
        load_cifar10_c(cifar_root, "zigzag", 1)
    with pytest.raises(TypeError, match="`corruption` must be a str"):
        load_cifar10_c(cifar_root, 3, 1)


def test_missing_corruption_files(mnist_root, cifar_root):
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"expected the folder {str(mnist_root / 'shear')!r}")):
        load_mnist_c(mnist_root, "shear")
    with pytest.raises(FileNotFoundError, match="present: fog, zigzag, identity"):
        load_mnist_c(mnist_root, "shear")
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"expected the file {str(cifar_root / 'frost.npy')!r}")):
        load_cifar10_c(cifar_root, "frost", 1)
    (mnist_root / "fog" / "train_labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(
            str(mnist_root / "fog" / "train_labels.npy"))):
        load_mnist_c(mnist_root, "fog", split="train")
    (cifar_root / "labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"labels\.npy.* does not exist"):
        load_cifar10_c(cifar_root, "fog", 1)


@pytest.mark.parametrize("severity,error,message", [
    (0, ValueError, "must be in 1-5, got 0"),
    (6, ValueError, "must be in 1-5, got 6"),
    (2.0, TypeError, "must be an int in 1-5, got 2.0"),
    ("3", TypeError, "must be an int in 1-5, got '3'"),
    (True, TypeError, "must be an int"),
])
def test_bad_severity(cifar_root, severity, error, message):
    with pytest.raises(error, match=f"`severity` {message}"):
        load_cifar10_c(cifar_root, "fog", severity)


@pytest.mark.parametrize("split", ["val", "Test", None])
def test_bad_split(mnist_root, split):
    with pytest.raises(ValueError, match="`split` must be 'test' or 'train'"):
        load_mnist_c(mnist_root, "fog", split=split)


# ------------------------------------------------------------------ errors: file contents


def test_mnist_c_wrong_dtype_and_shape(mnist_root):
    folder = mnist_root / "fog"
    np.save(folder / "test_images.npy", np.zeros((N, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"holds float32 values; .* uint8 images"):
        load_mnist_c(mnist_root, "fog")
    np.save(folder / "test_images.npy", np.zeros((N, 28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match=r"has shape \(6, 28, 28, 3\); expected uint8 images"):
        load_mnist_c(mnist_root, "fog")
    np.save(folder / "test_images.npy", np.zeros((N, 28, 28, 1), np.uint8))
    np.save(folder / "test_labels.npy", np.zeros((N, 1), np.int64))
    with pytest.raises(ValueError, match=r"test_labels\.npy.*expected a 1-D array of integer"):
        load_mnist_c(mnist_root, "fog")
    np.save(folder / "test_labels.npy", np.zeros(N, np.float64))
    with pytest.raises(ValueError, match="dtype float64; expected a 1-D array of integer"):
        load_mnist_c(mnist_root, "fog")


def test_mnist_c_label_length(mnist_root):
    np.save(mnist_root / "fog" / "test_labels.npy", np.zeros(N + 1, np.uint8))
    with pytest.raises(ValueError, match=r"holds 7 labels but the images need 6"):
        load_mnist_c(mnist_root, "fog")


def test_pickled_file_refused(mnist_root):
    np.save(mnist_root / "fog" / "test_images.npy", np.array([{"a": 1}], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError, match=r"cannot read .*test_images\.npy.* plain \.npy"):
        load_mnist_c(mnist_root, "fog")


def test_cifar10_c_wrong_dtype_and_shape(cifar_root):
    np.save(cifar_root / "fog.npy", np.zeros((5 * N, 32, 32, 3), np.int16))
    with pytest.raises(ValueError, match=r"fog\.npy' holds int16 values"):
        load_cifar10_c(cifar_root, "fog", 1)
    np.save(cifar_root / "fog.npy", np.zeros((5 * N, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(30, 3, 32, 32\); expected uint8 images "
                                         r"\(5 \* N, 32, 32, 3\)"):
        load_cifar10_c(cifar_root, "fog", 1)


def test_cifar10_c_not_five_parts(cifar_root):
    np.save(cifar_root / "fog.npy", np.zeros((5 * N + 2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"holds 32 images, not 5 equal parts"):
        load_cifar10_c(cifar_root, "fog", 1)


def test_cifar10_c_label_length(cifar_root):
    np.save(cifar_root / "labels.npy", np.zeros(5 * N - 1, np.uint8))
    with pytest.raises(ValueError, match=r"holds 29 labels but the images need 30 or 6"):
        load_cifar10_c(cifar_root, "fog", 1)
