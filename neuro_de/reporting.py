"""Result tables and honest statistics for recipes: mean ± std over seeds and paired comparisons.

Every comparison is *paired*: a method and the baseline are run on the same seeds, and the
statistics are computed on the per-seed differences ``d_i = a_i - b_i`` (``i = 1 .. n``).
With ``mean`` = d̄, ``sd`` = the sample standard deviation of ``d`` (``ddof=1``) and
``se = sd / sqrt(n)``:

- **t-interval**: ``d̄ ± t_{(1+c)/2, n-1} * se`` for confidence ``c`` (0.95 by default).
- **paired bootstrap interval**: resample the ``n`` differences with replacement ``n_boot``
  times (10,000, ``numpy.random.default_rng(seed)``, seed 0), and take the ``(1-c)/2`` and
  ``(1+c)/2`` percentiles of the resampled means (the percentile method). Deterministic for a
  given seed. With few seeds it is narrower than the t-interval (it cannot reach beyond the
  smallest and largest difference), so read both.
- **paired t-test**: ``t = d̄ / se`` on ``n - 1`` degrees of freedom, two-sided
  ``p = 2 * P(T_{n-1} >= |t|)``.
- **sign count**: how many seeds are better (``d > 0`` when higher is better), worse, and tied
  (``d == 0``), exactly.
- **Cohen's d_z**: ``d̄ / sd``, the standardised mean difference of paired samples.
- **Wilcoxon signed-rank test**: zero differences are dropped (Wilcoxon's convention), the
  remaining ``m`` absolute differences are ranked (mid-ranks for ties) and ``W+`` is the sum of
  the ranks of the positive ones. Its two-sided p-value is exact: the null distribution of
  ``W+`` over all ``2^m`` sign assignments is counted (for ``m <= 50``; a normal
  approximation beyond). The smallest p it can ever give is ``2 / 2^m`` (all signs equal), so
  with ``m < 6`` it cannot go below 0.05 (``m = 5``: 0.0625) whatever the data; it is then not
  reported (``NaN``, and the table says ``n/a (n<6)``) rather than printed as a p-value that
  only reflects the number of seeds.

Differences closer to each other (or to 0) than ``1e-9 * max(|values|, 1)`` count as equal,
for the signs, ties and ranks and for "no spread": float round-off, not data.

Degenerate cases are named in words (the ``note`` item and the tables), never printed as
``nan``: differences that are zero on every seed ("identical on every seed"), the same
non-zero difference on every seed ("same difference on every seed": no spread, so no t-test
or d_z), a single pair, no common seeds, non-finite values.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "comparison_cells",
    "markdown_table",
    "paired_test",
    "summarise",
    "wilcoxon_min_n",
    "wilcoxon_signed_rank",
    "write_results",
]

#: Words used in ``note`` and the tables for the degenerate cases.
IDENTICAL = "identical on every seed"
CONSTANT = "same difference on every seed"
ONE_PAIR = "one seed: no spread"
NO_PAIRS = "no common seeds"
NON_FINITE = "non-finite values"

_EXACT_WILCOXON_MAX = 50
_ROUND_OFF = 1e-9  # relative: differences closer than this count as equal


def wilcoxon_min_n(alpha: float = 0.05) -> int:
    """The fewest non-zero differences with which the two-sided Wilcoxon signed-rank test can
    give ``p < alpha``: the smallest ``m`` with ``2 / 2^m < alpha`` (6 for ``alpha = 0.05``).

    Args:
        alpha: The significance level, in (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha!r}.")
    m = 1
    while 2.0 ** (1 - m) >= alpha:
        m += 1
    return m


def wilcoxon_signed_rank(d: Sequence[float]) -> dict[str, Any]:
    """Two-sided Wilcoxon signed-rank test of the differences ``d`` (exact for m <= 50).

    Zero differences are discarded; the ``m`` others are ranked by ``|d|`` with mid-ranks for
    ties, and ``W+ = sum of the ranks of the positive differences``. Under the null hypothesis
    (differences symmetric about 0) each sign is + or - with probability 1/2 independently, so
    ``W+`` is distributed as the sum of a random subset of the ranks. That distribution is
    counted exactly (doubled ranks are integers; one pass per rank over the possible sums)
    and ``p = P(|W+ - S/2| >= |w+ - S/2|)`` with ``S`` the sum of all ranks. This equals the
    classic exact test without ties and is the exact conditional (permutation) test with
    ties. For ``m > 50`` SciPy's normal approximation (tie-corrected) is used.

    Args:
        d: The paired differences.

    Returns:
        ``{"p": p-value (NaN if m == 0), "m": number of non-zero differences,
        "w_plus": W+, "min_p": 2 / 2^m (the smallest p attainable with m differences),
        "method": "exact" or "normal approximation"}``.
    """
    from scipy import stats

    d = np.asarray(d, dtype=float)
    nz = d[d != 0]
    m = int(nz.size)
    if m == 0:
        return {"p": math.nan, "m": 0, "w_plus": math.nan, "min_p": 1.0, "method": "exact"}
    ranks2 = np.rint(2 * stats.rankdata(np.abs(nz))).astype(np.int64)  # mid-ranks x 2
    w2 = int(ranks2[nz > 0].sum())
    total2 = int(ranks2.sum())
    out = {"m": m, "w_plus": w2 / 2, "min_p": min(1.0, 2.0 ** (1 - m))}
    if m > _EXACT_WILCOXON_MAX:
        res = stats.wilcoxon(nz, method="asymptotic")
        out.update(p=float(res.pvalue), method="normal approximation")
        return out
    counts = np.zeros(total2 + 1, dtype=float)  # exact up to 2^53 > 2^50
    counts[0] = 1.0
    for r in ranks2:
        counts[r:] = counts[r:] + counts[: total2 + 1 - r].copy()
    sums = np.arange(total2 + 1)
    observed = abs(2 * w2 - total2)
    extreme = np.abs(2 * sums - total2) >= observed
    out.update(p=float(min(1.0, counts[extreme].sum() / 2.0**m)), method="exact")
    return out


def paired_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """Paired comparison of ``a`` against ``b`` (same seeds, same order): ``d = a - b``.

    See the module docstring for the formulas. Undefined statistics are ``NaN`` and ``note``
    says why in words.

    Args:
        a: The method's value per seed.
        b: The baseline's value per seed, in the same seed order.
        confidence: Confidence level of both intervals.
        n_boot: Bootstrap resamples.
        seed: Seed of ``numpy.random.default_rng`` for the bootstrap (deterministic).
        higher_is_better: Whether ``d > 0`` counts as better (accuracy) or worse (loss).

    Returns:
        A dict with ``n`` (pairs), ``mean_diff``, ``std_diff`` (sd of ``d``, ``ddof=1``),
        ``ci_low``/``ci_high`` (t-interval), ``boot_low``/``boot_high`` (percentile
        bootstrap), ``t_p`` (two-sided paired t-test), ``n_better``/``n_worse``/``n_tied``,
        ``d_z`` (Cohen's d_z), ``wilcoxon_p`` (``NaN`` unless ``2/2^m < 1 - confidence``, with
        ``m`` the non-zero differences: 6 or more at 95 %), ``wilcoxon_n`` (``m``),
        ``wilcoxon_min_p`` (``2/2^m``), ``confidence`` and ``note`` (``""`` or the words for a
        degenerate case).

    Raises:
        ValueError: ``a`` and ``b`` differ in length, or ``confidence`` is not in (0, 1).
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}.")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Paired samples differ in length: {a.shape} vs {b.shape}.")
    d = (a - b).ravel()
    n = int(d.size)
    nan = math.nan
    out: dict[str, Any] = {
        "n": n, "mean_diff": nan, "std_diff": nan, "ci_low": nan, "ci_high": nan,
        "boot_low": nan, "boot_high": nan, "t_p": nan, "n_better": 0, "n_worse": 0,
        "n_tied": 0, "d_z": nan, "wilcoxon_p": nan, "wilcoxon_n": 0, "wilcoxon_min_p": nan,
        "confidence": confidence, "note": "",
    }
    if n == 0:
        out["note"] = NO_PAIRS
        return out
    if not np.all(np.isfinite(d)):
        out["note"] = NON_FINITE
        return out
    # Accuracies of the same networks on the same test set are exact multiples of 1/N, but
    # their float differences can differ by round-off (98.4 - 98.3 != 98.2 - 98.1): the
    # differences are snapped to a grid of 1e-9 * max(|values|, 1) for ties and signs.
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1.0)
    grid = _ROUND_OFF * scale
    snapped = np.round(d / grid) * grid
    sign = 1 if higher_is_better else -1
    out.update(n_better=int(np.sum(sign * snapped > 0)), n_worse=int(np.sum(sign * snapped < 0)),
               n_tied=int(np.sum(snapped == 0)))
    mean = float(d.mean())
    out["mean_diff"] = mean
    if out["n_tied"] == n:
        out.update(std_diff=0.0 if n > 1 else nan, ci_low=0.0, ci_high=0.0, boot_low=0.0,
                   boot_high=0.0, wilcoxon_n=0, wilcoxon_min_p=1.0, note=IDENTICAL)
        return out
    if n == 1:
        out["note"] = ONE_PAIR
        return out
    sd = float(d.std(ddof=1))
    if sd <= grid:  # a spread of round-off only
        sd = 0.0
    out["std_diff"] = sd
    lo_q, hi_q = (1 - confidence) / 2, (1 + confidence) / 2
    half = float(stats.t.ppf(hi_q, n - 1)) * sd / math.sqrt(n)
    out.update(ci_low=mean - half, ci_high=mean + half)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    # clipped: the mean of n equal draws can differ from the draw by round-off
    boot = np.clip(np.percentile(means, [100 * lo_q, 100 * hi_q]), d.min(), d.max())
    out.update(boot_low=float(boot[0]), boot_high=float(boot[1]))
    if sd == 0.0:
        out["note"] = CONSTANT
    else:
        t = mean / (sd / math.sqrt(n))
        out["t_p"] = float(min(1.0, 2 * stats.t.sf(abs(t), n - 1)))
        out["d_z"] = mean / sd
    w = wilcoxon_signed_rank(snapped)
    out.update(wilcoxon_n=w["m"], wilcoxon_min_p=w["min_p"])
    if w["min_p"] < 1 - confidence:
        out["wilcoxon_p"] = w["p"]
    return out


def summarise(
    rows: Iterable[Mapping],
    *,
    metric: str = "top1",
    baseline: str | None = None,
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> list[dict]:
    """One line per method: mean ± std of ``metric`` over seeds, and (when ``baseline`` names
    a method) the paired comparison with it on their common seeds.

    Args:
        rows: Result rows with ``method``, ``seed`` and ``metric`` items.
        metric: The column to summarise.
        baseline: The method every other method is paired against, or ``None``.
        higher_is_better: Direction of ``metric`` (for the sign count).
        confidence: Confidence level of the intervals.

    Returns:
        Per method, in order of first appearance: ``method``, ``n`` (seeds), ``mean``,
        ``std`` (``ddof=1``; NaN for one seed) and, for the non-baseline methods, ``pairs``
        (common seeds), ``diff`` and ``diff_std`` (mean and sd of the differences), ``t_p``,
        ``wilcoxon_p`` and every other item of :func:`paired_test` (``ci_low``,
        ``ci_high``, ``boot_low``, ``boot_high``, ``n_better``, ``n_worse``, ``n_tied``,
        ``d_z``, ``wilcoxon_n``, ``wilcoxon_min_p``, ``confidence``, ``note``).
    """
    rows = list(rows)
    methods: list[str] = []
    for r in rows:
        if r["method"] not in methods:
            methods.append(r["method"])
    by = {m: {int(r["seed"]): float(r[metric]) for r in rows if r["method"] == m} for m in methods}
    out = []
    for m in methods:
        vals = np.array(list(by[m].values()))
        line: dict[str, Any] = {
            "method": m,
            "n": len(vals),
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
        }
        if baseline is not None and baseline in by and m != baseline:
            seeds = sorted(set(by[m]) & set(by[baseline]))
            test = paired_test([by[m][s] for s in seeds], [by[baseline][s] for s in seeds],
                               higher_is_better=higher_is_better, confidence=confidence)
            line.update({"pairs": test["n"], "diff": test["mean_diff"],
                         "diff_std": test["std_diff"]})
            line.update({k: v for k, v in test.items() if k not in ("n", "mean_diff", "std_diff")})
        out.append(line)
    return out


def _fmt(x, digits: int = 2) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    return text.replace("-", "+", 1) if float(text) == 0 else text  # no "-0.00"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def comparison_cells(test: Mapping[str, Any], *, digits: int = 2) -> dict[str, str]:
    """The table cells of one paired comparison (a :func:`paired_test` result, or a line of
    :func:`summarise` with ``diff``/``diff_std``/``pairs``), with words for undefined values.

    Args:
        test: The comparison.
        digits: Decimals of the differences and intervals.

    Returns:
        ``{"diff", "ci_t", "ci_boot", "better", "d_z", "t_p", "wilcoxon_p"}`` as strings:
        ``diff`` is ``mean ± sd`` of the differences, the intervals ``[low, high]``,
        ``better`` ``"k of n better"`` with ties and losses named, the p-values with 3
        decimals (``<0.001`` below), ``n/a (...)`` where a value is undefined.
    """
    mean = test.get("mean_diff", test.get("diff", math.nan))
    sd = test.get("std_diff", test.get("diff_std", math.nan))
    n = int(test["pairs"] if "pairs" in test else test["n"])
    note = test.get("note", "")
    better = f"{test['n_better']} of {n} better"
    extra = [f"{k} {word}" for k, word in ((test["n_tied"], "tied"), (test["n_worse"], "worse"))
             if k]
    if extra:
        better += " (" + ", ".join(extra) + ")"
    if note in (NO_PAIRS, NON_FINITE, IDENTICAL, ONE_PAIR):
        # the words go in the diff cell; the statistics it leaves undefined read "n/a"
        diff = {NO_PAIRS: f"n/a ({NO_PAIRS})", NON_FINITE: f"n/a ({NON_FINITE})",
                IDENTICAL: f"{_signed(0.0, digits)} ({IDENTICAL})",
                ONE_PAIR: f"{_signed(mean, digits)} (1 seed)"}[note]
        return {"diff": diff, "ci_t": "n/a", "ci_boot": "n/a",
                "better": "n/a" if note == NO_PAIRS else better, "d_z": "n/a", "t_p": "n/a",
                "wilcoxon_p": "n/a"}

    def interval(lo: float, hi: float) -> str:
        return f"[{_signed(lo, digits)}, {_signed(hi, digits)}]"

    cells = {
        "diff": f"{_signed(mean, digits)} ± {sd:.{digits}f}",
        "ci_t": interval(test["ci_low"], test["ci_high"]),
        "ci_boot": interval(test["boot_low"], test["boot_high"]),
        "better": better,
        "d_z": f"{test['d_z']:.2f}",
        "t_p": _p(test["t_p"]) if not math.isnan(test["t_p"]) else "",
        "wilcoxon_p": "",
    }
    if note == CONSTANT:
        cells["diff"] = f"{_signed(mean, digits)} ({CONSTANT})"
        cells["d_z"] = cells["t_p"] = "n/a (no spread)"
    m = int(test["wilcoxon_n"])
    need = wilcoxon_min_n(1 - test.get("confidence", 0.95))
    if not math.isnan(test["wilcoxon_p"]):
        cells["wilcoxon_p"] = _p(test["wilcoxon_p"])
    elif m == n:
        cells["wilcoxon_p"] = f"n/a (n<{need}: p >= {test['wilcoxon_min_p']:.3g})"
    else:
        cells["wilcoxon_p"] = (f"n/a ({m} non-zero differences <{need}: "
                               f"p >= {test['wilcoxon_min_p']:.3g})")
    return cells


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of ``rows`` (floats with 4 decimals, strings as they are)."""
    if not rows:
        return "(no rows)\n"
    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, ""), 4) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _legend(baseline: str, confidence: float, n_boot: int) -> str:
    c = f"{100 * confidence:g}%"
    need = wilcoxon_min_n(1 - confidence)
    alpha = f"{1 - confidence:.3g}"
    return (
        f"How to read the comparison columns (per seed, d = method - {baseline}): "
        "*diff* is the mean of d ± its standard deviation; "
        f"*{c} CI (t)* is mean ± t quantile × sd/√n; "
        f"*{c} CI (bootstrap)* is the percentile interval of {n_boot:,} paired resamples "
        "of d (seed 0; narrower than the t-interval with few seeds); "
        "*seeds better* counts seeds with a better value, ties and worse ones named; "
        "*d_z* is Cohen's d_z = mean / sd of d; "
        "*t-test p* is the two-sided paired t-test; "
        f"*Wilcoxon p* is the exact two-sided signed-rank test, given only with {need} or more "
        "non-zero differences: with n of them its smallest possible p is 2/2^n "
        f"({2.0 ** (2 - need):.4g} for n = {need - 1}), so with fewer it could never reach "
        f"{alpha}.\n"
    )


def write_results(
    rows: Sequence[Mapping],
    out_dir: str | os.PathLike,
    *,
    title: str,
    command: str,
    baseline: str | None = None,
    metrics: Sequence[str] = ("top1", "top5"),
    notes: str = "",
    lower_is_better: Sequence[str] = ("loss",),
    confidence: float = 0.95,
) -> str:
    """Write ``results.csv`` (one row per method and seed) and ``results.md`` (per metric a
    summary with mean ± std and the paired comparison against ``baseline``, then the
    per-seed table).

    The summary's columns are ``method``, ``seeds``, the metric (``mean ± std``) and, with a
    baseline, ``diff vs BASELINE``, ``95% CI (t)``, ``95% CI (bootstrap)``, ``seeds
    better``, ``d_z``, ``t-test p`` and ``Wilcoxon p`` (see :func:`comparison_cells`), and a
    paragraph that explains them.

    Args:
        rows: Result rows with ``method``, ``seed`` and the metrics.
        out_dir: Folder to write to (created).
        title: The markdown title.
        command: The command that produced the results, shown verbatim.
        baseline: The method the others are paired against, or ``None``.
        metrics: The columns to summarise.
        notes: A paragraph under the command.
        lower_is_better: Metrics for which a smaller value counts as better.
        confidence: Confidence level of the intervals.

    Returns:
        The markdown text written.
    """
    os.makedirs(out_dir, exist_ok=True)
    rows = list(rows)
    fields: list[str] = []
    for r in rows:
        for k in r:
            if k not in fields:
                fields.append(k)
    tmp = os.path.join(out_dir, "results.csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, os.path.join(out_dir, "results.csv"))

    c = f"{100 * confidence:g}%"
    md = [f"# {title}\n", f"Command: `{command}`\n"]
    if notes:
        md.append(notes.strip() + "\n")
    paired = False
    for metric in metrics:
        summary = summarise(rows, metric=metric, baseline=baseline, confidence=confidence,
                            higher_is_better=metric not in lower_is_better)
        md.append(f"## {metric} (%): mean ± std over seeds"
                  + (f", paired against `{baseline}`" if baseline else "") + "\n")
        table = []
        for s in summary:
            spread = f" ± {s['std']:.2f}" if s["n"] > 1 else " (1 seed)"
            line = {"method": s["method"], "seeds": s["n"], metric: f"{s['mean']:.2f}{spread}"}
            if "diff" in s:
                paired = True
                cells = comparison_cells(s)
                line.update({
                    "diff vs " + baseline: cells["diff"],
                    f"{c} CI (t)": cells["ci_t"],
                    f"{c} CI (bootstrap)": cells["ci_boot"],
                    "seeds better": cells["better"],
                    "d_z": cells["d_z"],
                    "t-test p": cells["t_p"],
                    "Wilcoxon p": cells["wilcoxon_p"],
                })
            elif baseline is not None and s["method"] == baseline:
                line["diff vs " + baseline] = "(baseline)"
            table.append(line)
        md.append(markdown_table(table))
    if paired:
        md.append(_legend(baseline, confidence, 10_000))
    md.append("## Per seed\n")
    md.append(markdown_table(rows))
    text = "\n".join(md)
    tmp = os.path.join(out_dir, "results.md.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, os.path.join(out_dir, "results.md"))
    return text
