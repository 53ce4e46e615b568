"""The components a DE generation is composed of, each with a small public interface:

* parameter rules (:class:`ParameterRule`: fixed, SaDE's, SHADE's success history,
  LSHADE-EpSin's sinusoidal F as a wrapper, or your own);
* strategy selectors (:class:`StrategySelector`: fixed probabilities, SaDE's learner);
* the :class:`Generation` they sample for and the :class:`Outcome` they learn from;
* their state objects: SHADE's :class:`SuccessHistoryMemory`, SaDE's
  :class:`MedianCRMemory`, the external :class:`Archive`;
* the truncated draws the rules share.
"""

from .archive import Archive
from .context import Generation, Outcome
from .memory import SuccessHistoryMemory, weighted_mean
from .rules import (
    FixedParameters,
    ParameterRule,
    SaDEParameters,
    Sinusoidal,
    SuccessHistoryParameters,
    check_range,
)
from .sade import MedianCRMemory
from .sampling import cauchy_regenerate, normal_clipped, normal_regenerate, uniform
from .selectors import FixedStrategies, StrategyLearner, StrategySelector, draw_strategies
from .sinusoidal import sinusoidal_decreasing, sinusoidal_increasing

__all__ = [
    "Archive",
    "FixedParameters",
    "FixedStrategies",
    "Generation",
    "MedianCRMemory",
    "Outcome",
    "ParameterRule",
    "SaDEParameters",
    "Sinusoidal",
    "StrategyLearner",
    "StrategySelector",
    "SuccessHistoryMemory",
    "SuccessHistoryParameters",
    "cauchy_regenerate",
    "check_range",
    "draw_strategies",
    "normal_clipped",
    "normal_regenerate",
    "sinusoidal_decreasing",
    "sinusoidal_increasing",
    "uniform",
    "weighted_mean",
]
