r"""PNG plots of evolution dynamics from EvoTorch ``PandasLogger`` frames.

Every function takes ``source``: one run (a data frame from
``PandasLogger(searcher).to_dataframe()`` / :func:`neuro_de.runner.evolve`, or the path of
its CSV written by ``frame.to_csv(path)``), a list of runs to overlay (e.g. one per method),
or a ``{label: run}`` mapping; ``labels`` names the runs in the legends. Each writes one PNG
at ``path`` (parent folders are created) and returns that path. Figures are drawn on
``matplotlib.figure.Figure`` objects with the Agg canvas: no screen and no pyplot state is
needed or touched.

Columns read (status items of neuro_de's algorithms; the generation is the ``iter`` index):

==========================  ===============================================================
``pop_best_eval``           best fitness of the current population (parents after selection)
``mean_eval``               mean fitness of the current population
``swarm_best_eval``         PSO: best personal-best fitness
``batch_accuracy_max``      :class:`~neuro_de.problems.SupervisedNetProblem`: highest top-1
``batch_accuracy_mean``     / mean top-1 accuracy, in [0, 1], of the individuals evaluated
                            *last* in the generation (the DE trials, or the PSO particles)
                            on the current minibatch (problem status items)
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
    "FILL_POLICIES",
    "PLOT_NAMES",
    "plot_all",
    "plot_diversity",
    "plot_loss_accuracy",
    "plot_pso_swarm",
    "plot_strategy_dynamics",
    "plot_strategy_parameters",
    "plot_success_rate",
]

Runs = Source | Sequence[Source] | Mapping[str, Source]

#: How NaN entries of ``F/<key>`` / ``CR/<key>`` (generations where the strategy had no
#: trial) are drawn: ``"gap"`` leaves a gap (isolated values become dots); ``"carry"``
#: repeats the last logged value.
FILL_POLICIES = ("gap", "carry")

GEN_LABEL = "generation (DE / PSO steps)"
_RUN_COLORS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown",
               "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
_STRATEGY_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                    "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _figure(nrows: int, ncols: int, width: float, height: float):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110)
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
             loc: str = "best") -> None:
    """Colour legend of runs (when there are several or they are named) and a black
    line-style legend of quantities (when there are several)."""
    style_handles = [Line2D([], [], color="black", **kw) for _, kw in styles]
    named = len(runs) > 1 or any(label for label, _ in runs)
    if named and len(styles) > 1:
        first = ax.legend([Line2D([], [], color=c, lw=2) for _, c in runs],
                          [label or "run" for label, _ in runs], loc="upper right",
                          title="run", fontsize="small")
        ax.add_artist(first)
        ax.legend(style_handles, [name for name, _ in styles], loc="lower left",
                  fontsize="small")
    elif named:
        ax.legend([Line2D([], [], color=c, lw=2, **styles[0][1]) for _, c in runs],
                  [f"{label or 'run'}: {styles[0][0]}" for label, _ in runs], loc=loc,
                  fontsize="small")
    else:
        handles = [Line2D([], [], color=runs[0][1], **kw) for _, kw in styles]
        ax.legend(handles, [name for name, _ in styles], loc=loc, fontsize="small")


def _overlay(ax, runs, columns: Sequence[tuple[str, str, dict]], *, scale: float = 1.0):
    """Draw ``columns`` ``(column, legend name, line style)`` of every run (colour = run)."""
    drawn_styles: list[tuple[str, dict]] = []
    run_entries: list[tuple[str, str]] = []
    values: list[pd.Series] = []
    for i, (label, frame) in enumerate(runs):
        color = _run_color(i)
        used = False
        for col, name, style in columns:
            if col in frame.columns and frame[col].notna().any():
                s = frame[col].astype(float) * scale
                _plot_gappy(ax, s, color=color, **style)
                values.append(s)
                used = True
                if (name, style) not in drawn_styles:
                    drawn_styles.append((name, style))
        if used:
            run_entries.append((label, color))
    drawn_styles = [(n, s) for c, n, s in columns if (n, s) in drawn_styles]
    _legends(ax, run_entries, drawn_styles)
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


def plot_loss_accuracy(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    logy: bool | None = None,
    loss_label: str | None = None,
) -> Path:
    """Fitness (loss) and, when logged, minibatch accuracy over generations (seed paper
    Fig. 2).

    Left panel: ``pop_best_eval`` (solid, best of the population), ``mean_eval`` (dashed,
    population mean) and, for PSO, ``swarm_best_eval`` (dotted, best personal best). Right
    panel, only when a run has ``batch_accuracy_max`` / ``batch_accuracy_mean`` (a
    :class:`~neuro_de.problems.SupervisedNetProblem` run): highest (solid) and mean (dashed)
    top-1 accuracy in percent of the individuals evaluated last in each generation (DE
    trials / PSO particles) on the current training minibatch. With one run logging
    ``fitness_epoch``, dotted vertical lines mark minibatch changes (the fitness function
    changes there, so the curves may jump).

    Args:
        logy: Log-scale loss axis; default: when all values are positive and span more than
            two decades.
        loss_label: Y-axis label of the fitness panel (default: cross-entropy for network
            problems, "fitness" otherwise).
    """
    runs = load_runs(source, labels)
    runs = _select(runs, LOSS_COLUMNS, "loss over generations")
    with_acc = any(_has(f, ACCURACY_COLUMNS) for _, f in runs)
    supervised = with_acc or any("fitness_epoch" in f.columns for _, f in runs)
    fig, axes = _figure(1, 2 if with_acc else 1, 11 if with_acc else 6.5, 4.3)
    ax = axes[0, 0]
    values = _overlay(ax, runs, [
        ("pop_best_eval", "best of population", {"ls": "-"}),
        ("mean_eval", "population mean", {"ls": "--"}),
        ("swarm_best_eval", "best personal best (PSO)", {"ls": ":"}),
    ])
    if _auto_log(values, logy):
        ax.set_yscale("log")
    marked = _mark_minibatches(ax, runs)
    note = " (grey dotted lines: new fitness minibatch)" if marked else ""
    ax.set_xlabel(GEN_LABEL)
    if loss_label is None:
        loss_label = ("training minibatch loss (cross-entropy, nats)" if supervised
                      else "fitness (objective value)")
    ax.set_ylabel(loss_label)
    if with_acc or marked:
        ax.set_title(("Loss" if supervised else "Fitness") + note, fontsize="medium")
    ax.grid(alpha=0.3)
    if with_acc:
        ax = axes[0, 1]
        acc_runs = [(lab, f) if _has(f, ACCURACY_COLUMNS) else (lab, f.iloc[:, :0])
                    for lab, f in runs]
        _overlay(ax, acc_runs, [
            ("batch_accuracy_max", "best evaluated individual", {"ls": "-"}),
            ("batch_accuracy_mean", "mean over evaluated individuals", {"ls": "--"}),
        ], scale=100.0)
        _mark_minibatches(ax, runs)
        ax.set_xlabel(GEN_LABEL)
        ax.set_ylabel("minibatch top-1 accuracy (%)")
        ax.set_title("Accuracy on the current training minibatch", fontsize="medium")
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
    runs = _select(load_runs(source, labels), ("diversity",), "population diversity")
    fig, axes = _figure(1, 1, 6.5, 4.3)
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
) -> Path:
    """Overall success rate per generation (``success_rate``): the fraction of trials
    strictly better than their parent (PSO: particles improving their personal best).

    Args:
        window: Trailing moving average over this many generations (1: raw values).
    """
    _check_window(window)
    runs = _select(load_runs(source, labels), ("success_rate",), "the success rate")
    fig, axes = _figure(1, 1, 6.5, 4.3)
    ax = axes[0, 0]
    smoothed = [(lab, _smooth(f[["success_rate"]], window)) if "success_rate" in f.columns
                else (lab, f.iloc[:, :0]) for lab, f in runs]
    name = "success rate" if window == 1 else f"success rate ({window}-generation mean)"
    _overlay(ax, smoothed, [("success_rate", name, {"ls": "-"})], scale=100.0)
    ax.set_ylim(-2, 102)
    ax.set_xlabel(GEN_LABEL)
    ax.set_ylabel("successful trials (% of population)")
    ax.grid(alpha=0.3)
    _title(fig, title, "Success rate of offspring")
    return _save(fig, path)


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
    keys: list[str] = []
    for _, f in runs:
        keys += [k for k in strategy_keys(f) if k not in keys]
    return {k: _STRATEGY_COLORS[i % len(_STRATEGY_COLORS)] for i, k in enumerate(keys)}


def plot_strategy_parameters(
    source: Runs,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    fill: str = "gap",
) -> Path:
    """Adaptation of F (top row) and CR (bottom row) per mutation strategy (seed paper
    Fig. 5), one column per run, one colour per strategy (``F/<key>``, ``CR/<key>``), with
    the mean over all trials of the generation (``mean_F``, ``mean_CR``) in dashed black.

    For SHADE-scheme algorithms (SHADE, SA-SHADE-tri-ensin) the per-strategy value is the
    mean of the strategy's success-history memory, i.e. of archived successful F / CR, as in
    the paper. For DE and SaDE it is the mean F (DE: and CR) drawn for the strategy's
    trials in that generation (SaDE's CR: its median memory of successful CR); those are NaN
    in generations where the strategy had no trial.

    Args:
        fill: ``"gap"`` (default): NaN generations are left as gaps in the line (values
            isolated between gaps are drawn as dots); ``"carry"``: the last logged value is
            carried forward.
    """
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
            ax.set_title(f"{head}{'scale factor F' if param == 'F' else 'crossover rate CR'}")
    handles = [Line2D([], [], color=c, lw=2) for c in colors.values()]
    names = [strategy_label(k) for k in colors]
    handles.append(Line2D([], [], color="black", ls="--", lw=1))
    names.append("mean over all trials of the generation")
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 3),
               fontsize="small", title="mutation strategy (SHADE family: mean of its memory "
               "of successful values)")
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
    runs = _select(load_runs(source, labels), PSO_COLUMNS, "PSO swarm spread and speed")
    with_w = any(_has(f, ("inertia",)) for _, f in runs)
    fig, axes = _figure(1, 2 if with_w else 1, 11 if with_w else 6.5, 4.3)
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
    "loss_accuracy": (plot_loss_accuracy, lambda f: _has(f, LOSS_COLUMNS)),
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
) -> list[Path]:
    """Write every plot whose columns exist in at least one run, as
    ``out_dir/<prefix><name>.png`` for ``name`` in :data:`PLOT_NAMES` (``loss_accuracy``,
    ``diversity``, ``success_rate``, ``strategy_parameters``, ``strategy_dynamics``,
    ``pso_swarm``); plots without their columns are skipped, not failed.

    Args:
        frame: One run (data frame or CSV path), a list of runs, or a ``{label: run}``
            mapping, as for the single plots.
        out_dir: Folder for the PNGs (created if needed).
        prefix: Prepended to every file name (e.g. ``"resnet18_"``).
        labels: Legend names of the runs.

    Returns:
        The paths written, in :data:`PLOT_NAMES` order.
    """
    runs = load_runs(frame, labels)
    loaded = {label or f"run {i + 1}": f for i, (label, f) in enumerate(runs)}
    names = [label for label, _ in runs]  # keep "" for a single unnamed frame
    out_dir = Path(out_dir)
    written: list[Path] = []
    for name, (fn, available) in _PLOTS.items():
        if not any(available(f) for f in loaded.values()):
            continue
        written.append(fn(list(loaded.values()), out_dir / f"{prefix}{name}.png", labels=names))
    return written
