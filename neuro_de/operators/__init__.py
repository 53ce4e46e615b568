"""Operators: the pure tensor operators of differential evolution (index sampling, mutation
strategies and their pool, crossover, bound repair, p-best picks, one-to-one selection) and
the discrete-genome operators of the NE-SGD GA (one-point and uniform crossover with a
probability, bit-flip mutations and environmental selections, written as EvoTorch operators
so that EvoTorch's own GA can use them too; the hierarchical-clustering suppression, a pure
function of codes and utilities); the architecture mutations of the Lamarckian (1+1)-EA
(``SearchSpace``, ``mutate``, ``ArchitectureMutation``) and, in
:mod:`neuro_de.operators.inheritance`, the weight-inheritance rules."""

from .architecture import (
    ArchitectureMutation,
    Mutation,
    SearchSpace,
    apply_mutation,
    check_arch,
    initial_arch,
    mutate,
    mutate_solution,
)
from .binary import (
    BitFlipMutation,
    CrossOverWithProb,
    EnvironmentalSelection,
    OnePointCrossOverWithProb,
    PerBitFlipMutation,
    RouletteSelection,
    TournamentSelection,
    TruncationSelection,
    UniformCrossOverWithProb,
    distinct_parent_pairs,
    keep_elite,
    tournament_winners,
)
from .bounds import BOUND_HANDLERS, clamp_bounds, inside_bounds, repair_bounds
from .crossover import binomial_crossover, binomial_mask
from .indices import sample_distinct
from .inheritance import (
    INHERITANCE,
    InheritanceRule,
    MorphismInheritance,
    NoInheritance,
    PaperInheritance,
    PartialInheritance,
    get_inheritance,
)
from .pbest import p_best_rank_cdf, p_best_rank_law, sample_p_best
from .pool import StrategyPool
from .selection import Selection, candidate_utility, one_to_one, parent_utility
from .strategies import (
    STRATEGIES,
    Combination,
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
from .suppression import SuppressionResult, agglomerative_clusters, code_distances, suppress
from .uniform import random_int16

__all__ = [
    "INHERITANCE",
    "InheritanceRule",
    "MorphismInheritance",
    "NoInheritance",
    "PaperInheritance",
    "PartialInheritance",
    "get_inheritance",
    "ArchitectureMutation",
    "Mutation",
    "SearchSpace",
    "apply_mutation",
    "check_arch",
    "initial_arch",
    "mutate",
    "mutate_solution",
    "BitFlipMutation",
    "CrossOverWithProb",
    "EnvironmentalSelection",
    "OnePointCrossOverWithProb",
    "PerBitFlipMutation",
    "RouletteSelection",
    "TournamentSelection",
    "TruncationSelection",
    "UniformCrossOverWithProb",
    "distinct_parent_pairs",
    "keep_elite",
    "tournament_winners",
    "SuppressionResult",
    "agglomerative_clusters",
    "code_distances",
    "suppress",
    "BOUND_HANDLERS",
    "STRATEGIES",
    "Combination",
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
