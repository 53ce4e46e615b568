"""The recipes run end to end at a tiny size and reject bad options early."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from recipe_helpers import RECIPES, load_recipe, read_rows

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


ALL_RECIPES = ("lenet_mnist", "compare", "ablation", "sweeps", "resnet_imagenet", "robustness",
               "ne_sgd", "lamarckian")


@pytest.mark.parametrize("name", ALL_RECIPES)
def test_help_is_fast_and_quiet(name):
    """--help parses before any heavy import: well under 2 s (about 0.15 s here), and
    without EvoTorch's torch.jit FutureWarning."""
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, str(RECIPES / f"{name}.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr
    assert seconds < 2.0, f"{name}.py --help took {seconds:.2f} s"
    assert run.stderr == "" and "usage:" in run.stdout


def test_recipes_build_their_parsers_without_torch():
    """The load-independent form of the test above: loading every recipe and printing its
    help imports neither torch nor EvoTorch."""
    code = """
import importlib.util, pathlib, sys
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_parser().format_help()
print(sorted(m for m in ("torch", "evotorch", "numpy", "pandas") if m in sys.modules))
"""
    run = subprocess.run([sys.executable, "-c", code,
                          *(str(RECIPES / f"{name}.py") for name in ALL_RECIPES)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ALL_RECIPES)
def test_every_option_has_help_and_shows_its_default_once(name):
    parser = load_recipe(name).build_parser()
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no help text"
        text = formatter._expand_help(action)
        assert text.count("(default") == 1, f"{action.option_strings}: {text!r}"
        assert "(default: None)" not in text, f"{action.option_strings}: {text!r}"
    out = parser.format_help()
    paper = {"ne_sgd": "Optimizing Deep Neural Networks through Neuroevolution",
             "lamarckian": "Lamarckian Evolution of Convolutional Neural Networks"}.get(
                 name, "Evolving Deep Neural Network's Weights at ImageNet Scale")
    assert paper in " ".join(out.split())
    assert "examples:" in out and f"python recipes/{name}.py --config" in out


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


def test_tensorboard_writes_every_generation_of_every_run(tmp_path):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    argv = [*TINY, "--seeds", "1", "--no-plots", "--out", str(tmp_path / "out"),
            "--tensorboard", str(tb)]
    assert load_recipe("lenet_mnist").main(argv) == 0
    log = read_rows(tmp_path / "out" / "log_SAShadeTriEnsin_seed0.csv")
    for method in ("DE", "SAShadeTriEnsin"):
        acc = EventAccumulator(str(tb / "seed0" / method), size_guidance={"scalars": 0})
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        assert {"pop_best_eval", "success_rate", "diversity", "batch_accuracy_max"} <= tags
        steps = [e.step for e in acc.Scalars("pop_best_eval")]
        assert steps == [1, 2, 3, 4]  # every generation, the last ones flushed too
    values = [e.value for e in acc.Scalars("pop_best_eval")]
    assert values == pytest.approx([float(r["pop_best_eval"]) for r in log], rel=1e-6)


def test_tensorboard_is_refused_early_without_the_package(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(SystemExit) as exc:
        load_recipe("compare").main(["--tensorboard", "tb"])
    assert exc.value.code == 2
    assert "pip install 'neuro_de[tensorboard]'" in capsys.readouterr().err


def test_a_redirected_run_logs_no_bars_warnings_or_evotorch_info(tmp_path):
    """stderr and stdout are pipes here: progress bars are off without --no-progress, and
    neither EvoTorch's INFO lines nor its FutureWarning appear."""
    argv = [a for a in TINY if a != "--no-progress"]
    run = subprocess.run([sys.executable, str(RECIPES / "lenet_mnist.py"), *argv,
                          "--seeds", "1", "--methods", "DE", "--no-plots",
                          "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "INFO" not in run.stdout and "seed 0: test top-1" in run.stdout
