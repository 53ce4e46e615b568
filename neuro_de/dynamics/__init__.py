"""Plots of evolution dynamics (the seed paper's Figs. 2, 3, 5, 6 and PSO swarm dynamics)
from EvoTorch ``PandasLogger`` frames or their saved CSVs, written in the format the path's
suffix names (PNG, PDF, SVG, ...; Agg canvas, no pyplot state)."""

from .frames import (
    GENERATION_COLUMNS,
    MissingColumnsError,
    load_frame,
    load_runs,
    strategy_keys,
    strategy_label,
)
from .plots import (
    COLLAPSE_RATIO,
    FIGURE_FORMATS,
    FILL_POLICIES,
    HELDOUT_COLUMNS,
    PLOT_NAMES,
    STRATEGY_COLORS,
    collapsed_generations,
    plot_all,
    plot_diversity,
    plot_loss_accuracy,
    plot_pso_swarm,
    plot_strategy_dynamics,
    plot_strategy_parameters,
    plot_success_rate,
    strategy_color,
)

__all__ = [
    "COLLAPSE_RATIO",
    "FIGURE_FORMATS",
    "FILL_POLICIES",
    "GENERATION_COLUMNS",
    "HELDOUT_COLUMNS",
    "MissingColumnsError",
    "PLOT_NAMES",
    "STRATEGY_COLORS",
    "collapsed_generations",
    "load_frame",
    "load_runs",
    "plot_all",
    "plot_diversity",
    "plot_loss_accuracy",
    "plot_pso_swarm",
    "plot_strategy_dynamics",
    "plot_strategy_parameters",
    "plot_success_rate",
    "strategy_color",
    "strategy_keys",
    "strategy_label",
]
