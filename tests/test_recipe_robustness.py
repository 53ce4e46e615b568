"""recipes/robustness.py: a smoke run writes its tables and plot; bad options fail early."""

from __future__ import annotations

import numpy as np
import pytest
from recipe_helpers import load_recipe, read_rows

SMOKE = ["--dataset", "digits", "--seeds", "2", "--epochs", "6", "--popsize", "6",
         "--generations", "2", "--batch-size", "64", "--train-limit", "200", "--model",
         "lenet1", "--reference", "lenet5", "--no-progress", "--no-plots"]


def test_smoke_run_writes_table_s4_and_plot(tmp_path, capsys):
    recipe = load_recipe("robustness")
    argv = [*SMOKE, "--methods", "DE", "WA", "--corruptions", "fog", "zigzag", "stripe",
            "--out", str(tmp_path)]
    assert recipe.main(argv) == 0
    folder = tmp_path / "robustness"
    errors = read_rows(folder / "errors.csv")
    models = {"adam", "DE", "WA", "lenet5-adam"}
    assert {r["model"] for r in errors} == models
    assert {r["corruption"] for r in errors} == {"clean", "fog", "zigzag", "stripe"}
    assert {r["seed"] for r in errors} == {"0", "1"}
    assert all(0.0 <= float(r["error"]) <= 1.0 for r in errors)
    summary = read_rows(folder / "summary.csv")
    for r in summary:  # the reference's mCE is 100 % by construction
        if r["model"] == "lenet5-adam":
            assert float(r["mCE"]) == pytest.approx(1.0)
    table = (folder / "table.md").read_text()
    assert "| fog |" in table and "**Average** (error; mCE)" in table
    assert "CE lenet5-adam" in table
    md = (folder / "results.md").read_text()
    assert "## mCE (%): mean ± std over seeds, paired against `adam`" in md
    assert "95% CI (t)" in md and "seeds better" in md
    png = folder / "plots" / "corruption_errors.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the clean results of the contenders, as the other recipes write them
    rows = read_rows(tmp_path / "results.csv")
    assert [r["method"] for r in rows] == ["adam", "DE", "WA"] * 2
    # the corrupted sets are cached once, for every seed
    cached = sorted(p.name for p in (tmp_path / "corrupted" / "mnist-c").iterdir())
    assert len(cached) == 3 and cached[0].startswith("fog-s5-seed0-")
    assert "Robustness: paired against the Adam parent" in capsys.readouterr().out


def test_released_files_are_read_instead_of_generated(tmp_path):
    recipe = load_recipe("robustness")
    root = tmp_path / "mnist_c"
    from neuro_de.data import load_dataset

    n = len(load_dataset("digits", train=False))
    rng = np.random.default_rng(0)
    for name in ("fog", "zigzag"):
        (root / name).mkdir(parents=True)
        np.save(root / name / "test_images.npy",
                rng.integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8))
        np.save(root / name / "test_labels.npy", rng.integers(0, 10, size=n).astype(np.int64))
    argv = [*SMOKE, "--seeds", "1", "--methods", "DE", "--corruptions", "fog", "zigzag",
            "--released-root", str(root), "--out", str(tmp_path / "out")]
    assert recipe.main(argv) == 0
    errors = read_rows(tmp_path / "out" / "robustness" / "errors.csv")
    assert {r["corruption"] for r in errors} == {"clean", "fog", "zigzag"}
    assert not (tmp_path / "out" / "corrupted").exists()  # nothing generated
    # random images and labels: chance-level error
    assert all(float(r["error"]) > 0.6 for r in errors if r["corruption"] != "clean")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corruptions", "snow"], "invalid choice: 'snow'"),
        (["--severities", "0"], "--severities must be integers in 1-5"),
        (["--severities", "2", "2"], "--severities repeats a level"),
        (["--corruptions", "fog", "fog"], "--corruptions names a corruption twice"),
        (["--workers", "-1"], "--workers must be >= 0"),
        (["--corruption-seed", "-3"], "--corruption-seed must be >= 0"),
        (["--released-root", "/no/such/folder"], "--released-root '/no/such/folder' is not"),
        (["--reference", "resnet18"], "invalid choice: 'resnet18'"),
    ],
)
def test_bad_options_are_refused_before_any_work(extra, message, tmp_path, capsys,
                                                  monkeypatch):
    import neuro_de.experiment

    def blocked(*args, **kwargs):
        raise AssertionError("data were loaded before the bad option was refused")

    monkeypatch.setattr(neuro_de.experiment, "load_data", blocked)
    with pytest.raises(SystemExit) as exc:
        load_recipe("robustness").main([*SMOKE, *extra, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_released_root_with_the_wrong_layout_fails_before_training(tmp_path, monkeypatch,
                                                                   capsys):
    import neuro_de.experiment

    def blocked(*args, **kwargs):
        raise AssertionError("training started before the layout was checked")

    monkeypatch.setattr(neuro_de.experiment, "pretrain_population", blocked)
    (tmp_path / "mnist_c" / "fog").mkdir(parents=True)
    np.save(tmp_path / "mnist_c" / "fog" / "test_images.npy", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(SystemExit) as exc:  # the parent folder given: the fix is named
        load_recipe("robustness").main([*SMOKE, "--released-root", str(tmp_path),
                                        "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--released-root:" in err and str(tmp_path / "mnist_c") in err
