#!/usr/bin/env python
"""Ablation of SA-SHADE-tri-ensin's components and population initialisations (Table 3).

For each seed: train the network with Adam (Algorithm 1, stage 1), then evolve with each
row of the paper's Table 3, every row one constructor call:

- ``DE``: rand/1/bin with fixed F and CR;
- ``SaDE``: strategy adaptation over S1-S4 only (no success history, no trigonometric
  mutation, no sinusoidal F);
- ``+SHADE``: plus a SHADE memory of F and CR per strategy;
- ``+trigonometric``: plus S_Trigo in the strategy pool;
- ``+Sin-F``: plus the sinusoidal F of LSHADE-EpSin, i.e. the full SA-SHADE-tri-ensin;
- ``+Init-RS`` / ``+Init-HP``: the full algorithm from a population of ``popsize``
  fine-tuning runs of the Adam network with different seeds / hyper-parameters (Sec. 3.3).

Rows 1-5 start from the snapshots of the last ``popsize`` Adam epochs. The paper's Table 3
prints rows 5 and 6 with identical check marks; we run that configuration once. Every
winner is chosen on a held-out split of the training data; test top-1/top-5 over seeds
with paired tests against ``adam``.
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
    warn_large_lr,
)

if TYPE_CHECKING:
    import torch

    from neuro_de.experiment import SeedRun

ROWS = {
    "DE": None,
    "SaDE": {"success_history": False, "trigonometric": False, "sinusoidal": False},
    "+SHADE": {"trigonometric": False, "sinusoidal": False},
    "+trigonometric": {"sinusoidal": False},
    "+Sin-F": {},
    "+Init-RS": {},
    "+Init-HP": {},
}


EXAMPLES = """
python recipes/ablation.py                                  # every Table 3 row, bundled digits
python recipes/ablation.py --dataset mnist --seeds 5
python recipes/ablation.py --rows DE SaDE +Sin-F            # a subset of the rows
python recipes/ablation.py --config runs/ablation/config.json --out runs/ablation2
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/ablation")
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS),
                   help="Table 3 rows to run")
    p.add_argument("--finetune-epochs", type=positive_int, default=1,
                   help="epochs of each Init-RS / Init-HP fine-tuning run")
    p.add_argument("--finetune-lr", type=float, default=1e-4,
                   help="Adam learning rate of the fine-tuning runs (Init-HP varies it)")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    check_common_arguments(args, parser)
    if args.finetune_lr <= 0:
        parser.error(f"--finetune-lr must be > 0, got {args.finetune_lr}")
    warn_large_lr("--finetune-lr", args.finetune_lr)


def finetuned_population(run: SeedRun, kind: str) -> torch.Tensor:
    """Init-RS or Init-HP: ``popsize`` fine-tuning runs of the Adam network (cached)."""
    from neuro_de.checkpoint import load_checkpoint, save_checkpoint
    from neuro_de.distributed import broadcast_from_main
    from neuro_de.population import init_hp, init_rs

    a = run.args
    path = run.checkpoint(kind)
    meta = {**run.meta, "finetune_epochs": a.finetune_epochs, "finetune_lr": a.finetune_lr}
    if a.resume and path is not None:
        try:
            return load_checkpoint(path, expect=meta)["vectors"].to(a.device)
        except FileNotFoundError:
            pass
    build = init_rs if kind == "init-rs" else init_hp
    pop = build(run.snapshots.model, run.splits.train, m=a.popsize, epochs=a.finetune_epochs,
                seed=1000 * (run.seed + 1), optimizer="adam", lr=a.finetune_lr,
                batch_size=a.train_batch_size, device=a.device, progress=run.progress)
    if a.distributed:  # every rank evolves rank 0's networks
        broadcast_from_main([pop.vectors])
    if path is not None and run.is_main:
        save_checkpoint({"vectors": pop.vectors.cpu()}, path, meta=meta)
    return pop.vectors.to(a.device)


def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
    from neuro_de.experiment import searcher_factory

    args = run.args
    rows = [run.parent_row()]
    logs = {}
    for name in args.rows:
        flags = ROWS[name]
        make = (searcher_factory("DE", args) if flags is None
                else searcher_factory("SAShadeTriEnsin", args, **flags))
        init = None
        if name in ("+Init-RS", "+Init-HP"):
            init = finetuned_population(run, name[1:].lower())
        row, logs[name] = run.evolve(name, make, init=init)
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
        args, argv, run_seed, recipe="ablation",
        title=f"{args.model} on {args.dataset}: SA-SHADE-tri-ensin ablation (Table 3)",
        baseline="adam",
        notes=(f"rows DE..+Sin-F start from the last {args.popsize} of {args.epochs} Adam "
               f"epochs; +Init-RS / +Init-HP from {args.popsize} fine-tuning runs of "
               f"{args.finetune_epochs} epoch(s) of the Adam network; {args.generations} "
               f"generations, fitness batch {args.batch_size} x {args.generations_per_batch}; "
               "winners chosen on held-out data."),
    )


if __name__ == "__main__":
    sys.exit(main())
