#!/usr/bin/env python
"""Main job: evolve a trained LeNet with DE and SA-SHADE-tri-ensin (seed paper, Table S1).

For each seed: train LeNet-1/LeNet-5 with Adam (backpropagation), keep the snapshots of the
last ``popsize`` epochs as the first population (Algorithm 1, stage 1), evolve the weights
with DE and with SA-SHADE-tri-ensin on mini-batch cross-entropy (stage 2), pick each run's
winner on a held-out split carved from the training data, and report test top-1/top-5 of the
Adam network (the last epoch) and of the evolved winners. Over seeds: mean ± std and paired
tests (t-test, Wilcoxon) against Adam.

Default: the bundled real digits data (scikit-learn, upsampled to 28x28), no files needed.
Real MNIST: ``--dataset mnist --data-root DIR`` with DIR/MNIST/raw holding the idx files.

Writes to ``--out``: results.csv (method, seed, top1, top5, ...), results.md, per run the
EvoTorch logger data (``log_<method>_seed<k>.csv``) and each winner as safetensors plus a
JSON of its provenance (``winners/<method>_seed<k>.*``).

Long runs: ``--checkpoint-dir DIR`` saves each seed's Adam population once and each
evolution every ``--checkpoint-every`` generations and on SIGINT/SIGTERM (atomically);
``--resume`` continues exactly where a stopped run left off.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time

import torch
from torch.utils.data import Subset

from neuro_de.algorithms import DE, SAShadeTriEnsin
from neuro_de.checkpoint import RunInterrupted, SignalGuard, export_network
from neuro_de.data import dataset_info, load_splits
from neuro_de.models import build_model
from neuro_de.problems import SupervisedNetProblem
from neuro_de.reporting import write_results
from neuro_de.runner import evolve, pretrain_population, select_on_heldout

METHODS = ("DE", "SAShadeTriEnsin")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default="digits")
    p.add_argument("--data-root", default=None,
                   help="folder holding MNIST/raw or FashionMNIST/raw (default: $NEURO_DE_DATA)")
    p.add_argument("--download", action="store_true",
                   help="let torchvision download the data set into --data-root (needs internet)")
    p.add_argument("--model", choices=["lenet1", "lenet5"], default="lenet5")
    p.add_argument("--seeds", type=positive_int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--epochs", type=positive_int, default=20, help="Adam epochs (>= popsize)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--train-batch-size", type=positive_int, default=128)
    p.add_argument("--popsize", type=positive_int, default=10,
                   help="population = snapshots of the last POPSIZE epochs")
    p.add_argument("--generations", type=positive_int, default=100)
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="mini-batch of the fitness (paper: 2048 on ImageNet)")
    p.add_argument("--generations-per-batch", type=positive_int, default=10,
                   help="generations each fitness mini-batch serves (paper: 10)")
    p.add_argument("--de-F", type=float, default=0.1, help="DE scale factor")
    p.add_argument("--de-CR", type=float, default=0.1, help="DE crossover rate")
    p.add_argument("--F-range", type=float, nargs=2, default=(0.0, 0.2),
                   help="SA-SHADE-tri-ensin F range (Table S3)")
    p.add_argument("--CR-range", type=float, nargs=2, default=(0.0, 0.3),
                   help="SA-SHADE-tri-ensin CR range (Table S3)")
    p.add_argument("--train-limit", type=positive_int, default=None,
                   help="use only the first N samples of the (shuffled) training split: quick runs")
    p.add_argument("--heldout-fraction", type=float, default=0.1,
                   help="share of the training data held out to choose each run's winner")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default="runs/lenet_mnist", help="output folder")
    p.add_argument("--checkpoint-dir", default=None,
                   help="save populations and evolution state here (default: no checkpoints)")
    p.add_argument("--checkpoint-every", type=positive_int, default=10,
                   help="generations between evolution checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --checkpoint-dir")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.popsize < 6:
        parser.error("--popsize must be >= 6 (rand/2 in SA-SHADE-tri-ensin's pool needs 6)")
    if args.epochs < args.popsize:
        parser.error(f"--epochs ({args.epochs}) must be >= --popsize ({args.popsize}): the "
                     "population is the snapshots of the last POPSIZE epochs")
    if not 0 < args.de_F <= 2:
        parser.error(f"--de-F must be in (0, 2], got {args.de_F}")
    if not 0 <= args.de_CR <= 1:
        parser.error(f"--de-CR must be in [0, 1], got {args.de_CR}")
    if not 0 < args.heldout_fraction < 1:
        parser.error(f"--heldout-fraction must be in (0, 1), got {args.heldout_fraction}")
    if args.lr <= 0:
        parser.error(f"--lr must be > 0, got {args.lr}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir DIR (where the stopped run saved)")
    if args.dataset != "digits" and args.data_root is None and not os.environ.get("NEURO_DE_DATA"):
        parser.error(f"--dataset {args.dataset} needs --data-root DIR (DIR/MNIST/raw with the "
                     "idx files) or NEURO_DE_DATA; add --download to fetch it with internet")


def make_searcher(method: str, problem, init, args):
    if method == "DE":
        return DE(problem, init_population=init, strategy="rand/1", F=args.de_F, CR=args.de_CR)
    return SAShadeTriEnsin(
        problem, init_population=init, F_range=tuple(args.F_range),
        CR_range=tuple(args.CR_range), sin_horizon=args.generations_per_batch,
    )


def checkpoint_path(args, seed: int, name: str) -> str | None:
    if args.checkpoint_dir is None:
        return None
    return os.path.join(args.checkpoint_dir, f"seed{seed}", f"{name}.pt")


def run_seed(seed: int, splits, info, args, guard) -> tuple[list[dict], dict]:
    progress = not args.no_progress
    run_meta = {"recipe": "lenet_mnist", "dataset": args.dataset, "model": args.model,
                "seed": seed, "popsize": args.popsize, "epochs": args.epochs}

    def fresh_model():
        torch.manual_seed(seed)
        return build_model(args.model, **info.model_kwargs())

    t0 = time.perf_counter()
    snaps = pretrain_population(
        fresh_model, splits.train, checkpoint=checkpoint_path(args, seed, "population"),
        resume=args.resume, meta=run_meta, epochs=args.epochs, keep_last=args.popsize,
        optimizer="adam", lr=args.lr, batch_size=args.train_batch_size, seed=seed,
        device=args.device, progress=progress,
    )
    train_s = time.perf_counter() - t0
    problem = SupervisedNetProblem(
        snaps.model, splits.train, batch_size=args.batch_size,
        generations_per_batch=args.generations_per_batch, device=args.device, seed=seed,
    )
    init = snaps.vectors.to(args.device)
    adam = problem.evaluate_vector(init[-1], splits.test)
    rows = [{"method": "adam", "seed": seed, "top1": 100 * adam["top1"],
             "top5": 100 * adam["top5"], "test_loss": adam["loss"], "seconds": train_s}]
    logs = {}
    for method in args.methods:
        # each method gets its own problem, so both see the same mini-batch stream
        fresh = SupervisedNetProblem(
            snaps.model, splits.train, batch_size=args.batch_size,
            generations_per_batch=args.generations_per_batch, device=args.device, seed=seed,
        )
        searcher = make_searcher(method, fresh, init, args)
        t0 = time.perf_counter()
        logs[method] = evolve(
            searcher, args.generations, progress=progress, desc=f"seed {seed} {method}",
            checkpoint=checkpoint_path(args, seed, method),
            checkpoint_every=args.checkpoint_every, resume=args.resume,
            meta={**run_meta, "method": method, "genome": fresh.solution_length,
                  "batch_size": args.batch_size,
                  "generations_per_batch": args.generations_per_batch},
            guard=guard,
        )
        seconds = time.perf_counter() - t0
        values = searcher.population.values
        winner = select_on_heldout(fresh, values, splits.heldout)
        test = fresh.evaluate_vector(values[winner], splits.test)
        rows.append({"method": method, "seed": seed, "top1": 100 * test["top1"],
                     "top5": 100 * test["top5"], "test_loss": test["loss"],
                     "seconds": seconds})
        export_network(
            fresh.to_module(values[winner]),
            os.path.join(args.out, "winners", f"{method}_seed{seed}"),
            provenance={**run_meta, "method": method, "generations": args.generations,
                        "winner_index": winner, "selected_on": "held-out loss",
                        "test_top1": rows[-1]["top1"], "test_top5": rows[-1]["top5"]},
        )
    return rows, logs


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(args, parser)
    logging.getLogger("evotorch").setLevel(logging.WARNING)  # one INFO line per Problem
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.data_root or os.environ.get("NEURO_DE_DATA")
    splits = load_splits(args.dataset, heldout_fraction=args.heldout_fraction, seed=0,
                         root=None if args.dataset == "digits" else root,
                         download=args.download)
    info = dataset_info(args.dataset)
    if args.train_limit is not None and args.train_limit < len(splits.train):
        splits = splits._replace(train=Subset(splits.train, range(args.train_limit)))
    os.makedirs(args.out, exist_ok=True)
    rows: list[dict] = []
    with SignalGuard() as guard:
        for seed in range(args.seeds):
            try:
                seed_rows, logs = run_seed(seed, splits, info, args, guard)
            except RunInterrupted as stop:
                print(stop, file=sys.stderr, flush=True)
                return 128 + stop.signum
            rows += seed_rows
            for method, frame in logs.items():
                frame.to_csv(os.path.join(args.out, f"log_{method}_seed{seed}.csv"))
            line = ", ".join(f"{r['method']} {r['top1']:.2f}%" for r in seed_rows)
            print(f"seed {seed}: test top-1 {line}", flush=True)
    given = argv if argv is not None else sys.argv[1:]
    command = "python recipes/lenet_mnist.py " + " ".join(shlex.quote(a) for a in given)
    text = write_results(
        rows, args.out, title=f"{args.model} on {args.dataset}: Adam vs evolved",
        command=command.strip(), baseline="adam",
        notes=(f"popsize {args.popsize} (last epochs of Adam), {args.generations} generations, "
               f"fitness batch {args.batch_size} x {args.generations_per_batch} generations; "
               "winner chosen on a held-out split of the training data; test set only "
               "for the reported numbers."),
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
