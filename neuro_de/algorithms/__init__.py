"""EvoTorch search algorithms: DE, SaDE, SHADE, SA-SHADE-tri-ensin and PSO."""

from .base import PopulationAlgorithm, mean_pairwise_distance
from .de import DE
from .engine import DEEngine
from .hybrid import PAPER_STRATEGIES, SAShadeTriEnsin
from .pso import PSO
from .sade import SADE_STRATEGIES, SaDE
from .shade import SHADE

__all__ = [
    "DE",
    "DEEngine",
    "PAPER_STRATEGIES",
    "PSO",
    "PopulationAlgorithm",
    "SADE_STRATEGIES",
    "SAShadeTriEnsin",
    "SHADE",
    "SaDE",
    "mean_pairwise_distance",
]
