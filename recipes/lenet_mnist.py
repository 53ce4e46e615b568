#!/usr/bin/env python
"""Main job: evolve a trained LeNet with DE and SA-SHADE-tri-ensin (seed paper, Table S1).

For each seed: train LeNet-1/LeNet-5 with Adam (backpropagation), keep the snapshots of the
last ``popsize`` epochs as the first population (Algorithm 1, stage 1), evolve the weights
with DE and with SA-SHADE-tri-ensin on mini-batch cross-entropy (stage 2), pick each run's
winner on a held-out split carved from the training data, and report test top-1/top-5 of the
Adam network (the last epoch) and of the evolved winners. Over seeds: mean ± std and paired
tests (t-test, Wilcoxon) against Adam.

Default: LeNet-5 on the real MNIST bundled with the package (the paper's own setting; 54,000
training images, 6,000 held out, the official 10,000 test images), 3 seeds, 12 Adam epochs,
the last 10 as the population, 100 generations: about 6 minutes on 2 CPU cores
(``--threads 1``). ``--dataset digits`` is a one-minute smoke run on scikit-learn's digits;
``--data-root DIR`` reads another MNIST copy (DIR/MNIST/raw).

Writes to ``--out``: results.csv (method, seed, top1, top5, ...), results.md, per run the
EvoTorch logger data (``log_<method>_seed<k>.csv``) and each winner as safetensors plus a
JSON of its provenance (``winners/<method>_seed<k>.*``).

Long runs: ``--checkpoint-dir DIR`` saves each seed's Adam population once and each
evolution every ``--checkpoint-every`` generations and on SIGINT/SIGTERM (atomically);
``--resume`` continues exactly where a stopped run left off.
"""

from __future__ import annotations

import argparse
import sys

from neuro_de.experiment import (
    SeedRun,
    add_common_arguments,
    check_common_arguments,
    run_recipe,
    searcher_factory,
)

METHODS = ("DE", "SAShadeTriEnsin")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_common_arguments(p, out="runs/lenet_mnist", dataset="mnist", epochs=12)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    return p


def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
    args = run.args
    rows = [run.parent_row()]
    logs = {}
    for method in args.methods:
        row, logs[method] = run.evolve(method, searcher_factory(method, args))
        rows.append(row)
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_arguments(args, parser)
    return run_recipe(
        args, argv, run_seed, recipe="lenet_mnist",
        title=f"{args.model} on {args.dataset}: Adam vs evolved", baseline="adam",
        notes=(f"popsize {args.popsize} (last epochs of Adam), {args.generations} generations, "
               f"fitness batch {args.batch_size} x {args.generations_per_batch} generations; "
               "winner chosen on a held-out split of the training data; test set only "
               "for the reported numbers."),
    )


if __name__ == "__main__":
    sys.exit(main())
