"""Tests of SupervisedNetProblem: genome mapping, fitness, BatchNorm policy, batch schedule,
the re-scoring protocol, evaluation paths, and input validation."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from evotorch.algorithms import SNES
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from neuro_de.problems import MinibatchStream, SupervisedNetProblem

NUM_CLASSES = 5


class TinyCNN(nn.Module):
    """conv3 (3 maps) + BatchNorm + ReLU + max-pool + linear head, for 1x8x8 inputs."""

    def __init__(self, bn: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3) if bn else nn.Identity()
        self.head = nn.Linear(3 * 4 * 4, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.norm(self.conv(x))), 2)
        return self.head(torch.flatten(h, 1))


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.BatchNorm1d(12), nn.Tanh())
        self.head = nn.Linear(12, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PairList(Dataset):
    """A plain (non-tensor) map-style data set of (input, int label) pairs."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.items = [(x[i], int(y[i])) for i in range(len(y))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def make_data(n: int = 96, seed: int = 0) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=gen)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    y[0] = NUM_CLASSES - 1
    return TensorDataset(x, y)


def trained_like(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics, as a trained network has."""
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
            m.num_batches_tracked.fill_(7)
    return net


def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_state_equal(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    now = module.state_dict()
    assert now.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(now[k], v), f"{k} changed"


def population(problem: SupervisedNetProblem, n: int, std: float = 0.05, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    center = problem.parameter_vector()
    return center + std * torch.randn(n, center.numel(), generator=gen)


def make_problem(net=None, data=None, **kw) -> SupervisedNetProblem:
    torch.manual_seed(0)
    net = trained_like(TinyCNN()) if net is None else net
    kw.setdefault("batch_size", 32)
    kw.setdefault("seed", 3)
    return SupervisedNetProblem(net, make_data() if data is None else data, **kw)


# --------------------------------------------------------------------------------------
# genome <-> module
# --------------------------------------------------------------------------------------
def test_vector_module_mapping_is_exact_and_respects_exclusions():
    torch.manual_seed(0)
    net = trained_like(TinyCNN())
    full = SupervisedNetProblem(net, make_data(), batch_size=32, seed=0)
    expected = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    assert full.solution_length == expected.numel()
    assert torch.equal(full.parameter_vector(), expected)

    part = SupervisedNetProblem(net, make_data(), batch_size=32, exclude=["head"], seed=0)
    head = sum(p.numel() for p in net.head.parameters())
    assert part.solution_length == expected.numel() - head
    assert "head.weight" not in part.view.names

    v = part.parameter_vector() + 1.0
    out = part.to_module(v)
    assert out is not net and not out.training
    offset = 0
    for name, param in out.named_parameters():
        if name.startswith("head"):
            assert torch.equal(param, dict(net.named_parameters())[name])  # kept
        else:
            n = param.numel()
            assert torch.equal(param.reshape(-1), v[offset : offset + n])
            offset += n
    assert offset == v.numel()
    for name, buf in out.named_buffers():  # buffers are not genome
        assert torch.equal(buf, dict(net.named_buffers())[name])
    # An EvoTorch Solution is accepted too, and round-trips.
    batch = part.generate_batch(2)
    assert torch.equal(part.view.to_vector(part.to_module(batch[0])), batch[0].values)


# --------------------------------------------------------------------------------------
# fitness
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("eval_mode", ["loop", "vmap"])
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_fitness_equals_hand_cross_entropy_and_accuracy(eval_mode, alpha):
    problem = make_problem(eval_mode=eval_mode, alpha=alpha)
    pop = population(problem, 5)
    batch = problem.generate_batch(5)
    batch.set_values(pop)
    problem.evaluate(batch)
    assert batch.evals.shape == (5, 2)  # [loss, accuracy]
    x, y = problem.current_batch
    assert len(y) == 32
    for i in range(5):
        net = problem.to_module(pop[i])
        with torch.no_grad():
            logits = net(x)
        loss = F.cross_entropy(logits, y) + alpha * pop[i].square().sum()
        acc = (logits.argmax(1) == y).float().mean()
        torch.testing.assert_close(batch.evals[i, 0], loss, rtol=1e-5, atol=1e-5)
        assert batch.evals[i, 1].item() == pytest.approx(acc.item(), abs=1e-6)
    assert problem.status["fitness_epoch"] == 0.0
    assert problem.status["batch_accuracy_mean"] == pytest.approx(batch.evals[:, 1].mean().item())


def test_accuracy_column_counts_correct_predictions():
    # A "network" whose logits are a fixed one-hot of its input: accuracy is known exactly.
    class Lookup(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.scale * x

    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    pred = torch.tensor([0, 1, 2, 0, 0, 1, 0, 0])  # 5 of 8 right
    x = F.one_hot(pred, 4).float()
    problem = SupervisedNetProblem(Lookup(), TensorDataset(x, y), batch_size=8, seed=0)
    batch = problem.generate_batch(2)
    batch.set_values(torch.tensor([[1.0], [-1.0]]))
    problem.evaluate(batch)
    assert batch.evals[0, 1].item() == pytest.approx(5 / 8)
    # Negated one-hot logits: the argmax is the first non-predicted class.
    neg_pred = torch.where(pred == 0, 1, 0)
    assert batch.evals[1, 1].item() == pytest.approx((neg_pred == y).float().mean().item())


# --------------------------------------------------------------------------------------
# BatchNorm policy, user's module untouched
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("eval_mode", ["loop", "vmap"])
def test_bn_policies_leave_buffers_bit_identical(eval_mode):
    torch.manual_seed(0)
    net = trained_like(TinyCNN())
    net.train()  # the user's mode must survive too
    before = state_copy(net)
    data = make_data()
    frozen = SupervisedNetProblem(net, data, batch_size=32, seed=0, eval_mode=eval_mode)
    batch_bn = SupervisedNetProblem(
        net, data, batch_size=32, seed=0, eval_mode=eval_mode, bn="batch"
    )
    pop = population(frozen, 4)
    lf, _ = frozen.score(pop)
    lb, _ = batch_bn.score(pop)
    for problem in (frozen, batch_bn):
        template_state = state_copy(problem._template)
        problem.score(pop)
        for _ in range(3):
            problem.advance_generation()
        assert_state_equal(problem._template, template_state)
        work_buffers = dict(problem._work.named_buffers())  # none left in "batch" mode
        for name, buf in work_buffers.items():
            assert torch.equal(buf, before[name]), name
        assert (problem.bn == "batch") == (len(work_buffers) == 0)
        for name, buf in problem.to_module(pop[0]).named_buffers():
            assert torch.equal(buf, before[name])
    assert_state_equal(net, before)
    assert net.training
    assert not torch.allclose(lf, lb), "batch statistics must change the losses"

    # bn="batch" is the train-mode forward (batch statistics) of each individual.
    x, y = batch_bn.current_batch
    for i in range(len(pop)):
        hand = batch_bn.to_module(pop[i]).train()
        with torch.no_grad():
            torch.testing.assert_close(lb[i], F.cross_entropy(hand(x), y), rtol=1e-5, atol=1e-5)


def test_user_module_unchanged_by_everything():
    torch.manual_seed(0)
    net = trained_like(TinyCNN())
    before = state_copy(net)
    for eval_mode in ("loop", "vmap"):
        problem = SupervisedNetProblem(net, make_data(), batch_size=32, seed=0, eval_mode=eval_mode)
        pop = population(problem, 4)
        batch = problem.generate_batch(4)
        batch.set_values(pop)
        problem.evaluate(batch)
        problem.to_module(pop[1])
        problem.recalibrate_bn(pop[1], num_batches=2)
        problem.evaluate_vector(pop[2], make_data(20, seed=5), batch_size=8)
    assert_state_equal(net, before)


def test_recalibrate_bn_recomputes_running_mean_on_training_data():
    torch.manual_seed(0)
    net = trained_like(TinyCNN())
    data = make_data()
    problem = SupervisedNetProblem(net, data, batch_size=32, seed=0, bn="batch")
    v = problem.parameter_vector()
    out = problem.recalibrate_bn(v)  # one epoch = 3 batches of 32 = all 96 samples
    with torch.no_grad():
        pre_bn = out.conv(data.tensors[0])
    torch.testing.assert_close(out.norm.running_mean, pre_bn.mean(dim=(0, 2, 3)))
    assert not out.training and not out.norm.training
    assert not torch.allclose(out.norm.running_mean, net.norm.running_mean)
    same = problem.to_module(v, update_bn=True)
    torch.testing.assert_close(same.norm.running_var, out.norm.running_var)


# --------------------------------------------------------------------------------------
# batch schedule and the re-scoring protocol
# --------------------------------------------------------------------------------------
def test_each_minibatch_serves_exactly_generations_per_batch_generations():
    problem = make_problem(generations_per_batch=3)
    generations_on = {}
    changed = []
    for gen in range(12):
        if gen > 0:
            changed.append(problem.advance_generation())
        generations_on[problem.fitness_epoch] = generations_on.get(problem.fitness_epoch, 0) + 1
    assert generations_on == {0: 3, 1: 3, 2: 3, 3: 3}
    assert changed == [False, False, True] * 3 + [False, False]
    assert problem.generation == 11


def _batch_labels(problem, generations):
    out = []
    for _ in range(generations):
        if problem.advance_generation():
            out.append(problem.current_batch[1].clone())
    return out


def test_schedule_is_seeded_reproducible_and_independent_of_global_rng():
    a = make_problem(generations_per_batch=1, seed=11)
    torch.manual_seed(123)
    b = make_problem(generations_per_batch=1, seed=11)
    assert torch.equal(a.current_batch[0], b.current_batch[0])
    la = _batch_labels(a, 8)
    torch.rand(1000)  # disturb the global generator
    lb = _batch_labels(b, 8)
    assert all(torch.equal(p, q) for p, q in zip(la, lb, strict=True))
    c = make_problem(generations_per_batch=1, seed=12)
    assert not torch.equal(a.current_batch[0], c.current_batch[0]) or not all(
        torch.equal(p, q) for p, q in zip(la, _batch_labels(c, 8), strict=True)
    )


def test_state_dict_round_trip_continues_the_same_stream():
    a = make_problem(generations_per_batch=2)
    for _ in range(7):  # mid-batch, mid-epoch (3 batches of 32 per epoch)
        a.advance_generation()
    state = copy.deepcopy(a.state_dict())
    b = make_problem(generations_per_batch=2)
    b.load_state_dict(state)
    assert b.fitness_epoch == a.fitness_epoch and b.generation == a.generation
    assert torch.equal(a.current_batch[0], b.current_batch[0])
    for _ in range(9):  # crosses an epoch boundary
        assert a.advance_generation() == b.advance_generation()
        assert a.fitness_epoch == b.fitness_epoch
        assert torch.equal(a.current_batch[0], b.current_batch[0])
    # An epoch visits each sample at most once.
    stream = MinibatchStream(96, 32, seed=0)
    seen = torch.cat([stream.next() for _ in range(3)])
    assert seen.unique().numel() == 96


def test_pickled_problem_and_actor_sync_keep_the_schedule():
    a = make_problem(generations_per_batch=1)
    a.advance_generation()
    b = pickle.loads(pickle.dumps(a))
    pop = population(a, 3)
    torch.testing.assert_close(a.score(pop)[0], b.score(pop)[0])
    actor = make_problem(generations_per_batch=1)  # a Ray actor's copy, still at batch 0
    actor._use_sync_data_from_main(a._make_sync_data_for_actors())
    assert actor.fitness_epoch == a.fitness_epoch == 1
    assert torch.equal(actor.current_batch[1], a.current_batch[1])


def test_mock_algorithm_never_compares_across_batches():
    """A tiny DE-like loop following the protocol. At every selection the parent's stored
    loss must equal its loss re-computed on the data the trial was scored on; this fails if
    the problem changed data without changing ``fitness_epoch`` (the algorithm would then
    not re-score), or if parents were not re-scored after a change."""
    problem = make_problem(generations_per_batch=2, eval_mode="loop")
    gen = torch.Generator().manual_seed(0)
    parents = population(problem, 6)
    parent_loss, _ = problem.score(parents)
    parent_epoch = problem.fitness_epoch
    stale_differs = []
    rescored = 0
    for generation in range(7):
        if generation > 0:
            changed = problem.advance_generation()
            assert changed == (problem.fitness_epoch != parent_epoch)
        if problem.fitness_epoch != parent_epoch:
            fresh, _ = problem.score(parents)
            stale_differs.append(not torch.allclose(fresh, parent_loss))
            parent_loss, parent_epoch = fresh, problem.fitness_epoch
            rescored += 1
        trials = parents + 0.01 * torch.randn(parents.shape, generator=gen)
        trial_loss, _ = problem.score(trials)
        # The comparison below is only valid on one batch:
        torch.testing.assert_close(problem.score(parents)[0], parent_loss)
        better = trial_loss <= parent_loss
        parents = torch.where(better[:, None], trials, parents)
        parent_loss = torch.where(better, trial_loss, parent_loss)
    assert rescored == 3  # batches changed at generations 2, 4, 6
    assert all(stale_differs), "stale losses differ from re-scored ones on the new batch"


def test_attach_runs_evotorch_snes():
    problem = make_problem(net=TinyMLP(), generations_per_batch=2)
    searcher = SNES(problem, stdev_init=0.01, popsize=8, center_init=problem.parameter_vector())
    problem.attach(searcher)
    for _ in range(5):
        searcher.step()
    assert problem.generation == 4 and problem.fitness_epoch == 2
    assert torch.isfinite(searcher.status["center"]).all()
    assert searcher.status["fitness_epoch"] == 2.0
    other = make_problem(net=TinyMLP())
    with pytest.raises(ValueError, match="not built on this problem"):
        other.attach(searcher)


# --------------------------------------------------------------------------------------
# evaluation paths
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bn", ["frozen", "batch"])
@pytest.mark.parametrize("net_cls", [TinyCNN, TinyMLP])
def test_vmap_and_loop_agree(net_cls, bn):
    torch.manual_seed(0)
    net = trained_like(net_cls())
    data = make_data()
    loop = SupervisedNetProblem(net, data, batch_size=32, seed=0, bn=bn, eval_mode="loop")
    vmap = SupervisedNetProblem(
        net, data, batch_size=32, seed=0, bn=bn, eval_mode="vmap", chunk_size=3, alpha=0.01
    )
    pop = population(loop, 7, std=0.2)
    l_loss, l_acc = loop.score(pop)
    v_loss, v_acc = vmap.score(pop)
    torch.testing.assert_close(l_loss + 0.01 * pop.square().sum(1), v_loss, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(l_acc, v_acc)


def test_auto_mode_rule_and_channels_last_agree():
    assert make_problem(net=TinyMLP()).eval_mode == "vmap"
    cnn = make_problem()
    assert cnn.eval_mode == "loop" and cnn._channels_last
    plain = make_problem(channels_last=False, eval_mode="loop")
    pop = population(cnn, 4)
    torch.testing.assert_close(cnn.score(pop), plain.score(pop), rtol=1e-5, atol=1e-5)


def test_generic_datasets_and_subsets_give_the_same_batches():
    data = make_data()
    x, y = data.tensors
    ref = make_problem(data=data)
    generic = make_problem(data=PairList(x, y))
    assert torch.equal(ref.current_batch[0], generic.current_batch[0])
    sub_idx = list(range(10, 90))
    sub = make_problem(data=Subset(data, sub_idx))
    wrapped = make_problem(data=PairList(x[10:90], y[10:90]))
    assert torch.equal(sub.current_batch[0], wrapped.current_batch[0])


def test_evaluate_vector_topk_matches_manual():
    problem = make_problem(net=TinyMLP())
    test = make_data(23, seed=9)
    v = problem.parameter_vector() + 0.1
    net = problem.to_module(v)
    with torch.no_grad():
        logits = net(test.tensors[0])
    y = test.tensors[1]
    ranks = (logits > logits.gather(1, y[:, None])).sum(1)  # 0 = top-1
    expect = {
        "top1": (ranks < 1).float().mean().item(),
        "top3": (ranks < 3).float().mean().item(),
        "loss": F.cross_entropy(logits, y).item(),
    }
    for data in (test, DataLoader(test, batch_size=5)):
        got = problem.evaluate_vector(v, data, topk=(1, 3), batch_size=4)
        assert got["num_samples"] == 23
        for k, value in expect.items():
            assert got[k] == pytest.approx(value, abs=1e-5), k
    # 5 classes: top-5 would be 100 % by construction, so the default reports top-1 only
    default = problem.evaluate_vector(v, test)
    assert set(default) == {"top1", "loss", "num_samples"}
    assert default["top1"] == pytest.approx(expect["top1"], abs=1e-6)
    assert problem.evaluate_vector(v, test, topk=(5,))["top5"] == 1.0
    with pytest.raises(ValueError, match="topk"):
        problem.evaluate_vector(v, test, topk=(1, 6))


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "lenet"}, TypeError, "`model` must be a torch.nn.Module"),
        ({"dataset": 3}, TypeError, "`dataset` must be a map-style"),
        (
            {"dataset": TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0))},
            ValueError,
            "`dataset` is empty",
        ),
        ({"dataset": [torch.zeros(1, 8, 8)]}, ValueError, r"\(input, label\) pairs"),
        ({"dataset": [(torch.zeros(1, 8, 8), 0.5)]}, ValueError, "integer class label"),
        ({"batch_size": 0}, ValueError, "`batch_size` must be a positive integer"),
        ({"batch_size": 1000}, ValueError, "`batch_size` .* is larger than the data set"),
        ({"generations_per_batch": 0}, ValueError, "`generations_per_batch` must be a positive"),
        ({"bn": "train"}, ValueError, "`bn` must be one of"),
        ({"eval_mode": "fast"}, ValueError, "`eval_mode` must be one of"),
        ({"alpha": -1.0}, ValueError, "`alpha` must be a number >= 0"),
        ({"chunk_size": 0}, ValueError, "`chunk_size` must be a positive integer"),
        ({"autocast_dtype": "int8"}, ValueError, "`autocast_dtype` must be"),
        ({"exclude": ["nope"]}, ValueError, "match no parameter"),
        ({"solution_length": 3}, ValueError, "sets .*solution_length"),
        (
            {"model": nn.Sequential(nn.Flatten(), nn.Linear(64, 3))},
            ValueError,
            "label 4 but `model` outputs only 3 logits",
        ),
        (
            {"model": nn.Sequential(nn.Flatten(), nn.Linear(10, 3))},
            ValueError,
            "`model` failed on one input",
        ),
        ({"model": nn.Conv2d(1, 5, 3)}, ValueError, r"must return \(batch, num_classes\) logits"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, match):
    args = {"model": TinyCNN(), "dataset": make_data(), "batch_size": 32}
    args.update(kwargs)
    model, dataset = args.pop("model"), args.pop("dataset")
    with pytest.raises(error, match=match):
        SupervisedNetProblem(model, dataset, **args)


def test_wrong_length_vectors_raise():
    problem = make_problem()
    d = problem.solution_length
    with pytest.raises(ValueError, match=f"length {d}"):
        problem.to_module(torch.zeros(d + 1))
    with pytest.raises(ValueError, match=f"length {d}"):
        problem.evaluate_vector(torch.zeros(d - 1), make_data(10))
    with pytest.raises(ValueError, match=rf"\(n, {d}\)"):
        problem.score(torch.zeros(2, d + 2))


@pytest.mark.slow
@pytest.mark.parametrize("eval_mode", ["loop", "vmap"])
def test_compiled_paths_agree_with_eager(eval_mode):
    eager = make_problem(eval_mode=eval_mode)
    compiled = make_problem(eval_mode=eval_mode, compile=True)
    pop = population(eager, 4)
    torch.testing.assert_close(eager.score(pop), compiled.score(pop), rtol=1e-4, atol=1e-4)
