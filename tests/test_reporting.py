"""Result tables and paired statistics used by every recipe, checked against hand-computed
values (module docstring of ``neuro_de.reporting`` for the formulas)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import stats

from neuro_de.reporting import (
    comparison_cells,
    markdown_table,
    paired_test,
    summarise,
    wilcoxon_min_n,
    wilcoxon_signed_rank,
    write_results,
)

ROWS = [
    {"method": "adam", "seed": 0, "top1": 98.0, "top5": 99.9},
    {"method": "adam", "seed": 1, "top1": 98.2, "top5": 99.8},
    {"method": "adam", "seed": 2, "top1": 98.1, "top5": 99.9},
    {"method": "DE", "seed": 0, "top1": 98.3, "top5": 99.9},
    {"method": "DE", "seed": 1, "top1": 98.3, "top5": 99.9},
    {"method": "DE", "seed": 2, "top1": 98.4, "top5": 99.9},
]


def rows_of(values: dict[str, list[float]], metric: str = "top1") -> list[dict]:
    return [{"method": m, "seed": s, metric: v, "top5": 99.0}
            for m, vals in values.items() for s, v in enumerate(vals)]


# --- paired_test: a 3-seed example computed by hand --------------------------------------

# d = a - b = [1, 2, 3]: mean 2, sd 1, se = 1/sqrt(3), t = 2*sqrt(3) on 2 degrees of freedom.
A3, B3 = [2.0, 3.0, 4.0], [1.0, 1.0, 1.0]


def test_t_interval_by_hand():
    out = paired_test(A3, B3)
    assert out["n"] == 3 and out["mean_diff"] == 2.0 and out["std_diff"] == pytest.approx(1.0)
    # t quantile for df = 2 in closed form: q = (2p - 1) / sqrt(2 p (1 - p)), p = 0.975
    q = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    assert q == pytest.approx(4.302652729, rel=1e-9)
    assert q == pytest.approx(stats.t.ppf(0.975, 2), rel=1e-12)
    half = q / math.sqrt(3)  # 2.48414
    assert out["ci_low"] == pytest.approx(2 - half) and out["ci_high"] == pytest.approx(2 + half)
    assert out["ci_low"] == pytest.approx(-0.484138, abs=1e-6)
    assert out["ci_high"] == pytest.approx(4.484138, abs=1e-6)


def test_t_test_p_and_dz_by_hand():
    out = paired_test(A3, B3)
    # df = 2: P(|T| >= t) = 1 - t / sqrt(t^2 + 2); t^2 = 12, so p = 1 - sqrt(6/7)
    assert out["t_p"] == pytest.approx(1 - math.sqrt(6 / 7), rel=1e-12)
    assert out["t_p"] == pytest.approx(0.0741799, abs=1e-7)
    assert out["t_p"] == pytest.approx(stats.ttest_rel(A3, B3).pvalue, rel=1e-12)
    assert out["d_z"] == pytest.approx(2.0)  # mean 2 / sd 1
    assert (out["n_better"], out["n_worse"], out["n_tied"]) == (3, 0, 0)
    assert out["note"] == ""


def test_bootstrap_interval_by_hand():
    # Resampled means of 3 draws from {1, 2, 3}: P(mean = 1) = P(mean = 3) = 1/27 = 3.7 %,
    # more than 2.5 % (about 370 of 10,000 resamples, sd 19), so the 95 % percentile
    # interval is exactly [1, 3].
    out = paired_test(A3, B3)
    assert (out["boot_low"], out["boot_high"]) == (1.0, 3.0)


def test_bootstrap_is_the_documented_seeded_procedure_and_deterministic():
    rng = np.random.default_rng(7)
    a, b = rng.normal(1, 1, 8), rng.normal(0, 1, 8)
    first, again = paired_test(a, b), paired_test(a, b)
    assert (first["boot_low"], first["boot_high"]) == (again["boot_low"], again["boot_high"])
    d = a - b
    means = d[np.random.default_rng(0).integers(0, 8, size=(10_000, 8))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    assert (first["boot_low"], first["boot_high"]) == (lo, hi)
    other = paired_test(a, b, seed=1)
    assert other["boot_low"] != first["boot_low"]
    assert other["boot_low"] == pytest.approx(first["boot_low"], abs=0.15)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_intervals_contain_the_mean_and_t_matches_scipy(seed, n):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.2, 1, n), rng.normal(0, 1, n)
    out = paired_test(a, b)
    d = a - b
    assert out["ci_low"] < out["mean_diff"] < out["ci_high"]
    assert out["boot_low"] <= out["mean_diff"] <= out["boot_high"]
    assert d.min() <= out["boot_low"] and out["boot_high"] <= d.max()
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert out["t_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    assert out["d_z"] == pytest.approx(d.mean() / d.std(ddof=1))


def test_sign_count_with_ties_and_direction():
    a, b = [1.0, 2.0, 2.0, 5.0], [1.0, 1.0, 3.0, 3.0]  # d = [0, +1, -1, +2]
    up = paired_test(a, b)
    assert (up["n_better"], up["n_worse"], up["n_tied"]) == (2, 1, 1)
    down = paired_test(a, b, higher_is_better=False)  # e.g. a loss
    assert (down["n_better"], down["n_worse"], down["n_tied"]) == (1, 2, 1)
    # mean 0.5, deviations -0.5, 0.5, -1.5, 1.5: sd = sqrt(5/3); d_z = 0.5 / sd
    assert up["std_diff"] == pytest.approx(math.sqrt(5 / 3))
    assert up["d_z"] == pytest.approx(0.5 / math.sqrt(5 / 3)) == pytest.approx(0.387298, 1e-6)
    assert comparison_cells(up)["better"] == "2 of 4 better (1 tied, 1 worse)"
    assert comparison_cells(down)["better"] == "1 of 4 better (1 tied, 2 worse)"


# --- Wilcoxon ----------------------------------------------------------------------------

def test_wilcoxon_min_n():
    assert wilcoxon_min_n(0.05) == 6  # 2/2^5 = 0.0625, 2/2^6 = 0.03125
    assert wilcoxon_min_n(0.01) == 8  # 2/2^7 = 0.0156, 2/2^8 = 0.0078
    with pytest.raises(ValueError, match="alpha"):
        wilcoxon_min_n(0.0)


def test_wilcoxon_only_reported_where_n_allows_p_below_005():
    five = paired_test([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5)  # every seed better
    assert math.isnan(five["wilcoxon_p"]) and five["wilcoxon_n"] == 5
    assert five["wilcoxon_min_p"] == pytest.approx(0.0625)
    assert comparison_cells(five)["wilcoxon_p"] == "n/a (n<6: p >= 0.0625)"
    six = paired_test([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0] * 6)
    assert six["wilcoxon_p"] == pytest.approx(2 / 2**6)  # all signs +: 2 of 64 assignments
    assert six["wilcoxon_p"] == pytest.approx(stats.wilcoxon(range(1, 7), method="exact").pvalue)
    assert comparison_cells(six)["wilcoxon_p"] == "0.031"
    # A zero difference is dropped: 6 seeds but only 5 non-zero differences.
    tie = paired_test([0.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0] * 6)
    assert math.isnan(tie["wilcoxon_p"]) and tie["wilcoxon_n"] == 5
    assert comparison_cells(tie)["wilcoxon_p"] == "n/a (5 non-zero differences <6: p >= 0.0625)"


def test_wilcoxon_exact_with_tied_ranks_by_hand():
    # |d| = 1, 1, 1, 2, 3, 4 -> mid-ranks 2, 2, 2, 4, 5, 6 (sum 21); W+ = 21 - 2 = 19.
    # |W+ - 10.5| >= 8.5 iff W+ >= 19 or W+ <= 2: the negative set has rank sum <= 2
    # ({}, or one of the three 2s) or >= 19 (its mirror): 8 of 2^6 = 64 sign assignments.
    w = wilcoxon_signed_rank([1.0, 1.0, -1.0, 2.0, 3.0, 4.0])
    assert w["w_plus"] == 19 and w["m"] == 6 and w["method"] == "exact"
    assert w["p"] == pytest.approx(8 / 64)


def test_wilcoxon_ranks_round_off_as_ties():
    # The three +0.1 differences differ in their last bits; they share mid-rank 2 as above.
    a = [98.4, 98.2, 98.5, 98.3, 98.4, 98.5]
    b = [98.3, 98.1, 98.4, 98.5, 98.2, 98.1]  # d = .1, .1, .1, -.2, .2, .4 (up to round-off)
    out = paired_test(a, b)
    assert len(set(np.subtract(a, b)[:3])) > 1  # not equal as floats
    assert out["wilcoxon_n"] == 6
    # ranks 2, 2, 2, 4.5, 4.5, 6 (sum 21); W+ = 21 - 4.5 = 16.5; |W+ - 10.5| >= 6 iff the
    # negative set's rank sum is <= 4.5 or >= 16.5: {}, {2} x3, {2,2} x3, {4.5} x2 and their
    # mirrors: 2 * 9 = 18 of 64
    assert out["wilcoxon_p"] == pytest.approx(18 / 64)


@pytest.mark.parametrize("n", [6, 7, 10, 15])
def test_wilcoxon_matches_scipy_exact_without_ties(n):
    d = np.random.default_rng(n).normal(0.4, 1, n)
    assert wilcoxon_signed_rank(d)["p"] == pytest.approx(
        stats.wilcoxon(d, method="exact").pvalue, rel=1e-12)


def test_wilcoxon_large_n_uses_normal_approximation():
    d = np.random.default_rng(0).normal(0.2, 1, 60)
    w = wilcoxon_signed_rank(d)
    assert w["method"] == "normal approximation"
    assert w["p"] == pytest.approx(stats.wilcoxon(d, method="asymptotic").pvalue)


# --- degenerate cases: words, not nan ----------------------------------------------------

def test_identical_results_are_stated_in_words():
    same = paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["note"] == "identical on every seed"
    assert same["mean_diff"] == 0.0 and (same["ci_low"], same["ci_high"]) == (0.0, 0.0)
    assert math.isnan(same["t_p"]) and math.isnan(same["wilcoxon_p"])
    assert (same["n_better"], same["n_tied"]) == (0, 3)
    cells = comparison_cells(same)
    assert cells["diff"] == "+0.00 (identical on every seed)"
    assert cells["better"] == "0 of 3 better (3 tied)"
    assert cells["ci_t"] == cells["t_p"] == cells["wilcoxon_p"] == "n/a"
    assert not any("nan" in c for c in cells.values())


def test_same_difference_on_every_seed_despite_round_off():
    # 98.4 - 98.3 and 98.2 - 98.1 differ in the last bits; no spread, so no t-test or d_z.
    out = paired_test([98.4, 98.2, 98.5], [98.3, 98.1, 98.4])
    assert out["note"] == "same difference on every seed" and out["std_diff"] == 0.0
    assert math.isnan(out["t_p"]) and math.isnan(out["d_z"])
    assert out["ci_low"] == out["ci_high"] == pytest.approx(0.1)
    cells = comparison_cells(out)
    assert cells["diff"] == "+0.10 (same difference on every seed)"
    assert cells["t_p"] == cells["d_z"] == "n/a (no spread)"
    assert cells["better"] == "3 of 3 better"


def test_undefined_cases_are_nan_with_a_note_not_errors():
    one = paired_test([1.0], [0.0])
    assert one["note"] == "one seed: no spread"
    assert math.isnan(one["std_diff"]) and math.isnan(one["t_p"]) and math.isnan(one["ci_low"])
    assert comparison_cells(one)["diff"] == "+1.00 (1 seed)"
    assert comparison_cells(one)["t_p"] == "n/a"
    none = paired_test([], [])
    assert none["note"] == "no common seeds" and math.isnan(none["mean_diff"])
    assert comparison_cells(none)["diff"] == "n/a (no common seeds)"
    bad = paired_test([1.0, math.nan], [0.0, 0.0])
    assert bad["note"] == "non-finite values" and math.isnan(bad["t_p"])
    for out in (one, none, bad):
        assert not any("nan" in c for c in comparison_cells(out).values())
    with pytest.raises(ValueError, match="differ in length"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        paired_test([1.0, 2.0], [1.0, 1.0], confidence=95)


# --- summarise, tables, files ------------------------------------------------------------

def test_summarise_pairs_by_seed_not_by_order():
    shuffled = [ROWS[i] for i in (5, 0, 3, 2, 4, 1)]
    summary = {s["method"]: s for s in summarise(shuffled, baseline="adam")}
    de = summary["DE"]
    assert de["n"] == 3 and de["pairs"] == 3
    assert de["mean"] == pytest.approx(98.3333333)
    assert de["diff"] == pytest.approx((0.3 + 0.1 + 0.3) / 3)
    expected = stats.ttest_rel([98.3, 98.3, 98.4], [98.0, 98.2, 98.1]).pvalue
    assert de["t_p"] == pytest.approx(expected)
    assert (de["n_better"], de["n_tied"]) == (3, 0)
    assert de["ci_low"] < de["diff"] < de["ci_high"]
    assert "diff" not in summary["adam"]


def test_summarise_uses_common_seeds_only():
    rows = rows_of({"adam": [1.0, 2.0, 3.0], "DE": [2.0, 3.0]})
    de = summarise(rows, baseline="adam")[1]
    assert de["n"] == 2 and de["pairs"] == 2 and de["diff"] == 1.0


def test_markdown_table_uses_union_of_columns():
    text = markdown_table([{"a": 1.0}, {"b": "x"}])
    assert text.splitlines()[0] == "| a | b |"
    assert "| 1.0000 |  |" in text


def summary_section(md: str, metric: str = "top1") -> list[str]:
    lines = md.split(f"## {metric} (%)")[1].split("\n## ")[0].splitlines()
    return [line for line in lines if line.startswith("|")]


def test_write_results_writes_csv_and_markdown(tmp_path):
    text = write_results(ROWS, tmp_path, title="T", command="python x.py", baseline="adam")
    with open(tmp_path / "results.csv") as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == len(ROWS) and set(back[0]) == {"method", "seed", "top1", "top5"}
    md = (tmp_path / "results.md").read_text()
    assert md == text
    assert "python x.py" in md and "98.33 ± 0.06" in md and "diff vs adam" in md
    assert "paired against `adam`" in md and "Wilcoxon p" in md
    assert not list(tmp_path.glob("*.tmp"))
    header, _, adam, de = summary_section(md)
    assert header == ("| method | seeds | top1 | diff vs adam | 95% CI (t) | 95% CI (bootstrap) "
                      "| seeds better | d_z | t-test p | Wilcoxon p |")
    assert adam.startswith("| adam | 3 | 98.10 ± 0.10 | (baseline) |")
    # d = [0.3, 0.1, 0.3]: mean 0.2333, sd 0.1155, se 0.0667, t-interval 0.2333 ± 4.3027 * se;
    # t = 3.5 on 2 df: p = 1 - 3.5 / sqrt(3.5^2 + 2) = 0.0728; d_z = 0.2333 / 0.1155 = 2.02;
    # bootstrap: P(all three draws 0.1) = 1/27 > 2.5 %, so the lower end is 0.1
    cells = [c.strip() for c in de.strip("|").split("|")]
    assert cells == ["DE", "3", "98.33 ± 0.06", "+0.23 ± 0.12", "[-0.05, +0.52]",
                     "[+0.10, +0.30]", "3 of 3 better", "2.02", "0.073",
                     "n/a (n<6: p >= 0.25)"]
    assert "How to read" in md and "2/2^n" in md


def test_write_results_identical_methods_never_print_nan(tmp_path):
    rows = rows_of({"adam": [98.37, 98.1, 98.6], "DE": [98.37, 98.1, 98.6]})
    md = write_results(rows, tmp_path, title="T", command="c", baseline="adam")
    summary = "\n".join(summary_section(md) + summary_section(md, "top5"))
    assert "nan" not in summary
    assert "identical on every seed" in summary and "0 of 3 better (3 tied)" in summary


def test_write_results_one_seed_and_lower_is_better(tmp_path):
    rows = rows_of({"adam": [0.30], "DE": [0.25]}, metric="loss")
    md = write_results(rows, tmp_path, title="T", command="c", baseline="adam",
                       metrics=("loss",))
    summary = "\n".join(summary_section(md, "loss"))
    assert "nan" not in summary and "(1 seed)" in summary
    assert "1 of 1 better" in summary  # a lower loss counts as better
