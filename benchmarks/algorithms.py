"""Time one generation of every search algorithm on vectorised benchmark functions.

The guard benchmark of issue 19 ("the old benchmark stays as a guard"): it measures the
algorithms' own per-generation cost where it is largest relative to the fitness, on small
vectorised problems. At network scale that cost is noise next to the fitness
(``benchmarks/network.py``); here it is most of the generation.

For DE, SaDE, SHADE, SAShadeTriEnsin, JDE, JADE and PSO on shifted sphere and shifted
Rastrigin (vectorised EvoTorch problems, CEC conventions: search range [-100, 100]^d, shift
``o ~ U[-80, 80]^d`` from a fixed generator, Rastrigin on ``z = 5.12 (x - o) / 100``), each
row gives the median over ``--seeds`` of:

* **ms/gen**: wall time per generation, ``time.perf_counter`` around ``--generations`` calls
  of ``searcher.step()`` after one warm-up generation (which also evaluates the initial
  population); CUDA is synchronised before reading the clock. The algorithms of one seed
  run interleaved, ``--block`` generations at a time each, so that drift in a shared
  machine's speed does not favour one row;
* **x floor**: ratio to the *bare vectorised evaluation* of the same function on a
  ``(popsize, d)`` tensor, measured in the same run (``f(pop)``; nothing else);
* **x DE**: ratio to our DE's ms/gen on the same function, in the same run;
* **x EvoX DE** (with ``--evox``): ratio to EvoX's DE of the same run;
* **final best**: best fitness of the population (PSO: of the personal bests) after the run;
* **goal met**: DE and PSO at or below EvoX 1.4's DE of the same run (only with
  ``--evox``: without it there is no peer in the run and the column says so); SaDE,
  SHADE, SAShadeTriEnsin, JDE and JADE at most 2x our DE of the same run.

With ``--evox`` (needs ``pip install evox==1.4.0``; not a dependency of neuro_de), EvoX 1.4's
own DE, PSO, SHADE and SaDE (eager ``StdWorkflow``, default settings, the same function
and bounds) are timed in the same interleaved run, so the DE/PSO goal compares against a
peer on the same machine at the same moment rather than a number measured earlier.

Two floor rows are printed per function: ``f(pop)`` (the bare call) and
``problem.evaluate`` (EvoTorch's evaluation of a fresh ``SolutionBatch`` of the same size,
its best/worst bookkeeping included: the path every algorithm here scores its trials
through).

With ``--calls``, a second table gives the **torch calls per generation** of each algorithm
(every torch function and tensor method called from Python, EvoTorch's evaluation included;
attribute reads such as ``.shape`` not counted), counted with a ``TorchFunctionMode`` over
``--calls-generations`` generations of separate runs after as many uncounted ones. Unlike
the times they are exact and the same on every machine, and on CPU at this size each torch
call costs a few microseconds whatever it does, so they explain most of the gap between the
adaptive variants and DE.

Examples::

    python benchmarks/algorithms.py                       # d=1000, popsize 100, 200 gens
    python benchmarks/algorithms.py --dim 10 --generations 1000
    python benchmarks/algorithms.py --device cuda --threads 4
    python benchmarks/algorithms.py --evox                # EvoX 1.4 rows in the same run
    python benchmarks/algorithms.py --calls --functions sphere  # + torch calls per generation
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evotorch import Problem, SolutionBatch  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

from neuro_de.algorithms import (  # noqa: E402
    DE,
    JADE,
    JDE,
    PSO,
    SHADE,
    SaDE,
    SAShadeTriEnsin,
)

ALGORITHMS: dict[str, Callable[..., object]] = {
    "DE": lambda p, n: DE(p, popsize=n),  # rand/1/bin, F = 0.5, CR = 0.9
    "SaDE": lambda p, n: SaDE(p, popsize=n),
    "SHADE": lambda p, n: SHADE(p, popsize=n),
    "SAShadeTriEnsin": lambda p, n: SAShadeTriEnsin(p, popsize=n),
    "JDE": lambda p, n: JDE(p, popsize=n),
    "JADE": lambda p, n: JADE(p, popsize=n),
    "PSO": lambda p, n: PSO(p, popsize=n),  # constriction, global best
    # not a target row: SHADE's own mutation (current-to-pbest/1 with archive, midpoint
    # repair) under fixed F and CR, to separate the strategy's cost from the adaptation's
    "DE-pbest": lambda p, n: DE(p, popsize=n, strategy="current-to-pbest/1",
                                bounds_handling="midpoint"),
}

EVOX_ALGORITHMS = ("DE", "PSO", "SHADE", "SaDE")  # EvoX 1.4's, default settings


class EvoXRun:
    """One EvoX algorithm in its ``StdWorkflow``, stepped like our searchers (``--evox``)."""

    def __init__(self, name: str, fn, dim: int, popsize: int, seed: int, device, dtype):
        import evox.algorithms
        from evox.core import Problem as EvoXProblem
        from evox.workflows import StdWorkflow

        class Objective(EvoXProblem):
            def evaluate(self, pop):
                return fn(pop)

        torch.manual_seed(seed)
        lb = torch.full((dim,), -100.0, device=device, dtype=dtype)
        ub = torch.full((dim,), 100.0, device=device, dtype=dtype)
        self.algorithm = getattr(evox.algorithms, name)(popsize, lb, ub, device=device)
        self.workflow = StdWorkflow(self.algorithm, Objective())
        self.workflow.init_step()

    def step(self) -> None:
        self.workflow.step()

    def best(self) -> float:
        fit = getattr(self.algorithm, "fit", None)
        return float(fit.min()) if fit is not None else float("nan")


#: The SHADE family: at most this multiple of our DE's ms/gen in the same run.
GOAL_RATIO = 2.0
ADAPTIVE = ("SaDE", "SHADE", "SAShadeTriEnsin", "JDE", "JADE")

GOALS = (
    "goals: DE and PSO <= EvoX 1.4's DE of the same run (measured only with --evox); SaDE, "
    "SHADE, SAShadeTriEnsin, JDE and JADE <= 2x our DE of the same run"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dim", type=int, default=1000, help="problem dimension d")
    parser.add_argument("--popsize", type=int, default=100)
    parser.add_argument("--generations", type=int, default=200, help="timed generations")
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (median)")
    parser.add_argument(
        "--block", type=int, default=10,
        help="generations per turn when the algorithms' runs are interleaved",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument(
        "--algorithms", default=",".join(ALGORITHMS), help="comma-separated subset"
    )
    parser.add_argument("--functions", default="sphere,rastrigin", help="comma-separated subset")
    parser.add_argument("--floor-repeats", type=int, default=200, help="timed f(pop) calls")
    parser.add_argument(
        "--evox", action="store_true",
        help="also time EvoX 1.4's DE, PSO, SHADE and SaDE (pip install evox==1.4.0) in the "
        "same run; the DE/PSO goal is then EvoX's DE of this run",
    )
    parser.add_argument(
        "--calls", action="store_true",
        help="also count the torch calls per generation of each algorithm (a second table)",
    )
    parser.add_argument(
        "--calls-generations", type=int, default=50,
        help="generations counted per algorithm with --calls, after as many uncounted ones",
    )
    return parser.parse_args(argv)


def shift_vector(dim: int, *, device, dtype) -> torch.Tensor:
    """The optimum ``o ~ U[-80, 80]^d`` of the CEC suites, from a fixed generator."""
    gen = torch.Generator().manual_seed(2013)
    o = torch.rand(dim, generator=gen, dtype=torch.float64) * 160.0 - 80.0
    return o.to(device=device, dtype=dtype)


def make_function(name: str, shift: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "sphere":

        def sphere(x: torch.Tensor) -> torch.Tensor:
            z = x - shift
            return (z * z).sum(dim=-1)

        return sphere
    if name == "rastrigin":
        two_pi = 2.0 * math.pi

        def rastrigin(x: torch.Tensor) -> torch.Tensor:
            z = (x - shift) * 0.0512
            return (z * z - 10.0 * torch.cos(two_pi * z)).sum(dim=-1) + 10.0 * x.shape[-1]

        return rastrigin
    raise ValueError(f"Unknown function {name!r}; use sphere or rastrigin.")


def make_problem(fn, dim: int, seed: int, device, dtype) -> Problem:
    return Problem(
        "min",
        fn,
        solution_length=dim,
        initial_bounds=(-100.0, 100.0),
        bounds=(-100.0, 100.0),
        vectorized=True,
        seed=seed,
        device=device,
        dtype=dtype,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_floor(fn, problem: Problem, popsize: int, repeats: int) -> tuple[float, float]:
    """Median ms of ``fn(pop)`` on a (popsize, d) tensor, and of ``problem.evaluate``."""
    device = torch.device(problem.device)
    batch = problem.generate_batch(popsize)
    pop = batch.values.clone()
    bare, evaluate = [], []
    with torch.no_grad():
        for _ in range(5):  # warm-up
            fn(pop)
            problem.evaluate(batch)
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            fn(pop)
            _sync(device)
            bare.append(time.perf_counter() - t0)
        for _ in range(repeats):
            fresh = SolutionBatch(problem, popsize, empty=True)
            fresh.access_values()[:] = pop
            _sync(device)
            t0 = time.perf_counter()
            problem.evaluate(fresh)
            _sync(device)
            evaluate.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(bare), 1e3 * statistics.median(evaluate)


def make_searcher(name: str, fn, args, seed: int, device, dtype):
    """One of our algorithms on a fresh problem, or an EvoX one (``"EvoX <name>"``)."""
    if name.startswith("EvoX "):
        return EvoXRun(name.split(" ", 1)[1], fn, args.dim, args.popsize, seed, device, dtype)
    return ALGORITHMS[name](make_problem(fn, args.dim, seed, device, dtype), args.popsize)


def time_algorithms(names, fn, args, seed: int, device, dtype) -> dict[str, tuple[float, float]]:
    """ms per generation (after one warm-up generation) and the final best fitness of each
    algorithm, for one seed.

    Every algorithm runs its own ``--generations`` generations from its own start, but the
    runs are interleaved in blocks of ``--block`` generations (round robin over the
    algorithms), so a slow or fast spell of a shared machine falls on all rows alike instead
    of on whichever row happened to run then.
    """
    searchers = {}
    for name in names:
        searchers[name] = make_searcher(name, fn, args, seed, device, dtype)
        searchers[name].step()  # warm-up: evaluates the initial population, allocates buffers
    elapsed = dict.fromkeys(names, 0.0)
    done = 0
    while done < args.generations:
        block = min(args.block, args.generations - done)
        for name, searcher in searchers.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(block):
                searcher.step()
            _sync(device)
            elapsed[name] += time.perf_counter() - t0
        done += block
    results = {}
    for name, searcher in searchers.items():
        if isinstance(searcher, EvoXRun):
            results[name] = (1e3 * elapsed[name] / args.generations, searcher.best())
            continue
        kept = searcher.personal_best if isinstance(searcher, PSO) else searcher.population
        best = float(kept.evals[:, 0].min())
        results[name] = (1e3 * elapsed[name] / args.generations, best)
    return results


# metadata reads that route through __torch_function__ but launch no operation
_METADATA = frozenset(
    {"dim", "size", "numel", "stride", "storage_offset", "is_contiguous", "data_ptr",
     "is_floating_point", "is_complex", "untyped_storage", "__len__", "__hash__"}
)


class CallCounter(TorchFunctionMode):
    """Counts the torch functions and tensor methods called from Python (property reads and
    the metadata methods of ``_METADATA`` excluded)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name != "__get__" and name not in _METADATA:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def count_calls(names, fn, args, device, dtype) -> dict[str, float]:
    """Torch calls per generation of each algorithm: ``--calls-generations`` generations
    counted after as many uncounted ones (so that archives and windows are full)."""
    counts = {}
    for name in names:
        searcher = make_searcher(name, fn, args, 0, device, dtype)
        for _ in range(args.calls_generations + 1):
            searcher.step()
        counter = CallCounter()
        with counter:
            for _ in range(args.calls_generations):
                searcher.step()
        counts[name] = counter.calls / args.calls_generations
    return counts


def goal_met(name: str, ms: float, de_ms: float, evox_de_ms: float | None = None) -> str:
    """The guard's goals, against rows of the same run: DE and PSO at or below EvoX's DE
    (``--evox``; without it ``"needs --evox"``); the adaptive DEs within 2x of our DE."""
    if name in ("DE", "PSO"):
        if evox_de_ms is None:
            return "needs --evox"
        return "yes" if ms <= evox_de_ms else "no"
    if name not in ADAPTIVE or math.isnan(de_ms):
        return ""
    return "yes" if ms <= GOAL_RATIO * de_ms else "no"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    names = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in names if a not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"Unknown algorithms {unknown}; choose from {list(ALGORITHMS)}.")
    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    if args.evox:
        try:
            import evox  # noqa: F401
        except ImportError:
            raise SystemExit("--evox needs EvoX: pip install evox==1.4.0") from None
        names += [f"EvoX {a}" for a in EVOX_ALGORITHMS]

    print(
        f"d={args.dim}, popsize={args.popsize}, {args.generations} timed generations after 1 "
        f"warm-up, median of {args.seeds} seeds, device={device}, dtype={args.dtype}, "
        f"threads={torch.get_num_threads()}, torch {torch.__version__}"
    )
    print()
    print("| function | algorithm | ms/gen | x floor | x DE | x EvoX DE | final best | goal met |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    calls: dict[str, dict[str, float]] = {}
    for fname in functions:
        fn = make_function(fname, shift_vector(args.dim, device=device, dtype=dtype))
        floor_problem = make_problem(fn, args.dim, 0, device, dtype)
        floor, evaluate = time_floor(fn, floor_problem, args.popsize, args.floor_repeats)
        print(f"| {fname} | floor: f(pop) | {floor:.3f} | 1.00 | | | | |")
        print(
            f"| {fname} | floor: problem.evaluate | {evaluate:.3f} | {evaluate / floor:.2f} "
            f"| | | | |"
        )
        runs = [time_algorithms(names, fn, args, seed, device, dtype) for seed in range(args.seeds)]
        results = {}
        for name in names:
            ms = statistics.median(run[name][0] for run in runs)
            best = statistics.median(run[name][1] for run in runs)
            results[name] = (ms, best)
        de_ms = results["DE"][0] if "DE" in results else float("nan")
        evox_de = results["EvoX DE"][0] if "EvoX DE" in results else None
        for name, (ms, best) in results.items():
            x_evox = "" if evox_de is None else f"{ms / evox_de:.2f}"
            print(
                f"| {fname} | {name} | {ms:.3f} | {ms / floor:.2f} | {ms / de_ms:.2f} | "
                f"{x_evox} | {best:.4g} | {goal_met(name, ms, de_ms, evox_de)} |"
            )
        if args.calls:
            calls[fname] = count_calls(names, fn, args, device, dtype)
    if calls:
        print()
        print("| function | algorithm | torch calls/gen | x DE | extra over DE |")
        print("| --- | --- | ---: | ---: | ---: |")
        for fname, counts in calls.items():
            de_calls = counts.get("DE", float("nan"))
            for name, c in counts.items():
                print(f"| {fname} | {name} | {c:.1f} | {c / de_calls:.2f} | {c - de_calls:+.1f} |")
    print()
    print(GOALS)


if __name__ == "__main__":
    main()
