"""neuro_de: improve trained deep networks with adaptive differential evolution on EvoTorch."""

__version__ = "0.1.0"
