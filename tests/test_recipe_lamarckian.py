"""recipes/lamarckian.py: the three settings in seconds; bad options refused early."""

from __future__ import annotations

import pytest
from recipe_helpers import load_recipe, read_rows, refused_before_loading

pytest.importorskip("mnist1d")

TINY = ["--seeds", "2", "--budget", "4", "--checkpoints", "1", "4", "--final-epochs", "1",
        "--train-limit", "200", "--no-progress"]


def test_tiny_run_writes_table_tests_and_plots(tmp_path):
    assert load_recipe("lamarckian").main([*TINY, "--out", str(tmp_path)]) == 0
    rows = read_rows(tmp_path / "results.csv")
    keys = {(r["setting"], r["seed"], r["checkpoint"]) for r in rows}
    assert keys == {(s, str(k), str(c)) for s in ("wi", "bi", "bii") for k in (0, 1)
                    for c in (1, 4)}
    assert all(0.0 <= float(r["test"]) <= 100.0 for r in rows)
    md = (tmp_path / "results.md").read_text()
    assert "Table 1's shape" in md and "| wi@1 > bi@4 |" in md and "| wi@4 > bii@4 |" in md
    for png in ("best_so_far.png", "blocks.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    log = read_rows(tmp_path / "log_wi_seed0.csv")
    assert float(log[-1]["epochs_used"]) <= 4


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--budget", "3", "--settings", "bii"], "smaller than one evaluation"),
        (["--p-niche", "1.5"], "--p-niche must be in [0, 1]"),
        (["--checkpoints", "9"], "--checkpoints must lie within --budget"),
        (["--resume"], "--resume needs --checkpoint-dir"),
    ],
)
def test_bad_options_are_refused_before_any_work(extra, message, tmp_path, capsys,
                                                  monkeypatch):
    code = refused_before_loading("lamarckian", [*TINY, *extra, "--out", str(tmp_path)],
                                  monkeypatch)
    assert code == 2
    assert message in capsys.readouterr().err
