"""recipes/ne_sgd.py: the protocol's arms in seconds, no test-set reads during the searches,
exact resume, and bad options refused before any training."""

from __future__ import annotations

import pytest
from recipe_helpers import load_recipe, read_rows, refused_before_loading
from torch.utils.data import Dataset

TINY = ["--dataset", "digits", "--model", "lenet1", "--seeds", "2", "--pretrain-epochs", "2",
        "--retrain-epochs", "1", "--popsize", "4", "--generations", "2", "--spread-runs", "2",
        "--train-limit", "400", "--no-progress"]


class CountingTest(Dataset):
    """The test split, counting the passes over it (a pass reads its last sample once; the
    first is also read by the scoring's input check)."""

    def __init__(self, data):
        self.data, self.passes = data, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if i == len(self.data) - 1:
            self.passes += 1
        return self.data[i]


def test_tiny_run_writes_every_arm_and_reads_the_test_set_only_for_the_report(
        tmp_path, monkeypatch, capsys):
    recipe = load_recipe("ne_sgd")
    counting = {}
    real_load = recipe.load_data

    def load(args):
        splits, kwargs = real_load(args)
        counting["test"] = CountingTest(splits.test)
        return splits._replace(test=counting["test"]), kwargs

    monkeypatch.setattr(recipe, "load_data", load)
    passes_during_search = []
    for name in ("ga", "random_search", "matched", "pretrain"):
        method = getattr(recipe.SeedArms, name)

        def spy(self, *args, _method=method, **kwargs):
            out = _method(self, *args, **kwargs)
            passes_during_search.append(counting["test"].passes)
            return out

        monkeypatch.setattr(recipe.SeedArms, name, spy)
    assert recipe.main([*TINY, "--out", str(tmp_path)]) == 0
    assert passes_during_search and set(passes_during_search) == {0}
    rows = read_rows(tmp_path / "results.csv")
    arms = ["sgd", "ne-sgd", "ne-sgd-nosup", "random", "sgd-matched"]
    assert [(r["method"], r["seed"]) for r in rows] == [(a, s) for s in "01" for a in arms]
    # one pass per reported network, plus the Table VI runs
    assert counting["test"].passes == len(rows) + 2
    count = 4 + 2 * 4  # m + T * (m rounded up to even): the GA's evaluations
    for r in rows:
        if r["method"] != "sgd":
            assert int(r["evaluations"]) == count
        if r["method"].startswith("ne-sgd") or r["method"] == "random":
            assert len(r["code"]) == 3  # LeNet-1: conv1, conv2, fc
            assert 1 <= int(r["distinct_codes"]) <= count
    md = (tmp_path / "results.md").read_text()
    assert "## NE-SGD against each control" in md
    for control in ("sgd", "ne-sgd-nosup", "random", "sgd-matched"):
        assert f"| {control} | 2 |" in md
    assert "Table VI analogue, 2 runs" in md
    assert len(read_rows(tmp_path / "spread.csv")) == 2
    log = read_rows(tmp_path / "log_ne-sgd_seed0.csv")
    assert len(log) == 2 and {"spread", "mean_eval", "pop_best_eval"} <= set(log[0])
    for png in ("population_accuracy.png", "code_map.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    assert "seed 1: held-out top-1 sgd" in capsys.readouterr().out


def test_resume_repeats_the_run_exactly(tmp_path):
    recipe = load_recipe("ne_sgd")
    argv = [*TINY, "--seeds", "1", "--spread-runs", "0", "--checkpoint-dir",
            str(tmp_path / "ckpt")]
    assert recipe.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert recipe.main([*argv, "--out", str(tmp_path / "b"), "--resume"]) == 0
    first = read_rows(tmp_path / "a" / "results.csv")
    again = read_rows(tmp_path / "b" / "results.csv")
    assert [r["top1"] for r in again] == [r["top1"] for r in first]
    assert [r.get("code") for r in again] == [r.get("code") for r in first]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--popsize", "1"], "--popsize must be >= 2"),
        (["--crossover-probability", "1.5"], "--crossover-probability must be in [0, 1]"),
        (["--mutation-probability", "-0.1"], "--mutation-probability must be in [0, 1]"),
        (["--eta0", "0.05", "--eta1", "0.05"], "needs --eta0 < --eta1"),
        (["--eta0", "0.1", "--eta1", "0.05", "--allow-equal-rates"], "needs --eta0 < --eta1"),
        (["--heldout-fraction", "0"], "--heldout-fraction must be in (0, 1)"),
        (["--model", "conv1d"], "does not fit --dataset digits"),
        (["--resume"], "--resume needs --checkpoint-dir"),
        (["--pretrain-lr", "0"], "--pretrain-lr must be > 0"),
    ],
)
def test_bad_options_are_refused_before_any_work(extra, message, tmp_path, capsys, monkeypatch):
    code = refused_before_loading("ne_sgd", [*TINY, *extra, "--out", str(tmp_path)],
                                  monkeypatch)
    assert code == 2
    assert message in capsys.readouterr().err
