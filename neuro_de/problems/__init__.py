"""EvoTorch problems whose solutions are flat parameter vectors of a network."""

from .batching import MinibatchStream
from .parameter_view import ParameterView
from .supervised import AdvanceGenerationHook, SupervisedNetProblem

__all__ = ["AdvanceGenerationHook", "MinibatchStream", "ParameterView", "SupervisedNetProblem"]
