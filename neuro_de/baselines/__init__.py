"""Baselines that start from the same population as differential evolution.

Every function takes the population DE starts from -- a
:class:`~neuro_de.population.Population` (e.g. the result of
:func:`~neuro_de.population.train_snapshots`), an ``(m, d)`` tensor of genomes plus the
template network and its :class:`~neuro_de.problems.ParameterView`, or a list of modules or
state_dicts -- and returns one network (or an ensemble) to compare with the evolved one:

- :func:`weight_average` / :func:`train_swa`: SWA-style equal-weight averaging with
  BatchNorm recalibration (Izmailov et al. 2018);
- :func:`train_fge` and :class:`ProbabilityEnsemble`: Fast Geometric Ensembling with the
  cyclical learning rate and probability averaging (Garipov et al. 2018);
- :func:`uniform_soup` / :func:`greedy_soup`: model soups, the greedy one selected on the
  held-out split carved from the training data (Wortsman et al. 2022).
"""

from .averaging import (
    PopulationLike,
    SWAResult,
    as_modules,
    average_state_dicts,
    average_vectors,
    has_batchnorm,
    recalibrate_bn,
    train_swa,
    uniform_average,
    weight_average,
)
from .ensemble import ProbabilityEnsemble, evaluate_classifier, evaluate_ensemble
from .fge import (
    FGEResult,
    fge_cycle_position,
    fge_learning_rate,
    fge_snapshot_iterations,
    train_fge,
)
from .soups import GreedySoupResult, greedy_soup, uniform_soup

__all__ = [
    "FGEResult",
    "GreedySoupResult",
    "PopulationLike",
    "ProbabilityEnsemble",
    "SWAResult",
    "as_modules",
    "average_state_dicts",
    "average_vectors",
    "evaluate_classifier",
    "evaluate_ensemble",
    "fge_cycle_position",
    "fge_learning_rate",
    "fge_snapshot_iterations",
    "greedy_soup",
    "has_batchnorm",
    "recalibrate_bn",
    "train_fge",
    "train_swa",
    "uniform_average",
    "uniform_soup",
    "weight_average",
]
