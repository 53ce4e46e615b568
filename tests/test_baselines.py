"""Tests of neuro_de.baselines: weight averaging / SWA, FGE, model soups."""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from neuro_de.baselines import (
    ProbabilityEnsemble,
    as_modules,
    evaluate_classifier,
    evaluate_ensemble,
    fge_cycle_position,
    fge_learning_rate,
    fge_snapshot_iterations,
    greedy_soup,
    recalibrate_bn,
    train_fge,
    train_swa,
    uniform_average,
    uniform_soup,
    weight_average,
)
from neuro_de.data import load_splits
from neuro_de.models import MLP
from neuro_de.population import train_snapshots
from neuro_de.problems import ParameterView


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def splits():
    """sklearn digits at their native 8x8 size: train / held-out (from train) / test."""
    return load_splits("digits", image_size=8, heldout_fraction=0.2, seed=0)


def make_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return MLP(64, hidden=(16,), num_classes=10)


class TinyBNNet(nn.Module):
    """conv -> BatchNorm -> ReLU -> pool -> linear, for 1x8x8 inputs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(
            nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 10)
        )

    def forward(self, x):
        return self.head(self.bn(self.conv(x)))


def make_bn_net(seed: int = 0, *, stats_batch: torch.Tensor | None = None) -> TinyBNNet:
    """A TinyBNNet whose running statistics are not the defaults."""
    torch.manual_seed(seed)
    net = TinyBNNet()
    x = torch.randn(32, 1, 8, 8) * (1 + seed) + seed if stats_batch is None else stats_batch
    net.train()
    with torch.no_grad():
        net(x)
    return net.eval()


def all_inputs(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


class RecordingDataset(Dataset):
    """Wraps a data set and records every index read."""

    def __init__(self, inner):
        self.inner = inner
        self.reads: list[int] = []

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        self.reads.append(int(i))
        return self.inner[i]


class RaisingLoader:
    """An iterable that fails the test if anybody reads it."""

    def __iter__(self):
        raise AssertionError("this loader must not be read")


# ------------------------------------------------------------------------ uniform soups
@pytest.mark.parametrize("factory", [make_mlp, make_bn_net])
def test_uniform_soup_of_identical_networks_equals_the_network(factory):
    net = factory(3)
    view = ParameterView(net)
    vectors = view.to_vector(net).repeat(3, 1)
    for population, kwargs in [
        ([copy.deepcopy(net) for _ in range(3)], {}),
        ([net.state_dict()] * 3, {"template": factory(7)}),
        (vectors, {"template": net, "view": view}),
    ]:
        soup = uniform_soup(population, **kwargs)
        assert_same_state(soup, net)
        assert not soup.training
    before = copy.deepcopy(net.state_dict())
    uniform_soup([net, net])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched


def test_uniform_soup_averages_buffers_then_optionally_recalibrates(splits):
    a, b = make_bn_net(0), make_bn_net(1)
    soup = uniform_soup([a, b])
    for name in ("conv.weight", "bn.weight", "bn.running_mean", "bn.running_var"):
        expected = (a.state_dict()[name] + b.state_dict()[name]) / 2
        torch.testing.assert_close(soup.state_dict()[name], expected)
    # integer buffers come from the first member
    assert torch.equal(soup.bn.num_batches_tracked, a.bn.num_batches_tracked)
    recal = uniform_soup([a, b], bn_loader=splits.train)
    assert not torch.allclose(recal.bn.running_mean, soup.bn.running_mean)
    torch.testing.assert_close(recal.conv.weight, soup.conv.weight)


def test_average_of_vectors_equals_mean_of_module_parameters():
    modules = [make_mlp(s) for s in range(4)]
    view = ParameterView(modules[0])
    vectors = torch.stack([view.to_vector(m) for m in modules])
    from_vectors = weight_average(vectors, template=modules[0], view=view)
    from_modules = weight_average(modules)
    assert_same_state(from_vectors, from_modules)
    for name, p in from_modules.named_parameters():
        manual = torch.stack([dict(m.named_parameters())[name] for m in modules]).mean(0)
        torch.testing.assert_close(p, manual, rtol=0, atol=1e-7)
    # a view that leaves the last layer out: genomes averaged, the rest is the template's
    template = make_mlp(9)
    part = ParameterView(template, exclude=["net.2"])
    rows = torch.stack([part.to_vector(m) for m in modules])
    avg = uniform_average(rows, template=template, view=part)
    torch.testing.assert_close(part.to_vector(avg), rows.mean(0), rtol=0, atol=1e-7)
    torch.testing.assert_close(avg.net[2].weight, template.net[2].weight, rtol=0, atol=0)
    # the same population through as_modules and a state_dict average
    rebuilt = as_modules(rows, template=template, view=part)
    torch.testing.assert_close(part.to_vector(uniform_average(rebuilt)), rows.mean(0))


def test_weight_average_recalibrates_batchnorm_on_training_data(splits):
    members = [make_bn_net(s) for s in range(3)]
    x = all_inputs(splits.train)
    one_batch = DataLoader(
        TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=len(x)
    )
    wa = weight_average(members, train_loader=one_batch)
    with torch.no_grad():
        h = wa.conv(x)  # the BN input of the averaged network on the whole training set
    mean = h.mean(dim=(0, 2, 3))
    var = h.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True)
    torch.testing.assert_close(wa.bn.running_mean, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(wa.bn.running_var, var, rtol=1e-4, atol=1e-5)
    # without recalibration the statistics are the members' average, which is different
    averaged = weight_average(members, recalibrate=False)
    assert_same_state(averaged, uniform_average(members))
    assert not torch.allclose(averaged.bn.running_mean, mean, atol=1e-2)
    torch.testing.assert_close(averaged.conv.weight, wa.conv.weight)
    # recalibrate_bn on a Dataset reads it in batches: cumulative mean of batch means
    again = recalibrate_bn(copy.deepcopy(averaged), splits.train, batch_size=len(x))
    torch.testing.assert_close(again.bn.running_mean, wa.bn.running_mean)
    with pytest.raises(ValueError, match="train_loader"):
        weight_average(members)


def test_weight_average_without_batchnorm_skips_recalibration():
    modules = [make_mlp(s) for s in range(3)]
    wa = weight_average(modules, train_loader=RaisingLoader())  # never read
    assert_same_state(wa, uniform_average(modules))
    assert_same_state(weight_average(modules), wa)  # no loader needed either


def test_population_from_train_snapshots_is_accepted(splits):
    snaps = train_snapshots(
        make_mlp(0), splits.train, epochs=3, keep_last=3, batch_size=128, progress=False
    )
    wa = weight_average(snaps)  # template defaults to snaps.model
    torch.testing.assert_close(snaps.view.to_vector(wa), snaps.vectors.mean(0))
    wa_rows = weight_average(snaps.vectors, template=snaps.model, view=snaps.view)
    assert_same_state(wa, wa_rows)


def test_input_errors_name_the_argument():
    net = make_mlp()
    vectors = ParameterView(net).to_vector(net).repeat(2, 1)
    with pytest.raises(ValueError, match="template"):
        uniform_soup(vectors)
    with pytest.raises(ValueError, match="view"):
        uniform_soup(vectors[:, :-1], template=net)
    with pytest.raises(ValueError, match="empty"):
        uniform_soup([])
    with pytest.raises(TypeError, match="population"):
        uniform_soup(net)
    with pytest.raises(ValueError, match="template"):
        uniform_soup([net.state_dict()])


# --------------------------------------------------------------------------------- SWA
def test_train_swa_schedule_and_average(splits):
    train = splits.train
    net = make_bn_net(0)
    before = copy.deepcopy(net.state_dict())
    kw = dict(swa_lr=0.01, lr=0.05, batch_size=256, seed=1)
    r = train_swa(net, train, epochs=3, swa_start=1, **kw)
    assert r.lr_history == [0.05, 0.01, 0.01]
    assert r.n_averaged == 2 and len(r.loss_history) == 3
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # the SWA weights are the mean of the iterates after epochs 2 and 3 (same seed, same
    # prefix of training), and its BN statistics are recomputed on the training data
    after2 = train_swa(net, train, epochs=2, swa_start=1, **kw).base_model
    for name, p in r.model.named_parameters():
        manual = (
            dict(after2.named_parameters())[name] + dict(r.base_model.named_parameters())[name]
        ) / 2
        torch.testing.assert_close(p, manual, rtol=1e-5, atol=1e-6)
    # update_bn: the cumulative average of the batch means (training data read in order)
    x = all_inputs(train)
    with torch.no_grad():
        means = [r.model.conv(xb).mean(dim=(0, 2, 3)) for xb in x.split(256)]
    torch.testing.assert_close(r.model.bn.running_mean, torch.stack(means).mean(0))
    with pytest.raises(ValueError, match="swa_start"):
        train_swa(net, train, epochs=2, swa_start=2, swa_lr=0.01, lr=0.05)
    with pytest.raises(ValueError, match="optimizer"):
        train_swa(net, train, epochs=2, swa_start=1, swa_lr=0.01, lr=0.05, optimizer="rmsprop")


# --------------------------------------------------------------------------------- FGE
def test_fge_schedule_matches_the_paper_definition():
    # c = 4, alpha_1 = 0.1, alpha_2 = 0.01, hand-computed:
    # t = 1/4: (1 - 1/2) 0.1 + (1/2) 0.01 = 0.055     t = 1/2: 0.01 (the minimum)
    # t = 3/4: (2 - 3/2) 0.01 + (3/2 - 1) 0.1 = 0.055  t = 1: 0.1 (the maximum)
    expected = [0.055, 0.01, 0.055, 0.1] * 2
    got = [fge_learning_rate(i, cycle_length=4, alpha_1=0.1, alpha_2=0.01) for i in range(1, 9)]
    assert got == pytest.approx(expected, abs=1e-12)
    assert [fge_cycle_position(i, cycle_length=4) for i in range(1, 6)] == [
        0.25,
        0.5,
        0.75,
        1.0,
        0.25,
    ]
    # c = 6, alpha_1 = 0.3, alpha_2 = 0: 0.2, 0.1, 0, 0.1, 0.2, 0.3
    got6 = [fge_learning_rate(i, cycle_length=6, alpha_1=0.3, alpha_2=0.0) for i in range(1, 7)]
    assert got6 == pytest.approx([0.2, 0.1, 0.0, 0.1, 0.2, 0.3], abs=1e-12)
    # members are collected where t(i) = 1/2: iterations kc - c/2
    assert fge_snapshot_iterations(3, cycle_length=4) == [2, 6, 10]
    assert fge_snapshot_iterations(2, cycle_length=6) == [3, 9]
    for i in fge_snapshot_iterations(5, cycle_length=8):
        assert fge_cycle_position(i, cycle_length=8) == 0.5
        assert fge_learning_rate(i, cycle_length=8, alpha_1=0.2, alpha_2=0.02) == pytest.approx(
            0.02
        )
    with pytest.raises(ValueError, match="even"):
        fge_learning_rate(1, cycle_length=5, alpha_1=0.1, alpha_2=0.01)
    with pytest.raises(ValueError, match="alpha_2"):
        fge_learning_rate(1, cycle_length=4, alpha_1=0.01, alpha_2=0.1)
    with pytest.raises(ValueError, match="i"):
        fge_learning_rate(0, cycle_length=4, alpha_1=0.1, alpha_2=0.01)


def test_train_fge_uses_the_schedule_and_snapshots_at_the_minimum(splits):
    x, y = all_inputs(splits.train)[:160], torch.tensor([splits.train[i][1] for i in range(160)])
    batches = [(x[k : k + 40], y[k : k + 40]) for k in range(0, 160, 40)]  # 4 fixed batches
    start = make_mlp(2)
    result = train_fge(
        start, batches, cycles=3, cycle_length=4, alpha_1=0.1, alpha_2=0.01, momentum=0.9
    )
    assert result.snapshot_iterations == [2, 6, 10]
    assert len(result.members) == 3
    assert result.lr_history == pytest.approx([0.055, 0.01, 0.055, 0.1] * 3, abs=1e-12)
    # replay the same SGD steps by hand: members are the network after iterations 2, 6, 10
    net = copy.deepcopy(start)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    states = {}
    for i in range(1, 13):
        for g in opt.param_groups:
            g["lr"] = fge_learning_rate(i, cycle_length=4, alpha_1=0.1, alpha_2=0.01)
        bx, by = batches[(i - 1) % 4]
        loss = F.cross_entropy(net(bx), by)
        opt.zero_grad()
        loss.backward()
        opt.step()
        states[i] = copy.deepcopy(net.state_dict())
    for member, i in zip(result.members, [2, 6, 10], strict=True):
        for k, v in member.state_dict().items():
            torch.testing.assert_close(v, states[i][k], rtol=0, atol=1e-6)
    for k, v in result.final_model.state_dict().items():
        torch.testing.assert_close(v, states[12][k], rtol=0, atol=1e-6)
    # the user's network is untouched; the ensemble evaluates with top-1 / top-5
    assert_same_state(start, make_mlp(2))
    metrics = result.evaluate(splits.heldout)
    assert set(metrics) == {"top1", "top5", "loss", "num_samples"}
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
    assert metrics == evaluate_ensemble(result.members, splits.heldout)
    pop = result.to_population()
    assert pop.vectors.shape == (3, ParameterView(start).numel)


class ConstantLogits(nn.Module):
    """Returns the same logits for every input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_ensemble_averages_probabilities_not_logits():
    a, b = ConstantLogits([5.0, 0.0, 0.0]), ConstantLogits([-5.0, 1.0, 1.0])
    ens = ProbabilityEnsemble([a, b])
    x = torch.zeros(4, 1)
    with torch.no_grad():
        manual = (F.softmax(a(x), -1) + F.softmax(b(x), -1)) / 2
        mean_logits = F.softmax((a(x) + b(x)) / 2, -1)
    with torch.no_grad():
        torch.testing.assert_close(ens.predict_proba(x), manual)
        torch.testing.assert_close(ens(x), manual.log())
    assert not torch.allclose(manual, mean_logits, atol=1e-2)
    # averaged probabilities pick class 0 (0.494), the softmax of mean logits does not
    assert manual.argmax(-1).eq(0).all() and mean_logits.argmax(-1).ne(0).all()
    data = [(x, torch.zeros(4, dtype=torch.long))]
    metrics = evaluate_ensemble([a, b], data, topk=(1, 2))
    assert metrics["top1"] == 1.0
    assert metrics["loss"] == pytest.approx(-math.log(float(manual[0, 0])), rel=1e-5)
    logit_avg = ConstantLogits(((a.logits + b.logits) / 2).tolist())
    assert evaluate_classifier(logit_avg, data, topk=(1,))["top1"] == 0.0


# ------------------------------------------------------------------------ greedy soups
def test_greedy_soup_never_lowers_heldout_accuracy_and_never_reads_the_test_set(
    splits, monkeypatch
):
    snaps = train_snapshots(
        make_mlp(0), splits.train, epochs=4, keep_last=3, batch_size=64, progress=False
    )
    gen = torch.Generator().manual_seed(0)
    noisy = snaps.vectors[-1:] + 0.5 * torch.randn(2, snaps.d, generator=gen)
    vectors = torch.cat([snaps.vectors, noisy])
    heldout = RecordingDataset(splits.heldout)
    test = RecordingDataset(splits.test)

    # nothing inside may load data by itself either
    import neuro_de.data.datasets as datasets_mod
    import neuro_de.data.splits as splits_mod

    def forbidden(*args, **kwargs):
        raise AssertionError("greedy_soup must not load any data set")

    monkeypatch.setattr(datasets_mod, "load_dataset", forbidden)
    monkeypatch.setattr(splits_mod, "load_dataset", forbidden)

    result = greedy_soup(vectors, heldout, template=snaps.model, view=snaps.view, batch_size=64)
    best_single = max(result.individual_accuracies)
    assert result.heldout_accuracy >= best_single
    assert result.ingredients[0] == result.order[0]
    assert result.individual_accuracies[result.ingredients[0]] == best_single
    assert 3 not in result.ingredients and 4 not in result.ingredients  # noisy ones rejected
    reread = evaluate_classifier(result.model, splits.heldout, topk=(1,))["top1"]
    assert reread == pytest.approx(result.heldout_accuracy)
    accepted = [h["accuracy"] for h in result.history if h["accepted"]]
    assert accepted == sorted(accepted)  # each accepted step keeps or raises accuracy
    # only the held-out split was read: m single scores + (m - 1) candidate soups
    m = vectors.shape[0]
    assert len(heldout.reads) == (2 * m - 1) * len(splits.heldout)
    assert test.reads == []
    assert not any("test" in name for name in inspect.signature(greedy_soup).parameters)


def test_greedy_soup_tie_rule_and_population_inputs(splits):
    net = make_bn_net(0)
    same = [copy.deepcopy(net) for _ in range(3)]
    with_ties = greedy_soup(same, splits.heldout, accept_ties=True)
    strict = greedy_soup(same, splits.heldout, accept_ties=False)
    assert with_ties.ingredients == [0, 1, 2]  # equal accuracy is accepted (>=)
    assert strict.ingredients == [0]  # a strict improvement is needed (>)
    assert_same_state(with_ties.model, net)
    assert_same_state(strict.model, net)
    # BN network with recalibration of every candidate on training data
    members = [make_bn_net(s, stats_batch=all_inputs(splits.train)[:64]) for s in range(3)]
    res = greedy_soup(members, splits.heldout, bn_loader=splits.train, batch_size=256)
    assert res.heldout_accuracy >= max(res.individual_accuracies)
    with pytest.raises(ValueError, match="metric"):
        greedy_soup(same, splits.heldout, metric="loss")
