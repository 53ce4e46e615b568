r"""Robustness metrics: error per corruption, corruption error (CE), mCE and relative mCE.

Following Hendrycks & Dietterich (ICLR 2019, "Benchmarking neural network robustness to
common corruptions and perturbations"), with :math:`E^f_{s,c}` the top-1 error of model
:math:`f` on corruption :math:`c` at severity :math:`s` and :math:`E^f_\text{clean}` its
clean error, each normalised by a *reference* model the user names (AlexNet in their
paper; LeNet-1 trained with Adam in the seed paper's Table S4):

.. math::
    \text{CE}^f_c = \frac{\sum_s E^f_{s,c}}{\sum_s E^\text{ref}_{s,c}}, \qquad
    \text{mCE}^f = \frac{1}{|C|}\sum_{c\in C} \text{CE}^f_c,

.. math::
    \text{relative CE}^f_c =
    \frac{\sum_s \left(E^f_{s,c} - E^f_\text{clean}\right)}
         {\sum_s \left(E^\text{ref}_{s,c} - E^\text{ref}_\text{clean}\right)}, \qquad
    \text{relative mCE}^f = \frac{1}{|C|}\sum_c \text{relative CE}^f_c.

The reference model's mCE is 100 % by construction. The *average error* is the mean of
:math:`E^f_{s,c}` over every corruption and severity (Table S4's "Average" error row).
A CE whose denominator is 0 (the reference makes no error on that corruption; for the
relative CE, no more error than on clean data) is undefined: it is ``NaN``, and so is any
mean over it: never silently dropped.

Errors come as a long table (``pandas.DataFrame``) with the columns ``model``,
``corruption``, ``severity`` and ``error`` (a fraction in [0, 1]); rows with ``corruption
== "clean"`` hold the clean error. With a ``seed`` column every quantity is computed per
seed, the reference being the same seed's reference model (paired, as the recipes run
them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["CLEAN", "corruption_errors", "robustness_summary", "robustness_table"]

#: The ``corruption`` value of the clean rows.
CLEAN = "clean"

_COLUMNS = ("model", "corruption", "severity", "error")


def _check_errors(errors: pd.DataFrame, reference: str) -> pd.DataFrame:
    if not isinstance(errors, pd.DataFrame):
        raise TypeError(f"`errors` must be a pandas DataFrame, got {type(errors).__name__}.")
    missing = [c for c in _COLUMNS if c not in errors.columns]
    if missing:
        raise ValueError(
            f"`errors` lacks the column(s) {missing}; it needs {list(_COLUMNS)} (and optionally "
            "'seed'), as robustness_errors() returns."
        )
    if errors.empty:
        raise ValueError("`errors` is empty.")
    e = errors["error"].to_numpy(dtype=float)
    if np.any(~np.isfinite(e)) or np.any(e < 0) or np.any(e > 1):
        raise ValueError("`errors['error']` must be fractions in [0, 1] (not percentages).")
    models = list(dict.fromkeys(errors["model"]))
    if reference not in models:
        raise ValueError(
            f"the reference model {reference!r} is not in the results; the models are "
            f"{models}. Evaluate the reference on the same corrupted sets, or name one of these."
        )
    out = errors.copy()
    if "seed" not in out.columns:
        out["seed"] = 0
    corrupted = out[out["corruption"] != CLEAN]
    if corrupted.empty:
        raise ValueError("`errors` holds clean rows only; evaluate on corrupted sets too.")
    for seed, part in out.groupby("seed", sort=True):
        have = set(part.loc[part["model"] == reference, "corruption"])
        need = set(part["corruption"])
        if not need <= have:
            raise ValueError(
                f"the reference model {reference!r} lacks results for {sorted(need - have)}"
                f"{f' on seed {seed}' if out['seed'].nunique() > 1 else ''}; every corruption "
                "a model is scored on must be scored for the reference too."
            )
    return out


def corruption_errors(errors: pd.DataFrame, *, reference: str) -> pd.DataFrame:
    """Per seed, model and corruption: the mean error over severities, CE and relative CE.

    Args:
        errors: The long table (see the module docstring).
        reference: The model every CE is normalised by.

    Returns:
        Columns ``seed``, ``model``, ``corruption``, ``error`` (mean over severities),
        ``CE``, ``relative_CE`` (fractions; 1.0 = the reference), in the order corruptions
        first appear.

    Raises:
        ValueError: Missing columns, errors outside [0, 1], a reference that is not among the
            models or lacks a corruption.
    """
    df = _check_errors(errors, reference)
    order = list(dict.fromkeys(df.loc[df["corruption"] != CLEAN, "corruption"]))
    rows = []
    for seed, part in df.groupby("seed", sort=True):
        clean = part[part["corruption"] == CLEAN].groupby("model")["error"].mean()
        corr = part[part["corruption"] != CLEAN]
        sums = corr.groupby(["model", "corruption"])["error"].agg(["sum", "mean", "count"])
        for model in dict.fromkeys(corr["model"]):
            for c in order:
                if (model, c) not in sums.index:
                    continue
                total, mean, count = sums.loc[(model, c)]
                ref_total = sums.loc[(reference, c), "sum"]
                ce = total / ref_total if ref_total > 0 else np.nan
                rel = np.nan
                if model in clean.index and reference in clean.index:
                    num = total - count * clean[model]
                    den = ref_total - sums.loc[(reference, c), "count"] * clean[reference]
                    rel = num / den if den > 0 else np.nan
                rows.append({"seed": seed, "model": model, "corruption": c, "error": mean,
                             "CE": ce, "relative_CE": rel})
    return pd.DataFrame(rows)


def robustness_summary(errors: pd.DataFrame, *, reference: str) -> pd.DataFrame:
    """Per seed and model: clean error, average error, mCE and relative mCE.

    Returns:
        Columns ``seed``, ``model``, ``clean_error`` (``NaN`` without clean rows),
        ``average_error`` (mean over every corruption and severity), ``mCE``,
        ``relative_mCE``. ``NaN`` where a CE is undefined (module docstring).
    """
    df = _check_errors(errors, reference)
    ce = corruption_errors(df, reference=reference)
    rows = []
    for (seed, model), part in ce.groupby(["seed", "model"], sort=False):
        sub = df[(df["seed"] == seed) & (df["model"] == model)]
        clean = sub.loc[sub["corruption"] == CLEAN, "error"]
        corrupted = sub.loc[sub["corruption"] != CLEAN, "error"]
        rows.append({"seed": seed, "model": model,
                     "clean_error": float(clean.mean()) if len(clean) else np.nan,
                     "average_error": float(corrupted.mean()),
                     "mCE": float(part["CE"].mean(skipna=False)),
                     "relative_mCE": float(part["relative_CE"].mean(skipna=False))})
    return pd.DataFrame(rows)


def robustness_table(
    errors: pd.DataFrame, *, reference: str, models: Sequence[str] | None = None
) -> pd.DataFrame:
    """Table S4's shape: one row per corruption plus ``Average``, per model its error and
    CE (in percent), averaged over seeds.

    Args:
        errors: The long table.
        reference: The model CE is normalised by.
        models: Column order (default: order of appearance).

    Returns:
        Index: the corruptions, then ``"Average"`` (the average error and the mCE) and, when
        the table has clean rows, ``"Clean"`` (clean error; no CE). Columns
        ``("error", model)`` and ``("CE", model)`` (a two-level header), percentages.
    """
    ce = corruption_errors(errors, reference=reference)
    summary = robustness_summary(errors, reference=reference)
    models = list(models) if models is not None else list(dict.fromkeys(ce["model"]))
    unknown = [m for m in models if m not in set(ce["model"])]
    if unknown:
        raise ValueError(f"`models` {unknown} are not in the results: {sorted(set(ce['model']))}.")
    order = list(dict.fromkeys(ce["corruption"]))
    mean_ce = ce.groupby(["corruption", "model"])[["error", "CE"]].mean()
    mean_summary = summary.groupby("model")[["clean_error", "average_error", "mCE"]].mean()
    table = {}
    for model in models:
        table[("error", model)] = [100 * mean_ce.loc[(c, model), "error"] for c in order]
        table[("error", model)].append(100 * mean_summary.loc[model, "average_error"])
        table[("CE", model)] = [100 * mean_ce.loc[(c, model), "CE"] for c in order]
        table[("CE", model)].append(100 * mean_summary.loc[model, "mCE"])
    index = [*order, "Average"]
    if summary["clean_error"].notna().any():
        index.append("Clean")
        for model in models:
            table[("error", model)].append(100 * mean_summary.loc[model, "clean_error"])
            table[("CE", model)].append(np.nan)
    frame = pd.DataFrame(table, index=index)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame
