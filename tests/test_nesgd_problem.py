"""NE-SGD two-rate retraining and the block-code problem (spec A.12 items 1-2, A.11)."""

from __future__ import annotations

import hashlib

import pytest
import torch
from evotorch import SolutionBatch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import Subset, TensorDataset

from neuro_de.models.blocks import BlockPartition
from neuro_de.problems.block_reset import BlockCodeProblem
from neuro_de.problems.retraining import RetrainResult, retrain, score


def model_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def data():
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    full = TensorDataset(x[:600], y[:600])
    return Subset(full, range(450)), Subset(full, range(450, 600))


@pytest.fixture(scope="module")
def pretrained(data):
    """P^alpha: a small BN conv net trained for a few epochs on the digits."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 24),
        nn.ReLU(),
        nn.Linear(24, 10),
    )
    partition = BlockPartition.per_module(net)
    out = retrain(
        net, [1] * 4, partition, data[0], epochs=4, eta0=0.1, eta1=0.2, batch_size=32
    ).model
    return out, partition


OPTS = dict(eta0=0.01, eta1=0.1, batch_size=64)


# ---------------------------------------------------------------------------- retrain
def test_two_param_groups(pretrained, data):
    net, p = pretrained
    before = model_hash(net)
    res = retrain(net, [1, 0, 1, 0], p, data[0], epochs=1, **OPTS)
    assert isinstance(res, RetrainResult)
    assert model_hash(net) == before
    assert [(g["role"], g["lr"], g["blocks"]) for g in res.param_groups] == [
        ("kept", 0.01, ["0", "7"]),
        ("reinitialised", 0.1, ["3", "9"]),
    ]
    assert res.param_groups[0]["params"] == ["0.weight", "0.bias", "1.weight", "1.bias"] + [
        "7.weight",
        "7.bias",
    ]
    assert res.param_groups[1]["params"] == ["3.weight", "3.bias", "4.weight", "4.bias"] + [
        "9.weight",
        "9.bias",
    ]
    assert len(res.loss_history) == 1 and res.code == (1, 0, 1, 0)
    ones = retrain(net, [1, 1, 1, 1], p, data[0], epochs=1, **OPTS).param_groups
    zeros = retrain(net, "0000", p, data[0], epochs=1, **OPTS).param_groups
    assert [(g["role"], g["lr"]) for g in ones] == [("kept", 0.01)]
    assert [(g["role"], g["lr"]) for g in zeros] == [("reinitialised", 0.1)]
    assert sum(len(g["params"]) for g in zeros) == len(list(net.parameters()))


def test_rates_must_follow_eq5(pretrained, data):
    net, p = pretrained
    with pytest.raises(ValueError, match=r"eta0=0\.1 and eta1=0\.05"):
        retrain(net, [1, 0, 1, 0], p, data[0], epochs=1, eta0=0.1, eta1=0.05)
    with pytest.raises(ValueError, match=r"eta0=0\.1 and eta1=0\.1.*allow_equal_rates=True"):
        retrain(net, [1, 0, 1, 0], p, data[0], epochs=1, eta0=0.1, eta1=0.1)
    res = retrain(
        net, [1, 0, 1, 0], p, data[0], epochs=1, eta0=0.05, eta1=0.05, allow_equal_rates=True
    )
    assert [g["lr"] for g in res.param_groups] == [0.05, 0.05]
    with pytest.raises(ValueError, match=r"eta0=0\.1 and eta1=0\.05"):
        retrain(
            net, [1, 0, 1, 0], p, data[0], epochs=1, eta0=0.1, eta1=0.05, allow_equal_rates=True
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(eta0=0.0), "eta0"),
        (dict(eta1=-1.0), "eta1"),
        (dict(schedule="step"), "schedule"),
    ],
)
def test_retrain_argument_errors(pretrained, data, kwargs, match):
    net, p = pretrained
    args = dict(epochs=1, **OPTS) | kwargs
    with pytest.raises(ValueError, match=match):
        retrain(net, [1, 0, 1, 0], p, data[0], **args)


def test_retrain_empty_data(pretrained):
    net, p = pretrained
    empty = TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="train_set.*zero samples"):
        retrain(net, [1, 0, 1, 0], p, empty, epochs=1, **OPTS)


def test_retrain_is_reproducible(pretrained, data):
    net, p = pretrained
    rng = torch.get_rng_state()
    a = retrain(net, [0, 1, 1, 0], p, data[0], epochs=2, seed=5, **OPTS)
    b = retrain(net, [0, 1, 1, 0], p, data[0], epochs=2, seed=5, **OPTS)
    c = retrain(net, [0, 1, 1, 0], p, data[0], epochs=2, seed=6, **OPTS)
    assert torch.equal(torch.get_rng_state(), rng)
    assert same_state(a.model, b.model) and a.loss_history == b.loss_history
    assert not same_state(a.model, c.model)
    const = retrain(net, [0, 1, 1, 0], p, data[0], epochs=2, seed=5, schedule="constant", **OPTS)
    assert not same_state(a.model, const.model)


# ---------------------------------------------------------------------------- problem
def make_problem(pretrained, data, **kwargs) -> BlockCodeProblem:
    net, p = pretrained
    opts = dict(retrain_epochs=1, seed=0, **OPTS) | kwargs
    return BlockCodeProblem(net, p, data[0], data[1], **opts)


def batch_of(problem: BlockCodeProblem, codes: list[list[int]]) -> SolutionBatch:
    batch = problem.generate_batch(len(codes))
    batch.set_values(torch.tensor(codes, dtype=torch.int64))
    return batch


def test_problem_cache_and_networks(pretrained, data):
    net, _ = pretrained
    before = model_hash(net)
    problem = make_problem(pretrained, data)
    codes = [[1, 0, 1, 1], [1, 1, 1, 0], [1, 0, 1, 1], [1, 0, 1, 1]]
    batch = batch_of(problem, codes)
    problem.evaluate(batch)
    assert problem.counters() == {
        "evaluations": 4,
        "retrainings": 2,
        "cache_hits": 2,
        "distinct_codes": 2,
    }
    assert problem.status["cache_hits"] == 2.0
    evals = batch.evals
    assert torch.equal(evals[0], evals[2]) and torch.equal(evals[0], evals[3])
    assert ((evals[:, 0] >= 0) & (evals[:, 0] <= 1)).all() and (evals[:, 1] > 0).all()
    for row, code in enumerate(codes[:2]):
        rebuilt = problem.network(code)
        acc, loss = score(rebuilt, data[1])
        assert (acc, loss) == problem.cached(code)
        assert torch.tensor(acc, dtype=evals.dtype) == evals[row, 0]
    # a later batch reuses the cache
    problem.evaluate(batch_of(problem, [[1, 1, 1, 0]]))
    assert problem.counters()["retrainings"] == 2 and problem.counters()["cache_hits"] == 3
    code, acc, best_net = problem.best()
    assert acc == max(r["accuracy"] for r in problem.records())
    assert score(best_net, data[1])[0] == acc
    assert code.dtype == torch.int64
    assert model_hash(net) == before
    # the same code retrains the same way in another problem with the same seed
    other = make_problem(pretrained, data)
    other.evaluate(batch_of(other, [[1, 1, 1, 0]]))
    assert same_state(other.network([1, 1, 1, 0]), problem.network([1, 1, 1, 0]))


def test_problem_generated_batch(pretrained, data):
    problem = make_problem(pretrained, data, seed=1)
    batch = problem.generate_batch(3)
    assert batch.values.dtype == torch.int64
    assert set(batch.values.unique().tolist()) <= {0, 1}
    problem.evaluate(batch)
    assert batch.evals.shape == (3, 2)
    acc, loss = batch.evals[:, 0], batch.evals[:, 1]
    assert ((acc >= 0) & (acc <= 1)).all() and torch.isfinite(loss).all()
    c = problem.counters()
    assert c["evaluations"] == 3 and c["retrainings"] == c["distinct_codes"]


def test_problem_rescore_duplicates(pretrained, data):
    problem = make_problem(pretrained, data, rescore_duplicates=True)
    problem.evaluate(batch_of(problem, [[0, 1, 1, 1], [0, 1, 1, 1]]))
    assert problem.counters() == {
        "evaluations": 2,
        "retrainings": 2,
        "cache_hits": 0,
        "distinct_codes": 1,
    }
    records = problem.records()
    assert [r["repeat"] for r in records] == [0, 1]
    assert records[0]["seed"] != records[1]["seed"]
    assert records[0]["seed"] == problem.retrain_seed([0, 1, 1, 1], 0)
    assert not same_state(
        problem.network([0, 1, 1, 1], repeat=0), problem.network([0, 1, 1, 1], repeat=1)
    )


def test_problem_store_dir_round_trip(pretrained, data, tmp_path):
    store = tmp_path / "nets"
    problem = make_problem(pretrained, data, store_dir=store)
    codes = [[1, 1, 0, 0], [0, 1, 1, 1]]
    problem.evaluate(batch_of(problem, codes))
    files = sorted(f.name for f in store.iterdir())
    assert files == ["code-0111-r0.pt", "code-1100-r0.pt"]
    payload = torch.load(store / files[0], weights_only=True)
    assert payload["code"] == "0111"
    state = problem.state_dict()
    assert state["weights"] is None and state["files"] == ["code-1100-r0.pt", "code-0111-r0.pt"]
    in_memory = make_problem(pretrained, data)
    in_memory.evaluate(batch_of(in_memory, codes))
    assert same_state(problem.network(codes[0]), in_memory.network(codes[0]))
    # resume on the same folder: networks come from the files, no retraining
    path = tmp_path / "problem.pt"
    torch.save(state, path)
    resumed = make_problem(pretrained, data, store_dir=store)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    assert resumed.counters() == problem.counters()
    assert same_state(resumed.network(codes[1]), problem.network(codes[1]))
    resumed.evaluate(batch_of(resumed, [codes[1]]))
    assert resumed.counters()["retrainings"] == 2 and resumed.counters()["cache_hits"] == 1


def test_problem_state_dict_round_trip(pretrained, data, tmp_path):
    problem = make_problem(pretrained, data)
    problem.evaluate(batch_of(problem, [[1, 0, 0, 1], [1, 0, 0, 1], [0, 0, 1, 1]]))
    path = tmp_path / "state.pt"
    torch.save(problem.state_dict(), path)
    fresh = make_problem(pretrained, data)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.counters() == problem.counters()
    assert fresh.records() == problem.records()
    assert same_state(fresh.network([0, 0, 1, 1]), problem.network([0, 0, 1, 1]))
    fresh.evaluate(batch_of(fresh, [[0, 0, 1, 1]]))
    assert fresh.counters()["retrainings"] == 2
    wrong_seed = make_problem(pretrained, data, seed=9)
    with pytest.raises(ValueError, match="'seed'"):
        wrong_seed.load_state_dict(problem.state_dict())


def test_problem_errors(pretrained, data):
    net, p = pretrained
    empty = TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="heldout_set.*zero samples"):
        BlockCodeProblem(net, p, data[0], empty, retrain_epochs=1, **OPTS)
    with pytest.raises(ValueError, match=r"eta0=0\.1 and eta1=0\.01"):
        BlockCodeProblem(net, p, data[0], data[1], retrain_epochs=1, eta0=0.1, eta1=0.01)
    with pytest.raises(ValueError, match="num_actors"):
        BlockCodeProblem(net, p, data[0], data[1], retrain_epochs=1, num_actors=2, **OPTS)
    other = BlockPartition(nn.Linear(64, 10), {"fc": ["weight", "bias"]})
    with pytest.raises(ValueError, match="does not fit"):
        BlockCodeProblem(net, other, data[0], data[1], retrain_epochs=1, **OPTS)
    problem = make_problem(pretrained, data)
    with pytest.raises(ValueError, match=r"value 2 at gene 1 \(block '3'\)"):
        problem.evaluate(batch_of(problem, [[1, 1, 1, 1], [1, 2, 0, 0]]))
    assert problem.counters()["evaluations"] == 0  # checked before any retraining
    with pytest.raises(TypeError, match="integers 0/1"):
        problem._codes_of(torch.zeros(2, 4))
    with pytest.raises(KeyError, match="has not been scored"):
        problem.network([0, 0, 0, 0])
    with pytest.raises(RuntimeError, match="No code has been scored"):
        problem.best()


def test_evotorch_ga_retrains_each_distinct_code_once(data):
    from evotorch.algorithms import GeneticAlgorithm

    from neuro_de.models import MLP

    torch.manual_seed(0)
    net = MLP((1, 8, 8), hidden=(8, 8, 8))
    problem = BlockCodeProblem(net, None, data[0], data[1], retrain_epochs=1, seed=0, **OPTS)
    assert problem.partition.names == ["fc1", "fc2", "fc3", "fc4"]

    def flip(values: torch.Tensor) -> torch.Tensor:
        mask = problem.make_uniform(values.shape) < 0.25
        return torch.where(mask, 1 - values, values)

    ga = GeneticAlgorithm(problem, popsize=4, operators=[flip], re_evaluate=False)
    for _ in range(3):
        ga.step()
    counters = problem.counters()
    assert counters["evaluations"] == 4 + 3 * 4
    assert counters["retrainings"] == counters["distinct_codes"]
    assert counters["retrainings"] + counters["cache_hits"] == counters["evaluations"]
    assert ga.status["retrainings"] == float(counters["retrainings"])
