"""Network scale, the place the product lives: each algorithm's generation against an
evaluation-only generation measured in the same run.

LeNet-5 (61,706 parameters), ``--popsize`` 10 individuals, a fitness minibatch of
``--batch-size`` 256 images, ``SupervisedNetProblem`` with its defaults (loop evaluation,
channels-last, a new minibatch every ``--generations-per-batch`` 10 generations), CPU, one
torch thread. The images are scikit-learn's bundled ``digits`` (1,797 real 8x8 handwritten
digits, upsampled to 1x28x28 by ``neuro_de.data.load_dataset("digits")``; the training
split's 1,346 images), so the run needs no files and no network. The network is LeNet-5 at
its initialisation (``torch.manual_seed(--seed)``), and the first population is its weight
vector plus N(0, 0.01^2) noise per coordinate: an evaluation costs the same whatever the
weights, so a trained network would time the same.

Rows:

* **eval-only**: the floor. Each of its generations does exactly what a DE-family
  generation does with the problem and nothing else: ``problem.advance_generation()``
  (from the second generation on), a re-score of ``popsize`` parents when the minibatch
  changed, and the scoring of ``popsize`` trials, each through the function the algorithms
  score a batch with (``PopulationAlgorithm._evaluate``: ``problem.evaluate`` with autograd
  off);
* **DE, SaDE, SHADE, SAShadeTriEnsin, JDE, JADE, PSO** with their default settings: one
  ``searcher.step()`` per generation.

Every row builds its own problem with the same seed (the same minibatch stream) and runs
one warm-up generation (which also scores the first population). Then, ``--repeats`` times,
every row runs ``--generations`` generations, the rows interleaved in a rotated order each
repeat, so a slow or fast spell of a shared machine falls on all rows alike. Every row has
made the same number of steps at the start of each repeat, so each block contains the same
number of minibatch changes for all rows.

Columns: **ms/gen** (median over the repeats), **x eval-only** (median over the repeats of
the row's block time divided by the eval-only block of the same repeat), **overhead**
(``x eval-only - 1`` in %), **range** (the smallest and largest per-repeat ratio: what the
run can resolve), **x eval-only, CPU time** (the same ratio of the process's CPU time, on
CPU only: on a machine shared with other work it is not inflated by the time the process
waits for a core) and **goal met** (wall-time overhead <= 5 %, the goal of issue 19 for the
DE family; PSO is printed against the same line). PSO re-scores its personal bests when
the minibatch changes, as the DE family re-scores its parents, so every row scores the same
number of networks.

``--phases`` adds where each algorithm's generation goes (and, as a last table, the direct
measure of the overhead: the CPU time outside the problem's evaluation against the eval-only
generation, which the wall-time table cannot resolve when one evaluation varies by more than
5 % from call to call), in CPU time per generation over
``--generations`` more generations (not interleaved): the problem's evaluation
(``_evaluate``), the operators and methods of the generation (the timers of
``benchmarks/large_genome.py``) and the rest ("other": EvoTorch's ``step``, the index
draw, the rules' updates, ...), each also as a multiple of the eval-only generation.

Examples::

    python benchmarks/network.py                          # 10 gens x 9 repeats per row
    python benchmarks/network.py --generations 20 --repeats 9
    python benchmarks/network.py --generations-per-batch 1000   # one fixed minibatch
    python benchmarks/network.py --phases                 # + where each generation goes
    python benchmarks/network.py --device cuda --threads 4
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evotorch import SolutionBatch  # noqa: E402

from neuro_de.algorithms import (  # noqa: E402
    DE,
    JADE,
    JDE,
    PSO,
    SHADE,
    SaDE,
    SAShadeTriEnsin,
)
from neuro_de.algorithms.base import PopulationAlgorithm  # noqa: E402
from neuro_de.data import load_dataset  # noqa: E402
from neuro_de.models import build_model  # noqa: E402
from neuro_de.problems import SupervisedNetProblem  # noqa: E402

#: The algorithms timed, with their default settings.
ALGORITHMS: dict[str, Callable[..., object]] = {
    "DE": lambda p, pop: DE(p, init_population=pop),
    "SaDE": lambda p, pop: SaDE(p, init_population=pop),
    "SHADE": lambda p, pop: SHADE(p, init_population=pop),
    "SAShadeTriEnsin": lambda p, pop: SAShadeTriEnsin(p, init_population=pop),
    "JDE": lambda p, pop: JDE(p, init_population=pop),
    "JADE": lambda p, pop: JADE(p, init_population=pop),
    "PSO": lambda p, pop: PSO(p, init_population=pop),
}

EVAL_ONLY = "eval-only"
#: Issue 19: each DE-family generation within 5 % of an evaluation-only generation.
GOAL_OVERHEAD = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=10,
                        help="timed generations per row and repeat")
    parser.add_argument("--repeats", type=int, default=9,
                        help="interleaved blocks per row (medians over them)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--popsize", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256, help="images per fitness batch")
    parser.add_argument(
        "--generations-per-batch", type=int, default=10,
        help="generations per fitness minibatch (SupervisedNetProblem's default 10)",
    )
    parser.add_argument("--model", default="lenet5", help="a neuro_de.models.build_model name")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help="comma-separated subset")
    parser.add_argument(
        "--phases", action="store_true",
        help="also time each phase of a generation (CPU time; a second table)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


class EvaluationOnly:
    """A generation that scores ``popsize`` trials and nothing else, with the DE family's
    protocol for a changing minibatch (advance, and re-score the parents on a change)."""

    def __init__(self, problem: SupervisedNetProblem, population: torch.Tensor):
        self.problem = problem
        n = population.shape[0]
        self.parents = SolutionBatch(problem, n, empty=True)
        self.parents.access_values()[:] = population
        self.trials = SolutionBatch(problem, n, empty=True)
        self.trials.access_values()[:] = population
        self._epoch: int | None = None
        self._steps = 0

    def _evaluate(self, batch: SolutionBatch) -> None:
        # the very function the algorithms score a batch with (it reads only .problem), so
        # this row follows the library's evaluation path whatever it is
        PopulationAlgorithm._evaluate(self, batch)

    def step(self) -> None:
        """One evaluation-only generation."""
        if self._steps > 0:
            with torch.no_grad():
                self.problem.advance_generation()
        if self._epoch != self.problem.fitness_epoch:
            self._evaluate(self.parents)
            self._epoch = self.problem.fitness_epoch
        self.trials.access_evals().fill_(float("nan"))
        self._evaluate(self.trials)
        self._steps += 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_rows(args: argparse.Namespace, names: list[str], device: torch.device):
    """The eval-only row and the algorithms, each on its own problem, warmed up; and a line
    describing the setup."""
    data = load_dataset("digits")
    torch.manual_seed(args.seed)
    model = build_model(args.model, **data.info.model_kwargs())

    def problem() -> SupervisedNetProblem:
        return SupervisedNetProblem(
            model, data, batch_size=args.batch_size,
            generations_per_batch=args.generations_per_batch, device=device, seed=args.seed,
        )

    first = problem()
    center = first.parameter_vector().detach().cpu().float()
    gen = torch.Generator().manual_seed(args.seed)
    population = center + 0.01 * torch.randn(args.popsize, center.numel(), generator=gen)
    population = population.to(device)
    rows: dict[str, object] = {EVAL_ONLY: EvaluationOnly(first, population)}
    for name in names:
        rows[name] = ALGORITHMS[name](problem(), population.clone())
    for searcher in rows.values():
        searcher.step()  # warm-up: scores the first population, allocates buffers
    _sync(device)
    setup = (
        f"{args.model} ({center.numel():,} parameters), popsize {args.popsize}, fitness batch "
        f"{args.batch_size} of {data!r} (bundled scikit-learn digits upsampled to 28x28), "
        f"a new minibatch every {args.generations_per_batch} generations, device={device}, "
        f"threads={torch.get_num_threads()}, torch {torch.__version__}"
    )
    return rows, setup


def time_rows(rows: dict[str, object], args: argparse.Namespace, device: torch.device):
    """Wall and CPU seconds per block of ``--generations`` steps, ``{row: [(wall, cpu), one
    per repeat]}``, the rows interleaved in an order rotated each repeat."""
    names = list(rows)
    blocks: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(args.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            searcher = rows[name]
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.generations):
                searcher.step()
            _sync(device)
            blocks[name].append((time.perf_counter() - t0, time.process_time() - c0))
    return blocks


def table(blocks: dict[str, list[tuple[float, float]]], generations: int, *,
          cpu: bool = True) -> list[str]:
    """The Markdown table of the rows (see the module docstring for the columns)."""
    base = blocks[EVAL_ONLY]
    head = "| algorithm | ms/gen | x eval-only | overhead | range of x eval-only |"
    rule = "| --- | ---: | ---: | ---: | --- |"
    if cpu:
        head += " x eval-only, CPU time |"
        rule += " ---: |"
    lines = [head + " goal met |", rule + " --- |"]
    for name, times in blocks.items():
        ms = 1e3 * statistics.median(w for w, _ in times) / generations
        ratios = [w / b for (w, _), (b, _) in zip(times, base, strict=True)]
        x = statistics.median(ratios)
        x_cpu = statistics.median(c / b for (_, c), (_, b) in zip(times, base, strict=True))
        if name == EVAL_ONLY:
            lines.append(f"| {name} (the floor) | {ms:.1f} | 1.000 | | |" + (" 1.000 |" if cpu
                                                                          else "") + " |")
            continue
        goal = "yes" if x - 1.0 <= GOAL_OVERHEAD else "no"
        line = (f"| {name} | {ms:.1f} | {x:.3f} | {100 * (x - 1):+.1f} % | "
                f"{min(ratios):.3f}-{max(ratios):.3f} |")
        if cpu:
            line += f" {x_cpu:.3f} |"
        lines.append(f"{line} {goal} |")
    return lines


def phase_table(rows: dict[str, object], args: argparse.Namespace,
                device: torch.device) -> list[str]:
    """CPU milliseconds per generation of each phase of every algorithm (the timers of
    ``benchmarks/large_genome.py``), over ``--generations`` more generations each, the
    eval-only row's generation beside them."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from large_genome import Memory, Phases

    g = args.generations
    lines = ["| algorithm | phase | CPU ms/gen | x eval-only's generation |",
             "| --- | --- | ---: | ---: |"]
    c0 = time.process_time()
    for _ in range(g):
        rows[EVAL_ONLY].step()
    base = 1e3 * (time.process_time() - c0) / g
    lines.append(f"| {EVAL_ONLY} | the whole generation | {base:.2f} | 1.000 |")
    outside: list[tuple[str, float]] = []
    for name, searcher in rows.items():
        if name == EVAL_ONLY:
            continue
        phases = Phases(searcher, Memory(device), device)
        phases.active = True
        c0 = time.process_time()
        for _ in range(g):
            searcher.step()
        total = 1e3 * (time.process_time() - c0) / g
        phases.active = False  # its wrappers stay in place: they pass calls through now
        parts = sorted(((k, 1e3 * v / g) for k, v in phases.cpu.items()), key=lambda kv: -kv[1])
        other = total - sum(v for _, v in parts)
        for phase, ms in [*parts, ("other", other), ("the whole generation", total)]:
            lines.append(f"| {name} | {phase} | {ms:.2f} | {ms / base:.3f} |")
        outside.append((name, total - dict(parts).get("_evaluate", 0.0)))
    lines += ["", "The direct measure of the overhead: CPU time per generation outside the "
              "problem's evaluation (the whole generation minus `_evaluate`), against the "
              "eval-only generation.", "",
              "| algorithm | outside the evaluation (CPU ms/gen) | overhead | goal met |",
              "| --- | ---: | ---: | --- |"]
    for name, ms in outside:
        goal = "yes" if ms / base <= GOAL_OVERHEAD else "no"
        lines.append(f"| {name} | {ms:.2f} | {100 * ms / base:.1f} % | {goal} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    args = parse_args(argv)
    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in names if a not in ALGORITHMS]
    if unknown:
        raise SystemExit(f"Unknown algorithms {unknown}; choose from {list(ALGORITHMS)}.")
    rows, setup = build_rows(args, names, device)
    blocks = time_rows(rows, args, device)
    print(f"# Network scale: {setup}")
    print()
    print(
        f"{args.generations} generations per row and repeat, {args.repeats} repeats "
        f"interleaved (rotated order), after 1 warm-up generation; medians over the repeats"
    )
    print()
    for line in table(blocks, args.generations, cpu=device.type == "cpu"):
        print(line)
    if args.phases:
        print()
        for line in phase_table(rows, args, device):
            print(line)
    print()
    print(
        "goal (issue 19): each DE-family generation within 5 % of an evaluation-only "
        "generation (overhead <= 5 %); PSO, printed against the same line, re-scores its "
        "personal bests on a new minibatch as the DE family re-scores its parents"
    )


if __name__ == "__main__":
    main()
