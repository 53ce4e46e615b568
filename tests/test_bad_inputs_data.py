"""Bad input to the problems, the population builders and the data loaders fails early.

Rows of the user test's bad-input table (``usertest_2026-12-06.md`` section 6) and their
neighbours: wrong devices, labels the model cannot take, dtype and channel mistakes, models
without parameters, ``exclude`` given as a string, BatchNorm with minibatches of one, the
batch schedule used twice or never, MNIST files in the wrong folder. Each case asserts the
exception type and message, and for the late rows that the error comes before any training
step or evaluation.
"""

from __future__ import annotations

import gzip
import re
import warnings

import numpy as np
import pytest
import torch
from evotorch.algorithms import CEM, SNES
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

import neuro_de.population.backprop as backprop
from neuro_de.algorithms import DE, PSO, SHADE, SaDE
from neuro_de.data import load_dataset
from neuro_de.models import LeNet5
from neuro_de.population import init_hp, init_rs, noise_population, train_snapshots
from neuro_de.problems import ParameterView, SupervisedNetProblem

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = torch.backends.mps.is_available()


def data(n: int = 40, *, labels: torch.Tensor | None = None) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = torch.randint(0, 3, (n,), generator=g) if labels is None else labels
    return TensorDataset(x, y)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def problem(**kw) -> SupervisedNetProblem:
    kw.setdefault("batch_size", 4)
    return SupervisedNetProblem(kw.pop("model", mlp()), kw.pop("dataset", data()), **kw)


@pytest.fixture
def no_training(monkeypatch):
    """Make any training step fail loudly: the checks must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("training started before the bad input was refused")

    monkeypatch.setattr(backprop, "_train_run", fail)
    monkeypatch.setattr("neuro_de.population.initializers._train_run", fail)


@pytest.fixture
def no_evaluation(monkeypatch):
    """Make any fitness evaluation fail loudly: the checks must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("an evaluation ran before the bad input was refused")

    monkeypatch.setattr(SupervisedNetProblem, "score", fail)


# ----------------------------------------------------------------------------- devices
# Rows #18, #19, #66: `device="cuda"` without a GPU, `device="gpu"`, and their neighbours.
BAD_DEVICES = [
    pytest.param("gpu", r"`device`='gpu' is not a device.*Did you mean device='cuda'", id="gpu"),
    pytest.param("GPU", r"'GPU' is not a device.*'cpu', 'cuda'.*device='cuda'", id="GPU"),
    pytest.param("CUDA", r"'CUDA' is not a device.*Did you mean device='cuda'", id="CUDA"),
    pytest.param("Cpu", r"'Cpu' is not a device.*Did you mean device='cpu'", id="Cpu"),
    pytest.param("nvidia", r"not a device.*device='cuda'", id="nvidia"),
    pytest.param("tpu", r"'tpu' is not a device; valid choices are 'cpu', 'cuda'", id="tpu"),
    pytest.param("", r"`device`='' is not a device", id="empty"),
    pytest.param("cpu0", r"'cpu0' is not a device", id="cpu0"),
    pytest.param("cuda:-1", r"'cuda:-1' is not a device", id="cuda-negative"),
    pytest.param("cuda:x", r"'cuda:x' is not a device", id="cuda-x"),
    pytest.param("xla", r"'xla' is not supported; valid choices", id="xla"),
    pytest.param("vulkan", r"'vulkan' is not supported", id="vulkan"),
    pytest.param(1.5, r"`device` must be a string such as 'cpu'.*float", id="float"),
    pytest.param(["cpu"], r"`device` must be a string.*list", id="list"),
    pytest.param("cuda:99", r"`device`='cuda:99' but this machine has .*CUDA GPU", id="cuda99"),
    pytest.param(
        "cuda", r"`device`='cuda' but this machine has no usable CUDA GPU.*device='cpu'",
        id="cuda-without-gpu",
        marks=pytest.mark.skipif(HAS_CUDA, reason="this machine has a GPU"),
    ),
    pytest.param(
        "mps", r"`device`='mps' but Apple's MPS backend is not available",
        id="mps-unavailable",
        marks=pytest.mark.skipif(HAS_MPS, reason="this machine has MPS"),
    ),
]

DEVICE_ENTRY_POINTS = {
    "SupervisedNetProblem": lambda d: problem(device=d),
    "train_snapshots": lambda d: train_snapshots(
        mlp(), data(), epochs=1, keep_last=1, device=d, progress=False
    ),
    "init_rs": lambda d: init_rs(mlp(), data(), m=2, epochs=1, device=d, progress=False),
    "init_hp": lambda d: init_hp(mlp(), data(), m=2, epochs=1, device=d, progress=False),
    "Population.to": lambda d: noise_population(
        ParameterView(mlp()).to_vector(mlp()), m=3, std=0.1
    ).to(d),
}


@pytest.mark.parametrize("entry", sorted(DEVICE_ENTRY_POINTS))
@pytest.mark.parametrize("device, message", BAD_DEVICES)
def test_bad_device_is_refused_before_training(entry, device, message, no_training):
    with pytest.raises(ValueError, match=message):
        DEVICE_ENTRY_POINTS[entry](device)


@pytest.mark.parametrize("device", ["cpu", "cpu:0", torch.device("cpu"), None])
def test_cpu_spellings_are_accepted(device):
    assert problem(device=device).device.type == "cpu"


# ------------------------------------------------------------------------------ labels
# Row #4: a label out of range is refused at construction, not when its minibatch arrives.
def _labels_with(index: int, value: int, n: int = 40) -> torch.Tensor:
    y = torch.arange(n) % 3
    y[index] = value
    return y


class TargetsDataset(Dataset):
    """A non-tensor data set with a torchvision-style ``targets`` attribute."""

    def __init__(self, labels: torch.Tensor):
        self.x = torch.randn(len(labels), 4)
        self.targets = labels.tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.x[i], self.targets[i]


BAD_LABEL_SETS = {
    "label -1 in the last sample (row 4)": (data(labels=_labels_with(39, -1)), "has label -1"),
    "label -1 in the middle": (data(labels=_labels_with(17, -1)), "has label -1"),
    "label 3 of 3 classes, last sample": (data(labels=_labels_with(39, 3)), "has label 3"),
    "label 100": (data(labels=_labels_with(25, 100)), r"has label 100 .*\[0, 2\]"),
    "label -5 and 7": (data(labels=_labels_with(5, -5)), "has label -5"),
    "bad label in a Subset": (
        Subset(data(labels=_labels_with(30, 9)), list(range(10, 40))), "has label 9"
    ),
    "bad label in torchvision-style targets": (
        TargetsDataset(_labels_with(38, -1)), "has label -1"
    ),
    "boolean labels": (data(labels=torch.arange(40) % 2 == 0), "integer class indices"),
    "bad label in a Subset of torchvision-style targets": (
        Subset(TargetsDataset(_labels_with(36, 5)), list(range(20, 40))), "has label 5"
    ),
    "bad label in a Subset of a Subset": (
        Subset(Subset(data(labels=_labels_with(35, -2)), list(range(10, 40))), list(range(30))),
        "has label -2",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LABEL_SETS))
def test_every_label_is_checked_at_construction(case, no_evaluation):
    dataset, message = BAD_LABEL_SETS[case]
    with pytest.raises(ValueError, match=message):
        problem(dataset=dataset, batch_size=4)


def test_labels_outside_a_subset_are_not_checked():
    labels = _labels_with(39, 7)
    assert problem(dataset=Subset(TargetsDataset(labels), list(range(20)))).num_classes == 3
    assert problem(dataset=Subset(data(labels=labels), list(range(20)))).num_classes == 3


def test_label_error_names_the_fix():
    with pytest.raises(ValueError, match=r"`model` outputs 3 logits.*unlabelled samples"):
        problem(dataset=data(labels=_labels_with(39, -1)))


# Row #60: evaluate_vector with labels out of range is a ValueError, not torch's IndexError.
BAD_EVAL_DATA = {
    "label 7 of 3 classes": (data(8, labels=torch.full((8,), 7)), "`data` has label 7"),
    "label -1": (data(8, labels=torch.tensor([0, 1, 2, -1, 0, 1, 2, 0])), "`data` has label -1"),
    "label 3 in the last batch": (
        data(8, labels=torch.tensor([0, 1, 2, 0, 1, 2, 0, 3])),
        r"`data` has label 3 \(after 4 samples\)",
    ),
    "float label 7.0": (data(8, labels=torch.full((8,), 7.0)), "`data` has label 7"),
    "a DataLoader with label 5": (
        DataLoader(data(8, labels=torch.full((8,), 5)), batch_size=4), "`data` has label 5"
    ),
    "a list of batches with label 4": (
        [(torch.randn(2, 4), torch.tensor([0, 4]))], "`data` has label 4"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_EVAL_DATA))
def test_evaluate_vector_refuses_labels_out_of_range(case):
    p = problem()
    dataset, message = BAD_EVAL_DATA[case]
    with pytest.raises(ValueError, match=message):
        p.evaluate_vector(p.parameter_vector(), dataset, batch_size=4)


# Row #63: train_snapshots with float labels; neighbours: one-hot, negative, boolean labels.
class PairDataset(Dataset):
    """A non-tensor data set of (input, label) pairs."""

    def __init__(self, label):
        self.label = label

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        return torch.randn(4), self.label


class DictDataset(Dataset):
    """A data set whose items are dicts, not (input, label) pairs."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return {"x": torch.randn(4), "y": 0}


BAD_TRAIN_LABELS = {
    "float labels (row 63)": (
        data(labels=(torch.arange(40) % 3).float()), r"torch\.float32.*\.long\(\)"
    ),
    "float64 labels": (data(labels=(torch.arange(40) % 3).double()), r"torch\.float64"),
    "one-hot labels": (
        data(labels=nn.functional.one_hot(torch.arange(40) % 3)), r"one-hot.*argmax\(1\)"
    ),
    "label -1": (data(labels=_labels_with(39, -1)), r"as low as -1.*unlabelled"),
    "boolean labels": (data(labels=torch.arange(40) % 2 == 0), r"torch\.bool"),
    "float label in a plain Dataset": (PairDataset(1.0), r"train_set\[0\]'s label is torch\.float"),
    "float labels in a Subset": (
        Subset(data(labels=(torch.arange(40) % 3).float()), [0, 1, 2, 3]), r"\.long\(\)"
    ),
    "dataset yields dicts": (DictDataset(), r"must yield \(input, label\) pairs"),
}


@pytest.mark.parametrize("entry", ["train_snapshots", "init_rs"])
@pytest.mark.parametrize("case", sorted(BAD_TRAIN_LABELS))
def test_training_refuses_bad_labels_before_training(entry, case, no_training):
    dataset, message = BAD_TRAIN_LABELS[case]
    with pytest.raises(ValueError, match=message):
        if entry == "train_snapshots":
            train_snapshots(mlp(), dataset, epochs=1, keep_last=1, progress=False)
        else:
            init_rs(mlp(), dataset, m=2, epochs=1, progress=False)


# ------------------------------------------------------------------ dtype and channels
# Rows #8, #17 (a dtype mismatch is named as one) and #10 (a missing channel dimension).
class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.fc = nn.Linear(2 * 6, 3)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def _images(shape, dtype=torch.float32, n=8):
    return TensorDataset(torch.rand(n, *shape).to(dtype), torch.arange(n) % 3)


DTYPE_CASES = {
    "float64 inputs (row 8)": (
        mlp, lambda: data().tensors[0].double(), r"inputs are torch\.float64 but the model's "
        r"parameters are torch\.float32.*\.float\(\)",
    ),
    "model.double() with float32 data (row 17)": (
        lambda: mlp().double(), lambda: data().tensors[0],
        r"inputs are torch\.float32 but the model's parameters are torch\.float64.*\.double\(\)",
    ),
    "float16 inputs": (
        mlp, lambda: data().tensors[0].half(), r"inputs are torch\.float16.*\.float\(\)"
    ),
    "float64 images on LeNet-5": (
        lambda: LeNet5(num_classes=3), lambda: torch.rand(40, 1, 28, 28, dtype=torch.float64),
        r"inputs are torch\.float64.*\.float\(\)",
    ),
    "uint8 images on an MLP": (
        mlp, lambda: torch.randint(0, 255, (40, 4), dtype=torch.uint8),
        r"inputs are torch\.uint8.*x\.float\(\) / 255",
    ),
    "28x28 images without channel dimension (row 10)": (
        lambda: LeNet5(num_classes=3), lambda: torch.rand(40, 28, 28),
        r"one dimension fewer than the model's first Conv2d.*x\.unsqueeze\(1\)",
    ),
    "1-D signals without channel dimension": (
        Conv1dNet, lambda: torch.rand(40, 8),
        r"one dimension fewer than the model's first Conv1d.*unsqueeze\(1\)",
    ),
}


@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
def test_model_failure_names_the_real_cause(case, no_evaluation):
    make_model, make_x, message = DTYPE_CASES[case]
    x = make_x()
    dataset = TensorDataset(x, torch.arange(len(x)) % 3)
    with pytest.raises(ValueError, match=message) as info:
        problem(model=make_model(), dataset=dataset)
    if "dimension" not in case:
        assert "channels and image size" not in str(info.value)


def test_wrong_image_size_keeps_the_channels_hint():
    with pytest.raises(ValueError, match="channels and image size"):
        problem(model=LeNet5(num_classes=3), dataset=_images((1, 12, 12), n=40))


# ------------------------------------------------------------ models without parameters
# Rows #11, #64: a model without parameters is named as such, not blamed on `exclude`.
EMPTY_MODELS = {
    "nn.Identity": nn.Identity,
    "nn.ReLU": nn.ReLU,
    "empty Sequential": nn.Sequential,
    "Sequential of Flatten and Softmax": lambda: nn.Sequential(nn.Flatten(), nn.Softmax(-1)),
}
EMPTY_ENTRY_POINTS = {
    "SupervisedNetProblem": lambda m: problem(model=m),
    "train_snapshots": lambda m: train_snapshots(m, data(), epochs=1, keep_last=1,
                                                 progress=False),
    "ParameterView": lambda m: ParameterView(m),
}


@pytest.mark.parametrize("entry", sorted(EMPTY_ENTRY_POINTS))
@pytest.mark.parametrize("model", sorted(EMPTY_MODELS))
def test_model_without_parameters(entry, model, no_training):
    with pytest.raises(ValueError, match=r"`model` \(\w+\) has no parameters") as info:
        EMPTY_ENTRY_POINTS[entry](EMPTY_MODELS[model]())
    assert "exclude" not in str(info.value)


# Row #14: `exclude="fc"` is one pattern (documented in ParameterView), not ['f', 'c'].
def test_exclude_as_a_string_is_one_pattern():
    net = mlp()
    assert ParameterView(net, exclude="2").names == ParameterView(net, exclude=["2"]).names
    assert ParameterView(net, exclude="2").excluded == ("2.weight", "2.bias")
    assert ParameterView(net, exclude=nn.ReLU).numel == ParameterView(net).numel
    assert problem(exclude="0").view.names == ("2.weight", "2.bias")


BAD_EXCLUDES = {
    "a string matching nothing": ("fc", r"`exclude` entries \['fc'\] match no parameter"),
    "a typo in a string": ("2.weightt", r"\['2.weightt'\] match no parameter.*2\.weight"),
    "a module type matching nothing": (nn.Conv2d, r"entries \[<class .*Conv2d'>\] match no"),
    "everything, as a type": (nn.Linear, r"`exclude`=\[<class .*Linear'>\] leaves no parameter"),
    "everything, as names": (["0", "2"], r"`exclude`=\['0', '2'\] leaves no parameter"),
    "an int": ([3], "must be parameter-name prefixes"),
}


@pytest.mark.parametrize("entry", ["SupervisedNetProblem", "train_snapshots"])
@pytest.mark.parametrize("case", sorted(BAD_EXCLUDES))
def test_bad_exclude(entry, case, no_training):
    exclude, message = BAD_EXCLUDES[case]
    error = TypeError if case == "an int" else ValueError
    with pytest.raises(error, match=message):
        if entry == "SupervisedNetProblem":
            problem(exclude=exclude)
        else:
            train_snapshots(mlp(), data(), epochs=1, keep_last=1, exclude=exclude, progress=False)


# ------------------------------------------------------------ BatchNorm, batches of one
# Row #22: bn="batch" with batch_size=1 is refused at construction, not at the first eval.
def _bn1d() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 3))


def _bn2d() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )


@pytest.mark.parametrize("make_model, dataset", [
    pytest.param(_bn1d, data(), id="BatchNorm1d"),
    pytest.param(_bn2d, _images((1, 6, 6), n=12), id="BatchNorm2d"),
])
def test_batchnorm_with_batches_of_one(make_model, dataset, no_evaluation):
    with pytest.raises(ValueError, match=r"`bn`='batch' with `batch_size`=1.*bn='frozen'"):
        problem(model=make_model(), dataset=dataset, bn="batch", batch_size=1)


def test_batchnorm_frozen_with_batches_of_one_is_fine():
    p = problem(model=_bn1d(), bn="frozen", batch_size=1)
    loss, _ = p.score(p.parameter_vector().unsqueeze(0))
    assert torch.isfinite(loss).all()


# ------------------------------------------------------------------- the batch schedule
# Row #46: attach() on a neuro_de algorithm (which already follows the schedule) raises.
NEURO_DE_ALGORITHMS = {
    "DE": lambda p: DE(p, popsize=6),
    "SHADE": lambda p: SHADE(p, popsize=6),
    "SaDE": lambda p: SaDE(p, popsize=6),
    "PSO": lambda p: PSO(p, popsize=6),
}


@pytest.mark.parametrize("algorithm", sorted(NEURO_DE_ALGORITHMS))
def test_attach_refuses_neuro_de_algorithms(algorithm):
    p = problem()
    searcher = NEURO_DE_ALGORITHMS[algorithm](p)
    with pytest.raises(TypeError, match=rf"neuro_de algorithm \({algorithm}\).*already follows"):
        p.attach(searcher)
    assert p.generation == 0 and p.fitness_epoch == 0


# Row #47: an EvoTorch algorithm without attach() gets one warning: the batch never changes.
EVOTORCH_ALGORITHMS = {
    "SNES": lambda p: SNES(p, stdev_init=0.01, popsize=4),
    "CEM": lambda p: CEM(p, stdev_init=0.01, popsize=6, parenthood_ratio=0.5),
}


def _run_recording(searcher, steps: int) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        searcher.run(steps)
    return [w for w in caught if "advance_generation" in str(w.message)]


@pytest.mark.parametrize("algorithm", sorted(EVOTORCH_ALGORITHMS))
def test_unattached_evotorch_algorithm_warns_once(algorithm):
    p = problem(generations_per_batch=2)
    searcher = EVOTORCH_ALGORITHMS[algorithm](p)
    caught = _run_recording(searcher, 12)
    assert len(caught) == 1
    assert "problem.attach(searcher)" in str(caught[0].message)
    assert p.fitness_epoch == 0


@pytest.mark.parametrize("algorithm", sorted(EVOTORCH_ALGORITHMS))
def test_attached_evotorch_algorithm_does_not_warn(algorithm):
    p = problem(generations_per_batch=2)
    searcher = EVOTORCH_ALGORITHMS[algorithm](p)
    p.attach(searcher)
    assert _run_recording(searcher, 12) == []
    assert p.fitness_epoch > 0


@pytest.mark.parametrize("algorithm", sorted(NEURO_DE_ALGORITHMS))
def test_neuro_de_algorithms_do_not_warn(algorithm):
    p = problem(generations_per_batch=2)
    searcher = NEURO_DE_ALGORITHMS[algorithm](p)
    assert _run_recording(searcher, 12) == []
    assert p.fitness_epoch > 0


def test_full_batch_problem_does_not_warn():
    p = problem(batch_size=40, generations_per_batch=1)
    assert _run_recording(SNES(p, stdev_init=0.01, popsize=4), 8) == []


# ------------------------------------------------------------------------- MNIST files
# Rows #71, R16: idx files loose in `root` (no MNIST/raw) get the right hint.
STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _write_idx(folder, *, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem in STEMS:
        array = rng.integers(0, 10, (3,) if "labels" in stem else (3, 28, 28), np.uint8)
        payload = bytes([0, 0, 8, array.ndim]) + b"".join(
            int(s).to_bytes(4, "big") for s in array.shape
        ) + array.tobytes()
        name = folder / (f"{stem}.gz" if gz else stem)
        name.write_bytes(gzip.compress(payload) if gz else payload)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
def test_loose_idx_files_get_the_right_hint(tmp_path, name, folder, gz):
    root = tmp_path / "downloads"
    _write_idx(root, gz=gz)
    with pytest.raises(FileNotFoundError, match=rf"loose in .*downloads: move them into "
                                                rf".*downloads/{folder}/raw/") as info:
        load_dataset(name, root=root)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_raw_folder_under_another_name_gets_the_right_hint(tmp_path, name, folder):
    _write_idx(tmp_path / "mydata" / "raw", gz=True)
    with pytest.raises(FileNotFoundError, match=rf"move that folder to .*mydata/{folder}/raw"):
        load_dataset(name, root=tmp_path / "mydata")


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_root_pointing_into_the_layout_still_suggests_the_parent(tmp_path, name, folder):
    _write_idx(tmp_path / "data" / folder / "raw", gz=True)
    for wrong in (tmp_path / "data" / folder, tmp_path / "data" / folder / "raw"):
        with pytest.raises(FileNotFoundError, match=r"did you mean root=.*data'"):
            load_dataset(name, root=wrong)


# Row #70: a population built with another `exclude` than the problem. The check lives in
# neuro_de/algorithms/base.py; neuro_de.problems.checks.genome_length_hint gives its hint.
@pytest.mark.parametrize("problem_exclude, population_exclude, message", [
    (None, ["2"], r"views differ.*no exclude \(every parameter\).*view=problem\.view"),
    (["2"], None, r"views differ.*exclude=\['2.weight', '2.bias'\].*built without `exclude`"),
    (["0"], ["2"], r"views differ.*exclude=\['0.weight', '0.bias'\].*same `exclude`"),
])
def test_genome_length_hint_names_the_views(problem_exclude, population_exclude, message):
    from neuro_de.problems.checks import genome_length_hint

    p = problem(exclude=problem_exclude)
    columns = ParameterView(mlp(), exclude=population_exclude).numel
    assert re.search(message, genome_length_hint(p, columns))


def test_genome_length_hint_is_empty_without_a_view():
    from evotorch import Problem

    from neuro_de.problems.checks import genome_length_hint

    plain = Problem("min", lambda x: x.sum(), solution_length=3, initial_bounds=(-1, 1))
    assert genome_length_hint(plain, 5) == ""


# Row #63's neighbours: training checks the model against the data on one sample first,
# so labels beyond the model's outputs and dtype or channel mistakes fail before training.
TRAIN_FIT_CASES = {
    "label 3 with 3 outputs": (mlp, data(labels=_labels_with(39, 3)),
                               r"`train_set` has label 3 but `model` outputs only 3 logits"),
    "label 10 with 3 outputs": (mlp, data(labels=_labels_with(0, 10)),
                                r"`train_set` has label 10 .*at least 11 outputs"),
    "float64 inputs": (mlp, TensorDataset(torch.randn(8, 4).double(), torch.arange(8) % 3),
                       r"inputs are torch\.float64.*\.float\(\)"),
    "model.double()": (lambda: mlp().double(), data(),
                       r"model's parameters are torch\.float64.*\.double\(\)"),
    "images without channel dimension": (
        lambda: LeNet5(num_classes=3), TensorDataset(torch.rand(8, 28, 28), torch.arange(8) % 3),
        r"one dimension fewer.*unsqueeze\(1\)",
    ),
    "wrong input width": (mlp, TensorDataset(torch.randn(8, 5), torch.arange(8) % 3),
                          r"`model` failed on one input of `train_set` \(shape \(5,\)"),
}
TRAIN_ENTRY_POINTS = {
    "train_snapshots": lambda m, d: train_snapshots(m, d, epochs=1, keep_last=1, progress=False),
    "init_rs": lambda m, d: init_rs(m, d, m=2, epochs=1, progress=False),
    "init_hp": lambda m, d: init_hp(m, d, m=2, epochs=1, progress=False),
}


@pytest.mark.parametrize("entry", sorted(TRAIN_ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(TRAIN_FIT_CASES))
def test_training_checks_the_model_on_one_sample_first(entry, case, no_training):
    make_model, dataset, message = TRAIN_FIT_CASES[case]
    with pytest.raises(ValueError, match=message):
        TRAIN_ENTRY_POINTS[entry](make_model(), dataset)


def test_training_check_leaves_the_model_in_train_mode():
    net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Dropout(0.1), nn.Linear(5, 3))
    net.train()
    net[2].eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = train_snapshots(net, data(), epochs=1, keep_last=1, progress=False)
    assert net.training and net[1].training and not net[2].training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert result.vectors.shape[0] == 1


def test_population_from_another_view_names_the_views_through_de():
    """Row 70 end to end: a population built without `exclude` given to DE on a problem
    built with it: the error says the parameter views differ."""
    from neuro_de.algorithms import DE
    from neuro_de.problems import ParameterView, SupervisedNetProblem

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randint(0, 3, (32,)))
    problem = SupervisedNetProblem(model, data, batch_size=8, exclude=["2"])
    full = ParameterView(model).to_vector(model)
    population = full.unsqueeze(0).repeat(6, 1)
    with pytest.raises(ValueError, match="columns but the problem's solution_length") as err:
        DE(problem, init_population=population)
    assert "exclude" in str(err.value)


def test_a_population_that_requires_grad_gives_ordinary_values():
    """Row 29: the algorithm's population never requires grad."""
    from evotorch import Problem

    from neuro_de.algorithms import DE

    problem = Problem("min", lambda x: (x * x).sum(-1), solution_length=3,
                      initial_bounds=(-1.0, 1.0), vectorized=True, seed=0)
    init = torch.randn(6, 3, requires_grad=True)
    searcher = DE(problem, init_population=init)
    searcher.step()
    assert not searcher.population.values.requires_grad
