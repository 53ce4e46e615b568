"""Configuration in and out: every recipe writes OUT/config.json (resolved options and
provenance) and reads one back with --config FILE, the command line overriding it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from recipe_helpers import load_recipe, read_rows

from neuro_de.options import (
    CONFIG_NAME,
    add_common_arguments,
    parse_args,
    read_config,
    write_config,
)

TINY = ["--dataset", "digits", "--seeds", "1", "--epochs", "6", "--popsize", "6",
        "--generations", "4", "--batch-size", "64", "--generations-per-batch", "2",
        "--train-limit", "300", "--model", "lenet1", "--no-progress", "--no-plots"]


def plain(args: argparse.Namespace) -> dict:
    """The options as JSON gives them back (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}


def parser_with_choice() -> argparse.ArgumentParser:
    """The shared options plus a required one-of group, as the ResNet recipe has."""
    p = add_common_arguments(argparse.ArgumentParser(prog="recipe"), out="runs/x")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", default=None)
    src.add_argument("--random-init", action="store_true")
    return p


def saved(tmp_path: Path, argv: list[str], **edits) -> Path:
    """The config.json of ``argv`` parsed by :func:`parser_with_choice`, with ``edits``."""
    args = parse_args(parser_with_choice(), argv)
    path = Path(write_config(tmp_path, {**vars(args), **edits}, provenance={"note": "x"}))
    return path


# --------------------------------------------------------------------------- the file


def test_write_config_is_atomic_sorted_json_with_provenance_last(tmp_path):
    path = write_config(tmp_path / "out", {"seeds": 3, "F_range": (0.0, 0.2), "out": "o"},
                        provenance={"git_commit": None})
    assert path == str(tmp_path / "out" / CONFIG_NAME)
    data = json.loads(Path(path).read_text())
    assert list(data) == ["F_range", "out", "seeds", "provenance"]
    assert data["F_range"] == [0.0, 0.2] and data["provenance"] == {"git_commit": None}
    assert [p.name for p in (tmp_path / "out").iterdir()] == [CONFIG_NAME]  # no temp file


def test_options_round_trip_through_the_file(tmp_path):
    argv = ["--seeds", "5", "--F-range", "0.05", "0.15", "--no-plots", "--resume",
            "--checkpoint-dir", "ck", "--weights", "w.pt", "--device", "cuda:1"]
    first = parse_args(parser_with_choice(), argv)
    path = write_config(tmp_path, vars(first), provenance={})
    again = parse_args(parser_with_choice(), ["--config", path])
    assert plain(again) == {**plain(first), "config": path}
    assert again.config == path and again.F_range == [0.05, 0.15] and again.plots is False


def test_command_line_overrides_the_file(tmp_path):
    path = saved(tmp_path, ["--seeds", "5", "--popsize", "12", "--no-plots", "--weights", "w"])
    args = parse_args(parser_with_choice(),
                      ["--config", str(path), "--seeds", "2", "--plots", "--out", "elsewhere"])
    assert (args.seeds, args.popsize, args.plots, args.out) == (2, 12, True, "elsewhere")


def test_a_choice_on_the_command_line_replaces_the_files_choice(tmp_path):
    """--random-init replaces the file's --weights (a one-of group), with no conflict."""
    path = saved(tmp_path, ["--weights", "w.pt"])
    args = parse_args(parser_with_choice(), ["--config", str(path), "--random-init"])
    assert args.random_init is True and args.weights is None
    args = parse_args(parser_with_choice(), ["--config", str(path)])  # the group is satisfied
    assert args.weights == "w.pt" and args.random_init is False


def test_provenance_is_ignored_on_input(tmp_path):
    path = saved(tmp_path, ["--weights", "w"])
    data = json.loads(path.read_text())
    data["provenance"] = {"anything": [1, 2], "seeds": 99}
    path.write_text(json.dumps(data))
    assert parse_args(parser_with_choice(), ["--config", str(path)]).seeds == 3


def test_unknown_keys_are_an_error_naming_them(tmp_path, capsys):
    path = saved(tmp_path, ["--weights", "w"], generatons=7, colour="red")
    with pytest.raises(SystemExit) as exc:
        parse_args(parser_with_choice(), ["--config", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--config {path} has keys that are not options of this recipe" in err
    assert "'generatons' (did you mean 'generations'?)" in err and "'colour'" in err


@pytest.mark.parametrize(
    "edits, message",
    [
        ({"seeds": 0}, "argument --seeds: must be an integer >= 1, got 0"),
        ({"distributed": "ranks"}, "argument --distributed: invalid choice: 'ranks'"),
        ({"plots": "yes"}, "'plots' must be true or false"),
        ({"resume": "maybe"}, "'resume' must be true or false, got \"maybe\""),
        ({"F_range": 0.1}, "'F_range' must be a list of values, got 0.1"),
        ({"seeds": [1, 2]}, "'seeds' takes one value, got the list [1, 2]"),
        ({"weights": "w", "random_init": True}, "not allowed with argument"),
    ],
)
def test_bad_values_in_the_file_name_the_file(tmp_path, capsys, edits, message):
    path = saved(tmp_path, ["--weights", "w"], **edits)
    with pytest.raises(SystemExit) as exc:
        parse_args(parser_with_choice(), ["--config", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--config {path}: " in err and message in err


@pytest.mark.parametrize("text, message", [
    (None, "cannot read it"),
    ("{seeds: 3", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object of options, got list"),
])
def test_unreadable_files_are_refused_clearly(tmp_path, capsys, text, message):
    path = tmp_path / "config.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit):
        read_config(path, parser_with_choice())
    assert message in capsys.readouterr().err


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    from neuro_de.experiment import git_commit

    (tmp_path / "neuro_de").mkdir()
    assert git_commit(tmp_path / "neuro_de") is None
    assert git_commit(tmp_path / "missing") is None


# --------------------------------------------------------------------------- recipes


def test_a_run_repeated_from_its_config_gives_the_same_results(tmp_path):
    """config.json holds every resolved option and the provenance; --config FILE --out OTHER
    gives the same results.csv apart from the timing column."""
    recipe = load_recipe("lenet_mnist")
    first, again = tmp_path / "first", tmp_path / "again"
    assert recipe.main([*TINY, "--out", str(first)]) == 0
    config = json.loads((first / CONFIG_NAME).read_text())
    parser = recipe.build_parser()
    dests = {a.dest for a in parser._actions if a.option_strings and a.dest != "help"}
    assert set(config) == dests | {"provenance"}
    assert (config["dataset"], config["seeds"], config["train_limit"], config["out"]) == (
        "digits", 1, 300, str(first))
    facts = config["provenance"]
    assert set(facts["versions"]) == {"neuro_de", "torch", "torchvision", "evotorch", "numpy",
                                      "python"}
    assert facts["recipe"] == "lenet_mnist" and facts["command"].startswith(
        "python recipes/lenet_mnist.py --dataset digits")
    assert facts["device"] == "cpu" and facts["torch_threads"] == 1
    assert "git_commit" in facts and facts["date_utc"].endswith("+00:00")

    assert recipe.main(["--config", str(first / CONFIG_NAME), "--out", str(again)]) == 0
    rows = [read_rows(d / "results.csv") for d in (first, again)]
    timing = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows[0]] == [
        {k: v for k, v in r.items() if k not in timing} for r in rows[1]]
    repeated = json.loads((again / CONFIG_NAME).read_text())
    assert repeated["config"] == str(first / CONFIG_NAME) and repeated["out"] == str(again)
    same = {k for k in config if k not in ("config", "out", "provenance")}
    assert {k: repeated[k] for k in same} == {k: config[k] for k in same}


def test_sweeps_config_keeps_the_popsize_as_given(tmp_path):
    """The sweeps recipe widens --popsize to the largest of --popsizes internally; its
    config.json keeps the value given, so --config repeats the same run."""
    argv = [*TINY, "--epochs", "8", "--popsizes", "6", "8", "--sweeps", "popsize",
            "--generations", "2", "--out", str(tmp_path)]
    assert load_recipe("sweeps").main(argv) == 0
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config["popsize"] == 6 and config["popsizes"] == [6, 8]
    assert "popsize_main" not in config


@pytest.mark.parametrize("name", ["compare", "ablation", "sweeps", "resnet_imagenet", "robustness",
                                  "ne_sgd", "lamarckian"])
def test_every_recipe_reads_its_options_back(name, tmp_path):
    """Each recipe's parser accepts --config: its default options, written and read back,
    resolve to the same values."""
    recipe = load_recipe(name)
    argv = ["--random-init"] if name == "resnet_imagenet" else []
    args = parse_args(recipe.build_parser(), argv)
    path = write_config(tmp_path, vars(args), provenance={})
    again = parse_args(recipe.build_parser(), ["--config", path])
    assert plain(again) == {**plain(args), "config": path}
