"""Pure tensor operators of differential evolution: index sampling, mutation strategies and
their pool, crossover, bound repair, p-best picks and one-to-one selection."""

from .bounds import BOUND_HANDLERS, clamp_bounds, inside_bounds, repair_bounds
from .crossover import binomial_crossover, binomial_mask
from .indices import sample_distinct
from .pbest import p_best_rank_cdf, p_best_rank_law, sample_p_best
from .pool import StrategyPool
from .selection import Selection, candidate_utility, one_to_one, parent_utility
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
    trigonometric_coefficients,
    trigonometric_weights,
)
from .uniform import random_int16

__all__ = [
    "BOUND_HANDLERS",
    "STRATEGIES",
    "MutationContext",
    "Selection",
    "Strategy",
    "StrategyPool",
    "Terms",
    "available_strategies",
    "binomial_crossover",
    "binomial_mask",
    "candidate_utility",
    "clamp_bounds",
    "combine_terms",
    "get_strategy",
    "inside_bounds",
    "one_to_one",
    "p_best_rank_cdf",
    "p_best_rank_law",
    "parent_utility",
    "parse_coefficient",
    "random_int16",
    "register_linear_strategy",
    "register_strategy",
    "repair_bounds",
    "sample_distinct",
    "sample_p_best",
    "trigonometric_coefficients",
    "trigonometric_weights",
]
