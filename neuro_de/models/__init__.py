"""Networks to evolve: LeNet-1, LeNet-5, an MLP, an RNN, a 1-D CNN, block CNNs built from an
architecture genome, torchvision ResNet and MobileNet.

All classifiers map ``(N, C, H, W)`` images to ``(N, num_classes)`` logits.
:func:`build_model` builds any of them by name for a data set's shape.
"""

from .block_cnn import BlockCNN, ConvBlock, check_input_size, validate_arch
from .blocks import BlockPartition
from .conv1d import Conv1DNet, conv1d_pilot
from .lenet import LeNet1, LeNet5
from .mlp import MLP
from .registry import ModelFactory, available_models, build_model, register_model
from .rnn import RNNClassifier
from .torchvision_models import MOBILENET_VERSIONS, RESNET_DEPTHS, mobilenet, resnet

__all__ = [
    "BlockCNN",
    "ConvBlock",
    "check_input_size",
    "validate_arch",
    "BlockPartition",
    "Conv1DNet",
    "conv1d_pilot",
    "LeNet1",
    "LeNet5",
    "MLP",
    "RNNClassifier",
    "resnet",
    "mobilenet",
    "RESNET_DEPTHS",
    "MOBILENET_VERSIONS",
    "build_model",
    "register_model",
    "available_models",
    "ModelFactory",
]
