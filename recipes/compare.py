#!/usr/bin/env python
"""Compare evolution with the baselines built from the same population (Tables 1 and 2).

For each seed: train the network with Adam and keep the last ``popsize`` epoch snapshots
(Algorithm 1, stage 1). From that one population build every contender and report its test
top-1/top-5:

- ``adam``: the parent, i.e. the last snapshot (the network backpropagation gave);
- ``best-individual``: the snapshot with the lowest held-out loss;
- ``WA``: the equal-weight average of the snapshots, BatchNorm recalibrated (SWA-style);
- ``FGE``: Fast Geometric Ensembling from the parent (cyclical learning rate, one member
  per cycle, ``popsize`` members; probabilities averaged);
- ``uniform-soup`` and ``greedy-soup`` (model soups, greedy on held-out accuracy);
- ``DE`` (rand/1/bin), ``SAShadeTriEnsin`` and ``PSO``, evolved on mini-batch cross-entropy;
  each winner is chosen on the held-out split.

The held-out split is carved from the training data; the test set is used only for the
reported numbers. Over seeds: mean ± std and paired tests against ``adam``. Writes
config.json (the resolved options; ``--config`` reads it back), results.csv / results.md,
logger data, winners, and evolution-dynamics plots of the first seed (``plots/``) to
``--out``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Only light imports up here, so that --help is fast: torch and EvoTorch load in main().
from neuro_de.options import (
    BASELINES,
    add_common_arguments,
    add_fge_arguments,
    check_common_arguments,
    check_fge_arguments,
    parse_args,
    quiet_evotorch,
    recipe_parser,
)

if TYPE_CHECKING:
    from neuro_de.experiment import SeedRun

EVOLVED = ("DE", "SAShadeTriEnsin", "PSO")
METHODS = BASELINES + EVOLVED


EXAMPLES = """
python recipes/compare.py                                # every contender, bundled digits
python recipes/compare.py --dataset mnist --seeds 5      # the real MNIST bundled with the package
python recipes/compare.py --methods WA greedy-soup DE    # a subset of the contenders
python recipes/compare.py --config runs/compare/config.json --out runs/compare2
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/compare")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="contenders besides the Adam parent")
    add_fge_arguments(p)
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    check_common_arguments(args, parser)
    check_fge_arguments(args, parser)


def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
    from neuro_de.experiment import searcher_factory

    rows = [run.parent_row()]
    logs = {}
    for method in run.args.methods:
        if method in BASELINES:
            rows.append(run.baseline(method))
        else:
            row, logs[method] = run.evolve(method, searcher_factory(method, run.args))
            rows.append(row)
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()  # before EvoTorch is imported
    parser = build_parser()
    args = parse_args(parser, argv)
    check_args(args, parser)
    from neuro_de.experiment import check_run_arguments, run_recipe

    check_run_arguments(args, parser)  # device, paths, sizes: before data and training

    return run_recipe(
        args, argv, run_seed, recipe="compare",
        title=f"{args.model} on {args.dataset}: evolution vs baselines from one population",
        baseline="adam",
        notes=(f"population: the last {args.popsize} of {args.epochs} Adam epochs; "
               f"{args.generations} generations, fitness batch {args.batch_size} x "
               f"{args.generations_per_batch} generations; FGE: {args.popsize} cycles of "
               f"{args.fge_cycle_epochs} epoch(s), lr {args.fge_lr_max} -> {args.fge_lr_min}; "
               "winners and the greedy soup chosen on a held-out split of the training "
               "data; the test set is used only for the reported numbers."),
    )


if __name__ == "__main__":
    sys.exit(main())
