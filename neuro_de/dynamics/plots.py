r"""Plots of evolution dynamics from EvoTorch ``PandasLogger`` frames.

Every function takes ``source``: one run (a data frame from
``PandasLogger(searcher).to_dataframe()`` / :func:`neuro_de.runner.evolve`, or the path of
its CSV written by ``frame.to_csv(path)``), a list of runs to overlay (e.g. one per method),
or a ``{label: run}`` mapping; ``labels`` names the runs in the legends. Each writes one
figure at ``path`` (parent folders are created) in the format its suffix names (``.png``,
``.pdf``, ``.svg``, ... -- :data:`FIGURE_FORMATS`) and returns that path. Figures are drawn
on ``matplotlib.figure.Figure`` objects with the Agg canvas: no screen and no pyplot state
is needed or touched. Legends sit outside the axes, so they never hide data, and every
strategy has one colour in every figure (:func:`strategy_color`).

Columns read (status items of neuro_de's algorithms; the generation is the ``iter`` index):

==========================  ===============================================================
``pop_best_eval``           best fitness of the current population (the *parents*: the
                            population after selection; PSO: the particles)
``mean_eval``               mean fitness of the current population (parents)
``swarm_best_eval``         PSO: best personal-best fitness
``batch_accuracy_max``      :class:`~neuro_de.problems.SupervisedNetProblem`: highest top-1
``batch_accuracy_mean``     / mean top-1 accuracy, in [0, 1], of the individuals evaluated
                            *last* in the generation (the DE *trials*, or the PSO
                            particles) on the current minibatch (problem status items)
``heldout_loss``            optional: loss on fixed held-out data, logged every few
``heldout_top1``            generations (NaN between); or pass ``heldout=`` to
                            :func:`plot_loss_accuracy`
``fitness_epoch``           SupervisedNetProblem: index of the current fitness minibatch
``diversity``               mean pairwise Euclidean distance between population members
``success_rate``            fraction of trials that improved on their parent (PSO: on their
                            personal best) this generation
``mean_F``, ``mean_CR``     mean F and CR drawn for all trials this generation
``F/<key>``, ``CR/<key>``   per strategy: SHADE-scheme algorithms (SHADE, SA-SHADE-tri-
                            ensin) log the mean of the strategy's success-history memory
                            (archived successful values, the seed paper's Fig. 5); DE and
                            SaDE log the mean F (and DE the mean CR) of the trials that used
                            the strategy this generation, NaN when none did; SaDE's CR is
                            its per-strategy median memory of successful CR
``p/<key>``                 probability of choosing the strategy
``success/<key>``           success rate of the strategy's trials this generation (NaN
                            when it was not used)
``spread``                  PSO: mean distance of the particles to the swarm centroid
``mean_speed``              PSO: mean velocity norm
``inertia``                 PSO: inertia weight w (1 in constriction mode)
==========================  ===============================================================

Accuracy is *not* a column of plain EvoTorch problems; the loss/accuracy figure then draws
only the fitness panel. A plot whose columns no run has raises
:class:`~neuro_de.dynamics.frames.MissingColumnsError`; :func:`plot_all` skips it instead.
"""

from __future__ import annotations

import os
import re
import textwrap
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .frames import MissingColumnsError, Source, load_runs, strategy_keys, strategy_label

__all__ = [
    "COLLAPSE_RATIO",
    "FIGURE_FORMATS",
    "FILL_POLICIES",
    "HELDOUT_COLUMNS",
    "PLOT_NAMES",
    "STRATEGY_COLORS",
    "collapsed_generations",
    "plot_all",
    "plot_diversity",
    "plot_loss_accuracy",
    "plot_pso_swarm",
    "plot_strategy_dynamics",
    "plot_strategy_parameters",
    "plot_success_rate",
    "strategy_color",
]

Runs = Source | Sequence[Source] | Mapping[str, Source]

#: How NaN entries of ``F/<key>`` / ``CR/<key>`` (generations where the strategy had no
#: trial) are drawn: ``"gap"`` leaves a gap (isolated values become dots); ``"carry"``
#: repeats the last logged value.
FILL_POLICIES = ("gap", "carry")

GEN_LABEL = "generation (DE / PSO steps)"
_RUN_COLORS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown",
               "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
#: The fixed colour of each of neuro_de's strategy keys, the same in every figure (single
#: runs and overlays alike); other keys get one from :func:`strategy_color`.
STRATEGY_COLORS: dict[str, str] = {
    "rand1": "tab:blue",
    "ctb1": "tab:orange",
    "rand2": "tab:green",
    "ctr1": "tab:red",
    "trig": "tab:purple",
    "ctb2": "tab:brown",
    "best1": "tab:pink",
    "best2": "tab:olive",
    "ctpb1": "tab:cyan",
}
#: Colours for strategy keys outside :data:`STRATEGY_COLORS` (user-registered strategies).
_EXTRA_STRATEGY_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
                          "#e6550d", "#31a354", "#756bb1", "#636363")
#: File formats a figure can be written in (the path's suffix chooses).
FIGURE_FORMATS: tuple[str, ...] = tuple(sorted(
    f for f in FigureCanvasAgg.get_supported_filetypes() if f not in ("raw", "rgba")))
#: Default of ``collapse`` in :func:`plot_success_rate`: the population counts as collapsed
#: once its diversity is below this fraction of its first logged value.
COLLAPSE_RATIO = 1e-3
#: Columns measured now and then (NaN in between), drawn as points joined by a line.
_SPARSE_COLUMNS = ("heldout_loss", "heldout_top1")
#: What the per-strategy F/CR columns hold, by algorithm (see plot_strategy_parameters).
_MEANING_MEMORY = "mean of each strategy's memory of successful values (SHADE scheme)"
_MEANING_SADE = ("F: mean drawn for the strategy's trials; CR: its median memory of "
                 "successful CR (SaDE)")
_MEANING_DRAWS = "mean F and CR drawn for the strategy's trials this generation"
_MEANING_FALLBACK = ("SHADE family: mean of the strategy's memory; DE, SaDE, jDE, JADE: mean "
                     "F and CR of its trials")
_ALGORITHM_MEANINGS = {
    "shade": _MEANING_MEMORY,
    "lshade": _MEANING_MEMORY,
    "sashadetriensin": _MEANING_MEMORY,
    "sade": _MEANING_SADE,
    "jade": _MEANING_DRAWS + " (JADE adapts their centres mu_F, mu_CR)",
    "jde": _MEANING_DRAWS + " (jDE: self-adapted per individual)",
    "de": _MEANING_DRAWS,
}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _figure(nrows: int, ncols: int, width: float, height: float):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def strategy_color(key: str) -> str:
    """The colour of strategy ``key`` in every figure: :data:`STRATEGY_COLORS` for
    neuro_de's strategies, otherwise a colour derived from the key itself (stable across
    runs, figures and sessions, whatever other strategies a run has)."""
    if key in STRATEGY_COLORS:
        return STRATEGY_COLORS[key]
    return _EXTRA_STRATEGY_COLORS[zlib.crc32(key.encode()) % len(_EXTRA_STRATEGY_COLORS)]


def _check_path(path: str | os.PathLike) -> tuple[Path, str]:
    """``(path, format)``: the figure format is the path's suffix; fail early otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path, got {type(path).__name__}.")
    path = Path(path)
    fmt = path.suffix[1:].lower()
    if not fmt:
        raise ValueError(
            f"`path` {str(path)!r} has no suffix, so no figure format; end it in .png "
            "(raster) or .pdf / .svg (vector)."
        )
    if fmt not in FIGURE_FORMATS:
        raise ValueError(
            f"`path` {str(path)!r} ends in '.{fmt}', not a figure format; use one of "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)}."
        )
    return path, fmt


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path, fmt = _check_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=110)
    return path


def _has(frame: pd.DataFrame, cols: Sequence[str]) -> bool:
    return any(c in frame.columns and frame[c].notna().any() for c in cols)


def _select(runs, cols: Sequence[str], what: str):
    chosen = [(label, f) for label, f in runs if _has(f, cols)]
    if not chosen:
        have = sorted({str(c) for _, f in runs for c in f.columns})
        raise MissingColumnsError(
            f"Cannot plot {what}: no run has any of the columns {list(cols)}. "
            f"Logged columns: {have[:20]}{' ...' if len(have) > 20 else ''}."
        )
    return chosen


def _strategy_cols(frame: pd.DataFrame, prefixes: Sequence[str]) -> list[str]:
    return [f"{p}{k}" for k in strategy_keys(frame) for p in prefixes]


def _run_color(i: int) -> str:
    return _RUN_COLORS[i % len(_RUN_COLORS)]


def _auto_log(values: Sequence[pd.Series], logy: bool | None) -> bool:
    if logy is not None:
        return bool(logy)
    v = pd.concat([s.dropna() for s in values]) if values else pd.Series(dtype=float)
    v = v[np.isfinite(v)]
    if v.empty or (v <= 0).any():
        return False
    return float(v.max()) / float(v.min()) > 100.0


def _plot_gappy(ax, series: pd.Series, **kw) -> None:
    """A line broken at NaN; values with NaN on both sides are drawn as dots."""
    x, y = series.index.to_numpy(dtype=float), series.to_numpy(dtype=float)
    ax.plot(x, y, **kw)
    ok = np.isfinite(y)
    prev = np.r_[False, ok[:-1]]
    nxt = np.r_[ok[1:], False]
    lone = ok & ~prev & ~nxt
    if lone.any():
        dot = {k: v for k, v in kw.items() if k in ("color", "alpha")}
        ax.plot(x[lone], y[lone], linestyle="none", marker="o", markersize=3, **dot)


def _legends(ax, runs: Sequence[tuple[str, str]], styles: Sequence[tuple[str, dict]],
             extra: Sequence[tuple[object, str]] = ()) -> None:
    """One legend to the right of the axes (outside them, so it never hides data): the
    runs' colours (when there are several or they are named), then the quantities' line
    styles (in black when runs are coloured), then ``extra`` ``(handle, label)`` entries."""
    named = len(runs) > 1 or any(label for label, _ in runs)
    handles: list = []
    names: list[str] = []
    if named and len(styles) > 1:
        handles += [Line2D([], [], color=c, lw=2) for _, c in runs]
        names += [label or "run" for label, _ in runs]
        handles += [Line2D([], [], color="black", **kw) for _, kw in styles]
        names += [name for name, _ in styles]
    elif named:
        handles += [Line2D([], [], color=c, lw=2, **styles[0][1]) for _, c in runs]
        names += [f"{label or 'run'}: {styles[0][0]}" for label, _ in runs]
    else:
        handles += [Line2D([], [], color=runs[0][1], **kw) for _, kw in styles]
        names += [name for name, _ in styles]
    for handle, label in extra:
        handles.append(handle)
        names.append(label)
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              fontsize="small")


def _overlay(ax, runs, columns: Sequence[tuple[str, str, dict]], *, scale: float = 1.0,
             extra: Sequence[tuple[object, str]] = ()):
    """Draw ``columns`` ``(column, legend name, line style)`` of every run (colour = run);
    :data:`_SPARSE_COLUMNS` are drawn as their logged points joined by a line."""
    drawn_styles: list[tuple[str, dict]] = []
    run_entries: list[tuple[str, str]] = []
    values: list[pd.Series] = []
    for i, (label, frame) in enumerate(runs):
        color = _run_color(i)
        used = False
        for col, name, style in columns:
            if col in frame.columns and frame[col].notna().any():
                s = frame[col].astype(float) * scale
                if col in _SPARSE_COLUMNS:
                    s = s.dropna()
                _plot_gappy(ax, s, color=color, **style)
                values.append(s)
                used = True
                if (name, style) not in drawn_styles:
                    drawn_styles.append((name, style))
        if used:
            run_entries.append((label, color))
    drawn_styles = [(n, s) for c, n, s in columns if (n, s) in drawn_styles]
    if run_entries:
        _legends(ax, run_entries, drawn_styles, extra)
    return values


def _mark_minibatches(ax, runs) -> bool:
    """Faint vertical lines where a single run's fitness minibatch changed; True if drawn."""
    if len(runs) != 1 or "fitness_epoch" not in runs[0][1].columns:
        return False
    epoch = runs[0][1]["fitness_epoch"].dropna()
    changes = epoch.index[1:][np.diff(epoch.to_numpy()) != 0]
    if not 0 < len(changes) <= 60:
        return False
    for g in changes:
        ax.axvline(g - 0.5, color="0.75", lw=0.8, ls=":", zorder=0)
    return True


def _title(fig: Figure, title: str | None, default: str) -> None:
    fig.suptitle(default if title is None else title, fontsize="large")


# ---------------------------------------------------------------------------------------
# Fig. 2: loss and accuracy
# ---------------------------------------------------------------------------------------
LOSS_COLUMNS = ("pop_best_eval", "mean_eval", "swarm_best_eval")
ACCURACY_COLUMNS = ("batch_accuracy_max", "batch_accuracy_mean")
#: Held-out columns a frame may carry (or that ``heldout=`` / ``heldout_accuracy=`` add).
HELDOUT_COLUMNS = ("heldout_loss", "heldout_top1")

#: One held-out curve: a Series indexed by generation, or a ``{generation: value}`` mapping.
Curve = pd.Series | Mapping[int, float]


def _curves_per_run(curves, runs, name: str) -> list[pd.Series | None]:
    """Normalise ``heldout=``-style input to one Series (or None) per run."""
    if curves is None:
        return [None] * len(runs)

    def as_series(c, where: str) -> pd.Series | None:
        if c is None:
            return None
        if isinstance(c, pd.Series):
            series = c
        elif isinstance(c, Mapping):
            series = pd.Series(dict(c), dtype=float)
        else:
            raise TypeError(
                f"`{name}`{where} must be a pandas Series indexed by generation or a "
                f"{{generation: value}} mapping, got {type(c).__name__}."
            )
        index = pd.to_numeric(pd.Series(series.index), errors="coerce")
        if index.isna().any():
            raise ValueError(
                f"`{name}`{where} must be indexed by generation numbers (the logger's 'iter'); "
                f"got index values like {list(series.index[:3])}."
            )
        return pd.Series(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float),
                         index=index.to_numpy(dtype=float))

    labels = [label for label, _ in runs]
    if isinstance(curves, Mapping) and curves and all(isinstance(k, str) for k in curves):
        unknown = [k for k in curves if k not in labels]
        if unknown:
            raise ValueError(
                f"`{name}` names runs {unknown} that are not plotted; the runs are {labels}."
            )
        return [as_series(curves.get(label), f"[{label!r}]") for label in labels]
    if isinstance(curves, (pd.Series, Mapping)):
        if len(runs) != 1:
            raise ValueError(
                f"`{name}` is one curve but {len(runs)} runs are plotted; pass a list with one "
                "curve per run (None to skip a run) or a {run label: curve} mapping."
            )
        return [as_series(curves, "")]
    if isinstance(curves, Sequence) and not isinstance(curves, str):
        if len(curves) != len(runs):
            raise ValueError(
                f"`{name}` has {len(curves)} curves for {len(runs)} runs; give one per run "
                "(None to skip a run)."
            )
        return [as_series(c, f"[{i}]") for i, c in enumerate(curves)]
    raise TypeError(
        f"`{name}` must be a Series or {{generation: value}} mapping (one run), a list of them "
        f"(one per run) or a {{run label: curve}} mapping, got {type(curves).__name__}."
    )


def _with_curve(frame: pd.DataFrame, curve: pd.Series | None, column: str) -> pd.DataFrame:
    if curve is None:
        return frame
    frame = frame.reindex(frame.index.union(pd.Index(curve.index, name=frame.index.name)))
    frame[column] = curve.reindex(frame.index)
    return frame


def plot_loss_accuracy(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    logy: bool | None = None,
    loss_label: str | None = None,
    heldout: Curve | Sequence[Curve | None] | Mapping[str, Curve] | None = None,
    heldout_accuracy: Curve | Sequence[Curve | None] | Mapping[str, Curve] | None = None,
) -> Path:
    """Fitness (loss) and, when logged, minibatch accuracy over generations (seed paper
    Fig. 2), with held-out curves when available.

    Left panel: the **parents** (the population after selection; PSO: the particles):
    ``pop_best_eval`` (solid, best parent) and ``mean_eval`` (dashed, mean), and for PSO
    ``swarm_best_eval`` (dotted, best personal best). Right panel, only when a run has
    ``batch_accuracy_max`` / ``batch_accuracy_mean`` (a
    :class:`~neuro_de.problems.SupervisedNetProblem` run): top-1 accuracy in percent of the
    **trials** (the individuals evaluated last in each generation: DE's trials, PSO's
    particles) on the current training minibatch, highest (solid) and mean (dashed). The
    logger has no accuracy of the parents, so the two panels show different sets, and
    their legends say which. With one run logging ``fitness_epoch``, dotted vertical lines
    mark minibatch changes (the fitness function changes there, so the curves may jump).

    A **held-out** curve (dash-dot with points: the loss, or accuracy, of a chosen network
    on fixed data, so batch switches do not move it) is drawn from a ``heldout_loss`` /
    ``heldout_top1`` column of the frame, or from ``heldout`` / ``heldout_accuracy``.

    Args:
        logy: Log-scale loss axis; default: when all values are positive and span more than
            two decades.
        loss_label: Y-axis label of the fitness panel (default: cross-entropy for network
            problems, "fitness" otherwise).
        heldout: Held-out loss per generation, e.g. ``{g: problem.evaluate_vector(v_g,
            heldout_set)["loss"]}`` measured every few generations: a Series indexed by
            generation or a ``{generation: loss}`` mapping for one run; a list of them (one
            per run, ``None`` to skip one) or a ``{run label: curve}`` mapping for several.
        heldout_accuracy: Held-out top-1 accuracy per generation, as fractions in [0, 1]
            (drawn in percent), in the same forms as ``heldout``.

    Raises:
        ValueError / TypeError: For a ``path`` without a figure suffix, or held-out curves
            of the wrong form, count or index.
    """
    _check_path(path)
    runs = load_runs(source, labels)
    loss_curves = _curves_per_run(heldout, runs, "heldout")
    acc_curves = _curves_per_run(heldout_accuracy, runs, "heldout_accuracy")
    runs = [(lab, _with_curve(_with_curve(f, lc, "heldout_loss"), ac, "heldout_top1"))
            for (lab, f), lc, ac in zip(runs, loss_curves, acc_curves, strict=True)]
    runs = _select(runs, (*LOSS_COLUMNS, "heldout_loss"), "loss over generations")
    acc_cols = (*ACCURACY_COLUMNS, "heldout_top1")
    with_acc = any(_has(f, acc_cols) for _, f in runs)
    supervised = with_acc or any("fitness_epoch" in f.columns for _, f in runs)
    fig, axes = _figure(1, 2 if with_acc else 1, 13 if with_acc else 8, 4.3)
    ax = axes[0, 0]
    held_style = {"ls": "-.", "marker": "o", "markersize": 3}
    values = _overlay(ax, runs, [
        ("pop_best_eval", "parents: best", {"ls": "-"}),
        ("mean_eval", "parents: mean", {"ls": "--"}),
        ("swarm_best_eval", "PSO: best personal best", {"ls": ":"}),
        ("heldout_loss", "held-out loss (fixed data)", held_style),
    ])
    if _auto_log(values, logy):
        ax.set_yscale("log")
    marked = _mark_minibatches(ax, runs)
    note = "\n(grey dotted lines: new fitness minibatch)" if marked else ""
    ax.set_xlabel(GEN_LABEL)
    if loss_label is None:
        loss_label = ("loss (training minibatch unless held-out)" if supervised
                      else "fitness (objective value)")
    ax.set_ylabel(loss_label)
    what = "Loss" if supervised else "Fitness"
    ax.set_title(f"{what} of the parents (population after selection){note}",
                 fontsize="medium")
    ax.grid(alpha=0.3)
    if with_acc:
        ax = axes[0, 1]
        acc_runs = [(lab, f) if _has(f, acc_cols) else (lab, f.iloc[:, :0]) for lab, f in runs]
        _overlay(ax, acc_runs, [
            ("batch_accuracy_max", "trials: best", {"ls": "-"}),
            ("batch_accuracy_mean", "trials: mean", {"ls": "--"}),
            ("heldout_top1", "held-out accuracy (fixed data)", held_style),
        ], scale=100.0)
        _mark_minibatches(ax, runs)
        ax.set_xlabel(GEN_LABEL)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title("Minibatch accuracy of the trials\n(individuals evaluated last; PSO: "
                     "particles)", fontsize="medium")
        ax.grid(alpha=0.3)
    _title(fig, title, "Loss and accuracy over generations" if with_acc
           else "Fitness over generations")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# Fig. 3: diversity
# ---------------------------------------------------------------------------------------
def plot_diversity(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    logy: bool | None = None,
) -> Path:
    """Population diversity over generations (seed paper Fig. 3): the ``diversity`` column,
    the mean Euclidean distance over all pairs of population members (networks: distance
    between weight vectors), one line per run."""
    _check_path(path)
    runs = _select(load_runs(source, labels), ("diversity",), "population diversity")
    fig, axes = _figure(1, 1, 8.5, 4.3)
    ax = axes[0, 0]
    values = _overlay(ax, runs, [("diversity", "mean pairwise distance", {"ls": "-"})])
    if _auto_log(values, logy):
        ax.set_yscale("log")
    ax.set_xlabel(GEN_LABEL)
    ax.set_ylabel("mean pairwise Euclidean distance\n(parameter-space units)")
    ax.grid(alpha=0.3)
    _title(fig, title, "Population diversity and convergence")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# overall success rate
# ---------------------------------------------------------------------------------------
def plot_success_rate(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    window: int = 1,
    collapse: float | None = COLLAPSE_RATIO,
) -> Path:
    """Overall success rate per generation (``success_rate``): the fraction of trials
    strictly better than their parent (PSO: particles improving their personal best).

    Once a population has collapsed (all members nearly equal), trials still "succeed" by
    differences of the order of float rounding: those successes are noise, not progress.
    Generations where a run's ``diversity`` is below ``collapse`` times its first logged
    value are shaded (in the run's colour when several runs are overlaid) and the legend
    says "float-noise".

    Args:
        window: Trailing moving average over this many generations (1: raw values).
        collapse: Diversity ratio (to its first logged value) below which a generation
            counts as collapsed, in ``(0, 1)``; ``None`` turns the shading off. Runs
            without a ``diversity`` column are never shaded.
    """
    _check_path(path)
    _check_window(window)
    _check_collapse(collapse)
    runs = _select(load_runs(source, labels), ("success_rate",), "the success rate")
    fig, axes = _figure(1, 1, 8.5, 4.3)
    ax = axes[0, 0]
    extra = []
    if collapse is not None:
        shaded = False
        for i, (_, frame) in enumerate(runs):
            color = "0.55" if len(runs) == 1 else _run_color(i)
            shaded |= _shade_collapse(ax, frame, collapse, color)
        if shaded:
            where = "" if len(runs) == 1 else " (shaded in the run's colour)"
            extra.append((Patch(facecolor="0.55", alpha=0.3),
                          f"diversity < {collapse:g} x its start{where}:\nsuccesses are "
                          "float-noise"))
    smoothed = [(lab, _smooth(f[["success_rate"]], window)) if "success_rate" in f.columns
                else (lab, f.iloc[:, :0]) for lab, f in runs]
    name = "success rate" if window == 1 else f"success rate ({window}-generation mean)"
    _overlay(ax, smoothed, [("success_rate", name, {"ls": "-"})], scale=100.0, extra=extra)
    ax.set_ylim(-2, 102)
    ax.set_xlabel(GEN_LABEL)
    ax.set_ylabel("successful trials (% of population)")
    ax.grid(alpha=0.3)
    if extra:
        ax.set_title("shaded: population collapsed (float-noise successes)", fontsize="medium")
    _title(fig, title, "Success rate of offspring")
    return _save(fig, path)


def _check_collapse(collapse: float | None) -> None:
    if collapse is None:
        return
    if isinstance(collapse, bool) or not isinstance(collapse, (int, float)) or not (
        0.0 < float(collapse) < 1.0
    ):
        raise ValueError(
            f"`collapse` must be a ratio in (0, 1) (e.g. 1e-3) or None to turn the shading "
            f"off, got {collapse!r}."
        )


def collapsed_generations(frame: pd.DataFrame, collapse: float = COLLAPSE_RATIO) -> pd.Index:
    """Generations where ``diversity`` is below ``collapse`` times its first positive
    logged value (empty when the frame has no usable ``diversity``)."""
    if "diversity" not in frame.columns:
        return pd.Index([])
    div = frame["diversity"].astype(float)
    start = div[np.isfinite(div) & (div > 0)]
    if start.empty:
        return pd.Index([])
    return div.index[(div < collapse * float(start.iloc[0])).to_numpy()]


def _shade_collapse(ax, frame: pd.DataFrame, collapse: float, color: str) -> bool:
    """Shade the collapsed generations of one run; True if any."""
    gens = collapsed_generations(frame, collapse)
    if len(gens) == 0:
        return False
    index = frame.index.to_numpy(dtype=float)
    flagged = np.isin(index, gens.to_numpy(dtype=float))
    step = float(np.median(np.diff(index))) if len(index) > 1 else 1.0
    start = None
    for k, on in enumerate([*flagged, False]):
        if on and start is None:
            start = k
        elif not on and start is not None:
            ax.axvspan(index[start] - step / 2, index[k - 1] + step / 2, color=color,
                       alpha=0.18, lw=0, zorder=0)
            start = None
    return True


def _check_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"`window` must be an integer >= 1, got {window!r}.")


def _smooth(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Trailing mean over ``window`` generations, NaN entries ignored (all-NaN stays NaN)."""
    if window == 1:
        return frame
    return frame.rolling(window, min_periods=1).mean()


# ---------------------------------------------------------------------------------------
# Fig. 5: F and CR per strategy
# ---------------------------------------------------------------------------------------
def _strategy_colors(runs) -> dict[str, str]:
    """The strategies of ``runs`` (first-seen order) with their fixed colours."""
    keys: list[str] = []
    for _, f in runs:
        keys += [k for k in strategy_keys(f) if k not in keys]
    return {k: strategy_color(k) for k in keys}


def _parameter_meaning(label: str, frame: pd.DataFrame) -> str:
    """What a run's ``F/<key>`` / ``CR/<key>`` lines are, from its label and columns."""
    name = re.sub(r"[^a-z]", "", label.lower())
    tokens = re.findall(r"[a-z]+", label.lower())
    first = tokens[0] if tokens else ""
    algo = name if name in _ALGORITHM_MEANINGS else first
    if "sinusoidal_phase" in frame.columns:
        algo = "sashadetriensin"
    elif algo not in _ALGORITHM_MEANINGS and "mu_F" in frame.columns:
        algo = "jade"
    fixed = _fixed_parameters(frame)
    if fixed is not None and algo in ("de", ""):
        return f"fixed F = {fixed[0]:.3g}, CR = {fixed[1]:.3g} for every trial: no adaptation"
    if algo in _ALGORITHM_MEANINGS:
        return _ALGORITHM_MEANINGS[algo]
    if fixed is not None:
        return f"F = {fixed[0]:.3g}, CR = {fixed[1]:.3g} throughout: no adaptation"
    return _MEANING_FALLBACK


def _fixed_parameters(frame: pd.DataFrame) -> tuple[float, float] | None:
    """``(F, CR)`` when every per-strategy F and CR value of the run is one constant."""
    out = []
    for param in ("F", "CR"):
        cols = [c for c in _strategy_cols(frame, (f"{param}/",)) if c in frame.columns]
        v = frame[cols].to_numpy(dtype=float).ravel() if cols else np.array([])
        v = v[np.isfinite(v)]
        if v.size == 0 or float(v.max() - v.min()) > 1e-9 * max(1.0, abs(float(v.max()))):
            return None
        out.append(float(v[0]))
    return out[0], out[1]


def plot_strategy_parameters(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    fill: str = "gap",
) -> Path:
    """Adaptation of F (top row) and CR (bottom row) per mutation strategy (seed paper
    Fig. 5), one column per run, one fixed colour per strategy (``F/<key>``, ``CR/<key>``;
    :func:`strategy_color`), with the mean over all trials of the generation (``mean_F``,
    ``mean_CR``) in dashed black.

    What a line means depends on the algorithm, and each run's F panel says it under its
    title: for SHADE-scheme algorithms (SHADE, L-SHADE, SA-SHADE-tri-ensin) the mean of the
    strategy's success-history memory, i.e. of archived successful F / CR, as in the paper;
    for DE, jDE and JADE the mean F and CR drawn for the strategy's trials in that
    generation; for SaDE the trials' mean F and the strategy's median memory of successful
    CR. The draws are NaN in generations where the strategy had no trial. The algorithm is
    recognised from the run's label (``"DE"``, ``"SHADE"``, ``"SAShadeTriEnsin"``, ...) or
    its columns; a run whose values never change is labelled "fixed ...: no adaptation".

    Args:
        fill: ``"gap"`` (default): NaN generations are left as gaps in the line (values
            isolated between gaps are drawn as dots); ``"carry"``: the last logged value is
            carried forward.
    """
    _check_path(path)
    if fill not in FILL_POLICIES:
        raise ValueError(f"`fill` must be one of {FILL_POLICIES}, got {fill!r}.")
    runs = load_runs(source, labels)
    runs = [(lab, f) for lab, f in runs if _has(f, _strategy_cols(f, ("F/", "CR/")))]
    if not runs:
        raise MissingColumnsError(
            "Cannot plot F and CR per strategy: no run has per-strategy 'F/<key>' or "
            "'CR/<key>' columns (logged by neuro_de's DE-family algorithms, not PSO)."
        )
    colors = _strategy_colors(runs)
    fig, axes = _figure(2, len(runs), 1.5 + 5.0 * len(runs), 7.2)
    for j, (label, frame) in enumerate(runs):
        for i, (param, overall, ylabel) in enumerate((
            ("F", "mean_F", "F (scale factor, dimensionless)"),
            ("CR", "mean_CR", "CR (crossover probability, 0-1)"),
        )):
            ax = axes[i, j]
            for key in strategy_keys(frame):
                col = f"{param}/{key}"
                if col not in frame.columns:
                    continue
                s = frame[col].astype(float)
                if fill == "carry":
                    s = s.ffill()
                _plot_gappy(ax, s, color=colors[key], lw=1.6)
            if overall in frame.columns and frame[overall].notna().any():
                ax.plot(frame.index, frame[overall], color="black", ls="--", lw=1, alpha=0.7)
            ax.set_xlabel(GEN_LABEL)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            head = f"{label}: " if label else ""
            what = "scale factor F" if param == "F" else "crossover rate CR"
            if param == "F":
                meaning = textwrap.fill(_parameter_meaning(label, frame), 52)
                ax.set_title(f"{head}{what}\n{meaning}", fontsize="medium")
            else:
                ax.set_title(f"{head}{what}", fontsize="medium")
    handles = [Line2D([], [], color=c, lw=2) for c in colors.values()]
    names = [strategy_label(k) for k in colors]
    handles.append(Line2D([], [], color="black", ls="--", lw=1))
    names.append("mean over all trials of the generation")
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 3),
               fontsize="small", title="mutation strategy")
    _title(fig, title, "Adaptation of F and CR per mutation strategy")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# Fig. 6: selection probability and success rate per strategy
# ---------------------------------------------------------------------------------------
def plot_strategy_dynamics(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    window: int = 1,
) -> Path:
    """Competition between mutation strategies (seed paper Fig. 6), one column per run.

    Upper panel: probability of selecting each strategy (``p/<key>``). Lower panel: heat
    map of each strategy's success rate (``success/<key>``: the fraction of its trials that
    beat their parent), darker blue for higher rates; grey cells are generations where the
    strategy was not used.

    Args:
        window: Trailing moving average of the success rates over this many generations
            (generations where the strategy was unused are ignored; 1: raw values).
    """
    _check_path(path)
    _check_window(window)
    runs = load_runs(source, labels)
    runs = [(lab, f) for lab, f in runs if _has(f, _strategy_cols(f, ("p/", "success/")))]
    if not runs:
        raise MissingColumnsError(
            "Cannot plot strategy dynamics: no run has per-strategy 'p/<key>' or "
            "'success/<key>' columns (logged by neuro_de's DE-family algorithms, not PSO)."
        )
    colors = _strategy_colors(runs)
    n_max = max(len(strategy_keys(f)) for _, f in runs)
    fig = Figure(figsize=(1.5 + 5.5 * len(runs), 4.0 + 0.45 * n_max), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(runs), squeeze=False,
                        gridspec_kw={"height_ratios": [1.2, 0.35 + 0.2 * n_max]})
    cmap = ListedColormap(matplotlib.colormaps["Blues"](np.linspace(0.05, 1, 256)))
    cmap = cmap.with_extremes(bad="0.85")
    image = None
    for j, (label, frame) in enumerate(runs):
        keys = strategy_keys(frame)
        head = f"{label}: " if label else ""
        ax = axes[0, j]
        for key in keys:
            if f"p/{key}" in frame.columns:
                _plot_gappy(ax, frame[f"p/{key}"].astype(float), color=colors[key], lw=1.6)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(GEN_LABEL)
        ax.set_ylabel("selection probability (0-1)")
        ax.set_title(f"{head}probability of selecting each strategy")
        ax.grid(alpha=0.3)

        ax = axes[1, j]
        cols = [f"success/{k}" for k in keys]
        rates = frame.reindex(columns=cols).astype(float)
        rates = _smooth(rates, window)
        gens = frame.index.to_numpy(dtype=float)
        step = float(np.median(np.diff(gens))) if len(gens) > 1 else 1.0
        xlim = (gens[0] - step / 2, gens[-1] + step / 2)
        image = ax.imshow(
            np.ma.masked_invalid(rates.to_numpy().T), aspect="auto", cmap=cmap, vmin=0, vmax=1,
            interpolation="nearest", origin="upper", extent=(*xlim, len(keys) - 0.5, -0.5),
        )
        axes[0, j].set_xlim(*xlim)
        ax.set_yticks(range(len(keys)), [strategy_label(k) for k in keys], fontsize="small")
        for tick, key in zip(ax.get_yticklabels(), keys, strict=True):
            tick.set_color(colors[key])
        ax.set_xlabel(GEN_LABEL)
        what = "success rate" if window == 1 else f"success rate ({window}-generation mean)"
        ax.set_title(f"{head}{what} of each strategy")
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[1, :]), shrink=0.9)
        bar.set_label("success rate\n(fraction of the strategy's\ntrials that improved)")
    handles = [Line2D([], [], color=c, lw=2) for c in colors.values()]
    names = [strategy_label(k) for k in colors]
    handles.append(Patch(color="0.85"))
    names.append("heat map: strategy not used")
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 3),
               fontsize="small", title="mutation strategy")
    _title(fig, title, "Evolution dynamics of mutation strategies")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# PSO swarm
# ---------------------------------------------------------------------------------------
PSO_COLUMNS = ("spread", "mean_speed")


def plot_pso_swarm(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    logy: bool | None = None,
) -> Path:
    """PSO swarm dynamics. Left: ``spread`` (solid, mean distance of the particles to the
    swarm centroid) and ``mean_speed`` (dashed, mean velocity norm), both in parameter-space
    units. Right (when logged): the inertia weight ``inertia`` (constant 1 in constriction
    mode, where the constriction factor 0.7298 damps instead)."""
    _check_path(path)
    runs = _select(load_runs(source, labels), PSO_COLUMNS, "PSO swarm spread and speed")
    with_w = any(_has(f, ("inertia",)) for _, f in runs)
    fig, axes = _figure(1, 2 if with_w else 1, 14 if with_w else 8.5, 4.3)
    ax = axes[0, 0]
    values = _overlay(ax, runs, [
        ("spread", "spread: mean distance to swarm centroid", {"ls": "-"}),
        ("mean_speed", "mean speed: mean velocity norm", {"ls": "--"}),
    ])
    if _auto_log(values, logy):
        ax.set_yscale("log")
    ax.set_xlabel(GEN_LABEL)
    ax.set_ylabel("distance per generation (parameter-space units)")
    ax.set_title("Swarm spread and particle speed")
    ax.grid(alpha=0.3)
    if with_w:
        ax = axes[0, 1]
        w_runs = [(lab, f if _has(f, ("inertia",)) else f.iloc[:, :0]) for lab, f in runs]
        _overlay(ax, w_runs, [("inertia", "inertia weight w", {"ls": "-"})])
        ax.set_xlabel(GEN_LABEL)
        ax.set_ylabel("inertia weight w (dimensionless)")
        ax.set_title("Inertia weight")
        ax.grid(alpha=0.3)
    _title(fig, title, "PSO swarm dynamics")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------
# everything
# ---------------------------------------------------------------------------------------
#: File stem -> (plot function, columns of which a run needs at least one).
_PLOTS = {
    "loss_accuracy": (plot_loss_accuracy, lambda f: _has(f, (*LOSS_COLUMNS, "heldout_loss"))),
    "diversity": (plot_diversity, lambda f: _has(f, ("diversity",))),
    "success_rate": (plot_success_rate, lambda f: _has(f, ("success_rate",))),
    "strategy_parameters": (
        plot_strategy_parameters, lambda f: _has(f, _strategy_cols(f, ("F/", "CR/")))),
    "strategy_dynamics": (
        plot_strategy_dynamics, lambda f: _has(f, _strategy_cols(f, ("p/", "success/")))),
    "pso_swarm": (plot_pso_swarm, lambda f: _has(f, PSO_COLUMNS)),
}

#: File stems written by :func:`plot_all`, in order.
PLOT_NAMES = tuple(_PLOTS)


def plot_all(
    frame: Runs,
    out_dir: str | os.PathLike,
    *,
    prefix: str = "",
    labels: Sequence[str] | None = None,
    format: str = "png",
) -> list[Path]:
    """Write every plot whose columns exist in at least one run, as
    ``out_dir/<prefix><name>.<format>`` for ``name`` in :data:`PLOT_NAMES`
    (``loss_accuracy``, ``diversity``, ``success_rate``, ``strategy_parameters``,
    ``strategy_dynamics``, ``pso_swarm``); plots without their columns are skipped, not
    failed.

    Args:
        frame: One run (data frame or CSV path), a list of runs, or a ``{label: run}``
            mapping, as for the single plots.
        out_dir: Folder for the figures (created if needed).
        prefix: Prepended to every file name (e.g. ``"resnet18_"``).
        labels: Legend names of the runs.
        format: File format and suffix, one of :data:`FIGURE_FORMATS` (``"png"``,
            ``"pdf"``, ``"svg"``, ...).

    Returns:
        The paths written, in :data:`PLOT_NAMES` order.
    """
    fmt = str(format).lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"`format` must be one of {FIGURE_FORMATS}, got {format!r}.")
    runs = load_runs(frame, labels)
    loaded = {label or f"run {i + 1}": f for i, (label, f) in enumerate(runs)}
    names = [label for label, _ in runs]  # keep "" for a single unnamed frame
    out_dir = Path(out_dir)
    written: list[Path] = []
    for name, (fn, available) in _PLOTS.items():
        if not any(available(f) for f in loaded.values()):
            continue
        written.append(fn(list(loaded.values()), out_dir / f"{prefix}{name}.{fmt}",
                          labels=names))
    return written
