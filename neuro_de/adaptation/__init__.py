"""State objects of parameter and strategy adaptation (SaDE, SHADE, LSHADE-EpSin)."""

from .sade import MedianCRMemory, StrategyLearner
from .sampling import cauchy_regenerate, normal_clipped, normal_regenerate
from .shade import Archive, SuccessHistoryMemory, weighted_mean
from .sinusoidal import sinusoidal_decreasing, sinusoidal_increasing

__all__ = [
    "Archive",
    "MedianCRMemory",
    "StrategyLearner",
    "SuccessHistoryMemory",
    "cauchy_regenerate",
    "normal_clipped",
    "normal_regenerate",
    "sinusoidal_decreasing",
    "sinusoidal_increasing",
    "weighted_mean",
]
