"""Plots of evolution dynamics (the seed paper's Figs. 2, 3, 5, 6 and PSO swarm dynamics)
from EvoTorch ``PandasLogger`` frames or their saved CSVs. PNG files only (Agg canvas)."""

from .frames import (
    GENERATION_COLUMNS,
    MissingColumnsError,
    load_frame,
    load_runs,
    strategy_keys,
    strategy_label,
)
from .plots import (
    FILL_POLICIES,
    PLOT_NAMES,
    plot_all,
    plot_diversity,
    plot_loss_accuracy,
    plot_pso_swarm,
    plot_strategy_dynamics,
    plot_strategy_parameters,
    plot_success_rate,
)

__all__ = [
    "FILL_POLICIES",
    "GENERATION_COLUMNS",
    "MissingColumnsError",
    "PLOT_NAMES",
    "load_frame",
    "load_runs",
    "plot_all",
    "plot_diversity",
    "plot_loss_accuracy",
    "plot_pso_swarm",
    "plot_strategy_dynamics",
    "plot_strategy_parameters",
    "plot_success_rate",
    "strategy_keys",
    "strategy_label",
]
