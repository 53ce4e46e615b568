"""EvoTorch problems: flat parameter vectors of a network (`SupervisedNetProblem`), and NE-SGD's
binary block codes scored by two-rate SGD retraining (`BlockCodeProblem`), and architectures
trained under an epoch budget with Lamarckian write-back (`ArchitectureProblem`)."""

from .architecture import ArchitectureProblem, BudgetExceeded
from .batching import MinibatchStream
from .block_reset import BlockCodeProblem
from .distributed import DistributedSupervisedNetProblem
from .parameter_view import ParameterView
from .retraining import RetrainConfig, RetrainResult, retrain, score, train_epochs
from .supervised import AdvanceGenerationHook, SupervisedNetProblem

__all__ = [
    "ArchitectureProblem",
    "BudgetExceeded",
    "BlockCodeProblem",
    "RetrainConfig",
    "RetrainResult",
    "retrain",
    "score",
    "train_epochs",
    "AdvanceGenerationHook",
    "DistributedSupervisedNetProblem",
    "MinibatchStream",
    "ParameterView",
    "SupervisedNetProblem",
]
