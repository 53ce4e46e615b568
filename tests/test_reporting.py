"""Result tables and paired statistics used by every recipe."""

from __future__ import annotations

import csv
import math

import pytest
from scipy import stats

from neuro_de.reporting import markdown_table, paired_test, summarise, write_results

ROWS = [
    {"method": "adam", "seed": 0, "top1": 98.0, "top5": 99.9},
    {"method": "adam", "seed": 1, "top1": 98.2, "top5": 99.8},
    {"method": "adam", "seed": 2, "top1": 98.1, "top5": 99.9},
    {"method": "DE", "seed": 0, "top1": 98.3, "top5": 99.9},
    {"method": "DE", "seed": 1, "top1": 98.3, "top5": 99.9},
    {"method": "DE", "seed": 2, "top1": 98.4, "top5": 99.9},
]


def test_paired_test_matches_scipy():
    a, b = [1.0, 2.0, 3.5, 4.0], [0.5, 2.5, 3.0, 3.0]
    out = paired_test(a, b)
    assert out["n"] == 4
    assert out["mean_diff"] == pytest.approx(0.375)
    assert out["t_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert out["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a, b).pvalue)


def test_paired_test_undefined_cases_are_nan_not_errors():
    same = paired_test([1.0, 2.0], [1.0, 2.0])
    assert same["mean_diff"] == 0.0 and math.isnan(same["t_p"]) and math.isnan(same["wilcoxon_p"])
    one = paired_test([1.0], [0.0])
    assert math.isnan(one["std_diff"]) and math.isnan(one["t_p"])
    with pytest.raises(ValueError, match="differ in length"):
        paired_test([1.0, 2.0], [1.0])


def test_summarise_pairs_by_seed_not_by_order():
    shuffled = [ROWS[i] for i in (5, 0, 3, 2, 4, 1)]
    summary = {s["method"]: s for s in summarise(shuffled, baseline="adam")}
    de = summary["DE"]
    assert de["n"] == 3
    assert de["mean"] == pytest.approx(98.3333333)
    assert de["diff"] == pytest.approx((0.3 + 0.1 + 0.3) / 3)
    expected = stats.ttest_rel([98.3, 98.3, 98.4], [98.0, 98.2, 98.1]).pvalue
    assert de["t_p"] == pytest.approx(expected)
    assert "diff" not in summary["adam"]


def test_markdown_table_uses_union_of_columns():
    text = markdown_table([{"a": 1.0}, {"b": "x"}])
    assert text.splitlines()[0] == "| a | b |"
    assert "| 1.0000 |  |" in text


def test_write_results_writes_csv_and_markdown(tmp_path):
    text = write_results(ROWS, tmp_path, title="T", command="python x.py", baseline="adam")
    with open(tmp_path / "results.csv") as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == len(ROWS) and set(back[0]) == {"method", "seed", "top1", "top5"}
    md = (tmp_path / "results.md").read_text()
    assert md == text
    assert "python x.py" in md and "98.33 ± 0.06" in md and "diff vs adam" in md
    assert not list(tmp_path.glob("*.tmp"))
