#!/usr/bin/env python
"""Lamarckian architecture search: a (1+1)-EA over CNN architectures whose children inherit
trained weights, against the same search without inheritance (Prellberg & Kramer, 2018).

A scaled protocol (LAM-M, docs/lamarckian.md): on MNIST-1D (generated locally by the
``mnist1d`` package; 3,200 train / 800 held-out / 1,000 test), block CNNs of 1-D
conv-BN-ReLU blocks (filters F/4 = {4, 8, 16, 24, 32, 48, 64}, kernels {1, 3, 5}, strides
{1, 2}, at most three stride-2 blocks), global average pooling and a dense layer. For each
seed and setting, the (1+1)-EA with niching (p = 0.1, k = 5 steps) searches until an epoch
budget (64) is spent; every evaluation trains e epochs with a fresh Adam (lr 1e-3) from the
child's starting weights and scores held-out accuracy. Settings:

- ``wi``: weight inheritance (the paper's rule: a tensor whose owner and shape survive the
  mutation is copied, the rest re-initialised), e = 1;
- ``bi``: baseline I, no inheritance, e = 1;
- ``bii``: baseline II, no inheritance, e = 4 (the paper's 4 -> 16 ratio);
- ``partial`` and ``morphism``: inheritance extensions that are not the paper's (overlapping
  slices; Net2Net widen/deepen), e = 1, on request.

The best network (the parent) at a quarter of the budget and at the end is trained to
completion (Adam, a step schedule) and tested once. Reports a Table-1-shaped table (min,
mean ± std, max of test accuracy per setting and checkpoint), one-sided Mann-Whitney U
tests with exact p for the paper's comparisons (WI at a quarter vs BI at the end; WI vs BII
at the end; WI at a quarter vs BII at the end), and the plots of Figs. 2 and 3 (best
held-out accuracy so far and mean number of blocks against epochs spent).
"""

from __future__ import annotations

import argparse
import os
import sys

from neuro_de.options import (
    add_run_arguments,
    check_run_options,
    parse_args,
    positive_int,
    quiet_evotorch,
    recipe_parser,
)

PAPER = ('M. Prellberg and O. Kramer, "Lamarckian Evolution of Convolutional Neural '
         'Networks", PPSN 2018, arXiv:1806.08099')
#: setting -> (inheritance rule name, epochs-per-evaluation multiplier of --epochs-per-eval)
SETTINGS = {"wi": ("paper", 1), "bi": ("none", 1), "bii": ("none", 4),
            "partial": ("partial", 1), "morphism": ("morphism", 1)}
LABELS = {"wi": "WI (inheritance)", "bi": "baseline I (none, same e)",
          "bii": "baseline II (none, 4e)", "partial": "partial (not the paper's)",
          "morphism": "morphism (not the paper's)"}

EXAMPLES = """
python recipes/lamarckian.py                                 # MNIST-1D, 3 seeds, WI vs BI vs BII
python recipes/lamarckian.py --seeds 10 --out runs/lam10     # the docs/results.md run (LAM-M)
python recipes/lamarckian.py --settings wi morphism --budget 32
python recipes/lamarckian.py --config runs/lamarckian/config.json --out runs/lamarckian2
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES, paper=PAPER)
    p.add_argument("--seeds", type=positive_int, default=3, help="runs per setting (seeds 0..N-1)")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["wi", "bi", "bii"],
                   help="wi: inheritance; bi: none, same e; bii: none, 4e; partial/morphism: "
                        "extensions that are not the paper's")
    p.add_argument("--budget", type=positive_int, default=64,
                   help="total training epochs of a search (the paper: 512)")
    p.add_argument("--epochs-per-eval", type=positive_int, default=1,
                   help="e: epochs each evaluation trains (bii trains 4e)")
    p.add_argument("--checkpoints", type=positive_int, nargs="+", default=None, metavar="EPOCHS",
                   help="budget points whose best network is trained to completion and tested "
                        "(default: a quarter of --budget and --budget)")
    p.add_argument("--p-niche", type=float, default=0.1, help="niching probability")
    p.add_argument("--niche-steps", type=positive_int, default=5, help="k: steps of a niche")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of evaluations")
    p.add_argument("--batch-size", type=positive_int, default=128, help="mini-batch")
    p.add_argument("--final-epochs", type=positive_int, default=15,
                   help="epochs of the training to completion of each checkpoint")
    p.add_argument("--final-lrs", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4],
                   metavar="LR", help="Adam step schedule of the training to completion "
                                      "(equal thirds of --final-epochs)")
    p.add_argument("--data-root", metavar="DIR", default=None,
                   help="cache the generated MNIST-1D here (default: no cache)")
    p.add_argument("--train-limit", type=positive_int, default=None, metavar="N",
                   help="use only the first N training samples (default: all)")
    add_run_arguments(p, out="runs/lamarckian",
                      checkpoint_help="save every search after each step")
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if not 0 <= args.p_niche <= 1:
        parser.error(f"--p-niche must be in [0, 1], got {args.p_niche}")
    if args.lr <= 0 or any(lr <= 0 for lr in args.final_lrs):
        parser.error("--lr and --final-lrs must be > 0")
    largest = max(SETTINGS[s][1] for s in args.settings) * args.epochs_per_eval
    if args.budget < largest:
        parser.error(f"--budget {args.budget} is smaller than one evaluation ({largest} epochs "
                     "for the settings chosen); raise --budget or lower --epochs-per-eval")
    if args.checkpoints is None:
        args.checkpoints = sorted({max(1, args.budget // 4), args.budget})
    if any(c > args.budget for c in args.checkpoints):
        parser.error(f"--checkpoints must lie within --budget {args.budget}, got "
                     f"{args.checkpoints}")
    try:
        import mnist1d  # noqa: F401
    except ImportError:
        if not (args.data_root and os.path.isdir(args.data_root)):
            parser.error("MNIST-1D needs the mnist1d package: pip install 'neuro_de[mnist1d]'")
    check_run_options(args, parser)


def load_data(args):
    from torch.utils.data import Subset

    from neuro_de.data import load_mnist1d

    splits = load_mnist1d(root=args.data_root)
    if args.train_limit is not None and args.train_limit < len(splits.train):
        splits = splits._replace(train=Subset(splits.train, range(args.train_limit)))
    return splits


def search(args, setting: str, seed: int, splits, guard):
    """One (1+1)-EA run; returns (snapshots {point: value dict}, logger frame)."""
    import torch

    from neuro_de.algorithms import OnePlusOneEA
    from neuro_de.models import BlockCNN
    from neuro_de.operators.architecture import SearchSpace, initial_arch, mutate_solution
    from neuro_de.operators.inheritance import get_inheritance
    from neuro_de.problems.architecture import ArchitectureProblem
    from neuro_de.runner import evolve

    rule_name, factor = SETTINGS[setting]
    rule = get_inheritance(rule_name)
    space = SearchSpace.mnist1d()
    info = splits.test.info

    def build(arch):
        return BlockCNN(arch, in_channels=info.channels, num_classes=info.num_classes, dim=1)

    problem = ArchitectureProblem(build, splits.train, splits.heldout,
                                  epochs_per_evaluation=factor * args.epochs_per_eval,
                                  budget=args.budget, lr=args.lr, batch_size=args.batch_size,
                                  seed=seed, device=args.device)
    fresh_gen = torch.Generator().manual_seed(seed)

    def build_fresh(arch):
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=fresh_gen)))
            return build(arch).state_dict()

    def initial(generator):
        return {"arch": initial_arch(space, generator), "weights": None,
                "inherited_fraction": 0.0}

    def mutate(parent, generator):
        return mutate_solution(parent, space=space, inheritance=rule, history=problem.history,
                               build_fresh=build_fresh, rng=generator,
                               in_channels=info.channels,
                               deepen_identity=rule_name == "morphism")

    ea = OnePlusOneEA(problem, mutate=mutate, initial=initial, p_niche=args.p_niche,
                      niche_steps=args.niche_steps, checkpoints=tuple(args.checkpoints),
                      generator_seed=seed)
    checkpoint = (None if args.checkpoint_dir is None else
                  os.path.join(args.checkpoint_dir, f"seed{seed}", f"{setting}.pt"))
    frame = evolve(ea, args.budget + 1, progress=not args.no_progress,
                   desc=f"seed {seed} {setting}",
                   show=("best_val", "epochs_used", "n_blocks", "inherited_fraction"),
                   checkpoint=checkpoint, checkpoint_every=1,
                   resume="if-present" if args.resume else False,
                   meta={"recipe": "lamarckian", "setting": setting, "seed": seed,
                         "budget": args.budget}, guard=guard, collapse_check_every=0)
    return ea.snapshots, frame, build


def train_to_completion(args, value, build, splits, seed: int):
    """The checkpoint's network (its weights) trained --final-epochs more with Adam and the
    step schedule; returns its test accuracy (the test set's only read for it)."""
    import torch

    from neuro_de.problems.retraining import score, train_epochs

    net = build(tuple(tuple(int(v) for v in b) for b in value["arch"]))
    state = {k: v.as_subclass(torch.Tensor).clone() for k, v in value["weights"].items()}
    net.load_state_dict(state)
    net.to(args.device)
    lrs, epochs = args.final_lrs, args.final_epochs
    opt = torch.optim.Adam(net.parameters(), lr=1.0)  # the rate is set before every step
    train_epochs(
        net, opt, splits.train, epochs=epochs, batch_size=args.batch_size,
        generator=torch.Generator().manual_seed(10_000 + seed), device=args.device,
        rate=lambda epoch, step, total: lrs[min(len(lrs) - 1, epoch * len(lrs) // epochs)],
    )
    acc, _ = score(net, splits.test, device=args.device)
    return acc


def mann_whitney(a, b) -> dict:
    """One-sided Mann-Whitney U (a > b), exact p where scipy can."""
    from scipy.stats import mannwhitneyu

    if len(a) < 1 or len(b) < 1:
        return {"U": float("nan"), "p": float("nan")}
    r = mannwhitneyu(a, b, alternative="greater", method="auto")
    return {"U": float(r.statistic), "p": float(r.pvalue)}


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()
    parser = build_parser()
    args = parse_args(parser, argv)
    check_args(args, parser)
    import numpy as np
    import pandas as pd
    import torch

    from neuro_de.checkpoint import RunInterrupted, SignalGuard
    from neuro_de.experiment import check_device, record_run
    from neuro_de.options import check_writable_folders

    quiet_evotorch()
    check_device(args, parser)
    check_writable_folders(args, parser)
    torch.set_num_threads(args.threads)
    command = record_run(args, argv, recipe="lamarckian")
    splits = load_data(args)
    found: list[tuple] = []  # (setting, seed, point, value, build)
    curves: list[pd.DataFrame] = []
    with SignalGuard() as guard:
        try:
            for seed in range(args.seeds):
                for setting in args.settings:
                    snapshots, frame, build = search(args, setting, seed, splits, guard)
                    frame = frame.assign(setting=setting, seed=seed)
                    frame.to_csv(os.path.join(args.out, f"log_{setting}_seed{seed}.csv"))
                    curves.append(frame)
                    for point in args.checkpoints:
                        if point in snapshots:
                            found.append((setting, seed, point, snapshots[point], build))
                    best = max(float(s["fitness"]) for s in snapshots.values())
                    print(f"seed {seed} {setting}: best held-out {100 * best:.2f}% "
                          f"({len(frame)} steps)", flush=True)
        except RunInterrupted as stop:
            print(stop, file=sys.stderr, flush=True)
            return 128 + stop.signum
    # every search is over: train the checkpoints to completion and read the test set
    rows = []
    for setting, seed, point, snap, build in found:
        value = snap["value"]
        acc = train_to_completion(args, value, build, splits, seed)
        rows.append({"setting": setting, "seed": seed, "checkpoint": point,
                     "heldout": 100 * float(snap["fitness"]), "test": 100 * acc,
                     "blocks": len(value["arch"]),
                     "arch": " ".join(f"{f}/{k}/{s}" for f, k, s in value["arch"])})
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(args.out, "results.csv"), index=False)
    lines = ["| setting | checkpoint (epochs) | runs | min | mean ± std | max | blocks |",
             "|---|---|---|---|---|---|---|"]
    for (setting, point), part in table.groupby(["setting", "checkpoint"], sort=False):
        t = part["test"]
        spread = f" ± {t.std(ddof=1):.1f}" if len(t) > 1 else ""
        lines.append(f"| {LABELS[setting]} | {point} | {len(t)} | {t.min():.1f} | "
                     f"{t.mean():.1f}{spread} | {t.max():.1f} | {part['blocks'].mean():.1f} |")
    quarter, end = min(args.checkpoints), max(args.checkpoints)

    def test_of(setting, point):
        part = table[(table["setting"] == setting) & (table["checkpoint"] == point)]
        return part.sort_values("seed")["test"].to_numpy()

    tests = []
    for a, pa, b, pb in (("wi", quarter, "bi", end), ("wi", end, "bii", end),
                         ("wi", quarter, "bii", end)):
        if a in args.settings and b in args.settings:
            r = mann_whitney(test_of(a, pa), test_of(b, pb))
            tests.append(f"| {a}@{pa} > {b}@{pb} | {np.mean(test_of(a, pa)):.2f} vs "
                         f"{np.mean(test_of(b, pb)):.2f} | {r['U']:.1f} | {r['p']:.4f} |")
    text = ["# Lamarckian (1+1)-EA on MNIST-1D\n", f"Command: `{command}`\n",
            f"Budget {args.budget} epochs, e = {args.epochs_per_eval} (bii: "
            f"{4 * args.epochs_per_eval}), niching p = {args.p_niche}, k = {args.niche_steps}; "
            f"checkpoints at {args.checkpoints} epochs trained {args.final_epochs} more epochs "
            f"(Adam, lr {args.final_lrs}) and tested once; fitness: held-out accuracy (a split "
            "of the training data).\n",
            "## Test accuracy (%) of the checkpoints trained to completion (Table 1's shape)\n",
            "\n".join(lines) + "\n"]
    if tests:
        text += ["## One-sided Mann-Whitney U tests (the paper's comparisons)\n",
                 "| comparison | means | U | p |\n|---|---|---|---|\n" + "\n".join(tests) + "\n"]
    log = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if "inherited_fraction" in log.columns:
        frac = log.groupby("setting")["inherited_fraction"].mean()
        text.append("Mean fraction of a child's parameters inherited: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in frac.items()) + "\n")
    text = "\n".join(text)
    with open(os.path.join(args.out, "results.md"), "w") as fh:
        fh.write(text)
    if args.plots and not log.empty:
        write_plots(log, os.path.join(args.out, "plots"))
    print(text)
    return 0


def write_plots(log, folder: str) -> None:
    """Fig. 2 (best held-out accuracy so far vs epochs) and Fig. 3 (mean blocks vs epochs)."""
    import numpy as np

    from neuro_de.dynamics.plots import _figure, _run_color, _save

    os.makedirs(folder, exist_ok=True)
    for key, ylabel, name, title in (
            ("best_val", "best held-out accuracy so far (%)", "best_so_far.png",
             "Best held-out accuracy against epochs spent (Fig. 2)"),
            ("n_blocks", "blocks of the parent", "blocks.png",
             "Number of blocks against epochs spent (Fig. 3)")):
        fig, axes = _figure(1, 1, 7.0, 4.2)
        ax = axes[0][0]
        for i, (setting, part) in enumerate(log.groupby("setting", sort=False)):
            grid = np.arange(1, int(part["epochs_used"].max()) + 1)
            runs = []
            for _, run in part.groupby("seed"):
                x = run["epochs_used"].to_numpy(dtype=float)
                y = run[key].to_numpy(dtype=float) * (100 if key == "best_val" else 1)
                runs.append(np.interp(grid, x, y, left=np.nan))
            stack = np.vstack(runs)
            seen = ~np.isnan(stack).all(axis=0)  # before a setting's first evaluation: none
            mean = np.full(grid.shape, np.nan)
            mean[seen] = np.nanmean(stack[:, seen], axis=0)
            ax.plot(grid, mean, color=_run_color(i), label=LABELS[setting])
        ax.set_xlabel("training epochs spent")
        ax.set_ylabel(ylabel)
        ax.set_title(title + ", mean over seeds")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
        _save(fig, os.path.join(folder, name))


if __name__ == "__main__":
    sys.exit(main())
