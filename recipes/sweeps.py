#!/usr/bin/env python
"""Sweeps of the supplement: population size (Table S7), fitness batch size (Table S8) and
random-noise vs fine-tuned parents (Table S9).

For each seed: train the network with Adam for ``--epochs`` epochs (Algorithm 1, stage 1)
and evolve it with SA-SHADE-tri-ensin while varying one factor at a time:

- ``popsize``: populations of the last P Adam epochs, for each P in ``--popsizes``
  (``--epochs`` must be >= the largest P);
- ``batch``: fitness mini-batch of B samples, for each B in ``--batch-sizes``, at
  ``--popsize``;
- ``init``: the snapshot population ("fine-tuned parents") vs the Adam network plus
  Gaussian noise with the snapshots' own per-coordinate std ("random noise"; Table S9,
  after Whitaker & Whitley 2023), both at ``--popsize``.

Each result row's ``method`` names the setting (e.g. ``popsize=20``, ``batch=1024``,
``init=noise``); winners are chosen on held-out data; paired tests against ``adam``.
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
    positive_int,
    quiet_evotorch,
    recipe_parser,
)

if TYPE_CHECKING:
    from neuro_de.experiment import SeedRun

SWEEPS = ("popsize", "batch", "init")


EXAMPLES = """
python recipes/sweeps.py                                     # all three sweeps, bundled digits
python recipes/sweeps.py --sweeps popsize --popsizes 6 10 20 40 --epochs 40
python recipes/sweeps.py --sweeps batch --batch-sizes 32 128 512 --dataset mnist
python recipes/sweeps.py --config runs/sweeps/config.json --out runs/sweeps2
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/sweeps", epochs=20, popsize=10)
    p.add_argument("--sweeps", nargs="+", choices=SWEEPS, default=list(SWEEPS),
                   help="the factors varied, one at a time (Tables S7, S8, S9)")
    p.add_argument("--popsizes", nargs="+", type=positive_int, default=[6, 10, 20],
                   help="population sizes of the popsize sweep (each >= 6, <= --epochs)")
    p.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[64, 256, 1024],
                   help="fitness mini-batch sizes of the batch sweep")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if "popsize" in args.sweeps:
        if min(args.popsizes) < 6:
            parser.error(f"--popsizes must all be >= 6, got {args.popsizes}")
        if max(args.popsizes) > args.epochs:
            parser.error(f"--epochs ({args.epochs}) must be >= the largest of --popsizes "
                         f"({max(args.popsizes)}): populations are the last P epochs")
        # the Adam run keeps the largest population; smaller ones are its last rows
        args.popsize = max(args.popsize, max(args.popsizes))
    check_common_arguments(args, parser)


def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
    from neuro_de.experiment import searcher_factory
    from neuro_de.population import noise_population

    args = run.args
    snaps = run.population  # the last max(P) epochs
    rows = [run.parent_row()]
    logs = {}
    make = searcher_factory("SAShadeTriEnsin", args)

    def evolve(name, init, **kw):
        row, logs[name] = run.evolve(name, make, init=init, **kw)
        rows.append(row)

    base = snaps[-args.popsize_main:]
    if "popsize" in args.sweeps:
        for p in args.popsizes:
            evolve(f"popsize={p}", snaps[-p:])
    if "batch" in args.sweeps:
        for b in args.batch_sizes:
            evolve(f"batch={b}", base, batch_size=b)
    if "init" in args.sweeps:
        evolve("init=fine-tuned", base)
        noise = noise_population(base[-1].cpu(), base.shape[0], reference=base.cpu(),
                                 generator=run.seed)
        evolve("init=noise", noise.vectors.to(args.device))
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()  # before EvoTorch is imported
    parser = build_parser()
    args = parse_args(parser, argv)
    options = dict(vars(args))  # as given: check_args widens --popsize to the largest P
    args.popsize_main = args.popsize
    check_args(args, parser)
    from neuro_de.experiment import check_run_arguments, run_recipe

    sizes = ([("--batch-sizes", b) for b in args.batch_sizes] if "batch" in args.sweeps
             else [])
    check_run_arguments(args, parser, batch_sizes=sizes)  # before data and training

    return run_recipe(
        args, argv, run_seed, recipe="sweeps", options=options,
        title=f"{args.model} on {args.dataset}: population size, batch size and "
              "initialisation sweeps (Tables S7-S9)",
        baseline="adam",
        notes=(f"SA-SHADE-tri-ensin, {args.generations} generations, "
               f"{args.generations_per_batch} generations per batch; default population "
               f"{args.popsize_main}, default batch {args.batch_size}; the noise population "
               "adds Gaussian noise with the snapshots' per-coordinate std to the Adam "
               "network; winners chosen on held-out data."),
    )


if __name__ == "__main__":
    sys.exit(main())
