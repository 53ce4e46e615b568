"""Pure tensor operators of differential evolution: index sampling, mutation, crossover."""

from .bounds import BOUND_HANDLERS, clamp_bounds, inside_bounds, repair_bounds
from .crossover import binomial_crossover, binomial_mask
from .indices import sample_distinct, sample_distinct_from_rows
from .strategies import (
    STRATEGIES,
    MutationContext,
    Strategy,
    Terms,
    available_strategies,
    combine_terms,
    get_strategy,
    parse_coefficient,
    register_linear_strategy,
    register_strategy,
    trigonometric_weights,
)
from .uniform import random_int16

__all__ = [
    "BOUND_HANDLERS",
    "STRATEGIES",
    "MutationContext",
    "Strategy",
    "Terms",
    "available_strategies",
    "binomial_crossover",
    "binomial_mask",
    "clamp_bounds",
    "combine_terms",
    "get_strategy",
    "inside_bounds",
    "parse_coefficient",
    "random_int16",
    "register_linear_strategy",
    "register_strategy",
    "repair_bounds",
    "sample_distinct",
    "sample_distinct_from_rows",
    "trigonometric_weights",
]
