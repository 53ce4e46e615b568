"""Bytes communicated and time per generation: EvoTorch's Ray actors vs. replicated population.

One DE generation (rand/1/bin: build ``popsize`` trials, evaluate them, select) on a
ResNet-18-sized genome (torchvision ``resnet18``, 1000-class head: 11,689,512 parameters)
with ``--world`` processes on CPU, in four settings:

* **single** -- one process, no communication (the reference time);
* **ray** -- ``SupervisedNetProblem(num_actors=world)``: EvoTorch splits every evaluated
  batch into ``world`` pieces and ships them to its Ray actors. Bytes per generation are
  *measured* as the pickled size (protocol 5) of the pieces ``Problem._evaluate_all`` hands
  to the actors, plus the schedule state synced to each actor and the evaluations sent
  back; the *computed* ``popsize x d x 4`` is printed next to it. The one-off cost of
  pickling the problem (networks + data) into every actor is printed too;
* **replicated/population** and **replicated/batch** --
  :class:`~neuro_de.problems.distributed.DistributedSupervisedNetProblem` on gloo with
  ``world`` ranks started by :func:`neuro_de.distributed.run_local`: bytes are *counted* by
  the problem (``comm_bytes_total`` over the timed generations: the payload handed to
  ``all_reduce``, ``popsize x 2`` float32 or float64 numbers per evaluation).

Times are the median of ``--generations`` timed generations after one warm-up generation
(which includes the first evaluation of the population); 1 thread per process. Finally the
bytes per generation are computed for ResNet-50's 25,557,032 parameters.

Examples::

    python benchmarks/scaling.py                    # popsize 10, batch 16, 32x32, 2 procs
    python benchmarks/scaling.py --modes single,batch --generations 5
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torchvision
from torch.utils.data import TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuro_de.algorithms import DE  # noqa: E402
from neuro_de.distributed import run_local  # noqa: E402
from neuro_de.problems import SupervisedNetProblem  # noqa: E402
from neuro_de.problems.distributed import DistributedSupervisedNetProblem  # noqa: E402

RESNET50_PARAMS = 25_557_032  # sum(p.numel() for p in torchvision.models.resnet50().parameters())
MODES = ("single", "ray", "population", "batch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--popsize", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16, help="images per minibatch")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--world", type=int, default=2, help="processes / Ray actors")
    parser.add_argument("--generations", type=int, default=3, help="timed generations")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {MODES}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = sorted(set(args.modes) - set(MODES))
    if bad:
        parser.error(f"unknown modes {bad}; choose from {MODES}")
    return args


def quiet() -> None:
    logging.getLogger("evotorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(1)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None)  # 1000 logits: 11,689,512 parameters


def make_data(cfg: dict) -> TensorDataset:
    gen = torch.Generator().manual_seed(1)
    n = 4 * cfg["batch_size"]
    size = cfg["image_size"]
    return TensorDataset(torch.randn(n, 3, size, size, generator=gen),
                         torch.randint(0, 10, (n,), generator=gen))


def problem_kwargs(cfg: dict) -> dict:
    # generations_per_batch larger than the run: no re-scoring inside the timed window.
    return dict(batch_size=cfg["batch_size"], generations_per_batch=1000, seed=cfg["seed"],
                init_std=0.001)


def time_generations(searcher, generations: int) -> dict:
    """Wall time of each timed generation, the part spent in ``problem.evaluate``, and (for
    the replicated problem) the bytes it counted during the timed generations."""
    problem = searcher.problem
    spent = [0.0]
    evaluate = problem.evaluate

    def timed_evaluate(batch):  # an instance attribute shadows the method for the searcher
        start = time.perf_counter()
        evaluate(batch)
        spent[0] += time.perf_counter() - start

    problem.evaluate = timed_evaluate
    searcher.step()  # warm-up: includes the first evaluation of the population
    bytes_before = getattr(problem, "comm_bytes_total", 0)
    times, eval_times = [], []
    for _ in range(generations):
        spent[0] = 0.0
        start = time.perf_counter()
        searcher.step()
        times.append(time.perf_counter() - start)
        eval_times.append(spent[0])
    del problem.evaluate
    sent = getattr(problem, "comm_bytes_total", 0) - bytes_before
    return {"d": problem.solution_length, "times": times, "eval_times": eval_times,
            "bytes_per_gen": sent / generations}


def run_single(cfg: dict) -> dict:
    quiet()
    problem = SupervisedNetProblem(make_model(), make_data(cfg), **problem_kwargs(cfg))
    searcher = DE(problem, popsize=cfg["popsize"], F=0.5, CR=0.9)
    return time_generations(searcher, cfg["generations"])


def _replicated_rank(cfg: dict) -> dict:
    """One rank of the replicated mode (module level: started by run_local with spawn)."""
    quiet()
    problem = DistributedSupervisedNetProblem(
        make_model(), make_data(cfg), split=cfg["split"], **problem_kwargs(cfg)
    )
    searcher = DE(problem, popsize=cfg["popsize"], F=0.5, CR=0.9)
    out = time_generations(searcher, cfg["generations"])
    out["bytes_per_eval"] = problem.comm_bytes_last
    return out


def run_replicated(cfg: dict, split: str) -> dict:
    ranks = run_local(_replicated_rank, cfg["world"], {**cfg, "split": split},
                      backend="gloo", threads=1, timeout_s=1800)
    out = ranks[0]
    # A generation ends when the slowest rank is done; report the per-generation maximum.
    for key in ("times", "eval_times"):
        out[key] = [max(ts) for ts in zip(*(r[key] for r in ranks), strict=True)]
    return out


def run_ray(cfg: dict) -> dict:
    quiet()
    import ray

    ray.init(num_cpus=cfg["world"], include_dashboard=False, log_to_driver=False)
    try:
        problem = SupervisedNetProblem(make_model(), make_data(cfg), num_actors=cfg["world"],
                                       **problem_kwargs(cfg))
        one_off = len(pickle.dumps(problem, protocol=5))  # what each actor receives once
        searcher = DE(problem, popsize=cfg["popsize"], F=0.5, CR=0.9)
        out = time_generations(searcher, cfg["generations"])
        # What Problem._evaluate_all ships per evaluation (one per DE generation here).
        pieces = searcher.population.split(len(problem._actors))
        shipped = sum(len(pickle.dumps(pieces[i], protocol=5)) for i in range(len(pieces)))
        sync = len(pickle.dumps(problem._make_sync_data_for_actors(), protocol=5))
        returned = sum(len(pickle.dumps(pieces[i].evals.clone(), protocol=5))
                       for i in range(len(pieces)))
        return {
            **out,
            "bytes_per_gen": shipped + cfg["world"] * sync + returned,
            "pieces_bytes": shipped,
            "one_off_bytes_per_actor": one_off,
        }
    finally:
        ray.shutdown()


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    quiet()
    cfg = {k: getattr(args, k) for k in ("popsize", "batch_size", "image_size", "world",
                                         "generations", "seed")}
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    print(f"ResNet-18 on {args.image_size}x{args.image_size}, batch {args.batch_size}, "
          f"popsize {args.popsize}, DE rand/1/bin, {args.world} processes on CPU "
          f"(1 thread each), median of {args.generations} generations\n")
    results = {}
    for mode in args.modes:
        start = time.perf_counter()
        if mode == "single":
            results[mode] = run_single(cfg)
        elif mode == "ray":
            results[mode] = run_ray(cfg)
        else:
            results[mode] = run_replicated(cfg, mode)
        results[mode]["wall"] = time.perf_counter() - start
    d = next(iter(results.values()))["d"]
    n = args.popsize
    computed = {
        "single": 0,
        "ray": n * d * 4,
        "population": n * 2 * 4,
        "batch": n * 2 * 8,
    }
    names = {"single": "single process", "ray": f"Ray actors ({args.world})",
             "population": "replicated/population", "batch": "replicated/batch"}
    how = {"single": "-", "ray": "measured (pickled pieces + sync + evals)",
           "population": "counted (all_reduce payload)",
           "batch": "counted (all_reduce payload)"}
    print(f"genome d = {d:,}")
    print("| mode | time/generation (s) | of which evaluate (s) | bytes/generation | computed "
          "| how measured |")
    print("|---|---|---|---|---|---|")
    for mode, r in results.items():
        t = statistics.median(r["times"])
        e = statistics.median(r["eval_times"])
        print(f"| {names[mode]} | {t:.2f} | {e:.2f} | {fmt_bytes(r['bytes_per_gen'])} "
              f"({r['bytes_per_gen']:,.0f} B) | {computed[mode]:,} B | {how[mode]} |")
    if "ray" in results:
        r = results["ray"]
        print(f"\nRay: pickled population pieces {r['pieces_bytes']:,} B per evaluation; "
              f"one-off pickled problem {fmt_bytes(r['one_off_bytes_per_actor'])} per actor.")
    print(f"\nComputed for ResNet-50 (d = {RESNET50_PARAMS:,}), popsize {n}:")
    print(f"  Ray actors:            {n} x d x 4 = {n * RESNET50_PARAMS * 4:,} B "
          f"({fmt_bytes(n * RESNET50_PARAMS * 4)}) per generation")
    print(f"  replicated/population: {n} x 2 x 4 = {n * 8} B per evaluation")
    print(f"  replicated/batch:      {n} x 2 x 8 = {n * 16} B per evaluation")


if __name__ == "__main__":
    main()
