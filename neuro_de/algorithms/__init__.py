"""EvoTorch search algorithms: the DE family composed of components, and PSO."""

from .base import PopulationAlgorithm, mean_pairwise_distance
from .block_ga import BlockCodeGA
from .de import DE
from .differential_evolution import DifferentialEvolution, PopulationSchedule
from .hybrid import PAPER_STRATEGIES, SAShadeTriEnsin
from .jade import JADE, JADEParameters
from .jde import JDE, JDEParameters
from .lshade import LSHADE, LinearPopulationReduction, LSHADEParameters
from .one_plus_one import OnePlusOneEA
from .pso import PSO
from .sade import SADE_STRATEGIES, SaDE
from .shade import SHADE

__all__ = [
    "OnePlusOneEA",
    "BlockCodeGA",
    "DE",
    "DifferentialEvolution",
    "JADE",
    "JADEParameters",
    "JDE",
    "JDEParameters",
    "LSHADE",
    "LSHADEParameters",
    "LinearPopulationReduction",
    "PAPER_STRATEGIES",
    "PSO",
    "PopulationAlgorithm",
    "PopulationSchedule",
    "SADE_STRATEGIES",
    "SAShadeTriEnsin",
    "SHADE",
    "SaDE",
    "mean_pairwise_distance",
]
