"""Where a DE generation's own passes go on a large genome, each piece timed in one process.

``--dim`` 11,689,512 (ResNet-18's size), ``--popsize`` 10, float32, one CPU thread by
default, rand/1 with F = 0.5 and CR = 0.9. Every round times each row once, the rows
interleaved, and the table gives medians over ``--rounds`` rounds, with each row as a
multiple of the floor of the same run:

* **floor**: one fused pass over the population into a trial buffer plus the sphere
  objective (the floor of ``benchmarks/large_genome.py``);
* **random draws**: the crossover's 16-bit draws alone (``random_int16`` over the genome in
  the crossover's chunks, into one reused buffer: the CPU generator's cost);
* **draws + mask**: the draws compared with the CR thresholds into the float mask;
* **mutants built, then crossed**: the mutants written out whole
  (``StrategyPool.mutants`` into the trial buffer), then ``binomial_crossover`` in place;
* **mutants unbuilt (the DE loop)**: ``binomial_crossover`` of the pool's
  ``lazy_mutants``, each block of mutant columns built as it is crossed.

The last two rows make the same trials (bit-identical); their ratio is what building the
mutants inside the crossover saves. Timings of memory-bound passes on a shared machine move
between runs; the rows of one run are interleaved, so their ratios are comparable.

Examples::

    python benchmarks/crossover.py                 # d = 11.7M, 10 rows, 7 rounds
    python benchmarks/crossover.py --dim 61706     # LeNet-5's size (cache-resident)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from neuro_de.operators import MutationContext, StrategyPool, binomial_crossover
from neuro_de.operators.crossover import _CHUNK_ELEMENTS, crossover_thresholds
from neuro_de.operators.uniform import random_int16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=11_689_512, help="genome length d")
    p.add_argument("--popsize", type=int, default=10)
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (medians)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def rows_of(n: int, d: int, seed: int) -> tuple[dict, torch.Tensor]:
    """The timed rows, each a function of no argument doing one generation's piece, and
    the trial buffer they write."""
    g = torch.Generator().manual_seed(seed)
    pop = torch.rand(n, d, generator=g) * 2 - 1
    trials = torch.empty_like(pop)
    pool = StrategyPool(["rand/1"])
    ctx = MutationContext(
        population=pop, fitness=torch.zeros(n, dtype=torch.float64), rows=torch.arange(n),
        F=torch.full((n, 1), 0.5), r=pool.draw_indices(n, generator=g),
    )
    ids = torch.zeros(n, dtype=torch.int64)
    step = max(1, _CHUNK_ELEMENTS // n)
    words = torch.empty(((n * step + 3) // 4,), dtype=torch.int64)
    mask = torch.empty(n * step)
    thresholds = crossover_thresholds(0.9, n)

    def floor():
        torch.mul(pop, 1.0, out=trials)
        torch.linalg.vector_norm(trials, dim=1)

    def draws(with_mask: bool):
        for start in range(0, d, step):
            w = min(d, start + step) - start
            h = random_int16((n, w), generator=g, words=words)
            if with_mask:
                torch.lt(h, thresholds, out=mask[: n * w].view(n, w))

    def built():
        binomial_crossover(pop, pool.mutants(ctx, ids, out=trials), 0.9, generator=g,
                           out=trials)

    def unbuilt():
        binomial_crossover(pop, pool.lazy_mutants(ctx, ids), 0.9, generator=g, out=trials)

    return {
        "floor: one pass + objective": floor,
        "random draws": lambda: draws(False),
        "draws + mask": lambda: draws(True),
        "mutants built, then crossed": built,
        "mutants unbuilt (the DE loop)": unbuilt,
    }, trials


def main(argv: list[str] | None = None) -> list[str]:
    """Run the benchmark, print its table and return its lines."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows, _ = rows_of(args.popsize, args.dim, args.seed)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for fn in rows.values():  # warm-up: allocations, first touches
        fn()
    for _ in range(args.rounds):
        for name, fn in rows.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
    floor = statistics.median(times["floor: one pass + objective"])
    built = statistics.median(times["mutants built, then crossed"])
    lines = [
        f"# d = {args.dim:,}, popsize {args.popsize}, threads {torch.get_num_threads()}, "
        f"{args.rounds} interleaved rounds (medians), torch {torch.__version__}",
        "",
        "| row | ms | x floor | x mutants built |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, values in times.items():
        ms = statistics.median(values)
        lines.append(f"| {name} | {ms:,.1f} | {ms / floor:.2f} | {ms / built:.3f} |")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
