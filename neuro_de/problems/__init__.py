"""EvoTorch problems whose solutions are flat parameter vectors of a network."""

from .parameter_view import ParameterView

__all__ = ["ParameterView"]
