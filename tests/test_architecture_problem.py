"""ArchitectureProblem: Prellberg & Kramer (2018)'s fitness (held-out accuracy after e epochs
of a fresh Adam), Lamarckian write-back, the epoch budget and the global history.

Tiny stand-ins: a 1-D conv net built from arch tuples (module names as BlockCNN's) and a
copy-if-shape-unchanged mutation; data are small random signals with a class pattern.
"""

from __future__ import annotations

import math

import pytest
import torch
from evotorch import SolutionBatch
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.problems.architecture import (
    ArchitectureProblem,
    BudgetExceeded,
    parse_arch,
    plain_value,
)

NUM_CLASSES = 3
LENGTH = 16


# ----------------------------------------------------------------- stand-ins
class TinyBlock(nn.Module):
    def __init__(self, c_in: int, f: int, k: int, s: int):
        super().__init__()
        self.conv = nn.Conv1d(c_in, f, k, stride=s, padding=k // 2)
        self.bn = nn.BatchNorm1d(f)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TinyNet(nn.Module):
    """input -> blocks (conv, BN, ReLU) -> global average pooling -> dense."""

    def __init__(self, arch, in_channels: int = 1, num_classes: int = NUM_CLASSES):
        super().__init__()
        blocks, c = [], in_channels
        for f, k, s in arch:
            blocks.append(TinyBlock(c, f, k, s))
            c = f
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(-1))


def build(arch):
    return TinyNet(arch)


def make_data(n: int, seed: int) -> TensorDataset:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    t = torch.linspace(0, 1, LENGTH)
    pattern = torch.stack([torch.sin(2 * math.pi * (c + 1) * t) for c in range(NUM_CLASSES)])
    x = pattern[y] + 0.5 * torch.randn(n, LENGTH, generator=gen)
    return TensorDataset(x.unsqueeze(1), y)


TRAIN = make_data(96, 0)
HELDOUT = make_data(48, 1)

FILTERS = (2, 4, 6)
KERNELS = (1, 3)


def tiny_mutate(parent: dict, generator: torch.Generator, *, history=frozenset()) -> dict:
    """Add a block, change a kernel or widen a block; copy every tensor whose name and shape
    are unchanged (the paper's rule without the block re-indexing), fresh init elsewhere."""
    arch = list(parent["arch"])
    for _ in range(100):
        op = int(torch.randint(0, 3, (1,), generator=generator))
        j = int(torch.randint(0, len(arch), (1,), generator=generator))
        child = list(arch)
        if op == 0:
            child.append((FILTERS[int(torch.randint(0, 3, (1,), generator=generator))], 3, 1))
        elif op == 1:
            f, k, s = child[j]
            child[j] = (f, KERNELS[int(torch.randint(0, 2, (1,), generator=generator))], s)
        else:
            f, k, s = child[j]
            child[j] = (FILTERS[min(FILTERS.index(f) + 1, len(FILTERS) - 1)], k, s)
        child = tuple(child)
        if child != tuple(arch) and child not in history:
            break
    else:
        raise RuntimeError("no novel neighbour")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = build(child).state_dict()
    old = parent["weights"]
    weights, kept, total = {}, 0, 0
    for name, tensor in fresh.items():
        if old is not None and name in old and old[name].shape == tensor.shape:
            weights[name] = old[name].clone()
            kept += tensor.numel()
        else:
            weights[name] = tensor
        total += tensor.numel()
    return {"arch": child, "weights": weights, "inherited_fraction": kept / total}


def make_problem(**kw) -> ArchitectureProblem:
    args = dict(epochs_per_evaluation=1, budget=8, lr=1e-2, batch_size=32, seed=0)
    args.update(kw)
    return ArchitectureProblem(build, TRAIN, HELDOUT, **args)


def one_row(problem, value) -> SolutionBatch:
    batch = SolutionBatch(problem, popsize=1, empty=True)
    batch.access_values()[0] = value
    return batch


def fresh_value(arch, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return {"arch": arch, "weights": build(arch).state_dict(), "inherited_fraction": 0.0}


# ----------------------------------------------------------------- tests
def test_evaluation_scores_trains_and_writes_back_trained_weights():
    problem = make_problem()
    value = fresh_value(((4, 3, 1),))
    batch = one_row(problem, value)
    problem.evaluate(batch)
    acc, loss = (float(v) for v in batch.evals[0])
    assert 0.0 <= acc <= 1.0 and math.isfinite(loss)
    stored = batch.values[0]
    assert plain_value(stored["arch"]) == ((4, 3, 1),)
    assert stored["inherited_fraction"] == 0.0  # other entries kept
    new = plain_value(stored["weights"])
    assert new.keys() == value["weights"].keys()
    changed = [k for k in new if not torch.equal(new[k], value["weights"][k])]
    assert "blocks.0.conv.weight" in changed and "head.weight" in changed
    assert "blocks.0.bn.running_mean" in changed  # buffers are part of the genome
    # the stored weights are exactly the network that was scored
    assert problem.score(problem.network(stored), HELDOUT) == pytest.approx((acc, loss))
    # and it sticks: reading the batch again gives the same trained weights
    again = plain_value(batch.values[0]["weights"])
    assert all(torch.equal(again[k], new[k]) for k in new)
    assert problem.epochs_used == 1 and problem.evaluations == 1
    assert problem.history == {((4, 3, 1),)}


def test_child_of_a_written_back_parent_starts_from_the_trained_weights():
    problem = make_problem()
    batch = one_row(problem, fresh_value(((4, 3, 1),)))
    problem.evaluate(batch)
    parent = plain_value(batch.values[0])
    child = tiny_mutate(parent, torch.Generator().manual_seed(3))
    assert child["inherited_fraction"] > 0
    old = parent["weights"]
    shared = [k for k, v in child["weights"].items() if k in old and v.shape == old[k].shape]
    assert shared
    for k in shared:
        assert torch.equal(child["weights"][k], parent["weights"][k])
    cbatch = one_row(problem, child)
    net = problem.network(cbatch.values[0])
    for k in shared:
        assert torch.equal(net.state_dict()[k], parent["weights"][k])


def test_fresh_adam_for_every_evaluation():
    problem = make_problem()
    seen = []

    def hook(opt, net):
        seen.append((opt, len(opt.state), {id(p) for p in net.parameters()}))

    problem.optimizer_hook.append(hook)
    batch = SolutionBatch(problem, popsize=3, empty=True)
    vals = batch.access_values()
    for i, arch in enumerate([((2, 3, 1),), ((4, 1, 1),), ((2, 3, 1), (4, 3, 2))]):
        vals[i] = fresh_value(arch, seed=i)
    problem.evaluate(batch)
    assert len(seen) == 3
    assert all(n_state == 0 for _, n_state, _ in seen)  # no inherited Adam state
    assert len({id(opt) for opt, _, _ in seen}) == 3
    for opt, _, params in seen:
        assert {id(p) for g in opt.param_groups for p in g["params"]} == params
        assert len(opt.state) > 0  # it did train afterwards
    assert problem.last_initial_optimizer_state == 0
    assert problem.evaluations == 3 and problem.epochs_used == 3


def test_initial_value_without_weights_is_seeded_and_global_rng_untouched():
    a, b = make_problem(seed=5), make_problem(seed=5)
    state = torch.get_rng_state()
    ba = one_row(a, {"arch": ((4, 3, 1),), "weights": None})
    bb = one_row(b, {"arch": ((4, 3, 1),), "weights": None})
    a.evaluate(ba)
    b.evaluate(bb)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(ba.evals, bb.evals)
    wa, wb = plain_value(ba.values[0]["weights"]), plain_value(bb.values[0]["weights"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.records()[0]["seed"] == a.evaluation_seed(0) != a.evaluation_seed(1)


def test_budget_is_charged_and_refused_beyond():
    problem = make_problem(epochs_per_evaluation=2, budget=5)
    assert problem.evaluation_cost == 2 and problem.can_afford(2) and not problem.can_afford(3)
    problem.evaluate(one_row(problem, fresh_value(((2, 3, 1),))))
    assert (problem.epochs_used, problem.epochs_left) == (2, 3)
    batch = SolutionBatch(problem, popsize=2, empty=True)
    batch.access_values()[0] = fresh_value(((2, 1, 1),))
    batch.access_values()[1] = fresh_value(((4, 1, 1),))
    with pytest.raises(BudgetExceeded, match="only 3 of the budget's 5"):
        problem.evaluate(batch)  # refused before any training
    assert problem.epochs_used == 2 and problem.evaluations == 1
    problem.evaluate(one_row(problem, fresh_value(((2, 1, 1),))))
    assert problem.epochs_used == 4 and not problem.can_afford()
    with pytest.raises(BudgetExceeded):
        problem.evaluate(one_row(problem, fresh_value(((4, 1, 1),))))
    assert problem.epochs_used <= problem.budget
    assert problem.history == {((2, 3, 1),), ((2, 1, 1),)}


def test_state_dict_round_trip():
    problem = make_problem()
    problem.evaluate(one_row(problem, fresh_value(((2, 3, 1),))))
    problem.evaluate(one_row(problem, fresh_value(((4, 3, 1), (2, 1, 2)))))
    state = problem.state_dict()
    other = make_problem()
    history_ref = other.history
    other.load_state_dict(state)
    assert other.history is history_ref  # the same set object is refilled
    assert other.history == problem.history
    assert (other.epochs_used, other.evaluations) == (2, 2)
    assert other.records() == problem.records()
    with pytest.raises(ValueError, match="budget"):
        make_problem(budget=9).load_state_dict(state)


def test_fill_needs_an_initial_callable():
    with pytest.raises(TypeError, match="initial"):
        make_problem().generate_batch(1)
    problem = make_problem(initial=lambda g: {"arch": ((2, 3, 1),), "weights": None})
    batch = problem.generate_batch(2)
    assert plain_value(batch.values[1]["arch"]) == ((2, 3, 1),)


def test_parse_arch_and_plain_value():
    assert parse_arch([[2, 3, 1], (4, 1, 2)]) == ((2, 3, 1), (4, 1, 2))
    problem = make_problem()
    batch = one_row(problem, {"arch": ((2, 3, 1),), "weights": {"w": torch.ones(2)}, "x": [1]})
    value = plain_value(batch.values[0])
    assert type(value) is dict and value["arch"] == ((2, 3, 1),) and value["x"] == (1,)
    value["weights"]["w"].add_(1)  # a mutable copy


# ----------------------------------------------------------------- bad inputs
def test_bad_construction():
    with pytest.raises(ValueError, match="smaller than one evaluation"):
        make_problem(epochs_per_evaluation=4, budget=3)
    with pytest.raises(ValueError, match="epochs_per_evaluation"):
        make_problem(epochs_per_evaluation=0)
    with pytest.raises(ValueError, match="budget"):
        make_problem(budget=0)
    with pytest.raises(ValueError, match="heldout_set"):
        ArchitectureProblem(build, TRAIN, TensorDataset(torch.zeros(0, 1, LENGTH),
                                                         torch.zeros(0, dtype=torch.long)),
                            epochs_per_evaluation=1, budget=4)
    with pytest.raises(ValueError, match="lr"):
        make_problem(lr=0.0)
    with pytest.raises(TypeError, match="build"):
        ArchitectureProblem(None, TRAIN, HELDOUT, epochs_per_evaluation=1, budget=4)


@pytest.mark.parametrize(
    "arch, match",
    [
        ((), "no block"),
        ("abc", "corrupted genome"),
        (((4, 0, 1),), "block 0"),
        (((4, 3, 1), (4, 3)), "block 1"),
        (((4, 3.0, 1),), "block 0"),
        (((True, 3, 1),), "block 0"),
    ],
)
def test_corrupted_genome_is_named_and_costs_nothing(arch, match):
    problem = make_problem()
    batch = SolutionBatch(problem, popsize=2, empty=True)
    batch.access_values()[0] = fresh_value(((2, 3, 1),))
    batch.access_values()[1] = {"arch": arch, "weights": None}
    with pytest.raises(ValueError, match=match) as err:
        problem.evaluate(batch)
    assert "solution 1" in str(err.value)
    assert problem.epochs_used == 0 and problem.evaluations == 0


def test_weights_that_do_not_fit_and_values_that_are_not_dicts():
    problem = make_problem()
    value = fresh_value(((2, 3, 1),))
    value["arch"] = ((4, 3, 1),)
    with pytest.raises(ValueError, match="do not fit"):
        problem.evaluate(one_row(problem, value))
    with pytest.raises(ValueError, match="no 'arch'"):
        problem.evaluate(one_row(problem, {"weights": None}))
    with pytest.raises(ValueError, match="dict"):
        problem.evaluate(one_row(problem, [1, 2, 3]))
