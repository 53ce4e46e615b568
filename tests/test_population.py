"""Tests of neuro_de.population: BP snapshots, Init-RS, Init-HP, noise populations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from neuro_de.population import (
    OPTIMIZERS,
    Population,
    SnapshotResult,
    default_hp_configs,
    init_hp,
    init_rs,
    mixup_batch,
    noise_population,
    population_std,
    train_snapshots,
)
from neuro_de.problems import ParameterView


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Small networks on a shared 2-core machine: one thread is faster and steadier.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> TensorDataset:
    x, y = load_digits(return_X_y=True)
    return TensorDataset(
        torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
    )


@pytest.fixture(scope="module")
def small_set(digits) -> TensorDataset:
    x, y = digits.tensors
    return TensorDataset(x[:256], y[:256])


def mlp(seed: int = 0, *, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 10))


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def images(digits) -> TensorDataset:
    x, y = digits.tensors
    return TensorDataset(x[:200].reshape(-1, 1, 8, 8), y[:200])


def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def mean_ce(model: nn.Module, data: TensorDataset) -> float:
    x, y = data.tensors
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def all_distinct(vectors: torch.Tensor) -> bool:
    return all(
        not torch.equal(vectors[i], vectors[j])
        for i in range(len(vectors))
        for j in range(i + 1, len(vectors))
    )


FAST = {"progress": False, "batch_size": 64}


# ------------------------------------------------------------------ train_snapshots
def test_snapshot_count_shape_and_meta(small_set):
    model = mlp()
    res = train_snapshots(model, small_set, epochs=4, keep_last=3, seed=1, **FAST)
    d = ParameterView(model).numel
    assert isinstance(res, SnapshotResult) and isinstance(res, Population)
    assert res.vectors.shape == (3, d) and res.vectors.dtype == torch.float32
    assert len(res) == res.m == 3 and res.d == d
    assert [m["epoch"] for m in res.meta] == [2, 3, 4]
    assert all(m["seed"] == 1 and m["optimizer"] == "adam" for m in res.meta)
    assert len(res.loss_history) == 4
    assert [m["loss"] for m in res.meta] == res.loss_history[1:]
    assert len(res.buffers) == 3 and res.excluded is None
    # consecutive snapshots are different points of the trajectory
    assert not torch.equal(res.vectors[0], res.vectors[1])


def test_last_snapshot_is_final_model(images):
    res = train_snapshots(TinyCNN(), images, epochs=3, keep_last=2, **FAST)
    assert torch.equal(ParameterView(res.model).to_vector(res.model), res.vectors[-1])
    assert not res.model.training
    final_buffers = dict(res.model.named_buffers())
    assert set(res.buffers[-1]) == {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}
    for name, value in res.buffers[-1].items():
        assert torch.equal(value, final_buffers[name])
    # BN statistics moved between the two snapshots
    assert not torch.equal(res.buffers[0]["bn.running_mean"], res.buffers[1]["bn.running_mean"])
    # to_module rebuilds the trained network exactly (genome + buffers)
    rebuilt = res.to_module(TinyCNN(), -1).eval()
    x = images.tensors[0][:16]
    with torch.no_grad():
        assert torch.equal(rebuilt(x), res.model(x))


def test_user_model_and_global_rng_unchanged(small_set):
    model = mlp(dropout=0.2)
    model.eval()
    before = state_copy(model)
    rng_before = torch.get_rng_state()
    train_snapshots(model, small_set, epochs=2, keep_last=1, mixup_alpha=0.2, **FAST)
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_seeded_runs_are_bitwise_reproducible(small_set):
    kwargs = dict(epochs=3, keep_last=2, mixup_alpha=0.4, label_smoothing=0.1, **FAST)
    a = train_snapshots(mlp(dropout=0.3), small_set, seed=7, **kwargs)
    b = train_snapshots(mlp(dropout=0.3), small_set, seed=7, **kwargs)
    c = train_snapshots(mlp(dropout=0.3), small_set, seed=8, **kwargs)
    assert torch.equal(a.vectors, b.vectors)
    assert a.loss_history == b.loss_history
    assert not torch.equal(a.vectors[-1], c.vectors[-1])


def test_training_reduces_loss_on_digits(digits):
    model = mlp()
    initial = mean_ce(model, digits)
    res = train_snapshots(model, digits, epochs=3, keep_last=2, lr=5e-3, **FAST)
    assert res.loss_history[-1] < 0.5 * res.loss_history[0]
    final = mean_ce(res.model, digits)
    assert final < 0.3 * initial
    x, y = digits.tensors
    with torch.no_grad():
        accuracy = (res.model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.85


def test_sgd_subset_and_generic_dataset(small_set):
    class Pairs(Dataset):  # not a TensorDataset: goes through a DataLoader
        def __init__(self, data):
            self.data = data

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            return self.data[i]

    model = mlp()
    res_sgd = train_snapshots(
        model,
        Pairs(small_set),
        epochs=2,
        keep_last=2,
        optimizer="SGD",
        lr=0.05,
        momentum=0.5,
        **FAST,
    )
    assert res_sgd.vectors.shape[0] == 2 and res_sgd.meta[0]["optimizer"] == "sgd"
    assert res_sgd.meta[0]["momentum"] == 0.5
    # a Subset of a TensorDataset is indexed directly and gives the same result as the subset
    idx = list(range(0, 256, 2))
    a = train_snapshots(model, Subset(small_set, idx), epochs=1, keep_last=1, **FAST)
    x, y = small_set.tensors
    b = train_snapshots(model, TensorDataset(x[idx], y[idx]), epochs=1, keep_last=1, **FAST)
    assert torch.equal(a.vectors, b.vectors)


def test_tricks_change_the_trajectory(small_set):
    kwargs = dict(epochs=1, keep_last=1, seed=3, **FAST)
    plain = train_snapshots(mlp(), small_set, **kwargs).vectors
    smooth = train_snapshots(mlp(), small_set, label_smoothing=0.2, **kwargs).vectors
    mixed = train_snapshots(mlp(), small_set, mixup_alpha=0.2, **kwargs).vectors
    decayed = train_snapshots(
        mlp(), small_set, optimizer="adamw", weight_decay=0.5, **kwargs
    ).vectors
    for other in (smooth, mixed, decayed):
        assert not torch.equal(plain, other)


def test_exclude_and_freeze_excluded(small_set):
    model = mlp()
    res = train_snapshots(model, small_set, epochs=2, keep_last=2, exclude=["3"], **FAST)
    assert res.view.excluded == ("3.weight", "3.bias")
    assert res.d == 64 * 32 + 32
    assert res.excluded is not None and set(res.excluded[0]) == {"3.weight", "3.bias"}
    assert not torch.equal(res.excluded[-1]["3.weight"], model[3].weight)  # trained too
    rebuilt = res.to_module(mlp(5), -1).eval()
    x = small_set.tensors[0][:8]
    with torch.no_grad():
        assert torch.equal(rebuilt(x), res.model(x))

    frozen = train_snapshots(
        model, small_set, epochs=2, keep_last=1, exclude=["3"], freeze_excluded=True, **FAST
    )
    assert torch.equal(frozen.model[3].weight, model[3].weight)
    assert torch.equal(frozen.excluded[0]["3.bias"], model[3].bias)


def test_mixup_batch_formula():
    x = torch.randn(6, 3)
    y = torch.arange(6)
    gen = torch.Generator().manual_seed(0)
    import numpy as np

    mixed, y_a, y_b, lam = mixup_batch(x, y, alpha=0.4, generator=gen, rng=np.random.default_rng(0))
    assert 0.0 <= lam <= 1.0
    assert torch.equal(y_a, y)
    perm = y_b  # labels are the indices, so y_b is the permutation
    assert sorted(perm.tolist()) == list(range(6))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    assert lam == pytest.approx(float(np.random.default_rng(0).beta(0.4, 0.4)))
    with pytest.raises(TypeError, match="floating-point"):
        mixup_batch(y, y, alpha=0.2)
    with pytest.raises(ValueError, match="alpha"):
        mixup_batch(x, y, alpha=0.0)


# ------------------------------------------------------------------ Init-RS / Init-HP
def test_init_rs_from_module(small_set):
    model = mlp()
    before = state_copy(model)
    pop = init_rs(model, small_set, m=3, epochs=1, **FAST)
    assert pop.vectors.shape == (3, ParameterView(model).numel)
    assert [m["seed"] for m in pop.meta] == [0, 1, 2]
    assert pop.info["method"] == "init-rs"
    assert all_distinct(pop.vectors)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    # a run equals train_snapshots with that seed (fine-tuning from the same module)
    single = train_snapshots(model, small_set, epochs=1, keep_last=1, seed=1, **FAST)
    assert torch.equal(pop.vectors[1], single.vectors[0])


def test_init_rs_from_model_fn(small_set):
    called = []

    def model_fn(seed):
        called.append(seed)
        return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))  # ignores seed

    a = init_rs(model_fn, small_set, m=3, epochs=1, seeds=[10, 20, 30], **FAST)
    assert called == [10, 20, 30]
    assert [m["seed"] for m in a.meta] == [10, 20, 30]
    assert all_distinct(a.vectors)
    b = init_rs(model_fn, small_set, m=3, epochs=1, seeds=[10, 20, 30], **FAST)
    assert torch.equal(a.vectors, b.vectors)  # initialisation is seeded even so
    assert len(a.meta[0]["loss_history"]) == 1


def test_init_hp_uses_each_config(small_set, monkeypatch):
    seen = []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            seen.append(dict(kwargs))
            super().__init__(params, **kwargs)

    monkeypatch.setitem(OPTIMIZERS, "adam", RecordingAdam)
    configs = [
        {"lr": 1e-3},
        {"lr": 3e-3, "weight_decay": 1e-4},
        {"lr": 1e-3, "mixup_alpha": 0.2, "label_smoothing": 0.1},
        {"optimizer": "sgd", "lr": 0.05},
    ]
    pop = init_hp(mlp(), small_set, epochs=1, configs=configs, **FAST)
    assert pop.vectors.shape[0] == 4
    assert seen == [
        {"lr": 1e-3, "weight_decay": 0.0},
        {"lr": 3e-3, "weight_decay": 1e-4},
        {"lr": 1e-3, "weight_decay": 0.0},
    ]  # the SGD member does not use Adam
    assert [m["lr"] for m in pop.meta] == [1e-3, 3e-3, 1e-3, 0.05]
    assert [m["weight_decay"] for m in pop.meta] == [0.0, 1e-4, 0.0, 0.0]
    assert [m["mixup_alpha"] for m in pop.meta] == [0.0, 0.0, 0.2, 0.0]
    assert [m["label_smoothing"] for m in pop.meta] == [0.0, 0.0, 0.1, 0.0]
    assert [m["optimizer"] for m in pop.meta] == ["adam", "adam", "adam", "sgd"]
    assert [c["lr"] for c in pop.info["configs"]] == [1e-3, 3e-3, 1e-3, 0.05]
    assert all_distinct(pop.vectors)


def test_init_hp_default_grid(small_set):
    grid = default_hp_configs(24, lr=1e-3)
    assert len({tuple(sorted(c.items())) for c in grid}) == 24
    assert grid[0] == {"lr": 1e-3, "weight_decay": 0.0, "mixup_alpha": 0.0, "label_smoothing": 0.0}
    assert [c["lr"] for c in grid[1:3]] == [5e-4, 2e-3]
    assert grid[3]["weight_decay"] == 1e-4 and grid[4]["mixup_alpha"] == 0.2
    assert grid[5]["label_smoothing"] == 0.1
    assert default_hp_configs(25, lr=1e-3)[24] == grid[0]
    assert default_hp_configs(2, lr=1.0, weight_decay=0.01)[0]["weight_decay"] == 0.01
    assert default_hp_configs(4, lr=1.0, weight_decay=0.01)[3]["weight_decay"] == 0.1

    pop = init_hp(mlp(), small_set, epochs=1, m=3, lr=2e-3, **FAST)
    expected = default_hp_configs(3, lr=2e-3)
    assert [m["lr"] for m in pop.meta] == [c["lr"] for c in expected]
    assert [m["seed"] for m in pop.meta] == [0, 1, 2]


# ------------------------------------------------------------------------- noise
def test_noise_population_given_std():
    d = 200_000
    center = torch.linspace(-1, 1, d)
    pop = noise_population(center, 5, std=0.05, generator=0)
    assert pop.vectors.shape == (5, d)
    assert torch.equal(pop.vectors[0], center) and pop.meta[0]["center"]
    noise = pop.vectors[1:] - center
    assert abs(noise.mean().item()) < 3e-4  # sd of the mean is 0.05 / sqrt(8e5) = 5.6e-5
    assert noise.std().item() == pytest.approx(0.05, rel=0.01)
    again = noise_population(center, 5, std=0.05, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pop.vectors, again.vectors)
    no_center = noise_population(center, 3, std=0.05, generator=1, include_center=False)
    assert not any(torch.equal(v, center) for v in no_center.vectors)
    assert noise_population(center, 2, std=0.0).vectors.eq(center).all()


def test_noise_population_uses_reference_std():
    d, k = 100_000, 6
    gen = torch.Generator().manual_seed(0)
    scales = torch.cat([torch.full((d // 2,), 0.01), torch.full((d // 2,), 0.1)])
    reference = 1.0 + scales * torch.randn(k, d, generator=gen)
    center = torch.zeros(d)
    pop = noise_population(center, 41, reference=reference, generator=2)
    expected = reference.std(dim=0, correction=1)
    assert torch.equal(pop.info["std"], expected)
    noise = pop.vectors[1:]
    per_coordinate = noise / expected  # standard normal if the reference's std was used
    assert per_coordinate.mean().item() == pytest.approx(0.0, abs=2e-3)
    assert per_coordinate.std().item() == pytest.approx(1.0, rel=0.01)
    assert noise[:, : d // 2].std().item() == pytest.approx(0.01, rel=0.05)
    assert noise[:, d // 2 :].std().item() == pytest.approx(0.1, rel=0.05)

    pooled = population_std(Population(reference), mode="pooled")
    assert pooled.ndim == 0
    assert pooled.item() == pytest.approx(math.sqrt(expected.pow(2).mean().item()))
    pop_pooled = noise_population(center, 3, reference=reference, std_mode="pooled", generator=3)
    assert pop_pooled.vectors[1:].std().item() == pytest.approx(pooled.item(), rel=0.01)


def test_noise_around_a_snapshot_population(small_set):
    res = train_snapshots(mlp(), small_set, epochs=3, keep_last=3, **FAST)
    pop = noise_population(res.vectors[-1], 4, reference=res, view=res.view, generator=0)
    assert pop.view is res.view and pop.vectors.shape == (4, res.d)
    assert len(pop.to_modules(mlp())) == 4


# ---------------------------------------------------------------------- Population
def test_population_helpers(small_set):
    a = train_snapshots(mlp(), small_set, epochs=2, keep_last=2, seed=0, **FAST)
    b = train_snapshots(mlp(), small_set, epochs=2, keep_last=1, seed=1, **FAST)
    both = Population.cat([a, b])
    assert both.m == 3 and [m["seed"] for m in both.meta] == [0, 0, 1]
    sub = both.select([2, 0])
    assert torch.equal(sub.vectors, both.vectors[[2, 0]])
    modules = sub.to_modules(mlp(9))
    view = ParameterView(mlp())
    assert torch.equal(view.to_vector(modules[0]), b.vectors[0])
    with pytest.raises(ValueError, match="architecture"):
        sub.to_module(nn.Sequential(nn.Linear(64, 10)), 0)
    with pytest.raises(ValueError, match="entries for 2 members"):
        Population(torch.zeros(2, 3), meta=[{}])
    with pytest.raises(IndexError, match="out of range"):
        sub.select([5])


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"keep_last": 0}, ValueError, "keep_last"),
        ({"keep_last": -1}, ValueError, "keep_last"),
        ({"keep_last": 3, "epochs": 2}, ValueError, r"`keep_last` \(3\) must not exceed"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"optimizer": "rmsprop"}, ValueError, "Unknown `optimizer`"),
        ({"lr": -0.1}, ValueError, "`lr` must be > 0"),
        ({"lr": 0.0}, ValueError, "`lr` must be > 0"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay"),
        ({"mixup_alpha": -0.2}, ValueError, "mixup_alpha"),
        ({"label_smoothing": 1.0}, ValueError, r"label_smoothing` must be in \[0, 1\)"),
        ({"label_smoothing": -0.1}, ValueError, "label_smoothing"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"epochs": 2.5}, TypeError, "epochs"),
        ({"exclude": ["3"], "view": "x"}, ValueError, "either `view` or `exclude`"),
        ({"exclude": ["nope"]}, ValueError, "match no parameter"),
    ],
)
def test_train_snapshots_bad_inputs(small_set, kwargs, error, match):
    args = {"epochs": 2, "keep_last": 1, **FAST, **kwargs}
    with pytest.raises(error, match=match):
        train_snapshots(mlp(), small_set, **args)


def test_bad_datasets_and_models(small_set):
    empty = TensorDataset(torch.zeros(0, 64), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="`train_set` is empty"):
        train_snapshots(mlp(), empty, epochs=1, keep_last=1, progress=False)
    with pytest.raises(TypeError, match="torch Dataset"):
        train_snapshots(mlp(), [(torch.zeros(64), 0)], epochs=1, keep_last=1, progress=False)
    with pytest.raises(TypeError, match="`model` must be a torch.nn.Module"):
        train_snapshots("lenet", small_set, epochs=1, keep_last=1, progress=False)
    with pytest.raises(ValueError, match="view expects|not the architecture"):
        train_snapshots(
            mlp(),
            small_set,
            epochs=1,
            keep_last=1,
            progress=False,
            view=ParameterView(nn.Linear(64, 10)),
        )
    with pytest.raises(ValueError, match="`train_set` is empty"):
        init_rs(mlp(), empty, m=2, epochs=1, progress=False)


def test_initializer_bad_inputs(small_set):
    with pytest.raises(ValueError, match="`m` must be >= 1"):
        init_rs(mlp(), small_set, m=0, epochs=1, progress=False)
    with pytest.raises(ValueError, match="`seeds` has 2 entries but m=3"):
        init_rs(mlp(), small_set, m=3, seeds=[1, 2], epochs=1, progress=False)
    with pytest.raises(ValueError, match="distinct"):
        init_rs(mlp(), small_set, m=2, seeds=[1, 1], epochs=1, progress=False)
    with pytest.raises(TypeError, match="model_fn"):
        init_rs(42, small_set, m=2, epochs=1, progress=False)
    with pytest.raises(ValueError, match="Give `m`"):
        init_hp(mlp(), small_set, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"`m` \(2\) differs from len\(configs\) \(1\)"):
        init_hp(mlp(), small_set, epochs=1, m=2, configs=[{}], progress=False)
    with pytest.raises(ValueError, match="unknown keys \\['learning_rate'\\]"):
        init_hp(mlp(), small_set, epochs=1, configs=[{"learning_rate": 0.1}], progress=False)
    with pytest.raises(ValueError, match=r"In `configs\[1\]`: `lr` must be > 0"):
        init_hp(mlp(), small_set, epochs=1, configs=[{}, {"lr": -1.0}], progress=False)
    with pytest.raises(ValueError, match="`configs` is empty"):
        init_hp(mlp(), small_set, epochs=1, configs=[], progress=False)
    with pytest.raises(ValueError, match="`m` must be >= 1"):
        default_hp_configs(0, lr=1e-3)


def test_noise_bad_inputs():
    v = torch.zeros(10)
    with pytest.raises(ValueError, match=r"`std` must be 0-d or of shape \(10,\)"):
        noise_population(v, 3, std=torch.ones(9))
    with pytest.raises(ValueError, match="`reference` has genomes of length 9"):
        noise_population(v, 3, reference=torch.zeros(4, 9))
    with pytest.raises(ValueError, match="k >= 2"):
        noise_population(v, 3, reference=torch.zeros(1, 10))
    with pytest.raises(ValueError, match="`std` must be finite and >= 0"):
        noise_population(v, 3, std=-0.1)
    with pytest.raises(ValueError, match="exactly one of `std`"):
        noise_population(v, 3)
    with pytest.raises(ValueError, match="exactly one of `std`"):
        noise_population(v, 3, std=0.1, reference=torch.zeros(4, 10))
    with pytest.raises(ValueError, match="population size"):
        noise_population(v, 0, std=0.1)
    with pytest.raises(ValueError, match="1-D genome"):
        noise_population(torch.zeros(2, 5), 3, std=0.1)
    with pytest.raises(ValueError, match="the view holds"):
        noise_population(v, 3, std=0.1, view=ParameterView(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="scale"):
        noise_population(v, 3, std=0.1, scale=-1.0)


def test_init_rs_model_fn_with_exclude_warns_and_keeps_excluded(small_set):
    with pytest.warns(UserWarning, match="excluded parameters"):
        pop = init_rs(mlp, small_set, m=2, epochs=1, exclude=["3"], **FAST)
    assert pop.excluded is not None and len(pop.excluded) == 2
    assert not torch.equal(pop.excluded[0]["3.weight"], pop.excluded[1]["3.weight"])
    rebuilt = pop.to_modules(mlp(99))
    assert torch.equal(rebuilt[1][3].weight, pop.excluded[1]["3.weight"])
