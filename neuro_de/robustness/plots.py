"""A figure of robustness results: error per corruption, the models side by side."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import CLEAN

__all__ = ["plot_corruption_errors"]


def plot_corruption_errors(
    errors: pd.DataFrame,
    path: str | os.PathLike,
    *,
    models: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Grouped bars: top-1 error (%) per corruption (mean over severities), one bar per
    model, mean over seeds with the seeds' standard deviation as error bars; the clean
    error first when the table has it, the average over corruptions last.

    Args:
        errors: The long table of :func:`~neuro_de.robustness.robustness_errors` (columns
            ``model``, ``corruption``, ``severity``, ``error``, optionally ``seed``).
        path: The figure file (``.png``, ``.pdf``, ``.svg``...).
        models: Which models, in which order (default: all, in order of appearance).
        title: The figure title.

    Returns:
        The path written.
    """
    from ..dynamics.plots import _figure, _run_color, _save

    df = errors.copy()
    if "seed" not in df.columns:
        df["seed"] = 0
    models = list(models) if models is not None else list(dict.fromkeys(df["model"]))
    unknown = [m for m in models if m not in set(df["model"])]
    if unknown:
        raise ValueError(f"`models` {unknown} are not in `errors`: {sorted(set(df['model']))}.")
    per_seed = df.groupby(["seed", "model", "corruption"], sort=False)["error"].mean().reset_index()
    corrupted = per_seed[per_seed["corruption"] != CLEAN]
    average = corrupted.groupby(["seed", "model"])["error"].mean().reset_index()
    average["corruption"] = "average"
    per_seed = pd.concat([per_seed, average], ignore_index=True)
    order = list(dict.fromkeys(corrupted["corruption"]))
    if (df["corruption"] == CLEAN).any():
        order = [CLEAN, *order]
    order.append("average")
    stats = per_seed.groupby(["corruption", "model"])["error"].agg(["mean", "std", "count"])

    n_seeds = int(df["seed"].nunique())
    width_in = min(18.0, max(7.0, 1.5 + len(order) * (0.25 + 0.09 * len(models))))
    fig, axes = _figure(1, 1, width_in, 4.8)
    ax = axes[0][0]
    width = 0.8 / len(models)
    x = np.arange(len(order))
    for k, model in enumerate(models):
        means = [100 * stats.loc[(c, model), "mean"] if (c, model) in stats.index else np.nan
                 for c in order]
        stds = [100 * stats.loc[(c, model), "std"] if (c, model) in stats.index else np.nan
                for c in order]
        stds = np.nan_to_num(np.asarray(stds, dtype=float))
        ax.bar(x + (k - (len(models) - 1) / 2) * width, means, width, yerr=stds if n_seeds > 1
               else None, capsize=2, label=model, color=_run_color(k))
    ax.set_xticks(x, [c.replace("_", " ") for c in order], rotation=40, ha="right")
    ax.set_ylabel("top-1 error (%)")
    ax.axvline(len(order) - 1.5, color="0.6", lw=0.8, ls=":")
    seeds = f"mean over {n_seeds} seeds ± std" if n_seeds > 1 else "one seed"
    ax.set_title(title or f"Error per corruption ({seeds}; lower is better)")
    ax.legend(ncols=min(len(models), 4), fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
