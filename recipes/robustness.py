#!/usr/bin/env python
"""Robustness to common corruptions: Adam parents vs evolved networks on MNIST-C (Table S4).

For each seed: train the network with Adam and keep the last ``popsize`` epoch snapshots
(Algorithm 1, stage 1); build each chosen contender from that one population (DE and
SA-SHADE-tri-ensin evolved with winners picked on a held-out split of the training data;
the weight average WA; the greedy soup; the FGE ensemble); train the *reference* network
with Adam (LeNet-1 by default, as Table S4 normalises by LeNet-1/Adam); then score every
network on the clean test set and on each corrupted copy of it.

The corrupted test sets are MNIST-C's 15 corruptions (Mu & Gilmer, 2019) generated here
(:mod:`neuro_de.robustness`), each at the severity the released MNIST-C uses, with a fixed
``--corruption-seed``: every seed's networks read the same corrupted images, which are
generated once and cached (``--cache-dir``). ``--released-root DIR`` reads the published
MNIST-C files instead (DIR/<corruption>/test_images.npy).

Reports per method: top-1 error on each corruption and on average, corruption error CE and
mCE normalised by the reference (100 % for the reference by construction), relative mCE;
mean ± std over seeds and paired differences against the Adam parent with confidence
intervals and sign counts. The test set (clean and corrupted) is read only for the report.

Default: LeNet-5 on the bundled MNIST, 3 seeds, 12 Adam epochs, the last 10 as the
population, 100 generations, all five contenders (about 15 minutes on 2 CPU cores, the first
time including ~3 minutes to generate the corrupted sets). ``--dataset digits`` with small
settings is a smoke run.

Writes to ``--out``: config.json, results.csv/results.md (clean top-1 as the other
recipes), and ``robustness/``: errors.csv (every model, seed, corruption, severity),
summary.csv, table.md/table.csv (Table S4's layout, mean ± std over seeds),
results.md (paired comparisons against Adam of the average error, mCE, relative mCE and
clean error) and plots/corruption_errors.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

# Only light imports up here, so that --help is fast: torch and EvoTorch load in main().
from neuro_de.options import (
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

EVOLVED = ("DE", "SAShadeTriEnsin")
BASELINES = ("WA", "greedy-soup", "FGE")
METHODS = EVOLVED + BASELINES
MNIST_C = ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale",
           "rotate", "brightness", "translate", "stripe", "fog", "spatter", "dotted_line",
           "zigzag", "canny_edges")

EXAMPLES = """
python recipes/robustness.py                                   # LeNet-5, bundled MNIST, MNIST-C
python recipes/robustness.py --seeds 5 --out runs/robustness5  # the docs/results.md run
python recipes/robustness.py --methods DE --corruptions fog zigzag --severities 1 3 5
python recipes/robustness.py --released-root ~/data/mnist_c    # the published MNIST-C files
python recipes/robustness.py --dataset digits --seeds 1 --epochs 6 --popsize 6 --generations 3
python recipes/robustness.py --config runs/robustness/config.json --out runs/robustness2
"""


def build_parser() -> argparse.ArgumentParser:
    p = recipe_parser(__doc__, examples=EXAMPLES)
    add_common_arguments(p, out="runs/robustness", dataset="mnist", epochs=12)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="contenders besides the Adam parent")
    p.add_argument("--reference", choices=["lenet1", "lenet5"], default="lenet1",
                   help="architecture of the reference network CE and mCE are normalised by, "
                        "trained with Adam like the parent (Table S4: LeNet-1); when it is "
                        "--model the Adam parent itself is the reference")
    p.add_argument("--corruptions", nargs="+", choices=MNIST_C, default=list(MNIST_C),
                   metavar="NAME", help="MNIST-C corruptions (default all 15): "
                                        + ", ".join(MNIST_C))
    p.add_argument("--severities", nargs="+", type=int, default=None, metavar="S",
                   help="severities 1-5 run for every corruption (default: each at the "
                        "severity the released MNIST-C uses)")
    p.add_argument("--corruption-seed", type=int, default=0,
                   help="seed of the corruptions' random draws (the same for every seed of "
                        "the run)")
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="keep the corrupted test sets here (default: OUT/corrupted)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes generating the corrupted sets (0: this one)")
    p.add_argument("--released-root", metavar="DIR", default=None,
                   help="read the published MNIST-C (DIR/<corruption>/test_images.npy) instead "
                        "of generating the corruptions (default: generate them)")
    add_fge_arguments(p)
    return p


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    check_common_arguments(args, parser)
    if args.severities is not None:
        bad = [s for s in args.severities if not 1 <= s <= 5]
        if bad:
            parser.error(f"--severities must be integers in 1-5, got {bad}")
        if len(set(args.severities)) != len(args.severities):
            parser.error(f"--severities repeats a level: {args.severities}")
        if args.released_root is not None:
            parser.error("--severities does not apply to --released-root: the released MNIST-C "
                         "has one severity per corruption")
    if args.corruption_seed < 0:
        parser.error(f"--corruption-seed must be >= 0, got {args.corruption_seed}")
    if args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    if len(set(args.corruptions)) != len(args.corruptions):
        parser.error(f"--corruptions names a corruption twice: {args.corruptions}")
    check_fge_arguments(args, parser)
    if args.released_root is not None and not os.path.isdir(args.released_root):
        parser.error(f"--released-root {args.released_root!r} is not a folder; give the folder "
                     "holding <corruption>/test_images.npy")
    try:
        import skimage  # noqa: F401
    except ImportError:
        if args.released_root is None:
            parser.error("generating MNIST-C needs scikit-image: pip install "
                         "'neuro_de[robustness]' (or give --released-root)")
    if args.cache_dir is None:
        args.cache_dir = os.path.join(args.out, "corrupted")


def corrupted_sets(args: argparse.Namespace, test_set, info):
    """The corrupted test sets the run reads (generated and cached, or released)."""
    from neuro_de.robustness import CorruptedSets, CorruptionSuite, ReleasedSets

    if args.released_root is not None:
        return ReleasedSets(args.released_root, suite="mnist-c", info=info,
                            corruptions=args.corruptions)
    suite = CorruptionSuite.mnist_c(corruptions=args.corruptions, severities=args.severities,
                                    seed=args.corruption_seed)
    return CorruptedSets(test_set, suite, info=info, cache_dir=args.cache_dir,
                         workers=args.workers, progress=not args.no_progress)


def contenders(run: SeedRun) -> tuple[list[dict], dict, dict]:
    """The seed's clean result rows, logger frames and networks by method name."""
    from neuro_de.experiment import searcher_factory

    problem = run.problem()
    nets = {"adam": problem.to_module(run.snapshots.vectors[-1])}
    rows = [run.parent_row()]
    logs = {}
    for method in run.args.methods:
        if method in BASELINES:
            rows.append(run.baseline(method))
        else:
            row, logs[method] = run.evolve(method, searcher_factory(method, run.args))
            rows.append(row)
        nets[method] = run.winners[method]
    return rows, logs, nets


def reference_network(run: SeedRun, nets: dict) -> str:
    """Add the reference network to ``nets`` (trained with Adam like the parent, same seed
    and options, checkpointed); return its name."""
    args = run.args
    if args.reference == args.model:
        return "adam"
    import torch

    from neuro_de.models import build_model
    from neuro_de.runner import pretrain_population

    def fresh():
        torch.manual_seed(run.seed)
        return build_model(args.reference, **run.info.model_kwargs())

    options = {**run.pretraining(), "keep_last": 1}
    snaps = pretrain_population(
        fresh, run.splits.train, checkpoint=run.checkpoint(f"reference_{args.reference}"),
        resume=args.resume, meta={**run.meta, "model": args.reference}, seed=run.seed,
        device=args.device, progress=run.progress, write_checkpoints=run.is_main, **options)
    name = f"{args.reference}-adam"
    nets[name] = snaps.model
    return name


def write_robustness(errors, out: str, *, reference: str, command: str, notes: str) -> str:
    """Write ``OUT/robustness/``: errors, summary, Table-S4 table, paired results, plot."""
    import pandas as pd

    from neuro_de.reporting import write_results
    from neuro_de.robustness import (
        plot_corruption_errors,
        robustness_summary,
        robustness_table,
    )

    folder = os.path.join(out, "robustness")
    os.makedirs(folder, exist_ok=True)
    errors.to_csv(os.path.join(folder, "errors.csv"), index=False)
    summary = robustness_summary(errors, reference=reference)
    summary.to_csv(os.path.join(folder, "summary.csv"), index=False)
    models = list(dict.fromkeys(errors["model"]))
    mean = robustness_table(errors, reference=reference, models=models)
    seeds = sorted(errors["seed"].unique())
    per_seed = [robustness_table(errors[errors["seed"] == s], reference=reference, models=models)
                for s in seeds]
    std = pd.concat(per_seed).groupby(level=0, sort=False).std() if len(seeds) > 1 else None
    mean.to_csv(os.path.join(folder, "table.csv"))
    header = ["corruption", *[f"error {m}" for m in models], *[f"CE {m}" for m in models]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for idx in mean.index:
        cells = [str(idx).replace("_", " ")]
        for kind in ("error", "CE"):
            for m in models:
                v = mean.loc[idx, (kind, m)]
                if pd.isna(v):
                    cells.append("")
                    continue
                s = std.loc[idx, (kind, m)] if std is not None else float("nan")
                cells.append(f"{v:.1f} ± {s:.1f}" if not pd.isna(s) else f"{v:.1f}")
        if idx == "Average":
            cells[0] = "**Average** (error; mCE)"
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(folder, "table.md"), "w") as fh:
        fh.write(f"# Error and CE per corruption (%), reference `{reference}`\n\n{table}")
    rows = [{"method": r.model, "seed": int(r.seed), "average_error": 100 * r.average_error,
             "mCE": 100 * r.mCE, "relative_mCE": 100 * r.relative_mCE,
             "clean_error": 100 * r.clean_error} for r in summary.itertuples()]
    metrics = ("average_error", "mCE", "relative_mCE", "clean_error")
    text = write_results(rows, folder, title="Robustness: paired against the Adam parent",
                         command=command, baseline="adam", metrics=metrics,
                         lower_is_better=metrics, notes=notes)
    text += f"\n## Error and CE per corruption (%), mean ± std over seeds\n\n{table}"
    with open(os.path.join(folder, "results.md"), "w") as fh:
        fh.write(text)
    plot_corruption_errors(errors, os.path.join(folder, "plots", "corruption_errors.png"),
                           models=models)
    return text


def main(argv: list[str] | None = None) -> int:
    quiet_evotorch()  # before EvoTorch is imported
    parser = build_parser()
    args = parse_args(parser, argv)
    check_args(args, parser)
    from neuro_de.experiment import check_run_arguments, load_data, run_recipe

    check_run_arguments(args, parser)  # device, paths, sizes: before data and training
    import pandas as pd

    from neuro_de.robustness import robustness_errors

    splits, info = load_data(args)
    try:  # a released folder's layout is checked before any training
        sets = corrupted_sets(args, splits.test, info)
    except (ValueError, OSError) as err:
        if args.released_root is None:
            raise
        parser.error(f"--released-root: {err}")
    errors: list = []
    reference: list[str] = []

    def run_seed(run: SeedRun) -> tuple[list[dict], dict]:
        rows, logs, nets = contenders(run)
        reference[:] = [reference_network(run, nets)]
        if run.is_main:
            errors.append(robustness_errors(nets, sets, clean=splits.test, device=args.device,
                                            seed=run.seed))
        return rows, logs

    given = list(argv) if argv is not None else sys.argv[1:]
    command = "python recipes/robustness.py " + " ".join(given)
    source = (f"the released MNIST-C under {args.released_root}" if args.released_root else
              f"MNIST-C generated by neuro_de.robustness (corruption seed "
              f"{args.corruption_seed}, severities "
              f"{args.severities or 'as released'})")
    notes = (f"{args.model} on {args.dataset}; corrupted test sets: {source}; CE and mCE "
             f"normalised by {args.reference} trained with Adam (same seed and options); "
             f"population: the last {args.popsize} of {args.epochs} Adam epochs; "
             f"{args.generations} generations; winners chosen on a held-out split of the "
             "training data; the test set (clean and corrupted) is read only for the report.")
    code = run_recipe(args, argv, run_seed, recipe="robustness", data=(splits, info),
                      title=f"{args.model} on {args.dataset}: clean test top-1 of the "
                            "contenders of the robustness run",
                      baseline="adam", notes=notes)
    if code != 0 or not errors:
        return code
    text = write_robustness(pd.concat(errors, ignore_index=True), args.out,
                            reference=reference[0], command=command.strip(), notes=notes)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
