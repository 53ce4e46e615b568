"""Tests of neuro_de.data: bundled digits, MNIST-like IDX files, image folders, splits."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.data import Subset, TensorDataset

from neuro_de import data
from neuro_de.data import (
    BUNDLED_ROOT,
    DatasetInfo,
    ImageTensorDataset,
    check_compatible,
    dataset_info,
    digits_split_indices,
    load_dataset,
    load_splits,
    read_idx,
    split_sizes,
    to_tensors,
    train_heldout_split,
)
from neuro_de.models import MLP, LeNet1, LeNet5, RNNClassifier, build_model

MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_fake_mnist(root: Path, *, gz: bool, folder: str = "MNIST", n=(12, 5)) -> dict:
    """A tiny MNIST-layout tree with random images; returns the arrays written."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, count in zip(("train", "t10k"), n, strict=True):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (count, 28, 28), np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, (count,), np.uint8)
    for stem, array in arrays.items():
        payload = idx_bytes(array)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (raw / stem).write_bytes(payload)
    return arrays


def torchvision_reference(root: Path, *, train: bool, folder="MNIST", mean=0.1307, std=0.3081):
    """torchvision's own reading of decompressed files, with ToTensor + Normalize."""
    cls = getattr(torchvision.datasets, folder)
    tf = torchvision.transforms.Compose(
        [torchvision.transforms.ToTensor(), torchvision.transforms.Normalize((mean,), (std,))]
    )
    return cls(str(root), train=train, transform=tf)


# --------------------------------------------------------------------------- digits


def test_digits_is_real_deterministic_and_split_into_1797():
    train = load_dataset("digits")
    test = load_dataset("digits", train=False)
    assert isinstance(train, ImageTensorDataset) and isinstance(train, TensorDataset)
    assert len(train) + len(test) == 1797
    assert (len(train), len(test)) == (1346, 451)
    for ds in (train, test):
        assert ds.images.shape[1:] == (1, 28, 28)
        assert ds.images.dtype == torch.float32 and ds.targets.dtype == torch.int64
        assert sorted(ds.targets.unique().tolist()) == list(range(10))
    x, y = train[0]
    assert x.shape == (1, 28, 28) and y.dim() == 0
    again = load_dataset("digits")
    assert torch.equal(train.images, again.images) and torch.equal(train.targets, again.targets)
    # Normalised with the training split's statistics.
    assert abs(train.images.mean().item()) < 1e-3
    assert abs(train.images.std().item() - 1.0) < 1e-3


def test_digits_split_is_fixed_stratified_disjoint_and_covering():
    tr, te = digits_split_indices()
    assert len(set(tr.tolist()) & set(te.tolist())) == 0
    assert sorted(tr.tolist() + te.tolist()) == list(range(1797))
    tr2, te2 = digits_split_indices()
    assert torch.equal(tr, tr2) and torch.equal(te, te2)
    counts = torch.bincount(load_dataset("digits", train=False).targets, minlength=10)
    assert counts.tolist() == [45, 46, 44, 46, 45, 46, 45, 45, 44, 45]  # 25% of each class
    _, other = digits_split_indices(seed=1)
    assert not torch.equal(te, other)


def test_digits_options():
    raw = load_dataset("digits", normalize=False)
    assert raw.images.min() >= 0.0 and raw.images.max() <= 1.0
    assert (raw.info.mean, raw.info.std) == ((0.0,), (1.0,))
    big = load_dataset("digits", image_size=32, train=False)
    assert big.images.shape[1:] == (1, 32, 32) and big.info.image_size == 32
    custom = load_dataset("digits", mean=[0.5], std=[0.5], train=False)
    raw_test = load_dataset("digits", normalize=False, train=False).images
    assert torch.allclose(custom.images, raw_test * 2 - 1, atol=1e-6)
    assert custom.info.mean == (0.5,)
    with pytest.raises(ValueError, match="`std` needs one value per channel"):
        load_dataset("digits", std=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="`transform` applies to image folders only"):
        load_dataset("digits", transform=lambda x: x)


def test_digits_fit_the_lenets():
    train = load_dataset("digits")
    for model in (LeNet1(), LeNet5()):
        check_compatible(model, train)
        assert model(train.images[:8]).shape == (8, 10)


# --------------------------------------------------------------------------- names and info


def test_dataset_info_by_name_and_alias():
    info = dataset_info("mnist")
    assert (info.channels, info.image_size, info.num_classes) == (1, 28, 10)
    assert info.input_shape == (1, 28, 28)
    assert dataset_info("CIFAR-100").num_classes == 100
    assert dataset_info("fashion_mnist").name == "fashion-mnist"
    assert dataset_info("cifar10").mean == (0.4914, 0.4822, 0.4465)
    assert dataset_info("imagefolder").num_classes is None
    model = build_model("lenet5", **dataset_info("cifar100").model_kwargs())
    check_compatible(model, "cifar100")


def test_dataset_info_of_a_dataset_and_subset():
    train = load_dataset("digits")
    assert dataset_info(train) is train.info
    assert dataset_info(Subset(Subset(train, [0, 1, 2]), [1])) is train.info
    plain = TensorDataset(torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="cannot infer"):
        dataset_info(TensorDataset(torch.zeros(4, 3, 8, 6), torch.zeros(4)))
    inferred = dataset_info(plain)
    assert (inferred.channels, inferred.image_size, inferred.num_classes) == (3, 8, None)


def test_unknown_dataset_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown data set 'svhn'; valid names are: digits, mnist"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match="valid names"):
        dataset_info("imagenet21k")


def test_exports():
    for name in data.__all__:
        assert hasattr(data, name)


# --------------------------------------------------------------------------- MNIST-like files


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_read_like_torchvision(tmp_path, gz):
    arrays = write_fake_mnist(tmp_path / "src", gz=gz)
    ds = load_dataset("mnist", root=tmp_path / "src")
    assert len(ds) == 12 and ds.info.name == "mnist"
    assert torch.equal(ds.targets, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    # torchvision reads only uncompressed files: give it a decompressed copy.
    plain = tmp_path / "plain"
    write_fake_mnist(plain, gz=False)
    for train in (True, False):
        ours = load_dataset("mnist", root=tmp_path / "src", train=train)
        ref = torchvision_reference(plain, train=train)
        assert torch.equal(ours.targets, ref.targets)
        expected = torch.stack([ref[i][0] for i in range(len(ref))])
        assert torch.equal(ours.images, expected)  # bit-identical to ToTensor + Normalize


def test_fashion_mnist_layout_and_stats(tmp_path):
    write_fake_mnist(tmp_path, gz=True, folder="FashionMNIST")
    ds = load_dataset("fashion-mnist", root=tmp_path, train=False)
    assert len(ds) == 5 and ds.info.mean == (0.2860,)
    plain = tmp_path / "plain"
    write_fake_mnist(plain, gz=False, folder="FashionMNIST")
    ref = torchvision_reference(plain, train=False, folder="FashionMNIST", mean=0.2860, std=0.3530)
    assert torch.equal(ds.images, torch.stack([ref[i][0] for i in range(len(ref))]))


def test_mnist_resize_option(tmp_path):
    write_fake_mnist(tmp_path, gz=True)
    ds = load_dataset("mnist", root=tmp_path, image_size=32)
    assert ds.images.shape == (12, 1, 32, 32) and ds.info.image_size == 32


def test_root_defaults_to_environment_variable(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, gz=True)
    monkeypatch.setenv("NEURO_DE_DATA", str(tmp_path))
    assert len(load_dataset("mnist", train=False)) == 5
    monkeypatch.delenv("NEURO_DE_DATA")
    with pytest.raises(ValueError, match="needs `root`.*NEURO_DE_DATA.*'digits'"):
        load_dataset("fashion-mnist")


def test_mnist_without_root_reads_the_bundled_official_files(monkeypatch):
    """The package ships the four official MNIST files: no root, no environment variable,
    no download, and byte for byte the official data."""
    monkeypatch.delenv("NEURO_DE_DATA", raising=False)
    raw = BUNDLED_ROOT / "MNIST" / "raw"
    for stem, md5 in MNIST_FILES.items():
        assert hashlib.md5(gzip.decompress((raw / f"{stem}.gz").read_bytes())).hexdigest() == md5
    test = load_dataset("mnist", train=False)
    assert len(test) == 10000 and test.targets[0].item() == 7


def test_missing_root_says_where_files_go_and_mentions_download(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="does not exist.*MNIST/raw.*download=True"):
        load_dataset("mnist", root=missing)
    with pytest.raises(FileNotFoundError, match="does not exist.*cifar-10-batches-py"):
        load_dataset("cifar10", root=missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("imagefolder", root=missing)
    assert not missing.exists()  # nothing created, nothing downloaded


def test_wrong_layout_is_explained(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no mnist files.*train-images-idx3-ubyte"):
        load_dataset("mnist", root=tmp_path / "empty")
    write_fake_mnist(tmp_path / "data", gz=True)
    # Pointing at MNIST/ or MNIST/raw/ instead of the folder that contains MNIST/.
    for wrong in (tmp_path / "data" / "MNIST", tmp_path / "data" / "MNIST" / "raw"):
        with pytest.raises(FileNotFoundError, match="did you mean root=.*data'"):
            load_dataset("mnist", root=wrong)
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-py/ folder"):
        load_dataset("cifar10", root=tmp_path / "empty")


def test_partial_or_corrupt_files(tmp_path):
    write_fake_mnist(tmp_path, gz=True)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=tmp_path, train=False)
    broken = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    broken.write_bytes(gzip.compress(gzip.decompress(broken.read_bytes())[:-10]))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_dataset("mnist", root=tmp_path)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)


# --------------------------------------------------------------------------- image folders


def _write_images(folder: Path, classes=("cat", "dog"), per_class=2, size=(40, 30)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (folder / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
            Image.fromarray(pixels).save(folder / c / f"{i}.png")


def test_imagefolder_transform_and_info(tmp_path):
    _write_images(tmp_path / "flat")
    ds = load_dataset("imagefolder", root=tmp_path / "flat", image_size=24, resize_size=28)
    assert len(ds) == 4 and ds.classes == ["cat", "dog"]
    x, y = ds[0]
    assert x.shape == (3, 24, 24) and x.dtype == torch.float32 and y == 0
    assert (ds.info.num_classes, ds.info.image_size, ds.info.channels) == (2, 24, 3)
    assert dataset_info("imagefolder", root=tmp_path / "flat").num_classes == 2
    check_compatible(build_model("lenet1", **ds.info.model_kwargs()), ds)
    with pytest.raises(FileNotFoundError, match="not an image folder"):
        load_dataset("imagefolder", root=tmp_path / "flat" / "cat")


def test_imagenet_style_train_val_layout(tmp_path):
    _write_images(tmp_path / "train", per_class=3)
    _write_images(tmp_path / "val", per_class=1)
    assert len(load_dataset("imagenet", root=tmp_path, image_size=16)) == 6
    val = load_dataset("imagenet", root=tmp_path, train=False, image_size=16)
    assert len(val) == 2 and val[0][0].shape == (3, 16, 16)
    shutil.rmtree(tmp_path / "val")
    with pytest.raises(FileNotFoundError, match="no val/ folder"):
        load_dataset("imagenet", root=tmp_path, train=False)


# --------------------------------------------------------------------------- compatibility


def test_check_compatible_accepts_matching_pairs():
    check_compatible(LeNet5(), "mnist")
    check_compatible(LeNet5(in_channels=3, image_size=32, num_classes=100), "cifar100")
    check_compatible(MLP((3, 32, 32)), dataset_info("cifar10"))
    check_compatible(RNNClassifier(hidden_size=4), load_dataset("digits", train=False))
    custom = DatasetInfo("custom", 2, 20, 3, (0.0, 0.0), (1.0, 1.0))
    check_compatible(LeNet1(in_channels=2, image_size=20, num_classes=3), custom)
    with pytest.raises(ValueError, match="outputs 10 logits but data set 'custom' has 3"):
        check_compatible(LeNet1(in_channels=2, image_size=20), custom)


def test_check_compatible_reports_mismatches():
    with pytest.raises(ValueError, match="LeNet5 cannot read data set 'mnist'.*channels"):
        check_compatible(LeNet5(in_channels=3), "mnist")
    with pytest.raises(ValueError, match="MLP cannot read data set 'cifar10'.*in_channels=3"):
        check_compatible(MLP(784), "cifar10")
    with pytest.raises(ValueError, match="image_size=32 \\(data: 28\\)"):
        check_compatible(LeNet1(image_size=32), "mnist")
    with pytest.raises(ValueError, match="outputs 10 logits but data set 'cifar100' has 100"):
        check_compatible(LeNet5(in_channels=3, image_size=32), "cifar100")
    with pytest.raises(ValueError, match="RNNClassifier cannot read"):
        check_compatible(RNNClassifier(in_channels=3, image_size=32), load_dataset("digits"))


def test_check_compatible_restores_training_mode():
    model = LeNet5().train()
    check_compatible(model, "mnist")
    assert model.training
    model.eval()
    check_compatible(model, "mnist")
    assert not model.training


# --------------------------------------------------------------------------- splits


def test_train_heldout_split_is_disjoint_covering_and_seeded():
    base = TensorDataset(torch.arange(100).float().view(100, 1), torch.arange(100))
    train, heldout = train_heldout_split(base, 0.2, seed=3)
    assert isinstance(train, Subset) and train.dataset is base and heldout.dataset is base
    assert (len(train), len(heldout)) == (80, 20)
    assert not set(train.indices) & set(heldout.indices)
    assert sorted(train.indices + heldout.indices) == list(range(100))
    again = train_heldout_split(base, 0.2, seed=3)
    assert again[1].indices == heldout.indices
    assert train_heldout_split(base, 0.2, seed=4)[1].indices != heldout.indices


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_bad_heldout_fractions(bad):
    base = TensorDataset(torch.zeros(10, 1), torch.zeros(10))
    with pytest.raises(ValueError, match="`heldout_fraction` must be in \\(0, 1\\)"):
        train_heldout_split(base, bad, seed=0)


def test_fraction_leaving_an_empty_part():
    base = TensorDataset(torch.zeros(10, 1), torch.zeros(10))
    with pytest.raises(ValueError, match="empty held-out part"):
        train_heldout_split(base, 0.01, seed=0)
    assert split_sizes(10, 0.25) == (7, 3)


def test_seed_is_keyword_and_required():
    base = TensorDataset(torch.zeros(10, 1), torch.zeros(10))
    with pytest.raises(TypeError):
        train_heldout_split(base, 0.2)
    with pytest.raises(TypeError):
        train_heldout_split(base, 0.2, 0)


def test_load_splits_holds_out_from_train_only():
    splits = load_splits("digits", heldout_fraction=0.1, seed=0)
    train, heldout, test = splits
    assert train.dataset is heldout.dataset  # both carved from the training split
    assert len(train.dataset) == 1346 and len(test) == 451
    assert len(heldout) == 135 and len(train) == 1211
    assert not set(train.indices) & set(heldout.indices)
    # Nothing of the test split leaks into held-out data.
    test_rows = {tuple(r.flatten().tolist()) for r in test.images}
    heldout_x, _ = to_tensors(heldout)
    assert not any(tuple(r.flatten().tolist()) in test_rows for r in heldout_x[:50])
    assert dataset_info(heldout).name == "digits"
    with pytest.raises(ValueError, match="heldout_fraction"):
        load_splits("digits", heldout_fraction=0.0)


def test_to_tensors_follows_subsets():
    ds = load_dataset("digits", train=False)
    sub = Subset(Subset(ds, list(range(10, 40))), [0, 5, 29])
    x, y = to_tensors(sub)
    assert torch.equal(x, ds.images[[10, 15, 39]]) and torch.equal(y, ds.targets[[10, 15, 39]])
    generic = [(torch.zeros(2), 1), (torch.ones(2), 0)]
    gx, gy = to_tensors(generic)
    assert gx.shape == (2, 2) and gy.tolist() == [1, 0]


# --------------------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def mnist_root() -> Path:
    value = os.environ.get("NEURO_DE_DATA") or str(BUNDLED_ROOT)  # else the bundled copy
    root = Path(value)
    if not (root / "MNIST" / "raw").is_dir():
        pytest.skip(f"real MNIST: no MNIST/raw folder under NEURO_DE_DATA={value}")
    return root


@pytest.mark.data
def test_real_mnist_sizes_and_known_labels(mnist_root):
    train = load_dataset("mnist", root=mnist_root)
    test = load_dataset("mnist", root=mnist_root, train=False)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape == (60000, 1, 28, 28)
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels
    assert test.targets[0].item() == 7
    assert torch.bincount(train.targets).tolist()[1] == 6742
    check_compatible(LeNet5(), train)


@pytest.mark.data
def test_real_mnist_equals_torchvision_on_decompressed_files(mnist_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, md5 in MNIST_FILES.items():
        source = mnist_root / "MNIST" / "raw" / stem
        payload = (
            source.read_bytes()
            if source.is_file()
            else gzip.decompress((mnist_root / "MNIST" / "raw" / f"{stem}.gz").read_bytes())
        )
        assert hashlib.md5(payload).hexdigest() == md5
        (raw / stem).write_bytes(payload)
    for train in (True, False):
        ours = load_dataset("mnist", root=mnist_root, train=train)
        ref = torchvision.datasets.MNIST(str(tmp_path), train=train)
        assert torch.equal(ours.targets, ref.targets)
        expected = (ref.data.float().div(255).unsqueeze(1) - 0.1307) / 0.3081
        assert torch.equal(ours.images, expected)
        # ... and identical to torchvision's per-item transform on a few samples.
        tv = torchvision_reference(tmp_path, train=train)
        for i in (0, 1, len(tv) - 1):
            assert torch.equal(ours[i][0], tv[i][0]) and ours[i][1].item() == tv[i][1]


@pytest.mark.data
def test_real_mnist_splits(mnist_root):
    train, heldout, test = load_splits("mnist", root=mnist_root, heldout_fraction=0.1, seed=0)
    assert (len(train), len(heldout), len(test)) == (54000, 6000, 10000)
    assert train.dataset is heldout.dataset and len(train.dataset) == 60000
