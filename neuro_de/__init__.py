"""neuro_de: improve trained deep networks with adaptive differential evolution on EvoTorch.

The subpackages load on first use, so ``import neuro_de`` stays cheap (a recipe's
``--help`` does not pay for torch)::

    import neuro_de
    neuro_de.algorithms.SHADE        # imports neuro_de.algorithms now

Subpackages: ``adaptation``, ``algorithms``, ``baselines``, ``checkpoint``, ``data``,
``distributed``, ``dynamics``, ``experiment``, ``loggers``, ``models``, ``operators``, ``options``,
``population``, ``problems``, ``reporting``, ``robustness``, ``runner``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = frozenset({
    "adaptation", "algorithms", "baselines", "checkpoint", "data", "distributed", "dynamics",
    "experiment", "loggers", "models", "operators", "options", "population", "problems",
    "reporting", "robustness", "runner",
})

__all__ = ["__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'neuro_de' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
