"""Pure tensor operators of differential evolution: index sampling, mutation, crossover."""

from .bounds import BOUND_HANDLERS, repair_bounds
from .crossover import binomial_crossover, binomial_mask
from .indices import sample_distinct
from .strategies import (
    STRATEGIES,
    MutationContext,
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
    trigonometric_weights,
)

__all__ = [
    "BOUND_HANDLERS",
    "STRATEGIES",
    "MutationContext",
    "Strategy",
    "available_strategies",
    "binomial_crossover",
    "binomial_mask",
    "get_strategy",
    "register_strategy",
    "repair_bounds",
    "sample_distinct",
    "trigonometric_weights",
]
