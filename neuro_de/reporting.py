"""Result tables and honest statistics for recipes: mean ± std over seeds and paired tests."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["paired_test", "summarise", "write_results", "markdown_table"]


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Paired comparison of ``a`` against ``b`` (same seeds, same order).

    Returns the mean difference ``a - b``, its standard deviation, the two-sided paired
    t-test p-value and the two-sided Wilcoxon signed-rank p-value (NaN where undefined: fewer
    than 2 pairs, or all differences zero).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Paired samples differ in length: {a.shape} vs {b.shape}.")
    d = a - b
    out = {
        "n": float(len(d)),
        "mean_diff": float(d.mean()) if len(d) else math.nan,
        "std_diff": float(d.std(ddof=1)) if len(d) > 1 else math.nan,
        "t_p": math.nan,
        "wilcoxon_p": math.nan,
    }
    if len(d) > 1 and np.any(d != 0):
        out["t_p"] = float(stats.ttest_rel(a, b).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue)
    return out


def summarise(
    rows: Iterable[Mapping], *, metric: str = "top1", baseline: str | None = None
) -> list[dict]:
    """One line per method: mean ± std of ``metric`` over seeds, and (when ``baseline`` names
    a method) the paired difference to it with t-test and Wilcoxon p-values."""
    rows = list(rows)
    methods: list[str] = []
    for r in rows:
        if r["method"] not in methods:
            methods.append(r["method"])
    by = {m: {int(r["seed"]): float(r[metric]) for r in rows if r["method"] == m} for m in methods}
    out = []
    for m in methods:
        vals = np.array(list(by[m].values()))
        line = {
            "method": m,
            "n": len(vals),
            "mean": float(vals.mean()),
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
        }
        if baseline is not None and baseline in by and m != baseline:
            seeds = sorted(set(by[m]) & set(by[baseline]))
            test = paired_test([by[m][s] for s in seeds], [by[baseline][s] for s in seeds])
            line.update({"diff": test["mean_diff"], "diff_std": test["std_diff"],
                         "t_p": test["t_p"], "wilcoxon_p": test["wilcoxon_p"]})
        out.append(line)
    return out


def _fmt(x, digits: int = 2) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A GitHub markdown table of ``rows`` (floats with 4 significant decimals)."""
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


def write_results(
    rows: Sequence[Mapping],
    out_dir: str | os.PathLike,
    *,
    title: str,
    command: str,
    baseline: str | None = None,
    metrics: Sequence[str] = ("top1", "top5"),
    notes: str = "",
) -> str:
    """Write ``results.csv`` (one row per method and seed) and ``results.md`` (per-seed table,
    and per metric a summary with mean ± std and paired tests against ``baseline``).

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

    md = [f"# {title}\n", f"Command: `{command}`\n"]
    if notes:
        md.append(notes.strip() + "\n")
    for metric in metrics:
        summary = summarise(rows, metric=metric, baseline=baseline)
        md.append(f"## {metric} (%): mean ± std over seeds"
                  + (f", paired against `{baseline}`" if baseline else "") + "\n")
        table = []
        for s in summary:
            line = {"method": s["method"], "seeds": s["n"],
                    metric: f"{s['mean']:.2f} ± {_fmt(s['std'])}"}
            if "diff" in s:
                line["diff vs " + baseline] = f"{s['diff']:+.2f} ± {_fmt(s['diff_std'])}"
                line["t-test p"] = _fmt(s["t_p"], 3)
                line["Wilcoxon p"] = _fmt(s["wilcoxon_p"], 3)
            table.append(line)
        md.append(markdown_table(table))
    md.append("## Per seed\n")
    md.append(markdown_table(rows))
    text = "\n".join(md)
    tmp = os.path.join(out_dir, "results.md.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, os.path.join(out_dir, "results.md"))
    return text
