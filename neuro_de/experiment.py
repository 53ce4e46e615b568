"""What every recipe shares: options, data, the first population, evolution runs, results.

A recipe is a plain script: it builds its parser with :func:`add_common_arguments`, then for
each seed creates a :class:`SeedRun`, which trains (or loads from a checkpoint) the Adam
population of Algorithm 1 stage 1, hands out fresh :class:`SupervisedNetProblem` instances
on the same mini-batch stream, evolves with checkpoints, picks winners on the held-out
split and evaluates on the test set. :func:`run_recipe` loops over seeds, saves the logger
data, handles SIGINT/SIGTERM, and writes ``results.csv`` / ``results.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import Subset

from .algorithms import DE, PSO, SAShadeTriEnsin
from .checkpoint import RunInterrupted, SignalGuard, export_network
from .data import dataset_info, load_splits
from .distributed import broadcast_from_main, init_from_env, is_main_process
from .models import build_model
from .problems import DistributedSupervisedNetProblem, SupervisedNetProblem
from .reporting import write_results
from .runner import evolve, pretrain_population, select_on_heldout

__all__ = [
    "SeedRun",
    "add_common_arguments",
    "check_common_arguments",
    "load_data",
    "positive_int",
    "searcher_factory",
    "run_recipe",
    "write_plots",
]


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def add_common_arguments(
    p: argparse.ArgumentParser,
    *,
    out: str,
    seeds: int = 3,
    epochs: int = 20,
    popsize: int = 10,
    generations: int = 100,
    model: str = "lenet5",
) -> argparse.ArgumentParser:
    """Add the options every LeNet recipe takes (data, training, evolution, output,
    checkpoints) with the given defaults."""
    p.add_argument("--dataset", choices=["digits", "mnist", "fashion-mnist"], default="digits")
    p.add_argument("--data-root", default=None,
                   help="folder holding MNIST/raw or FashionMNIST/raw (default: $NEURO_DE_DATA)")
    p.add_argument("--download", action="store_true",
                   help="let torchvision download the data set into --data-root (needs internet)")
    p.add_argument("--model", choices=["lenet1", "lenet5"], default=model)
    p.add_argument("--seeds", type=positive_int, default=seeds, help="number of seeds (0..N-1)")
    p.add_argument("--epochs", type=positive_int, default=epochs,
                   help="Adam epochs (>= popsize)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--train-batch-size", type=positive_int, default=128)
    p.add_argument("--popsize", type=positive_int, default=popsize,
                   help="population = snapshots of the last POPSIZE epochs")
    p.add_argument("--generations", type=positive_int, default=generations)
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="mini-batch of the fitness (paper: 2048 on ImageNet)")
    p.add_argument("--generations-per-batch", type=positive_int, default=10,
                   help="generations each fitness mini-batch serves (paper: 10)")
    p.add_argument("--de-F", type=float, default=0.1, help="DE (rand/1/bin) scale factor")
    p.add_argument("--de-CR", type=float, default=0.1, help="DE (rand/1/bin) crossover rate")
    p.add_argument("--F-range", type=float, nargs=2, default=(0.0, 0.2),
                   help="SA-SHADE-tri-ensin F range (Table S3)")
    p.add_argument("--CR-range", type=float, nargs=2, default=(0.0, 0.3),
                   help="SA-SHADE-tri-ensin CR range (Table S3)")
    p.add_argument("--train-limit", type=positive_int, default=None,
                   help="use only the first N samples of the (shuffled) training split: quick runs")
    p.add_argument("--heldout-fraction", type=float, default=0.1,
                   help="share of the training data held out to choose each run's winner")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", default=out, help="output folder")
    p.add_argument("--checkpoint-dir", default=None,
                   help="save populations and evolution state here (default: no checkpoints)")
    p.add_argument("--checkpoint-every", type=positive_int, default=10,
                   help="generations between evolution checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoints in --checkpoint-dir")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True,
                   help="write evolution-dynamics plots of the first seed to OUT/plots")
    p.add_argument("--log-every", type=int, default=0,
                   help="print every status item every N generations (EvoTorch StdOutLogger; "
                        "0: off)")
    p.add_argument("--distributed", choices=["population", "batch"], default=None,
                   help="under torchrun: replicated population, evaluation split over ranks "
                        "by population or by mini-batch (docs/scaling.md)")
    p.add_argument("--mlflow", action="store_true",
                   help="also log status items to MLflow (needs `pip install mlflow`)")
    return p


def extra_loggers(args: argparse.Namespace) -> tuple:
    """Logger factories for :func:`~neuro_de.runner.evolve` from --log-every / --mlflow."""
    factories = []
    if args.log_every:
        from evotorch.logging import StdOutLogger

        factories.append(lambda s: StdOutLogger(s, interval=args.log_every))
    if args.mlflow:
        from evotorch import logging as evo_logging

        if not hasattr(evo_logging, "MlflowLogger"):
            raise SystemExit("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
        factories.append(lambda s: evo_logging.MlflowLogger(s))
    return tuple(factories)


def check_common_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject inconsistent options early, naming the option and the fix."""
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
    for name in ("F_range", "CR_range"):
        lo, hi = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if not 0 <= lo <= hi <= (2 if name == "F_range" else 1):
            parser.error(f"{flag} needs 0 <= LOW <= HIGH <= {2 if name == 'F_range' else 1}, "
                         f"got {lo} {hi}")
    if args.log_every < 0:
        parser.error(f"--log-every must be >= 0, got {args.log_every}")
    if args.mlflow:
        try:
            import mlflow  # noqa: F401
        except ImportError:
            parser.error("--mlflow needs the mlflow package: pip install 'neuro_de[mlflow]'")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.resume and args.checkpoint_dir is None:
        parser.error("--resume needs --checkpoint-dir DIR (where the stopped run saved)")
    if args.dataset != "digits" and args.data_root is None and not os.environ.get("NEURO_DE_DATA"):
        parser.error(f"--dataset {args.dataset} needs --data-root DIR (DIR/MNIST/raw with the "
                     "idx files) or NEURO_DE_DATA; add --download to fetch it with internet")


def searcher_factory(method: str, args: argparse.Namespace, **hybrid_flags: Any):
    """``make(problem, init)`` for the recipes' algorithms with the options in ``args``:

    - ``"DE"``: rand/1/bin with ``--de-F`` and ``--de-CR``;
    - ``"PSO"``: Clerc's constriction, global best, no velocity clamp;
    - anything else: SA-SHADE-tri-ensin with ``--F-range``, ``--CR-range``, the sinusoidal
      horizon equal to ``--generations-per-batch``, and ``hybrid_flags`` (the ablation
      switches ``strategy_adaptation``, ``success_history``, ``trigonometric``,
      ``sinusoidal``).
    """

    def make(problem, init):
        if method == "DE":
            return DE(problem, init_population=init, strategy="rand/1", F=args.de_F,
                      CR=args.de_CR)
        if method == "PSO":
            return PSO(problem, init_population=init)
        return SAShadeTriEnsin(problem, init_population=init, F_range=tuple(args.F_range),
                               CR_range=tuple(args.CR_range),
                               sin_horizon=args.generations_per_batch, **hybrid_flags)

    return make


def load_data(args: argparse.Namespace):
    """Train / held-out / test splits and the data set's facts, honouring --train-limit."""
    root = args.data_root or os.environ.get("NEURO_DE_DATA")
    splits = load_splits(args.dataset, heldout_fraction=args.heldout_fraction, seed=0,
                         root=None if args.dataset == "digits" else root,
                         download=args.download)
    if args.train_limit is not None and args.train_limit < len(splits.train):
        splits = splits._replace(train=Subset(splits.train, range(args.train_limit)))
    return splits, dataset_info(args.dataset)


class SeedRun:
    """One seed of a recipe: the Adam population and everything evolved from it.

    Args:
        args: The parsed recipe options (see :func:`add_common_arguments`).
        seed: The seed of this run (training, mini-batch stream, algorithms).
        splits: ``DataSplits(train, heldout, test)``.
        info: The data set's facts (``dataset_info``).
        guard: The recipe's :class:`~neuro_de.checkpoint.SignalGuard`.
        recipe: The recipe's name (checkpoints of another recipe are refused).
    """

    def __init__(self, args, seed: int, splits, info, guard: SignalGuard, *, recipe: str):
        self.args, self.seed, self.splits, self.info, self.guard = args, seed, splits, info, guard
        self.is_main = is_main_process()  # rank 0 of a replicated run writes; others compute
        self.progress = not args.no_progress and self.is_main
        self.meta = {"recipe": recipe, "dataset": args.dataset, "model": args.model,
                     "seed": seed, "popsize": args.popsize, "epochs": args.epochs}
        self._snaps = None

    def checkpoint(self, name: str) -> str | None:
        """Checkpoint file ``<dir>/seed<k>/<name>.pt``, or ``None`` without --checkpoint-dir."""
        if self.args.checkpoint_dir is None:
            return None
        return os.path.join(self.args.checkpoint_dir, f"seed{self.seed}", f"{name}.pt")

    def fresh_model(self) -> torch.nn.Module:
        torch.manual_seed(self.seed)
        return build_model(self.args.model, **self.info.model_kwargs())

    @property
    def snapshots(self):
        """The Adam snapshots of the last ``popsize`` epochs (trained once, then cached)."""
        if self._snaps is None:
            a = self.args
            self._snaps = pretrain_population(
                self.fresh_model, self.splits.train, checkpoint=self.checkpoint("population"),
                resume=a.resume, meta=self.meta, epochs=a.epochs, keep_last=a.popsize,
                optimizer="adam", lr=a.lr, batch_size=a.train_batch_size, seed=self.seed,
                device=a.device, progress=self.progress, write_checkpoints=self.is_main,
            )
            if a.distributed:  # every rank starts from rank 0's networks
                broadcast_from_main([self._snaps.vectors,
                                     *self._snaps.model.state_dict().values()])
        return self._snaps

    @property
    def population(self) -> torch.Tensor:
        """The ``(popsize, d)`` genomes on the run's device."""
        return self.snapshots.vectors.to(self.args.device)

    def problem(self, *, batch_size: int | None = None) -> SupervisedNetProblem:
        """A fresh problem over the trained network; every fresh problem of a seed sees the
        same mini-batch stream, so methods are compared on the same data."""
        a = self.args
        kwargs = {"batch_size": batch_size or a.batch_size,
                  "generations_per_batch": a.generations_per_batch, "device": a.device,
                  "seed": self.seed}
        if a.distributed:
            return DistributedSupervisedNetProblem(self.snapshots.model, self.splits.train,
                                                   split=a.distributed, **kwargs)
        return SupervisedNetProblem(self.snapshots.model, self.splits.train, **kwargs)

    def test_row(self, method: str, metrics: dict, **extra: Any) -> dict:
        """A results row: test top-1/top-5 in percent plus extra columns."""
        return {"method": method, "seed": self.seed, "top1": 100 * metrics["top1"],
                "top5": 100 * metrics["top5"], "test_loss": metrics["loss"], **extra}

    def parent_row(self) -> dict:
        """The results row of the Adam parent: the last snapshot, on the test set."""
        metrics = self.problem().evaluate_vector(self.snapshots.vectors[-1], self.splits.test)
        return self.test_row("adam", metrics)

    def evolve(
        self,
        method: str,
        make_searcher: Callable[[SupervisedNetProblem, torch.Tensor], Any],
        *,
        generations: int | None = None,
        init: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> tuple[dict, Any]:
        """Evolve from the population with ``make_searcher(problem, init)``; pick the winner
        on held-out data, export it, and return its test row and the logger frame."""
        import time

        a = self.args
        generations = generations or a.generations
        problem = self.problem(batch_size=batch_size)
        init = self.population if init is None else init
        searcher = make_searcher(problem, init)
        t0 = time.perf_counter()
        frame = evolve(
            searcher, generations, progress=self.progress, desc=f"seed {self.seed} {method}",
            loggers=extra_loggers(a),
            checkpoint=self.checkpoint(method), checkpoint_every=a.checkpoint_every,
            resume=a.resume,
            meta={**self.meta, "method": method, "genome": problem.solution_length,
                  "batch_size": batch_size or a.batch_size,
                  "generations_per_batch": a.generations_per_batch},
            guard=self.guard, write_checkpoints=self.is_main,
        )
        seconds = time.perf_counter() - t0
        values = searcher.population.values
        winner = select_on_heldout(problem, values, self.splits.heldout)
        test = problem.evaluate_vector(values[winner], self.splits.test)
        row = self.test_row(method, test, seconds=seconds)
        if not self.is_main:
            return row, frame
        export_network(
            problem.to_module(values[winner]),
            os.path.join(a.out, "winners", f"{method}_seed{self.seed}"),
            provenance={**self.meta, "method": method, "generations": generations,
                        "winner_index": winner, "selected_on": "held-out loss",
                        "test_top1": row["top1"], "test_top5": row["top5"]},
        )
        return row, frame


def write_plots(logs: dict[str, Any], out_dir: str) -> list:
    """Every dynamics plot of each run (``<method>_<plot>.png``) and, for several runs, the
    overlays (``all_<plot>.png``)."""
    from .dynamics import plot_all

    paths = []
    for method, frame in logs.items():
        paths += plot_all(frame, out_dir, prefix=f"{method}_")
    if len(logs) > 1:
        paths += plot_all(logs, out_dir, prefix="all_")
    return paths


def run_recipe(
    args: argparse.Namespace,
    argv: Sequence[str] | None,
    per_seed: Callable[[SeedRun], tuple[list[dict], dict[str, Any]]],
    *,
    recipe: str,
    title: str,
    baseline: str,
    notes: str = "",
) -> int:
    """Run ``per_seed`` for every seed, save logs and results; return the exit code.

    ``per_seed(run)`` returns the seed's result rows and ``{method: logger frame}``. A
    SIGINT/SIGTERM stops the run after saving its checkpoint; the exit code is then
    ``128 + signal`` and ``--resume`` continues it.
    """
    logging.getLogger("evotorch").setLevel(logging.WARNING)  # one INFO line per Problem
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.distributed:
        world = init_from_env()
        if world.world_size == 1:
            print("--distributed: no torchrun environment found; running as one process",
                  file=sys.stderr)
    main = is_main_process()
    splits, info = load_data(args)
    if main:
        os.makedirs(args.out, exist_ok=True)
    rows: list[dict] = []
    with SignalGuard() as guard:
        for seed in range(args.seeds):
            run = SeedRun(args, seed, splits, info, guard, recipe=recipe)
            try:
                seed_rows, logs = per_seed(run)
            except RunInterrupted as stop:
                if main:
                    print(stop, file=sys.stderr, flush=True)
                return 128 + stop.signum
            rows += seed_rows
            if not main:
                continue
            for method, frame in logs.items():
                frame.to_csv(os.path.join(args.out, f"log_{method}_seed{seed}.csv"))
            if args.plots and seed == 0 and logs:
                write_plots(logs, os.path.join(args.out, "plots"))
            line = ", ".join(f"{r['method']} {r['top1']:.2f}%" for r in seed_rows)
            print(f"seed {seed}: test top-1 {line}", flush=True)
    if not main:
        return 0
    given = list(argv) if argv is not None else sys.argv[1:]
    command = f"python recipes/{recipe}.py " + " ".join(shlex.quote(a) for a in given)
    text = write_results(rows, args.out, title=title, command=command.strip(),
                         baseline=baseline, notes=notes)
    print(text)
    return 0
