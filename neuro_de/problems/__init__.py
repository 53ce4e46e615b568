"""EvoTorch problems whose solutions are flat parameter vectors of a network."""

from .batching import MinibatchStream
from .distributed import DistributedSupervisedNetProblem
from .parameter_view import ParameterView
from .supervised import AdvanceGenerationHook, SupervisedNetProblem

__all__ = [
    "AdvanceGenerationHook",
    "DistributedSupervisedNetProblem",
    "MinibatchStream",
    "ParameterView",
    "SupervisedNetProblem",
]
