"""The recipes run end to end at a tiny size and reject bad options early."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


TINY = ["--dataset", "digits", "--seeds", "2", "--epochs", "6", "--popsize", "6",
        "--generations", "4", "--batch-size", "64", "--generations-per-batch", "2",
        "--train-limit", "300", "--model", "lenet1", "--no-progress"]


def test_lenet_mnist_tiny_run_on_bundled_digits(tmp_path, capsys):
    recipe = load_recipe("lenet_mnist")
    assert recipe.main([*TINY, "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "results.csv")
    assert [(r["method"], r["seed"]) for r in rows] == [
        (m, s) for s in ("0", "1") for m in ("adam", "DE", "SAShadeTriEnsin")
    ]
    for r in rows:
        assert 0.0 <= float(r["top1"]) <= float(r["top5"]) <= 100.0
    md = (tmp_path / "results.md").read_text()
    assert "paired against `adam`" in md and "Wilcoxon p" in md
    for method in ("DE", "SAShadeTriEnsin"):
        for seed in (0, 1):
            log = read_rows(tmp_path / f"log_{method}_seed{seed}.csv")
            assert len(log) == 4 and "pop_best_eval" in log[0] and "success_rate" in log[0]
    assert "seed 1: test top-1" in capsys.readouterr().out
    assert (tmp_path / "plots" / "all_loss_accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_lenet_mnist_help_lists_every_option():
    out = subprocess.run([sys.executable, str(RECIPES / "lenet_mnist.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    parser = load_recipe("lenet_mnist").build_parser()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--popsize", "4"], "--popsize must be >= 6"),
        (["--epochs", "6", "--popsize", "8"], "must be >= --popsize"),
        (["--de-F", "0"], "--de-F must be in"),
        (["--de-CR", "1.5"], "--de-CR must be in"),
        (["--heldout-fraction", "1"], "--heldout-fraction must be in"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--seeds", "0"], "must be an integer >= 1"),
        (["--model", "vgg"], "invalid choice"),
    ],
)
def test_lenet_mnist_rejects_bad_options(argv, message, capsys):
    recipe = load_recipe("lenet_mnist")
    with pytest.raises(SystemExit) as exc:
        recipe.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_lenet_mnist_needs_a_data_root_for_fashion_mnist(monkeypatch, capsys):
    monkeypatch.delenv("NEURO_DE_DATA", raising=False)
    with pytest.raises(SystemExit):
        load_recipe("lenet_mnist").main(["--dataset", "fashion-mnist"])
    assert "needs --data-root" in capsys.readouterr().err


def test_lenet_mnist_defaults_to_the_bundled_real_mnist():
    args = load_recipe("lenet_mnist").build_parser().parse_args([])
    assert (args.dataset, args.model, args.data_root) == ("mnist", "lenet5", None)
    assert args.seeds >= 3 and args.epochs >= args.popsize


def test_lenet_mnist_missing_data_root_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        load_recipe("lenet_mnist").main(
            ["--dataset", "mnist", "--data-root", str(tmp_path / "nowhere"), "--no-progress"]
        )


@pytest.mark.data
def test_lenet_mnist_short_real_mnist_run_not_below_adam(mnist_root, tmp_path):
    """On real MNIST, the evolved LeNet-5 is not worse on the test set than its Adam parent."""
    recipe = load_recipe("lenet_mnist")
    argv = ["--dataset", "mnist", "--data-root", mnist_root, "--model", "lenet5",
            "--seeds", "1", "--epochs", "6", "--popsize", "6", "--generations", "30",
            "--train-limit", "6000", "--methods", "DE", "--no-progress", "--out", str(tmp_path)]
    assert recipe.main(argv) == 0
    top1 = {r["method"]: float(r["top1"]) for r in read_rows(tmp_path / "results.csv")}
    assert top1["adam"] > 90.0  # a real, trained LeNet-5
    assert top1["DE"] >= top1["adam"]


def test_compare_tiny_run_writes_every_method_and_plots(tmp_path):
    recipe = load_recipe("compare")
    argv = [*TINY, "--seeds", "1", "--out", str(tmp_path)]
    assert recipe.main(argv) == 0
    rows = read_rows(tmp_path / "results.csv")
    assert [r["method"] for r in rows] == ["adam", *recipe.METHODS]
    for r in rows:
        assert 0.0 <= float(r["top1"]) <= float(r["top5"]) <= 100.0
    # the greedy soup never does worse on held-out data than its best ingredient, and the
    # best individual is a member of the population
    assert 0 <= int(rows[1]["member"]) < 6 and 1 <= int(rows[5]["ingredients"]) <= 6
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    for expected in ("SAShadeTriEnsin_loss_accuracy.png", "SAShadeTriEnsin_diversity.png",
                     "SAShadeTriEnsin_strategy_parameters.png",
                     "SAShadeTriEnsin_strategy_dynamics.png", "PSO_pso_swarm.png"):
        assert expected in names
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fge-lr-min", "0.1", "--fge-lr-max", "0.01"], "FGE needs 0 < --fge-lr-min"),
        (["--methods", "SWA2"], "invalid choice"),
        (["--F-range", "0.3", "0.1"], "--F-range needs 0 <= LOW <= HIGH"),
        (["--resume"], "--resume needs --checkpoint-dir"),
    ],
)
def test_compare_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        load_recipe("compare").main(argv)
    assert message in capsys.readouterr().err


def test_ablation_tiny_run_has_every_table3_row(tmp_path):
    recipe = load_recipe("ablation")
    assert recipe.main([*TINY, "--seeds", "1", "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "results.csv")
    assert [r["method"] for r in rows] == ["adam", *recipe.ROWS]
    for name in recipe.ROWS:
        log = read_rows(tmp_path / f"log_{name}_seed0.csv")
        assert len(log) == 4
    # the ablation switches reach the algorithm: SaDE has no trigonometric strategy, the
    # full algorithm does
    assert "p/trig" not in read_rows(tmp_path / "log_SaDE_seed0.csv")[0]
    assert "p/trig" in read_rows(tmp_path / "log_+Sin-F_seed0.csv")[0]
    assert (tmp_path / "plots" / "all_strategy_dynamics.png").stat().st_size > 1000


def test_sweeps_tiny_run_names_each_setting(tmp_path):
    recipe = load_recipe("sweeps")
    argv = [*TINY, "--seeds", "1", "--epochs", "8", "--popsizes", "6", "8",
            "--batch-sizes", "32", "64", "--out", str(tmp_path)]
    assert recipe.main(argv) == 0
    methods = [r["method"] for r in read_rows(tmp_path / "results.csv")]
    assert methods == ["adam", "popsize=6", "popsize=8", "batch=32", "batch=64",
                       "init=fine-tuned", "init=noise"]
    assert (tmp_path / "plots" / "init=noise_diversity.png").stat().st_size > 1000


def test_sweeps_rejects_popsizes_beyond_epochs(capsys):
    with pytest.raises(SystemExit):
        load_recipe("sweeps").main(["--epochs", "10", "--popsizes", "6", "20"])
    assert "must be >= the largest of --popsizes" in capsys.readouterr().err


@pytest.mark.parametrize("split", ["population", "batch"])
def test_lenet_mnist_under_torchrun_equals_single_process(split, tmp_path):
    """Two gloo ranks with --distributed give the single process's results; only rank 0
    writes."""
    argv = ["--seeds", "1", "--epochs", "6", "--popsize", "6", "--generations", "6",
            "--batch-size", "64", "--generations-per-batch", "3", "--train-limit", "300",
            "--model", "lenet1", "--no-progress", "--threads", "1"]
    script = str(RECIPES / "lenet_mnist.py")
    single = subprocess.run([sys.executable, script, *argv, "--out", str(tmp_path / "one")],
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         script, *argv, "--distributed", split, "--out", str(tmp_path / "two")],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("seed 0: test top-1") == 1  # rank 1 stays silent
    one = read_rows(tmp_path / "one" / "results.csv")
    two = read_rows(tmp_path / "two" / "results.csv")
    assert [r["method"] for r in two] == [r["method"] for r in one]
    for a, b in zip(one, two, strict=True):
        assert float(a["top1"]) == pytest.approx(float(b["top1"]), abs=1e-9)
        assert float(a["test_loss"]) == pytest.approx(float(b["test_loss"]), rel=1e-5)
    log_one = read_rows(tmp_path / "one" / "log_SAShadeTriEnsin_seed0.csv")
    log_two = read_rows(tmp_path / "two" / "log_SAShadeTriEnsin_seed0.csv")
    for a, b in zip(log_one, log_two, strict=True):
        assert float(a["pop_best_eval"]) == pytest.approx(float(b["pop_best_eval"]), rel=1e-5)


def test_searcher_factory_knows_every_method_the_recipes_pass():
    from neuro_de.experiment import SEARCHERS, searcher_factory

    passed = {*load_recipe("lenet_mnist").METHODS, *load_recipe("compare").EVOLVED,
              *load_recipe("resnet_imagenet").METHODS, "DE", "SAShadeTriEnsin"}  # + ablation
    assert passed <= set(SEARCHERS)
    args = load_recipe("lenet_mnist").build_parser().parse_args([])
    for method in SEARCHERS:
        assert callable(searcher_factory(method, args))
    assert callable(searcher_factory("SAShadeTriEnsin", args, sinusoidal=False))


def test_searcher_factory_rejects_an_unknown_method_naming_the_known_ones():
    from neuro_de.experiment import searcher_factory

    args = load_recipe("lenet_mnist").build_parser().parse_args([])
    with pytest.raises(ValueError, match=r"unknown method 'SHADE'.*'DE', 'PSO', "
                                         r"'SAShadeTriEnsin'"):
        searcher_factory("SHADE", args)
    with pytest.raises(ValueError, match=r"sinusoidal apply to 'SAShadeTriEnsin' only, "
                                         r"not to 'DE'"):
        searcher_factory("DE", args, sinusoidal=False)


def test_common_arguments_without_the_lenet_data_and_adam_options():
    """What a recipe with its own data and first population (the ResNet one) gets: the
    shared options with its defaults, checked without the LeNet-only checks."""
    import argparse

    from neuro_de.experiment import add_common_arguments, check_common_arguments

    p = add_common_arguments(argparse.ArgumentParser(), out="runs/x", seeds=1,
                             generations=200, batch_size=2048, heldout_fraction=0.01,
                             device="cuda", data_and_pretraining=False)
    args = p.parse_args([])
    for name in ("dataset", "data_root", "download", "model", "epochs", "lr",
                 "train_batch_size", "train_limit"):
        assert name not in args
    assert (args.seeds, args.generations, args.batch_size, args.heldout_fraction,
            args.device, args.out) == (1, 200, 2048, 0.01, "cuda", "runs/x")
    check_common_arguments(args, p)  # no LeNet check trips over the missing options
    with pytest.raises(SystemExit):
        check_common_arguments(p.parse_args(["--popsize", "4"]), p)
