"""Scaling beyond one process: the replicated-population mode on torch.distributed (gloo,
2 CPU processes) and EvoTorch's Ray actors, each compared with a single-process run."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro_de.algorithms import DE, SAShadeTriEnsin
from neuro_de.distributed import assert_replicated, is_main_process, run_local, world_info
from neuro_de.problems import SupervisedNetProblem
from neuro_de.problems.distributed import DistributedSupervisedNetProblem

NUM_CLASSES = 5
POPSIZE = 7  # odd: the population split gives the two ranks 4 and 3 trials
BATCH = 31  # odd: the batch split gives the two ranks 16 and 15 samples
GENERATIONS = 7  # 6 advance_generation() calls, 3 per batch: two minibatch changes
WORLD = 2


def make_model(name: str) -> nn.Module:
    """Plain ``nn.Sequential`` models, so that Ray actors can unpickle them."""
    torch.manual_seed(0)
    if name == "mlp":  # no convolution: the vmap evaluation path
        return nn.Sequential(
            nn.Flatten(), nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, NUM_CLASSES)
        )
    # conv3 + frozen BatchNorm + pool + linear: the in-place loop evaluation path
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3 * 4 * 4, NUM_CLASSES),
    )


def make_data(n: int = 96) -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=gen),
                         torch.randint(0, NUM_CLASSES, (n,), generator=gen))


def make_searcher(problem, algo: str):
    if algo == "de":
        return DE(problem, popsize=POPSIZE, F=0.5, CR=0.9)
    return SAShadeTriEnsin(problem, popsize=POPSIZE, learning_period=2, sin_horizon=3)


def evolve(problem_cls, model_name: str, algo: str, **kwargs) -> dict:
    problem = problem_cls(
        make_model(model_name), make_data(), batch_size=BATCH, generations_per_batch=3,
        seed=11, alpha=1e-4, **kwargs,
    )
    searcher = make_searcher(problem, algo)
    for _ in range(GENERATIONS):
        searcher.step()
    out = {
        "values": searcher.population.values.clone(),
        "evals": searcher.population.evals.clone(),
        "epoch": problem.fitness_epoch,
    }
    if isinstance(problem, DistributedSupervisedNetProblem):
        out.update(
            comm_last=problem.comm_bytes_last,
            comm_total=problem.comm_bytes_total,
            comm_calls=problem.comm_calls,
            status_comm=float(problem.status.get("comm_bytes", float("nan"))),
        )
    return out


CONFIGS = [
    (model, split, algo)
    for model in ("mlp", "cnn")
    for split in ("population", "batch")
    for algo in ("de", "sashade")
]


def _rank_main(configs):
    """Runs in each spawned rank (module level, so that spawn can import it)."""
    info = world_info()
    results = {}
    for model, split, algo in configs:
        out = evolve(DistributedSupervisedNetProblem, model, algo, split=split)
        assert_replicated(out["values"], "population")  # a collective check of 2 floats
        results[(model, split, algo)] = out
    # seed=None: rank 0 draws the seed and broadcasts it, so the replicas still agree.
    unseeded = DistributedSupervisedNetProblem(make_model("mlp"), make_data(), batch_size=BATCH)
    assert_replicated(torch.tensor([float(unseeded._stream.seed)]), "stream seed")
    assert_replicated(unseeded.generate_batch(3).values, "unseeded population")
    try:  # a shard's batch statistics are not the minibatch's: refused
        DistributedSupervisedNetProblem(make_model("cnn"), make_data(), batch_size=BATCH,
                                        split="batch", bn="batch", seed=0)
        bn_refused = False
    except ValueError:
        bn_refused = True
    diverged_caught = False
    try:  # a deliberately different tensor per rank must be caught on every rank
        assert_replicated(torch.full((3,), float(info.rank)), "probe")
    except RuntimeError:
        diverged_caught = True
    return {
        "rank": info.rank,
        "world": info.world_size,
        "backend": info.backend,
        "main": is_main_process(),
        "diverged_caught": diverged_caught,
        "bn_refused": bn_refused,
        "results": results,
    }


@pytest.fixture(scope="module")
def gloo_runs():
    start = time.perf_counter()
    ranks = run_local(_rank_main, WORLD, CONFIGS, backend="gloo", threads=1, timeout_s=240)
    return ranks, time.perf_counter() - start


@pytest.fixture(scope="module")
def reference_runs():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {cfg: evolve(SupervisedNetProblem, cfg[0], cfg[2]) for cfg in CONFIGS}
    finally:
        torch.set_num_threads(threads)


def test_ranks_are_a_gloo_world_of_two(gloo_runs):
    ranks, _ = gloo_runs
    assert [r["rank"] for r in ranks] == [0, 1]
    assert all(r["world"] == WORLD and r["backend"] == "gloo" for r in ranks)
    assert [r["main"] for r in ranks] == [True, False]
    assert all(r["diverged_caught"] and r["bn_refused"] for r in ranks)


@pytest.mark.parametrize("config", CONFIGS, ids=["-".join(c) for c in CONFIGS])
def test_replicated_run_equals_single_process(config, gloo_runs, reference_runs):
    ranks, _ = gloo_runs
    ref = reference_runs[config]
    r0, r1 = (r["results"][config] for r in ranks)
    # The replicas agree bit for bit (the all_reduce hands every rank the same numbers).
    assert torch.equal(r0["values"], r1["values"])
    assert torch.equal(r0["evals"], r1["evals"])
    assert r0["epoch"] == ref["epoch"] == 2
    _, split, _ = config
    if split == "population":
        # Each trial is scored whole on one rank: same numbers as a single process (loop
        # path: bit-identical; vmap: chunking differs, float tolerance).
        torch.testing.assert_close(r0["evals"], ref["evals"], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(r0["values"], ref["values"], rtol=0, atol=0)
    else:
        # Shard sums differ from one mean only by float summation order (~1e-7 relative).
        torch.testing.assert_close(r0["evals"], ref["evals"], rtol=1e-5, atol=1e-6)
        if config[2] == "de":
            # DE uses fitness only to compare, and no comparison was that close a tie: the
            # populations are identical.
            torch.testing.assert_close(r0["values"], ref["values"], rtol=0, atol=0)
        else:
            # SA-SHADE-tri-ensin feeds fitness values into its mutation (trigonometric
            # weights |f_k| / sum |f|) and memories (|delta f| weights), so the ~1e-7
            # differences reach the genomes at float level; the selections stay the same.
            torch.testing.assert_close(r0["values"], ref["values"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=["-".join(c) for c in CONFIGS])
def test_only_popsize_numbers_cross_the_network(config, gloo_runs):
    ranks, _ = gloo_runs
    out = ranks[0]["results"][config]
    itemsize = 4 if config[1] == "population" else 8  # float32 [loss, acc]; float64 sums
    per_eval = POPSIZE * 2 * itemsize
    assert out["comm_last"] == per_eval == out["status_comm"]
    # 1 initial evaluation + 7 trial batches + 2 re-scorings after batch changes.
    assert out["comm_calls"] == 1 + GENERATIONS + 2
    assert out["comm_total"] == out["comm_calls"] * per_eval


def test_gloo_run_is_quick(gloo_runs):
    _, seconds = gloo_runs
    assert seconds < 120, f"2-process gloo run took {seconds:.1f} s"


# ------------------------------------------------------------------ without a process group
def test_world_of_one_is_the_plain_problem():
    for split in ("population", "batch"):
        dp = DistributedSupervisedNetProblem(
            make_model("mlp"), make_data(), batch_size=BATCH, seed=3, split=split
        )
        sp = SupervisedNetProblem(make_model("mlp"), make_data(), batch_size=BATCH, seed=3)
        assert dp.world_size == 1 and not dp.is_distributed and dp.rank == 0
        values = sp.generate_batch(5).values.clone()
        for a, b in zip(dp.score(values), sp.score(values), strict=True):
            assert torch.equal(a, b)
        assert dp.comm_bytes_total == 0
    assert world_info().world_size == 1 and is_main_process()
    assert_replicated(torch.ones(3))  # no-op without a group


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        DistributedSupervisedNetProblem(make_model("mlp"), make_data(), split="rows")
    with pytest.raises(ValueError, match="num_actors"):
        DistributedSupervisedNetProblem(
            make_model("mlp"), make_data(), batch_size=8, num_actors=2
        )


# ------------------------------------------------------------------ EvoTorch's Ray actors
def test_ray_actors_evaluate_like_one_process():
    ray = pytest.importorskip("ray", reason="Ray is not installed in this environment")
    start = time.perf_counter()
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    except Exception as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"Ray could not start here: {err}")
    try:
        local = SupervisedNetProblem(
            make_model("cnn"), make_data(), batch_size=BATCH, generations_per_batch=3, seed=5
        )
        remote = SupervisedNetProblem(
            make_model("cnn"), make_data(), batch_size=BATCH, generations_per_batch=3, seed=5,
            num_actors=2,
        )
        batch_l = local.generate_batch(6)
        batch_r = remote.generate_batch(6)  # same seed: the same solutions
        assert torch.equal(batch_l.values, batch_r.values)
        for _ in range(2):  # the first minibatch, then the next one (synced to the actors)
            local.evaluate(batch_l)
            remote.evaluate(batch_r)
            assert remote._actors is not None and len(remote._actors) == 2
            torch.testing.assert_close(batch_r.evals, batch_l.evals, rtol=0, atol=0)
            for _ in range(3):
                local.advance_generation()
                remote.advance_generation()
        assert remote.fitness_epoch == local.fitness_epoch == 2
    finally:
        ray.shutdown()
    assert time.perf_counter() - start < 120
