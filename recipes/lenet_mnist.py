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

Writes to ``--out``: config.json (every resolved option and its provenance; ``--config
OUT/config.json`` repeats the run), results.csv (method, seed, top1, top5, ...), results.md,
per run the EvoTorch logger data (``log_<method>_seed<k>.csv``) and each winner as
safetensors plus a JSON of its provenance (``winners/<method>_seed<k>.*``).
``--tensorboard DIR`` also writes every status item per generation for TensorBoard.

Long runs: ``--checkpoint-dir DIR`` saves each seed's Adam population once and each
evolution every ``--checkpoint-every`` generations and on SIGINT/SIGTERM (atomically);
``--resume`` continues exactly where a stopped run left off.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Only light imports up here, so that --help is fast: torch and EvoTorch load in main().
from neuro_de.options import (
    add_common_arguments,
    check_common_arguments,
    parse_args,
    quiet_evotorch,
    recipe_parser,
)

if TYPE_CHECKING:
    from neuro_de.experiment import SeedRun

METHODS = ("DE", "SAShadeTriEnsin")

EXAMPLES = """
python recipes/lenet_mnist.py                        # LeNet-5 on the bundled MNIST, ~6 min
python recipes/lenet_mnist.py --dataset digits       # one-minute smoke run
python recipes/lenet_mnist.py --seeds 5 --generations 200 --out runs/long
python recipes/lenet_mnist.py --config runs/lenet_mnist/config.json --out runs/again
python recipes/lenet_mnist.py --tensorboard runs/tb  # then: tensorboard --logdir runs/tb
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/lenet_mnist", dataset="mnist", epochs=12)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="evolution algorithms compared with the Adam parent")
    return p


def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
    from neuro_de.experiment import searcher_factory

    args = run.args
    rows = [run.parent_row()]
    logs = {}
    for method in args.methods:
        row, logs[method] = run.evolve(method, searcher_factory(method, args))
        rows.append(row)
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()  # before EvoTorch is imported
    parser = build_parser()
    args = parse_args(parser, argv)
    check_common_arguments(args, parser)
    from neuro_de.experiment import check_run_arguments, run_recipe

    check_run_arguments(args, parser)  # device, paths, sizes: before data and training

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
