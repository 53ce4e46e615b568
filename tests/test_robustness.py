"""The corruption suite machinery, the corrupted sets, the metrics and the evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from neuro_de.data import dataset_info, load_dataset
from neuro_de.data.datasets import ImageTensorDataset
from neuro_de.robustness import (
    CLEAN,
    CorruptedSets,
    CorruptionSuite,
    as_dataset,
    as_networks,
    check_images,
    corruption_errors,
    plot_corruption_errors,
    raw_images,
    robustness_errors,
    robustness_summary,
    robustness_table,
)
from neuro_de.robustness.suite import _CHUNK


def noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Adds integer noise of amplitude 10 * severity (module level: picklable)."""
    n = rng.integers(-10 * severity, 10 * severity + 1, size=image.shape)
    return np.clip(image.astype(np.int16) + n, 0, 255).astype(np.uint8)


def invert(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return (255 - image).astype(np.uint8)


def bad_dtype(image, severity, rng):
    return image.astype(np.float32)


@pytest.fixture
def suite():
    return CorruptionSuite({"noise": noise, "invert": invert}, severities=(1, 3), seed=7)


@pytest.fixture(scope="module")
def grey():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 12, 12), dtype=np.uint8)


# ------------------------------------------------------------------ the suite


def test_conditions_and_repr(suite):
    assert suite.conditions() == [("noise", 1), ("noise", 3), ("invert", 1), ("invert", 3)]
    assert "2 corruptions" in repr(suite) and "seed=7" in repr(suite)


def test_result_depends_only_on_index_corruption_severity_seed(suite, grey):
    full = suite.corrupt(grey, "noise", 3)
    # any sub-range with its start index gives the same images
    part = suite.corrupt(grey[10:25], "noise", 3, start=10)
    np.testing.assert_array_equal(part, full[10:25])
    one = suite.corrupt_image(grey[17], "noise", 3, index=17)
    np.testing.assert_array_equal(one, full[17])
    # another seed, severity or corruption name changes the draws
    other_seed = CorruptionSuite({"noise": noise}, seed=8).corrupt(grey, "noise", 3)
    assert not np.array_equal(other_seed, full)
    assert not np.array_equal(suite.corrupt(grey, "noise", 1), full)
    renamed = CorruptionSuite({"noise2": noise}, seed=7).corrupt(grey, "noise2", 3)
    assert not np.array_equal(renamed, full)
    # the input is never modified, the output keeps shape and dtype
    assert full.shape == grey.shape and full.dtype == np.uint8


def test_workers_give_identical_results(suite):
    rng = np.random.default_rng(1)
    many = rng.integers(0, 256, size=(_CHUNK * 2 + 5, 8, 8), dtype=np.uint8)
    serial = suite.corrupt(many, "noise", 1)
    parallel = suite.corrupt(many, "noise", 1, workers=2)
    np.testing.assert_array_equal(serial, parallel)


def test_cache_written_atomically_and_read_back(suite, grey, tmp_path):
    first = suite.corrupt_cached(grey, "noise", 3, cache_dir=tmp_path)
    path = suite.cache_path(tmp_path, grey, "noise", 3)
    assert path.exists() and path.parent.name == "custom"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    np.testing.assert_array_equal(np.load(path), first)
    # a cached file is read, not regenerated: overwrite it and see the change come back
    marker = np.zeros_like(first)
    np.save(path, marker)
    np.testing.assert_array_equal(suite.corrupt_cached(grey, "noise", 3, cache_dir=tmp_path),
                                  marker)
    # other clean images use another file
    assert suite.cache_path(tmp_path, grey[:5], "noise", 3) != path


def test_bad_inputs_name_the_fix(suite, grey):
    with pytest.raises(ValueError, match="unknown corruption 'blur'.*valid: noise, invert"):
        suite.corrupt(grey, "blur", 1)
    for severity in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match="`severity` must be an integer in 1-5"):
            suite.corrupt(grey, "noise", severity)
    with pytest.raises(TypeError, match=r"uint8.*\(x \* 255\)\.round\(\)"):
        suite.corrupt(grey.astype(np.float32) / 255, "noise", 1)
    with pytest.raises(TypeError, match="NumPy uint8 array.*torch"):
        suite.corrupt(torch.zeros(2, 12, 12), "noise", 1)
    with pytest.raises(ValueError, match=r"shape \(N, H, W\).*Drop the channel axis"):
        suite.corrupt(grey[:, None], "noise", 1)
    with pytest.raises(ValueError, match="at least 8x8"):
        suite.corrupt(grey[:, :5, :5], "noise", 1)
    rgb = CorruptionSuite({"noise": noise}, channels=3, min_size=8)
    with pytest.raises(ValueError, match="Move channels last"):
        rgb.corrupt(np.zeros((2, 3, 9, 9), np.uint8), "noise", 1)
    with pytest.raises(ValueError, match="for RGB images"):
        rgb.corrupt(grey, "noise", 1)
    with pytest.raises(RuntimeError, match="must return uint8 of the same shape"):
        CorruptionSuite({"bad": bad_dtype}).corrupt(grey, "bad", 1)
    with pytest.raises(ValueError, match="`severities` for 'noise' is empty"):
        CorruptionSuite({"noise": noise}, severities={"noise": ()})
    with pytest.raises(ValueError, match="`severity` must be an integer in 1-5"):
        CorruptionSuite({"noise": noise}, severities=(0, 1))
    with pytest.raises(ValueError, match="does not run: \\['fog'\\]"):
        CorruptionSuite({"noise": noise}, severities={"noise": (1,), "fog": (2,)})
    with pytest.raises(ValueError, match="non-empty mapping"):
        CorruptionSuite({})
    with pytest.raises(ValueError, match="`channels` must be 1"):
        CorruptionSuite({"noise": noise}, channels=2)
    with pytest.raises(ValueError, match="unknown corruption suite 'imagenet-c'"):
        CorruptionSuite.named("imagenet-c")
    with pytest.raises(ValueError, match="`workers` must be an integer >= 0"):
        suite.corrupt(grey, "noise", 1, workers=-1)


def test_check_images_accepts_valid_batches():
    check_images(np.zeros((3, 28, 28), np.uint8), channels=1, min_size=8)
    check_images(np.zeros((3, 32, 32, 3), np.uint8), channels=3, min_size=32)


# ------------------------------------------------------------------ data sets


@pytest.fixture(scope="module")
def mnist_test():
    data = load_dataset("mnist", train=False)
    return torch.utils.data.Subset(data, range(64))


def test_raw_images_give_back_the_stored_pixels(mnist_test):
    from neuro_de.data import BUNDLED_ROOT
    from neuro_de.data.idx import find_idx_file, read_idx

    raw, labels = raw_images(mnist_test)
    stored = read_idx(find_idx_file(BUNDLED_ROOT / "MNIST" / "raw", "t10k-images-idx3-ubyte"))
    np.testing.assert_array_equal(raw, stored[:64].numpy())
    assert labels.dtype == np.int64 and len(labels) == 64
    # and as_dataset is the inverse: the same normalised tensors
    back = as_dataset(raw, labels, dataset_info(mnist_test))
    torch.testing.assert_close(back.images, torch.stack([mnist_test[i][0] for i in range(64)]))


def test_raw_images_refuses_the_wrong_statistics(mnist_test):
    from dataclasses import replace

    wrong = replace(dataset_info("mnist"), mean=(0.0,), std=(1.0,))  # as if not normalised
    with pytest.raises(ValueError, match="not in \\[0, 1\\].*pass the matching `info`"):
        raw_images(mnist_test, info=wrong)


def test_rgb_round_trip():
    info = dataset_info("cifar10")
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    data = as_dataset(raw, np.arange(5), info)
    assert data.images.shape == (5, 3, 32, 32)
    back, labels = raw_images(data)
    np.testing.assert_array_equal(back, raw)
    np.testing.assert_array_equal(labels, np.arange(5))


def test_corrupted_sets_yield_normalised_corrupted_data(mnist_test, tmp_path):
    suite = CorruptionSuite({"invert": invert}, severities=(2,))
    sets = CorruptedSets(mnist_test, suite, cache_dir=tmp_path)
    assert len(sets) == 1
    [(name, severity, data)] = list(sets)
    assert (name, severity) == ("invert", 2)
    assert isinstance(data, ImageTensorDataset) and len(data) == 64
    raw, _ = raw_images(mnist_test)
    np.testing.assert_array_equal(raw_images(data)[0], 255 - raw)
    with pytest.raises(ValueError, match="grey images but the custom suite corrupts RGB"):
        CorruptedSets(mnist_test, CorruptionSuite({"invert": invert}, channels=3))


# ------------------------------------------------------------------ metrics


def toy_errors() -> pd.DataFrame:
    rows = []
    table = {"A": {CLEAN: [0.1], "c1": [0.2, 0.4], "c2": [0.3, 0.5]},
             "B": {CLEAN: [0.05], "c1": [0.1, 0.3], "c2": [0.3, 0.2]}}
    for model, per in table.items():
        for corruption, errors in per.items():
            for k, e in enumerate(errors):
                rows.append({"model": model, "corruption": corruption,
                             "severity": 0 if corruption == CLEAN else k + 1, "error": e})
    return pd.DataFrame(rows)


def test_ce_and_mce_by_hand():
    ce = corruption_errors(toy_errors(), reference="A").set_index(["model", "corruption"])
    assert ce.loc[("A", "c1"), "CE"] == pytest.approx(1.0)
    assert ce.loc[("B", "c1"), "CE"] == pytest.approx(0.4 / 0.6)
    assert ce.loc[("B", "c2"), "CE"] == pytest.approx(0.5 / 0.8)
    assert ce.loc[("B", "c1"), "relative_CE"] == pytest.approx((0.4 - 0.1) / (0.6 - 0.2))
    assert ce.loc[("B", "c2"), "relative_CE"] == pytest.approx((0.5 - 0.1) / (0.8 - 0.2))
    assert ce.loc[("B", "c1"), "error"] == pytest.approx(0.2)
    s = robustness_summary(toy_errors(), reference="A").set_index("model")
    assert s.loc["A", "mCE"] == pytest.approx(1.0)  # the reference: 100 % by construction
    assert s.loc["A", "relative_mCE"] == pytest.approx(1.0)
    assert s.loc["B", "mCE"] == pytest.approx((0.4 / 0.6 + 0.5 / 0.8) / 2)
    assert s.loc["B", "relative_mCE"] == pytest.approx((0.75 + 0.4 / 0.6) / 2)
    assert s.loc["B", "average_error"] == pytest.approx(0.225)
    assert s.loc["B", "clean_error"] == pytest.approx(0.05)
    # with B as the reference, B is 100 % and A is the inverse ratio per corruption
    s2 = robustness_summary(toy_errors(), reference="B").set_index("model")
    assert s2.loc["B", "mCE"] == pytest.approx(1.0)
    assert s2.loc["A", "mCE"] == pytest.approx((0.6 / 0.4 + 0.8 / 0.5) / 2)


def test_per_seed_reference_and_table():
    a, b = toy_errors(), toy_errors()
    b.loc[b["model"] == "B", "error"] *= 0.5
    both = pd.concat([a.assign(seed=0), b.assign(seed=1)], ignore_index=True)
    s = robustness_summary(both, reference="A").set_index(["seed", "model"])
    assert s.loc[(1, "B"), "mCE"] == pytest.approx(0.5 * s.loc[(0, "B"), "mCE"])
    table = robustness_table(both, reference="A")
    assert list(table.index) == ["c1", "c2", "Average", "Clean"]
    assert table.loc["Average", ("CE", "A")] == pytest.approx(100.0)
    assert table.loc["c1", ("error", "B")] == pytest.approx(100 * (0.2 + 0.1) / 2)
    assert table.loc["Average", ("CE", "B")] == pytest.approx(
        100 * (s.loc[(0, "B"), "mCE"] + s.loc[(1, "B"), "mCE"]) / 2)
    assert math.isnan(table.loc["Clean", ("CE", "B")])


def test_undefined_ce_is_nan_not_dropped():
    e = toy_errors()
    e.loc[(e["model"] == "A") & (e["corruption"] == "c2"), "error"] = 0.0
    s = robustness_summary(e, reference="A").set_index("model")
    assert math.isnan(s.loc["B", "mCE"])


def test_metric_errors():
    with pytest.raises(ValueError, match="reference model 'C' is not in the results.*'A', 'B'"):
        corruption_errors(toy_errors(), reference="C")
    with pytest.raises(ValueError, match="lacks the column"):
        corruption_errors(toy_errors().drop(columns="severity"), reference="A")
    percent = toy_errors().assign(error=lambda d: 100 * d["error"])
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\]"):
        corruption_errors(percent, reference="A")
    e = toy_errors()
    e = e[~((e["model"] == "A") & (e["corruption"] == "c2"))]
    with pytest.raises(ValueError, match="'A' lacks results for \\['c2'\\]"):
        corruption_errors(e, reference="A")
    with pytest.raises(ValueError, match="clean rows only"):
        corruption_errors(toy_errors().query("corruption == @CLEAN"), reference="A")


# ------------------------------------------------------------------ evaluation


class Threshold(nn.Module):
    """Class 1 when the mean pixel (normalised) is above ``t``, else class 0."""

    def __init__(self, t: float):
        super().__init__()
        self.t = nn.Parameter(torch.tensor([t]))

    def forward(self, x):
        score = x.mean(dim=(1, 2, 3)) - self.t
        return torch.stack([-score, score], dim=1)


def test_robustness_errors_modules_vectors_and_plot(tmp_path):
    info = dataset_info("mnist")
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 40, size=(20, 10, 10), dtype=np.uint8)
    labels = np.zeros(20, dtype=np.int64)
    labels[10:] = 1
    dark[10:] += 150  # the second half is bright: class 1
    clean = as_dataset(dark, labels, info)
    suite = CorruptionSuite({"invert": invert}, severities=(1,))
    sets = CorruptedSets(clean, suite)
    cut = float((100 / 255 - info.mean[0]) / info.std[0])
    nets = {"good": Threshold(cut), "vector": torch.tensor([cut])}
    errors = robustness_errors(nets, sets, clean=clean, template=Threshold(0.0), seed=4)
    got = errors.set_index(["model", "corruption"])["error"]
    assert got[("good", CLEAN)] == 0.0 and got[("vector", CLEAN)] == 0.0
    assert got[("good", "invert")] == 1.0  # inverting swaps bright and dark: all wrong
    assert set(errors["seed"]) == {4}
    path = plot_corruption_errors(errors, tmp_path / "errors.png")
    assert path.stat().st_size > 5000
    with pytest.raises(ValueError, match="pass `template=`"):
        as_networks({"v": torch.zeros(1)})
    with pytest.raises(TypeError, match="nn.Module or a parameter vector"):
        as_networks({"v": "model.pt"})
